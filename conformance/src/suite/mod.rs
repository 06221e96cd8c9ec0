//! One scenario suite for every target: scenarios are data (steps with expected results,
//! Stat relations and watch events), run by [`runner`] against any [`target::Target`] — the
//! in-process simulator, herd standalone and as a 3-member ensemble, and Apache ZooKeeper 3.8
//! standalone and as a 3-member ensemble, the reference every expectation is checked against.

pub mod catalog;
pub mod client;
pub mod fuzz;
pub mod matrix;
pub mod real;
pub mod runner;
pub mod scenario;
pub mod sim;
pub mod target;
pub mod wire;
