//! The publish duty of a node's link: the hub's commands, one pipeline
//! per batch in the order they were queued, each one `FCALL` of
//! `cluster.lua`, and the answers handed back in order. Never retries a
//! command whose outcome is unknown (that could publish it twice).

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::hub::RegId;
use crate::hub::cluster::lifecycle::Incarnation;
use crate::hub::cluster::queue::RoomLine;
use crate::hub::cluster::{ClusterHub, Command, Verdict};
use crate::ops::metrics::Metrics;

use super::error::CallError;
use super::port::RedisPort;
use super::replies::verdict;

/// Commands sent in one pipeline at most.
const BATCH_MAX: usize = 256;

/// Sends the hub's commands to Redis, in order, a batch per pipeline.
pub(super) async fn publish(
    hub: Arc<ClusterHub>,
    mut commands: mpsc::Receiver<Command>,
    mut conn: impl RedisPort,
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
        let mut pipe = Vec::with_capacity(batch.len());
        let mut sent = Vec::with_capacity(batch.len());
        for command in batch.drain(..) {
            // Queued by an earlier incarnation: it holds nothing now.
            if node.as_ref() != Some(command_node(&command)) {
                hub.answered(&command, Verdict::Failed);
                continue;
            }
            pipe.push(fcall(&command, &keep));
            sent.push(command);
        }
        if sent.is_empty() {
            continue;
        }
        metrics.cluster_calls.inc_by(sent.len() as u64);
        match conn.run(pipe).await {
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
        Command::Room { from, .. } => &from.node,
    }
}

/// The function of `cluster.lua` that `command` calls.
fn function(command: &Command) -> &'static str {
    match command {
        Command::Claim { .. } => "tagarela_claim",
        Command::Resume { .. } => "tagarela_resume",
        Command::Release { .. } => "tagarela_release",
        Command::Public { .. } => "tagarela_public",
        Command::Private { .. } => "tagarela_private",
        Command::Room { line, .. } => match line {
            RoomLine::Join { .. } => "tagarela_join_room",
            RoomLine::Part { .. } => "tagarela_part_room",
            RoomLine::Topic { .. } => "tagarela_topic",
            RoomLine::Op { .. } => "tagarela_op",
            RoomLine::Ban { .. } => "tagarela_ban",
        },
    }
}

/// The registration that made `command`.
fn command_reg(command: &Command) -> RegId {
    match command {
        Command::Claim { reg, .. }
        | Command::Resume { reg, .. }
        | Command::Release { reg, .. }
        | Command::Public { reg, .. }
        | Command::Private { reg, .. } => *reg,
        Command::Room { from, .. } => from.reg,
    }
}

/// The `FCALL` for `command`.
pub(super) fn fcall(command: &Command, keep: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("FCALL");
    cmd.arg(function(command))
        .arg(0)
        .arg(command_node(command).as_str())
        .arg(command_reg(command).0);
    match command {
        Command::Claim { name, token, .. } => {
            let [s1, s2] = name.skeletons();
            cmd.arg(name.as_str()).arg(name.key().as_str());
            cmd.arg(s1.as_str()).arg(s2.as_str()).arg(token);
        }
        Command::Resume {
            name,
            presented,
            token,
            rooms,
            marks,
            ..
        } => {
            let [s1, s2] = name.skeletons();
            cmd.arg(name.as_str()).arg(name.key().as_str());
            cmd.arg(s1.as_str())
                .arg(s2.as_str())
                .arg(presented)
                .arg(token);
            cmd.arg(if *rooms { "1" } else { "" });
            cmd.arg(lines(marks.iter().cloned()));
        }
        Command::Release {
            key, reason, text, ..
        } => {
            cmd.arg(key.as_str()).arg(reason.as_str());
            cmd.arg(text.as_ref().map_or("", |t| t.as_str()));
        }
        Command::Public {
            key, room, text, ..
        } => {
            cmd.arg(key.as_str()).arg(text.as_str()).arg(keep);
            cmd.arg(room.key().as_str());
        }
        Command::Private {
            key,
            to,
            since,
            text,
            ..
        } => {
            cmd.arg(key.as_str()).arg(to.key().as_str());
            cmd.arg(text.as_str()).arg(since.0);
        }
        Command::Room { from, line } => {
            let (key, room) = (&from.key, &from.room);
            cmd.arg(key.as_str());
            match line {
                RoomLine::Join { marks } => {
                    let [s1, s2] = room.skeletons();
                    cmd.arg(room.as_str()).arg(room.key().as_str());
                    cmd.arg(s1.as_str()).arg(s2.as_str());
                    cmd.arg(lines(marks.iter().cloned()));
                }
                RoomLine::Part {
                    reason,
                    text,
                    target,
                } => {
                    cmd.arg(room.key().as_str()).arg(reason.as_str());
                    cmd.arg(text.as_ref().map_or("", |t| t.as_str()));
                    cmd.arg(
                        target
                            .as_ref()
                            .map_or(String::new(), |t| t.key().as_str().to_owned()),
                    );
                }
                RoomLine::Topic { text } => {
                    cmd.arg(room.key().as_str()).arg(text.as_str());
                }
                RoomLine::Op { target } => {
                    cmd.arg(room.key().as_str()).arg(target.key().as_str());
                }
                RoomLine::Ban {
                    on,
                    id,
                    shown,
                    marks,
                    within,
                } => {
                    cmd.arg(room.key().as_str());
                    cmd.arg(if *on { "1" } else { "" }).arg(id).arg(shown);
                    cmd.arg(lines(marks.iter().cloned()))
                        .arg(lines(within.iter().cloned()));
                }
            }
        }
    }
    cmd
}

