//! Unit tests, interaction scripts (`testdata/*.txt`) and a seeded lossy-network simulation.

extern crate std;

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

use super::vote::Ballot;
use super::*;
use crate::quorum::{Majority, Member};

// ---------------------------------------------------------------- helpers

fn maj(voters: &[u64], observers: &[u64]) -> Majority {
    let mut list = Vec::new();
    list.extend(voters.iter().map(|&v| Member::voter(v)));
    list.extend(observers.iter().map(|&o| Member::observer(o)));
    Majority::new(&list).unwrap()
}

fn vote(epoch: u32, zxid: u64, id: u64) -> Vote {
    Vote { peer_epoch: epoch, zxid: Zxid(zxid), leader: ServerId(id) }
}

fn looking(leader: u64, zxid: u64, round: u64, epoch: u32) -> Notification {
    Notification {
        state: ServerState::Looking,
        leader: ServerId(leader),
        zxid: Zxid(zxid),
        election_epoch: round,
        peer_epoch: epoch,
    }
}

fn inputs(zxid: u64, epoch: u32) -> VoteInputs {
    VoteInputs { last_logged_zxid: Zxid(zxid), current_epoch: epoch }
}

fn drain(e: &mut Election<Majority>) -> Vec<Transmit> {
    core::iter::from_fn(|| e.poll_transmit()).collect()
}

fn started(id: u64, q: Majority, zxid: u64, epoch: u32) -> Election<Majority> {
    let mut e = Election::new(ServerId(id), q).unwrap();
    e.start(Instant(0), inputs(zxid, epoch));
    drain(&mut e);
    e
}

// ---------------------------------------------------------------- unit tests

#[test]
fn vote_order_is_epoch_then_zxid_then_id() {
    let q = maj(&[1, 2, 3], &[9]);
    // Epoch first, even against a much higher zxid.
    assert!(vote(2, 0, 1).beats(&vote(1, 0xffff_ffff_ffff, 3), &q));
    assert!(!vote(1, 0xffff_ffff_ffff, 3).beats(&vote(2, 0, 1), &q));
    // Then zxid, then id.
    assert!(vote(1, 6, 1).beats(&vote(1, 5, 3), &q));
    assert!(vote(1, 5, 3).beats(&vote(1, 5, 2), &q));
    // Equal is not better.
    assert!(!vote(1, 5, 3).beats(&vote(1, 5, 3), &q));
    // A vote for an observer or a stranger never wins; any voter beats an observer's vote.
    assert!(!vote(9, 9, 9).beats(&vote(0, 0, 1), &q));
    assert!(!vote(9, 9, 7).beats(&vote(0, 0, 1), &q));
    assert!(vote(0, 0, 1).beats(&vote(5, 5, 9), &q));
}

#[test]
fn ballots_out_of_election_agree_on_leader_and_epoch_only() {
    let l = |s, v, r| Ballot { vote: v, round: r, state: s };
    let (f, ld, lk) = (ServerState::Following, ServerState::Leading, ServerState::Looking);
    assert!(l(f, vote(1, 5, 3), 2).agrees(&l(ld, vote(1, 9, 3), 7)));
    assert!(!l(f, vote(1, 5, 3), 2).agrees(&l(ld, vote(2, 5, 3), 2)));
    assert!(!l(lk, vote(1, 5, 3), 2).agrees(&l(f, vote(1, 5, 3), 3)));
    assert!(l(lk, vote(1, 5, 3), 2).agrees(&l(f, vote(1, 5, 3), 2)));
}

#[test]
fn states_print_zookeeper_names() {
    let names: Vec<String> =
        [ServerState::Looking, ServerState::Following, ServerState::Leading, ServerState::Observing]
            .iter()
            .map(|s| s.to_string())
            .collect();
    assert_eq!(names, ["LOOKING", "FOLLOWING", "LEADING", "OBSERVING"]);
    assert_eq!(looking(3, 0x1_0000_0002, 4, 1).to_string(), "LOOKING leader=3 zxid=0x100000002 peer_epoch=1 round=4");
}

#[test]
fn new_refuses_a_stranger() {
    assert_eq!(Election::new(ServerId(4), maj(&[1, 2, 3], &[])).err(), Some(NewError::NotMember));
}

#[test]
fn start_votes_for_self_in_round_one_and_broadcasts() {
    let mut e = Election::new(ServerId(2), maj(&[1, 2, 3], &[])).unwrap();
    assert_eq!(e.poll_timeout(), None);
    assert_eq!(e.current_vote(), None);
    e.start(Instant(1000), inputs(0x1_0000_0007, 1));
    assert_eq!(e.round(), 1);
    assert_eq!(e.state(), ServerState::Looking);
    assert_eq!(drain(&mut e), [Transmit { to: Dest::Voters, notification: looking(2, 0x1_0000_0007, 1, 1) }]);
    assert_eq!(e.poll_timeout(), Some(Instant(1200)));
    assert_eq!(e.poll_outcome(), None);
}

