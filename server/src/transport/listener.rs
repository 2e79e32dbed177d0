//! The accept loop and graceful shutdown. Accepts on the plaintext
//! listener and, when TLS is on, the TLS one; admits or refuses each socket
//! (spec §11), spawns its connection task (after the TLS handshake, bounded
//! in time, for the TLS listener), survives `accept` errors such as
//! running out of file descriptors by backing off, and on shutdown stops
//! accepting, tells every connection to send `BYE shutdown` (§9.2) and waits
//! for them, bounded by the grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::{AbortOnDropHandle, TaskTracker};

use crate::chat::reply::Reply;
use crate::config::Settings;
use crate::flow::pressure::Pressure;
use crate::hub::Hub;
use crate::hub::cluster::ClusterHub;
use crate::hub::cluster::link;
use crate::hub::cluster::recorder::Recorder;
use crate::hub::crowd;
use crate::hub::local::LocalHub;
use crate::hub::recent::Recent;
use crate::ops::metrics::Metrics;
use crate::store::history::History;
use crate::store::server_log::ServerLog;
use crate::store::{EventSink, Fanout, Stores};
use crate::transport::admission::Admission;
use crate::transport::connection::{self, Protocol, TransportKind};
use crate::transport::proxy_header;
use crate::transport::shared::Shared;
use crate::transport::tls::Tls;
use crate::transport::tls_stream::TlsStream;
use crate::transport::web;
use crate::wire::tagarela;

const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// What the server accepts connections on.
#[derive(Debug)]
pub struct Listeners {
    /// Plaintext TCP (spec §2), if any.
    pub plain: Option<TcpListener>,
    /// TLS over TCP (spec §15), if any, with its certificate.
    pub tls: Option<(TcpListener, Arc<Tls>)>,
    /// The metrics endpoint (`GET /metrics`), if the operator wants one.
    pub metrics: Option<TcpListener>,
    /// IRC (spec §20), if any.
    pub irc: Option<TcpListener>,
    /// IRC over TLS, if any (with the TLS listener's certificate).
    pub irc_tls: Option<TcpListener>,
    /// The web door (spec §21): the web client's page and its
    /// WebSocket, if any.
    pub web: Option<TcpListener>,
    /// The web door over TLS (HTTPS, with the TLS listener's
    /// certificate), if any.
    pub web_tls: Option<TcpListener>,
}

/// What a listener's connections are: over TLS or not, and which
/// protocol they speak.
#[derive(Debug, Clone, Copy)]
struct Door {
    /// Over TLS.
    tls: bool,
    /// Tagarela's or IRC.
    protocol: Protocol,
    /// The web door: HTTP first (spec §21).
    web: bool,
}

/// Serves `listener` until `shutdown` resolves, then closes every connection
/// with `BYE shutdown` and returns once they are done (or the grace period
/// ran out).
pub async fn run(
    listener: TcpListener,
    settings: Settings,
    stores: Stores,
    shutdown: impl Future<Output = ()>,
) {
    let listeners = Listeners {
        plain: Some(listener),
        tls: None,
        metrics: None,
        irc: None,
        irc_tls: None,
        web: None,
        web_tls: None,
    };
    serve(listeners, settings, stores, shutdown).await;
}

/// Accepts the next connection on any listener; says which door it came
/// in by.
async fn accept(listeners: &Listeners) -> (std::io::Result<(TcpStream, SocketAddr)>, Door) {
    async fn on(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
        match listener {
            Some(l) => l.accept().await,
            None => std::future::pending().await,
        }
    }
    let door = |tls, protocol| Door {
        tls,
        protocol,
        web: false,
    };
    tokio::select! {
        accepted = on(listeners.plain.as_ref()) => (accepted, door(false, Protocol::Tagarela)),
        accepted = on(listeners.tls.as_ref().map(|(l, _)| l)) => (accepted, door(true, Protocol::Tagarela)),
        accepted = on(listeners.irc.as_ref()) => (accepted, door(false, Protocol::Irc)),
        accepted = on(listeners.irc_tls.as_ref()) => (accepted, door(true, Protocol::Irc)),
        accepted = on(listeners.web.as_ref()) => (accepted, Door { web: true, ..door(false, Protocol::Tagarela) }),
        accepted = on(listeners.web_tls.as_ref()) => (accepted, Door { web: true, ..door(true, Protocol::Tagarela) }),
    }
}

