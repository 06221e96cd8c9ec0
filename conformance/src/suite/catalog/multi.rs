//! multi (atomic writes) and multiRead (independent reads): per-op results and atomicity.

use crate::suite::scenario::code::*;
use crate::suite::scenario::event::*;
use crate::suite::scenario::Field::*;
use crate::suite::scenario::*;
use crate::suite::wire::{mode, CreateKind, Op};

pub fn scenarios() -> Vec<Scenario> {
    let mut v = Vec::new();

    let mut s = Script::new("multi", "a successful multi answers every op");
    s.connect("a");
    s.call(
        "a",
        Op::Multi(vec![create("/a", b"a"), create("/b", b"bb"), set("/a", b"a2", 0), check("/b", 0), delete("/a", 1)]),
    )
    .expect(Expect::Multi(vec![
        MultiExpect::Path("/a".into()),
        MultiExpect::Path("/b".into()),
        MultiExpect::Ok,
        MultiExpect::Ok,
        MultiExpect::Ok,
    ]))
    .save("m");
    s.call("a", exists("/a", false)).err(NO_NODE);
    s.call("a", get("/b", false)).data(b"bb").stat(Czxid, Rel::Eq, Operand::Saved("m", ReplyZxid));
    v.push(s.done());

    let mut s = Script::new("multi", "a failed multi changes nothing and marks the ops after the failure");
    s.connect("a");
    s.call("a", create("/e", b"")).ok();
    s.call("a", exists("/e", false)).ok().save("before");
    s.call("a", Op::Multi(vec![create("/x", b""), create("/e", b""), delete("/e", -1)])).expect(Expect::Multi(vec![
        MultiExpect::Err(OK),
        MultiExpect::Err(NODE_EXISTS),
        MultiExpect::Err(RUNTIME_INCONSISTENCY),
    ]));
    s.call("a", exists("/x", false)).err(NO_NODE);
    s.call("a", exists("/e", false)).ok().stat(Mzxid, Rel::Eq, Operand::Saved("before", Mzxid));
    v.push(s.done());

    let mut s = Script::new("multi", "a failing check rolls back the whole multi");
    s.connect("a");
    s.call("a", create("/n", b"v")).ok();
    s.call("a", Op::Multi(vec![set("/n", b"w", -1), check("/n", 0)]))
        .expect(Expect::Multi(vec![MultiExpect::Err(OK), MultiExpect::Err(BAD_VERSION)]));
    s.call("a", get("/n", false)).data(b"v").stat_is(Version, 0);
    s.call("a", Op::Multi(vec![check("/missing", -1), create("/y", b"")]))
        .expect(Expect::Multi(vec![MultiExpect::Err(NO_NODE), MultiExpect::Err(RUNTIME_INCONSISTENCY)]));
    v.push(s.done());

    let mut s = Script::new("multi", "later ops see earlier ops of the same multi");
    s.connect("a");
    s.call(
        "a",
        Op::Multi(vec![
            create("/p", b""),
            create("/p/c", b""),
            set("/p/c", b"x", 0),
            check("/p/c", 1),
            delete("/p/c", 1),
            delete("/p", 0),
            create("/p", b"again"),
        ]),
    )
    .expect(Expect::Multi(vec![
        MultiExpect::Path("/p".into()),
        MultiExpect::Path("/p/c".into()),
        MultiExpect::Ok,
        MultiExpect::Ok,
        MultiExpect::Ok,
        MultiExpect::Ok,
        MultiExpect::Path("/p".into()),
    ]));
    s.call("a", get("/p", false)).data(b"again").stat_is(Cversion, 0);
    v.push(s.done());

    let mut s = Script::new("multi", "sequential, container and TTL creates in a multi");
    s.connect("a");
    s.call("a", create("/q", b"")).ok();
    s.call(
        "a",
        Op::Multi(vec![
            create_with("/q/s-", b"", mode::PERSISTENT_SEQUENTIAL, CreateKind::Create),
            create_with("/q/s-", b"", mode::PERSISTENT_SEQUENTIAL, CreateKind::Create),
            create_with("/box", b"", mode::CONTAINER, CreateKind::Container),
            create_with("/t", b"", mode::PERSISTENT_WITH_TTL, CreateKind::Ttl(60_000)),
        ]),
    )
    .expect(Expect::Multi(vec![
        MultiExpect::Path("/q/s-0000000000".into()),
        MultiExpect::Path("/q/s-0000000001".into()),
        MultiExpect::Path("/box".into()),
        MultiExpect::Path("/t".into()),
    ]));
    v.push(s.done());

    let mut s = Script::new("multi", "an empty multi succeeds with no results");
    s.connect("a");
    s.call("a", Op::Multi(vec![])).expect(Expect::Multi(vec![]));
    v.push(s.done());

    let mut s = Script::new("multi", "a multi's watch events all come, the writer's before its reply");
    s.connect("a");
    s.connect("w");
    s.call("a", create("/x", b"")).ok();
    s.call("a", create("/y", b"")).ok();
    s.call("w", get("/x", true)).ok();
    s.call("w", exists("/y", true)).ok();
    s.call("a", get("/x", true)).ok();
    s.call("a", Op::Multi(vec![set("/x", b"1", -1), delete("/y", -1)]))
        .expect(Expect::Multi(vec![MultiExpect::Ok, MultiExpect::Ok]))
        .events_before(&[(DATA_CHANGED, "/x")]);
    s.events("w", &[(DATA_CHANGED, "/x"), (DELETED, "/y")]);
    v.push(s.done());

    let mut s = Script::new("multi", "multiRead answers each read on its own");
    s.connect("a");
    s.call("a", create("/r", b"data")).ok();
    s.call("a", create("/r/k1", b"")).ok();
    s.call(
        "a",
        Op::MultiRead(vec![get("/r", false), children("/r", false), get("/missing", false), children("/", false)]),
    )
    .expect(Expect::Multi(vec![MultiExpect::Ok, MultiExpect::Ok, MultiExpect::Err(NO_NODE), MultiExpect::Ok]));
    v.push(s.done());

    let mut s = Script::new("multi", "a write in a multiRead is refused, the connection kept");
    s.connect("a");
    s.call("a", Op::MultiRead(vec![create("/m", b""), get("/", false)])).err(MARSHALLING_ERROR);
    s.call("a", exists("/m", false)).err(NO_NODE);
    v.push(s.done());

    v
}