#[test]
fn resend_backs_off_to_sixty_seconds_and_early_timeouts_do_nothing() {
    let mut e = started(1, maj(&[1, 2, 3], &[]), 5, 1);
    let mut now = 0;
    let mut gaps = Vec::new();
    for _ in 0..12 {
        let at = e.poll_timeout().unwrap();
        // Early: no output, same deadline.
        e.handle_timeout(Instant(at.0 - 1));
        assert_eq!(e.pending_transmits(), 0);
        assert_eq!(e.poll_timeout(), Some(at));
        gaps.push(at.0 - now);
        now = at.0;
        e.handle_timeout(at);
        assert_eq!(drain(&mut e), [Transmit { to: Dest::Voters, notification: looking(1, 5, 1, 1) }]);
    }
    assert_eq!(gaps, [200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000, 60000]);
}

#[test]
fn filtered_notifications_are_rejected_with_a_reason() {
    let q = maj(&[1, 2, 3], &[4]);
    let mut idle = Election::new(ServerId(1), q).unwrap();
    assert_eq!(idle.handle_notification(Instant(0), ServerId(2), looking(2, 0, 1, 0)), Err(Rejected::NotStarted));
    let mut e = started(1, q, 5, 1);
    let now = Instant(10);
    assert_eq!(e.handle_notification(now, ServerId(1), looking(3, 9, 1, 1)), Err(Rejected::FromSelf));
    assert_eq!(e.handle_notification(now, ServerId(7), looking(3, 9, 1, 1)), Err(Rejected::UnknownSender));
    assert_eq!(e.handle_notification(now, ServerId(2), looking(4, 9, 1, 9)), Err(Rejected::LeaderNotVoter));
    assert_eq!(e.handle_notification(now, ServerId(2), looking(8, 9, 1, 9)), Err(Rejected::LeaderNotVoter));
    assert_eq!(e.handle_notification(now, ServerId(2), looking(2, u64::MAX, 1, 9)), Err(Rejected::UnknownZxid));
    // None of these changed the proposal or produced output.
    assert_eq!(e.current_vote(), Some(vote(1, 5, 1)));
    assert_eq!(e.pending_transmits(), 0);
    // A lying peer is just a vote: the biggest possible values win the order, no panic.
    let lie = Notification {
        zxid: Zxid(u64::MAX - 1),
        peer_epoch: u32::MAX,
        election_epoch: u64::MAX,
        ..looking(2, 0, 0, 0)
    };
    assert_eq!(e.handle_notification(now, ServerId(2), lie), Ok(()));
    assert_eq!(e.round(), u64::MAX);
    assert_eq!(e.current_vote(), Some(lie.vote()));
}

