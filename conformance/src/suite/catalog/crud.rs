//! create, getData, setData, delete, exists, getChildren: results and error codes.

use crate::suite::scenario::code::*;
use crate::suite::scenario::*;
use crate::suite::wire::{CreateKind, Op};

pub fn scenarios() -> Vec<Scenario> {
    let mut v = Vec::new();

    let mut s = Script::new("crud", "create, get, set, delete");
    s.connect("a");
    s.call("a", create("/n", b"v1")).path("/n");
    s.call("a", get("/n", false)).data(b"v1").stat_is(Field::Version, 0);
    s.call("a", set("/n", b"v2", 0)).ok().stat_is(Field::Version, 1).stat_is(Field::DataLength, 2);
    s.call("a", get("/n", false)).data(b"v2");
    s.call("a", delete("/n", 1)).ok();
    s.call("a", get("/n", false)).err(NO_NODE);
    s.call("a", exists("/n", false)).err(NO_NODE);
    v.push(s.done());

    let mut s = Script::new("crud", "versions: setData and delete check them, -1 matches any");
    s.connect("a");
    s.call("a", create("/n", b"")).ok();
    s.call("a", set("/n", b"x", 5)).err(BAD_VERSION);
    s.call("a", set("/n", b"x", -1)).ok().stat_is(Field::Version, 1);
    s.call("a", set("/n", b"y", 1)).ok().stat_is(Field::Version, 2);
    s.call("a", delete("/n", 1)).err(BAD_VERSION);
    s.call("a", delete("/n", -1)).ok();
    v.push(s.done());

    let mut s = Script::new("crud", "NoNode for every operation on a missing node");
    s.connect("a");
    s.call("a", get("/missing", false)).err(NO_NODE);
    s.call("a", set("/missing", b"x", -1)).err(NO_NODE);
    s.call("a", delete("/missing", -1)).err(NO_NODE);
    s.call("a", children("/missing", false)).err(NO_NODE);
    s.call("a", children2("/missing", false)).err(NO_NODE);
    s.call("a", get_acl("/missing")).err(NO_NODE);
    s.call("a", set_acl("/missing", crate::suite::wire::Acl::open(), -1)).err(NO_NODE);
    s.call("a", create("/missing/child", b"")).err(NO_NODE);
    s.call("a", Op::GetAllChildrenNumber { path: "/missing".into() }).err(NO_NODE);
    v.push(s.done());

    let mut s = Script::new("crud", "NodeExists and NotEmpty");
    s.connect("a");
    s.call("a", create("/p", b"")).ok();
    s.call("a", create("/p", b"")).err(NODE_EXISTS);
    s.call("a", create("/p/c", b"")).ok();
    s.call("a", delete("/p", -1)).err(NOT_EMPTY);
    s.call("a", delete("/p/c", -1)).ok();
    s.call("a", delete("/p", -1)).ok();
    v.push(s.done());

    let mut s = Script::new("crud", "null data and empty data both read back empty");
    s.connect("a");
    s.call(
        "a",
        Op::Create {
            path: "/null".into(),
            data: None,
            acl: crate::suite::wire::Acl::open(),
            flags: 0,
            kind: CreateKind::Create,
        },
    )
    .ok();
    s.call("a", get("/null", false)).expect(Expect::NoData).stat_is(Field::DataLength, 0);
    s.call("a", create("/empty", b"")).ok();
    s.call("a", get("/empty", false)).expect(Expect::NoData).stat_is(Field::DataLength, 0);
    s.call("a", Op::SetData { path: "/empty".into(), data: None, version: -1 }).ok().stat_is(Field::DataLength, 0);
    v.push(s.done());

    let mut s = Script::new("crud", "binary data round trip");
    let blob: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    s.connect("a");
    s.call("a", create("/bin", &blob)).ok();
    s.call("a", get("/bin", false)).data(&blob).stat_is(Field::DataLength, 512);
    v.push(s.done());

    let mut s = Script::new("crud", "getChildren and getChildren2 list children");
    s.connect("a");
    s.call("a", create("/p", b"")).ok();
    s.call("a", children("/p", false)).children(&[]);
    for n in ["a", "b", "c"] {
        s.call("a", create(&format!("/p/{n}"), b"")).ok();
    }
    s.call("a", children("/p", false)).children(&["a", "b", "c"]);
    s.call("a", children2("/p", false)).children(&["a", "b", "c"]).stat_is(Field::NumChildren, 3);
    s.call("a", create("/p/a/deep", b"")).ok();
    s.call("a", children("/p", false)).children(&["a", "b", "c"]);
    v.push(s.done());

    let mut s = Script::new("crud", "getAllChildrenNumber counts every descendant");
    s.connect("a");
    s.call("a", create("/p", b"")).ok();
    s.call("a", create("/p/a", b"")).ok();
    s.call("a", create("/p/b", b"")).ok();
    s.call("a", create("/p/a/x", b"")).ok();
    s.call("a", Op::GetAllChildrenNumber { path: "/p".into() }).expect(Expect::Count(3));
    s.call("a", Op::GetAllChildrenNumber { path: "/p/b".into() }).expect(Expect::Count(0));
    v.push(s.done());

    let mut s = Script::new("crud", "invalid paths are BadArguments");
    s.connect("a");
    s.call("a", create("/p", b"")).ok();
    // ZooKeeper looks the parent up first (NoNode), then validates the whole path.
    for p in ["/p/", "/p/.", "/p/..", "/p/ctl\u{1}char", "/p/private\u{e000}use", "relative", "^"] {
        s.call("a", create(p, b"")).err(BAD_ARGUMENTS);
    }
    v.push(s.done());

    let mut s = Script::new("crud", "unicode names are ordinary names");
    s.connect("a");
    s.call("a", create("/ünïcödé-名前", b"u")).path("/ünïcödé-名前");
    s.call("a", children("/", false)).children(&["ünïcödé-名前"]);
    v.push(s.done());

    let mut s = Script::new("crud", "the reserved /zookeeper subtree");
    s.connect("a");
    s.call("a", exists("/zookeeper", false)).ok().stat_is(Field::Czxid, 0).stat_is(Field::NumChildren, 2);
    s.call("a", children("/zookeeper", false)).children(&["config", "quota"]);
    s.call("a", delete("/zookeeper", -1)).err(BAD_ARGUMENTS);
    s.call("a", delete("/zookeeper/quota", -1)).err(BAD_ARGUMENTS);
    s.call("a", get_acl("/zookeeper/config"))
        .expect(Expect::Acl(vec![acl(1, "world", "anyone")]))
        .stat_is(Field::Aversion, -1);
    v.push(s.done());

    let mut s = Script::new("crud", "unknown opcode: Unimplemented, then the connection closes");
    s.connect("a");
    s.call("a", Op::Raw { opcode: 99, body: vec![0, 0, 0, 1, b'/', 0, 0, 0, 0] }).err(UNIMPLEMENTED);
    s.expect_closed("a", 5000);
    v.push(s.done());

    let mut s = Script::new("crud", "a frame shorter than its header closes the connection");
    s.connect("a");
    s.send_raw("a", &[0, 0, 0, 3, b'a', b'b', b'c']);
    s.expect_closed("a", 5000);
    s.connect("b");
    s.call("b", exists("/", false)).ok();
    v.push(s.done());

    let mut s = Script::new("crud", "a negative frame length closes the connection");
    s.connect("a");
    s.send_raw("a", &[0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0]);
    s.expect_closed("a", 5000);
    v.push(s.done());

    let mut s = Script::new("crud", "pipelined requests are answered in order");
    s.connect("a");
    s.pipeline();
    s.call("a", create("/p", b"0")).ok();
    for i in 1..=20 {
        s.call("a", set("/p", format!("{i}").as_bytes(), i - 1)).ok().stat_is(Field::Version, i.into());
    }
    s.call("a", get("/p", false)).data(b"20");
    s.call("a", delete("/p", 20)).ok();
    s.call("a", get("/p", false)).err(NO_NODE);
    s.end_pipeline();
    v.push(s.done());

    let mut s = Script::new("crud", "reconfig is disabled; a SASL token gets an empty answer; ping answers");
    s.connect("a");
    s.call(
        "a",
        Op::Reconfig {
            joining: Some("server.9=127.0.0.1:1:2".into()),
            leaving: None,
            new_members: None,
            config_id: -1,
        },
    )
    .err(RECONFIG_DISABLED);
    // GetSASLRequest with a 5-byte token: no provider, so an empty answer with zxid 0.
    s.call("a", Op::Raw { opcode: 102, body: [&5i32.to_be_bytes()[..], b"token"].concat() })
        .ok()
        .stat_is(Field::ReplyZxid, 0);
    s.call("a", Op::Ping).ok();
    s.call("a", exists("/", false)).ok();
    v.push(s.done());

    v
}
