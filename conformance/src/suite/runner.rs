//! Runs a [`Scenario`] against a [`Target`] and says which step failed and why.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::client::{Client, ClientError};
use super::scenario::{
    Call, Check, ConnectExpect, EventExpect, Expect, Field, MultiExpect, Operand, Password, Scenario, Step, TextExpect,
};
use super::target::Target;
use super::wire::{self, Body, Connect, Event, MultiItem, Op, Reply, Stat};

/// How long an expected event may take to arrive.
const EVENT_WAIT: Duration = Duration::from_secs(5);
/// How long "no event" is watched for.
const QUIET_WAIT: Duration = Duration::from_millis(300);
/// Sessions are pinged this often while a scenario waits (a third of the shortest timeout).
const PING_EVERY: Duration = Duration::from_millis(300);
/// How long a refused handshake may take to be followed by the close.
const REFUSED_CLOSE_WAIT: Duration = Duration::from_secs(5);

/// How one scenario ended on one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every step held.
    Pass,
    /// A step did not hold: its index and why.
    Fail(String),
    /// The target cannot run it (too few servers).
    NotApplicable,
}

/// A scenario's clients, saved replies and root.
struct Run<'t> {
    t: &'t mut dyn Target,
    root: String,
    clients: BTreeMap<&'static str, Client>,
    silent: BTreeSet<&'static str>,
    saved: HashMap<&'static str, Saved>,
    last_ping: Instant,
}

/// A reply kept by `save`, with its path already made scenario-relative.
struct Saved {
    reply: Reply,
    path: Option<String>,
}

/// Runs `sc` under the fresh root node `root` (e.g. `/conformance-17`).
pub fn run(t: &mut dyn Target, sc: &Scenario, root: &str) -> Outcome {
    if t.servers() < sc.needs.servers {
        return Outcome::NotApplicable;
    }
    let mut run = Run {
        t,
        root: root.to_string(),
        clients: BTreeMap::new(),
        silent: BTreeSet::new(),
        saved: HashMap::new(),
        last_ping: Instant::now(),
    };
    let result = run.setup().and_then(|()| {
        for (i, step) in sc.steps.iter().enumerate() {
            run.step(step).map_err(|e| format!("step {} ({}): {e}", i + 1, describe(step)))?;
        }
        Ok(())
    });
    run.teardown();
    match result {
        Ok(()) => Outcome::Pass,
        Err(e) => Outcome::Fail(e),
    }
}

fn describe(step: &Step) -> String {
    let s = format!("{step:?}");
    if s.len() > 160 {
        format!("{}…", &s[..s.char_indices().nth(160).map(|(i, _)| i).unwrap_or(s.len())])
    } else {
        s
    }
}

/// The handshake of a new session asking for `timeout_ms`, as ZooKeeper's clients send it.
pub fn new_session(timeout_ms: i32) -> Connect {
    Connect { last_zxid_seen: 0, timeout_ms, session_id: 0, passwd: vec![0; 16], read_only: Some(false) }
}

