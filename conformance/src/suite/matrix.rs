//! Every scenario on every target, as a `scenario × target` table.

use std::fmt::Write as _;
use std::time::Instant;

use super::real::{self, Kind, RealTarget};
use super::runner::{self, Outcome};
use super::scenario::Scenario;
use super::sim::SimTarget;
use super::target::{Target, TargetError};

/// The targets the suite knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spec {
    /// The core in process on simulated time.
    Sim,
    /// herd standalone over TCP.
    Herd,
    /// A 3-member herd ensemble over TCP.
    HerdEnsemble,
    /// Apache ZooKeeper 3.8 standalone.
    Zookeeper,
    /// A 3-member Apache ZooKeeper 3.8 ensemble.
    ZookeeperEnsemble,
}

impl Spec {
    /// Every target, the reference first: a scenario ZooKeeper fails is a wrong scenario.
    pub const ALL: [Spec; 5] = [Spec::Zookeeper, Spec::ZookeeperEnsemble, Spec::Sim, Spec::Herd, Spec::HerdEnsemble];

    /// The table's column name.
    pub fn name(self) -> &'static str {
        match self {
            Spec::Sim => "sim",
            Spec::Herd => "herd",
            Spec::HerdEnsemble => "herd×3",
            Spec::Zookeeper => "zookeeper",
            Spec::ZookeeperEnsemble => "zookeeper×3",
        }
    }

    /// Parses a column name (`herdx3` is accepted for `herd×3`).
    pub fn parse(s: &str) -> Option<Spec> {
        let s = s.trim().replace('x', "×");
        Spec::ALL.into_iter().chain([Spec::Sim]).find(|t| t.name() == s)
    }

    /// Whether it is Apache ZooKeeper (run only where it is installed).
    pub fn is_zookeeper(self) -> bool {
        matches!(self, Spec::Zookeeper | Spec::ZookeeperEnsemble)
    }

    /// Starts it.
    pub fn start(self) -> Result<Box<dyn Target>, TargetError> {
        Ok(match self {
            Spec::Sim => Box::new(SimTarget::new()?),
            Spec::Herd => Box::new(RealTarget::start(Kind::Herd, 1)?),
            Spec::HerdEnsemble => Box::new(RealTarget::start(Kind::Herd, 3)?),
            Spec::Zookeeper => Box::new(RealTarget::start(Kind::Zookeeper, 1)?),
            Spec::ZookeeperEnsemble => Box::new(RealTarget::start(Kind::Zookeeper, 3)?),
        })
    }
}

/// The targets to run: `$CONFORMANCE_TARGETS` (comma-separated names) if set, else every
/// target — the ZooKeeper ones only where ZooKeeper is installed, unless `$CI` is set, where
/// a missing ZooKeeper is an error rather than a skip.
pub fn targets_from_env() -> Result<Vec<Spec>, String> {
    if let Ok(list) = std::env::var("CONFORMANCE_TARGETS") {
        return list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| Spec::parse(s).ok_or(format!("unknown target {s}")))
            .collect();
    }
    let zk = real::zookeeper_installed();
    if !zk && std::env::var_os("CI").is_some() {
        return Err(format!("ZooKeeper 3.8 is not installed ({}); run scripts/install-test-deps.sh", real::ZK_JAR));
    }
    Ok(Spec::ALL.into_iter().filter(|s| zk || !s.is_zookeeper()).collect())
}

/// The results: one row per scenario, one column per target.
pub struct Matrix {
    /// Column names.
    pub targets: Vec<&'static str>,
    /// (area, scenario name, one outcome per target).
    pub rows: Vec<(&'static str, &'static str, Vec<Outcome>)>,
    /// Seconds each target took.
    pub seconds: Vec<f64>,
}

impl Matrix {
    /// Cells that failed: (scenario, target, why).
    pub fn failures(&self) -> Vec<(String, &'static str, String)> {
        let mut out = Vec::new();
        for (area, name, cells) in &self.rows {
            for (t, cell) in self.targets.iter().zip(cells) {
                if let Outcome::Fail(why) = cell {
                    out.push((format!("{area}/{name}"), *t, why.clone()));
                }
            }
        }
        out
    }

    /// The table, in Markdown.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = write!(s, "| scenario |");
        for t in &self.targets {
            let _ = write!(s, " {t} |");
        }
        s.push_str("\n|---|");
        for _ in &self.targets {
            s.push_str(":---:|");
        }
        s.push('\n');
        for (area, name, cells) in &self.rows {
            let _ = write!(s, "| {area}/{name} |");
            for c in cells {
                s.push_str(match c {
                    Outcome::Pass => " pass |",
                    Outcome::Fail(_) => " **FAIL** |",
                    Outcome::NotApplicable => " n/a |",
                });
            }
            s.push('\n');
        }
        let _ = write!(s, "| *seconds* |");
        for secs in &self.seconds {
            let _ = write!(s, " {secs:.1} |");
        }
        s.push('\n');
        s
    }
}

/// Runs `scenarios` whose `area/name` contains `filter` on each target in turn.
pub fn run(specs: &[Spec], scenarios: &[Scenario], filter: &str) -> Matrix {
    let chosen: Vec<&Scenario> =
        scenarios.iter().filter(|s| format!("{}/{}", s.area, s.name).contains(filter)).collect();
    let mut rows: Vec<(&'static str, &'static str, Vec<Outcome>)> =
        chosen.iter().map(|s| (s.area, s.name, Vec::new())).collect();
    let mut seconds = Vec::new();
    for spec in specs {
        let start = Instant::now();
        eprintln!("[conformance] starting {}", spec.name());
        match spec.start() {
            Err(e) => {
                for row in &mut rows {
                    row.2.push(Outcome::Fail(format!("target did not start: {e}")));
                }
            }
            Ok(mut t) => {
                for (i, (sc, row)) in chosen.iter().zip(rows.iter_mut()).enumerate() {
                    let root = format!("/conformance-{i}");
                    let mut outcome = runner::run(t.as_mut(), sc, &root);
                    if let Outcome::Fail(why) = &outcome {
                        let diag = t.diagnostics();
                        eprintln!("[conformance] {} {}/{}: FAIL {why}\n{diag}", spec.name(), sc.area, sc.name);
                        // A failed step may leave a server down: bring the target back.
                        if let Err(e) = restore(t.as_mut()) {
                            outcome = Outcome::Fail(format!("{why}; and the target did not recover: {e}"));
                        }
                    }
                    row.2.push(outcome);
                }
            }
        }
        seconds.push(start.elapsed().as_secs_f64());
        eprintln!("[conformance] {} done in {:.1} s", spec.name(), start.elapsed().as_secs_f64());
    }
    Matrix { targets: specs.iter().map(|s| s.name()).collect(), rows, seconds }
}

/// Restarts any server a failed scenario left killed.
fn restore(t: &mut dyn Target) -> Result<(), TargetError> {
    for i in 0..t.servers() {
        // Restarting a running server is refused; that refusal is the "already up" case.
        let _ = t.restart(i);
    }
    t.wait_serving()
}
