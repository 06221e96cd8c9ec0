//! The scenario suite on every target: the simulator and herd always, Apache ZooKeeper 3.8
//! standalone and as an ensemble where it is installed (CI installs it, and there a missing
//! ZooKeeper fails the run). Prints the `scenario × target` table; every cell must pass.
//!
//! `CONFORMANCE_TARGETS=zookeeper,herd` picks targets, `CONFORMANCE_FILTER=watch/` picks
//! scenarios by `area/name` substring.

use conformance::suite::{catalog, matrix};

#[test]
fn every_scenario_passes_on_every_target() {
    let targets = matrix::targets_from_env().unwrap_or_else(|e| panic!("{e}"));
    let filter = std::env::var("CONFORMANCE_FILTER").unwrap_or_default();
    let scenarios = catalog::all();
    let m = matrix::run(&targets, &scenarios, &filter);
    println!("\n{}", m.table());
    let failures = m.failures();
    for (scenario, target, why) in &failures {
        println!("FAIL {scenario} on {target}: {why}");
    }
    assert!(failures.is_empty(), "{} scenario × target cells failed (table above)", failures.len());
}
