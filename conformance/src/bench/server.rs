//! Starting, probing and killing the two servers, and reading their cost from `/proc`.
//!
//! Both servers get the same zoo.cfg (written by [`write_zoo_cfg`]) in a fresh temporary
//! directory, listen on a free loopback port, and run as direct children of this process, so
//! `/proc/<pid>` is the server itself (for ZooKeeper: the JVM, all its threads included).

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// ZooKeeper 3.8 from Debian (`libzookeeper-java`): the jar's manifest names its
/// dependencies, so only an SLF4J binding has to be added (without one it logs nothing).
pub const ZK_CLASSPATH: &str = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar";
/// ZooKeeper's standalone entry point (the one `zkServer.sh` uses).
pub const ZK_MAIN: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";
/// How long one `ruok` probe may take before it counts as "not up yet".
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// Pause between start-up probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(20);
/// Bytes of a server log shown when it fails to start.
const LOG_TAIL_BYTES: u64 = 4000;

/// Which server a run drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// herd, the binary under test.
    Herd,
    /// Apache ZooKeeper 3.8, the reference.
    Zookeeper,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Herd => "herd",
            Kind::Zookeeper => "ZooKeeper",
        })
    }
}

/// How to start one server: everything but the port, which is picked per start.
#[derive(Clone, Debug)]
pub struct Launch {
    /// Which server.
    pub kind: Kind,
    /// The herd binary (unused for ZooKeeper).
    pub herd_bin: PathBuf,
    /// JVM heap limit, as given to `-Xmx` (unused for herd).
    pub zk_heap: String,
    /// The directory holding zoo.cfg, the logs and `data/`.
    pub dir: PathBuf,
}

impl Launch {
    /// The server's dataDir, kept across a restart.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The argv used to start the server (printed, so a run can be reproduced by hand).
    pub fn argv(&self, cfg: &Path) -> Vec<String> {
        match self.kind {
            Kind::Herd => vec![self.herd_bin.display().to_string(), "server".into(), cfg.display().to_string()],
            Kind::Zookeeper => vec![
                "java".into(),
                format!("-Xmx{}", self.zk_heap),
                "-Dzookeeper.4lw.commands.whitelist=*".into(),
                "-Dzookeeper.extendedTypesEnabled=true".into(),
                // The AdminServer (Jetty) would take port 8080; nothing here uses it.
                "-Dzookeeper.admin.enableServer=false".into(),
                "-cp".into(),
                ZK_CLASSPATH.into(),
                ZK_MAIN.into(),
                cfg.display().to_string(),
            ],
        }
    }
}

/// The same zoo.cfg for both servers: stock settings plus what the benchmark needs.
pub fn zoo_cfg(data_dir: &Path, port: u16) -> String {
    format!(
        "tickTime=2000\n\
         dataDir={}\n\
         clientPort={port}\n\
         clientPortAddress=127.0.0.1\n\
         maxClientCnxns=0\n\
         4lw.commands.whitelist=*\n\
         extendedTypesEnabled=true\n",
        data_dir.display()
    )
}

/// Writes zoo.cfg for `port` into the launch directory and returns its path.
pub fn write_zoo_cfg(launch: &Launch, port: u16) -> io::Result<PathBuf> {
    let path = launch.dir.join("zoo.cfg");
    fs::create_dir_all(launch.data_dir())?;
    fs::write(&path, zoo_cfg(&launch.data_dir(), port))?;
    Ok(path)
}

/// A loopback port nobody listens on right now (the OS picks it; a race with another
/// process taking it before the server binds is possible but would show as a start failure).
pub fn free_port() -> io::Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(l.local_addr()?.port())
}

/// A running server; killed (SIGKILL) and reaped when dropped, so no exit path of the
/// benchmark, an error or a panic included, leaves it running.
pub struct Server {
    /// Which server.
    pub kind: Kind,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The server's pid (for ZooKeeper: the JVM's).
    pub pid: u32,
    /// Its stdout+stderr log.
    pub log: PathBuf,
    child: Option<Child>,
}

impl Server {
    /// Starts the server on a fresh free port, without waiting for it to serve.
    pub fn spawn(launch: &Launch, log_name: &str) -> io::Result<Server> {
        let port = free_port()?;
        let cfg = write_zoo_cfg(launch, port)?;
        let argv = launch.argv(&cfg);
        let log = launch.dir.join(log_name);
        let out = File::create(&log)?;
        let err = out.try_clone()?;
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(&launch.dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start {}: {e}", argv[0])))?;
        Ok(Server {
            kind: launch.kind,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            pid: child.id(),
            log,
            child: Some(child),
        })
    }

    /// The connect string for clients.
    pub fn connect_string(&self) -> String {
        self.addr.to_string()
    }

    /// Fails if the process has exited (with the tail of its log).
    pub fn check_alive(&mut self) -> Result<(), String> {
        let exited = match self.child.as_mut() {
            Some(c) => c.try_wait().map_err(|e| e.to_string())?,
            None => return Err(format!("{} was already killed", self.kind)),
        };
        match exited {
            None => Ok(()),
            Some(status) => {
                Err(format!("{} exited ({status}); log {}:\n{}", self.kind, self.log.display(), log_tail(&self.log)))
            }
        }
    }

    /// Waits until the server answers `ruok` with `imok`, or fails after `timeout`.
    pub fn wait_ruok(&mut self, timeout: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            self.check_alive()?;
            if four_letter(self.addr, "ruok").is_ok_and(|a| a == "imok") {
                return Ok(start.elapsed());
            }
            thread::sleep(PROBE_INTERVAL);
        }
        Err(format!(
            "{} did not answer ruok within {timeout:?}; log {}:\n{}",
            self.kind,
            self.log.display(),
            log_tail(&self.log)
        ))
    }

