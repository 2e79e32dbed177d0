//! The `tagarela-server` binary: flags, logging, the listening socket,
//! signals. Prints the bound address on stdout (one line) so scripts and
//! tests can find it; logs go to stderr. Protocol work is in the library.

use std::io::{IsTerminal, Write};

use anyhow::Context as _;
use clap::Parser;
use std::sync::Arc;

use tagarela_server::Stores;
use tagarela_server::{Access, Operators};
use tagarela_server::{AuditLog, Config, Listeners, LogFormat, background, bind, state_dir, tls};
use tagarela_server::{History, HistoryStore};
use tracing_subscriber::EnvFilter;

/// jemalloc, with a background thread that hands freed pages back to the
/// system about a second after they fall idle (its build-time settings are
/// in `.cargo/config.toml`). Under glibc's malloc the memory of a burst
/// (such as the join announcements when thousands of clients arrive at
/// once) stays resident long after it was freed; see BENCHMARKS.md.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    if config.background || config.stop {
        return background(&config);
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if config.threads > 0 {
        runtime.worker_threads(config.threads);
    }
    runtime
        .enable_all()
        .build()
        .context("cannot start the runtime")?
        .block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    init_logging(config.log_format);
    // Everything that can refuse to start is checked before the server
    // says it is listening (under --background, that line means "up").
    let access = room_password(&config)?
        .map(|password| Arc::new(Access::new(&password, config.allow_plaintext_password)));

    if config.no_plaintext && !config.tls_enabled() {
        anyhow::bail!(
            "--no-plaintext needs --tls (or --tls-cert): the server would listen on nothing"
        );
    }
    let plain = if config.no_plaintext {
        None
    } else {
        Some(bind::listen(&config.listen, config.port, config.backlog).await?)
    };
    let tls = if config.tls_enabled() {
        let (files, made) = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => (
                tls::TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                },
                false,
            ),
            _ => {
                let dir = state_dir::ensure().context(
                    "no place for a self-signed certificate: give --tls-cert and --tls-key",
                )?;
                tls::self_signed(&dir, &config.tls_names)?
            }
        };
        let loaded = Arc::new(tls::Tls::load(files.clone())?);
        if made {
            tracing::info!(cert = %files.cert.display(), "made a self-signed certificate");
        }
        let listener = bind::listen(&config.listen, config.tls_port, config.backlog).await?;
        watch_reload(Arc::clone(&loaded));
        Some((listener, loaded))
    } else {
        None
    };

    if config.irc_tls_port.is_some() && tls.is_none() {
        anyhow::bail!(
            "--irc-tls-port needs --tls (or --tls-cert): IRC over TLS uses its certificate"
        );
    }
    if config.web_tls_port.is_some() && tls.is_none() {
        anyhow::bail!("--web-tls-port needs --tls (or --tls-cert): HTTPS uses its certificate");
    }
    if (config.irc_port.is_some() || config.irc_tls_port.is_some()) && config.redis.is_some() {
        anyhow::bail!(
            "--irc-port and --irc-tls-port are not yet served by a cluster's node (spec §20.7)"
        );
    }
    let irc = match config.irc_port {
        Some(port) => Some(bind::listen(&config.listen, port, config.backlog).await?),
        None => None,
    };
    let irc_tls = match config.irc_tls_port {
        Some(port) => Some(bind::listen(&config.listen, port, config.backlog).await?),
        None => None,
    };
    let web = match config.web_port {
        Some(port) => Some(bind::listen(&config.listen, port, config.backlog).await?),
        None => None,
    };
    let web_tls = match config.web_tls_port {
        Some(port) => Some(bind::listen(&config.listen, port, config.backlog).await?),
        None => None,
    };
    let metrics = match &config.metrics_listen {
        None => None,
        Some(at) => {
            let (host, port) = match at.rsplit_once(':') {
                Some((host, port)) => (host.trim_start_matches('[').trim_end_matches(']'), port),
                None => ("127.0.0.1", at.as_str()),
            };
            let port: u16 = port
                .parse()
                .with_context(|| format!("--metrics-listen {at}: not a port"))?;
            let listener = bind::listen(host, port, 64).await?;
            let local = listener
                .local_addr()
                .context("metrics socket has no address")?;
            tracing::info!(addr = %local, "serving metrics at /metrics");
            Some(listener)
        }
    };
    let audit_path = if config.no_audit_log {
        None
    } else {
        match &config.audit_log {
            Some(path) => Some(path.clone()),
            None => Some(
                state_dir::ensure()
                    .context("no place for the audit log: give --audit-log PATH or --no-audit-log")?
                    .join("audit.jsonl"),
            ),
        }
    };
    // In a cluster (§17) the history is in Redis.
    let history_path = if config.no_history || config.redis.is_some() {
        None
    } else {
        match &config.history {
            Some(path) => Some(path.clone()),
            None => Some(
                state_dir::ensure()
                    .context("no place for the history: give --history PATH or --no-history")?
                    .join("history.sqlite"),
            ),
        }
    };
    let (history, history_writer) = match &history_path {
        None => (None, None),
        Some(path) => {
            let (store, writer, loaded) = HistoryStore::open(path, config.history_keep)?;
            tracing::info!(
                history = %path.display(),
                kept = loaded.messages.len(),
                next_seq = loaded.next_seq,
                "history loaded"
            );
            let history = History {
                store: Some(store),
                loaded,
            };
            (Some(history), Some(writer))
        }
    };
    let (audit, writer) = match &audit_path {
        None => (AuditLog::disabled(), None),
        Some(path) => {
            let (log, writer) = AuditLog::open(path)
                .with_context(|| format!("cannot open audit log {}", path.display()))?;
            (log, Some(writer))
        }
    };

    let mut stdout = std::io::stdout();
    let mut addr = None;
    if let Some(listener) = &plain {
        let local = listener
            .local_addr()
            .context("listening socket has no address")?;
        // Write errors are ignored: under --background the reader of this
        // pipe may be gone once it has the first line.
        let _ = writeln!(stdout, "tagarela-server listening on {local}");
        addr = Some(local);
    }
    if let Some((listener, tls)) = &tls {
        let local = listener
            .local_addr()
            .context("listening socket has no address")?;
        let _ = writeln!(
            stdout,
            "tagarela-server listening on {local} (TLS; certificate {})",
            tls.fingerprint()
        );
        tracing::info!(addr = %local, fingerprint = %tls.fingerprint(), "listening for TLS");
        addr = addr.or(Some(local));
    }
    for (listener, what) in [
        (&irc, "IRC"),
        (&irc_tls, "IRC over TLS"),
        (&web, "web"),
        (&web_tls, "web over TLS"),
    ] {
        if let Some(listener) = listener {
            let local = listener
                .local_addr()
                .context("listening socket has no address")?;
            let _ = writeln!(stdout, "tagarela-server listening on {local} ({what})");
            tracing::info!(addr = %local, "listening for {what}");
        }
    }
    let _ = stdout.flush();
    let addr = addr.map(|a| a.to_string()).unwrap_or_default();
    let private = if config.log_private_text {
        "private message text IS recorded (--log-private-text)"
    } else {
        "private message text is not recorded"
    };
    match &audit_path {
        Some(path) => tracing::info!(%addr, audit_log = %path.display(), "listening; {private}"),
        None => tracing::info!(%addr, "listening; audit log off; {private}"),
    }

    let listeners = Listeners {
        plain,
        tls,
        metrics,
        irc,
        irc_tls,
        web,
        web_tls,
    };
    let mut settings = config.settings();
    settings.access = access;
    settings.operators = operators(&config)?;
    if settings.access.is_some() {
        tracing::info!(
            plaintext_from_other_machines = config.allow_plaintext_password,
            "the room has a password"
        );
    }
    let stores = Stores { audit, history };
    tagarela_server::serve(listeners, settings, stores, shutdown_signal()).await;
    if let Some(writer) = writer {
        writer.finish();
    }
    if let Some(writer) = history_writer {
        writer.finish();
    }
    tracing::info!("stopped");
    Ok(())
}

