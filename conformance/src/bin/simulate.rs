//! `simulate`: runs the deterministic simulator over many seeds: elections, or whole ZAB
//! ensembles with clients (`--zab`).
//!
//! `cargo run -p conformance --release --bin simulate -- [--zab] --seeds N [--seed S]
//! [--verbose] [--bug double-self-vote]`
//!
//! `--seeds N` runs N seeds from a random first seed (printed); `--seed S` replays one
//! seed, printing its swarm options (and every step with `--verbose`). Each failing seed
//! is printed as the one-line command that replays it; the last line gives seeds/s.

use std::process::ExitCode;
use std::time::{Instant as WallClock, SystemTime, UNIX_EPOCH};

use clap::Parser;
use conformance::sim::{election, zab, Bug, Marks, Report, Tracer};

#[derive(Parser, Debug)]
#[command(about = "herd's deterministic simulator")]
struct Args {
    /// How many seeds to run.
    #[arg(long, default_value_t = 1000)]
    seeds: u64,
    /// Run only this seed (a replay).
    #[arg(long)]
    seed: Option<u64>,
    /// First seed of a `--seeds` sweep (default: drawn from the clock).
    #[arg(long)]
    first: Option<u64>,
    /// Print every step of each run.
    #[arg(long)]
    verbose: bool,
    /// Inject a bug the checkers must catch (`double-self-vote`; elections only).
    #[arg(long)]
    bug: Option<String>,
    /// Simulate whole ZAB ensembles with clients instead of elections alone.
    #[arg(long)]
    zab: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let bug = match args.bug.as_deref().map(|b| (b, Bug::parse(b))) {
        None => None,
        Some((_, Some(b))) => Some(b),
        Some((name, None)) => {
            eprintln!("unknown bug {name:?}; known: {}", Bug::DoubleSelfVote.name());
            return ExitCode::FAILURE;
        }
    };
    if args.zab && bug.is_some() {
        eprintln!("--bug applies to elections; the ZAB faults are injected by unit tests");
        return ExitCode::FAILURE;
    }
    let (first, count) = match args.seed {
        Some(s) => (s, 1),
        None => {
            let clock = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
            (args.first.unwrap_or(clock), args.seeds)
        }
    };
    if args.seed.is_none() {
        println!("seeds {first}..{} ({count})", first.wrapping_add(count));
    }
    let started = WallClock::now();
    let mut failures = 0u64;
    let mut marks = Marks::default();
    let mut steps = 0u64;
    let mut slowest = 0u64;
    for i in 0..count {
        let seed = first.wrapping_add(i);
        let report = run_one(seed, bug, args.zab, args.verbose);
        if args.verbose || args.seed.is_some() {
            println!("seed {seed}: {}", report.swarm);
        }
        steps += report.steps;
        marks.merge(&report.marks);
        slowest = slowest.max(report.converged_after_ms.unwrap_or(0));
        match &report.result {
            Ok(()) => {
                if args.seed.is_some() {
                    println!(
                        "ok: {} steps, converged {}ms after faults stopped, digest {:016x}",
                        report.steps,
                        report.converged_after_ms.unwrap_or(0),
                        report.digest
                    );
                }
            }
            Err(f) => {
                failures += 1;
                let bug_flag = bug.map(|b| format!(" --bug {}", b.name())).unwrap_or_default();
                println!("FAIL seed {seed}: {f}");
                println!("  swarm: {}", report.swarm);
                if args.zab {
                    println!("  replay: {}", zab::replay_command(seed));
                } else {
                    println!(
                        "  replay: cargo run -p conformance --release --bin simulate -- --seed {seed}{bug_flag} --verbose"
                    );
                }
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    if args.verbose || args.seed.is_none() {
        for (name, n) in marks.iter() {
            println!("mark {name}: {n}");
        }
    }
    println!(
        "{count} seeds, {failures} failed, {steps} steps, slowest convergence {slowest}ms simulated, \
         {:.1}s, {:.0} seeds/s",
        secs,
        count as f64 / secs.max(1e-9)
    );
    if failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs one seed of the chosen simulation.
fn run_one(seed: u64, bug: Option<Bug>, zab: bool, verbose: bool) -> Report {
    let tracer = || -> Tracer { Box::new(|t, line| println!("{:>8}ms {line}", t.0)) };
    if zab {
        return zab::run(seed, verbose.then(tracer));
    }
    let mut sim = election::simulator(seed, bug);
    if verbose {
        sim.set_tracer(tracer());
    }
    sim.run()
}
