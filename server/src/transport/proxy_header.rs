//! The PROXY protocol (HAProxy's, versions 1 and 2; nginx sends it too),
//! for a server behind a TCP load balancer: every client then reaches the
//! server from the balancer's address, so the per-address limit, the
//! password throttle and the plain-text password check (§4.7) would see
//! one client. A balancer the operator lists (`--proxy-protocol-from`)
//! begins each connection with a header naming the client's address,
//! which this reads and every later layer uses instead. Connections from
//! other addresses are never read for one: a header from anyone else is
//! just a line (and not a valid name).
//!
//! Transport layer: reads the header's own octets and nothing more (it
//! peeks, then consumes exactly the header), so the client's first bytes,
//! TLS or a name, are left for the layers above. Parsing is `ppp`'s.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use ppp::{HeaderResult, PartialResult, v1, v2};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// How long a listed balancer has to send its header.
pub const HEADER_WAIT: Duration = Duration::from_secs(5);

/// The longest header read: version 1's 107 octets, or version 2's 16 and
/// its addresses and TLVs (a balancer's are a few dozen octets).
const HEADER_MAX: usize = 16 + 1024;

/// How long to wait, at first, for the rest of a header that came in
/// pieces; each wait doubles, up to [`PIECE_WAIT_MAX`].
const PIECE_WAIT: Duration = Duration::from_millis(5);

/// The longest wait between two looks at a header in pieces.
const PIECE_WAIT_MAX: Duration = Duration::from_millis(250);

/// The balancers whose connections begin with a PROXY header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Balancers(Vec<IpNet>);

impl Balancers {
    /// Addresses and networks (`10.0.0.5`, `10.0.0.0/24`, `::1`).
    pub fn new(nets: Vec<IpNet>) -> Balancers {
        Balancers(nets)
    }

    /// Parses one entry: an address or a network in CIDR form (an
    /// IPv4-mapped IPv6 address is taken as the IPv4 one, as peers are).
    pub fn parse_entry(s: &str) -> Result<IpNet, String> {
        let s = s.trim();
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(IpNet::from(ip.to_canonical()));
        }
        match s.parse::<IpNet>() {
            Ok(IpNet::V6(net)) if net.addr().to_ipv4_mapped().is_some() => Err(format!(
                "`{s}`: write an IPv4-mapped network as IPv4 (a.b.c.d/len)"
            )),
            Ok(net) => Ok(net),
            Err(_) => Err(format!(
                "`{s}` is not an IP address or a network such as 10.0.0.0/24"
            )),
        }
    }

    /// Whether connections from `ip` begin with a PROXY header.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// Why a listed balancer's connection had no usable header.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    /// Nothing complete arrived within [`HEADER_WAIT`].
    #[error("no PROXY header within {HEADER_WAIT:?}")]
    Timeout,
    /// What arrived is not a PROXY header.
    #[error("not a PROXY header: {0}")]
    Malformed(String),
    /// Longer than any header this server takes.
    #[error("a PROXY header longer than {HEADER_MAX} octets")]
    TooLong,
    /// The connection closed first.
    #[error("closed before its PROXY header")]
    Closed,
    /// The socket failed.
    #[error("reading the PROXY header: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads the PROXY header a listed balancer at `balancer` begins `stream`
/// with, and returns the client's address: the header's source, or the
/// balancer's own for a `LOCAL` (v2) or `UNKNOWN` (v1) header (the
/// balancer's own health checks).
pub async fn read_client(
    stream: &mut TcpStream,
    balancer: SocketAddr,
) -> Result<SocketAddr, HeaderError> {
    tokio::time::timeout(HEADER_WAIT, read(stream, balancer))
        .await
        .map_err(|_| HeaderError::Timeout)?
}

async fn read(stream: &mut TcpStream, balancer: SocketAddr) -> Result<SocketAddr, HeaderError> {
    let mut buf = vec![0u8; HEADER_MAX];
    let mut wait = PIECE_WAIT;
    loop {
        let seen = stream.peek(&mut buf).await?;
        if seen == 0 {
            return Err(HeaderError::Closed);
        }
        match header(&buf[..seen], balancer)? {
            Some((len, client)) => {
                // Consumes exactly the header; the client's octets stay.
                stream.read_exact(&mut buf[..len]).await?;
                return Ok(client);
            }
            None if seen == HEADER_MAX => return Err(HeaderError::TooLong),
            // Balancers send the header in one piece; if this one did
            // not, the rest is waited for (a peek returns at once while
            // anything is unread).
            None => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(PIECE_WAIT_MAX);
            }
        }
    }
}

