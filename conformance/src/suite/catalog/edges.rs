//! Edge cases across areas: odd paths on every op, reserved nodes, the version wildcard,
//! multi corner cases, mixes of watch modes, ACL and auth oddities, zxids of failed writes.
//! Every name starts with `edge:` so `CONFORMANCE_FILTER=/edge:` picks exactly these.

use crate::suite::scenario::code::*;
use crate::suite::scenario::event::*;
use crate::suite::scenario::watcher::{ANY, CHILDREN, DATA};
use crate::suite::scenario::Field::*;
use crate::suite::scenario::Operand::Saved;
use crate::suite::scenario::*;
use crate::suite::wire::{mode, Acl, CreateKind, Op};

/// `digest` id of `al:right`.
const AL_RIGHT: &str = "al:dHLhxq7ccaIslYMZ5PewhEttwXs=";
/// `digest` id of `u1:p1`.
const U1_P1: &str = "u1:fpT/y03U+EjItKZOSLGvjnJlyng=";

fn open() -> Vec<Acl> {
    Acl::open()
}

fn multi(items: &[MultiExpect]) -> Expect {
    Expect::Multi(items.to_vec())
}

fn errs(codes: &[i32]) -> Expect {
    Expect::Multi(codes.iter().map(|c| MultiExpect::Err(*c)).collect())
}

fn all_children(path: &str) -> Op {
    Op::GetAllChildrenNumber { path: path.into() }
}

pub fn scenarios() -> Vec<Scenario> {
    let mut v = Vec::new();
    paths(&mut v);
    reserved(&mut v);
    versions(&mut v);
    sequential_and_ephemeral(&mut v);
    multis(&mut v);
    watches(&mut v);
    acls(&mut v);
    zxids_and_sync(&mut v);
    v
}

fn paths(v: &mut Vec<Scenario>) {
    let mut s = Script::new("crud", "edge: NUL in a read path: exists BadArguments, other reads NoNode, sync echoes");
    s.connect("a");
    for p in ["/a\0b", "/zookeeper\0", "\0"] {
        s.call("a", exists(p, false)).err(BAD_ARGUMENTS);
        s.call("a", get(p, false)).err(NO_NODE);
        s.call("a", children(p, false)).err(NO_NODE);
        s.call("a", children2(p, false)).err(NO_NODE);
        s.call("a", get_acl(p)).err(NO_NODE);
        s.call("a", all_children(p)).err(NO_NODE);
        s.call("a", sync(p)).path(p);
    }
    s.call("a", Op::Ping).ok();
    v.push(s.done());

    let mut s = Script::new("crud", "edge: the empty path reads the real root, writes on it are BadArguments");
    s.connect("a");
    s.call("a", exists("^/", false)).ok().save("root");
    s.call("a", exists("", false)).ok().stat_is(Czxid, 0).stat(NumChildren, Rel::Eq, Saved("root", NumChildren)).stat(
        Cversion,
        Rel::Eq,
        Saved("root", Cversion),
    );
    s.call("a", get("", false)).ok().stat(DataLength, Rel::Eq, Saved("root", DataLength));
    s.call("a", children("", false)).ok();
    s.call("a", get_acl("")).expect(Expect::Acl(open()));
    s.call("a", all_children("")).ok();
    s.call("a", create("", b"")).err(BAD_ARGUMENTS);
    s.call("a", delete("", -1)).err(BAD_ARGUMENTS);
    s.call("a", set("", b"x", -1)).err(BAD_ARGUMENTS);
    s.call("a", sync("")).path("");
    v.push(s.done());

    let mut s = Script::new("crud", "edge: a relative path: reads NoNode, writes BadArguments; sync echoes any path");
    s.connect("a");
    s.call("a", exists("zookeeper", false)).err(NO_NODE);
    s.call("a", get("zookeeper", false)).err(NO_NODE);
    s.call("a", children("zookeeper", false)).err(NO_NODE);
    s.call("a", delete("zookeeper", -1)).err(BAD_ARGUMENTS);
    s.call("a", set("zookeeper", b"", -1)).err(BAD_ARGUMENTS);
    s.call("a", sync("zookeeper")).path("zookeeper");
    s.call("a", sync("/nope")).path("/nope");
    s.call("a", sync("^//x/")).path("//x/");
    v.push(s.done());

    let mut s =
        Script::new("crud", "edge: malformed write paths: setData, setACL BadArguments; delete NoNode unless NUL");
    s.connect("a");
    s.call("a", create("/x", b"")).ok();
    // delete looks the parent up before it validates the path; exists only looks up.
    for p in ["/x/", "//x", "/.", "/..", "/x/.", "/./x", "/\u{1}", "/\u{1F600}", "/\u{e000}", "/nope/"] {
        s.call("a", set(p, b"v", -1)).err(BAD_ARGUMENTS);
        s.call("a", delete(p, -1)).err(NO_NODE);
        s.call("a", set_acl(p, open(), -1)).err(BAD_ARGUMENTS);
        s.call("a", exists(p, false)).err(NO_NODE);
    }
    s.call("a", set("/x\0", b"v", -1)).err(BAD_ARGUMENTS);
    s.call("a", delete("/x\0", -1)).err(BAD_ARGUMENTS);
    s.call("a", set_acl("/x\0", open(), -1)).err(BAD_ARGUMENTS);
    s.call("a", create("/x\0", b"")).err(BAD_ARGUMENTS);
    s.call("a", children("/", false)).children(&["x"]);
    v.push(s.done());

    let mut s = Script::new("crud", "edge: create mode x opcode: createContainer drops ephemeral, keeps sequential");
    s.connect("a");
    s.call("a", create_with("/c", b"", mode::CONTAINER, CreateKind::Create)).path("/c");
    s.call("a", exists("/c", false)).ok().stat_is(EphemeralOwner, 0);
    for (flags, kind) in [
        (mode::PERSISTENT_WITH_TTL, CreateKind::Create),
        (mode::PERSISTENT_WITH_TTL, CreateKind::Create2),
        (7, CreateKind::Create),
        (-1, CreateKind::Create),
        (mode::EPHEMERAL, CreateKind::Ttl(100)),
    ] {
        s.call("a", create_with("/d", b"", flags, kind)).err(BAD_ARGUMENTS);
    }
    s.call("a", exists("/d", false)).err(NO_NODE);
    s.call("a", create_with("/e", b"", mode::EPHEMERAL, CreateKind::Container)).path("/e").stat_is(EphemeralOwner, 0);
    s.call("a", create_with("/s", b"", mode::PERSISTENT_SEQUENTIAL, CreateKind::Container))
        .path("/s0000000002")
        .stat_is(EphemeralOwner, 0);
    s.call("a", exists("/e", false)).ok().stat_is(EphemeralOwner, 0);
    v.push(s.done());
}

