//! Sessions: timeout negotiation, expiry, resuming on another connection, passwords, close.

use crate::suite::scenario::code::*;
use crate::suite::scenario::*;
use crate::suite::target::config::{MAX_SESSION_MS, MIN_SESSION_MS};
use crate::suite::wire::{mode, CreateKind, Op};

pub fn scenarios() -> Vec<Scenario> {
    let mut v = Vec::new();
    let (min, max) = (MIN_SESSION_MS as i32, MAX_SESSION_MS as i32);

    let mut s = Script::new("session", "the timeout is clamped to [2, 20] ticks");
    s.connect_negotiating("low", 100, min);
    s.connect_negotiating("high", 1_000_000, max);
    s.connect_negotiating("mid", 4000, 4000);
    v.push(s.done());

    let mut s = Script::new("session", "every session gets its own id");
    s.connect("a");
    s.connect("b");
    s.call("a", create_with("/e", b"", mode::EPHEMERAL, CreateKind::Create2))
        .ok()
        .stat(Field::EphemeralOwner, Rel::Eq, Operand::Session("a"))
        .stat(Field::EphemeralOwner, Rel::Ne, Operand::Session("b"));
    v.push(s.done());

    let mut s = Script::new("session", "a session resumed on a new connection keeps its ephemerals");
    s.connect("a");
    s.call("a", create_with("/e", b"", mode::EPHEMERAL, CreateKind::Create)).ok();
    s.resume("a2", "a", 0);
    s.call("a2", exists("/e", false)).ok().stat(Field::EphemeralOwner, Rel::Eq, Operand::Session("a2"));
    s.call("a2", create("/more", b"")).ok();
    v.push(s.done());

    let mut s = Script::new("session", "a wrong password is refused and the session lives on");
    s.connect("a");
    s.call("a", create_with("/e", b"", mode::EPHEMERAL, CreateKind::Create)).ok();
    s.resume_refused("thief", "a", Password::Wrong);
    // ZooKeeper closes the session's current connection before it checks the password.
    s.expect_closed("a", 5000);
    s.resume("a2", "a", 0);
    s.call("a2", exists("/e", false)).ok().stat(Field::EphemeralOwner, Rel::Eq, Operand::Session("a2"));
    v.push(s.done());

    let mut s = Script::new("session", "an expired session cannot be resumed");
    s.connect_to("a", 0, 1000);
    s.call("a", create_with("/e", b"", mode::EPHEMERAL, CreateKind::Create)).ok();
    s.stop_pinging("a");
    s.expect_closed("a", 5000);
    s.resume_refused("late", "a", Password::Right);
    s.connect("b");
    s.call("b", exists("/e", false)).err(NO_NODE);
    v.push(s.done());

    let mut s = Script::new("session", "a session lives while it pings and dies when it stops");
    s.connect_to("a", 0, 1000);
    s.call("a", create_with("/e", b"", mode::EPHEMERAL, CreateKind::Create)).ok();
    s.wait(2500);
    s.call("a", exists("/e", false)).ok();
    s.stop_pinging("a");
    s.expect_closed("a", 5000);
    v.push(s.done());

    let mut s = Script::new("session", "closeSession answers, closes, and removes ephemerals");
    s.connect("a");
    s.connect("b");
    s.call("a", create_with("/e", b"", mode::EPHEMERAL, CreateKind::Create)).ok();
    s.call("a", Op::CloseSession).ok();
    s.expect_closed("a", 5000);
    s.call("b", exists("/e", false)).err(NO_NODE);
    s.resume_refused("again", "a", Password::Right);
    v.push(s.done());

    let mut s = Script::new("session", "an unknown session id is refused");
    s.connect("a");
    s.call("a", Op::CloseSession).ok();
    s.expect_closed("a", 5000);
    s.resume_refused("ghost", "a", Password::Right);
    v.push(s.done());

    let mut s = Script::new("session", "sync answers with its path");
    s.connect("a");
    s.call("a", create("/n", b"")).ok();
    s.call("a", sync("/n")).path("/n");
    s.call("a", sync("/")).path("/");
    v.push(s.done());

    let mut s = Script::new("session", "the server survives a restart with its data and sessions");
    s.connect_to("a", 0, 10_000);
    s.call("a", create("/durable", b"kept")).ok();
    s.call("a", create_with("/e", b"", mode::EPHEMERAL, CreateKind::Create)).ok();
    s.call("a", set("/durable", b"kept2", -1)).ok();
    s.kill(0);
    s.restart(0);
    s.connect("b");
    s.call("b", get("/durable", false)).data(b"kept2").stat_is(Field::Version, 1);
    s.call("b", exists("/e", false)).ok().stat(Field::EphemeralOwner, Rel::Eq, Operand::Session("a"));
    s.resume("a2", "a", 0);
    s.call("a2", Op::CloseSession).ok();
    s.call("b", exists("/e", false)).err(NO_NODE);
    v.push(s.done());

    v
}
