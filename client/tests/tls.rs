//! The `tagarela` binary over real TLS (spec §15) against an in-process
//! server with certificates these tests make (rcgen): chat over TLS; trust
//! on first use by fingerprint, remembered, and a changed certificate
//! refused; a certificate from a private authority verified with
//! `--tls-ca`, and refused for the wrong host name.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test harness

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tagarela_server::Settings;
use tagarela_server::testing::TestServer;
use tagarela_server::tls::{Tls, TlsFiles, self_signed};
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(15);

fn temp_dir(what: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("tagarela-client-tls-{}-{what}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the client in scripted mode with `stdin`, its own state directory
/// (so its own known-servers file) and `args`; returns status and stdout.
async fn run_client(state: &Path, port: u16, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tagarela"))
        .args(["--host", "localhost", "--port", &port.to_string(), "--tls"])
        .args(args)
        .env("XDG_STATE_HOME", state)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncWriteExt;
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("the client exits in time")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn tls_server(files: TlsFiles) -> (TestServer, Arc<Tls>) {
    let tls = Arc::new(Tls::load(files).unwrap());
    let server = TestServer::start_tls(Settings::default(), Arc::clone(&tls))
        .await
        .unwrap();
    (server, tls)
}

#[tokio::test]
async fn trust_on_first_use_is_remembered_and_a_changed_certificate_refused() {
    let dir = temp_dir("tofu");
    let (files, _) = self_signed(&dir, &[]).unwrap();
    let (server, tls) = tls_server(files).await;
    let state = dir.join("state");
    let port = server.port();

    // Unknown, and no terminal to ask: refused, with the fingerprint shown.
    let (code, out, err) = run_client(&state, port, &["--name", "ana"], "hi\n").await;
    assert_eq!(code, 5, "{out}{err}");
    assert!(err.contains(&tls.fingerprint()), "{err}");
    assert!(!out.contains("WELCOME"), "{out}");

    // The wrong fingerprint given: refused.
    let wrong = format!("SHA256:{}", ["AB"; 32].join(":"));
    let (code, _, err) = run_client(
        &state,
        port,
        &["--name", "ana", "--fingerprint", &wrong],
        "hi\n",
    )
    .await;
    assert_eq!(code, 5, "{err}");

    // The right one: chat over TLS, and it is remembered.
    let fp = tls.fingerprint();
    let (code, out, err) = run_client(
        &state,
        port,
        &["--name", "ana", "--fingerprint", &fp],
        "/who\n",
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("WELCOME ana ") && out.contains("WHO ana"),
        "{out}"
    );
    let (code, out, _) = run_client(&state, port, &["--name", "bia"], "/who\n").await;
    assert_eq!(code, 0, "remembered: {out}");

    // The server's certificate replaced: refused loudly.
    std::fs::remove_file(dir.join("tls-cert.pem")).unwrap();
    std::fs::remove_file(dir.join("tls-key.pem")).unwrap();
    self_signed(&dir, &[]).unwrap();
    tls.reload().unwrap();
    let (code, out, err) = run_client(&state, port, &["--name", "ana"], "hi\n").await;
    assert_eq!(code, 5, "{out}{err}");
    assert!(err.contains("HAS CHANGED"), "{err}");
    assert!(server.shutdown().await);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A private authority and a server certificate it signed for `names`.
fn private_authority(dir: &Path, names: &[&str]) -> (PathBuf, TlsFiles) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Tagarela test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let cert = rcgen::CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, ca_cert.pem()).unwrap();
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&files.cert, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    (ca, files)
}

/// Runs the client with `--tls-ca` against a server whose certificate a
/// fresh private authority signed for `names`; returns what
/// [`run_client`] does.
async fn with_private_authority(dir: &Path, names: &[&str]) -> (i32, String, String) {
    std::fs::create_dir_all(dir).unwrap();
    let (ca, files) = private_authority(dir, names);
    let (server, _) = tls_server(files).await;
    let ca_arg = ca.to_string_lossy().into_owned();
    let args = ["--name", "ana", "--tls-ca", &ca_arg];
    let result = run_client(&dir.join("state"), server.port(), &args, "hi\n").await;
    assert!(server.shutdown().await);
    result
}

#[tokio::test]
async fn a_private_authority_is_verified_and_the_host_name_checked() {
    let dir = temp_dir("ca");
    let (code, out, err) = with_private_authority(&dir.join("right"), &["localhost"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("WELCOME ana "), "{out}");

    // Signed by the named authority, but for another host: refused.
    let (code, out, err) = with_private_authority(&dir.join("other"), &["chat.example.org"]).await;
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.to_lowercase().contains("not valid for name") || err.contains("NotValidForName"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
