//! Three-member herd and ZooKeeper ensembles on loopback for integration tests: the `bench`
//! binary's own code (`bench/ensemble.rs`: zoo.cfg with `server.N` lines, `myid`, start,
//! `srvr` roles, SIGKILL, restart on the same data dir), compiled into the library too, plus
//! what a fault schedule needs beyond it (pausing a member, locating the binaries).

use std::path::{Path, PathBuf};
use std::process::Command;

// The benchmark is a binary module; the library takes it by path so that tests start
// ensembles exactly as the benchmark does. Only the ensemble part is used here.
#[allow(dead_code)]
#[path = "bench/mod.rs"]
mod bench;

pub use bench::ensemble::{parse_mode, Ensemble, Member, SERVERS};
pub use bench::load::connect;
pub use bench::server::{four_letter, log_tail, Kind, Launch, ZK_CLASSPATH, ZK_MAIN};

/// The ZooKeeper 3.8 jar the ZooKeeper ensembles run (Debian's `libzookeeper-java`).
pub const ZK_JAR: &str = "/usr/share/java/zookeeper.jar";

/// The herd binary: `$HERD_BIN`, else `<repo>/target/release/herd`.
pub fn herd_bin() -> PathBuf {
    std::env::var_os("HERD_BIN").map(PathBuf::from).unwrap_or_else(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        manifest.parent().unwrap_or(manifest).join("target/release/herd")
    })
}

/// Sends `signal` (a name `kill` accepts: `STOP`, `CONT`, ...) to `member`'s process.
pub fn signal(member: &Member, signal: &str) -> Result<(), String> {
    if !member.running() {
        return Err(format!("member {} is not running", member.id));
    }
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(member.pid.to_string())
        .status()
        .map_err(|e| format!("kill -{signal} {}: {e}", member.pid))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kill -{signal} {} (member {}): {status}", member.pid, member.id))
    }
}