impl Run<'_> {
    /// Creates the scenario's root with a session of its own.
    fn setup(&mut self) -> Result<(), String> {
        let mut admin = Client::connect(self.t, 0, &new_session(super::scenario::DEFAULT_TIMEOUT_MS))
            .map_err(|e| format!("setup: connect: {e}"))?;
        let create = super::scenario::create(&self.root, b"");
        let r = admin.call(self.t, &create).map_err(|e| format!("setup: create {}: {e}", self.root))?;
        let _ = admin.call(self.t, &Op::CloseSession);
        self.t.close(admin.link);
        if r.err != 0 {
            return Err(format!("setup: create {} answered {}", self.root, r.err));
        }
        Ok(())
    }

    fn teardown(&mut self) {
        let names: Vec<_> = self.clients.keys().copied().collect();
        for n in names {
            if let Some(mut c) = self.clients.remove(n) {
                if !c.closed {
                    if let Ok(xid) = c.send(self.t, &Op::CloseSession) {
                        let _ = c.wait_reply(self.t, xid, Duration::from_secs(2));
                    }
                }
                self.t.close(c.link);
            }
        }
    }

    /// A scenario path as the server sees it.
    fn map_path(&self, p: &str) -> Result<String, String> {
        if let Some(rest) = p.strip_prefix('^') {
            return Ok(rest.to_string());
        }
        if let Some(rest) = p.strip_prefix('$') {
            let (name, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let saved = self.saved.get(name).ok_or_else(|| format!("nothing saved as {name}"))?;
            let path = saved.path.as_ref().ok_or_else(|| format!("{name} saved no path"))?;
            return self.map_path(&format!("{path}{tail}"));
        }
        if !p.starts_with('/') || p.starts_with("/zookeeper") {
            return Ok(p.to_string());
        }
        if p == "/" {
            return Ok(self.root.clone());
        }
        Ok(format!("{}{p}", self.root))
    }

    /// A server path as the scenario sees it.
    fn unmap_path(&self, p: &str) -> String {
        unmap_path(p, &self.root)
    }

    fn map_op(&self, op: &Op) -> Result<Op, String> {
        op.try_map_paths(&|p| self.map_path(p))
    }

    fn client(&mut self, name: &str) -> Result<&mut Client, String> {
        self.clients.get_mut(name).ok_or_else(|| format!("no client {name}"))
    }

    /// Pings every session that should stay alive, at most every [`PING_EVERY`].
    fn keep_alive(&mut self, force: bool) {
        if !force && self.last_ping.elapsed() < PING_EVERY && self.t.real_time() {
            return;
        }
        self.last_ping = Instant::now();
        for (name, c) in self.clients.iter_mut() {
            if !c.closed && !self.silent.contains(name) {
                let _ = c.keep_alive(self.t);
            }
        }
    }

    /// Lets `d` pass in slices, pinging live sessions between them.
    fn pass_time(&mut self, d: Duration) {
        let slice = PING_EVERY;
        let mut left = d;
        while !left.is_zero() {
            self.keep_alive(true);
            let s = left.min(slice);
            self.t.elapse(s);
            left -= s;
        }
        self.keep_alive(true);
    }

    fn step(&mut self, step: &Step) -> Result<(), String> {
        match step {
            Step::Connect { client, server, timeout_ms, expect } => {
                let server = server % self.t.servers();
                let c = Client::connect(self.t, server, &new_session(*timeout_ms)).map_err(|e| e.to_string())?;
                self.connected(client, c, expect)
            }
            Step::Resume { client, from, server, password, expect } => {
                let server = server % self.t.servers();
                let f = self.client(from)?;
                let mut passwd = f.connected.passwd.clone();
                if *password == Password::Wrong {
                    if let Some(b) = passwd.first_mut() {
                        *b ^= 0x5a;
                    }
                }
                let req = Connect {
                    last_zxid_seen: f.last_zxid,
                    timeout_ms: f.connected.timeout_ms,
                    session_id: f.session_id(),
                    passwd,
                    read_only: Some(false),
                };
                let c = Client::connect(self.t, server, &req).map_err(|e| e.to_string())?;
                self.connected(client, c, expect)
            }
            Step::Calls { client, calls } => self.calls(client, calls),
            Step::Events { client, events } => {
                for (i, want) in events.iter().enumerate() {
                    let got = self.next_event(client, EVENT_WAIT)?;
                    match got {
                        None => return Err(format!("event {} {want:?} did not arrive", i + 1)),
                        Some((_, e)) => self.check_event(&e, want)?,
                    }
                }
                Ok(())
            }
            Step::NoEvents { client } => match self.next_event(client, QUIET_WAIT)? {
                None => Ok(()),
                Some((_, e)) => Err(format!("unexpected event {e:?}")),
            },
            Step::Wait { ms } => {
                self.pass_time(Duration::from_millis(*ms));
                Ok(())
            }
            Step::StopPinging { client } => {
                self.client(client)?;
                self.silent.insert(client);
                Ok(())
            }
            Step::Disconnect { client } => {
                let c = self.clients.get_mut(client).ok_or_else(|| format!("no client {client}"))?;
                c.disconnect(self.t);
                Ok(())
            }
            Step::ExpectClosed { client, within_ms } => {
                let start = Instant::now();
                let limit = Duration::from_millis(*within_ms);
                let slice = Duration::from_millis(100);
                // Simulated time passes only in the waits: count them there.
                let mut waited = Duration::ZERO;
                loop {
                    let c = self.clients.get_mut(client).ok_or_else(|| format!("no client {client}"))?;
                    if c.await_close(self.t, slice) {
                        return Ok(());
                    }
                    waited += slice;
                    let over = if self.t.real_time() { start.elapsed() > limit } else { waited > limit };
                    if over {
                        return Err(format!("still open after {within_ms} ms"));
                    }
                    self.keep_alive(false);
                }
            }
            Step::SendRaw { client, bytes } => {
                let c = self.clients.get_mut(client).ok_or_else(|| format!("no client {client}"))?;
                c.send_raw(self.t, bytes).map_err(|e| e.to_string())
            }
            Step::FourLetter { server, word, expect } => {
                let server = server % self.t.servers();
                let answer = self.t.four_letter(server, word).map_err(|e| e.to_string())?;
                check_text(&answer, expect)
            }
            Step::Kill { server } => {
                let server = server % self.t.servers();
                self.t.kill(server).map_err(|e| e.to_string())?;
                // The rest of an ensemble may be electing: wait until they serve again.
                self.t.wait_serving().map_err(|e| e.to_string())
            }
            Step::Restart { server } => {
                let server = server % self.t.servers();
                self.t.restart(server).map_err(|e| e.to_string())
            }
        }
    }

    fn connected(&mut self, name: &'static str, mut c: Client, expect: &ConnectExpect) -> Result<(), String> {
        let got = c.connected.clone();
        match expect {
            ConnectExpect::Refused => {
                if got.timeout_ms != 0 || got.session_id != 0 {
                    return Err(format!("handshake accepted ({got:?}), expected refused"));
                }
                if !c.await_close(self.t, REFUSED_CLOSE_WAIT) {
                    return Err("refused handshake not followed by a close".into());
                }
            }
            ConnectExpect::Session { timeout_ms } => {
                if got.session_id == 0 || got.timeout_ms == 0 {
                    return Err(format!("handshake refused ({got:?})"));
                }
                if let Some(want) = timeout_ms {
                    if got.timeout_ms != *want {
                        return Err(format!("negotiated timeout {} ms, expected {want}", got.timeout_ms));
                    }
                }
                if self.t.servers() > 1 {
                    // The root was created through server 0; a follower may not have it yet.
                    let sync = Op::Sync { path: self.root.clone() };
                    c.call(self.t, &sync).map_err(|e| format!("sync after connect: {e}"))?;
                }
            }
        }
        if let Some(old) = self.clients.insert(name, c) {
            self.t.close(old.link);
        }
        self.silent.remove(name);
        Ok(())
    }

    fn next_event(&mut self, client: &str, wait: Duration) -> Result<Option<(u64, Event)>, String> {
        let start = Instant::now();
        let slice = Duration::from_millis(100);
        let mut waited = Duration::ZERO;
        loop {
            let c = self.clients.get_mut(client).ok_or_else(|| format!("no client {client}"))?;
            if let Some(e) = c.next_event(self.t, slice).map_err(|e| e.to_string())? {
                return Ok(Some(e));
            }
            waited += slice;
            let over = if self.t.real_time() { start.elapsed() >= wait } else { waited >= wait };
            if over {
                return Ok(None);
            }
            self.keep_alive(false);
        }
    }

    fn check_event(&self, e: &Event, want: &EventExpect) -> Result<(), String> {
        let path = self.unmap_path(&e.path);
        if e.kind != want.kind || path != want.path {
            return Err(format!("event {} {path} (state {}), expected {} {}", e.kind, e.state, want.kind, want.path));
        }
        Ok(())
    }

    fn calls(&mut self, client: &'static str, calls: &[Call]) -> Result<(), String> {
        let ops: Vec<Op> = calls.iter().map(|c| self.map_op(&c.op)).collect::<Result<_, _>>()?;
        self.keep_alive(false);
        let c = self.clients.get_mut(client).ok_or_else(|| format!("no client {client}"))?;
        let mut xids = Vec::new();
        for op in &ops {
            match c.send(self.t, op) {
                Ok(x) => xids.push(Some(x)),
                Err(ClientError::Closed) => xids.push(None),
                Err(e) => return Err(e.to_string()),
            }
        }
        for (i, (call, xid)) in calls.iter().zip(xids).enumerate() {
            let which = if calls.len() > 1 { format!("call {}: ", i + 1) } else { String::new() };
            let c = self.clients.get_mut(client).ok_or_else(|| format!("no client {client}"))?;
            let before = c.replies_seen();
            let reply = match xid {
                Some(x) => c.wait_reply(self.t, x, super::client::REPLY_WAIT),
                None => Err(ClientError::Closed),
            };
            // Events that arrived after the previous reply and before this one.
            let mut early = Vec::new();
            if call.events_before.is_some() {
                while c.queued_events() > 0 {
                    match c.next_event(self.t, Duration::ZERO) {
                        Ok(Some((seen, e))) if seen <= before => early.push(e),
                        Ok(Some((_, e))) => {
                            // It came after the reply; put nothing back, report it.
                            return Err(format!("{which}event {e:?} arrived after the reply"));
                        }
                        _ => break,
                    }
                }
            }
            let reply = match (reply, &call.expect) {
                (Err(ClientError::Closed), Expect::Closed) => continue,
                (Ok(r), Expect::Closed) => {
                    return Err(format!("{which}answered {r:?}, expected the connection closed"))
                }
                (Err(e), _) => return Err(format!("{which}{e}")),
                (Ok(r), _) => r,
            };
            self.check_reply(&reply, call).map_err(|e| format!("{which}{e}"))?;
            if let Some(want) = &call.events_before {
                if early.len() != want.len() {
                    return Err(format!("{which}events before the reply {early:?}, expected {want:?}"));
                }
                for (e, w) in early.iter().zip(want) {
                    self.check_event(e, w).map_err(|e| format!("{which}{e}"))?;
                }
            }
            if let Some(name) = call.save {
                let path = match &reply.body {
                    Body::Path(p) | Body::Created { path: p, .. } => Some(self.unmap_path(p)),
                    _ => match &call.op {
                        Op::Create { .. } => None,
                        op => op_path(op).map(str::to_string),
                    },
                };
                self.saved.insert(name, Saved { reply, path });
            }
        }
        Ok(())
    }

    fn check_reply(&self, r: &Reply, call: &Call) -> Result<(), String> {
        let name = |code: i32| format!("{code} {}", wire::error_name(code));
        match &call.expect {
            Expect::Err(code) if r.err != *code => {
                return Err(format!("answered {} ({:?}), expected {}", name(r.err), r.body, name(*code)));
            }
            Expect::Err(_) | Expect::Multi(_) => {}
            _ if r.err != 0 => return Err(format!("answered {}, expected success ({:?})", name(r.err), call.expect)),
            _ => {}
        }
        match (&call.expect, &r.body) {
            (Expect::Ok | Expect::Err(_) | Expect::Closed, _) => {}
            (Expect::Path(p), Body::Path(got) | Body::Created { path: got, .. }) => {
                let got = self.unmap_path(got);
                if &got != p {
                    return Err(format!("path {got}, expected {p}"));
                }
            }
            (Expect::Data(d), Body::Data { data, .. }) => {
                let got = data.clone().unwrap_or_default();
                if &got != d {
                    return Err(format!("data {:?}, expected {:?}", show(&got), show(d)));
                }
            }
            (Expect::NoData, Body::Data { data, .. }) => {
                if data.as_ref().is_some_and(|d| !d.is_empty()) {
                    return Err(format!("data {data:?}, expected none"));
                }
            }
            (Expect::Children(want), Body::Children(got) | Body::Children2 { children: got, .. }) => {
                let mut got = got.clone();
                got.sort();
                let mut want = want.clone();
                want.sort();
                if got != want {
                    return Err(format!("children {got:?}, expected {want:?}"));
                }
            }
            (Expect::Paths(want), Body::Children(got)) => {
                let mut got: Vec<String> = got.iter().map(|p| self.unmap_path(p)).collect();
                got.sort();
                let mut want = want.clone();
                want.sort();
                if got != want {
                    return Err(format!("paths {got:?}, expected {want:?}"));
                }
            }
            (Expect::Acl(want), Body::Acl { acl, .. }) => {
                if acl != want {
                    return Err(format!("ACL {acl:?}, expected {want:?}"));
                }
            }
            (Expect::Count(n), Body::Count(got)) => {
                if got != n {
                    return Err(format!("count {got}, expected {n}"));
                }
            }
            (Expect::WhoAmI(want), Body::WhoAmI(got)) => {
                let mut got = got.clone();
                got.sort();
                let mut want = want.clone();
                want.sort();
                if got != want {
                    return Err(format!("whoAmI {got:?}, expected {want:?}"));
                }
            }
            (Expect::Multi(want), body) => {
                let items = match body {
                    Body::Multi(items) => items.as_slice(),
                    Body::Empty => &[],
                    other => return Err(format!("multi answered {other:?} (err {})", r.err)),
                };
                if items.len() != want.len() {
                    return Err(format!("multi results {items:?} (err {}), expected {want:?}", r.err));
                }
                for (i, (got, w)) in items.iter().zip(want).enumerate() {
                    let ok = match (got, w) {
                        (MultiItem::Ok(_), MultiExpect::Ok) => true,
                        (MultiItem::Ok(Body::Path(p) | Body::Created { path: p, .. }), MultiExpect::Path(w)) => {
                            &self.unmap_path(p) == w
                        }
                        (MultiItem::Err(c), MultiExpect::Err(w)) => c == w,
                        _ => false,
                    };
                    if !ok {
                        return Err(format!("multi result {} is {got:?}, expected {w:?}", i + 1));
                    }
                }
            }
            (want, got) => return Err(format!("reply {got:?}, expected {want:?}")),
        }
        for check in &call.checks {
            self.check(r, check)?;
        }
        Ok(())
    }

    fn value(&self, r: &Reply, field: Field) -> Result<i64, String> {
        if field == Field::ReplyZxid {
            return Ok(r.zxid);
        }
        let stat = stat_of(&r.body).ok_or_else(|| format!("reply has no Stat for {field:?}"))?;
        Ok(stat_field(&stat, field))
    }

    fn check(&self, r: &Reply, check: &Check) -> Result<(), String> {
        let a = self.value(r, check.field)?;
        let b = match &check.to {
            super::scenario::Operand::Const(n) => *n,
            Operand::This(f) => self.value(r, *f)?,
            Operand::Saved(name, f) => {
                let s = self.saved.get(name).ok_or_else(|| format!("nothing saved as {name}"))?;
                self.value(&s.reply, *f)?
            }
            Operand::Session(c) => {
                self.clients.get(c).map(|c| c.session_id()).ok_or_else(|| format!("no client {c}"))?
            }
        };
        if !check.rel.holds(a, b) {
            return Err(format!("{:?} is {a}, expected {:?} {:?} = {b}", check.field, check.rel, check.to));
        }
        Ok(())
    }
}

