//! Why a call to Redis failed, and why a node is not (or no longer) in
//! its cluster: typed, so that the link decides on variants and the log
//! says each the same way every time. Plain values; no I/O.

use crate::event::Seq;
use crate::hub::cluster::message::Malformed;

use super::FEED_MAX;
use super::library::LIBRARY_VERSION;

/// One call to Redis that did not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// Redis answered with an error, or the connection failed (its text).
    #[error("{0}")]
    Redis(String),
    /// No answer within the call timeout: what happened is unknown.
    #[error("timed out")]
    TimedOut,
    /// A pipeline answered with another number of replies than it sent.
    #[error("a reply of the wrong length")]
    WrongLength,
}

/// Why the node left the cluster, or could not enter it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("cannot subscribe: {0}")]
    Subscribe(CallError),
    #[error("cannot list the functions: {0}")]
    ListFunctions(CallError),
    #[error("cannot ask the functions' version: {0}")]
    AskVersion(CallError),
    #[error("the functions' version is {0}")]
    OddVersion(String),
    #[error(
        "Redis holds the cluster functions of version {0}, this build's are version {LIBRARY_VERSION}: one cluster's nodes must share a version (OPERATING.md: upgrading a cluster)"
    )]
    OtherVersion(i64),
    #[error("cannot load the functions: {0}")]
    Load(CallError),
    #[error("the functions just loaded are not there")]
    NotLoaded,
    #[error("cannot load the functions")]
    NoFunctions,
    #[error("cannot release an earlier incarnation's names: {0}")]
    Abandon(CallError),
    #[error("cannot enter: {0}")]
    Enter(CallError),
    #[error("another process holds this node's identity")]
    IdentityTaken,
    #[error("an entry snapshot that does not parse")]
    Snapshot,
    #[error("{FEED_MAX} messages behind the channel")]
    Behind,
    #[error("the subscription ended")]
    SubscriptionEnded,
    #[error(transparent)]
    Malformed(#[from] Malformed),
    #[error("missed events: expected {expected}, got {got}")]
    Missed { expected: Seq, got: Seq },
    #[error("the queue of commands for Redis is full")]
    QueueFull,
    #[error("cut off")]
    CutOff,
}
