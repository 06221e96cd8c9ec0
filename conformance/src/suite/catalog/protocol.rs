//! Protocol facts about sessions, zxids, close, pipelining, bad input and the four-letter
//! words, as a raw client sees them.

use crate::suite::scenario::code::*;
use crate::suite::scenario::event::*;
use crate::suite::scenario::Field::*;
use crate::suite::scenario::Operand::Saved;
use crate::suite::scenario::*;
use crate::suite::target::config::{JUTE_MAXBUFFER, MAX_SESSION_MS, MIN_SESSION_MS};
use crate::suite::wire::{encode_request, Op};

/// A jute int, big-endian.
fn int(n: i32) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

/// A jute string: its length, then its bytes.
fn ustring(s: &str) -> Vec<u8> {
    [int(s.len() as i32), s.as_bytes().to_vec()].concat()
}

pub fn scenarios() -> Vec<Scenario> {
    let mut v = Vec::new();
    v.extend(sessions());
    v.extend(requests());
    v.extend(four_letter_words());
    v
}

/// Close, resume and the zxids sessions and their requests take.
fn sessions() -> Vec<Scenario> {
    let mut v = Vec::new();

    // Sent as raw frames, replies unread: what an ensemble member answers to requests behind
    // a close depends on timing (a read may be answered, a write refused or not answered).
    // Raw frames skip the path mapping, so the create's path is absolute; and a reply to an
    // xid the client did not send also ends expect_closed, so the checks after it are the test.
    let mut s = Script::new("session", "a write pipelined after closeSession is not applied");
    s.connect("a");
    s.connect("b");
    s.call("a", ephemeral("/e")).ok();
    let frames = [encode_request(1000, &Op::CloseSession), encode_request(1001, &create("/late-after-close", b""))];
    s.send_raw("a", &frames.concat());
    s.expect_closed("a", 5000);
    s.call("b", exists("^/late-after-close", false)).err(NO_NODE);
    s.call("b", exists("/e", false)).err(NO_NODE);
    s.resume_refused("again", "a", Password::Right);
    v.push(s.done());

    let mut s = Script::new("session", "closeSession twice in one pipeline: the session ends, the server carries on");
    s.connect("a");
    s.connect("b");
    s.call("a", ephemeral("/e")).ok();
    s.send_raw("a", &[encode_request(1000, &Op::CloseSession), encode_request(1001, &Op::CloseSession)].concat());
    s.expect_closed("a", 5000);
    s.call("b", exists("/e", false)).err(NO_NODE);
    s.resume_refused("again", "a", Password::Right);
    s.call("b", create("/after", b"")).ok();
    v.push(s.done());

    let mut s = Script::new("session", "a ping after closeSession gets no answer");
    s.connect("a");
    s.call("a", Op::CloseSession).ok();
    s.call("a", Op::Ping).expect(Expect::Closed);
    v.push(s.done());

    let mut s = Script::new("session", "opening and closing a session each take a zxid");
    s.connect("a");
    s.call("a", create("/x", b"")).ok().save("x");
    s.connect("b");
    s.call("a", exists("/", false)).ok().stat(ReplyZxid, Rel::Gt, Saved("x", ReplyZxid)).save("opened");
    s.call("b", Op::CloseSession).ok().stat(ReplyZxid, Rel::Gt, Saved("opened", ReplyZxid)).save("closed");
    s.call("a", exists("/", false)).ok().stat(ReplyZxid, Rel::Eq, Saved("closed", ReplyZxid));
    s.call("a", create("/y", b"")).ok().stat(ReplyZxid, Rel::Gt, Saved("closed", ReplyZxid));
    v.push(s.done());

    let mut s = Script::new("session", "failed reads and the rarer reads take no zxid");
    s.connect("a");
    s.call("a", create("/a", b"")).ok().save("a");
    let reads = [
        (children2("/", false), Expect::Ok),
        (get_acl("/"), Expect::Ok),
        (Op::GetAllChildrenNumber { path: "/".into() }, Expect::Count(1)),
        (Op::GetEphemerals { prefix: "/".into() }, Expect::Paths(vec![])),
        (Op::WhoAmI, Expect::Ok),
        (Op::MultiRead(vec![get("/a", false), children("/", false)]), Expect::Multi(vec![MultiExpect::Ok; 2])),
        (Op::CheckWatches { path: "/a".into(), kind: 3 }, Expect::Err(NO_WATCHER)),
        (exists("/missing", false), Expect::Err(NO_NODE)),
        (get("/missing", false), Expect::Err(NO_NODE)),
        (children("/missing", false), Expect::Err(NO_NODE)),
        (get_acl("/missing"), Expect::Err(NO_NODE)),
    ];
    for (op, want) in reads {
        s.call("a", op).expect(want).stat(ReplyZxid, Rel::Eq, Saved("a", ReplyZxid));
    }
    s.call("a", create2("/b", b"")).ok().stat(Czxid, Rel::Gt, Saved("a", ReplyZxid));
    v.push(s.done());

    let mut s = Script::new("session", "writes pipelined before closeSession are all answered and applied");
    s.connect("a");
    s.pipeline();
    s.call("a", create("/a", b"0")).ok();
    s.call("a", set("/a", b"1", 0)).ok();
    s.call("a", ephemeral("/e")).ok();
    s.call("a", Op::CloseSession).ok();
    s.end_pipeline();
    s.connect("b");
    s.call("b", get("/a", false)).data(b"1").stat_is(Version, 1);
    s.call("b", exists("/e", false)).err(NO_NODE);
    v.push(s.done());

    let mut s = Script::new("session", "the timeout bounds themselves are granted as asked");
    let (min, max) = (MIN_SESSION_MS as i32, MAX_SESSION_MS as i32);
    s.connect_negotiating("min", min, min);
    s.connect_negotiating("max", max, max);
    s.connect_negotiating("below", min - 1, min);
    s.connect_negotiating("above", max + 1, max);
    v.push(s.done());

    let mut s = Script::new("session", "a resume takes the session over and closes its old connection");
    s.connect("a");
    s.call("a", create("/z", b"")).ok().save("z");
    s.resume("a2", "a", 0);
    s.expect_closed("a", 5000);
    s.call("a2", exists("/z", false)).ok().stat(ReplyZxid, Rel::Ge, Saved("z", ReplyZxid));
    s.call("a2", create("/z2", b"")).ok().stat(ReplyZxid, Rel::Gt, Saved("z", ReplyZxid));
    v.push(s.done());

    let mut s = Script::new("session", "a connection dropped mid-frame leaves the session and nothing else");
    s.connect("a");
    s.call("a", ephemeral("/e")).ok();
    // The first 30 bytes of a 100-byte create of ^/half, then the connection goes.
    let mut cut = [int(100), int(1), int(1), ustring("/half"), int(50)].concat();
    cut.resize(30, b'x');
    s.send_raw("a", &cut);
    s.disconnect("a");
    s.resume("a2", "a", 0);
    s.call("a2", exists("^/half", false)).err(NO_NODE);
    s.call("a2", exists("/e", false)).ok().stat(EphemeralOwner, Rel::Eq, Operand::Session("a2"));
    v.push(s.done());

    v
}