fn show(d: &[u8]) -> String {
    if d.len() > 40 {
        format!("{} bytes", d.len())
    } else {
        String::from_utf8_lossy(d).into_owned()
    }
}

/// A server path as seen from under `root` (`root` itself is `/`); paths outside it stay.
pub fn unmap_path(p: &str, root: &str) -> String {
    match p.strip_prefix(root) {
        Some("") => "/".to_string(),
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => p.to_string(),
    }
}

/// The Stat a reply body carries, if any.
pub fn stat_of(b: &Body) -> Option<Stat> {
    match b {
        Body::Created { stat, .. }
        | Body::Stat(stat)
        | Body::Data { stat, .. }
        | Body::Acl { stat, .. }
        | Body::Children2 { stat, .. } => Some(*stat),
        _ => None,
    }
}

/// One Stat field as a number.
pub fn stat_field(s: &Stat, f: Field) -> i64 {
    match f {
        Field::Czxid => s.czxid,
        Field::Mzxid => s.mzxid,
        Field::Pzxid => s.pzxid,
        Field::Ctime => s.ctime,
        Field::Mtime => s.mtime,
        Field::Version => s.version.into(),
        Field::Cversion => s.cversion.into(),
        Field::Aversion => s.aversion.into(),
        Field::EphemeralOwner => s.ephemeral_owner,
        Field::DataLength => s.data_length.into(),
        Field::NumChildren => s.num_children.into(),
        Field::ReplyZxid => 0,
    }
}

