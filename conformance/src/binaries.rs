//! Builds the real binaries with the same cargo and profile as the test run
//! and returns their paths. Nothing else in the harness knows where they are.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Paths of the binaries under test.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub server: PathBuf,
    pub client: PathBuf,
}

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where cargo puts build output.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Builds `tagarela-server` and `tagarela` (a no-op when they are fresh).
pub fn build() -> Result<Binaries, String> {
    let release = !cfg!(debug_assertions);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "tagarela-server",
        "-p",
        "tagarela-client",
    ]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the binaries failed: {status}"));
    }
    let dir = target_dir().join(if release { "release" } else { "debug" });
    let bins = Binaries {
        server: dir.join("tagarela-server"),
        client: dir.join("tagarela"),
    };
    for bin in [&bins.server, &bins.client] {
        if !bin.exists() {
            return Err(format!("{} was not built", bin.display()));
        }
    }
    Ok(bins)
}