#[test]
fn one_voter_leads_itself_after_the_finalize_wait() {
    let mut e = started(1, maj(&[1], &[2]), 5, 1);
    assert!(e.is_finalizing());
    assert_eq!(e.poll_timeout(), Some(Instant(200)));
    e.handle_timeout(Instant(199));
    assert_eq!(e.poll_outcome(), None);
    e.handle_timeout(Instant(200));
    let out = e.poll_outcome().unwrap();
    assert_eq!(
        (out.state, out.leader, out.zxid, out.peer_epoch, out.election_epoch),
        (ServerState::Leading, ServerId(1), Zxid(5), 1, 1)
    );
    assert_eq!(e.poll_outcome(), None);
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn older_round_is_answered_but_not_counted() {
    let mut e = started(1, maj(&[1, 2, 3], &[]), 5, 1);
    e.handle_notification(Instant(10), ServerId(3), looking(3, 9, 4, 1)).unwrap();
    drain(&mut e);
    assert_eq!(e.round(), 4);
    // Server 2 is still in round 2 with a better vote: answered, not adopted.
    e.handle_notification(Instant(20), ServerId(2), looking(2, 99, 2, 1)).unwrap();
    assert_eq!(drain(&mut e), [Transmit { to: Dest::Server(ServerId(2)), notification: looking(3, 9, 4, 1) }]);
    assert_eq!(e.current_vote(), Some(vote(1, 9, 3)));
}

#[test]
fn decided_server_answers_looking_servers_only() {
    let mut e = started(2, maj(&[1, 2, 3], &[4]), 5, 1);
    e.handle_notification(Instant(10), ServerId(3), looking(3, 9, 1, 1)).unwrap();
    assert!(e.is_finalizing());
    e.handle_timeout(Instant(210));
    assert_eq!(e.poll_outcome().map(|o| o.state), Some(ServerState::Following));
    drain(&mut e);
    let following = Notification { state: ServerState::Following, ..looking(3, 9, 1, 1) };
    // A LOOKING voter in any round gets my decided vote; FOLLOWING/LEADING senders nothing.
    e.handle_notification(Instant(300), ServerId(1), looking(1, 2, 7, 0)).unwrap();
    e.handle_notification(Instant(300), ServerId(3), Notification { state: ServerState::Leading, ..following })
        .unwrap();
    assert_eq!(drain(&mut e), [Transmit { to: Dest::Server(ServerId(1)), notification: following }]);
    // ZAB moved to epoch 2: answers say so. A LOOKING observer is answered; one that has
    // decided is not (answering it would bounce notifications between us).
    e.update_vote_epoch(2);
    e.handle_notification(
        Instant(400),
        ServerId(4),
        Notification { state: ServerState::Observing, ..looking(4, 0, 0, 0) },
    )
    .unwrap();
    assert_eq!(drain(&mut e), []);
    e.handle_notification(Instant(400), ServerId(4), looking(4, 0, 0, 0)).unwrap();
    assert_eq!(
        drain(&mut e),
        [Transmit { to: Dest::Server(ServerId(4)), notification: Notification { peer_epoch: 2, ..following } }]
    );
    // Looking again: new round, stale answers dropped, own vote with the new state.
    e.handle_notification(Instant(500), ServerId(1), looking(1, 2, 7, 0)).unwrap();
    e.start(Instant(600), inputs(0x2_0000_0001, 2));
    assert_eq!(e.round(), 2);
    assert_eq!(drain(&mut e), [Transmit { to: Dest::Voters, notification: looking(2, 0x2_0000_0001, 2, 2) }]);
}

#[test]
fn answers_to_one_server_coalesce() {
    let mut e = started(1, maj(&[1, 2, 3], &[4, 5]), 5, 1);
    for _ in 0..5 {
        e.handle_notification(Instant(1), ServerId(4), looking(4, 0, 1, 0)).unwrap();
        e.handle_notification(Instant(1), ServerId(5), looking(5, 0, 1, 0)).unwrap();
    }
    let to: Vec<Dest> = drain(&mut e).iter().map(|t| t.to).collect();
    assert_eq!(to, [Dest::Server(ServerId(4)), Dest::Server(ServerId(5))]);
}

#[test]
fn observer_is_answered_and_never_counted() {
    // Observer 4 claims the best vote possible: it must change nothing.
    let mut e = started(1, maj(&[1, 2, 3], &[4]), 5, 1);
    let claim = looking(4, u64::MAX - 1, 9, u32::MAX);
    e.handle_notification(Instant(1), ServerId(4), claim).unwrap();
    assert_eq!(e.current_vote(), Some(vote(1, 5, 1)));
    assert_eq!(e.round(), 1);
    assert_eq!(drain(&mut e), [Transmit { to: Dest::Server(ServerId(4)), notification: looking(1, 5, 1, 1) }]);
}

#[test]
fn observer_proposes_nobody_and_observes_the_voters_choice() {
    let mut o = started(4, maj(&[1, 2, 3], &[4]), 0x9_0000_0000, 9);
    // Any voter's vote beats the observer's own, however fresh its log is.
    o.handle_notification(Instant(1), ServerId(1), looking(1, 1, 1, 0)).unwrap();
    assert_eq!(o.current_vote(), Some(vote(0, 1, 1)));
    // Older-round voters are not answered by an observer.
    o.handle_notification(Instant(2), ServerId(2), looking(2, 0, 0, 0)).unwrap();
    assert!(drain(&mut o).iter().all(|t| t.to == Dest::Voters));
    let f = |state| Notification { state, ..looking(3, 7, 5, 1) };
    o.handle_notification(Instant(3), ServerId(1), f(ServerState::Following)).unwrap();
    o.handle_notification(Instant(3), ServerId(2), f(ServerState::Following)).unwrap();
    assert_eq!(o.poll_outcome(), None, "the leader itself has not said LEADING yet");
    o.handle_notification(Instant(3), ServerId(3), f(ServerState::Leading)).unwrap();
    let out = o.poll_outcome().unwrap();
    assert_eq!((out.state, out.leader, out.election_epoch), (ServerState::Observing, ServerId(3), 5));
    assert_eq!(o.round(), 5);
}

// ---------------------------------------------------------------- interaction scripts

/// A small ensemble driven by script commands.
struct Net {
    now: Instant,
    quorum: Majority,
    nodes: Vec<Election<Majority>>,
    inputs: BTreeMap<u64, VoteInputs>,
    inflight: VecDeque<(u64, u64, Notification)>,
}

impl Net {
    fn new(quorum: Majority) -> Net {
        let nodes = quorum.members().iter().map(|m| Election::new(m.id, quorum).unwrap()).collect();
        Net { now: Instant(0), quorum, nodes, inputs: BTreeMap::new(), inflight: VecDeque::new() }
    }

    fn node(&mut self, id: u64) -> &mut Election<Majority> {
        self.nodes.iter_mut().find(|e| e.my_id() == ServerId(id)).expect("no such server")
    }

    /// Moves `id`'s outputs into the network, describing them.
    fn drain(&mut self, id: u64, out: &mut String, indent: &str) {
        let voters: Vec<u64> = self.quorum.voters().map(|v| v.0).collect();
        let node = self.node(id);
        if let Some(o) = node.poll_outcome() {
            let _ = writeln!(
                out,
                "{indent}{id} decides {} leader={} zxid={} peer_epoch={} round={}",
                o.state, o.leader, o.zxid, o.peer_epoch, o.election_epoch
            );
        }
        let mut sent = Vec::new();
        while let Some(t) = node.poll_transmit() {
            sent.push(t);
        }
        for t in sent {
            match t.to {
                Dest::Voters => {
                    let _ = writeln!(out, "{indent}{id}->* {}", t.notification);
                    for &v in voters.iter().filter(|&&v| v != id) {
                        self.inflight.push_back((id, v, t.notification));
                    }
                }
                Dest::Server(to) => {
                    let _ = writeln!(out, "{indent}{id}->{to} {}", t.notification);
                    self.inflight.push_back((id, to.0, t.notification));
                }
            }
        }
    }

    fn deliver_one(&mut self, from: u64, to: u64, n: Notification, out: &mut String) {
        let _ = writeln!(out, "{from}->{to} {n}");
        let now = self.now;
        if let Err(why) = self.node(to).handle_notification(now, ServerId(from), n) {
            let _ = writeln!(out, "  {to} ignores: {why:?}");
        }
        self.drain(to, out, "  ");
    }

    fn run(&mut self, line: &str) -> String {
        let mut out = String::new();
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("");
        let args: Vec<&str> = words.collect();
        let kv = |key: &str| args.iter().find_map(|a| a.strip_prefix(key).and_then(|r| r.strip_prefix('=')));
        let ids =
            |s: &str| -> Vec<u64> { s.split(',').filter(|x| !x.is_empty()).map(|x| x.parse().unwrap()).collect() };
        let num = |s: &str| -> u64 {
            match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).unwrap(),
                None => s.parse().unwrap(),
            }
        };
        let matches = |m: &(u64, u64, Notification)| {
            kv("from").map_or(true, |f| ids(f).contains(&m.0)) && kv("to").map_or(true, |t| ids(t).contains(&m.1))
        };
        match cmd {
            "ensemble" => {
                let v = ids(kv("voters").unwrap_or(""));
                let o = ids(kv("observers").unwrap_or(""));
                *self = Net::new(maj(&v, &o));
                out.push_str("ok\n");
            }
            // start <ids> zxid=<z> epoch=<e>: those servers begin looking now.
            "start" => {
                let zxid = Zxid(num(kv("zxid").unwrap_or("0")));
                let epoch = num(kv("epoch").unwrap_or("0")) as u32;
                for id in ids(args.first().copied().unwrap_or("")) {
                    let inp = VoteInputs { last_logged_zxid: zxid, current_epoch: epoch };
                    self.inputs.insert(id, inp);
                    let now = self.now;
                    self.node(id).start(now, inp);
                    self.drain(id, &mut out, "");
                }
            }
            // deliver [from=..] [to=..]: the matching messages in flight now, oldest first.
            "deliver" | "drop" => {
                let (take, keep): (Vec<_>, Vec<_>) = self.inflight.drain(..).partition(|m| matches(m));
                self.inflight = keep.into();
                for (from, to, n) in take {
                    if cmd == "drop" {
                        let _ = writeln!(out, "dropped {from}->{to} {n}");
                    } else {
                        self.deliver_one(from, to, n, &mut out);
                    }
                }
            }
            // stabilize: deliver until nothing is in flight (time stands still).
            "stabilize" => {
                while let Some((from, to, n)) = self.inflight.pop_front() {
                    self.deliver_one(from, to, n, &mut out);
                }
            }
            // tick <ms>: advance time, firing due timers in id order.
            "tick" => {
                self.now = self.now + num(args.first().copied().unwrap_or("0"));
                let _ = writeln!(out, "t={}", self.now.0);
                let due: Vec<u64> = self
                    .nodes
                    .iter()
                    .filter(|e| e.poll_timeout().is_some_and(|t| t <= self.now))
                    .map(|e| e.my_id().0)
                    .collect();
                for id in due {
                    let now = self.now;
                    self.node(id).handle_timeout(now);
                    self.drain(id, &mut out, "");
                }
            }
            // inject <from> <to> <STATE> leader=.. zxid=.. round=.. epoch=..: a hand-made message.
            "inject" => {
                let state = match args.get(2).copied() {
                    Some("LOOKING") => ServerState::Looking,
                    Some("FOLLOWING") => ServerState::Following,
                    Some("LEADING") => ServerState::Leading,
                    _ => ServerState::Observing,
                };
                let n = Notification {
                    state,
                    leader: ServerId(num(kv("leader").unwrap_or("0"))),
                    zxid: Zxid(num(kv("zxid").unwrap_or("0"))),
                    election_epoch: num(kv("round").unwrap_or("0")),
                    peer_epoch: num(kv("epoch").unwrap_or("0")) as u32,
                };
                let from = num(args.first().copied().unwrap_or("0"));
                let to = num(args.get(1).copied().unwrap_or("0"));
                self.deliver_one(from, to, n, &mut out);
            }
            "status" => {
                for e in &self.nodes {
                    let v = e.current_vote().map(|v| v.to_string()).unwrap_or_else(|| "-".into());
                    let fin = if e.is_finalizing() { " finalizing" } else { "" };
                    let wake = e.poll_timeout().map(|t| format!(" wake={}", t.0)).unwrap_or_default();
                    let _ = writeln!(out, "{}: {} round={} {v}{fin}{wake}", e.my_id(), e.state(), e.round());
                }
                let _ = writeln!(out, "in flight: {}", self.inflight.len());
            }
            _ => panic!("unknown command {line:?}"),
        }
        if out.is_empty() {
            out.push_str("ok\n");
        }
        out
    }
}

