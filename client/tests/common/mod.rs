//! What the client's integration tests share: the one way to start an
//! in-process server (`tagarela_server::testing`), with the defaults.

use tagarela_server::Settings;
use tagarela_server::testing::TestServer;

/// Starts a server with default settings.
pub async fn server() -> TestServer {
    TestServer::start(Settings::default()).await.unwrap()
}