/// As [`run`], on every listener in `listeners`.
pub async fn serve(
    listeners: Listeners,
    settings: Settings,
    stores: Stores,
    shutdown: impl Future<Output = ()>,
) {
    let Stores { audit, history } = stores;
    let admission = Admission::new(settings.max_connections, settings.max_per_address);
    let admission_limit = settings.max_connections;
    let grace = settings.shutdown_grace;
    let metrics = Arc::new(Metrics::new(audit.errors()));
    let settings_access = settings.access.clone();
    // The history first: its durability promise (spec §16.4) must not
    // wait behind the audit log.
    let mut sinks: Vec<Arc<dyn EventSink>> = Vec::new();
    let pressure = Arc::new(Pressure::new());
    let link_stop = CancellationToken::new();
    let mut cluster = None;
    let hub: Arc<dyn Hub> = match (&settings.cluster, history) {
        (Some(config), _) => {
            // The room is in Redis (§17); so is its history.
            let recent = (config.keep > 0).then(|| Recent::new(settings.history_retention));
            let (hub, commands) = ClusterHub::new(
                Arc::clone(&metrics),
                Arc::clone(&pressure),
                recent,
                settings.history_replay,
                audit.is_enabled() || ServerLog::is_wanted(),
                settings.crowd_size,
                settings.max_connections,
                settings.rooms.clone(),
            );
            tracing::info!(node = %config.node_id, redis = %link::shown_url(&config.url), "joining a cluster");
            cluster = Some((Arc::clone(&hub), commands, config.clone()));
            hub
        }
        (None, None) => Arc::new(
            LocalHub::with_metrics(Arc::clone(&metrics))
                .crowded_from(settings.crowd_size)
                .with_rooms(settings.rooms.clone()),
        ),
        (None, Some(History { store, loaded })) => {
            if let Some(store) = store {
                sinks.push(Arc::new(store));
            }
            Arc::new(
                LocalHub::with_history(
                    Arc::clone(&metrics),
                    loaded,
                    Recent::new(settings.history_retention),
                    settings.history_replay,
                    settings.rooms.clone(),
                )
                .crowded_from(settings.crowd_size),
            )
        }
    };
    if audit.is_enabled() {
        sinks.push(Arc::new(audit.with_private_text(settings.log_private_text)));
    }
    // Every event's log line, in both modes, from the same entries.
    let server_log = if ServerLog::is_wanted() {
        match ServerLog::start(settings.log_private_text) {
            Ok(log) => {
                sinks.push(Arc::new(log.clone()));
                Some(log)
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start the server log's thread; events are not logged");
                None
            }
        }
    } else {
        None
    };
    let sink: Option<Arc<dyn EventSink>> = match sinks.len() {
        0 => None,
        1 => sinks.pop(),
        _ => Some(Arc::new(Fanout(sinks))),
    };
    // A node's records go to the sinks from a task of their own, so the
    // channel loop that delivers to everyone never waits on a store.
    let mut recording = None;
    let link = cluster.map(|(hub, commands, config)| {
        let recorder = sink.clone().map(|sink| {
            let recorder = Recorder::new(Arc::clone(&pressure), metrics.records_lost.clone());
            let drain = tokio::spawn(Arc::clone(&recorder).drain(sink));
            recording = Some((Arc::clone(&recorder), AbortOnDropHandle::new(drain)));
            recorder
        });
        tokio::spawn(link::run(
            hub,
            commands,
            config,
            Arc::clone(&metrics),
            recorder,
            link_stop.clone(),
        ))
    });
    // Crowd notices (§18) go out once a second, whatever the traffic.
    let _ticker = {
        let hub = Arc::clone(&hub);
        AbortOnDropHandle::new(tokio::spawn(async move {
            let mut every = tokio::time::interval(crowd::INTERVAL);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                hub.tick();
            }
        }))
    };
    // IRC clients are rooms clients (§20): a server without rooms (a
    // cluster's node, §19.7) has no IRC port.
    let irc = (listeners.irc.is_some() || listeners.irc_tls.is_some()).then(|| {
        Arc::new(crate::wire::irc::IrcIdentity::new(
            &settings.irc_name,
            &settings.rooms,
            None,
            settings.operators.clone(),
        ))
    });
    let web_origins: Arc<[String]> = settings.web_origins.clone().into();
    let ctx = Arc::new(Shared {
        hub,
        settings,
        sink,
        pressure,
        metrics: Arc::clone(&metrics),
        access: settings_access,
        irc,
        web_origins,
    });
    let mut listeners = listeners;
    let endpoint = listeners.metrics.take().map(|l| {
        let hub = Arc::clone(&ctx.hub);
        let ready: crate::ops::metrics::Readiness = Arc::new(move || hub.is_ready());
        tokio::spawn(crate::ops::metrics::serve(l, Arc::clone(&metrics), ready))
    });
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    let door = Doorway {
        admission: Arc::clone(&admission),
        ctx,
        tls: listeners.tls.as_ref().map(|(_, tls)| Arc::clone(tls)),
        stop: stop.clone(),
        tasks: tasks.clone(),
        headers: Arc::new(tokio::sync::Semaphore::new(
            admission_limit.min(tokio::sync::Semaphore::MAX_PERMITS),
        )),
    };
    let mut backoff = BACKOFF_MIN;
    tokio::pin!(shutdown);

    loop {
        let (accepted, entry) = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listeners) => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = BACKOFF_MIN;
                // An IPv4 client on a dual-stack socket is judged as IPv4
                // everywhere (limits, throttle, loopback, logs).
                let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
                if door.ctx.settings.balancers.trusts(peer.ip()) {
                    // A listed balancer: the client's address comes first,
                    // read by at most as many tasks as connections allowed.
                    let Ok(slot) = Arc::clone(&door.headers).try_acquire_owned() else {
                        door.ctx.metrics.proxy_header_failures.inc();
                        continue;
                    };
                    let door = door.clone();
                    tasks.spawn(async move {
                        let _slot = slot;
                        let mut stream = stream;
                        let header = tokio::select! {
                            h = proxy_header::read_client(&mut stream, peer) => h,
                            () = door.stop.cancelled() => return,
                        };
                        match header {
                            Ok(client) => door.open(stream, client, entry),
                            Err(e) => {
                                // Debug: a misconfigured balancer would fill
                                // the log; the metric counts them.
                                door.ctx.metrics.proxy_header_failures.inc();
                                tracing::debug!(balancer = %peer, error = %e, "closed a balancer's connection without a PROXY header");
                            }
                        }
                    });
                } else {
                    door.open(stream, peer, entry);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, backoff_ms = backoff.as_millis() as u64, "accept failed; backing off");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }

    drop(listeners);
    if let Some(endpoint) = endpoint {
        endpoint.abort();
    }
    tracing::info!(connections = admission.open_connections(), "shutting down");
    stop.cancel();
    tasks.close();
    if tokio::time::timeout(grace + Duration::from_millis(500), tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close within the grace period");
    }
    if let Some(link) = link {
        // Releases this node's names in Redis now, rather than when its
        // lease runs out.
        link_stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), link).await;
    }
    if let Some((recorder, _drain)) = recording {
        // What the node's clients did last is recorded before it stops.
        let flushed = async {
            while !recorder.is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), flushed).await;
    }
    if let Some(log) = server_log
        && !log.flush(Duration::from_secs(2)).await
    {
        tracing::warn!("the server log's last lines were not all written within 2 s");
    }
}