/// The path an op addresses (scenario-relative), if it has one.
fn op_path(op: &Op) -> Option<&str> {
    match op {
        Op::Create { path, .. }
        | Op::Delete { path, .. }
        | Op::Exists { path, .. }
        | Op::GetData { path, .. }
        | Op::SetData { path, .. }
        | Op::GetAcl { path }
        | Op::SetAcl { path, .. }
        | Op::GetChildren { path, .. }
        | Op::GetChildren2 { path, .. }
        | Op::Sync { path }
        | Op::Check { path, .. } => Some(path),
        _ => None,
    }
}

fn check_text(answer: &str, expect: &TextExpect) -> Result<(), String> {
    match expect {
        TextExpect::Exactly(s) => {
            if answer != s {
                return Err(format!("answered {answer:?}, expected {s:?}"));
            }
        }
        TextExpect::LinesStartingWith(starts) => {
            for s in starts {
                if !answer.lines().any(|l| l.starts_with(s.as_str())) {
                    return Err(format!("no line starts with {s:?} in {answer:?}"));
                }
            }
        }
        TextExpect::Contains(parts) => {
            for s in parts {
                if !answer.contains(s.as_str()) {
                    return Err(format!("{s:?} not in {answer:?}"));
                }
            }
        }
    }
    Ok(())
}