/// Pipelining, big replies, bad frames and bodies.
fn requests() -> Vec<Scenario> {
    let mut v = Vec::new();

    let mut s = Script::new("crud", "an exists watch on a missing node outlives a failed delete and setData");
    s.connect("w");
    s.connect("b");
    s.call("w", exists("/nx", true)).err(NO_NODE);
    s.call("w", delete("/nx", -1)).err(NO_NODE);
    s.call("w", set("/nx", b"x", -1)).err(NO_NODE);
    s.no_events("w");
    s.call("b", create("/nx", b"")).ok();
    s.events("w", &[(CREATED, "/nx")]);
    s.call("b", delete("/nx", -1)).ok();
    s.no_events("w");
    v.push(s.done());

    let mut s = Script::new("crud", "getData of a node just under 1 MiB comes back whole");
    let size = 1024 * 1024 - 512;
    let payload: Vec<u8> = (0..size).map(|i| (i % 256) as u8).collect();
    s.connect("a");
    s.call("a", create("/big", &payload)).ok();
    s.call("a", get("/big", false)).data(&payload).stat_is(DataLength, size as i64);
    s.call("a", Op::Ping).ok();
    v.push(s.done());

    let mut s = Script::new("crud", "5,000 children in one reply of getChildren and getChildren2");
    let n = 5000;
    s.connect("a");
    s.call("a", create("/p", b"")).ok();
    s.pipeline();
    for i in 0..n {
        s.call("a", create(&format!("/p/child-{i:05}"), b"")).ok();
    }
    s.end_pipeline();
    let names: Vec<String> = (0..n).map(|i| format!("child-{i:05}")).collect();
    s.call("a", children("/p", false)).expect(Expect::Children(names.clone()));
    s.call("a", children2("/p", false)).expect(Expect::Children(names)).stat_is(NumChildren, n.into());
    s.call("a", Op::GetAllChildrenNumber { path: "/p".into() }).expect(Expect::Count(n));
    v.push(s.done());

    let mut s =
        Script::new("crud", "creates and getChildren interleaved in a pipeline: each read sees the writes before it");
    const W: [&str; 2] = ["w0", "w1"];
    s.connect("a");
    s.pipeline();
    let mut names = Vec::new();
    for i in 0..50 {
        names.push(format!("n{i:02}"));
        s.call("a", create(&format!("/n{i:02}"), b"")).ok();
        if i > 0 {
            s.stat(ReplyZxid, Rel::Gt, Saved(W[(i + 1) % 2], ReplyZxid));
        }
        s.save(W[i % 2]);
        s.call("a", children("/", false)).expect(Expect::Children(names.clone())).stat(
            ReplyZxid,
            Rel::Eq,
            Saved(W[i % 2], ReplyZxid),
        );
    }
    s.end_pipeline();
    v.push(s.done());

    let mut s = Script::new("crud", "a length prefix over jute.maxbuffer alone closes the connection");
    s.connect("a");
    s.send_raw("a", &int(JUTE_MAXBUFFER as i32 + 1));
    s.expect_closed("a", 5000);
    s.connect("b");
    s.call("b", exists("/", false)).ok();
    v.push(s.done());

    let mut s = Script::new("crud", "a request of exactly jute.maxbuffer bytes is accepted");
    // Absolute, so the frame's size does not depend on the scenario's root.
    let path = "/maxbuffer-edge";
    // RequestHeader, path, data length, version.
    let data = vec![b'e'; JUTE_MAXBUFFER - 8 - (4 + path.len()) - 4 - 4];
    let abs = format!("^{path}");
    s.connect("a");
    s.call("a", create(&abs, b"")).ok();
    s.call("a", set(&abs, &data, -1)).ok().stat_is(DataLength, data.len() as i64);
    s.call("a", delete(&abs, -1)).ok();
    v.push(s.done());

    let mut s = Script::new("crud", "opcodes 0, 10, 23, 1000 and -5 are Unimplemented, then the connection closes");
    for (client, opcode) in [("op0", 0), ("op10", 10), ("op23", 23), ("op1000", 1000), ("op-5", -5)] {
        s.connect(client);
        s.call(client, Op::Raw { opcode, body: [ustring("/"), int(0)].concat() }).err(UNIMPLEMENTED);
        s.expect_closed(client, 5000);
    }
    s.connect("b");
    s.call("b", exists("/", false)).ok();
    v.push(s.done());

    let mut s = Script::new("crud", "an undecodable write takes a zxid, an undecodable read does not");
    s.connect("a");
    s.call("a", create("/a", b"")).ok().save("a");
    s.call("a", Op::Raw { opcode: 4, body: vec![] }).err(MARSHALLING_ERROR).stat(
        ReplyZxid,
        Rel::Eq,
        Saved("a", ReplyZxid),
    );
    s.call("a", Op::Raw { opcode: 5, body: ustring("/x") })
        .err(MARSHALLING_ERROR)
        .stat(ReplyZxid, Rel::Gt, Saved("a", ReplyZxid))
        .save("bad");
    s.call("a", exists("/", false)).ok().stat(ReplyZxid, Rel::Eq, Saved("bad", ReplyZxid));
    v.push(s.done());

    let mut s = Script::new("crud", "undecodable read requests are MarshallingError, the connection kept");
    s.connect("a");
    // getData whose path claims more bytes than the frame holds.
    s.call("a", Op::Raw { opcode: 4, body: [int(100), b"abc".to_vec()].concat() }).err(MARSHALLING_ERROR);
    // exists with no body at all.
    s.call("a", Op::Raw { opcode: 3, body: vec![] }).err(MARSHALLING_ERROR);
    // getChildren whose path has a negative length.
    s.call("a", Op::Raw { opcode: 8, body: int(-7) }).err(MARSHALLING_ERROR);
    s.call("a", create("/after", b"")).ok();
    s.call("a", get("/after", false)).expect(Expect::NoData);
    v.push(s.done());

    let mut s = Script::new("crud", "undecodable write requests are MarshallingError, the connection kept");
    s.connect("a");
    // setData without data and version.
    s.call("a", Op::Raw { opcode: 5, body: ustring("/x") }).err(MARSHALLING_ERROR);
    // create without ACL and flags.
    s.call("a", Op::Raw { opcode: 1, body: [ustring("/x"), int(1), b"d".to_vec()].concat() }).err(MARSHALLING_ERROR);
    // delete of two bytes.
    s.call("a", Op::Raw { opcode: 2, body: vec![0, 0] }).err(MARSHALLING_ERROR);
    // multi whose first op header (create, not done, err -1) has no op after it.
    s.call("a", Op::Raw { opcode: 14, body: [int(1), vec![0], int(-1)].concat() }).err(MARSHALLING_ERROR);
    s.call("a", exists("^/x", false)).err(NO_NODE);
    s.call("a", create("/after", b"")).ok();
    v.push(s.done());

    v
}