/// What opening an accepted connection needs: shared by the accept loop
/// and by the tasks that first read a balancer's PROXY header.
#[derive(Debug, Clone)]
struct Doorway {
    /// The connection limits, counted by the client's address.
    admission: Arc<Admission>,
    /// What every connection task shares.
    ctx: Arc<Shared>,
    /// The certificate, when there is a TLS listener.
    tls: Option<Arc<Tls>>,
    /// Cancelled at shutdown.
    stop: CancellationToken,
    /// Every connection task, for the shutdown to wait on.
    tasks: TaskTracker,
    /// Balancers' connections whose PROXY header is being read: at most
    /// as many as connections allowed (they are not admitted yet).
    headers: Arc<tokio::sync::Semaphore>,
}

impl Doorway {
    /// Admits or refuses a connection from `peer` (the client's address,
    /// which a balancer's header may have given) and starts serving it:
    /// after the TLS handshake (bounded in time) if it came on the TLS
    /// listener.
    fn open(&self, stream: TcpStream, peer: SocketAddr, door: Door) {
        let Door {
            tls: over_tls,
            protocol,
            web,
        } = door;
        let permit = match self.admission.admit(peer.ip()) {
            Ok(permit) => permit,
            Err(reason) => {
                tracing::warn!(peer = %peer, reason = %reason, "connection refused");
                let bye = match protocol {
                    // No plain text into a TLS handshake.
                    _ if web && over_tls => None,
                    _ if web => Some(bytes::Bytes::from_static(crate::transport::web::REFUSED)),
                    Protocol::Tagarela => tagarela::encode_reply(&Reply::Bye(reason)),
                    Protocol::Irc => Some(crate::wire::irc::IrcClient::bye_line(reason).into()),
                };
                if let Some(bye) = bye {
                    // A fresh socket's send buffer is empty: this does not block.
                    let _ = stream.try_write(&bye);
                }
                return;
            }
        };
        configure_socket(&stream);
        let ctx = Arc::clone(&self.ctx);
        let stop = self.stop.clone();
        if !web {
            let transport = if over_tls {
                TransportKind::Tls
            } else {
                TransportKind::Tcp
            };
            self.ctx
                .metrics
                .connections
                .get_or_create(&[
                    ("transport", transport.label()),
                    ("protocol", protocol.label()),
                ])
                .inc();
        }
        match (&self.tls, over_tls) {
            (Some(tls), true) => {
                let config = tls.config();
                self.tasks.spawn(async move {
                    let Some(tls_stream) = tls_accept(config, stream, peer, &ctx, &stop).await
                    else {
                        return;
                    };
                    if web {
                        // Counted by the web door once a socket is open (§21.1).
                        let secure = TransportKind::WebSocketTls;
                        web::serve(tls_stream, peer, ctx, stop, permit, secure).await;
                        return;
                    }
                    connection::serve(
                        tls_stream,
                        peer,
                        ctx,
                        stop,
                        permit,
                        TransportKind::Tls,
                        protocol,
                    )
                    .await;
                });
            }
            _ if web => {
                let plain = TransportKind::WebSocket;
                self.tasks
                    .spawn(web::serve(stream, peer, ctx, stop, permit, plain));
            }
            _ => {
                self.tasks.spawn(connection::serve(
                    stream,
                    peer,
                    ctx,
                    stop,
                    permit,
                    TransportKind::Tcp,
                    protocol,
                ));
            }
        }
    }
}

