//! herd's conformance suite: one set of scenarios run against every target (the
//! deterministic simulator, herd over TCP, Apache ZooKeeper). The black-box client tests
//! live in `tests/` at the repository root for now and move here with the conformance issue.

pub mod ensemble_harness;
pub mod sim;
pub mod suite;
