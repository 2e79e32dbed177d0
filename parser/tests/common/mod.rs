//! Shared test support for the parser's integration tests.
#![allow(dead_code)]

pub mod vectors;
