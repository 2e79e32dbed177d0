//! The lease duty of a node's link (spec §17.4): renew the lease, reap
//! the leases of nodes that are gone, and cut this node off before its
//! own lease can run out. Never touches the channel.

use std::sync::Arc;

use redis::Value;
use redis::aio::ConnectionManager;
use tokio::time::Instant;

use crate::hub::cluster::ClusterHub;
use crate::hub::cluster::lifecycle::Incarnation;

use super::replies::call;
use super::{FENCE_AFTER, LEASE, RENEW_EVERY};

/// Renews `node`'s lease every [`RENEW_EVERY`] and reaps expired ones,
/// apart from the channel (a slow call never delays delivery). If no
/// renewal has succeeded for [`FENCE_AFTER`] (counted from when the last
/// good one was sent), or the lease is found gone, cuts the node off: no
/// call can make it wait past that deadline.
pub(super) async fn keep_lease(
    hub: Arc<ClusterHub>,
    mut conn: ConnectionManager,
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
