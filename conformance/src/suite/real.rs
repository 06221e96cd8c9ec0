//! Real servers over TCP: herd (the binary under test) or Apache ZooKeeper 3.8 (Debian's
//! package, the reference), standalone or as a 3-member ensemble on loopback, each started
//! here on fresh data directories with the one configuration of [`config`].

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::target::{config, Link, Recv, Target, TargetError};
// The benchmark's harness starts the same programs: one place knows where they are.
pub use crate::ensemble_harness::{herd_bin, log_tail, ZK_CLASSPATH, ZK_JAR, ZK_MAIN};

/// How long a server (a JVM included) may take to start serving.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an ensemble may take to elect a leader and have every running member serve.
const SERVING_TIMEOUT: Duration = Duration::from_secs(60);
/// A four-letter word's answer, connect included.
const FOUR_LETTER_TIMEOUT: Duration = Duration::from_secs(5);
/// Frames larger than this are a broken stream (ZooKeeper's jute.maxbuffer plus headers).
const FRAME_BYTES_MAX: usize = 4 << 20;
/// Ensemble timing: short ticks so elections and syncs are quick on loopback.
const ENSEMBLE_INIT_LIMIT: u32 = 10;
/// Ensemble timing, in ticks.
const ENSEMBLE_SYNC_LIMIT: u32 = 5;

/// Which server program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// herd.
    Herd,
    /// Apache ZooKeeper 3.8.
    Zookeeper,
}

/// Whether ZooKeeper 3.8 is installed here (CI installs it; then its targets must run).
pub fn zookeeper_installed() -> bool {
    ZK_CLASSPATH.split(':').all(|jar| Path::new(jar).exists())
}

/// One server process with its ports and directory.
struct Proc {
    dir: PathBuf,
    client: SocketAddr,
    child: Option<Child>,
    starts: u32,
}

impl Proc {
    fn log(&self) -> PathBuf {
        self.dir.join(format!("server-{}.log", self.starts))
    }

    fn running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // Already exited is as good as killed.
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One open client connection and the bytes read from it but not yet framed.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    closed: bool,
}

/// herd or ZooKeeper processes on loopback.
pub struct RealTarget {
    kind: Kind,
    name: String,
    procs: Vec<Proc>,
    conns: HashMap<u64, Conn>,
    next_link: u64,
    _work: tempfile::TempDir,
}

fn err(what: impl std::fmt::Display) -> TargetError {
    TargetError(what.to_string())
}

/// `n` distinct free loopback ports, held together so none is handed out twice.
fn free_ports(n: usize) -> io::Result<Vec<u16>> {
    let held: Vec<TcpListener> =
        (0..n).map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0))).collect::<io::Result<_>>()?;
    held.iter().map(|l| l.local_addr().map(|a| a.port())).collect()
}

/// The zoo.cfg every target runs with ([`config`]); `peers` adds `server.N` lines.
fn zoo_cfg(data_dir: &Path, port: u16, peers: &[(u16, u16)]) -> String {
    let mut cfg = format!(
        "tickTime={}\ninitLimit={ENSEMBLE_INIT_LIMIT}\nsyncLimit={ENSEMBLE_SYNC_LIMIT}\n\
         dataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\n\
         minSessionTimeout={}\nmaxSessionTimeout={}\n4lw.commands.whitelist={}\n\
         extendedTypesEnabled={}\nznode.container.checkIntervalMs={}\n\
         DigestAuthenticationProvider.superDigest={}\nadmin.enableServer=false\n",
        config::TICK_MS,
        data_dir.display(),
        config::MIN_SESSION_MS,
        config::MAX_SESSION_MS,
        config::FOUR_LETTER_WHITELIST,
        config::EXTENDED_TYPES,
        config::CONTAINER_CHECK_MS,
        config::SUPER_DIGEST,
    );
    for (i, (q, e)) in peers.iter().enumerate() {
        cfg.push_str(&format!("server.{}=127.0.0.1:{q}:{e}\n", i + 1));
    }
    cfg
}