fn reserved(v: &mut Vec<Scenario>) {
    let mut s = Script::new("crud", "edge: writes under /zookeeper, on /zookeeper/config and on the real root");
    s.connect("a");
    for p in ["/zookeeper/edge-conformance", "/zookeeper/quota/edge-conformance"] {
        s.call("a", create(p, b"")).ok();
        s.call("a", delete(p, -1)).ok();
    }
    s.call("a", create("/zookeeper/config/edge-conformance", b"")).err(NO_AUTH);
    s.call("a", set("/zookeeper/config", b"x", -1)).err(NO_AUTH);
    s.call("a", set_acl("/zookeeper/config", open(), -1)).err(NO_AUTH);
    s.call("a", create("/zookeeper", b"")).err(NODE_EXISTS);
    s.call("a", create("/zookeeper/quota", b"")).err(NODE_EXISTS);
    s.call("a", delete("^/", -1)).err(BAD_ARGUMENTS);
    s.call("a", delete("^/", 5)).err(BAD_ARGUMENTS);
    s.call("a", exists("^/", false)).ok().save("before");
    s.call("a", set("^/", b"rootdata", -1))
        .ok()
        .stat(Version, Rel::Gt, Saved("before", Version))
        .stat_is(DataLength, 8);
    s.call("a", get("^/", false)).data(b"rootdata");
    s.call("a", set("^/", b"", -1)).ok();
    v.push(s.done());

    let mut s = Script::new("acl", "edge: getACL of the real root and the reserved nodes");
    s.connect("a");
    s.call("a", get_acl("^/"))
        .expect(Expect::Acl(open()))
        .stat_is(Czxid, 0)
        .stat_is(Aversion, 0)
        .stat_is(EphemeralOwner, 0);
    s.call("a", get_acl("/zookeeper/config"))
        .expect(Expect::Acl(vec![acl(1, "world", "anyone")]))
        .stat_is(Czxid, 0)
        .stat_is(Ctime, 0)
        .stat_is(Cversion, 0)
        .stat_is(Aversion, -1)
        .stat_is(EphemeralOwner, 0)
        .stat_is(NumChildren, 0)
        .stat_is(Pzxid, 0);
    s.call("a", get_acl("/zookeeper/quota")).expect(Expect::Acl(open())).stat_is(Aversion, 0);
    v.push(s.done());
}

