//! The `tagarela-server` binary: flags, logging, the listening socket,
//! signals. Prints the bound address on stdout (one line) so scripts and
//! tests can find it; logs go to stderr. Protocol work is in the library.

use std::io::{IsTerminal, Write};

use anyhow::Context as _;
use clap::Parser;
use tagarela_server::{AuditLog, Config, LogFormat};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// jemalloc, with a background thread that hands freed pages back to the
/// system about a second after they fall idle (its build-time settings are
/// in `.cargo/config.toml`). Under glibc's malloc the memory of a burst
/// (such as the join announcements when thousands of clients arrive at
/// once) stays resident long after it was freed; see BENCHMARKS.md.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    init_logging(config.log_format);

    let listener = TcpListener::bind((config.listen, config.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", config.listen, config.port))?;
    let addr = listener
        .local_addr()
        .context("listening socket has no address")?;

    let (audit, writer) = if config.no_audit_log {
        (AuditLog::disabled(), None)
    } else {
        let (log, writer) = AuditLog::open(&config.audit_log)
            .with_context(|| format!("cannot open audit log {}", config.audit_log.display()))?;
        (log, Some(writer))
    };

    let mut stdout = std::io::stdout();
    writeln!(stdout, "tagarela-server listening on {addr}")?;
    stdout.flush()?;
    tracing::info!(%addr, audit_log = ?(!config.no_audit_log).then_some(&config.audit_log), "listening");

    tagarela_server::run(listener, config.settings(), audit, shutdown_signal()).await;
    if let Some(writer) = writer {
        writer.finish();
    }
    tracing::info!("stopped");
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