/// One four-letter word on a fresh connection; the answer is what arrives until EOF.
pub fn four_letter(addr: SocketAddr, word: &str) -> io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, FOUR_LETTER_TIMEOUT)?;
    s.set_read_timeout(Some(FOUR_LETTER_TIMEOUT))?;
    s.write_all(word.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

impl RealTarget {
    /// Starts `servers` (1, or 3 for an ensemble) of `kind` and waits until all serve.
    pub fn start(kind: Kind, servers: usize) -> Result<RealTarget, TargetError> {
        let work = tempfile::Builder::new().prefix("herd-conformance-").tempdir().map_err(err)?;
        let ports = free_ports(3 * servers).map_err(err)?;
        let peers: Vec<(u16, u16)> = if servers > 1 {
            (0..servers).map(|i| (ports[servers + i], ports[2 * servers + i])).collect()
        } else {
            vec![]
        };
        let mut procs = Vec::new();
        for (i, &port) in ports.iter().take(servers).enumerate() {
            let dir = work.path().join(format!("s{}", i + 1));
            let data = dir.join("data");
            fs::create_dir_all(&data).map_err(err)?;
            if servers > 1 {
                fs::write(data.join("myid"), format!("{}\n", i + 1)).map_err(err)?;
            }
            fs::write(dir.join("zoo.cfg"), zoo_cfg(&data, port, &peers)).map_err(err)?;
            procs.push(Proc { dir, client: SocketAddr::from((Ipv4Addr::LOCALHOST, port)), child: None, starts: 0 });
        }
        let base = match kind {
            Kind::Herd => "herd",
            Kind::Zookeeper => "zookeeper",
        };
        let name = if servers > 1 { format!("{base}×{servers}") } else { base.to_string() };
        let mut t = RealTarget { kind, name, procs, conns: HashMap::new(), next_link: 1, _work: work };
        for i in 0..servers {
            t.spawn(i)?;
        }
        t.wait_serving()?;
        Ok(t)
    }

    fn spawn(&mut self, i: usize) -> Result<(), TargetError> {
        let kind = self.kind;
        let p = &mut self.procs[i];
        p.starts += 1;
        let cfg = p.dir.join("zoo.cfg");
        let mut cmd = match kind {
            Kind::Herd => {
                let bin = herd_bin();
                if !bin.exists() {
                    return Err(err(format!(
                        "herd binary not found at {} (run `cargo build --release -p shell-std` or set HERD_BIN)",
                        bin.display()
                    )));
                }
                let mut c = Command::new(bin);
                c.arg("server").arg(&cfg);
                c
            }
            Kind::Zookeeper => {
                let mut c = Command::new("java");
                c.args([
                    "-Xmx512m",
                    "-XX:+UseSerialGC",
                    "-XX:TieredStopAtLevel=1",
                    "-Dzookeeper.admin.enableServer=false",
                    "-Dzookeeper.4lw.commands.whitelist=*",
                    "-Dzookeeper.extendedTypesEnabled=true",
                    // Read without the `zookeeper.` prefix that zoo.cfg keys get.
                    &format!("-Dznode.container.checkIntervalMs={}", config::CONTAINER_CHECK_MS),
                    "-cp",
                    ZK_CLASSPATH,
                    ZK_MAIN,
                ]);
                c.arg(&cfg);
                c
            }
        };
        let log = File::create(p.log()).map_err(err)?;
        let log2 = log.try_clone().map_err(err)?;
        let child = cmd
            .current_dir(&p.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| err(format!("starting {}: {e}", self.name)))?;
        p.child = Some(child);
        Ok(())
    }

    /// Whether server `i` answers `srvr` with a Mode (serving clients).
    fn serving(&self, i: usize) -> bool {
        let p = &self.procs[i];
        p.running() && four_letter(p.client, "srvr").map(|a| a.lines().any(|l| l.starts_with("Mode:"))).unwrap_or(false)
    }

    fn check_alive(&mut self) -> Result<(), TargetError> {
        for p in &mut self.procs {
            if let Some(c) = p.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    p.child = None;
                    return Err(err(format!("server exited ({status}); log:\n{}", log_tail(&p.log()))));
                }
            }
        }
        Ok(())
    }

    fn conn(&mut self, link: Link) -> Option<&mut Conn> {
        self.conns.get_mut(&link.0)
    }

    /// Takes one whole frame off the front of the connection's buffer.
    fn take_frame(c: &mut Conn) -> Option<Result<Vec<u8>, ()>> {
        if c.buf.len() < 4 {
            return None;
        }
        let len = i32::from_be_bytes([c.buf[0], c.buf[1], c.buf[2], c.buf[3]]);
        if len < 0 || len as usize > FRAME_BYTES_MAX {
            return Some(Err(()));
        }
        let len = len as usize;
        if c.buf.len() < 4 + len {
            return None;
        }
        let frame = c.buf[4..4 + len].to_vec();
        c.buf.drain(..4 + len);
        Some(Ok(frame))
    }
}