/// Where the script file lives, for reading and rewriting (`file!()` may be relative to
/// the workspace or absolute, depending on how the crate is built).
fn testdata_path(name: &str) -> std::path::PathBuf {
    let here = std::path::Path::new(file!());
    let dir = here.parent().unwrap().join("testdata").join(name);
    let manifest = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [dir.clone(), manifest.join(&dir), manifest.parent().unwrap().join(&dir)];
    candidates.into_iter().find(|p| p.exists()).unwrap_or_else(|| panic!("testdata {name} not found"))
}

/// Runs a datadriven script: `# comments`, then blocks of `command`, `----`, expected
/// output, blank line. Set `REWRITE_TESTDATA=1` to regenerate the expected outputs.
fn run_script(name: &str) {
    let path = testdata_path(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut net = Net::new(maj(&[1], &[]));
    let mut rewritten = String::new();
    let mut failures = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim().is_empty() || line.starts_with('#') {
            rewritten.push_str(line);
            rewritten.push('\n');
            continue;
        }
        let mut expected = String::new();
        if lines.peek() == Some(&"----") {
            lines.next();
            while let Some(l) = lines.next_if(|l| !l.trim().is_empty()) {
                expected.push_str(l);
                expected.push('\n');
            }
        }
        let actual = net.run(line);
        if actual != expected {
            let _ = write!(failures, "\n{name}: {line}\n--- expected\n{expected}--- actual\n{actual}");
        }
        let _ = write!(rewritten, "{line}\n----\n{actual}");
    }
    if std::env::var_os("REWRITE_TESTDATA").is_some() {
        std::fs::write(&path, rewritten).unwrap();
    } else if !failures.is_empty() {
        panic!("{failures}");
    }
}

