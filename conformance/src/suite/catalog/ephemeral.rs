//! Sequential naming and the lifecycle of ephemeral, container and TTL nodes.

use crate::suite::scenario::code::*;
use crate::suite::scenario::event::*;
use crate::suite::scenario::Field::*;
use crate::suite::scenario::*;
use crate::suite::wire::{mode, CreateKind, Op};

pub fn scenarios() -> Vec<Scenario> {
    let mut v = Vec::new();

    let mut s = Script::new("sequential", "names share the parent's counter, 10 digits");
    s.connect("a");
    s.call("a", create("/q", b"")).ok();
    s.call("a", sequential("/q/a-")).path("/q/a-0000000000");
    s.call("a", sequential("/q/b-")).path("/q/b-0000000001");
    s.call("a", create("/q/plain", b"")).ok();
    s.call("a", sequential("/q/c-")).path("/q/c-0000000003");
    // The counter is the parent's count of child creates: a delete does not move it.
    s.call("a", delete("/q/plain", -1)).ok();
    s.call("a", sequential("/q/c-")).path("/q/c-0000000004");
    v.push(s.done());

    let mut s = Script::new("sequential", "an empty prefix names the child by its number");
    s.connect("a");
    s.call("a", create("/q", b"")).ok();
    s.call("a", sequential("/q/")).path("/q/0000000000");
    v.push(s.done());

    let mut s = Script::new("sequential", "ephemeral sequential: numbered and owned");
    s.connect("a");
    s.call("a", create("/q", b"")).ok();
    s.call("a", create_with("/q/lock-", b"", mode::EPHEMERAL_SEQUENTIAL, CreateKind::Create2))
        .path("/q/lock-0000000000")
        .stat(EphemeralOwner, Rel::Eq, Operand::Session("a"))
        .save("l");
    s.call("a", get("$l", false)).ok().stat(EphemeralOwner, Rel::Eq, Operand::Session("a"));
    v.push(s.done());

    let mut s = Script::new("ephemeral", "ephemerals cannot have children");
    s.connect("a");
    s.call("a", create_with("/e", b"", mode::EPHEMERAL, CreateKind::Create)).ok();
    s.call("a", create("/e/c", b"")).err(NO_CHILDREN_FOR_EPHEMERALS);
    v.push(s.done());

    let mut s = Script::new("ephemeral", "closing the session deletes its ephemerals and tells watchers");
    s.connect("a");
    s.connect("b");
    s.call("a", create_with("/e", b"", mode::EPHEMERAL, CreateKind::Create)).ok();
    s.call("b", exists("/e", true)).ok();
    s.call("a", Op::CloseSession).ok();
    s.expect_closed("a", 5000);
    s.events("b", &[(DELETED, "/e")]);
    s.call("b", exists("/e", false)).err(NO_NODE);
    v.push(s.done());

    let mut s = Script::new("ephemeral", "an expired session's ephemerals go, and its connection closes");
    s.connect_to("a", 0, 1000);
    s.connect("b");
    s.call("a", create_with("/e", b"", mode::EPHEMERAL, CreateKind::Create)).ok();
    s.call("b", exists("/e", true)).ok();
    s.stop_pinging("a");
    s.events("b", &[(DELETED, "/e")]);
    s.expect_closed("a", 5000);
    s.call("b", exists("/e", false)).err(NO_NODE);
    v.push(s.done());

    let mut s = Script::new("ephemeral", "a dropped connection keeps the session and its ephemerals");
    s.connect("a");
    s.call("a", create_with("/e", b"", mode::EPHEMERAL, CreateKind::Create)).ok();
    s.disconnect("a");
    s.wait(500);
    s.resume("a2", "a", 0);
    s.call("a2", exists("/e", false)).ok().stat(EphemeralOwner, Rel::Eq, Operand::Session("a2"));
    v.push(s.done());

    let mut s = Script::new("ephemeral", "getEphemerals lists the session's own ephemerals");
    s.connect("a");
    s.connect("b");
    s.call("a", create("/d", b"")).ok();
    s.call("a", create_with("/d/e1", b"", mode::EPHEMERAL, CreateKind::Create)).ok();
    s.call("a", create_with("/d/s-", b"", mode::EPHEMERAL_SEQUENTIAL, CreateKind::Create)).ok();
    s.call("b", create_with("/d/other", b"", mode::EPHEMERAL, CreateKind::Create)).ok();
    s.call("a", Op::GetEphemerals { prefix: "/d".into() })
        .expect(Expect::Paths(vec!["/d/e1".into(), "/d/s-0000000001".into()]));
    s.call("b", Op::GetEphemerals { prefix: "/".into() }).expect(Expect::Paths(vec!["/d/other".into()]));
    v.push(s.done());

    let mut s = Script::new("container", "a container is deleted once its last child goes");
    s.connect("a");
    s.call("a", create_with("/box", b"", mode::CONTAINER, CreateKind::Container))
        .path("/box")
        .stat_is(EphemeralOwner, 0);
    s.call("a", create("/box/item", b"")).ok();
    s.wait(600);
    s.call("a", exists("/box", false)).ok();
    s.call("a", exists("/box", true)).ok();
    s.call("a", delete("/box/item", -1)).ok();
    s.events("a", &[(DELETED, "/box")]);
    s.call("a", exists("/box", false)).err(NO_NODE);
    v.push(s.done());

    let mut s = Script::new("container", "createContainer makes a container whatever the mode flags say");
    s.connect("a");
    s.call("a", create_with("/box", b"", mode::PERSISTENT, CreateKind::Container))
        .path("/box")
        .stat_is(EphemeralOwner, 0);
    s.call("a", create("/box/item", b"")).ok();
    s.call("a", exists("/box", true)).ok();
    s.call("a", delete("/box/item", -1)).ok();
    s.events("a", &[(DELETED, "/box")]);
    v.push(s.done());

    let mut s = Script::new("ttl", "a TTL node without children goes after its TTL");
    s.connect("a");
    s.call("a", create_with("/t", b"", mode::PERSISTENT_WITH_TTL, CreateKind::Ttl(300)))
        .path("/t")
        .stat_is(EphemeralOwner, 0);
    s.call("a", exists("/t", true)).ok();
    s.events("a", &[(DELETED, "/t")]);
    s.call("a", exists("/t", false)).err(NO_NODE);
    v.push(s.done());

    let mut s = Script::new("ttl", "sequential TTL nodes are numbered");
    s.connect("a");
    s.call("a", create("/q", b"")).ok();
    s.call("a", create_with("/q/t-", b"", mode::PERSISTENT_SEQUENTIAL_WITH_TTL, CreateKind::Ttl(60_000)))
        .path("/q/t-0000000000");
    v.push(s.done());

    let mut s = Script::new("ttl", "bad TTLs and modes are BadArguments");
    s.connect("a");
    for (flags, ttl) in [
        (mode::PERSISTENT_WITH_TTL, 0),
        (mode::PERSISTENT_WITH_TTL, -5),
        (mode::PERSISTENT_WITH_TTL, 1 << 40),
        (mode::PERSISTENT, 1000),
        (9, -1),
    ] {
        s.call("a", create_with("/bad", b"", flags, CreateKind::Ttl(ttl))).err(BAD_ARGUMENTS);
    }
    s.call("a", exists("/bad", false)).err(NO_NODE);
    s.call("a", create_with("/bad", b"", mode::PERSISTENT_WITH_TTL, CreateKind::Create)).err(BAD_ARGUMENTS);
    v.push(s.done());

    v
}
