//! The Stat rules: which write changes which field, compared by relation across targets.

use crate::suite::scenario::Field::*;
use crate::suite::scenario::Operand::{Saved, Session, This};
use crate::suite::scenario::*;
use crate::suite::wire::{mode, CreateKind};

pub fn scenarios() -> Vec<Scenario> {
    let mut v = Vec::new();

    let mut s = Script::new("stat", "after create: czxid = mzxid = pzxid = the create's zxid");
    s.connect("a");
    s.call("a", create2("/n", b"abc"))
        .path("/n")
        .stat(Czxid, Rel::Eq, This(ReplyZxid))
        .stat(Mzxid, Rel::Eq, This(Czxid))
        .stat(Pzxid, Rel::Eq, This(Czxid))
        .stat(Mtime, Rel::Eq, This(Ctime))
        .stat_is(Version, 0)
        .stat_is(Cversion, 0)
        .stat_is(Aversion, 0)
        .stat_is(EphemeralOwner, 0)
        .stat_is(DataLength, 3)
        .stat_is(NumChildren, 0)
        .save("created");
    s.call("a", exists("/n", false)).ok().stat(Czxid, Rel::Eq, Saved("created", Czxid)).stat(
        Ctime,
        Rel::Eq,
        Saved("created", Ctime),
    );
    v.push(s.done());

    let mut s = Script::new("stat", "after setData: mzxid, mtime and version move, the rest stays");
    s.connect("a");
    s.call("a", create2("/n", b"a")).ok().save("c");
    s.call("a", set("/n", b"bb", -1))
        .ok()
        .stat(Mzxid, Rel::Gt, Saved("c", Czxid))
        .stat(Mzxid, Rel::Eq, This(ReplyZxid))
        .stat(Czxid, Rel::Eq, Saved("c", Czxid))
        .stat(Pzxid, Rel::Eq, Saved("c", Pzxid))
        .stat(Mtime, Rel::Ge, Saved("c", Mtime))
        .stat(Ctime, Rel::Eq, Saved("c", Ctime))
        .stat_is(Version, 1)
        .stat_is(Cversion, 0)
        .stat_is(DataLength, 2)
        .save("s1");
    s.call("a", set("/n", b"bb", -1)).ok().stat_is(Version, 2).stat(Mzxid, Rel::Gt, Saved("s1", Mzxid));
    v.push(s.done());

    let mut s = Script::new("stat", "child create and delete move the parent's cversion and pzxid only");
    s.connect("a");
    s.call("a", create2("/p", b"")).ok().save("p");
    s.call("a", create2("/p/c1", b"")).ok().save("c1");
    s.call("a", exists("/p", false))
        .ok()
        .stat_is(Cversion, 1)
        .stat_is(NumChildren, 1)
        .stat(Pzxid, Rel::Eq, Saved("c1", Czxid))
        .stat(Mzxid, Rel::Eq, Saved("p", Mzxid))
        .stat_is(Version, 0);
    s.call("a", create2("/p/c2", b"")).ok();
    s.call("a", delete("/p/c1", -1)).ok().save("d");
    s.call("a", exists("/p", false)).ok().stat_is(Cversion, 3).stat_is(NumChildren, 1).stat(
        Pzxid,
        Rel::Eq,
        Saved("d", ReplyZxid),
    );
    s.call("a", set("/p/c2", b"x", -1)).ok();
    s.call("a", exists("/p", false)).ok().stat_is(Cversion, 3).stat(Pzxid, Rel::Eq, Saved("d", ReplyZxid));
    v.push(s.done());

    let mut s = Script::new("stat", "setACL moves aversion only");
    s.connect("a");
    s.call("a", create2("/n", b"")).ok().save("c");
    s.call("a", set_acl("/n", vec![acl(31, "world", "anyone")], 0))
        .ok()
        .stat_is(Aversion, 1)
        .stat_is(Version, 0)
        .stat(Mzxid, Rel::Eq, Saved("c", Mzxid))
        .stat(Mtime, Rel::Eq, Saved("c", Mtime));
    s.call("a", set_acl("/n", vec![acl(31, "world", "anyone")], 0)).err(code::BAD_VERSION);
    v.push(s.done());

    let mut s = Script::new("stat", "an ephemeral's owner is its session");
    s.connect("a");
    s.connect("b");
    s.call("a", create_with("/e", b"", mode::EPHEMERAL, CreateKind::Create2))
        .ok()
        .stat(EphemeralOwner, Rel::Eq, Session("a"))
        .stat(EphemeralOwner, Rel::Ne, Session("b"));
    s.call("b", exists("/e", false)).ok().stat(EphemeralOwner, Rel::Eq, Session("a"));
    v.push(s.done());

    let mut s = Script::new("stat", "getChildren2's Stat is the node's Stat");
    s.connect("a");
    s.call("a", create("/p", b"xy")).ok();
    s.call("a", create("/p/k", b"")).ok();
    s.call("a", exists("/p", false)).ok().save("e");
    s.call("a", children2("/p", false))
        .children(&["k"])
        .stat(Czxid, Rel::Eq, Saved("e", Czxid))
        .stat(Pzxid, Rel::Eq, Saved("e", Pzxid))
        .stat(Cversion, Rel::Eq, Saved("e", Cversion))
        .stat(DataLength, Rel::Eq, Saved("e", DataLength));
    v.push(s.done());

    let mut s = Script::new("stat", "zxids increase with every write, reads do not move them");
    s.connect("a");
    s.call("a", create2("/n", b"")).ok().save("w1");
    s.call("a", get("/n", false)).ok().stat(ReplyZxid, Rel::Eq, Saved("w1", ReplyZxid));
    s.call("a", set("/n", b"1", -1)).ok().stat(ReplyZxid, Rel::Gt, Saved("w1", ReplyZxid)).save("w2");
    s.call("a", create2("/m", b"")).ok().stat(Czxid, Rel::Gt, Saved("w2", Mzxid)).save("w3");
    s.call("a", delete("/m", -1)).ok().stat(ReplyZxid, Rel::Gt, Saved("w3", Czxid));
    v.push(s.done());

    let mut s = Script::new("stat", "a failed write does not change the node");
    s.connect("a");
    s.call("a", create2("/n", b"x")).ok().save("c");
    s.call("a", set("/n", b"y", 7)).err(code::BAD_VERSION);
    s.call("a", get("/n", false)).data(b"x").stat(Mzxid, Rel::Eq, Saved("c", Mzxid)).stat_is(Version, 0);
    v.push(s.done());

    v
}
