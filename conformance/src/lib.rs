//! Conformance harness: runs scripted multi-client scenarios
//! (`conformance/scenarios/*.scn`) against the real `tagarela-server` and
//! `tagarela` binaries over loopback, and reports per scenario.
//!
//! - `binaries`: builds and finds the two binaries.
//! - `script`: the scenario language (see `scenarios/README.md`).
//! - `pattern`: matching received lines, ignoring what the spec says
//!   programs must not match (human text, exact timestamps).
//! - `peer`: raw TCP clients and client-binary processes.
//! - `irc_library`: the IRC client library the IRC scenarios drive.
//! - `runner`: executes one scenario, keeping a wire log.
//! - `report`: the table and the JSON report.
#![forbid(unsafe_code)]

pub mod binaries;
pub mod irc_library;
pub mod pattern;
pub mod peer;
pub mod redis;
pub mod report;
pub mod runner;
pub mod script;
