//! herd driven by a real ZooKeeper client: the Rust `zookeeper-client` crate over TCP.
//!
//! Each test starts its own `herd server zoo.cfg` process on a free 127.0.0.1 port with a
//! temporary dataDir, and kills it when the test ends (also on a panic). Every client call and
//! every wait is bounded, so a server that does not answer fails the test instead of hanging it.

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zookeeper_client as zk;

/// Bound on one client call; generous for a 2-core machine shared with builds.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// Bound on a server start (until `ruok` and `srvr` answer).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on a condition that the server reaches by itself (container and TTL reaping).
const EVENTUALLY_TIMEOUT: Duration = Duration::from_secs(20);
/// How often the container/TTL reaper runs in these tests (zoo.cfg
/// `znode.container.checkIntervalMs`), so that reaping is observable within the bounds above.
const CONTAINER_CHECK_MS: u64 = 200;
/// Session timeout the clients ask for.
const SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// The version the client is told to expect: herd speaks ZooKeeper 3.8's protocol.
const SERVER_VERSION: (u32, u32, u32) = (3, 8, 4);

/// `bob:secret` as the digest scheme stores it: `user:base64(sha1("user:password"))`.
const BOB_AUTH: &[u8] = b"bob:secret";
const BOB_DIGEST_ID: &str = "bob:fyVmFCwVbTJYrznoSu1koqYEYF0=";
const ALICE_AUTH: &[u8] = b"alice:wonder";

fn open() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

fn mode(m: zk::CreateMode) -> zk::CreateOptions<'static> {
    m.with_acls(zk::Acls::anyone_all())
}

// -- the server process ------------------------------------------------------------------------

