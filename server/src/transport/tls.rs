//! TLS for the server (spec §15): the certificate and key from PEM files,
//! a self-signed pair generated on first start when the operator gives
//! none (so a small group needs no setup; clients trust it on first use by
//! its fingerprint), the acceptor's configuration (TLS 1.2 and 1.3 only,
//! rustls's defaults), and reloading the files on SIGHUP without touching
//! the connections already open. Never reads or writes chat lines.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file could not be read or holds no certificate.
    #[error("cannot read the certificate {path}: {why}")]
    Cert { path: PathBuf, why: String },
    /// The key file could not be read or holds no private key.
    #[error("cannot read the private key {path}: {why}")]
    Key { path: PathBuf, why: String },
    /// The key does not go with the certificate, or rustls refused them.
    #[error("the certificate and key cannot be used: {0}")]
    Config(String),
    /// A self-signed pair could not be made or written.
    #[error("cannot create a self-signed certificate in {dir}: {why}")]
    Generate { dir: PathBuf, why: String },
}

/// Where the certificate chain and its key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, PEM, end-entity first.
    pub cert: PathBuf,
    /// The private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The server's TLS state: the current configuration, replaced whole on
/// reload, so a handshake always sees one consistent certificate and key.
#[derive(Debug)]
pub struct Tls {
    /// Where to read them again on reload.
    files: TlsFiles,
    /// The configuration new handshakes use.
    config: RwLock<Arc<ServerConfig>>,
    /// SHA-256 of the current end-entity certificate, for people.
    fingerprint: RwLock<String>,
}

impl Tls {
    /// Loads `files`.
    pub fn load(files: TlsFiles) -> Result<Tls, TlsError> {
        let (config, fingerprint) = configure(&files)?;
        Ok(Tls {
            files,
            config: RwLock::new(Arc::new(config)),
            fingerprint: RwLock::new(fingerprint),
        })
    }

    /// Reads the files again; on success new handshakes use them (open
    /// connections keep theirs). On failure nothing changes.
    pub fn reload(&self) -> Result<String, TlsError> {
        let (config, fingerprint) = configure(&self.files)?;
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
        *self
            .fingerprint
            .write()
            .unwrap_or_else(PoisonError::into_inner) = fingerprint.clone();
        Ok(fingerprint)
    }

    /// The configuration a handshake starting now uses.
    pub fn config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The current certificate's fingerprint, `SHA256:` and hex pairs.
    pub fn fingerprint(&self) -> String {
        self.fingerprint
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// `SHA256:` followed by the SHA-256 of `der` as colon-separated hex
/// pairs: how certificates are shown to people and pinned by clients.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    format!("SHA256:{}", hex.join(":"))
}

fn configure(files: &TlsFiles) -> Result<(ServerConfig, String), TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| TlsError::Cert {
            path: files.cert.clone(),
            why: e.to_string(),
        })?;
    let first = chain.first().ok_or_else(|| TlsError::Cert {
        path: files.cert.clone(),
        why: "no certificate in the file".into(),
    })?;
    let fingerprint = fingerprint(first);
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::Key {
        path: files.key.clone(),
        why: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok((config, fingerprint))
}

/// The self-signed pair in `dir` (`tls-cert.pem`, `tls-key.pem`),
/// generated on first use for `names` (host names or IP addresses the
/// server is reached by; `localhost` and 127.0.0.1 are always added) and
/// kept, so its fingerprint stays the same across restarts. The key file
/// is owner-only.
pub fn self_signed(dir: &Path, names: &[String]) -> Result<(TlsFiles, bool), TlsError> {
    let files = TlsFiles {
        cert: dir.join("tls-cert.pem"),
        key: dir.join("tls-key.pem"),
    };
    if files.cert.exists() && files.key.exists() {
        return Ok((files, false));
    }
    // Half a pair (a crash between the two writes) is no pair: start over.
    let _ = std::fs::remove_file(&files.cert);
    let _ = std::fs::remove_file(&files.key);
    let failed = |why: String| TlsError::Generate {
        dir: dir.to_owned(),
        why,
    };
    let mut all: Vec<String> = names.to_vec();
    for default in ["localhost", "127.0.0.1", "::1"] {
        if !all.iter().any(|n| n == default) {
            all.push(default.to_owned());
        }
    }
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(all).map_err(|e| failed(e.to_string()))?;
    write_owner_only(&files.key, signing_key.serialize_pem().as_bytes())
        .map_err(|e| failed(e.to_string()))?;
    write_owner_only(&files.cert, cert.pem().as_bytes()).map_err(|e| failed(e.to_string()))?;
    Ok((files, true))
}

fn write_owner_only(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(what: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tagarela-tls-{}-{what}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|_| unreachable!());
        dir
    }

    #[test]
    fn a_self_signed_pair_is_made_once_kept_owner_only_and_loads() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("self-signed");
        let (files, made) =
            self_signed(&dir, &["chat.example.org".into()]).unwrap_or_else(|e| panic!("{e}"));
        assert!(made);
        let mode = std::fs::metadata(&files.key).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        let tls = Tls::load(files.clone()).unwrap_or_else(|e| panic!("{e}"));
        let first = tls.fingerprint();
        assert!(
            first.starts_with("SHA256:") && first.len() == 7 + 32 * 3 - 1,
            "{first}"
        );
        // Second start: the same pair, the same fingerprint.
        let (again, made) = self_signed(&dir, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(!made);
        assert_eq!(again, files);
        assert_eq!(tls.reload().ok(), Some(first));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_reload_that_fails_keeps_the_old_certificate() {
        let dir = temp_dir("reload");
        let (files, _) = self_signed(&dir, &[]).unwrap_or_else(|e| panic!("{e}"));
        let tls = Tls::load(files.clone()).unwrap_or_else(|e| panic!("{e}"));
        let before = tls.fingerprint();
        std::fs::write(&files.cert, "not a certificate").unwrap_or_else(|_| unreachable!());
        assert!(matches!(tls.reload(), Err(TlsError::Cert { .. })));
        assert_eq!(tls.fingerprint(), before);
        // A new pair on disk is picked up by the next reload.
        std::fs::remove_file(&files.cert).unwrap_or_else(|_| unreachable!());
        std::fs::remove_file(&files.key).unwrap_or_else(|_| unreachable!());
        self_signed(&dir, &[]).unwrap_or_else(|e| panic!("{e}"));
        let after = tls.reload().unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(after, before);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