fn versions(v: &mut Vec<Scenario>) {
    let mut s = Script::new("crud", "edge: only -1 is the version wildcard, for setData, delete, setACL and check");
    s.connect("a");
    s.call("a", create("/n", b"")).ok();
    s.call("a", set("/n", b"x", -2)).err(BAD_VERSION);
    s.call("a", set("/n", b"x", 0)).ok();
    s.call("a", set("/n", b"x", 0)).err(BAD_VERSION);
    s.call("a", set("/n", b"y", -1)).ok().stat_is(Version, 2);
    s.call("a", delete("/n", -2)).err(BAD_VERSION);
    s.call("a", set_acl("/n", open(), -2)).err(BAD_VERSION);
    s.call("a", set_acl("/n", open(), 0)).ok();
    s.call("a", set_acl("/n", open(), 0)).err(BAD_VERSION);
    s.call("a", set_acl("/n", open(), -1)).ok();
    s.call("a", get_acl("/n")).ok().stat_is(Aversion, 2);
    s.call("a", Op::Multi(vec![check("/n", -1)])).expect(multi(&[MultiExpect::Ok]));
    s.call("a", Op::Multi(vec![check("/n", -2)])).expect(errs(&[BAD_VERSION]));
    s.call("a", Op::Multi(vec![check("/n", 2)])).expect(multi(&[MultiExpect::Ok]));
    // A missing node is NoNode whatever the version.
    s.call("a", set("/missing", b"", 5)).err(NO_NODE);
    s.call("a", delete("/missing", 5)).err(NO_NODE);
    s.call("a", delete("/n", 2)).ok();
    v.push(s.done());

    let mut s = Script::new("crud", "edge: two clients setData on one version: the second gets BadVersion");
    s.connect("a");
    s.connect("b");
    s.call("a", create("/n", b"")).ok();
    s.call("a", get("/n", false)).ok().stat_is(Version, 0);
    s.call("b", set("/n", b"b", 0)).ok();
    s.call("a", set("/n", b"a", 0)).err(BAD_VERSION);
    s.call("a", get("/n", false)).data(b"b");
    v.push(s.done());
}

fn sequential_and_ephemeral(v: &mut Vec<Scenario>) {
    let mut s = Script::new("sequential", "edge: the suffix follows the parent's creates; odd prefixes");
    s.connect("a");
    s.call("a", create("/q", b"")).ok();
    for n in ["/q/a", "/q/b", "/q/c"] {
        s.call("a", create(n, b"")).ok();
    }
    s.call("a", delete("/q/b", -1)).ok();
    s.call("a", sequential("/q/s-")).path("/q/s-0000000003");
    s.call("a", sequential("/q/")).path("/q/0000000004");
    s.call("a", sequential("/q/x/")).err(NO_NODE);
    s.call("a", sequential("/q/s-/")).err(NO_NODE);
    s.call("a", sequential("/q//")).err(NO_NODE);
    s.call("a", sequential("/q/.")).path("/q/.0000000005");
    s.call("a", sequential("/q/..")).path("/q/..0000000006");
    s.call("a", sequential("/q/\0")).err(BAD_ARGUMENTS);
    s.call("a", create_with("/q/e-", b"", mode::EPHEMERAL_SEQUENTIAL, CreateKind::Create)).path("/q/e-0000000007");
    s.call("a", exists("/q", false)).ok().stat_is(Cversion, 9).stat_is(NumChildren, 7);
    v.push(s.done());

    let mut s = Script::new("ephemeral", "edge: an ephemeral refuses children of every create mode");
    s.connect("a");
    s.call("a", ephemeral("/e")).ok();
    for (flags, kind) in [
        (mode::PERSISTENT, CreateKind::Create),
        (mode::EPHEMERAL, CreateKind::Create),
        (mode::PERSISTENT_SEQUENTIAL, CreateKind::Create),
        (mode::EPHEMERAL_SEQUENTIAL, CreateKind::Create),
        (mode::CONTAINER, CreateKind::Container),
        (mode::PERSISTENT_WITH_TTL, CreateKind::Ttl(1000)),
    ] {
        s.call("a", create_with("/e/k", b"", flags, kind)).err(NO_CHILDREN_FOR_EPHEMERALS);
    }
    s.call("a", create("/e/k/deeper", b"")).err(NO_NODE);
    s.call("a", children("/e", false)).children(&[]);
    v.push(s.done());

    let mut s = Script::new("ephemeral", "edge: an ephemeral refuses children inside a multi too");
    s.connect("a");
    s.call("a", ephemeral("/e")).ok();
    s.call("a", Op::Multi(vec![sequential("/e/m")])).expect(errs(&[NO_CHILDREN_FOR_EPHEMERALS]));
    s.call("a", Op::Multi(vec![ephemeral("/e2"), create("/e2/c", b"")]))
        .expect(errs(&[OK, NO_CHILDREN_FOR_EPHEMERALS]));
    s.call("a", children("/", false)).children(&["e"]);
    v.push(s.done());

    let mut s =
        Script::new("ephemeral", "edge: getEphemerals with an empty or blank prefix lists all of the session's");
    s.connect("a");
    s.call("a", Op::GetEphemerals { prefix: "".into() }).expect(Expect::Paths(vec![]));
    s.call("a", ephemeral("/e")).ok();
    s.call("a", Op::GetEphemerals { prefix: "".into() }).expect(Expect::Paths(vec!["/e".into()]));
    s.call("a", Op::GetEphemerals { prefix: " / ".into() }).expect(Expect::Paths(vec!["/e".into()]));
    v.push(s.done());
}