/// The header at the start of `input`, if complete: its length and the
/// client's address. `Ok(None)`: more octets may complete it.
pub fn header(
    input: &[u8],
    balancer: SocketAddr,
) -> Result<Option<(usize, SocketAddr)>, HeaderError> {
    let parsed = HeaderResult::parse(input);
    if parsed.is_incomplete() {
        return Ok(None);
    }
    let (len, source) = match parsed {
        HeaderResult::V1(Ok(h)) => {
            let source = match h.addresses {
                v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                v1::Addresses::Unknown => None,
            };
            (h.header.len(), source)
        }
        HeaderResult::V2(Ok(h)) => {
            let source = match (h.command, h.addresses) {
                (v2::Command::Local, _) => None,
                (v2::Command::Proxy, v2::Addresses::IPv4(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                (v2::Command::Proxy, v2::Addresses::IPv6(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                (v2::Command::Proxy, _) => {
                    return Err(HeaderError::Malformed(
                        "neither an IPv4 nor an IPv6 client".to_owned(),
                    ));
                }
            };
            (h.len(), source)
        }
        HeaderResult::V1(Err(e)) => return Err(HeaderError::Malformed(e.to_string())),
        HeaderResult::V2(Err(e)) => return Err(HeaderError::Malformed(e.to_string())),
    };
    // A client on a remote balancer's own machine (its loopback) is that
    // machine: judged by the balancer's address, never as this one's
    // loopback (§4.7: a password must not cross the network in clear).
    let client = match source.map(|s| SocketAddr::new(s.ip().to_canonical(), s.port())) {
        Some(s) if s.ip().is_loopback() && !balancer.ip().to_canonical().is_loopback() => balancer,
        Some(s) => s,
        None => balancer,
    };
    Ok(Some((len, client)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balancer() -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], 40000))
    }

    /// A header that must parse whole: its length and the client.
    fn complete(input: &[u8], balancer: SocketAddr) -> (usize, SocketAddr) {
        match header(input, balancer) {
            Ok(Some(parsed)) => parsed,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
        }
    }

    #[test]
    fn version_1_gives_the_client_and_its_length() {
        let input = b"PROXY TCP4 203.0.113.7 10.0.0.11 5555 7878\r\nana\n";
        let (len, client) = complete(input, balancer());
        assert_eq!(&input[len..], b"ana\n");
        assert_eq!(client, SocketAddr::from(([203, 0, 113, 7], 5555)));
        let six = b"PROXY TCP6 2001:db8::7 2001:db8::1 5555 7878\r\n";
        let (_, client) = complete(six, balancer());
        assert_eq!(
            client.ip(),
            "2001:db8::7"
                .parse::<IpAddr>()
                .unwrap_or(IpAddr::from([0; 4]))
        );
        let unknown = b"PROXY UNKNOWN\r\n";
        let (len, client) = complete(unknown, balancer());
        assert_eq!((len, client), (unknown.len(), balancer()));
    }

    #[test]
    fn version_2_gives_the_client_and_local_the_balancer() {
        let proxied = v2::Builder::with_addresses(
            v2::Version::Two | v2::Command::Proxy,
            v2::Protocol::Stream,
            (
                SocketAddr::from(([203, 0, 113, 9], 6000)),
                SocketAddr::from(([10, 0, 0, 11], 7878)),
            ),
        )
        .build()
        .unwrap_or_default();
        let mut input = proxied.clone();
        input.extend_from_slice(b"\x16\x03");
        let (len, client) = complete(&input, balancer());
        assert_eq!(
            (len, client),
            (proxied.len(), SocketAddr::from(([203, 0, 113, 9], 6000)))
        );
        let local = v2::Builder::with_addresses(
            v2::Version::Two | v2::Command::Local,
            v2::Protocol::Stream,
            v2::Addresses::Unspecified,
        )
        .build()
        .unwrap_or_default();
        let (_, client) = complete(&local, balancer());
        assert_eq!(client, balancer());
    }

    #[test]
    fn pieces_wait_and_anything_else_is_refused() {
        assert!(matches!(header(b"PROXY TCP4 203.0.", balancer()), Ok(None)));
        assert!(matches!(header(b"\r\n\r\n\0\r\n", balancer()), Ok(None)));
        for bad in [
            &b"ana\n"[..],
            b"PROXY TCP9 x y 1 2\r\n",
            b"GET / HTTP/1.1\r\n",
        ] {
            assert!(
                matches!(header(bad, balancer()), Err(HeaderError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    /// Review finding: a client on a remote balancer's loopback is not
    /// this machine's loopback (it would be let send a password in plain
    /// text across the network); on a local balancer it is.
    #[test]
    fn a_remote_balancers_own_loopback_is_the_balancer() {
        let input = b"PROXY TCP4 127.0.0.1 127.0.0.1 5555 7878\r\n";
        let (_, client) = complete(input, balancer());
        assert_eq!(client, balancer());
        let local = SocketAddr::from(([127, 0, 0, 1], 40000));
        let (_, client) = complete(input, local);
        assert_eq!(client, SocketAddr::from(([127, 0, 0, 1], 5555)));
    }

    #[test]
    fn balancers_are_addresses_or_networks() {
        let list: Vec<IpNet> = ["10.0.0.0/24", "::1", " 192.0.2.5"]
            .iter()
            .filter_map(|s| Balancers::parse_entry(s).ok())
            .collect();
        let b = Balancers::new(list);
        assert!(b.trusts("10.0.0.77".parse().unwrap_or(IpAddr::from([0; 4]))));
        assert!(b.trusts("::ffff:192.0.2.5".parse().unwrap_or(IpAddr::from([0; 4]))));
        assert!(b.trusts("::1".parse().unwrap_or(IpAddr::from([0; 4]))));
        assert!(!b.trusts("10.0.1.1".parse().unwrap_or(IpAddr::from([0; 4]))));
        assert!(Balancers::parse_entry("nope").is_err());
        let mapped = Balancers::new(vec![
            Balancers::parse_entry("::ffff:10.0.0.2").unwrap_or_else(|_| unreachable!()),
        ]);
        assert!(mapped.trusts("10.0.0.2".parse().unwrap_or(IpAddr::from([0; 4]))));
        assert!(Balancers::parse_entry("::ffff:10.0.0.0/120").is_err());
    }
}
