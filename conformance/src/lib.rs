//! herd's conformance suite: one set of scenarios run against every target (the
//! deterministic simulator, herd over TCP, Apache ZooKeeper) and the differential fuzzer
//! ([`suite`]); the deterministic simulator of elections and ZAB ensembles ([`sim`]); the
//! benchmark's ensemble harness. The real-client tests (kazoo, zkCli, the C client) stay in
//! `tests/` at the repository root.

pub mod ensemble_harness;
pub mod sim;
pub mod suite;