fn multis(v: &mut Vec<Scenario>) {
    let mut s = Script::new("multi", "edge: a check on a missing node fails the multi, first or last");
    s.connect("a");
    s.call("a", Op::Multi(vec![check("/nope", -1), create("/a", b"")])).expect(errs(&[NO_NODE, RUNTIME_INCONSISTENCY]));
    s.call("a", Op::Multi(vec![create("/a", b""), check("/nope", 0)])).expect(errs(&[OK, NO_NODE]));
    s.call("a", children("/", false)).children(&[]);
    v.push(s.done());

    let mut s = Script::new("multi", "edge: create then delete of one node in a multi moves the parent twice");
    s.connect("a");
    s.call("a", Op::Multi(vec![create("/cd", b""), delete("/cd", 0)]))
        .expect(multi(&[MultiExpect::Path("/cd".into()), MultiExpect::Ok]))
        .save("m");
    s.call("a", exists("/cd", false)).err(NO_NODE);
    s.call("a", exists("/", false)).ok().stat_is(Cversion, 2).stat_is(NumChildren, 0).stat(
        Pzxid,
        Rel::Eq,
        Saved("m", ReplyZxid),
    );
    v.push(s.done());

    let mut s = Script::new("multi", "edge: ops fail on what earlier ops of the same multi did");
    s.connect("a");
    // Deleting a parent that got a child earlier in the multi.
    s.call("a", Op::Multi(vec![create("/p", b""), create("/p/q", b""), delete("/p", -1)]))
        .expect(errs(&[OK, OK, NOT_EMPTY]));
    // Creating below a parent deleted earlier in the multi.
    s.call(
        "a",
        Op::Multi(vec![
            create("/p", b""),
            create("/p/q", b""),
            delete("/p/q", -1),
            delete("/p", -1),
            create("/p/z", b""),
        ]),
    )
    .expect(errs(&[OK, OK, OK, OK, NO_NODE]));
    s.call("a", Op::Multi(vec![create("/dup", b""), create("/dup", b"")])).expect(errs(&[OK, NODE_EXISTS]));
    s.call("a", children("/", false)).children(&[]);
    v.push(s.done());

    let mut s = Script::new("multi", "edge: sequence numbers and versions advance within a multi");
    s.connect("a");
    s.call("a", Op::Multi(vec![sequential("/s-"), sequential("/s-")]))
        .expect(multi(&[MultiExpect::Path("/s-0000000000".into()), MultiExpect::Path("/s-0000000001".into())]));
    s.call("a", Op::Multi(vec![set("/", b"1", 0), set("/", b"2", 1), check("/", 2)])).expect(multi(&[
        MultiExpect::Ok,
        MultiExpect::Ok,
        MultiExpect::Ok,
    ]));
    s.call("a", get("/", false)).data(b"2").stat_is(Version, 2);
    s.call("a", children("/", false)).children(&["s-0000000000", "s-0000000001"]);
    v.push(s.done());

    let mut s = Script::new("multi", "edge: malformed paths and reserved nodes in a multi");
    s.connect("a");
    s.call("a", Op::Multi(vec![create("/bad/", b""), create("/ok", b"")]))
        .expect(errs(&[NO_NODE, RUNTIME_INCONSISTENCY]));
    s.call("a", Op::Multi(vec![set("/nope/", b"", -1)])).expect(errs(&[BAD_ARGUMENTS]));
    s.call("a", Op::Multi(vec![delete("^/", -1)])).expect(errs(&[BAD_ARGUMENTS]));
    s.call("a", Op::Multi(vec![delete("/zookeeper", -1)])).expect(errs(&[BAD_ARGUMENTS]));
    s.call("a", children("/", false)).children(&[]);
    v.push(s.done());

    let mut s = Script::new("multi", "edge: setACL or a read in a multi, exists in a multiRead: MarshallingError");
    s.connect("a");
    s.call("a", Op::Multi(vec![set_acl("/", vec![acl(1, "world", "anyone")], -1)])).err(MARSHALLING_ERROR);
    s.call("a", exists("/", false)).ok();
    s.call("a", Op::MultiRead(vec![exists("/", false)])).err(MARSHALLING_ERROR);
    s.call("a", exists("/", false)).ok();
    s.call("a", Op::Multi(vec![children("/", false)])).err(MARSHALLING_ERROR);
    s.call("a", get_acl("/")).expect(Expect::Acl(open())).stat_is(Aversion, 0);
    v.push(s.done());

    let mut s = Script::new("multi", "edge: an empty multiRead; malformed paths in one are NoNode");
    s.connect("a");
    s.call("a", Op::MultiRead(vec![])).expect(multi(&[]));
    s.call("a", Op::MultiRead(vec![get("/nope/", false), children("\0", false)])).expect(errs(&[NO_NODE, NO_NODE]));
    v.push(s.done());
}