/// The TLS handshake of a connection that came in on a TLS listener,
/// bounded in time; `None` (counted, and logged at debug level) if it
/// failed, timed out, or the server is shutting down. Boxed, the
/// handshake's state is freed when it ends, and the stream (rustls's
/// state, 1 KiB) is not copied into the task's future at each move: the
/// task stays as small as a plain-text one for the connection's whole
/// life.
async fn tls_accept(
    config: Arc<rustls::ServerConfig>,
    stream: TcpStream,
    peer: SocketAddr,
    ctx: &Shared,
    stop: &CancellationToken,
) -> Option<Box<TlsStream<TcpStream>>> {
    let timeout = ctx.settings.tls_handshake_timeout;
    let handshake = Box::pin(async move {
        let accepted = tokio::time::timeout(timeout, TlsStream::accept(config, stream)).await;
        accepted.map(|r| r.map(Box::new))
    });
    // A shutdown does not wait for handshakes in progress.
    let handshake = tokio::select! {
        h = handshake => h,
        () = stop.cancelled() => return None,
    };
    match handshake {
        Ok(Ok(tls_stream)) => Some(tls_stream),
        Ok(Err(e)) => {
            ctx.metrics.tls_handshake_failures.inc();
            // Debug: scanners would fill the log; the metric counts them.
            tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            ctx.metrics.tls_handshake_failures.inc();
            tracing::debug!(peer = %peer, "TLS handshake timed out");
            None
        }
    }
}

/// TCP settings of an accepted socket: no Nagle delay (lines are small and
/// sent as they come), and TCP keepalive (spec §10) so a vanished peer is
/// found even while the protocol's own keepalive waits.
fn configure_socket(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10))
        .with_retries(3);
    let _ = socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive);
}
