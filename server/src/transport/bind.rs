//! The listening socket: resolving `--listen` (an IP address or a host
//! name) and binding it with the configured listen backlog, which tokio's
//! own `bind` does not let us choose. Never accepts connections.

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;

/// Why the server could not listen.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The host name did not resolve.
    #[error("cannot resolve --listen {host}: {source}")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
    /// The name resolved to no address.
    #[error("--listen {0} resolves to no address")]
    NoAddress(String),
    /// No resolved address could be bound (the last error is kept).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Binds `host:port` (an IP address, or a name whose first address that
/// binds wins) with a listen backlog of `backlog`.
pub async fn listen(host: &str, port: u16, backlog: u32) -> Result<TcpListener, BindError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| BindError::Resolve {
            host: host.to_owned(),
            source,
        })?
        .collect();
    let mut last = BindError::NoAddress(host.to_owned());
    for addr in addrs {
        match bind(addr, backlog) {
            Ok(listener) => return Ok(listener),
            Err(source) => last = BindError::Bind { addr, source },
        }
    }
    Err(last)
}

/// Binds one address with a listen backlog of `backlog` (the kernel caps
/// it at `net.core.somaxconn`).
pub fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // `::` is IPv6 only, so another server may take 0.0.0.0 on the
        // same port, as with most systems' defaults.
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    TcpListener::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The backlog of a listening socket, as `ss` reports it (Send-Q of a
    /// LISTEN socket is its backlog).
    fn backlog_of(port: u16) -> u32 {
        let out = std::process::Command::new("ss")
            .args(["-ltnH", &format!("sport = :{port}")])
            .output()
            .expect("ss (iproute2) is needed for this test");
        let text = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<&str> = text.split_whitespace().collect();
        fields[2].parse().expect("Send-Q column")
    }

    /// Issue 11 item 6: the backlog is the one asked for (up to the
    /// kernel's cap), not the runtime's fixed default.
    #[tokio::test]
    async fn the_listen_backlog_is_the_configured_one() {
        let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(4096);
        for asked in [16, 4096] {
            let listener = listen("127.0.0.1", 0, asked).await.unwrap();
            let port = listener.local_addr().unwrap().port();
            assert_eq!(backlog_of(port), asked.min(somaxconn));
        }
    }

    /// Issue 11 item 18: host names are accepted, not only IP literals.
    #[tokio::test]
    async fn a_host_name_is_resolved() {
        let listener = listen("localhost", 0, 16).await.unwrap();
        assert!(listener.local_addr().unwrap().ip().is_loopback());
    }
}