fn watches(v: &mut Vec<Scenario>) {
    let mut s = Script::new("watch", "edge: an exists watch outlives failed writes and fires once, for the create");
    s.connect("w");
    s.connect("a");
    s.call("w", exists("/nx", true)).err(NO_NODE);
    s.call("w", delete("/nx", -1)).err(NO_NODE);
    s.call("w", set("/nx", b"x", -1)).err(NO_NODE);
    s.no_events("w");
    s.call("a", create("/nx", b"")).ok();
    s.call("a", delete("/nx", -1)).ok();
    s.events("w", &[(CREATED, "/nx")]);
    s.no_events("w");
    v.push(s.done());

    let mut s = Script::new("watch", "edge: child watches from getChildren and getChildren2 fire once on delete");
    s.connect("w");
    s.connect("a");
    s.call("a", create("/p", b"")).ok();
    s.call("a", create("/p/k", b"")).ok();
    s.call("w", children("/p", true)).children(&["k"]);
    s.call("a", set("/p", b"x", -1)).ok();
    s.call("a", delete("/p/k", -1)).ok();
    s.events("w", &[(CHILDREN_CHANGED, "/p")]);
    s.call("w", children("/p", true)).children(&[]);
    s.call("w", children2("/p", true)).children(&[]);
    s.call("a", delete("/p", -1)).ok();
    s.events("w", &[(DELETED, "/p")]);
    s.no_events("w");
    v.push(s.done());

    let mut s = Script::new("watch", "edge: a standard watch over a persistent one replaces it, and back");
    s.connect("w");
    s.connect("a");
    s.call("a", create("/p", b"")).ok();
    s.call("w", add_watch("/p", false)).ok();
    s.call("w", get("/p", true)).ok();
    s.call("a", set("/p", b"1", -1)).ok();
    s.call("a", set("/p", b"2", -1)).ok();
    s.call("a", create("/p/x", b"")).ok();
    s.events("w", &[(DATA_CHANGED, "/p"), (CHILDREN_CHANGED, "/p")]);
    s.call("w", Op::CheckWatches { path: "/p".into(), kind: DATA }).err(NO_WATCHER);
    s.call("w", children("/p", true)).ok();
    s.call("w", add_watch("/p", false)).ok();
    s.call("a", create("/p/y", b"")).ok();
    s.call("a", create("/p/z", b"")).ok();
    s.call("a", set("/p", b"3", -1)).ok();
    s.events("w", &[(CHILDREN_CHANGED, "/p"), (CHILDREN_CHANGED, "/p"), (DATA_CHANGED, "/p")]);
    s.no_events("w");
    v.push(s.done());

    let mut s = Script::new("watch", "edge: standard watches over a recursive one replace it");
    s.connect("w");
    s.connect("a");
    s.call("a", create("/p", b"")).ok();
    s.call("w", add_watch("/p", true)).ok();
    s.call("w", exists("/p", true)).ok();
    s.call("w", children("/p", true)).ok();
    s.call("a", set("/p", b"1", -1)).ok();
    s.call("a", set("/p", b"2", -1)).ok();
    s.call("a", create("/p/x", b"")).ok();
    s.call("a", create("/p/x/y", b"")).ok();
    s.events("w", &[(DATA_CHANGED, "/p"), (CHILDREN_CHANGED, "/p")]);
    s.no_events("w");
    v.push(s.done());

    let mut s = Script::new("watch", "edge: persistent then recursive on one path acts as recursive");
    s.connect("w");
    s.connect("a");
    s.call("a", create("/p", b"")).ok();
    s.call("w", add_watch("/p", false)).ok();
    s.call("w", add_watch("/p", true)).ok();
    s.call("a", set("/p", b"1", -1)).ok();
    s.call("a", create("/p/x", b"")).ok();
    s.call("a", set("/p/x", b"1", -1)).ok();
    s.events("w", &[(DATA_CHANGED, "/p"), (CREATED, "/p/x"), (DATA_CHANGED, "/p/x")]);
    s.call("w", add_watch("/p/x", false)).ok();
    s.call("a", set("/p/x", b"2", -1)).ok();
    s.events("w", &[(DATA_CHANGED, "/p/x")]);
    s.no_events("w");
    v.push(s.done());

    let mut s = Script::new("watch", "edge: a recursive watch on the scenario root sees deep events");
    s.connect("w");
    s.connect("a");
    s.call("w", add_watch("/", true)).ok();
    s.call("a", create("/a", b"")).ok();
    s.call("a", create("/a/b", b"")).ok();
    s.call("a", create("/a/b/c", b"x")).ok();
    s.call("a", set("/a/b/c", b"y", -1)).ok();
    s.call("a", delete("/a/b/c", -1)).ok();
    s.events(
        "w",
        &[(CREATED, "/a"), (CREATED, "/a/b"), (CREATED, "/a/b/c"), (DATA_CHANGED, "/a/b/c"), (DELETED, "/a/b/c")],
    );
    s.call("w", Op::RemoveWatches { path: "/".into(), kind: ANY }).ok();
    v.push(s.done());

    // One watcher per node so each one's events are read on their own.
    let mut s = Script::new("watch", "edge: removing the data or child half of a persistent or recursive watch");
    s.connect("a");
    let cases = [
        ("wpd", "/pd", false, DATA, CHILDREN),
        ("wpc", "/pc", false, CHILDREN, DATA),
        ("wrd", "/rd", true, DATA, CHILDREN),
        ("wrc", "/rc", true, CHILDREN, DATA),
    ];
    for (w, p, recursive, gone, kept) in cases {
        s.connect(w);
        s.call("a", create(p, b"")).ok();
        s.call(w, add_watch(p, recursive)).ok();
        for kind in [DATA, CHILDREN, ANY] {
            s.call(w, Op::CheckWatches { path: p.into(), kind }).ok();
        }
        s.call(w, Op::RemoveWatches { path: p.into(), kind: gone }).ok();
        s.call(w, Op::CheckWatches { path: p.into(), kind: gone }).err(NO_WATCHER);
        s.call(w, Op::CheckWatches { path: p.into(), kind: kept }).ok();
    }
    for (_, p, ..) in cases {
        s.call("a", set(p, b"1", -1)).ok();
        s.call("a", create(&format!("{p}/k"), b"")).ok();
        s.call("a", create(&format!("{p}/k/g"), b"")).ok();
    }
    s.events("wpd", &[(CHILDREN_CHANGED, "/pd")]);
    s.events("wpc", &[(DATA_CHANGED, "/pc")]);
    s.events("wrc", &[(DATA_CHANGED, "/rc"), (CREATED, "/rc/k"), (CREATED, "/rc/k/g")]);
    for (w, ..) in cases {
        s.no_events(w);
    }
    v.push(s.done());

    let mut s = Script::new("watch", "edge: watch calls: bad modes and types MarshallingError, any path accepted");
    s.connect("a");
    s.call("a", Op::AddWatch { path: "/".into(), mode: 2 }).err(MARSHALLING_ERROR);
    s.call("a", Op::AddWatch { path: "/".into(), mode: -1 }).err(MARSHALLING_ERROR);
    s.call("a", Op::CheckWatches { path: "/".into(), kind: 4 }).err(MARSHALLING_ERROR);
    s.call("a", Op::CheckWatches { path: "/".into(), kind: 0 }).err(MARSHALLING_ERROR);
    s.call("a", Op::RemoveWatches { path: "/".into(), kind: 7 }).err(MARSHALLING_ERROR);
    s.call("a", exists("/", false)).ok();
    s.call("a", add_watch("/bad/", false)).ok();
    s.call("a", add_watch("relative", false)).ok();
    s.call("a", Op::CheckWatches { path: "/bad/".into(), kind: CHILDREN }).ok();
    s.call("a", Op::RemoveWatches { path: "relative".into(), kind: ANY }).ok();
    v.push(s.done());

    let mut s = Script::new("watch", "edge: setWatches on a live session fires for what exists or is gone");
    s.connect("a");
    s.connect("w");
    s.call("a", create("/k", b"")).ok();
    s.call(
        "w",
        Op::SetWatches {
            relative_zxid: i64::MAX,
            data: vec!["/".into(), "/gone".into()],
            exist: vec!["/".into(), "/none".into()],
            child: vec!["/".into(), "/gone2".into()],
            persistent: vec![],
            recursive: vec![],
        },
    )
    .ok();
    // Exist watches on present nodes fire NodeCreated whatever the zxid; data and child
    // watches on missing nodes fire NodeDeleted; the rest stay registered.
    s.events("w", &[(DELETED, "/gone"), (CREATED, "/"), (DELETED, "/gone2")]);
    s.no_events("w");
    s.call("a", set("/", b"1", -1)).ok();
    s.call("a", create("/none", b"")).ok();
    s.call("a", create("/k2", b"")).ok();
    s.events("w", &[(DATA_CHANGED, "/"), (CREATED, "/none"), (CHILDREN_CHANGED, "/")]);
    s.no_events("w");
    v.push(s.done());
}