/// One herd process with its own zoo.cfg, dataDir and log; killed (SIGKILL) on drop.
struct Herd {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Herd {
    /// Starts herd on a free port; retries with another port if that one was taken meanwhile.
    fn start() -> Herd {
        let dir = tempfile::Builder::new().prefix("herd-rust-client-").tempdir().expect("temp dir");
        fs::create_dir_all(dir.path().join("data")).expect("data dir");
        let mut herd = Herd { dir, port: 0, child: None };
        for attempt in 0..3 {
            herd.port = free_port();
            herd.write_cfg();
            match herd.spawn_and_wait() {
                Ok(()) => return herd,
                Err(e) if attempt < 2 && herd.log().contains("in use") => {
                    eprintln!("herd start on port {} failed ({e}); retrying", herd.port)
                }
                Err(e) => panic!("herd did not start: {e}\n{}", herd.log_tail(60)),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    fn hosts(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn write_cfg(&self) {
        let data = self.dir.path().join("data");
        let cfg = format!(
            "tickTime=2000\n\
             initLimit=10\n\
             syncLimit=5\n\
             dataDir={}\n\
             clientPort={}\n\
             clientPortAddress=127.0.0.1\n\
             4lw.commands.whitelist=*\n\
             extendedTypesEnabled=true\n\
             znode.container.checkIntervalMs={CONTAINER_CHECK_MS}\n",
            data.display(),
            self.port
        );
        fs::write(self.dir.path().join("zoo.cfg"), cfg).expect("write zoo.cfg");
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| format!("open log: {e}"))?;
        let err_log = log.try_clone().map_err(|e| format!("clone log: {e}"))?;
        let child = Command::new(env!("CARGO_BIN_EXE_herd"))
            .arg("server")
            .arg(self.dir.path().join("zoo.cfg"))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                self.child = None;
                return Err(format!("exited during start-up with {status}"));
            }
            // ruok says the listener is up; srvr says requests are being served.
            if self.four_letter("ruok").map_or(false, |s| s == "imok")
                && self.four_letter("srvr").map_or(false, |s| s.contains("Mode:"))
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill9();
                return Err(format!("no `imok` within {START_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a four-letter word on a fresh connection and returns the whole answer.
    fn four_letter(&self, word: &str) -> std::io::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(word.as_bytes())?;
        s.shutdown(Shutdown::Write)?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    }

    /// SIGKILL: the process gets no chance to flush or clean up anything.
    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the process again on the same port, zoo.cfg and dataDir.
    fn restart(&mut self) {
        assert!(self.child.is_none(), "restart of a running server");
        if let Err(e) = self.spawn_and_wait() {
            panic!("herd did not restart: {e}\n{}", self.log_tail(60));
        }
    }
}

impl Drop for Herd {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("---- herd log ({}) ----\n{}", self.log_path().display(), self.log_tail(80));
        }
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

// -- bounded client calls ----------------------------------------------------------------------

/// Awaits `f` for at most `CALL_TIMEOUT`; a missing answer fails the test.
async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(CALL_TIMEOUT, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within {CALL_TIMEOUT:?}"),
    }
}

/// Polls `probe` until it returns true; fails the test after `EVENTUALLY_TIMEOUT`.
async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + EVENTUALLY_TIMEOUT;
    while !within(what, probe()).await {
        assert!(Instant::now() < deadline, "{what}: not reached within {EVENTUALLY_TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn connect(herd: &Herd) -> zk::Client {
    connect_with(herd, zk::Client::connector()).await
}

async fn connect_with(herd: &Herd, connector: zk::Connector) -> zk::Client {
    let (major, minor, patch) = SERVER_VERSION;
    let hosts = herd.hosts();
    let connecting = connector
        .with_session_timeout(SESSION_TIMEOUT)
        .with_connection_timeout(Duration::from_secs(5))
        .with_server_version(major, minor, patch)
        .connect(&hosts);
    within("connect", connecting).await.expect("connect to herd")
}

/// Waits for one watch event.
async fn next_event(what: &str, w: zk::OneshotWatcher) -> zk::WatchedEvent {
    within(what, w.changed()).await
}

async fn next_persistent(what: &str, w: &mut zk::PersistentWatcher) -> zk::WatchedEvent {
    within(what, w.changed()).await
}

fn node_event(t: zk::EventType, path: &str) -> (zk::EventType, String) {
    (t, path.to_string())
}

fn seen(e: &zk::WatchedEvent) -> (zk::EventType, String) {
    (e.event_type, e.path.clone())
}

// -- tests -------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_read_update_delete_and_stat_relations() {
    let herd = Herd::start();
    let c = connect(&herd).await;
    assert!(c.session_id().0 != 0);
    assert!(c.session_timeout() > Duration::ZERO);

    // create (persistent) and its Stat
    let (st, seq) = within("create", c.create("/crud", b"v0", &open())).await.unwrap();
    assert_eq!(seq.into_i64(), -1, "a plain create has no sequence");
    assert!(st.czxid > 0);
    assert_eq!(st.mzxid, st.czxid, "a new node was last modified by its create");
    assert_eq!(st.pzxid, st.czxid, "a new node's children last changed at its create");
    assert_eq!(st.ctime, st.mtime);
    assert!(st.ctime > 1_600_000_000_000, "ctime is wall-clock ms since the epoch");
    assert_eq!((st.version, st.cversion, st.aversion), (0, 0, 0));
    assert_eq!(st.ephemeral_owner, 0, "persistent nodes have no owner");
    assert_eq!((st.data_length, st.num_children), (2, 0));
    assert_eq!(within("create again", c.create("/crud", b"", &open())).await.unwrap_err(), zk::Error::NodeExists);
    assert_eq!(within("create orphan", c.create("/no/parent", b"", &open())).await.unwrap_err(), zk::Error::NoNode);

    // get_data gives the same Stat as the create
    let (data, got) = within("get_data", c.get_data("/crud")).await.unwrap();
    assert_eq!(data, b"v0");
    assert_eq!(got, st);

    // set_data with versions; BadVersion changes nothing
    let st1 = within("set_data v0", c.set_data("/crud", b"v1", Some(0))).await.unwrap();
    assert_eq!(st1.version, 1);
    assert!(st1.mzxid > st.mzxid);
    assert_eq!(st1.czxid, st.czxid);
    assert_eq!(st1.pzxid, st.pzxid, "a data change is not a children change");
    assert!(st1.mtime >= st1.ctime);
    assert_eq!(st1.data_length, 2);
    assert_eq!(
        within("set_data stale", c.set_data("/crud", b"bad", Some(0))).await.unwrap_err(),
        zk::Error::BadVersion
    );
    let (data, got) = within("get_data", c.get_data("/crud")).await.unwrap();
    assert_eq!((data.as_slice(), got), (&b"v1"[..], st1));
    let st2 = within("set_data any", c.set_data("/crud", b"", None)).await.unwrap();
    assert_eq!((st2.version, st2.data_length), (2, 0));
    assert_eq!(within("set_data missing", c.set_data("/nope", b"", None)).await.unwrap_err(), zk::Error::NoNode);

    // children and the parent's Stat
    let (a, _) = within("create a", c.create("/crud/a", b"", &open())).await.unwrap();
    let (b, _) = within("create b", c.create("/crud/b", b"bb", &open())).await.unwrap();
    let (mut kids, parent) = within("get_children", c.get_children("/crud")).await.unwrap();
    kids.sort();
    assert_eq!(kids, ["a", "b"]);
    assert_eq!((parent.num_children, parent.cversion), (2, 2));
    assert_eq!(parent.pzxid, b.czxid, "pzxid is the zxid of the last child change");
    assert!(b.czxid > a.czxid);
    assert_eq!(parent.mzxid, st2.mzxid, "child changes leave the parent's data Stat");
    assert_eq!(parent.version, 2);
    let listed = within("list_children", c.list_children("/crud")).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(within("children of missing", c.get_children("/nope")).await.unwrap_err(), zk::Error::NoNode);

    // exists
    let ex = within("exists", c.check_stat("/crud/b")).await.unwrap();
    assert_eq!(ex, Some(b));
    assert_eq!(within("exists missing", c.check_stat("/crud/zz")).await.unwrap(), None);

    // delete: versions, NotEmpty, NoNode, and the parent's Stat after it
    assert_eq!(within("delete non-empty", c.delete("/crud", None)).await.unwrap_err(), zk::Error::NotEmpty);
    assert_eq!(within("delete stale", c.delete("/crud/b", Some(3))).await.unwrap_err(), zk::Error::BadVersion);
    within("delete b", c.delete("/crud/b", Some(0))).await.unwrap();
    within("delete a", c.delete("/crud/a", None)).await.unwrap();
    assert_eq!(within("delete again", c.delete("/crud/a", None)).await.unwrap_err(), zk::Error::NoNode);
    let parent = within("exists parent", c.check_stat("/crud")).await.unwrap().unwrap();
    assert_eq!((parent.num_children, parent.cversion), (0, 4));
    assert!(parent.pzxid > b.czxid, "deletes move pzxid on");
    within("delete parent", c.delete("/crud", Some(2))).await.unwrap();
    assert_eq!(within("exists deleted", c.check_stat("/crud")).await.unwrap(), None);

    // every write got a larger zxid than the one before
    let (last, _) = within("create z", c.create("/z", b"", &open())).await.unwrap();
    assert!(last.czxid > parent.pzxid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_and_sequential_nodes() {
    let herd = Herd::start();
    let c = connect(&herd).await;
    let other = connect(&herd).await;
    within("create", c.create("/e", b"", &open())).await.unwrap();

    let (st, _) = within("ephemeral", c.create("/e/mine", b"x", &mode(zk::CreateMode::Ephemeral))).await.unwrap();
    assert_eq!(st.ephemeral_owner, c.session_id().0, "the owner is the creating session");
    assert_ne!(c.session_id(), other.session_id());
    assert_eq!(
        within("child of ephemeral", c.create("/e/mine/kid", b"", &open())).await.unwrap_err(),
        zk::Error::NoChildrenForEphemerals
    );

    // sequence numbers come from the parent's cversion, ten digits, strictly increasing
    let (_, s1) = within("seq 1", c.create("/e/s-", b"", &mode(zk::CreateMode::PersistentSequential))).await.unwrap();
    let (_, s2) =
        within("seq 2", other.create("/e/s-", b"", &mode(zk::CreateMode::EphemeralSequential))).await.unwrap();
    let (_, s3) = within("seq 3", c.create("/e/t-", b"", &mode(zk::CreateMode::PersistentSequential))).await.unwrap();
    assert_eq!(s1.into_i64(), 1, "cversion was 1 (one child) when the first sequential came");
    assert_eq!(s2.into_i64(), 2);
    assert_eq!(s3.into_i64(), 3, "the counter is per parent, not per prefix");
    assert_eq!(s1.to_string(), "0000000001");
    let mut kids = within("children", c.list_children("/e")).await.unwrap();
    kids.sort();
    assert_eq!(kids, ["mine", "s-0000000001", "s-0000000002", "t-0000000003"]);
    let (_, st2) = within("get seq 2", c.get_data(&format!("/e/s-{s2}"))).await.unwrap();
    assert_eq!(st2.ephemeral_owner, other.session_id().0);

    // the ephemerals of a session that closes are deleted; the persistent ones stay
    let (_, watch) = within("watch mine", other.check_and_watch_stat("/e/mine")).await.unwrap();
    let mut state = c.state_watcher();
    drop(c);
    assert_eq!(within("session closed", state.changed()).await, zk::SessionState::Closed);
    let ev = next_event("mine deleted", watch).await;
    assert_eq!(seen(&ev), node_event(zk::EventType::NodeDeleted, "/e/mine"));
    assert_eq!(within("exists", other.check_stat("/e/mine")).await.unwrap(), None);
    let mut kids = within("children", other.list_children("/e")).await.unwrap();
    kids.sort();
    assert_eq!(kids, ["s-0000000001", "s-0000000002", "t-0000000003"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_and_ttl_nodes_are_reaped() {
    let herd = Herd::start();
    let c = connect(&herd).await;

    // A container is deleted once its last child goes; one that never had a child stays.
    let container = mode(zk::CreateMode::Container);
    let (st, _) = within("container", c.create("/box", b"", &container)).await.unwrap();
    assert_eq!(st.ephemeral_owner, 0, "a container's owner marker is shown as 0");
    within("never used", c.create("/unused-box", b"", &container)).await.unwrap();
    within("child", c.create("/box/item", b"", &open())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(4 * CONTAINER_CHECK_MS)).await;
    assert!(within("box kept", c.check_stat("/box")).await.unwrap().is_some(), "a container with a child was reaped");
    within("delete child", c.delete("/box/item", None)).await.unwrap();
    eventually("empty container reaped", || async { c.check_stat("/box").await.unwrap().is_none() }).await;
    assert!(
        within("unused kept", c.check_stat("/unused-box")).await.unwrap().is_some(),
        "a container that never had a child must not be reaped"
    );

    // TTL: a childless persistent node is deleted once not modified for its ttl.
    let ttl = open().with_ttl(Duration::from_millis(300));
    let (st, _) = within("ttl node", c.create("/ttl", b"t", &ttl)).await.unwrap();
    // The stored owner is a TTL marker; clients are shown 0, as for persistent nodes.
    assert_eq!(st.ephemeral_owner, 0);
    within("ttl parent", c.create("/ttl-parent", b"", &ttl)).await.unwrap();
    within("ttl child", c.create("/ttl-parent/kid", b"", &open())).await.unwrap();
    let ttl_seq = mode(zk::CreateMode::PersistentSequential).with_ttl(Duration::from_millis(300));
    let (_, seq) = within("ttl seq", c.create("/ttl-s-", b"", &ttl_seq)).await.unwrap();
    eventually("ttl node reaped", || async { c.check_stat("/ttl").await.unwrap().is_none() }).await;
    eventually("sequential ttl node reaped", || async {
        c.check_stat(&format!("/ttl-s-{seq}")).await.unwrap().is_none()
    })
    .await;
    assert!(
        within("ttl parent kept", c.check_stat("/ttl-parent")).await.unwrap().is_some(),
        "a TTL node with a child must not be reaped"
    );
    // TTL is only for persistent modes; the client refuses the rest before sending.
    let ephemeral_ttl = mode(zk::CreateMode::Ephemeral).with_ttl(Duration::from_secs(1));
    assert!(matches!(
        within("ephemeral ttl", c.create("/bad", b"", &ephemeral_ttl)).await,
        Err(zk::Error::BadArguments(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_watches_fire_once() {
    let herd = Herd::start();
    let c = connect(&herd).await;
    let writer = connect(&herd).await;
    within("create", c.create("/w", b"0", &open())).await.unwrap();

    // data watch: one NodeDataChanged for the first change only
    let (_, _, w) = within("get+watch", c.get_and_watch_data("/w")).await.unwrap();
    within("set 1", writer.set_data("/w", b"1", None)).await.unwrap();
    let ev = next_event("data changed", w).await;
    assert_eq!(seen(&ev), node_event(zk::EventType::NodeDataChanged, "/w"));
    assert_eq!(ev.session_state, zk::SessionState::SyncConnected);
    // the fired watch is gone: the next change is reported only to a watch set afterwards
    within("set 2", writer.set_data("/w", b"2", None)).await.unwrap();
    let (data, _, w) = within("get+watch again", c.get_and_watch_data("/w")).await.unwrap();
    assert_eq!(data, b"2");
    within("delete", writer.delete("/w", None)).await.unwrap();
    let ev = next_event("deleted", w).await;
    assert_eq!(seen(&ev), node_event(zk::EventType::NodeDeleted, "/w"));

    // exists watch on a missing node: NodeCreated
    let (st, w) = within("exists+watch", c.check_and_watch_stat("/w")).await.unwrap();
    assert!(st.is_none());
    within("recreate", writer.create("/w", b"", &open())).await.unwrap();
    let ev = next_event("created", w).await;
    assert_eq!(seen(&ev), node_event(zk::EventType::NodeCreated, "/w"));

    // child watch: NodeChildrenChanged on the parent, not for a data change of the parent
    let (kids, _, w) = within("children+watch", c.get_and_watch_children("/w")).await.unwrap();
    assert!(kids.is_empty());
    within("set parent", writer.set_data("/w", b"p", None)).await.unwrap();
    within("add child", writer.create("/w/k", b"", &open())).await.unwrap();
    let ev = next_event("children changed", w).await;
    assert_eq!(seen(&ev), node_event(zk::EventType::NodeChildrenChanged, "/w"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_recursive_watch() {
    let herd = Herd::start();
    let c = connect(&herd).await;
    let writer = connect(&herd).await;
    within("create", c.create("/pr", b"", &open())).await.unwrap();

    let mut w = within("addWatch", c.watch("/pr", zk::AddWatchMode::PersistentRecursive)).await.unwrap();
    within("create a", writer.create("/pr/a", b"", &open())).await.unwrap();
    within("set a", writer.set_data("/pr/a", b"1", None)).await.unwrap();
    within("create a/b", writer.create("/pr/a/b", b"", &open())).await.unwrap();
    within("set a again", writer.set_data("/pr/a", b"2", None)).await.unwrap();
    within("delete a/b", writer.delete("/pr/a/b", None)).await.unwrap();
    within("set root", writer.set_data("/pr", b"r", None)).await.unwrap();
    within("outside", writer.create("/elsewhere", b"", &open())).await.unwrap();
    within("create c", writer.create("/pr/c", b"", &open())).await.unwrap();

    let mut got = Vec::new();
    for i in 0..7 {
        got.push(seen(&next_persistent(&format!("recursive event {i}"), &mut w).await));
    }
    use zk::EventType::*;
    // In order, it stays after firing, and never NodeChildrenChanged (recursive mode).
    assert_eq!(
        got,
        [
            node_event(NodeCreated, "/pr/a"),
            node_event(NodeDataChanged, "/pr/a"),
            node_event(NodeCreated, "/pr/a/b"),
            node_event(NodeDataChanged, "/pr/a"),
            node_event(NodeDeleted, "/pr/a/b"),
            node_event(NodeDataChanged, "/pr"),
            node_event(NodeCreated, "/pr/c"),
        ]
    );

    // A persistent (non-recursive) watch also sees children changes of its node.
    let mut p = within("addWatch persistent", c.watch("/pr/c", zk::AddWatchMode::Persistent)).await.unwrap();
    within("child of c", writer.create("/pr/c/x", b"", &open())).await.unwrap();
    within("set c", writer.set_data("/pr/c", b"c", None)).await.unwrap();
    assert_eq!(seen(&next_persistent("persistent 1", &mut p).await), node_event(NodeChildrenChanged, "/pr/c"));
    assert_eq!(seen(&next_persistent("persistent 2", &mut p).await), node_event(NodeDataChanged, "/pr/c"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_commits_all_or_nothing() {
    let herd = Herd::start();
    let c = connect(&herd).await;
    within("create", c.create("/m", b"", &open())).await.unwrap();
    within("old", c.create("/m/old", b"o", &open())).await.unwrap();
    within("upd", c.create("/m/upd", b"u", &open())).await.unwrap();

    let mut w = c.new_multi_writer();
    w.add_create("/m/new", b"n", &open()).unwrap();
    w.add_set_data("/m/upd", b"u2", Some(0)).unwrap();
    w.add_check_version("/m/upd", 1).unwrap(); // sees the set_data before it
    w.add_delete("/m/old", Some(0)).unwrap();
    let results = within("multi", w.commit()).await.expect("multi commits");
    assert_eq!(results.len(), 4);
    let zxid = match &results[0] {
        zk::MultiWriteResult::Create { path, stat } => {
            assert_eq!(path, "/m/new");
            stat.czxid
        }
        other => panic!("expected a create result, got {other:?}"),
    };
    match &results[1] {
        zk::MultiWriteResult::SetData { stat } => {
            assert_eq!(stat.version, 1);
            assert_eq!(stat.mzxid, zxid, "all sub-ops share one zxid");
        }
        other => panic!("expected a set_data result, got {other:?}"),
    }
    assert_eq!(results[2], zk::MultiWriteResult::Check);
    assert_eq!(results[3], zk::MultiWriteResult::Delete);
    assert_eq!(within("get new", c.get_data("/m/new")).await.unwrap().0, b"n");
    assert_eq!(within("old gone", c.check_stat("/m/old")).await.unwrap(), None);

    // A failing sub-op: the whole multi fails with its index and error, nothing is applied.
    let before = within("stat", c.check_stat("/m")).await.unwrap().unwrap();
    let mut w = c.new_multi_writer();
    w.add_create("/m/x", b"x", &open()).unwrap();
    w.add_set_data("/m/upd", b"changed", None).unwrap();
    w.add_create("/m/new", b"", &open()).unwrap(); // exists
    w.add_delete("/m/upd", None).unwrap();
    let err = within("failing multi", w.commit()).await.unwrap_err();
    assert_eq!(err, zk::MultiWriteError::OperationFailed { index: 2, source: zk::Error::NodeExists });
    assert_eq!(within("x absent", c.check_stat("/m/x")).await.unwrap(), None);
    let (data, st) = within("upd", c.get_data("/m/upd")).await.unwrap();
    assert_eq!((data.as_slice(), st.version), (&b"u2"[..], 1));
    assert_eq!(within("stat", c.check_stat("/m")).await.unwrap().unwrap(), before);

    // A failed version check.
    let mut w = c.new_multi_writer();
    w.add_check_version("/m/upd", 0).unwrap();
    w.add_create("/m/y", b"", &open()).unwrap();
    assert_eq!(
        within("check fails", w.commit()).await.unwrap_err(),
        zk::MultiWriteError::OperationFailed { index: 0, source: zk::Error::BadVersion }
    );
    assert_eq!(within("y absent", c.check_stat("/m/y")).await.unwrap(), None);

    // multiRead
    let mut r = c.new_multi_reader();
    r.add_get_data("/m/new").unwrap();
    r.add_get_children("/m").unwrap();
    r.add_get_data("/m/missing").unwrap();
    let got = within("multiRead", r.commit()).await.unwrap();
    assert_eq!(got.len(), 3);
    assert!(matches!(&got[0], zk::MultiReadResult::Data { data, .. } if data == b"n"));
    assert!(matches!(&got[1], zk::MultiReadResult::Children { children } if children.len() == 2));
    assert!(matches!(&got[2], zk::MultiReadResult::Error { err: zk::Error::NoNode }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_acl_and_auth() {
    let herd = Herd::start();
    let bob = connect_with(&herd, zk::Client::connector().with_auth("digest", BOB_AUTH)).await;
    let anon = connect(&herd).await;
    let alice = connect(&herd).await;
    within("alice auth", alice.auth("digest", ALICE_AUTH)).await.unwrap();

    let users = within("whoAmI", bob.list_auth_users()).await.unwrap();
    assert!(users.contains(&zk::AuthUser::new("digest", "bob")), "whoAmI: {users:?}");

    // creator_all: the server stores bob's digest id
    let creator = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    within("create private", bob.create("/private", b"secret", &creator)).await.unwrap();
    let (acl, _) = within("get_acl", bob.get_acl("/private")).await.unwrap();
    assert_eq!(acl.len(), 1);
    assert_eq!((acl[0].scheme(), acl[0].id()), ("digest", BOB_DIGEST_ID));
    assert_eq!(acl[0].permission(), zk::Permission::ALL);
    assert_eq!(within("bob reads", bob.get_data("/private")).await.unwrap().0, b"secret");

    // the anonymous client and another user are refused, and change nothing
    for (who, c) in [("anon", &anon), ("alice", &alice)] {
        assert_eq!(within(who, c.get_data("/private")).await.unwrap_err(), zk::Error::NoAuth, "{who} read");
        assert_eq!(
            within(who, c.set_data("/private", b"x", None)).await.unwrap_err(),
            zk::Error::NoAuth,
            "{who} write"
        );
        assert_eq!(
            within(who, c.create("/private/kid", b"", &open())).await.unwrap_err(),
            zk::Error::NoAuth,
            "{who} create"
        );
        // exists of a node that exists needs READ too (3.8); a missing one needs nothing
        assert_eq!(within(who, c.check_stat("/private")).await.unwrap_err(), zk::Error::NoAuth, "{who} exists");
        assert_eq!(within(who, c.check_stat("/private/none")).await.unwrap(), None);
        assert_eq!(within(who, c.get_acl("/private")).await.unwrap_err(), zk::Error::NoAuth, "{who} getACL");
    }
    assert_eq!(within("unchanged", bob.get_data("/private")).await.unwrap().1.version, 0);

    // an explicit digest ACL: read for anyone, everything for bob
    let acls = [
        zk::Acl::new(zk::Permission::READ, zk::AuthId::anyone()),
        zk::Acl::new(zk::Permission::ALL, zk::AuthId::new("digest", BOB_DIGEST_ID)),
    ];
    let explicit = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&acls));
    within("create shared", anon.create("/shared", b"s", &explicit)).await.unwrap();
    assert_eq!(within("anon read", anon.get_data("/shared")).await.unwrap().0, b"s");
    // getACL without ADMIN masks digest credentials; with ADMIN it shows them
    let (seen_by_anon, _) = within("anon get_acl", anon.get_acl("/shared")).await.unwrap();
    let ids: Vec<(&str, &str)> = seen_by_anon.iter().map(|a| (a.scheme(), a.id())).collect();
    assert_eq!(ids, [("world", "anyone"), ("digest", "bob:x")]);
    let (seen_by_bob, _) = within("bob get_acl", bob.get_acl("/shared")).await.unwrap();
    assert_eq!(seen_by_bob[1].id(), BOB_DIGEST_ID);
    assert_eq!(within("anon write", anon.set_data("/shared", b"x", None)).await.unwrap_err(), zk::Error::NoAuth);
    within("bob write", bob.set_data("/shared", b"b", None)).await.unwrap();
    // a second connection with the same credentials has the same rights
    let bob2 = connect(&herd).await;
    within("bob2 auth", bob2.auth("digest", BOB_AUTH)).await.unwrap();
    within("bob2 write", bob2.set_data("/shared", b"b2", Some(1))).await.unwrap();

    // set_acl: ADMIN is needed, aversion counts
    let open_acl = [zk::Acl::new(zk::Permission::ALL, zk::AuthId::anyone())];
    assert_eq!(within("anon set_acl", anon.set_acl("/shared", &open_acl, None)).await.unwrap_err(), zk::Error::NoAuth);
    let st = within("bob set_acl", bob.set_acl("/shared", &open_acl, Some(0))).await.unwrap();
    assert_eq!(st.aversion, 1);
    within("anon write now", anon.set_data("/shared", b"a", None)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill9_and_restart() {
    let mut herd = Herd::start();
    let c = connect(&herd).await;
    within("root", c.create("/d", b"", &open())).await.unwrap();

    // Writes acknowledged one by one.
    for i in 0..50 {
        within("create", c.create(&format!("/d/n{i:03}"), format!("v{i}").as_bytes(), &open())).await.unwrap();
    }
    for i in 0..10 {
        within("set", c.set_data("/d/n000", format!("s{i}").as_bytes(), Some(i))).await.unwrap();
    }
    for i in (1..50).step_by(2) {
        within("delete", c.delete(&format!("/d/n{i:03}"), None)).await.unwrap();
    }
    let (seq_st, seq) =
        within("seq", c.create("/d/q-", b"q", &mode(zk::CreateMode::PersistentSequential))).await.unwrap();

    // A pipelined batch, still partly in flight when the server dies.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..400 {
        let c = c.clone();
        tasks.spawn(async move {
            let path = format!("/d/p{i:04}");
            let r = c.create(&path, path.as_bytes(), &open()).await;
            (path, r.map(|_| ()))
        });
    }
    let mut acked = Vec::new();
    while acked.len() < 100 {
        match within("pipelined acks", tasks.join_next()).await {
            Some(Ok((path, Ok(())))) => acked.push(path),
            Some(Ok((path, Err(e)))) => panic!("{path} failed before the crash: {e}"),
            Some(Err(e)) => panic!("create task: {e}"),
            None => break,
        }
    }
    tokio::task::block_in_place(|| herd.kill9());
    // Successes already received came from the server before it died: acknowledged too.
    while let Some(done) = tasks.try_join_next() {
        if let Ok((path, Ok(()))) = done {
            acked.push(path);
        }
    }
    eprintln!("{} of 400 pipelined creates acknowledged at the kill", acked.len());
    assert!(acked.len() >= 100);
    drop(c);
    tasks.abort_all();

    tokio::task::block_in_place(|| herd.restart());
    let r = connect(&herd).await;
    for i in 0..50 {
        let path = format!("/d/n{i:03}");
        let got = within("after restart", r.get_data(&path)).await;
        if i % 2 == 1 {
            assert_eq!(got.unwrap_err(), zk::Error::NoNode, "{path} was deleted");
        } else if i == 0 {
            let (data, st) = got.unwrap();
            assert_eq!((data.as_slice(), st.version), (&b"s9"[..], 10));
        } else {
            assert_eq!(got.unwrap().0, format!("v{i}").into_bytes(), "{path}");
        }
    }
    let (data, st) = within("seq", r.get_data(&format!("/d/q-{seq}"))).await.unwrap();
    assert_eq!((data.as_slice(), st), (&b"q"[..], seq_st));
    let kids = within("children", r.list_children("/d")).await.unwrap();
    let missing: Vec<&String> = acked.iter().filter(|p| !kids.contains(&p[3..].to_string())).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged creates lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    for p in acked.iter().step_by(10) {
        assert_eq!(within("acked data", r.get_data(p)).await.unwrap().0, p.as_bytes());
    }
    // The restarted server goes on with larger zxids.
    let (st, _) = within("new write", r.create("/after", b"", &open())).await.unwrap();
    assert!(st.czxid > seq_st.czxid);
    let (_, seq2) =
        within("seq again", r.create("/d/q-", b"", &mode(zk::CreateMode::PersistentSequential))).await.unwrap();
    assert!(seq2 > seq, "the sequence counter survived the restart");
}
