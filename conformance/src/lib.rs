//! Conformance harness for the real server and client binaries. Scenarios
//! arrive with the conformance issue; this crate exists so the layout is whole.
