//! A real IRC client library for the IRC scenarios (spec §20): Python's
//! `irc` package (PyPI `irc`), driven by `conformance/irc-library/peer.py`.
//! Never a stand-in: where no Python has the package, the scenarios that
//! spawn it are skipped (or fail, with [`REQUIRE_IRC_LIBRARY`] set).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::binaries::workspace_root;

/// Set (to anything but `0`) to make a missing library a failure rather
/// than a reason to skip: `.ci/run` sets it, after installing it.
pub const REQUIRE_IRC_LIBRARY: &str = "TAGARELA_REQUIRE_IRC_LIBRARY";

/// The Python to use, if set; otherwise `python3` on the `PATH`.
pub const PYTHON: &str = "TAGARELA_IRC_PYTHON";

/// The program that turns the library's calls and events into lines.
pub fn peer_script() -> PathBuf {
    workspace_root().join("conformance/irc-library/peer.py")
}

/// A Python that can `import irc.client`, if there is one. A relative
/// [`PYTHON`] path is taken from the workspace root.
pub fn find() -> Option<PathBuf> {
    let python = match std::env::var_os(PYTHON).map(PathBuf::from) {
        Some(p) if p.components().count() > 1 && p.is_relative() => workspace_root().join(p),
        Some(p) => p,
        None => PathBuf::from("python3"),
    };
    let works = Command::new(&python)
        .args(["-c", "import irc.client"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    works.then_some(python)
}

/// Whether a missing library must fail the run.
pub fn required() -> bool {
    std::env::var(REQUIRE_IRC_LIBRARY).is_ok_and(|v| !v.is_empty() && v != "0")
}