/// Items as one LF-separated argument (no key, name or ban holds an LF).
fn lines(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::super::scripted::{Answer, Scripted};
    use super::*;

    use crate::hub::cluster::fixtures::{entered, joined, name};
    use crate::hub::{Hub, Registration, Said};
    use redis::Value;
    use tagarela_parser::Text;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    /// Two public messages from a client of node `n1`, queued; the hub
    /// and the receiving end of its commands.
    fn two_messages() -> (Arc<ClusterHub>, mpsc::Receiver<Command>) {
        let (hub, mut commands) = entered();
        let (_ana, reg) = joined(&hub, &mut commands, "ana", 11);
        let ana = Registration {
            key: name("ana").key(),
            id: reg,
        };
        for t in ["one", "two"] {
            let text = Text::new(t).unwrap_or_else(|_| unreachable!());
            assert!(hub.publish(&ana, Said::Public(text)).is_ok());
        }
        (hub, commands)
    }

    /// Runs the publisher over `redis` until what is queued is sent.
    async fn publish_queued(
        hub: &Arc<ClusterHub>,
        commands: mpsc::Receiver<Command>,
        redis: &Scripted,
    ) {
        let drained = CancellationToken::new();
        drained.cancel();
        let metrics = Arc::new(Metrics::default());
        publish(
            Arc::clone(hub),
            commands,
            redis.clone(),
            0,
            metrics,
            drained,
        )
        .await;
    }

    /// Scripted Redis: one pipeline for the batch, one FCALL each in the
    /// order queued; a reply saying the lease is gone cuts the node off.
    #[tokio::test]
    async fn a_batch_is_one_pipeline_and_a_fenced_reply_cuts_the_node_off() {
        let (hub, commands) = two_messages();
        let redis = Scripted::default();
        redis.then(Answer::Replies(vec![
            Value::Int(1),
            Value::Array(vec![bulk("fenced")]),
        ]));
        publish_queued(&hub, commands, &redis).await;
        let sent = redis.sent();
        // FCALL tagarela_public 0 NODE REG KEY TEXT KEEP
        let texts: Vec<(&str, &str, &str)> = sent
            .iter()
            .map(|w| (w[1].as_str(), w[3].as_str(), w[6].as_str()))
            .collect();
        assert_eq!(
            texts,
            [
                ("tagarela_public", "n1", "one"),
                ("tagarela_public", "n1", "two")
            ]
        );
        assert!(hub.incarnation().is_none(), "fenced: out of the cluster");
    }

    /// A reply of the wrong length (or none) leaves what ran unknown:
    /// nothing is sent again and the node leaves the cluster.
    #[tokio::test]
    async fn an_unknown_outcome_is_never_sent_again_and_the_node_leaves() {
        let (hub, commands) = two_messages();
        let redis = Scripted::default();
        redis.then(Answer::Replies(vec![Value::Int(1)]));
        publish_queued(&hub, commands, &redis).await;
        assert_eq!(redis.sent().len(), 2, "sent once");
        assert!(hub.incarnation().is_none());
    }
}