impl Target for RealTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn servers(&self) -> usize {
        self.procs.len()
    }

    fn real_time(&self) -> bool {
        true
    }

    fn connect(&mut self, server: usize) -> Result<Link, TargetError> {
        let p = self.procs.get(server).ok_or_else(|| err(format!("no server {server}")))?;
        let stream = TcpStream::connect_timeout(&p.client, FOUR_LETTER_TIMEOUT).map_err(err)?;
        stream.set_nodelay(true).map_err(err)?;
        let link = Link(self.next_link);
        self.next_link += 1;
        self.conns.insert(link.0, Conn { stream, buf: Vec::new(), closed: false });
        Ok(link)
    }

    fn send(&mut self, link: Link, frame: &[u8]) -> Result<(), TargetError> {
        let c = self.conn(link).ok_or_else(|| err("unknown link"))?;
        match c.stream.write_all(frame) {
            Ok(()) => Ok(()),
            // The server closed the connection while the frame was going out (it may refuse
            // an oversized frame by its length prefix alone): what the client sees is a close.
            Err(e) if matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset) => {
                c.closed = true;
                Ok(())
            }
            Err(e) => Err(err(e)),
        }
    }

    fn recv(&mut self, link: Link, wait: Duration) -> Recv {
        let Some(c) = self.conn(link) else {
            return Recv::Closed;
        };
        let deadline = Instant::now() + wait;
        loop {
            match Self::take_frame(c) {
                Some(Ok(f)) => return Recv::Frame(f),
                Some(Err(())) => return Recv::Closed,
                None if c.closed => return Recv::Closed,
                None => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Recv::Idle;
            }
            // A zero read timeout means "block forever"; never ask for less than 1 ms.
            let _ = c.stream.set_read_timeout(Some(left.max(Duration::from_millis(1))));
            let mut chunk = [0u8; 64 * 1024];
            match c.stream.read(&mut chunk) {
                Ok(0) => c.closed = true,
                Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => c.closed = true,
            }
        }
    }

    fn close(&mut self, link: Link) {
        if let Some(c) = self.conns.remove(&link.0) {
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
        }
    }

    fn elapse(&mut self, d: Duration) {
        thread::sleep(d);
    }

    fn four_letter(&mut self, server: usize, word: &str) -> Result<String, TargetError> {
        let p = self.procs.get(server).ok_or_else(|| err(format!("no server {server}")))?;
        four_letter(p.client, word).map_err(err)
    }

    fn kill(&mut self, server: usize) -> Result<(), TargetError> {
        let p = self.procs.get_mut(server).ok_or_else(|| err(format!("no server {server}")))?;
        if let Some(mut c) = p.child.take() {
            c.kill().map_err(err)?;
            let _ = c.wait();
        }
        Ok(())
    }

    fn restart(&mut self, server: usize) -> Result<(), TargetError> {
        if self.procs.get(server).map(|p| p.running()).unwrap_or(true) {
            return Err(err(format!("server {server} is not stopped")));
        }
        self.spawn(server)?;
        self.wait_serving()
    }

    fn wait_serving(&mut self) -> Result<(), TargetError> {
        let start = Instant::now();
        let limit = if self.procs.iter().all(|p| p.starts <= 1) { START_TIMEOUT } else { SERVING_TIMEOUT };
        loop {
            self.check_alive()?;
            if (0..self.procs.len()).all(|i| !self.procs[i].running() || self.serving(i)) {
                return Ok(());
            }
            if start.elapsed() > limit {
                let diag = self.diagnostics();
                return Err(err(format!("{} not serving after {limit:?}:\n{diag}", self.name)));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn diagnostics(&mut self) -> String {
        let mut s = String::new();
        for (i, p) in self.procs.iter().enumerate() {
            s.push_str(&format!(
                "--- {} server {} log {}:\n{}\n",
                self.name,
                i + 1,
                p.log().display(),
                log_tail(&p.log())
            ));
        }
        s
    }
}
