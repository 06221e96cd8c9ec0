//! One-shot, persistent and recursive watches: which events, in which order, to whom.

use crate::suite::scenario::code::*;
use crate::suite::scenario::event::*;
use crate::suite::scenario::watcher::{ANY, CHILDREN, DATA};
use crate::suite::scenario::*;
use crate::suite::wire::Op;

fn set_watches(relative_zxid: i64, data: &[&str], exist: &[&str], child: &[&str]) -> Op {
    let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
    Op::SetWatches {
        relative_zxid,
        data: v(data),
        exist: v(exist),
        child: v(child),
        persistent: vec![],
        recursive: vec![],
    }
}

pub fn scenarios() -> Vec<Scenario> {
    let mut v = Vec::new();

    let mut s = Script::new("watch", "a data watch fires once");
    s.connect("w");
    s.connect("a");
    s.call("a", create("/n", b"0")).ok();
    s.call("w", get("/n", true)).data(b"0");
    s.call("a", set("/n", b"1", -1)).ok();
    s.call("a", set("/n", b"2", -1)).ok();
    s.events("w", &[(DATA_CHANGED, "/n")]);
    s.no_events("w");
    v.push(s.done());

    let mut s = Script::new("watch", "exists on a missing node watches for its creation");
    s.connect("w");
    s.connect("a");
    s.call("w", exists("/n", true)).err(NO_NODE);
    s.call("a", create("/n", b"")).ok();
    s.events("w", &[(CREATED, "/n")]);
    v.push(s.done());

    let mut s = Script::new("watch", "getData on a missing node leaves no watch");
    s.connect("w");
    s.connect("a");
    s.call("w", get("/n", true)).err(NO_NODE);
    s.call("a", create("/n", b"")).ok();
    s.no_events("w");
    v.push(s.done());

    let mut s = Script::new("watch", "a child watch fires on child create and delete, not on child data");
    s.connect("w");
    s.connect("a");
    s.call("a", create("/p", b"")).ok();
    s.call("w", children("/p", true)).children(&[]);
    s.call("a", create("/p/c", b"")).ok();
    s.events("w", &[(CHILDREN_CHANGED, "/p")]);
    s.call("w", children("/p", true)).children(&["c"]);
    s.call("a", set("/p/c", b"x", -1)).ok();
    s.call("a", set("/p", b"x", -1)).ok();
    s.no_events("w");
    s.call("a", delete("/p/c", -1)).ok();
    s.events("w", &[(CHILDREN_CHANGED, "/p")]);
    v.push(s.done());

    let mut s = Script::new("watch", "the writer's own watch event comes before its reply");
    s.connect("a");
    s.call("a", create("/n", b"0")).ok();
    s.call("a", get("/n", true)).data(b"0");
    s.call("a", set("/n", b"1", -1)).ok().events_before(&[(DATA_CHANGED, "/n")]);
    v.push(s.done());

    let mut s = Script::new("watch", "an event comes before the read that shows the change");
    s.connect("w");
    s.connect("a");
    s.call("a", create("/n", b"old")).ok();
    s.call("w", get("/n", true)).data(b"old");
    s.call("a", set("/n", b"new", -1)).ok();
    s.wait(200);
    s.call("w", get("/n", false)).data(b"new").events_before(&[(DATA_CHANGED, "/n")]);
    v.push(s.done());

    let mut s = Script::new("watch", "delete: one NodeDeleted per connection, NodeChildrenChanged on the parent");
    s.connect("both");
    s.connect("child");
    s.connect("parent");
    s.connect("a");
    s.call("a", create("/p", b"")).ok();
    s.call("a", create("/p/v", b"")).ok();
    s.call("both", get("/p/v", true)).ok();
    s.call("both", children("/p/v", true)).ok();
    s.call("child", children("/p/v", true)).ok();
    s.call("parent", children("/p", true)).ok();
    s.call("a", delete("/p/v", -1)).ok();
    s.events("both", &[(DELETED, "/p/v")]);
    s.events("child", &[(DELETED, "/p/v")]);
    s.events("parent", &[(CHILDREN_CHANGED, "/p")]);
    s.call("a", create("/p/v", b"")).ok();
    s.call("a", delete("/p/v", -1)).ok();
    s.no_events("both");
    s.no_events("child");
    s.no_events("parent");
    v.push(s.done());

    let mut s = Script::new("watch", "several watches on one node: one event per connection");
    s.connect("w");
    s.connect("a");
    s.call("a", create("/n", b"")).ok();
    s.call("w", get("/n", true)).ok();
    s.call("w", exists("/n", true)).ok();
    s.call("w", get("/n", true)).ok();
    s.call("a", set("/n", b"x", -1)).ok();
    s.events("w", &[(DATA_CHANGED, "/n")]);
    s.no_events("w");
    v.push(s.done());

    let mut s = Script::new("watch", "a persistent watch stays and sees its node's events only");
    s.connect("w");
    s.connect("a");
    s.call("a", create("/p", b"")).ok();
    s.call("w", add_watch("/p", false)).ok();
    s.call("a", set("/p", b"1", -1)).ok();
    s.call("a", set("/p", b"2", -1)).ok();
    s.call("a", create("/p/c", b"")).ok();
    s.call("a", set("/p/c", b"x", -1)).ok();
    s.call("a", create("/p/c/g", b"")).ok();
    s.call("a", delete("/p/c/g", -1)).ok();
    s.call("a", delete("/p/c", -1)).ok();
    s.call("a", delete("/p", -1)).ok();
    s.call("a", create("/p", b"")).ok();
    s.call("a", set("/p", b"3", -1)).ok();
    s.events(
        "w",
        &[
            (DATA_CHANGED, "/p"),
            (DATA_CHANGED, "/p"),
            (CHILDREN_CHANGED, "/p"),
            (CHILDREN_CHANGED, "/p"),
            (DELETED, "/p"),
            (CREATED, "/p"),
            (DATA_CHANGED, "/p"),
        ],
    );
    s.no_events("w");
    v.push(s.done());

    let mut s = Script::new("watch", "a persistent recursive watch sees the subtree, without child events");
    s.connect("w");
    s.connect("a");
    s.call("a", create("/r", b"")).ok();
    s.call("w", add_watch("/r", true)).ok();
    s.call("a", create("/r/a", b"")).ok();
    s.call("a", create("/r/a/b", b"")).ok();
    s.call("a", set("/r/a/b", b"x", -1)).ok();
    s.call("a", set("/r", b"top", -1)).ok();
    s.call("a", delete("/r/a/b", -1)).ok();
    s.call("a", create("/sibling", b"")).ok();
    s.call("a", create("/rx", b"")).ok();
    s.call("a", delete("/r/a", -1)).ok();
    s.events(
        "w",
        &[
            (CREATED, "/r/a"),
            (CREATED, "/r/a/b"),
            (DATA_CHANGED, "/r/a/b"),
            (DATA_CHANGED, "/r"),
            (DELETED, "/r/a/b"),
            (DELETED, "/r/a"),
        ],
    );
    s.no_events("w");
    v.push(s.done());

    let mut s = Script::new("watch", "a persistent watch on a missing node sees it created");
    s.connect("w");
    s.connect("a");
    s.call("w", add_watch("/later", false)).ok();
    s.call("a", create("/later", b"")).ok();
    s.call("a", create("/later/x", b"")).ok();
    s.events("w", &[(CREATED, "/later"), (CHILDREN_CHANGED, "/later")]);
    v.push(s.done());

    let mut s = Script::new("watch", "removeWatches and checkWatches by type");
    s.connect("w");
    s.connect("a");
    s.call("a", create("/n", b"")).ok();
    s.call("w", Op::CheckWatches { path: "/n".into(), kind: ANY }).err(NO_WATCHER);
    s.call("w", get("/n", true)).ok();
    s.call("w", Op::CheckWatches { path: "/n".into(), kind: DATA }).ok();
    s.call("w", Op::CheckWatches { path: "/n".into(), kind: CHILDREN }).err(NO_WATCHER);
    s.call("w", Op::RemoveWatches { path: "/n".into(), kind: CHILDREN }).err(NO_WATCHER);
    s.call("w", Op::RemoveWatches { path: "/n".into(), kind: DATA }).ok();
    s.call("w", Op::RemoveWatches { path: "/n".into(), kind: DATA }).err(NO_WATCHER);
    s.call("a", set("/n", b"1", -1)).ok();
    s.no_events("w");
    s.call("w", children("/n", true)).ok();
    s.call("w", add_watch("/n", true)).ok();
    s.call("w", Op::RemoveWatches { path: "/n".into(), kind: ANY }).ok();
    s.call("a", create("/n/k", b"")).ok();
    s.call("a", set("/n", b"2", -1)).ok();
    s.no_events("w");
    s.call("w", Op::RemoveWatches { path: "/never".into(), kind: ANY }).err(NO_WATCHER);
    v.push(s.done());

    let mut s = Script::new("watch", "removeWatches touches only the caller's watches");
    s.connect("w");
    s.connect("x");
    s.connect("a");
    s.call("a", create("/n", b"")).ok();
    s.call("w", get("/n", true)).ok();
    s.call("x", Op::RemoveWatches { path: "/n".into(), kind: DATA }).err(NO_WATCHER);
    s.call("a", set("/n", b"1", -1)).ok();
    s.events("w", &[(DATA_CHANGED, "/n")]);
    v.push(s.done());

    let mut s = Script::new("watch", "setWatches from zxid 0 fires at once for what exists");
    s.connect("a");
    s.connect("w");
    s.call("a", create("/d", b"")).ok();
    s.call("a", create("/e", b"")).ok();
    s.call("a", create("/c", b"")).ok();
    s.call("a", create("/c/k", b"")).ok();
    s.call("w", set_watches(0, &["/d", "/gone"], &["/e", "/absent"], &["/c"])).ok();
    // ZooKeeper sends these in the order it checks them: data, exist, child.
    s.events("w", &[(DATA_CHANGED, "/d"), (DELETED, "/gone"), (CREATED, "/e"), (CHILDREN_CHANGED, "/c")]);
    s.no_events("w");
    s.call("a", create("/absent", b"")).ok();
    s.events("w", &[(CREATED, "/absent")]);
    v.push(s.done());

    let mut s = Script::new("watch", "setWatches from the latest zxid registers without firing");
    s.connect("a");
    s.connect("w");
    s.call("a", create("/d", b"")).ok();
    s.call("w", set_watches(i64::MAX >> 1, &["/d"], &["/absent"], &[])).ok();
    s.no_events("w");
    s.call("a", set("/d", b"x", -1)).ok();
    s.call("a", create("/absent", b"")).ok();
    s.events("w", &[(DATA_CHANGED, "/d"), (CREATED, "/absent")]);
    v.push(s.done());

    let mut s = Script::new("watch", "watches are per session and survive nothing but their connection");
    s.connect("w");
    s.connect("a");
    s.call("a", create("/n", b"")).ok();
    s.call("w", get("/n", true)).ok();
    s.disconnect("w");
    s.resume("w2", "w", 0);
    s.call("a", set("/n", b"x", -1)).ok();
    s.no_events("w2");
    v.push(s.done());

    v
}