#[test]
fn script_campaign() {
    run_script("campaign.txt");
}

#[test]
fn script_rounds() {
    run_script("rounds.txt");
}

#[test]
fn script_finalize() {
    run_script("finalize.txt");
}

#[test]
fn script_rejoin() {
    run_script("rejoin.txt");
}

#[test]
fn script_observers() {
    run_script("observers.txt");
}

// ---------------------------------------------------------------- seeded simulation

/// splitmix64: a tiny deterministic generator, enough for shuffling a test network.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Swarm options drawn from the seed.
#[derive(Debug)]
struct Options {
    voters: u64,
    observers: u64,
    drop_percent: u64,
    dup_percent: u64,
    /// Upper bound of one message's delay; messages overtake each other within it.
    delay_max_ms: u64,
    start_spread_ms: u64,
}

struct Sim {
    rng: Rng,
    opt: Options,
    now: Instant,
    nodes: Vec<Election<Majority>>,
    inputs: Vec<VoteInputs>,
    /// (due, sequence, from index, to id, message), delivered in due order.
    events: Vec<(Instant, u64, usize, u64, Notification)>,
    seq: u64,
    lossy: bool,
    /// Every decision made, for the agreement-per-round checker.
    decisions: Vec<(u64, Outcome)>,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = Rng(seed);
        let voters = [1, 2, 3, 3, 4, 5, 5, 7][rng.below(8) as usize];
        let opt = Options {
            voters,
            observers: rng.below(3),
            drop_percent: [0, 5, 20, 40][rng.below(4) as usize],
            dup_percent: [0, 10, 30][rng.below(3) as usize],
            delay_max_ms: [0, 10, 100, 180, 400][rng.below(5) as usize],
            start_spread_ms: [0, 100, 1000][rng.below(3) as usize],
        };
        let mut members: Vec<Member> = (1..=opt.voters).map(Member::voter).collect();
        members.extend((1..=opt.observers).map(|o| Member::observer(opt.voters + o)));
        // Shuffle ids so that the best vote is not always the highest id.
        for i in (1..members.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            members.swap(i, j);
        }
        let q = Majority::new(&members).unwrap();
        let nodes: Vec<_> = members.iter().map(|m| Election::new(m.id, q).unwrap()).collect();
        let inputs = (0..nodes.len())
            .map(|_| {
                let epoch = rng.below(3) as u32;
                VoteInputs { last_logged_zxid: Zxid::new(epoch, rng.below(3) as u32), current_epoch: epoch }
            })
            .collect();
        Sim { rng, opt, now: Instant(0), nodes, inputs, events: Vec::new(), seq: 0, lossy: true, decisions: Vec::new() }
    }

    fn index(&self, id: u64) -> Option<usize> {
        self.nodes.iter().position(|e| e.my_id() == ServerId(id))
    }

    fn drain(&mut self, i: usize) {
        let id = self.nodes[i].my_id().0;
        if let Some(o) = self.nodes[i].poll_outcome() {
            self.decisions.push((id, o));
        }
        let voters: Vec<u64> = self.nodes[i].quorum().voters().map(|v| v.0).collect();
        while let Some(t) = self.nodes[i].poll_transmit() {
            let to: Vec<u64> = match t.to {
                Dest::Voters => voters.iter().copied().filter(|&v| v != id).collect(),
                Dest::Server(s) => vec![s.0],
            };
            for to in to {
                if self.lossy && self.rng.chance(self.opt.drop_percent) {
                    continue;
                }
                let copies = if self.rng.chance(self.opt.dup_percent) { 2 } else { 1 };
                for _ in 0..copies {
                    let due = self.now + self.rng.below(self.opt.delay_max_ms + 1);
                    self.seq += 1;
                    self.events.push((due, self.seq, i, to, t.notification));
                }
            }
        }
    }

    /// Runs until every server has decided or `limit` passes.
    fn run_until(&mut self, limit: Instant) {
        loop {
            if self.nodes.iter().all(|e| e.state() != ServerState::Looking) {
                return;
            }
            let timer = self.nodes.iter().enumerate().filter_map(|(i, e)| e.poll_timeout().map(|t| (t, i))).min();
            let msg = self.events.iter().enumerate().min_by_key(|(_, e)| (e.0, e.1)).map(|(k, e)| (e.0, k));
            let next = match (timer, msg) {
                (Some(t), Some(m)) => t.0.min(m.0),
                (Some(t), None) => t.0,
                (None, Some(m)) => m.0,
                (None, None) => return,
            };
            if next > limit {
                return;
            }
            self.now = self.now.max(next);
            match (timer, msg) {
                (_, Some((due, k))) if due == next => {
                    let (_, _, from, to, n) = self.events.swap_remove(k);
                    let from_id = self.nodes[from].my_id();
                    if let Some(j) = self.index(to) {
                        let _ = self.nodes[j].handle_notification(self.now, from_id, n);
                        self.drain(j);
                    }
                }
                (Some((_, i)), _) => {
                    self.nodes[i].handle_timeout(self.now);
                    self.drain(i);
                }
                _ => unreachable!(),
            }
        }
    }

    /// What ZAB would do with a decision that cannot work: a follower whose leader is not
    /// leading, or a leader without a following quorum, gives up and looks again.
    fn restart_stuck(&mut self) -> bool {
        let q = *self.nodes[0].quorum();
        let snapshot: Vec<(u64, ServerState, Option<Vote>)> =
            self.nodes.iter().map(|e| (e.my_id().0, e.state(), e.current_vote())).collect();
        let state_of = |id: ServerId| snapshot.iter().find(|s| s.0 == id.0).map(|s| s.1);
        let mut stuck = Vec::new();
        for (i, &(id, state, v)) in snapshot.iter().enumerate() {
            let Some(v) = v else { continue };
            let ok = match state {
                ServerState::Looking => true,
                ServerState::Following | ServerState::Observing => state_of(v.leader) == Some(ServerState::Leading),
                ServerState::Leading => q.contains_quorum(
                    snapshot
                        .iter()
                        .filter(|s| {
                            s.0 == id || (s.1 == ServerState::Following && s.2.is_some_and(|w| w.leader.0 == id))
                        })
                        .map(|s| ServerId(s.0)),
                ),
            };
            if !ok {
                stuck.push(i);
            }
        }
        for &i in &stuck {
            let inp = self.inputs[i];
            self.nodes[i].start(self.now, inp);
            self.drain(i);
        }
        !stuck.is_empty()
    }

    fn check(&self) -> Result<(), String> {
        let q = self.nodes[0].quorum();
        // Every decision, even one later abandoned: the leader's initial vote is at least
        // as good as those of a quorum of voters (each of them voted for it in turn).
        for (id, o) in &self.decisions {
            let leader = self.index(o.leader.0).ok_or("leader is a stranger")?;
            if !q.is_voter(o.leader) {
                return Err(format!("{id} decided for non-voter {}", o.leader));
            }
            let best = self.init_vote(leader);
            let beaten = (0..self.nodes.len())
                .filter(|&j| q.is_voter(self.nodes[j].my_id()) && self.init_vote(j) <= best)
                .map(|j| self.nodes[j].my_id());
            if !q.contains_quorum(beaten) {
                return Err(format!("{id} decided for {} whose vote beats no quorum", o.leader));
            }
        }
        // Final state: everyone decided on one leader, which leads.
        let leaders: Vec<ServerId> = self.nodes.iter().filter_map(|e| e.current_vote().map(|v| v.leader)).collect();
        if leaders.len() != self.nodes.len() || leaders.iter().any(|l| *l != leaders[0]) {
            return Err("no single leader".into());
        }
        for e in &self.nodes {
            let want = if e.my_id() == leaders[0] {
                ServerState::Leading
            } else if q.is_voter(e.my_id()) {
                ServerState::Following
            } else {
                ServerState::Observing
            };
            if e.state() != want {
                return Err(format!("{} is {} instead of {want}", e.my_id(), e.state()));
            }
        }
        Ok(())
    }

    fn init_vote(&self, i: usize) -> Vote {
        let inp = self.inputs[i];
        Vote { peer_epoch: inp.current_epoch, zxid: inp.last_logged_zxid, leader: self.nodes[i].my_id() }
    }

    fn describe(&self) -> String {
        let mut s = format!("{:?}\n", self.opt);
        for (i, e) in self.nodes.iter().enumerate() {
            let _ = writeln!(
                s,
                "  {} init=({}) {} round={} vote={:?}",
                e.my_id(),
                self.init_vote(i),
                e.state(),
                e.round(),
                e.current_vote()
            );
        }
        s
    }
}

