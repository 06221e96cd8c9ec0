//! The differential fuzzer in CI: `FUZZ_SEQUENCES` (default 200) random sequences of
//! `FUZZ_LEN` (default 30) operations, seeds from `FUZZ_FIRST_SEED` (default 1), run on
//! Apache ZooKeeper 3.8 (the reference, where installed; CI requires it), herd and the
//! simulator. Any divergence prints its seed and a minimal sequence and fails the test.
//! Replay one seed: `FUZZ_FIRST_SEED=N FUZZ_SEQUENCES=1 cargo test -p conformance --test fuzz`.

use std::time::Instant;

use conformance::suite::fuzz::Fuzzer;
use conformance::suite::matrix::{self, Spec};
use conformance::suite::target::Target;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn herd_and_the_simulator_answer_random_sequences_as_zookeeper_does() {
    let sequences = env_u64("FUZZ_SEQUENCES", 200);
    let first = env_u64("FUZZ_FIRST_SEED", 1);
    let len = env_u64("FUZZ_LEN", 30) as usize;
    // The standalone targets of the suite, the reference first.
    let specs: Vec<Spec> = matrix::targets_from_env()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter(|s| matches!(s, Spec::Zookeeper | Spec::Herd | Spec::Sim))
        .collect();
    assert!(specs.len() >= 2, "the fuzzer needs two targets to compare, got {specs:?}");
    let mut started: Vec<Box<dyn Target>> =
        specs.iter().map(|s| s.start().unwrap_or_else(|e| panic!("{}: {e}", s.name()))).collect();
    let names: Vec<&str> = specs.iter().map(|s| s.name()).collect();
    let mut fuzzer = Fuzzer::new(started.iter_mut().map(|t| &mut **t as &mut dyn Target).collect());
    let start = Instant::now();
    let mut divergences = Vec::new();
    for seed in first..first + sequences {
        match fuzzer.fuzz(seed, len) {
            Ok(None) => {}
            Ok(Some(d)) => {
                println!("{d}");
                println!("replay: FUZZ_FIRST_SEED={seed} FUZZ_SEQUENCES=1 cargo test -p conformance --test fuzz");
                divergences.push(seed);
                if divergences.len() >= 3 {
                    break;
                }
            }
            Err(e) => panic!("seed {seed}: {e}"),
        }
    }
    println!(
        "differential fuzzer: {sequences} sequences of {len} operations (seeds {first}..{}) on {} in {:.1} s; {} diverged",
        first + sequences - 1,
        names.join(", "),
        start.elapsed().as_secs_f64(),
        divergences.len()
    );
    assert!(divergences.is_empty(), "seeds {divergences:?} diverge (minimal sequences above)");
}
