//! What the client's integration tests share: an in-process server on a
//! loopback port.

use tagarela_server::{AuditLog, Settings};
use tokio::sync::oneshot;

/// Starts a server with default settings; returns its port, the sender that
/// stops it, and its task.
pub async fn server() -> (u16, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(tagarela_server::run(
        listener,
        Settings::default(),
        AuditLog::disabled(),
        async {
            let _ = stopped.await;
        },
    ));
    (port, stop, task)
}
