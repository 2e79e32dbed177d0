//! The cluster hub's link to Redis (spec §17): the only file that talks
//! to it. Three duties, each in order:
//!
//! - **follow**: subscribe to the channel, load `cluster.lua`, enter the
//!   cluster (a lease and a snapshot), then apply every message in order.
//!   Anything wrong (the subscription ends, a number is skipped, the lease
//!   is lost) cuts this node off; it enters again as a new incarnation
//!   after [`RETRY`], releasing the old incarnation's names first.
//! - **lease**: renew this node's lease every [`RENEW_EVERY`] and release
//!   the names of nodes whose leases ran out. A node that could not renew
//!   for [`FENCE_AFTER`] cuts itself off before its lease ([`LEASE`]) can
//!   run out, so it never serves a name Redis has given to another.
//! - **publish**: send the hub's commands in one pipeline per batch, in
//!   the order they were queued, and hand the answers back.
//!
//! Never delivers to clients (the hub does), never retries a command whose
//! outcome is unknown (that could publish it twice).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::FromRedisValue;
use redis::aio::ConnectionManager;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::event::Seq;
use crate::hub::cluster::lifecycle::{Lifecycle, Said};
use crate::hub::cluster::message::ClusterMessage;
use crate::hub::cluster::recorder::Recorder;
use crate::hub::cluster::{ClusterHub, Command, Snapshot, Verdict};
use crate::ops::metrics::Metrics;

mod error;
mod lease;
mod library;
mod port;
mod publish;
mod replies;
#[cfg(test)]
mod scripted;

use error::{CallError, LinkError};
use lease::keep_lease;
use library::load_library;
use port::call;
use publish::publish;
use replies::verdict;

/// A node's lease in Redis: if it is not renewed for this long, its names
/// are released as lost by whichever node reaps first.
pub const LEASE: Duration = Duration::from_secs(5);
/// How often the lease is renewed and expired leases are reaped.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// A node that has not renewed its lease for this long cuts itself off
/// (before the lease can expire in Redis).
pub const FENCE_AFTER: Duration = Duration::from_secs(4);
/// How long after losing the cluster a node tries to enter it again.
pub const RETRY: Duration = Duration::from_secs(1);
/// The longest any one Redis call may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a shutdown waits for the commands already queued (the
/// sessions' releases) before it releases this node's names itself.
const DRAIN_WAIT: Duration = Duration::from_secs(1);
/// Channel messages received and not yet applied, at most: a node this
/// far behind leaves the cluster (§17.4) rather than queue more.
pub const FEED_MAX: usize = 65_536;
/// The channel every event is published on (see `cluster.lua`).
pub const CHANNEL: &str = "tagarela:events";

/// Where and as whom this process joins a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `redis://HOST:PORT/DB`.
    pub url: String,
    /// This node's name in logs, metrics and Redis (an incarnation number
    /// is added at each entry).
    pub node_id: String,
    /// Public messages Redis keeps (0: none; the room keeps no history).
    pub keep: usize,
}

/// The Redis URL without any password, for logs and metrics.
pub fn shown_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Runs the link until `stop`; then releases this node's names.
pub async fn run(
    hub: Arc<ClusterHub>,
    commands: mpsc::Receiver<Command>,
    config: ClusterConfig,
    metrics: Arc<Metrics>,
    recorder: Option<Arc<Recorder>>,
    stop: CancellationToken,
) {
    let shown = shown_url(&config.url);
    metrics
        .cluster_info
        .get_or_create(&vec![
            ("node".to_owned(), config.node_id.clone()),
            ("redis".to_owned(), shown.clone()),
        ])
        .set(1);
    let client = match redis::Client::open(config.url.as_str()) {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(redis = %shown, error = %e, "not a Redis URL; this node stays out of the cluster");
            return;
        }
    };
    let manager_config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CALL_TIMEOUT))
        .set_response_timeout(Some(CALL_TIMEOUT));
    let conn = loop {
        match client
            .get_connection_manager_with_config(manager_config.clone())
            .await
        {
            Ok(conn) => break conn,
            Err(e) => {
                tracing::warn!(redis = %shown, error = %e, "cannot reach Redis; retrying");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(RETRY) => {}
                }
            }
        }
    };
    let drained = CancellationToken::new();
    let publisher = tokio::spawn(publish(
        Arc::clone(&hub),
        commands,
        conn.clone(),
        config.keep,
        Arc::clone(&metrics),
        drained.clone(),
    ));
    // A part of the identity no other process has: a node restarted with
    // the same --node-id never takes over its dead predecessor's names
    // (they are reaped when that one's lease ends).
    let process = crate::hub::resume::ResumeToken::generate()
        .map(|t| t.hex()[..8].to_owned())
        .unwrap_or_else(|| std::process::id().to_string());
    let mut life = Lifecycle::new(&config.node_id, &process);
    let mut conn_follow = conn.clone();
    loop {
        let node = life.enter();
        let link = Follow {
            hub: &hub,
            client: &client,
            config: &config,
            metrics: &metrics,
            recorder: recorder.as_ref(),
        };
        let why = tokio::select! {
            () = stop.cancelled() => None,
            why = link.follow(&mut conn_follow, &mut life) => Some(why),
        };
        let said = life.ended();
        let Some(why) = why else {
            break;
        };
        match said {
            Said::Warn { attempts } => {
                tracing::warn!(node = %config.node_id, redis = %shown, attempts, why = %why, "cannot enter the cluster; trying again");
            }
            Said::Quietly { attempts } => {
                tracing::debug!(node = %config.node_id, attempts, why = %why, "cannot enter the cluster; trying again");
            }
            Said::Nothing => {}
        }
        hub.cut_off_if(&node, &why.to_string());
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(RETRY) => {}
        }
    }
    // Shutting down: the releases the sessions queued go first (their
    // reasons), then whatever this node still holds is released now,
    // rather than when its lease runs out.
    drained.cancel();
    let mut publisher = AbortOnDropHandle::new(publisher);
    let _ = timeout(DRAIN_WAIT, &mut publisher).await;
    // Aborted if the wait ran out: nothing more goes out from here on.
    drop(publisher);
    if let Some(node) = hub.incarnation() {
        hub.cut_off_if(&node, "shutting down");
    }
    for node in life.all_to_release() {
        let _ = call(&mut conn_follow, "tagarela_abandon", &[node.as_str()]).await;
    }
}

