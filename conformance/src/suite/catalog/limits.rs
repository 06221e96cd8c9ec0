//! Limits: jute.maxbuffer for data and paths, long names, many children.

use crate::suite::scenario::code::*;
use crate::suite::scenario::*;
use crate::suite::target::config::JUTE_MAXBUFFER;
use crate::suite::wire::Op;

pub fn scenarios() -> Vec<Scenario> {
    let mut v = Vec::new();

    let mut s = Script::new("limits", "data of 1 MB is stored and read back");
    let big = vec![b'd'; 1_000_000];
    s.connect("a");
    s.call("a", create("/big", &big)).ok();
    s.call("a", get("/big", false)).data(&big).stat_is(Field::DataLength, 1_000_000);
    v.push(s.done());

    let mut s = Script::new("limits", "a frame over jute.maxbuffer closes the connection, nothing written");
    s.connect("a");
    s.call("a", create("/toobig", &vec![b'x'; JUTE_MAXBUFFER + 1])).expect(Expect::Closed);
    s.connect("b");
    s.call("b", exists("/toobig", false)).err(NO_NODE);
    v.push(s.done());

    let mut s = Script::new("limits", "a 200 KiB name is an ordinary name");
    let name = "n".repeat(200 * 1024);
    let path = format!("/{name}");
    s.connect("a");
    s.call("a", create(&path, b"")).path(&path);
    s.call("a", children("/", false)).children(&[name.as_str()]);
    s.call("a", delete(&path, -1)).ok();
    v.push(s.done());

    let mut s = Script::new("limits", "a path longer than jute.maxbuffer closes the connection");
    s.connect("a");
    s.call("a", get(&format!("/{}", "p".repeat(JUTE_MAXBUFFER)), false)).expect(Expect::Closed);
    v.push(s.done());

    let mut s = Script::new("limits", "a deep path whose parent is missing is NoNode");
    let deep: String = (0..200).map(|i| format!("/level{i}")).collect();
    s.connect("a");
    s.call("a", create(&deep, b"")).err(NO_NODE);
    v.push(s.done());

    let mut s = Script::new("limits", "2,000 children, listed and counted");
    s.connect("a");
    s.call("a", create("/many", b"")).ok();
    s.pipeline();
    for i in 0..2000 {
        s.call("a", create(&format!("/many/c{i:04}"), b"")).ok();
    }
    s.end_pipeline();
    let names: Vec<String> = (0..2000).map(|i| format!("c{i:04}")).collect();
    s.call("a", children("/many", false)).expect(Expect::Children(names));
    s.call("a", Op::GetAllChildrenNumber { path: "/many".into() }).expect(Expect::Count(2000));
    s.call("a", exists("/many", false)).ok().stat_is(Field::NumChildren, 2000).stat_is(Field::Cversion, 2000);
    v.push(s.done());

    let mut s = Script::new("limits", "a multi of 1,000 ops is one txn");
    s.connect("a");
    s.call("a", create("/bulk", b"")).ok();
    s.call("a", Op::Multi((0..1000).map(|i| create(&format!("/bulk/k{i}"), b"")).collect()))
        .expect(Expect::Multi((0..1000).map(|i| MultiExpect::Path(format!("/bulk/k{i}"))).collect()))
        .save("m");
    s.call("a", exists("/bulk/k999", false)).ok().stat(Field::Czxid, Rel::Eq, Operand::Saved("m", Field::ReplyZxid));
    s.call("a", exists("/bulk/k0", false)).ok().stat(Field::Czxid, Rel::Eq, Operand::Saved("m", Field::ReplyZxid));
    v.push(s.done());

    v
}
