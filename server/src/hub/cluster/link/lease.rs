//! The lease duty of a node's link (spec §17.4): renew the lease, reap
//! the leases of nodes that are gone, and cut this node off before its
//! own lease can run out. Never touches the channel.

use std::sync::Arc;

use redis::Value;
use tokio::time::Instant;

use crate::hub::cluster::ClusterHub;
use crate::hub::cluster::lifecycle::Incarnation;

use super::port::{RedisPort, call};
use super::{FENCE_AFTER, LEASE, RENEW_EVERY};

/// Renews `node`'s lease every [`RENEW_EVERY`] and reaps expired ones,
/// apart from the channel (a slow call never delays delivery). If no
/// renewal has succeeded for [`FENCE_AFTER`] (counted from when the last
/// good one was sent), or the lease is found gone, cuts the node off: no
/// call can make it wait past that deadline.
pub(super) async fn keep_lease(
    hub: Arc<ClusterHub>,
    mut conn: impl RedisPort,
    node: Incarnation,
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
        if hub.incarnation().as_ref() != Some(&node) {
            // Cut off already (by the publisher, say): its lease must run
            // out, so that its names are released.
            return;
        }
        let sent = Instant::now();
        next = sent + RENEW_EVERY;
        let args = [node.as_str(), lease_ms.as_str()];
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use super::super::scripted::{Answer, Scripted};

    use crate::hub::cluster::fixtures::entered;

    /// Scripted Redis, paused clock (spec §17.4): renewed every second;
    /// when renewals stop answering the node cuts itself off exactly
    /// FENCE_AFTER after the last good one was sent, before its lease
    /// (LEASE) can run out.
    #[tokio::test(start_paused = true)]
    async fn a_node_whose_renewals_hang_cuts_itself_off_before_its_lease_ends() {
        let (hub, _commands) = entered();
        let redis = Scripted::default();
        redis
            .then(Answer::Replies(vec![Value::Int(1)]))
            .then(Answer::Replies(vec![Value::Int(0)]))
            .then(Answer::Hangs);
        let start = Instant::now();
        let lease = tokio::spawn(keep_lease(
            Arc::clone(&hub),
            redis.clone(),
            "n1".into(),
            start,
        ));
        // Renewed at 1 s (good until 1 + 4 s); the renewal at 2 s hangs.
        tokio::time::sleep_until(start + RENEW_EVERY + FENCE_AFTER - Duration::from_millis(1))
            .await;
        assert!(hub.incarnation().is_some(), "still within the fence");
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert!(hub.incarnation().is_none(), "cut off at the fence");
        assert!(FENCE_AFTER < LEASE);
        let sent: Vec<String> = redis.sent().iter().map(|w| w[1].clone()).collect();
        assert_eq!(sent, ["tagarela_renew", "tagarela_reap", "tagarela_renew"]);
        assert!(lease.await.is_ok());
    }

    /// A renewal that finds the lease gone cuts the node off at once.
    #[tokio::test(start_paused = true)]
    async fn a_lease_found_gone_cuts_the_node_off_at_once() {
        let (hub, _commands) = entered();
        let redis = Scripted::default();
        redis.then(Answer::Replies(vec![Value::Int(0)]));
        let start = Instant::now();
        keep_lease(Arc::clone(&hub), redis, "n1".into(), start).await;
        assert_eq!(Instant::now(), start + RENEW_EVERY);
        assert!(hub.incarnation().is_none());
    }
}
