//! One way to start a server in tests: the library's [`run`](crate::run)
//! on a loopback port of its own, with a handle that stops it and waits
//! for it to finish. Used by this crate's integration tests and the
//! client's; the conformance suite runs the real binary instead. Never
//! used by the server itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Settings;
use crate::store::Stores;
use crate::store::audit::AuditLog;
use crate::store::history::History;
use crate::transport::listener::Listeners;
use crate::transport::tls::Tls;

/// Reads one server line as a client does (the parser's
/// [`ServerLine::parse`](tagarela_parser::ServerLine::parse); a trailing
/// CRLF or LF is dropped), for typed assertions.
pub fn parse_line(line: &str) -> Result<tagarela_parser::ServerLine<'_>, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    tagarela_parser::ServerLine::parse(line.as_bytes()).map_err(|e| format!("{line:?}: {e}"))
}

/// Asserts that a server line parses and matches a pattern of
/// [`tagarela_parser::ServerLine`]: a typed check, where comparing the
/// start of the text would pass a line the client cannot read.
///
/// ```ignore
/// assert_line!(line, ServerLine::Bye { reason: ByeReason::Timeout, .. });
/// ```
#[macro_export]
macro_rules! assert_line {
    ($line:expr, $($pattern:tt)+) => {{
        let line: &str = &$line;
        match $crate::testing::parse_line(line) {
            Ok(parsed) => assert!(
                matches!(parsed, $($pattern)+),
                "{line:?} is not {}",
                stringify!($($pattern)+)
            ),
            Err(e) => panic!("a line that does not parse: {e}"),
        }
    }};
}

/// No audit log and no history: what most tests run with.
fn no_stores() -> Stores {
    AuditLog::disabled().into()
}

/// How long [`TestServer::shutdown`] waits for the server to finish.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// A server running in this process.
#[derive(Debug)]
pub struct TestServer {
    /// Where it listens (127.0.0.1, a free port).
    pub addr: SocketAddr,
    /// Where it listens for IRC (spec §20), if it does.
    pub irc: Option<SocketAddr>,
    /// Where its web door (spec §21) is, if it has one.
    pub web: Option<SocketAddr>,
    /// Stops it when sent (or dropped).
    stop: Option<oneshot::Sender<()>>,
    /// The server itself.
    task: JoinHandle<()>,
}

impl TestServer {
    /// Starts a server with `settings` and no audit log.
    pub async fn start(settings: Settings) -> std::io::Result<TestServer> {
        Self::start_with(settings, None, None).await
    }

    /// Starts a server with `settings` that also listens for IRC (§20).
    pub async fn start_irc(settings: Settings) -> std::io::Result<TestServer> {
        let irc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let at = irc.local_addr()?;
        let mut server =
            Self::start_listening(settings, None, None, Some(irc), None, no_stores()).await?;
        server.irc = Some(at);
        Ok(server)
    }

    /// As [`TestServer::start_irc`], keeping history in memory (§16).
    pub async fn start_irc_keeping_history(settings: Settings) -> std::io::Result<TestServer> {
        let irc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let at = irc.local_addr()?;
        let stores = Stores {
            audit: AuditLog::disabled(),
            history: Some(History::in_memory()),
        };
        let mut server =
            Self::start_listening(settings, None, None, Some(irc), None, stores).await?;
        server.irc = Some(at);
        Ok(server)
    }

    /// Starts a server with `settings` that also has a web door (§21).
    pub async fn start_web(settings: Settings) -> std::io::Result<TestServer> {
        let anywhere = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_web_at(settings, anywhere, None).await
    }

    /// As [`TestServer::start_web`], its web door at `web` (a server
    /// started again where the last one was, for clients to come back),
    /// keeping `history` if given (§16).
    pub async fn start_web_at(
        settings: Settings,
        web: SocketAddr,
        history: Option<History>,
    ) -> std::io::Result<TestServer> {
        let web = tokio::net::TcpListener::bind(web).await?;
        let at = web.local_addr()?;
        let stores = Stores {
            audit: AuditLog::disabled(),
            history,
        };
        let mut server =
            Self::start_listening(settings, None, None, None, Some(web), stores).await?;
        server.web = Some(at);
        Ok(server)
    }

    /// Starts a server with an IRC port and a web door (§21.4: IRC over
    /// WebSocket too).
    pub async fn start_web_and_irc(settings: Settings) -> std::io::Result<TestServer> {
        let web = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let irc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let (web_at, irc_at) = (web.local_addr()?, irc.local_addr()?);
        let mut server =
            Self::start_listening(settings, None, None, Some(irc), Some(web), no_stores()).await?;
        server.web = Some(web_at);
        server.irc = Some(irc_at);
        Ok(server)
    }

    /// Starts a server that speaks TLS only, with `tls`'s certificate,
    /// and has a web door over HTTPS (§21.3) with the same certificate.
    pub async fn start_web_tls(settings: Settings, tls: Arc<Tls>) -> std::io::Result<TestServer> {
        let web = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let at = web.local_addr()?;
        let mut server =
            Self::start_listening(settings, Some(tls), None, None, Some(web), no_stores()).await?;
        server.web = Some(at);
        Ok(server)
    }

    /// Starts a server that speaks TLS only, with `tls`'s certificate.
    pub async fn start_tls(settings: Settings, tls: Arc<Tls>) -> std::io::Result<TestServer> {
        Self::start_with(settings, Some(tls), None).await
    }

    /// Starts a server with `settings` and a metrics endpoint; returns
    /// the endpoint's address too.
    pub async fn start_with_metrics(
        settings: Settings,
    ) -> std::io::Result<(TestServer, SocketAddr)> {
        let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let at = metrics.local_addr()?;
        Ok((Self::start_with(settings, None, Some(metrics)).await?, at))
    }

    async fn start_with(
        settings: Settings,
        tls: Option<Arc<Tls>>,
        metrics: Option<tokio::net::TcpListener>,
    ) -> std::io::Result<TestServer> {
        Self::start_listening(settings, tls, metrics, None, None, no_stores()).await
    }

    async fn start_listening(
        settings: Settings,
        tls: Option<Arc<Tls>>,
        metrics: Option<tokio::net::TcpListener>,
        irc: Option<tokio::net::TcpListener>,
        web: Option<tokio::net::TcpListener>,
        stores: Stores,
    ) -> std::io::Result<TestServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let listeners = match tls {
            None => Listeners {
                plain: Some(listener),
                tls: None,
                metrics,
                irc,
                irc_tls: None,
                web,
                web_tls: None,
            },
            Some(tls) => Listeners {
                plain: None,
                tls: Some((listener, tls)),
                metrics,
                irc,
                irc_tls: None,
                // With a certificate, the web door is HTTPS.
                web: None,
                web_tls: web,
            },
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(crate::serve(listeners, settings, stores, async {
            let _ = stopped.await;
        }));
        Ok(TestServer {
            addr,
            irc: None,
            web: None,
            stop: Some(stop),
            task,
        })
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Shuts it down as SIGTERM would (`BYE shutdown` to everyone) and
    /// waits for it to finish. False if it did not finish in time.
    pub async fn shutdown(mut self) -> bool {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        matches!(
            tokio::time::timeout(SHUTDOWN_WAIT, &mut self.task).await,
            Ok(Ok(()))
        )
    }
}
