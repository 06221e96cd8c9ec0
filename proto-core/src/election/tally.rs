//! The per-round vote tables of one election (`recvset` and `outofelection`).

use super::vote::Ballot;
use crate::quorum::{QuorumVerifier, ServerId, ENSEMBLE_MAX};

/// The latest ballot of each member, at most one per server.
///
/// Keys are members of the configuration (the caller filters strangers), so
/// [`ENSEMBLE_MAX`] slots always suffice.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VoteTable {
    slots: [Option<(ServerId, Ballot)>; ENSEMBLE_MAX],
}

impl VoteTable {
    /// A table with no ballots.
    pub const EMPTY: VoteTable = VoteTable { slots: [None; ENSEMBLE_MAX] };

    /// Forgets every ballot (a newer round began).
    pub fn clear(&mut self) {
        self.slots = [None; ENSEMBLE_MAX];
    }

    /// Records `ballot` as `from`'s latest; returns false only when the table is full of
    /// other servers, which member filtering rules out.
    pub fn put(&mut self, from: ServerId, ballot: Ballot) -> bool {
        if let Some(slot) = self.slots.iter_mut().flatten().find(|(id, _)| *id == from) {
            slot.1 = ballot;
            return true;
        }
        match self.slots.iter_mut().find(|s| s.is_none()) {
            Some(free) => {
                *free = Some((from, ballot));
                true
            }
            None => false,
        }
    }

    /// `from`'s latest ballot, if any.
    pub fn get(&self, from: ServerId) -> Option<&Ballot> {
        self.slots.iter().flatten().find(|(id, _)| *id == from).map(|(_, b)| b)
    }

    /// True when the servers whose ballot agrees with `with` form a quorum (`getVoteTracker`
    /// followed by `hasAllQuorums`).
    pub fn has_quorum<Q: QuorumVerifier>(&self, with: &Ballot, quorum: &Q) -> bool {
        quorum.contains_quorum(self.slots.iter().flatten().filter(|(_, b)| b.agrees(with)).map(|(id, _)| *id))
    }
}