fn simulate(seed: u64) -> Result<(), String> {
    let mut sim = Sim::new(seed);
    // Safety phase: start at random times on a lossy, duplicating, reordering network.
    let mut order: Vec<usize> = (0..sim.nodes.len()).collect();
    for i in (1..order.len()).rev() {
        let j = sim.rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    for &i in &order {
        sim.now = sim.now + sim.rng.below(sim.opt.start_spread_ms + 1) / order.len() as u64;
        let inp = sim.inputs[i];
        sim.nodes[i].start(sim.now, inp);
        sim.drain(i);
    }
    let limit = sim.now + 10 * 60_000;
    sim.run_until(limit);
    // Liveness phase: the network heals; servers stuck on a dead decision look again.
    sim.lossy = false;
    for _ in 0..20 {
        let limit = sim.now + 10 * 60_000;
        sim.run_until(limit);
        if !sim.restart_stuck() {
            break;
        }
    }
    sim.check().map_err(|e| format!("seed {seed}: {e}\n{}", sim.describe()))
}

#[test]
fn simulation_500_seeds_agree_on_a_leader_that_beats_a_quorum() {
    let base: u64 = std::env::var("ELECTION_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    for seed in base..base + 500 {
        if let Err(e) = simulate(seed) {
            panic!("{e}");
        }
    }
}

#[test]
fn simulation_without_loss_elects_the_best_vote_of_all() {
    // With every message delivered within the finalize wait and all servers up together,
    // FastLeaderElection elects the overall best vote without any restart.
    for seed in 0..200 {
        let mut sim = Sim::new(seed);
        sim.opt.drop_percent = 0;
        sim.opt.delay_max_ms = sim.opt.delay_max_ms.min(FINALIZE_WAIT_MS / 2);
        sim.opt.start_spread_ms = 0;
        for i in 0..sim.nodes.len() {
            let inp = sim.inputs[i];
            sim.nodes[i].start(Instant(0), inp);
            sim.drain(i);
        }
        sim.run_until(Instant(10 * 60_000));
        let q = *sim.nodes[0].quorum();
        let best =
            (0..sim.nodes.len()).filter(|&i| q.is_voter(sim.nodes[i].my_id())).map(|i| sim.init_vote(i)).max().unwrap();
        let r = sim.check().and_then(|_| match sim.nodes[0].current_vote() {
            Some(v) if v.leader == best.leader => Ok(()),
            v => Err(format!("elected {v:?}, best {best}")),
        });
        if let Err(e) = r {
            panic!("seed {seed}: {e}\n{}", sim.describe());
        }
    }
}

// ---------------------------------------------------------------- property: any input is safe

mod prop {
    use super::*;
    use proptest::prelude::*;

    fn state() -> impl Strategy<Value = ServerState> {
        prop_oneof![
            Just(ServerState::Looking),
            Just(ServerState::Following),
            Just(ServerState::Leading),
            Just(ServerState::Observing)
        ]
    }

    /// Any sender id (members and strangers), any field values.
    fn input() -> impl Strategy<Value = (u64, u64, Notification)> {
        (0u64..8, 0u64..1000, state(), 0u64..8, any::<u64>(), prop_oneof![0u64..4, any::<u64>()], any::<u32>())
            .prop_map(|(from, dt, state, leader, zxid, election_epoch, peer_epoch)| {
                let n = Notification { state, leader: ServerId(leader), zxid: Zxid(zxid), election_epoch, peer_epoch };
                (from, dt, n)
            })
    }

    proptest! {
        #[test]
        fn arbitrary_notifications_keep_the_invariants(
            me in 1u64..6,
            zxid in any::<u64>(),
            epoch in any::<u32>(),
            inputs in proptest::collection::vec(input(), 0..60),
        ) {
            let q = maj(&[1, 2, 3], &[4, 5]);
            let mut e = Election::new(ServerId(me), q).unwrap();
            e.start(Instant(0), VoteInputs { last_logged_zxid: Zxid(zxid), current_epoch: epoch });
            let init = e.current_vote().unwrap();
            let mut now = Instant(0);
            let mut decided = false;
            for (from, dt, n) in inputs {
                now = now + dt;
                let _ = e.handle_notification(now, ServerId(from), n);
                e.handle_timeout(now);
                prop_assert!(e.pending_transmits() <= OUTBOX_MAX);
                if let Some(o) = e.poll_outcome() {
                    decided = true;
                    // Only voters are elected; observers never lead.
                    prop_assert!(q.is_voter(o.leader));
                    prop_assert!(o.state != ServerState::Leading || q.is_voter(ServerId(me)));
                    prop_assert_eq!(o.state == ServerState::Observing, !q.is_voter(ServerId(me)));
                }
                let v = e.current_vote().unwrap();
                if e.state() == ServerState::Looking && q.is_voter(ServerId(me)) {
                    // A voter's proposal is never worse than its own vote.
                    prop_assert!(v == init || v.beats(&init, &q));
                }
                if e.state() == ServerState::Looking {
                    prop_assert!(!decided);
                    prop_assert!(e.poll_timeout().is_some());
                }
                while let Some(t) = e.poll_transmit() {
                    prop_assert!(t.to != Dest::Server(ServerId(me)));
                }
            }
        }
    }
}

#[test]
fn finalize_ends_early_once_every_reachable_voter_agrees() {
    // Server 3 of {1, 2, 3}; 1 is down. 2 votes for 3 in round 1: a quorum, finalizing.
    let mut e = started(3, maj(&[1, 2, 3], &[]), 5, 1);
    e.handle_notification(Instant(10), ServerId(2), looking(3, 5, 1, 1)).unwrap();
    assert!(e.is_finalizing());
    // While 1 is reachable but silent, the wait runs on.
    assert!(!e.finalize_early([ServerId(1), ServerId(2)]));
    assert!(e.poll_outcome().is_none());
    // With only 2 reachable, and 2 agreeing, nothing better can come: decided now.
    assert!(e.finalize_early([ServerId(2), ServerId(3)]));
    let o = e.poll_outcome().unwrap();
    assert_eq!((o.state, o.leader), (ServerState::Leading, ServerId(3)));
}

#[test]
fn finalize_does_not_end_early_on_a_disagreeing_vote_or_before_a_quorum() {
    let mut e = started(1, maj(&[1, 2, 3], &[]), 5, 1);
    // No quorum yet: never early.
    assert!(!e.finalize_early([ServerId(2)]));
    // 3 has the better vote; 1 adopts it, and 2's agreement makes the quorum.
    e.handle_notification(Instant(10), ServerId(3), looking(3, 5, 1, 1)).unwrap();
    e.handle_notification(Instant(11), ServerId(2), looking(2, 5, 1, 1)).unwrap();
    assert!(e.is_finalizing());
    // 2 still proposes itself: not in agreement, so the wait runs on.
    assert!(!e.finalize_early([ServerId(2), ServerId(3)]));
    assert!(e.finalize_early([ServerId(3)]));
    assert_eq!(e.poll_outcome().unwrap().leader, ServerId(3));
}