/// Four-letter words: answers after activity, resets, and what is not a word.
fn four_letter_words() -> Vec<Scenario> {
    let mut v = Vec::new();

    let mut s = Script::new("4lw", "ruok after the handshake is a frame length and closes the connection");
    s.connect("a");
    s.send_raw("a", b"ruok");
    s.expect_closed("a", 5000);
    s.four(0, "ruok", TextExpect::Exactly("imok".into()));
    v.push(s.done());

    let mut s = Script::new("4lw", "an unknown word closes without an answer");
    s.four(0, "abcd", TextExpect::Exactly(String::new()));
    s.four(0, "ruok", TextExpect::Exactly("imok".into()));
    v.push(s.done());

    let mut s = Script::new("4lw", "a length over jute.maxbuffer before the handshake closes without an answer");
    s.four(0, "\0\u{10}\0\0", TextExpect::Exactly(String::new()));
    s.connect("a");
    s.call("a", exists("/", false)).ok();
    v.push(s.done());

    let mut s = Script::new("4lw", "a negative length before the handshake closes without an answer");
    // U+1D11E is F0 9D 84 9E in UTF-8: a length with its sign bit set.
    s.four(0, "\u{1D11E}", TextExpect::Exactly(String::new()));
    s.connect("a");
    s.call("a", exists("/", false)).ok();
    v.push(s.done());

    let mut s = Script::new("4lw", "gtmk answers the default trace mask");
    s.four(0, "gtmk", TextExpect::Exactly("306".into()));
    v.push(s.done());

    let mut s = Script::new("4lw", "srst resets the latency figures");
    s.four(0, "srst", TextExpect::Exactly("Server stats reset.\n".into()));
    s.four(0, "srvr", containing(&["Latency min/avg/max: 0/0.0/0\n"]));
    v.push(s.done());

    let mut s = Script::new("4lw", "crst resets every connection's counters");
    s.connect("a");
    s.call("a", exists("/", false)).ok();
    s.call("a", exists("/", false)).ok();
    s.four(0, "crst", TextExpect::Exactly("Connection stats reset.\n".into()));
    s.four(0, "cons", containing(&["(queued=0,recved=0,sent=0,sid=0x", "lop=NA", "lzxid=0xffffffffffffffff"]));
    s.call("a", exists("/", false)).ok();
    s.four(0, "cons", containing(&["lop=EXIS"]));
    v.push(s.done());

    let mut s = Script::new("4lw", "cons shows a connection's last op, timeout and latencies");
    s.connect("a");
    s.call("a", create("/c", b"")).ok();
    s.call("a", exists("/c", false)).ok();
    s.four(
        0,
        "cons",
        containing(&[
            "sid=0x", "lop=EXIS", "est=", "to=4000", "lcxid=0x", "lzxid=0x", "lresp=", "llat=", "minlat=", "avglat=",
            "maxlat=",
        ]),
    );
    v.push(s.done());

    let mut s = Script::new("4lw", "cons and stat list the asking connection itself, in brief");
    s.four(0, "cons", containing(&["[0](queued=0,recved=1,sent=0)\n"]));
    s.four(0, "stat", containing(&["Clients:\n", "[0](queued=0,recved=1,sent=0)\n"]));
    v.push(s.done());

    let mut s = Script::new("4lw", "wchs, wchp and wchc with several sessions, before and after a watch fires");
    s.connect("z");
    for d in ["/d0", "/d1", "/d2"] {
        s.call("z", create(d, b"")).ok();
    }
    const WATCHERS: [&str; 3] = ["w0", "w1", "w2"];
    for (i, w) in WATCHERS.iter().enumerate() {
        s.connect(w);
        for j in 0..=i {
            s.call(w, exists(&format!("/n{j}"), true)).err(NO_NODE);
        }
        s.call(w, get(&format!("/d{i}"), true)).ok();
        // Child watches are kept apart and not counted by these words.
        s.call(w, children("/", true)).ok();
    }
    // Exist watches: n0 ×3, n1 ×2, n2 ×1; data watches d0, d1, d2.
    s.four(0, "wchs", TextExpect::Exactly("3 connections watching 6 paths\nTotal watches:9\n".into()));
    s.four(0, "wchp", containing(&["/n0\n\t0x", "/n1\n\t0x", "/n2\n\t0x", "/d0\n\t0x", "/d1\n\t0x", "/d2\n\t0x"]));
    s.four(0, "wchc", containing(&["\t", "/n0\n", "/n1\n", "/n2\n", "/d0\n", "/d1\n", "/d2\n"]));
    s.call("z", create("/n0", b"")).ok();
    for w in WATCHERS {
        s.events(w, &[(CREATED, "/n0"), (CHILDREN_CHANGED, "/")]);
    }
    s.four(0, "wchs", TextExpect::Exactly("3 connections watching 5 paths\nTotal watches:6\n".into()));
    v.push(s.done());

    let mut s = Script::new("4lw", "dump lists every session's ephemerals");
    s.connect("a");
    s.connect("b");
    s.call("a", ephemeral("/ea")).ok();
    s.call("b", ephemeral("/eb")).ok();
    s.four(0, "dump", containing(&["SessionTracker dump:", "ephemeral nodes dump:", "/ea\n", "/eb\n"]));
    v.push(s.done());

    let mut s = Script::new("4lw", "mntr has the session, descriptor and response-size keys");
    s.four(
        0,
        "mntr",
        lines_starting(&[
            "zk_uptime\t",
            "zk_open_file_descriptor_count\t",
            "zk_max_file_descriptor_count\t",
            "zk_global_sessions\t",
            "zk_local_sessions\t",
            "zk_auth_failed_count\t",
            "zk_last_client_response_size\t",
            "zk_max_client_response_size\t",
            "zk_min_client_response_size\t",
            "zk_outstanding_tls_handshake\t",
            "zk_connection_request_count\t",
            "zk_bytes_received_count\t",
        ]),
    );
    v.push(s.done());

    let mut s = Script::new("4lw", "conf shows the directories' sizes and the listen backlog");
    s.four(
        0,
        "conf",
        lines_starting(&[
            "secureClientPort=",
            "dataDirSize=",
            "dataLogDir=",
            "dataLogSize=",
            "clientPortListenBacklog=",
        ]),
    );
    v.push(s.done());

    let mut s = Script::new("4lw", "envi lists the Java and OS properties tools read");
    s.four(
        0,
        "envi",
        lines_starting(&[
            "java.version=",
            "java.vendor=",
            "java.home=",
            "java.class.path=",
            "java.library.path=",
            "java.io.tmpdir=",
            "java.compiler=",
            "os.arch=",
            "os.version=",
            "user.home=",
            "user.dir=",
            "os.memory.free=",
            "os.memory.max=",
            "os.memory.total=",
        ]),
    );
    v.push(s.done());

    v
}