/// `--background` and `--stop`: manage a server for a person at a
/// terminal; see `tagarela_server::background`.
fn background(config: &Config) -> anyhow::Result<()> {
    let state = state_dir::ensure().context("no state directory for the server's files")?;
    let files = background::Files::new(&state, &config.listen, config.port);
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let stop_hint = format!("{} --stop", exe.display());
    let what = format!("{}:{}", config.listen, config.port);
    if config.stop {
        let stopped = background::stop(&files, &what)?;
        println!(
            "tagarela-server (pid {}) on {} stopped.",
            stopped.pid, stopped.addr
        );
        return Ok(());
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os()
        .skip(1)
        .filter(|a| a != "--background")
        .collect();
    match background::start(&exe, &args, &files)? {
        background::Started::New { pid, addr } => println!(
            "tagarela-server (pid {pid}) is listening on {addr} in the background.\n  log: {}\n  stop it with: {stop_hint}",
            files.log.display()
        ),
        background::Started::AlreadyRunning { pid, addr } => println!(
            "tagarela-server (pid {pid}, this build) is already listening on {addr}; using it.\n  log: {}\n  stop it with: {stop_hint}",
            files.log.display()
        ),
    }
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The server's operators, from --operators-file (spec §20.6).
fn operators(config: &Config) -> anyhow::Result<Option<Arc<Operators>>> {
    let Some(path) = &config.operators_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --operators-file {}", path.display()))?;
    let operators = Operators::parse(text.strip_prefix('\u{feff}').unwrap_or(&text))
        .with_context(|| format!("--operators-file {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                file = %path.display(),
                "the operators file can be read by other users: chmod 600 it"
            );
        }
    }
    Ok(Some(Arc::new(operators)))
}

/// The room's password: the first line of --password-file, or the
/// TAGARELA_PASSWORD variable; never a flag (command lines are public).
fn room_password(config: &Config) -> anyhow::Result<Option<String>> {
    let password = match &config.password_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --password-file {}", path.display()))?;
            // An editor's byte-order mark is not part of anything typed.
            let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
            Some(text.lines().next().unwrap_or("").to_owned())
        }
        None => std::env::var("TAGARELA_PASSWORD").ok(),
    };
    match password {
        Some(p) if p.trim().is_empty() => anyhow::bail!("the room password is empty"),
        // A client can only send `/password` + safe characters on one line
        // (spec §4.7, §2.4): refuse one nobody could type.
        Some(p) if p.len() > 1000 || p.chars().any(char::is_control) => {
            anyhow::bail!(
                "the room password must be one line of at most 1000 octets with no control characters"
            )
        }
        Some(p) => {
            // Octets are compared as they are (spec §4.7): say what a
            // person may not type the same way.
            if p.trim() != p {
                tracing::warn!(
                    "the room password begins or ends with white space, which people may not type"
                );
            }
            if !unicode_normalization::is_nfc(&p) {
                tracing::warn!(
                    "the room password is not in Unicode NFC: some keyboards type its letters as other octets"
                );
            }
            Ok(Some(p))
        }
        None => Ok(None),
    }
}

/// Reloads the certificate and key on SIGHUP (open connections keep
/// theirs); a reload that fails keeps the old pair and says why.
fn watch_reload(tls: Arc<tls::Tls>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::error!("cannot watch SIGHUP: certificates will not be reloaded");
            return;
        };
        while hup.recv().await.is_some() {
            match tls.reload() {
                Ok(fingerprint) => tracing::info!(%fingerprint, "reloaded the TLS certificate"),
                Err(e) => {
                    tracing::error!(error = %e, "TLS reload failed; keeping the old certificate")
                }
            }
        }
    });
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot watch SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
