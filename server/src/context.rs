//! What every connection task shares: the room, the settings and the audit
//! log handle. Plain data; no behaviour of its own.

use std::sync::Arc;

use crate::audit::AuditLog;
use crate::config::Settings;
use crate::room::Room;

/// Shared by all connection tasks.
#[derive(Debug)]
pub struct Context {
    pub room: Arc<Room>,
    pub settings: Settings,
    pub audit: AuditLog,
}