fn acls(v: &mut Vec<Scenario>) {
    let mut s = Script::new("acl", "edge: world with no permissions: only delete, checked on the parent, works");
    s.connect("a");
    s.call("a", create_acl("/p0", b"d", vec![acl(0, "world", "anyone")])).ok();
    s.call("a", get("/p0", false)).err(NO_AUTH);
    s.call("a", get_acl("/p0")).err(NO_AUTH);
    s.call("a", children("/p0", false)).err(NO_AUTH);
    s.call("a", set("/p0", b"", -1)).err(NO_AUTH);
    s.call("a", create("/p0/k", b"")).err(NO_AUTH);
    s.call("a", delete("/p0", -1)).ok();
    v.push(s.done());

    let mut s = Script::new("acl", "edge: permission bits beyond ALL are kept as given");
    s.connect("a");
    for (i, perms) in [32, 63, 255, 0x7FFF_FFFF, -1].into_iter().enumerate() {
        let p = format!("/x{i}");
        s.call("a", create_acl(&p, b"", vec![acl(perms, "world", "anyone")])).ok();
        if perms & (1 | 16) != 0 {
            s.call("a", get_acl(&p)).expect(Expect::Acl(vec![acl(perms, "world", "anyone")]));
        } else {
            s.call("a", get_acl(&p)).err(NO_AUTH);
        }
    }
    v.push(s.done());

    let mut s =
        Script::new("acl", "edge: ACL id forms: ip is IPv4 with a prefix length; world anyone; digest user:hash");
    s.connect("a");
    let forms: [(&str, Option<bool>); 12] = [
        ("0.0.0.0/0", Some(true)),
        ("127.0.0.1/32", Some(true)),
        ("127.0.0.1/0", Some(true)),
        ("10.0.0.0/8", Some(false)),
        ("::1", None),
        ("0:0:0:0:0:0:0:1", None),
        ("127.1", None),
        ("127.0.0.1/", None),
        ("127.0.0.256", None),
        (" 127.0.0.1", None),
        ("127.0.0.0/8 ", None),
        ("127.0.0.1/-1", None),
    ];
    for (i, (id, readable)) in forms.into_iter().enumerate() {
        let p = format!("/ip{i}");
        match readable {
            None => {
                s.call("a", create_acl(&p, b"z", vec![acl(31, "ip", id)])).err(INVALID_ACL);
            }
            Some(true) => {
                s.call("a", create_acl(&p, b"z", vec![acl(31, "ip", id)])).ok();
                s.call("a", get(&p, false)).data(b"z");
            }
            Some(false) => {
                s.call("a", create_acl(&p, b"z", vec![acl(31, "ip", id)])).ok();
                s.call("a", get(&p, false)).err(NO_AUTH);
            }
        }
    }
    for (i, (scheme, id, err)) in [
        ("world", "anyone ", INVALID_ACL),
        ("world", "Anyone", INVALID_ACL),
        ("world", "", INVALID_ACL),
        ("digest", ":", INVALID_ACL),
        ("digest", "a:", INVALID_ACL),
        ("digest", ":b", OK),
        ("digest", "a:b:c", INVALID_ACL),
        ("digest", "a", INVALID_ACL),
    ]
    .into_iter()
    .enumerate()
    {
        s.call("a", create_acl(&format!("/n{i}"), b"", vec![acl(31, scheme, id)])).err(err);
    }
    v.push(s.done());

    let mut s = Script::new("acl", "edge: digest addAuth takes any credential; the user is what precedes ':'");
    let creds: [(&'static str, &[u8], &str); 7] = [
        ("c0", b"nocolon", "nocolon"),
        ("c1", b":", ""),
        ("c2", b"", ""),
        ("c3", b"a:b:c", "a"),
        ("c4", "\u{fc}:p".as_bytes(), "\u{fc}"),
        ("c5", b"a\0b:p", "a\0b"),
        // Not UTF-8: the server decodes it with a replacement character.
        ("c6", b"\xff:p", "\u{fffd}"),
    ];
    for (c, cred, user) in creds {
        s.connect(c);
        s.call(c, Op::AddAuth { scheme: "digest".into(), auth: cred.to_vec() }).ok();
        s.call(c, Op::WhoAmI).expect(who_am_i(&[("digest", user), ("ip", "127.0.0.1")]));
    }
    v.push(s.done());

    let mut s = Script::new("acl", "edge: addAuth ip adds nothing; a repeated digest counts once");
    s.connect("a");
    s.call("a", add_auth("ip", "whatever")).ok();
    s.call("a", Op::WhoAmI).expect(who_am_i(&[("ip", "127.0.0.1")]));
    for cred in ["u:p", "u:p", "u:q"] {
        s.call("a", add_auth("digest", cred)).ok();
    }
    s.call("a", Op::WhoAmI).expect(who_am_i(&[("digest", "u"), ("digest", "u"), ("ip", "127.0.0.1")]));
    s.connect("m");
    let mut want = vec![("ip".to_string(), "127.0.0.1".to_string())];
    for i in 0..12 {
        s.call("m", add_auth("digest", &format!("user{i}:pw"))).ok();
        want.push(("digest".into(), format!("user{i}")));
    }
    s.call("m", Op::WhoAmI).expect(Expect::WhoAmI(want));
    v.push(s.done());

    let mut s = Script::new("acl", "edge: addAuth with world, super, sasl, DIGEST or auth fails and closes");
    for (c, scheme) in [("c0", "world"), ("c1", "super"), ("c2", "sasl"), ("c3", "DIGEST"), ("c4", "auth")] {
        s.connect(c);
        s.call(c, add_auth(scheme, "x:y")).err(AUTH_FAILED);
        s.expect_closed(c, 5000);
    }
    v.push(s.done());

    let mut s = Script::new("acl", "edge: a wrong password never matches; auth expands to every user");
    s.connect("owner");
    s.call("owner", add_auth("digest", "al:right")).ok();
    s.call("owner", create_acl("/s", b"s", vec![acl(31, "digest", AL_RIGHT)])).ok();
    s.connect("wrong");
    s.call("wrong", add_auth("digest", "al:wrong")).ok();
    s.call("wrong", get("/s", false)).err(NO_AUTH);
    s.connect("both");
    s.call("both", add_auth("digest", "al:wrong")).ok();
    s.call("both", add_auth("digest", "al:right")).ok();
    s.call("both", get("/s", false)).data(b"s");
    s.connect("two");
    s.call("two", add_auth("digest", "u1:p1")).ok();
    s.call("two", add_auth("digest", "u2:p2")).ok();
    s.call("two", create_acl("/c", b"", vec![acl(31, "auth", "ignored"), acl(1, "world", "anyone")])).ok();
    // ZooKeeper lists the expanded ids in its own (hash) order: read them back one user at a
    // time instead.
    for (c, cred) in [("u1", "u1:p1"), ("u2", "u2:p2")] {
        s.connect(c);
        s.call(c, add_auth("digest", cred)).ok();
        s.call(c, set("/c", b"w", -1)).ok();
    }
    s.connect("world");
    s.call("world", get("/c", false)).data(b"w");
    s.call("world", set("/c", b"x", -1)).err(NO_AUTH);
    // Duplicates are removed before the auth entry is expanded, so an explicit copy stays.
    s.call("u1", create_acl("/d", b"", vec![acl(31, "auth", ""), acl(31, "digest", U1_P1)])).ok();
    s.call("u1", get_acl("/d")).expect(Expect::Acl(vec![acl(31, "digest", U1_P1), acl(31, "digest", U1_P1)]));
    v.push(s.done());
}

fn zxids_and_sync(v: &mut Vec<Scenario>) {
    let mut s = Script::new("stat", "edge: failed writes consume zxids");
    s.connect("a");
    s.call("a", create("/a", b"")).ok().save("base");
    s.call("a", delete("/nope", -1)).err(NO_NODE).stat(ReplyZxid, Rel::Gt, Saved("base", ReplyZxid)).save("f1");
    s.call("a", create("/a", b"")).err(NODE_EXISTS).stat(ReplyZxid, Rel::Gt, Saved("f1", ReplyZxid)).save("f2");
    s.call("a", set("/a", b"x", 7)).err(BAD_VERSION).stat(ReplyZxid, Rel::Gt, Saved("f2", ReplyZxid)).save("f3");
    s.call("a", create("/no/parent", b"")).err(NO_NODE).stat(ReplyZxid, Rel::Gt, Saved("f3", ReplyZxid)).save("f4");
    s.call("a", create("/b", b"")).ok().stat(ReplyZxid, Rel::Gt, Saved("f4", ReplyZxid));
    v.push(s.done());

    let mut s = Script::new("stat", "edge: reads and sync take no zxid; replies carry the latest, any session's");
    s.connect("a");
    s.connect("b");
    s.call("a", create("/a", b"")).ok().save("z");
    s.call("a", exists("/", false)).ok().stat(ReplyZxid, Rel::Eq, Saved("z", ReplyZxid));
    s.call("a", get("/", false)).ok().stat(ReplyZxid, Rel::Eq, Saved("z", ReplyZxid));
    s.call("a", children("/", false)).ok().stat(ReplyZxid, Rel::Eq, Saved("z", ReplyZxid));
    s.call("a", sync("/")).path("/").stat(ReplyZxid, Rel::Eq, Saved("z", ReplyZxid));
    s.call("b", create("/x", b"")).ok().stat(ReplyZxid, Rel::Gt, Saved("z", ReplyZxid)).save("zb");
    s.call("a", exists("/", false)).ok().stat(ReplyZxid, Rel::Eq, Saved("zb", ReplyZxid));
    s.call("a", Op::Ping).ok().stat(ReplyZxid, Rel::Eq, Saved("zb", ReplyZxid));
    s.call("a", create2("/b", b"")).ok().stat(ReplyZxid, Rel::Gt, Saved("zb", ReplyZxid));
    v.push(s.done());

    let mut s = Script::new("session", "edge: closeSession takes a zxid of its own");
    s.connect("a");
    s.call("a", create("/x", b"")).ok().save("z");
    s.connect("b");
    s.call("b", Op::CloseSession).ok().stat(ReplyZxid, Rel::Gt, Saved("z", ReplyZxid)).save("close");
    s.expect_closed("b", 5000);
    s.call("a", create("/y", b"")).ok().stat(ReplyZxid, Rel::Gt, Saved("close", ReplyZxid));
    v.push(s.done());

    let mut s = Script::new("session", "edge: a pipelined sync then read sees another server's write");
    s.connect("c");
    s.connect_to("o", 1, DEFAULT_TIMEOUT_MS);
    s.call("o", create("/s", b"v1")).ok();
    s.pipeline();
    s.call("c", sync("/s")).path("/s").save("sync");
    s.call("c", get("/s", false)).data(b"v1").stat(ReplyZxid, Rel::Eq, Saved("sync", ReplyZxid));
    s.call("c", sync("^/")).path("/");
    s.call("c", exists("/s", false)).ok();
    s.end_pipeline();
    v.push(s.done());
}