/// What following the cluster needs.
struct Follow<'a> {
    hub: &'a Arc<ClusterHub>,
    client: &'a redis::Client,
    config: &'a ClusterConfig,
    metrics: &'a Metrics,
    /// Where this node's clients' events go to be recorded, if anywhere
    /// (never waited on: delivery must not wait for a store).
    recorder: Option<&'a Arc<Recorder>>,
}

impl Follow<'_> {
    /// Enters the cluster as the incarnation `life` is entering as, and
    /// follows it until something goes wrong; returns what. Tells `life`
    /// when the incarnation holds a lease and when it is in.
    async fn follow(&self, conn: &mut ConnectionManager, life: &mut Lifecycle) -> LinkError {
        let Some(node) = life.current().cloned() else {
            return LinkError::CutOff;
        };
        let Follow {
            hub,
            client,
            config,
            metrics,
            recorder,
        } = *self;
        // Subscribed before the snapshot: nothing published after it is missed.
        let pubsub = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(CHANNEL).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = match timeout(CALL_TIMEOUT, pubsub).await {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(e)) => return LinkError::Subscribe(CallError::Redis(e.to_string())),
            Err(_) => return LinkError::Subscribe(CallError::TimedOut),
        };
        // redis-rs queues what arrives without a bound; this task empties
        // that queue into one of FEED_MAX messages as fast as they come,
        // and ends the feed if this node falls that far behind (§17.4).
        let (feed_in, mut feed) = mpsc::channel(FEED_MAX);
        let behind = CancellationToken::new();
        let _forward = {
            let behind = behind.clone();
            AbortOnDropHandle::new(tokio::spawn(async move {
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    if feed_in.try_send(message).is_err() {
                        behind.cancel();
                        return;
                    }
                }
            }))
        };
        if let Err(why) = load_library(conn).await {
            return why;
        }
        while let Some(old) = life.next_to_release().cloned() {
            match call(conn, "tagarela_abandon", &[old.as_str()]).await {
                Ok(_) => life.released(&old),
                Err(e) => return LinkError::Abandon(e),
            }
        }
        let seen = hub.last_seq().0;
        let floor = Seq::restart_floor(Seq(seen)).0;
        let lease_ms = LEASE.as_millis().to_string();
        let entered_at = Instant::now();
        let own = hub.own_settings();
        let [ds1, ds2] = own.default.skeletons();
        let reply = call(
            conn,
            "tagarela_enter",
            &[
                node.as_str(),
                &lease_ms,
                &floor.to_string(),
                &config.keep.to_string(),
                &seen.to_string(),
                own.default.as_str(),
                own.default.key().as_str(),
                ds1.as_str(),
                ds2.as_str(),
                &own.per_client.to_string(),
                &own.max.to_string(),
                &own.members_max.to_string(),
            ],
        )
        .await;
        let snapshot = match reply {
            Ok(value) if verdict(&value) == Verdict::Taken(String::new()) => {
                return LinkError::IdentityTaken;
            }
            Ok(value) => {
                // The lease is set: whatever happens next, it is ours to end.
                life.leased();
                match Snapshot::from_redis_value(value) {
                    Ok(s) => s,
                    Err(_) => return LinkError::Snapshot,
                }
            }
            Err(e) => return LinkError::Enter(e),
        };
        hub.enter(node.clone(), snapshot);
        life.entered();
        metrics.cluster_entries.inc();
        let lease = tokio::spawn(keep_lease(
            Arc::clone(hub),
            conn.clone(),
            node.clone(),
            entered_at,
        ));
        let _lease = AbortOnDropHandle::new(lease);
        let cut = hub.cut_signal();
        loop {
            tokio::select! {
                biased;
                // Said at once, not after the backlog is applied.
                () = behind.cancelled() => return LinkError::Behind,
                message = feed.recv() => {
                    let Some(message) = message else {
                        return LinkError::SubscriptionEnded;
                    };
                    let parsed = match ClusterMessage::parse(message.get_payload_bytes()) {
                        Ok(parsed) => parsed,
                        Err(e) => return e.into(),
                    };
                    match hub.apply(parsed) {
                        Ok(Some(entry)) => {
                            if let Some(recorder) = recorder {
                                recorder.push(entry);
                            }
                        }
                        Ok(None) => {}
                        Err(gap) => return LinkError::Missed { expected: gap.expected, got: gap.got },
                    }
                }
                () = cut.notified() => {
                    if hub.take_overflow() {
                        return LinkError::QueueFull;
                    }
                    // A permit left from an earlier incarnation's cut is no
                    // reason to leave.
                    if hub.incarnation().as_ref() != Some(&node) {
                        return LinkError::CutOff;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_url_is_not_shown() {
        assert_eq!(
            shown_url("redis://:secret@10.0.0.1:6379/2"),
            "redis://***@10.0.0.1:6379/2"
        );
        assert_eq!(
            shown_url("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
    }
}