    /// SIGKILLs the server and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // An error means it has already exited, which is what we want.
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends a four-letter word and returns the whole answer.
pub fn four_letter(addr: SocketAddr, word: &str) -> io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)?;
    s.set_read_timeout(Some(PROBE_TIMEOUT))?;
    s.set_write_timeout(Some(PROBE_TIMEOUT))?;
    s.write_all(word.as_bytes())?;
    let mut out = String::new();
    s.take(1 << 20).read_to_string(&mut out)?;
    Ok(out)
}

/// The last few KB of a log file, for error messages.
pub fn log_tail(path: &Path) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::from("(no log)");
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut buf = Vec::new();
    let skip = len.saturating_sub(LOG_TAIL_BYTES);
    if io::copy(&mut io::Read::by_ref(&mut f).take(skip), &mut io::sink()).is_err() {
        return String::from("(unreadable log)");
    }
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Kernel clock ticks per second, the unit of utime/stime in `/proc/<pid>/stat`.
pub fn clock_ticks_per_sec() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        // USER_HZ is 100 on every Linux architecture this runs on.
        .unwrap_or(100)
}

/// utime+stime of a process (all its threads), in clock ticks.
pub fn cpu_ticks(pid: u32) -> io::Result<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_cpu_ticks(&stat).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/pid/stat"))
}

/// utime (field 14) + stime (field 15) from a `/proc/<pid>/stat` line. The command name
/// (field 2) is in parentheses and may hold spaces, so fields are counted after its `)`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace();
    // After ")": field 3 (state) is the first; utime is field 14, i.e. the 12th here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// CPU time of the whole machine (all cores, all processes) spent not idle, in clock
/// ticks: the first line of `/proc/stat`. Minus the server's and the client's own time it
/// shows how much other load shared the cores during a phase.
pub fn machine_busy_ticks() -> io::Result<u64> {
    let stat = fs::read_to_string("/proc/stat")?;
    parse_busy_ticks(&stat).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/stat"))
}

/// `cpu  user nice system idle iowait irq softirq steal ...`: everything but idle and
/// iowait. guest time is already inside user, so the fields after steal are left out.
pub fn parse_busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let f: Vec<u64> = line.split_whitespace().take(8).map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let [user, nice, system, _idle, _iowait, irq, softirq, steal] = <[u64; 8]>::try_from(f).ok()?;
    Some(user + nice + system + irq + softirq + steal)
}

/// Resident set size of a process, in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vm_rss_kib(&status).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no VmRSS in /proc/pid/status"))
}

/// The `VmRSS:   1234 kB` line of `/proc/<pid>/status`, in KiB.
pub fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_from_stat_line_with_spaces_in_name() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime ...
        let line = "4242 (my server) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9";
        assert_eq!(parse_cpu_ticks(line), Some(300));
        assert_eq!(parse_cpu_ticks("4242 (x) S 1 2"), None);
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn busy_ticks_from_proc_stat() {
        let stat = "cpu  100 5 50 9000 7 1 2 3 40 0\ncpu0 1 2 3 4 5 6 7 8 9 0\n";
        assert_eq!(parse_busy_ticks(stat), Some(100 + 5 + 50 + 1 + 2 + 3));
        assert_eq!(parse_busy_ticks("cpu  1 2 3\n"), None);
        assert_eq!(parse_busy_ticks("intr 1 2 3 4 5 6 7 8\n"), None);
        assert!(machine_busy_ticks().unwrap() > 0);
    }

    #[test]
    fn vm_rss_from_status() {
        let status = "Name:\tjava\nVmPeak:\t  999 kB\nVmRSS:\t   51200 kB\nThreads:\t30\n";
        assert_eq!(parse_vm_rss_kib(status), Some(51200));
        assert_eq!(parse_vm_rss_kib("Name:\tx\n"), None);
    }

    #[test]
    fn own_process_is_readable() {
        let pid = std::process::id();
        assert!(rss_kib(pid).unwrap() > 0);
        cpu_ticks(pid).unwrap();
    }

    #[test]
    fn zoo_cfg_has_the_port_and_dir() {
        let cfg = zoo_cfg(Path::new("/tmp/x/data"), 12345);
        assert!(cfg.contains("clientPort=12345\n"));
        assert!(cfg.contains("dataDir=/tmp/x/data\n"));
        assert!(cfg.contains("tickTime=2000\n"));
    }
}
