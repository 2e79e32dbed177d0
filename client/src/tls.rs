//! How the client decides to trust a TLS server (spec §15). A certificate
//! that chains to a trusted authority (the system's, or `--tls-ca`) and
//! names the host is trusted as on the web. One that chains to no known
//! authority (a small group's self-signed certificate) is trusted on first
//! use, like SSH: the person compares its fingerprint with the one the
//! server's operator gives them (or passes `--fingerprint`), and the client
//! remembers it in a known-servers file; a different certificate later is
//! refused loudly. There is no flag that turns verification off. This file
//! decides and remembers; it never prompts (the caller does) and never
//! reads chat lines.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// `SHA256:` and the SHA-256 of `der` as colon-separated hex pairs, as the
/// server prints it.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    format!("SHA256:{}", hex.join(":"))
}

/// Normalises a fingerprint a person typed: case, and with or without the
/// `SHA256:` prefix and the colons.
pub fn normalise_fingerprint(typed: &str) -> Option<String> {
    let hex: String = typed
        .trim()
        .trim_start_matches("SHA256:")
        .trim_start_matches("sha256:")
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_uppercase();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let pairs: Vec<&str> = (0..32).map(|i| &hex[2 * i..2 * i + 2]).collect();
    Some(format!("SHA256:{}", pairs.join(":")))
}

/// What the known-servers file says of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    /// Its certificate was signed by a trusted authority last time.
    Authority,
    /// Its certificate is pinned by fingerprint.
    Pinned(String),
}

/// The known-servers file: one line per server, `host:port SHA256:...` or
/// `host:port ca`; owner-only.
#[derive(Debug, Clone)]
pub struct KnownServers {
    /// Where it is.
    pub path: PathBuf,
}

impl KnownServers {
    /// What the file says of `server` (`host:port`), if anything.
    pub fn lookup(&self, server: &str) -> Option<Known> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        text.lines().rev().find_map(|line| {
            let (who, what) = line.trim().split_once(' ')?;
            (who == server).then(|| match what.trim() {
                "ca" => Known::Authority,
                fp => Known::Pinned(fp.to_owned()),
            })
        })
    }

    /// Remembers `known` for `server`.
    pub fn remember(&self, server: &str, known: &Known) -> std::io::Result<()> {
        use std::io::Write;
        if let Some(dir) = self.path.parent() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)?;
        let what = match known {
            Known::Authority => "ca".to_owned(),
            Known::Pinned(fp) => fp.clone(),
        };
        writeln!(file, "{server} {what}")
    }
}

/// Why a handshake was refused, or how it was trusted: read after the
/// handshake by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Signed by a trusted authority for this host.
    Authority,
    /// Pinned earlier, and the same.
    Pinned,
    /// Matched `--fingerprint`; to be remembered.
    Given(String),
    /// Unknown: no authority, not pinned, no `--fingerprint`. The person
    /// must compare this fingerprint and decide.
    Unknown(String),
    /// Refused: pinned with another fingerprint (or signed by an authority
    /// before, and not now).
    Changed { was: String, now: String },
    /// Refused: `--fingerprint` says otherwise.
    Mismatch { given: String, now: String },
}

/// The trust policy for one connection.
#[derive(Debug)]
pub struct Policy {
    /// `host:port`, the key in the known-servers file.
    pub server: String,
    /// The fingerprint given with `--fingerprint`, normalised.
    pub expected: Option<String>,
    /// The known-servers file.
    pub known: KnownServers,
    /// With `--tls-ca`: only that authority; no trust on first use.
    pub strict: bool,
    /// Verifies against the trust anchors (none when the system has none).
    authority: Option<Arc<WebPkiServerVerifier>>,
    /// The crypto provider, for signatures.
    provider: Arc<CryptoProvider>,
    /// What the last handshake decided.
    outcome: Mutex<Option<Trust>>,
}

