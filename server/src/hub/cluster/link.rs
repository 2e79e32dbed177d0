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
use redis::Value;
use redis::aio::ConnectionManager;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::event::{Event, EventKind, Seq};
use crate::hub::cluster::message::ClusterMessage;
use crate::hub::cluster::recorder::Recorder;
use crate::hub::cluster::{ClusterHub, Command, Holding, Snapshot, Verdict};
use crate::ops::metrics::Metrics;

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
/// Commands sent in one pipeline at most.
const BATCH_MAX: usize = 256;
/// The channel every event is published on (see `cluster.lua`).
pub const CHANNEL: &str = "tagarela:events";
/// The functions, loaded at each entry (Redis may have restarted).
const LIBRARY: &str = include_str!("cluster.lua");
/// The version of [`LIBRARY`] (its `LIBRARY_VERSION`), spec §17.5.
pub const LIBRARY_VERSION: i64 = 1;

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
    let mut incarnation = 0u64;
    // Incarnations that entered and were cut off, whose names are not yet
    // released.
    let mut abandoned: Vec<Arc<str>> = Vec::new();
    let mut conn_follow = conn.clone();
    // Entries tried in a row without success.
    let mut failures = 0u64;
    // Times this node was in the cluster, before the current try.
    let mut entries = metrics.cluster_entries.get();
    loop {
        incarnation += 1;
        let node: Arc<str> = format!("{}.{process}.{incarnation}", config.node_id).into();
        let link = Follow {
            hub: &hub,
            client: &client,
            config: &config,
            metrics: &metrics,
            recorder: recorder.as_ref(),
        };
        let mut entered = false;
        let why = tokio::select! {
            () = stop.cancelled() => None,
            why = link.follow(&mut conn_follow, &node, &mut abandoned, &mut entered) => Some(why),
        };
        let was_in = metrics.cluster_entries.get() > entries;
        entries = metrics.cluster_entries.get();
        if entered {
            // Its names must be released, now or at the next entry.
            abandoned.push(Arc::clone(&node));
        }
        if was_in {
            failures = 0;
        }
        let Some(why) = why else {
            break;
        };
        if !was_in {
            // Said once, then every half minute, while it lasts.
            failures += 1;
            if failures % 30 == 1 {
                tracing::warn!(node = %config.node_id, redis = %shown, attempts = failures, why, "cannot enter the cluster; trying again");
            } else {
                tracing::debug!(node = %config.node_id, attempts = failures, why, "cannot enter the cluster; trying again");
            }
        }
        hub.cut_off_if(&node, &why);
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
    if let Some(node) = hub.node() {
        hub.cut_off_if(&node, "shutting down");
    }
    for node in abandoned {
        let _ = call(&mut conn_follow, "tagarela_abandon", &[&node]).await;
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
    /// Enters the cluster as `node` and follows it until something goes
    /// wrong; returns what. Sets `entered` once `node` holds a lease.
    async fn follow(
        &self,
        conn: &mut ConnectionManager,
        node: &Arc<str>,
        abandoned: &mut Vec<Arc<str>>,
        entered: &mut bool,
    ) -> String {
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
            Ok(Err(e)) => return format!("cannot subscribe: {e}"),
            Err(_) => return "cannot subscribe: timed out".to_owned(),
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
        while let Some(old) = abandoned.last() {
            match call(conn, "tagarela_abandon", &[old]).await {
                Ok(_) => {
                    abandoned.pop();
                }
                Err(e) => return format!("cannot release an earlier incarnation's names: {e}"),
            }
        }
        let seen = hub.last_seq().0;
        let floor = Seq::restart_floor(Seq(seen)).0;
        let lease_ms = LEASE.as_millis().to_string();
        let entered_at = Instant::now();
        let reply = call(
            conn,
            "tagarela_enter",
            &[
                node,
                &lease_ms,
                &floor.to_string(),
                &config.keep.to_string(),
                &seen.to_string(),
            ],
        )
        .await;
        let snapshot = match reply {
            Ok(value) if verdict(&value) == Verdict::Taken(String::new()) => {
                return "another process holds this node's identity".to_owned();
            }
            Ok(value) => {
                // The lease is set: whatever happens next, it is ours to end.
                *entered = true;
                match snapshot(&value) {
                    Some(s) => s,
                    None => return "an entry snapshot that does not parse".to_owned(),
                }
            }
            Err(e) => return format!("cannot enter: {e}"),
        };
        hub.enter(Arc::clone(node), snapshot);
        metrics.cluster_entries.inc();
        let lease = tokio::spawn(keep_lease(
            Arc::clone(hub),
            conn.clone(),
            Arc::clone(node),
            entered_at,
        ));
        let _lease = AbortOnDropHandle::new(lease);
        let cut = hub.cut_signal();
        loop {
            tokio::select! {
                biased;
                // Said at once, not after the backlog is applied.
                () = behind.cancelled() => return format!("{FEED_MAX} messages behind the channel"),
                message = feed.recv() => {
                    let Some(message) = message else {
                        return "the subscription ended".to_owned();
                    };
                    let parsed = match ClusterMessage::parse(message.get_payload_bytes()) {
                        Ok(parsed) => parsed,
                        Err(e) => return e.to_string(),
                    };
                    match hub.apply(parsed) {
                        Ok(Some(entry)) => {
                            if let Some(recorder) = recorder {
                                recorder.push(entry);
                            }
                        }
                        Ok(None) => {}
                        Err(gap) => return format!("missed events: expected {}, got {}", gap.expected, gap.got),
                    }
                }
                () = cut.notified() => {
                    if hub.take_overflow() {
                        return "the queue of commands for Redis is full".to_owned();
                    }
                    // A permit left from an earlier incarnation's cut is no
                    // reason to leave.
                    if hub.node().as_deref() != Some(&**node) {
                        return "cut off".to_owned();
                    }
                }
            }
        }
    }
}

/// Renews `node`'s lease every [`RENEW_EVERY`] and reaps expired ones,
/// apart from the channel (a slow call never delays delivery). If no
/// renewal has succeeded for [`FENCE_AFTER`] (counted from when the last
/// good one was sent), or the lease is found gone, cuts the node off: no
/// call can make it wait past that deadline.
async fn keep_lease(
    hub: Arc<ClusterHub>,
    mut conn: ConnectionManager,
    node: Arc<str>,
    entered_at: Instant,
) {
    let lease_ms = LEASE.as_millis().to_string();
    let mut deadline = entered_at + FENCE_AFTER;
    let mut next = entered_at + RENEW_EVERY;
    loop {
        if tokio::time::timeout_at(deadline, tokio::time::sleep_until(next))
            .await
            .is_err()
        {
            break;
        }
        if hub.node().as_deref() != Some(&*node) {
            // Cut off already (by the publisher, say): its lease must run
            // out, so that its names are released.
            return;
        }
        let sent = Instant::now();
        next = sent + RENEW_EVERY;
        let args = [&*node, lease_ms.as_str()];
        match tokio::time::timeout_at(deadline, call(&mut conn, "tagarela_renew", &args)).await {
            Err(_) => break,
            Ok(Ok(Value::Int(1))) => deadline = sent + FENCE_AFTER,
            Ok(Ok(_)) => {
                hub.cut_off_if(&node, "the lease expired");
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(node = %node, error = %e, "lease renewal failed");
                continue;
            }
        }
        if let Ok(Ok(Value::Int(n))) =
            tokio::time::timeout_at(deadline, call(&mut conn, "tagarela_reap", &[])).await
            && n > 0
        {
            tracing::warn!(
                names = n,
                "released the names of a node whose lease ran out"
            );
        }
    }
    hub.cut_off_if(&node, "the lease could not be renewed in time");
}

/// Sends the hub's commands to Redis, in order, a batch per pipeline.
async fn publish(
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
        let node = hub.node();
        let mut pipe = redis::pipe();
        let mut sent = Vec::with_capacity(batch.len());
        for command in batch.drain(..) {
            // Queued by an earlier incarnation: it holds nothing now.
            if node.as_deref() != Some(command_node(&command)) {
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
                    Ok(_) => "a reply of the wrong length".to_owned(),
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

fn command_node(command: &Command) -> &str {
    match command {
        Command::Claim { node, .. }
        | Command::Resume { node, .. }
        | Command::Release { node, .. }
        | Command::Public { node, .. }
        | Command::Private { node, .. } => node,
    }
}

/// The `FCALL` for `command`.
fn fcall(command: &Command, keep: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("FCALL");
    match command {
        Command::Claim {
            node,
            reg,
            name,
            token,
        } => {
            let [s1, s2] = name.skeletons();
            cmd.arg("tagarela_claim").arg(0).arg(&**node).arg(reg.0);
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
            cmd.arg("tagarela_resume").arg(0).arg(&**node).arg(reg.0);
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
            cmd.arg("tagarela_release").arg(0).arg(&**node).arg(reg.0);
            cmd.arg(key.as_str()).arg(reason.as_str());
            cmd.arg(text.as_ref().map_or("", |t| t.as_str()));
        }
        Command::Public {
            node,
            reg,
            key,
            text,
        } => {
            cmd.arg("tagarela_public").arg(0).arg(&**node).arg(reg.0);
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
            cmd.arg("tagarela_private").arg(0).arg(&**node).arg(reg.0);
            cmd.arg(key.as_str()).arg(to.key().as_str());
            cmd.arg(text.as_str()).arg(since.0);
        }
    }
    cmd
}

/// One function call, bounded in time.
async fn call(
    conn: &mut ConnectionManager,
    function: &str,
    args: &[&str],
) -> Result<Value, String> {
    let mut cmd = redis::cmd("FCALL");
    cmd.arg(function).arg(0);
    for a in args {
        cmd.arg(*a);
    }
    checked(timeout(CALL_TIMEOUT, cmd.query_async::<Value>(conn)).await)
}

fn checked<T>(r: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>) -> Result<T, String> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    }
}

/// Makes sure Redis holds this build's library of functions (spec
/// §17.5): loads it where there is none, replaces one of the same version
/// (a compatible build's; a library from before libraries had versions is
/// version 1), and refuses one of another version, which nodes of another
/// build are using: this node then stays out of the cluster.
async fn load_library(conn: &mut ConnectionManager) -> Result<(), String> {
    // The connection manager finds out that Redis dropped its connection
    // only when a call on it fails, and reconnects then. Asking what is
    // held changes nothing, so a failed ask is asked once more at once:
    // the first entry after Redis comes back does not lose a whole RETRY
    // to that (it did: 2 s instead of at most 1).
    let mut held = match library_version(conn).await {
        Ok(held) => held,
        Err(_) => library_version(conn).await?,
    };
    // Two tries: a node of any version may load one between our look and
    // our load, which then fails and is looked at again.
    for _ in 0..2 {
        let replace = match held {
            Some(LIBRARY_VERSION) => true,
            Some(version) => return Err(other_version(version)),
            None => false,
        };
        let mut load = redis::cmd("FUNCTION");
        load.arg("LOAD");
        if replace {
            load.arg("REPLACE");
        }
        load.arg(LIBRARY);
        let loaded = checked(timeout(CALL_TIMEOUT, load.query_async::<Value>(conn)).await);
        held = library_version(conn).await?;
        match (loaded, held) {
            (Ok(_), Some(LIBRARY_VERSION)) => return Ok(()),
            (Ok(_), _) => return Err("the functions just loaded are not there".to_owned()),
            // Someone else's load came first: look again.
            (Err(_), Some(_)) if !replace => continue,
            (Err(e), _) => return Err(format!("cannot load the functions: {e}")),
        }
    }
    match held {
        Some(LIBRARY_VERSION) => Ok(()),
        Some(version) => Err(other_version(version)),
        None => Err("cannot load the functions".to_owned()),
    }
}

/// Why a node does not enter a cluster of another version.
fn other_version(version: i64) -> String {
    format!(
        "Redis holds the cluster functions of version {version}, this build's are version {LIBRARY_VERSION}: one cluster's nodes must share a version (OPERATING.md: upgrading a cluster)"
    )
}

/// The version of the library Redis holds, if it holds one (`FUNCTION
/// LIST`): what its `tagarela_version` returns, or 1 if it has none (it
/// is from before libraries had versions).
async fn library_version(conn: &mut ConnectionManager) -> Result<Option<i64>, String> {
    let list = redis::cmd("FUNCTION")
        .arg("LIST")
        .arg("LIBRARYNAME")
        .arg("tagarela")
        .to_owned();
    let listed = checked(timeout(CALL_TIMEOUT, list.query_async::<Value>(conn)).await)
        .map_err(|e| format!("cannot list the functions: {e}"))?;
    if matches!(&listed, Value::Array(libraries) if libraries.is_empty()) {
        return Ok(None);
    }
    if !mentions(&listed, "tagarela_version") {
        return Ok(Some(1));
    }
    let ask = redis::cmd("FCALL")
        .arg("tagarela_version")
        .arg(0)
        .to_owned();
    match checked(timeout(CALL_TIMEOUT, ask.query_async::<Value>(conn)).await) {
        Ok(Value::Int(version)) => Ok(Some(version)),
        Ok(other) => Err(format!("the functions' version is {other:?}")),
        Err(e) => Err(format!("cannot ask the functions' version: {e}")),
    }
}

/// Whether `value` holds the text `word` anywhere (a function's name in a
/// `FUNCTION LIST` reply, whichever protocol version shaped it).
fn mentions(value: &Value, word: &str) -> bool {
    match value {
        Value::BulkString(b) => b == word.as_bytes(),
        Value::SimpleString(s) => s == word,
        Value::Array(items) | Value::Set(items) => items.iter().any(|v| mentions(v, word)),
        Value::Map(pairs) => pairs
            .iter()
            .any(|(k, v)| mentions(k, word) || mentions(v, word)),
        _ => false,
    }
}

/// What a function's reply says (see `cluster.lua`).
fn verdict(value: &Value) -> Verdict {
    match value {
        Value::Int(1) => Verdict::Done,
        Value::Int(0) => Verdict::NotHeld,
        Value::Int(-1) => Verdict::Absent,
        Value::Array(items) => {
            let word = items.first().and_then(text);
            let holder = || items.get(1).and_then(text).unwrap_or_default();
            match word.as_deref() {
                Some("ok" | "moved") => Verdict::Done,
                Some("taken") => Verdict::Taken(holder()),
                Some("looks") => Verdict::LooksLike(holder()),
                Some("token") => Verdict::Token,
                Some("fenced") => Verdict::Fenced,
                _ => Verdict::Failed,
            }
        }
        _ => Verdict::Failed,
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `tagarela_enter`'s reply: `[seq, [name, node, reg, since, ...],
/// [[id, [field, value, ...]], ...]]` (history newest first).
fn snapshot(value: &Value) -> Option<Snapshot> {
    let Value::Array(parts) = value else {
        return None;
    };
    let [seq, names, history] = parts.as_slice() else {
        return None;
    };
    let seq = Seq(text(seq)?.parse().ok()?);
    let Value::Array(names) = names else {
        return None;
    };
    let mut snapshot = Snapshot {
        seq,
        ..Snapshot::default()
    };
    // Each name comes with its node and registration, which a replica
    // does not need (its own clients' come back with their joins).
    for four in names.chunks(4) {
        let [name, _node, _reg, since] = four else {
            return None;
        };
        snapshot.names.push(Holding {
            name: tagarela_parser::Name::normalize(&text(name)?).ok()?,
            since: Seq(text(since)?.parse().ok()?),
        });
    }
    let Value::Array(history) = history else {
        return None;
    };
    for entry in history {
        let Value::Array(entry) = entry else {
            return None;
        };
        let [id, Value::Array(fields)] = entry.as_slice() else {
            return None;
        };
        let id = text(id)?;
        let seq = Seq(id.split('-').next()?.parse().ok()?);
        let (mut at, mut from, mut body) = (None, None, None);
        for pair in fields.chunks(2) {
            let [k, v] = pair else { return None };
            match text(k)?.as_str() {
                "a" => at = text(v)?.parse::<u64>().ok(),
                "f" => from = text(v),
                "t" => body = text(v),
                _ => {}
            }
        }
        let at = tagarela_parser::Timestamp::from_unix_ms(at?)?;
        let from = tagarela_parser::Name::normalize(&from?).ok()?;
        let text = tagarela_parser::Text::new(body?).ok()?;
        snapshot.history.push(Arc::new(Event::new(
            seq,
            at,
            EventKind::Public { from, text },
        )));
    }
    Some(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_is_found_in_a_listing_of_either_shape() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let function = Value::Map(vec![(bulk("name"), bulk("tagarela_version"))]);
        let resp3 = Value::Array(vec![Value::Map(vec![
            (bulk("library_name"), bulk("tagarela")),
            (bulk("functions"), Value::Array(vec![function])),
        ])]);
        let resp2 = Value::Array(vec![Value::Array(vec![
            bulk("library_name"),
            bulk("tagarela"),
            bulk("functions"),
            Value::Array(vec![Value::Array(vec![
                bulk("name"),
                bulk("tagarela_claim"),
            ])]),
        ])]);
        assert!(mentions(&resp3, "tagarela_version"));
        assert!(!mentions(&resp2, "tagarela_version"));
    }

    /// The Lua library and this file name the same version (§17.5).
    #[test]
    fn the_library_declares_the_version_this_build_speaks() {
        let declared = LIBRARY
            .lines()
            .find_map(|l| l.strip_prefix("local LIBRARY_VERSION = "))
            .and_then(|v| v.trim().parse::<i64>().ok());
        assert_eq!(declared, Some(LIBRARY_VERSION));
    }

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

    #[test]
    fn replies_read_as_verdicts() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        assert_eq!(verdict(&Value::Int(1)), Verdict::Done);
        assert_eq!(verdict(&Value::Int(-1)), Verdict::Absent);
        assert_eq!(
            verdict(&Value::Array(vec![bulk("taken"), bulk("Ana")])),
            Verdict::Taken("Ana".to_owned())
        );
        assert_eq!(
            verdict(&Value::Array(vec![bulk("fenced")])),
            Verdict::Fenced
        );
        assert_eq!(verdict(&Value::Nil), Verdict::Failed);
    }
}
