//! Votes, their total order, and the notifications that carry them (reference §12.1–12.2).

use core::fmt;

use crate::quorum::{QuorumVerifier, ServerId};
use crate::Zxid;

/// A server's role as FastLeaderElection reports it (`QuorumPeer.ServerState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerState {
    /// Electing: no leader known.
    Looking,
    /// Following an elected leader.
    Following,
    /// Leading the ensemble.
    Leading,
    /// Observing an elected leader (non-voting member).
    Observing,
}

impl fmt::Display for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerState::Looking => "LOOKING",
            ServerState::Following => "FOLLOWING",
            ServerState::Leading => "LEADING",
            ServerState::Observing => "OBSERVING",
        })
    }
}

/// A proposed leader: who, and how recent its state is.
///
/// Fields are declared in comparison order, so the derived `Ord` is `totalOrderPredicate`'s
/// order: peer epoch, then zxid, then server id (reference §12.2). Whether a vote may win at
/// all also depends on the configuration; see [`Vote::beats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Vote {
    /// The candidate's `currentEpoch` (not the epoch inside its zxid).
    pub peer_epoch: u32,
    /// The candidate's last logged zxid.
    pub zxid: Zxid,
    /// The candidate.
    pub leader: ServerId,
}

impl Vote {
    /// True when `self` should replace `current` as a proposal (`totalOrderPredicate`).
    ///
    /// A vote for a non-voter never wins; a vote for a voter beats every vote for a
    /// non-voter (an observer's initial self-vote, which ZooKeeper sends as `Long.MIN`).
    pub fn beats<Q: QuorumVerifier>(&self, current: &Vote, quorum: &Q) -> bool {
        if !quorum.is_voter(self.leader) {
            return false;
        }
        !quorum.is_voter(current.leader) || self > current
    }
}

impl fmt::Display for Vote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "leader={} zxid={} peer_epoch={}", self.leader, self.zxid, self.peer_epoch)
    }
}

/// One election message, as typed values (the peer codec maps it to and from bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Notification {
    /// The sender's state.
    pub state: ServerState,
    /// Proposed leader, or the current leader when the sender is not LOOKING.
    pub leader: ServerId,
    /// The proposed leader's last logged zxid.
    pub zxid: Zxid,
    /// The sender's round (logical clock); from a non-LOOKING sender, the round in which
    /// its current leader was elected.
    pub election_epoch: u64,
    /// The proposed leader's `currentEpoch`.
    pub peer_epoch: u32,
}

impl Notification {
    /// The vote this notification carries.
    pub fn vote(&self) -> Vote {
        Vote { peer_epoch: self.peer_epoch, zxid: self.zxid, leader: self.leader }
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} round={}", self.state, self.vote(), self.election_epoch)
    }
}

/// A vote as recorded in a tally: the vote, the round it was cast in, and the voter's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ballot {
    pub vote: Vote,
    pub round: u64,
    pub state: ServerState,
}

impl Ballot {
    /// `Vote.equals`: LOOKING ballots must match on everything; two ballots of servers
    /// out of election match on (leader, peer epoch) alone, since their zxid and round
    /// may differ legitimately (ZOOKEEPER-1805) while an epoch has only one leader.
    pub fn agrees(&self, other: &Ballot) -> bool {
        if self.state == ServerState::Looking || other.state == ServerState::Looking {
            self.vote == other.vote && self.round == other.round
        } else {
            self.vote.leader == other.vote.leader && self.vote.peer_epoch == other.vote.peer_epoch
        }
    }
}