/// Why the client TLS setup failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// `--tls-ca` could not be read.
    #[error("cannot read --tls-ca {path}: {why}")]
    Ca { path: PathBuf, why: String },
}

impl Policy {
    /// The policy for `server`, trusting `ca` (a PEM file) or, without it,
    /// the system's authorities.
    pub fn new(
        server: String,
        expected: Option<String>,
        known: KnownServers,
        ca: Option<&Path>,
    ) -> Result<Policy, TlsSetupError> {
        let mut roots = RootCertStore::empty();
        match ca {
            Some(path) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                    .and_then(|c| c.collect())
                    .map_err(|e| TlsSetupError::Ca {
                        path: path.to_owned(),
                        why: e.to_string(),
                    })?;
                for cert in certs {
                    let _ = roots.add(cert);
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        Ok(Policy::with_roots(
            server,
            expected,
            known,
            roots,
            ca.is_some(),
        ))
    }

    /// The policy with these trust anchors; `strict`: only them, no trust
    /// on first use.
    pub fn with_roots(
        server: String,
        expected: Option<String>,
        known: KnownServers,
        roots: RootCertStore,
        strict: bool,
    ) -> Policy {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let authority = if roots.is_empty() {
            None
        } else {
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .ok()
        };
        Policy {
            server,
            expected,
            known,
            strict,
            authority,
            provider,
            outcome: Mutex::new(None),
        }
    }

    /// Forgets what the last handshake decided (before a new one).
    pub fn reset(&self) {
        *self.outcome.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// What the last handshake decided.
    pub fn outcome(&self) -> Option<Trust> {
        self.outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn decide(&self, trust: Trust) -> Result<ServerCertVerified, rustls::Error> {
        let ok = matches!(trust, Trust::Authority | Trust::Pinned | Trust::Given(_));
        *self.outcome.lock().unwrap_or_else(PoisonError::into_inner) = Some(trust);
        if ok {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    /// A client configuration that uses this policy.
    pub fn config(self: &Arc<Self>) -> ClientConfig {
        let verifier: Arc<dyn ServerCertVerifier> = Arc::new(Verifier(Arc::clone(self)));
        let builder = ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12]);
        match builder {
            Ok(b) => b
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth(),
            // The ring provider supports both versions; this is not reached.
            Err(_) => ClientConfig::builder()
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth(),
        }
    }
}

/// Whether `error` says the certificate is out of date, and an authority
/// the policy trusts signed it for this name (so it was valid by
/// authority at the edge of its validity): such a certificate is refused,
/// never offered for trust on first use (spec §15.2).
fn signed_when_valid(
    policy: &Policy,
    error: &rustls::Error,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    server_name: &ServerName<'_>,
    ocsp: &[u8],
) -> bool {
    let then = match error {
        rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            not_after, ..
        }) => *not_after,
        rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext {
            not_before,
            ..
        }) => *not_before,
        _ => return false,
    };
    policy.authority.as_ref().is_some_and(|v| {
        match v.verify_server_cert(end_entity, intermediates, server_name, ocsp, then) {
            Ok(_) => true,
            // Signed by a known authority all the same, for another name
            // or since revoked: refused as such.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. }
                | CertificateError::Revoked,
            )) => true,
            Err(_) => false,
        }
    })
}

