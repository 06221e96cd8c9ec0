//! Three servers: one image whichever member a client talks to; a member lost and back.

use crate::suite::scenario::code::*;
use crate::suite::scenario::event::*;
use crate::suite::scenario::*;
use crate::suite::wire::{mode, CreateKind, Op};

pub fn scenarios() -> Vec<Scenario> {
    let mut v = Vec::new();

    let mut s = Script::new("ensemble", "write on one member, sync and read on every other").servers(3);
    s.connect_to("a", 0, 4000);
    s.connect_to("b", 1, 4000);
    s.connect_to("c", 2, 4000);
    s.call("a", create("/n", b"one")).ok();
    s.call("b", sync("/n")).path("/n");
    s.call("b", get("/n", false)).data(b"one");
    s.call("c", sync("/n")).path("/n");
    s.call("c", get("/n", false)).data(b"one");
    s.call("c", set("/n", b"two", 0)).ok().stat_is(Field::Version, 1);
    s.call("a", sync("/n")).ok();
    s.call("a", get("/n", false)).data(b"two").stat_is(Field::Version, 1);
    v.push(s.done());

    let mut s = Script::new("ensemble", "watches fire on every member").servers(3);
    s.connect_to("a", 0, 4000);
    s.connect_to("w1", 1, 4000);
    s.connect_to("w2", 2, 4000);
    s.call("w1", exists("/n", true)).err(NO_NODE);
    s.call("w2", exists("/n", true)).err(NO_NODE);
    s.call("a", create("/n", b"")).ok();
    s.events("w1", &[(CREATED, "/n")]);
    s.events("w2", &[(CREATED, "/n")]);
    v.push(s.done());

    let mut s = Script::new("ensemble", "a session moves to another member").servers(3);
    s.connect_to("a", 0, 6000);
    s.call("a", create_with("/e", b"", mode::EPHEMERAL, CreateKind::Create)).ok();
    s.disconnect("a");
    s.resume("a2", "a", 1);
    s.call("a2", sync("/")).ok();
    s.call("a2", exists("/e", false)).ok().stat(Field::EphemeralOwner, Rel::Eq, Operand::Session("a"));
    s.call("a2", Op::GetEphemerals { prefix: "/".into() }).expect(Expect::Paths(vec!["/e".into()]));
    v.push(s.done());

    let mut s = Script::new("ensemble", "an expired session's ephemerals go on every member").servers(3);
    s.connect_to("a", 0, 1000);
    s.connect_to("w", 2, 4000);
    s.call("a", create_with("/e", b"", mode::EPHEMERAL, CreateKind::Create)).ok();
    s.call("w", sync("/e")).ok();
    s.call("w", exists("/e", true)).ok();
    s.stop_pinging("a");
    s.events("w", &[(DELETED, "/e")]);
    v.push(s.done());

    let mut s = Script::new("ensemble", "sequential names are unique across members").servers(3);
    s.connect_to("a", 0, 4000);
    s.connect_to("b", 1, 4000);
    s.call("a", create("/q", b"")).ok();
    s.call("b", sync("/q")).ok();
    s.call("a", create_with("/q/n-", b"", mode::PERSISTENT_SEQUENTIAL, CreateKind::Create)).path("/q/n-0000000000");
    s.call("b", create_with("/q/n-", b"", mode::PERSISTENT_SEQUENTIAL, CreateKind::Create)).path("/q/n-0000000001");
    s.call("a", create_with("/q/n-", b"", mode::PERSISTENT_SEQUENTIAL, CreateKind::Create)).path("/q/n-0000000002");
    v.push(s.done());

    let mut s = Script::new("ensemble", "a member killed and restarted catches up").servers(3);
    s.connect_to("a", 0, 6000);
    s.call("a", create("/before", b"1")).ok();
    s.kill(2);
    // If member 3 led, the others drop their clients while they elect: a new session.
    s.connect_to("b", 0, 6000);
    s.call("b", create("/during", b"2")).ok();
    s.call("b", set("/before", b"1b", -1)).ok();
    s.restart(2);
    s.connect_to("c", 2, 6000);
    s.call("c", sync("/")).ok();
    s.call("c", get("/before", false)).data(b"1b");
    s.call("c", get("/during", false)).data(b"2");
    v.push(s.done());

    v
}
