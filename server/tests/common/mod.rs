//! What the binary-driving tests share: the path of the real server binary
//! and fresh temporary directories. Test code only.

#![allow(clippy::unwrap_used, dead_code)] // test harness

use std::path::PathBuf;

/// The `tagarela-server` binary cargo built for these tests.
pub const SERVER: &str = env!("CARGO_BIN_EXE_tagarela-server");

/// An empty directory of its own for one test (`what` tells tests apart).
pub fn temp_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tagarela-test-{}-{what}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
