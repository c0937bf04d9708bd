//! Integration tests of `abacus-serve` (one test binary): the HTTP contract, reload under
//! load, exposures while Kafka is down, and property tests of the request decoder. The tests
//! that run the `abacus serve` binary with real OpenFeature clients and the exposure pipeline
//! end to end are in cli/tests/serve_*.rs.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod api;
mod decoder;
mod registry;
mod reload;
mod support;
