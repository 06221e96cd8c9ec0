//! ACL schemes (world, auth, digest, ip, super), permission bits, addAuth and whoAmI.

use crate::suite::scenario::code::*;
use crate::suite::scenario::*;
use crate::suite::wire::Op;

/// `digest` id of `alice:secret`: alice:base64(sha1("alice:secret")).
const ALICE_DIGEST: &str = "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=";

pub fn scenarios() -> Vec<Scenario> {
    let mut v = Vec::new();

    let mut s = Script::new("acl", "digest: only the authenticated user reads");
    s.connect("a");
    s.connect("b");
    s.call("a", add_auth("digest", "alice:secret")).ok();
    s.call("a", create_acl("/d", b"x", vec![acl(31, "auth", "")])).ok();
    s.call("a", get_acl("/d")).expect(Expect::Acl(vec![acl(31, "digest", ALICE_DIGEST)]));
    s.call("a", get("/d", false)).data(b"x");
    s.call("b", get("/d", false)).err(NO_AUTH);
    s.call("b", set("/d", b"y", -1)).err(NO_AUTH);
    s.call("b", add_auth("digest", "alice:wrong")).ok();
    s.call("b", get("/d", false)).err(NO_AUTH);
    s.call("b", add_auth("digest", "alice:secret")).ok();
    s.call("b", get("/d", false)).data(b"x");
    v.push(s.done());

    let mut s = Script::new("acl", "digest ids given directly match addAuth'd users");
    s.connect("a");
    s.call("a", create_acl("/d", b"x", vec![acl(31, "digest", ALICE_DIGEST)])).ok();
    s.call("a", get("/d", false)).err(NO_AUTH);
    s.call("a", add_auth("digest", "alice:secret")).ok();
    s.call("a", get("/d", false)).data(b"x");
    v.push(s.done());

    let mut s = Script::new("acl", "permission bits: each operation needs its own");
    s.connect("a");
    s.call("a", create_acl("/r", b"", vec![acl(1, "world", "anyone")])).ok();
    s.call("a", get("/r", false)).ok();
    s.call("a", set("/r", b"x", -1)).err(NO_AUTH);
    s.call("a", create("/r/c", b"")).err(NO_AUTH);
    s.call("a", set_acl("/r", vec![acl(31, "world", "anyone")], -1)).err(NO_AUTH);
    s.call("a", create_acl("/w", b"", vec![acl(2 | 4 | 16, "world", "anyone")])).ok();
    s.call("a", get("/w", false)).err(NO_AUTH);
    s.call("a", children("/w", false)).err(NO_AUTH);
    s.call("a", set("/w", b"x", -1)).ok();
    s.call("a", create("/w/c", b"")).ok();
    s.call("a", delete("/w/c", -1)).err(NO_AUTH);
    s.call("a", set_acl("/w", vec![acl(31, "world", "anyone")], -1)).ok();
    s.call("a", delete("/w/c", -1)).ok();
    v.push(s.done());

    let mut s = Script::new("acl", "ip: the client's address matches, others do not");
    s.connect("a");
    s.call("a", create_acl("/mine", b"m", vec![acl(31, "ip", "127.0.0.1")])).ok();
    s.call("a", get("/mine", false)).data(b"m");
    s.call("a", create_acl("/net", b"n", vec![acl(31, "ip", "127.0.0.0/8")])).ok();
    s.call("a", get("/net", false)).data(b"n");
    s.call("a", create_acl("/other", b"o", vec![acl(31, "ip", "10.1.2.3")])).ok();
    s.call("a", get("/other", false)).err(NO_AUTH);
    v.push(s.done());

    let mut s = Script::new("acl", "super reads and writes anything");
    s.connect("a");
    s.call("a", create_acl("/locked", b"s", vec![acl(31, "ip", "10.1.2.3")])).ok();
    s.call("a", get("/locked", false)).err(NO_AUTH);
    s.call("a", add_auth("digest", "super:test")).ok();
    s.call("a", get("/locked", false)).data(b"s");
    s.call("a", delete("/locked", -1)).ok();
    v.push(s.done());

    let mut s = Script::new("acl", "invalid ACLs are refused on create and setACL");
    s.connect("a");
    s.call("a", create("/good", b"")).ok();
    for bad in [
        vec![],
        vec![acl(31, "world", "somebody")],
        vec![acl(31, "digest", "no-colon")],
        vec![acl(31, "ip", "not-an-ip")],
        vec![acl(31, "ip", "127.0.0.1/33")],
        vec![acl(31, "nosuchscheme", "x")],
        vec![acl(31, "auth", "")],
    ] {
        s.call("a", create_acl("/bad", b"", bad.clone())).err(INVALID_ACL);
        s.call("a", set_acl("/good", bad, -1)).err(INVALID_ACL);
    }
    s.call("a", exists("/bad", false)).err(NO_NODE);
    s.call("a", get_acl("/good")).expect(Expect::Acl(vec![acl(31, "world", "anyone")]));
    v.push(s.done());

    let mut s = Script::new("acl", "setACL checks the ACL version");
    s.connect("a");
    s.call("a", create("/v", b"")).ok();
    s.call("a", set_acl("/v", vec![acl(1, "world", "anyone")], 3)).err(BAD_VERSION);
    s.call("a", set_acl("/v", vec![acl(1, "world", "anyone")], 0)).ok().stat_is(Field::Aversion, 1);
    s.call("a", get_acl("/v")).expect(Expect::Acl(vec![acl(1, "world", "anyone")]));
    v.push(s.done());

    let mut s = Script::new("acl", "duplicate ACL entries collapse to one");
    s.connect("a");
    s.call("a", create_acl("/dup", b"", vec![acl(31, "world", "anyone"), acl(31, "world", "anyone")])).ok();
    s.call("a", get_acl("/dup")).expect(Expect::Acl(vec![acl(31, "world", "anyone")]));
    v.push(s.done());

    let mut s = Script::new("acl", "addAuth with an unknown scheme fails and closes the connection");
    s.connect("a");
    s.call("a", add_auth("nosuchscheme", "whatever")).err(AUTH_FAILED);
    s.expect_closed("a", 5000);
    v.push(s.done());

    let mut s = Script::new("acl", "whoAmI lists the connection's ids");
    s.connect("a");
    s.call("a", Op::WhoAmI).expect(who_am_i(&[("ip", "127.0.0.1")]));
    s.call("a", add_auth("digest", "frank:pw")).ok();
    s.call("a", add_auth("digest", "gina:pw")).ok();
    s.call("a", Op::WhoAmI).expect(who_am_i(&[("ip", "127.0.0.1"), ("digest", "frank"), ("digest", "gina")]));
    v.push(s.done());

    v
}