/// The policy as rustls sees it.
#[derive(Debug)]
struct Verifier(Arc<Policy>);

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let policy = &self.0;
        let now_fp = fingerprint(end_entity);
        if !policy.strict {
            // A pin is stronger than any authority: a pinned server, or one
            // given with --fingerprint, must present exactly that
            // certificate, even one an authority (say, an inspecting
            // proxy's) signed.
            match policy.known.lookup(&policy.server) {
                Some(Known::Pinned(was)) if was == now_fp => return policy.decide(Trust::Pinned),
                Some(Known::Pinned(was)) => {
                    return policy.decide(Trust::Changed { was, now: now_fp });
                }
                _ => {}
            }
            match &policy.expected {
                Some(given) if *given == now_fp => return policy.decide(Trust::Given(now_fp)),
                Some(given) => {
                    return policy.decide(Trust::Mismatch {
                        given: given.clone(),
                        now: now_fp,
                    });
                }
                None => {}
            }
        }
        let by_authority = match &policy.authority {
            Some(v) => v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now),
            None => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        };
        match by_authority {
            Ok(_) => policy.decide(Trust::Authority),
            Err(e) if policy.strict => Err(e),
            // Wrong host name, expired, revoked, for a certificate an
            // authority we know signed: refused as on the web, never
            // offered for trust on first use.
            Err(
                e @ rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. }
                    | CertificateError::Revoked,
                ),
            ) => Err(e),
            // Out of date: webpki checks the dates before the issuer, so
            // whether an authority we know signed it is asked again at a
            // time it was valid; if one did, it is refused as on the web.
            Err(e)
                if signed_when_valid(policy, &e, end_entity, intermediates, server_name, ocsp) =>
            {
                Err(e)
            }
            // Signed by no authority we know (unknown issuer, a self-signed
            // CA certificate used as the server's, or an out-of-date one
            // no authority we know signed): trust on first use.
            Err(_) => {
                let trust = match policy.known.lookup(&policy.server) {
                    Some(Known::Authority) => Trust::Changed {
                        was: "a certificate signed by a trusted authority".into(),
                        now: now_fp,
                    },
                    _ => Trust::Unknown(now_fp),
                };
                policy.decide(trust)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0
            .provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::ServerName;

    #[test]
    fn fingerprints_are_normalised_from_what_people_type() {
        let fp = fingerprint(b"x");
        assert_eq!(normalise_fingerprint(&fp), Some(fp.clone()));
        let bare: String = fp
            .trim_start_matches("SHA256:")
            .replace(':', "")
            .to_lowercase();
        assert_eq!(normalise_fingerprint(&bare), Some(fp));
        assert_eq!(normalise_fingerprint("SHA256:AB"), None);
    }

    #[test]
    fn the_known_servers_file_remembers_the_latest_word_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("tagarela-known-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let known = KnownServers {
            path: dir.join("sub/known_servers"),
        };
        assert_eq!(known.lookup("h:1"), None);
        known
            .remember("h:1", &Known::Pinned("SHA256:AA".into()))
            .ok();
        known.remember("g:2", &Known::Authority).ok();
        assert_eq!(known.lookup("h:1"), Some(Known::Pinned("SHA256:AA".into())));
        assert_eq!(known.lookup("g:2"), Some(Known::Authority));
        assert_eq!(known.lookup("h:2"), None);
        let mode = std::fs::metadata(&known.path).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A private authority and a certificate it signed for `name`.
    fn signed_for(name: &str) -> (RootCertStore, CertificateDer<'static>) {
        signed_for_during(name, None)
    }

    /// The same, valid only from January 1st of one year to that of another.
    fn signed_for_during(
        name: &str,
        validity: Option<(i32, i32)>,
    ) -> (RootCertStore, CertificateDer<'static>) {
        let ca_key = rcgen::KeyPair::generate().unwrap_or_else(|_| unreachable!());
        let mut params =
            rcgen::CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|_| unreachable!());
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params
            .self_signed(&ca_key)
            .unwrap_or_else(|_| unreachable!());
        let issuer = rcgen::Issuer::new(params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap_or_else(|_| unreachable!());
        let mut leaf =
            rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap_or_else(|_| unreachable!());
        if let Some((from, until)) = validity {
            leaf.not_before = rcgen::date_time_ymd(from, 1, 1);
            leaf.not_after = rcgen::date_time_ymd(until, 1, 1);
        }
        let leaf = leaf
            .signed_by(&key, &issuer)
            .unwrap_or_else(|_| unreachable!());
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.der().clone())
            .unwrap_or_else(|_| unreachable!());
        (roots, leaf.der().clone())
    }

    fn verify(policy: Policy, cert: &CertificateDer<'_>) -> (bool, Option<Trust>) {
        let policy = Arc::new(policy);
        let verifier = Verifier(Arc::clone(&policy));
        let name = ServerName::try_from("localhost").unwrap_or_else(|_| unreachable!());
        let ok = verifier
            .verify_server_cert(cert, &[], &name, &[], UnixTime::now())
            .is_ok();
        (ok, policy.outcome())
    }

    fn known(what: &str) -> KnownServers {
        let dir =
            std::env::temp_dir().join(format!("tagarela-verify-{}-{what}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        KnownServers {
            path: dir.join("known_servers"),
        }
    }

    /// Review finding: a certificate that a trusted authority signed (an
    /// inspecting proxy's, say) must not replace a pinned one silently.
    #[test]
    fn a_pin_beats_an_authority() {
        let (roots, cert) = signed_for("localhost");
        let pins = known("pin");
        pins.remember("localhost:7879", &Known::Pinned("SHA256:AA".into()))
            .unwrap_or_else(|_| unreachable!());
        let policy = Policy::with_roots("localhost:7879".into(), None, pins, roots.clone(), false);
        let (ok, trust) = verify(policy, &cert);
        assert!(!ok);
        assert!(matches!(trust, Some(Trust::Changed { .. })), "{trust:?}");
        // The same with --fingerprint naming another certificate.
        let other = Some("SHA256:BB".to_owned());
        let policy =
            Policy::with_roots("localhost:7879".into(), other, known("given"), roots, false);
        let (ok, trust) = verify(policy, &cert);
        assert!(!ok);
        assert!(matches!(trust, Some(Trust::Mismatch { .. })), "{trust:?}");
    }

    /// Review finding: a certificate a known authority signed for another
    /// name is refused outright, never offered for trust on first use.
    #[test]
    fn a_wrong_name_from_a_known_authority_is_refused_not_offered() {
        let (roots, cert) = signed_for("chat.example.org");
        let policy = Policy::with_roots("localhost:7879".into(), None, known("name"), roots, false);
        let (ok, trust) = verify(policy, &cert);
        assert!(!ok);
        assert_eq!(trust, None, "no trust-on-first-use decision was offered");
    }

    /// Issue 20 (spec §15.2): an expired (or not yet valid) certificate
    /// a known authority signed is refused, never offered for trust on
    /// first use; an expired self-signed one still is offered.
    #[test]
    fn an_out_of_date_certificate_from_a_known_authority_is_refused_not_offered() {
        let (past, future) = ((2020, 2021), (2090, 2091));
        for (what, validity) in [("expired", past), ("early", future)] {
            let (roots, cert) = signed_for_during("localhost", Some(validity));
            let policy =
                Policy::with_roots("localhost:7879".into(), None, known(what), roots, false);
            let (ok, trust) = verify(policy, &cert);
            assert!(!ok, "{what}");
            assert_eq!(
                trust, None,
                "{what}: no trust-on-first-use decision was offered"
            );
        }
        // Expired and for another name: refused as well (review finding).
        let (roots, cert) = signed_for_during("chat.example.org", Some(past));
        let policy = Policy::with_roots("localhost:7879".into(), None, known("both"), roots, false);
        assert_eq!(verify(policy, &cert), (false, None));
        let (_, stranger) = signed_for_during("localhost", Some(past));
        let (roots, _) = signed_for("localhost");
        let policy = Policy::with_roots("localhost:7879".into(), None, known("tofu"), roots, false);
        let (_, trust) = verify(policy, &stranger);
        assert!(matches!(trust, Some(Trust::Unknown(_))), "{trust:?}");
    }

    #[test]
    fn an_authority_signed_certificate_for_the_name_is_trusted() {
        let (roots, cert) = signed_for("localhost");
        let policy = Policy::with_roots("localhost:7879".into(), None, known("ok"), roots, false);
        assert_eq!(verify(policy, &cert), (true, Some(Trust::Authority)));
    }
}
