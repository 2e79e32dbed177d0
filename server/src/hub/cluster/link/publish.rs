//! The publish duty of a node's link: the hub's commands, one pipeline
//! per batch in the order they were queued, each one `FCALL` of
//! `cluster.lua`, and the answers handed back in order. Never retries a
//! command whose outcome is unknown (that could publish it twice).

use std::sync::Arc;

use redis::Value;
use redis::aio::ConnectionManager;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use crate::hub::cluster::lifecycle::Incarnation;
use crate::hub::cluster::{ClusterHub, Command, Verdict};
use crate::ops::metrics::Metrics;

use super::CALL_TIMEOUT;
use super::error::CallError;
use super::replies::checked;
use super::replies::verdict;

/// Commands sent in one pipeline at most.
const BATCH_MAX: usize = 256;

/// Sends the hub's commands to Redis, in order, a batch per pipeline.
pub(super) async fn publish(
    hub: Arc<ClusterHub>,
    mut commands: mpsc::Receiver<Command>,
    mut conn: ConnectionManager,
    keep: usize,
    metrics: Arc<Metrics>,
    drained: CancellationToken,
) {
    let keep = keep.to_string();
    let mut batch = Vec::with_capacity(BATCH_MAX);
    loop {
        // Everything queued goes out before a shutdown ends this task.
        let got = tokio::select! {
            biased;
            got = commands.recv_many(&mut batch, BATCH_MAX) => got,
            () = drained.cancelled() => 0,
        };
        if got == 0 {
            return;
        }
        let node = hub.incarnation();
        let mut pipe = redis::pipe();
        let mut sent = Vec::with_capacity(batch.len());
        for command in batch.drain(..) {
            // Queued by an earlier incarnation: it holds nothing now.
            if node.as_ref() != Some(command_node(&command)) {
                hub.answered(&command, Verdict::Failed);
                continue;
            }
            pipe.add_command(fcall(&command, &keep));
            sent.push(command);
        }
        if sent.is_empty() {
            continue;
        }
        metrics.cluster_calls.inc_by(sent.len() as u64);
        let replies = timeout(CALL_TIMEOUT, pipe.query_async::<Vec<Value>>(&mut conn)).await;
        match checked(replies) {
            Ok(values) if values.len() == sent.len() => {
                for (command, value) in sent.iter().zip(&values) {
                    let verdict = verdict(value);
                    if verdict == Verdict::Fenced {
                        hub.cut_off_if(command_node(command), "the lease expired");
                    }
                    hub.answered(command, verdict);
                }
            }
            outcome => {
                let why = match outcome {
                    Err(e) => e,
                    Ok(_) => CallError::WrongLength,
                };
                // Unknown whether they ran: never sent again. The node
                // leaves the cluster, so nothing is delivered out of order.
                for command in &sent {
                    hub.answered(command, Verdict::Failed);
                }
                if let Some(node) = &node {
                    hub.cut_off_if(node, &format!("a Redis call failed: {why}"));
                }
            }
        }
    }
}

pub(super) fn command_node(command: &Command) -> &Incarnation {
    match command {
        Command::Claim { node, .. }
        | Command::Resume { node, .. }
        | Command::Release { node, .. }
        | Command::Public { node, .. }
        | Command::Private { node, .. } => node,
    }
}

/// The `FCALL` for `command`.
pub(super) fn fcall(command: &Command, keep: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("FCALL");
    match command {
        Command::Claim {
            node,
            reg,
            name,
            token,
        } => {
            let [s1, s2] = name.skeletons();
            cmd.arg("tagarela_claim")
                .arg(0)
                .arg(node.as_str())
                .arg(reg.0);
            cmd.arg(name.as_str()).arg(name.key().as_str());
            cmd.arg(s1.as_str()).arg(s2.as_str()).arg(token);
        }
        Command::Resume {
            node,
            reg,
            name,
            presented,
            token,
        } => {
            let [s1, s2] = name.skeletons();
            cmd.arg("tagarela_resume")
                .arg(0)
                .arg(node.as_str())
                .arg(reg.0);
            cmd.arg(name.as_str()).arg(name.key().as_str());
            cmd.arg(s1.as_str())
                .arg(s2.as_str())
                .arg(presented)
                .arg(token);
        }
        Command::Release {
            node,
            reg,
            key,
            reason,
            text,
        } => {
            cmd.arg("tagarela_release")
                .arg(0)
                .arg(node.as_str())
                .arg(reg.0);
            cmd.arg(key.as_str()).arg(reason.as_str());
            cmd.arg(text.as_ref().map_or("", |t| t.as_str()));
        }
        Command::Public {
            node,
            reg,
            key,
            text,
        } => {
            cmd.arg("tagarela_public")
                .arg(0)
                .arg(node.as_str())
                .arg(reg.0);
            cmd.arg(key.as_str()).arg(text.as_str()).arg(keep);
        }
        Command::Private {
            node,
            reg,
            key,
            to,
            since,
            text,
        } => {
            cmd.arg("tagarela_private")
                .arg(0)
                .arg(node.as_str())
                .arg(reg.0);
            cmd.arg(key.as_str()).arg(to.key().as_str());
            cmd.arg(text.as_str()).arg(since.0);
        }
    }
    cmd
}
