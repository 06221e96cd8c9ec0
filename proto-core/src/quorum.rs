//! Who votes, and when a set of servers is a quorum.
//!
//! ZooKeeper hides the counting rule behind `QuorumVerifier` (`flexible/QuorumMaj.java`,
//! `QuorumHierarchical.java`); election and ZAB only ask "is this server a voter?" and "do
//! these servers form a quorum?". [`QuorumVerifier`] is that question, [`Majority`] the
//! default answer (more than half of the voters, every weight 1); weighted or hierarchical
//! rules can be added as further implementations without touching their callers.

use core::fmt;
use serde::{Deserialize, Serialize};

/// The most servers (voters and observers together) one ensemble may list.
///
/// Bounds every per-server table in election and quorum counting, so those tables live
/// inline without a heap. ZooKeeper has no such limit; ensembles beyond a handful of voters
/// are rare because every write waits for a majority of them. Not a zoo.cfg key: the
/// `server.N` lines are counted against it.
pub const ENSEMBLE_MAX: usize = 32;

/// A server's id: the `N` of `server.N=` in zoo.cfg, also written in the `myid` file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServerId(pub u64);

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Whether a member votes (`participant`, the default) or only follows (`observer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LearnerType {
    /// Votes in elections and acks proposals.
    Participant,
    /// Learns committed txns, never votes and never leads (`server.N=…:observer`).
    Observer,
}

/// One `server.N` line of the ensemble's configuration, as far as counting cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Member {
    /// The server's id.
    pub id: ServerId,
    /// Voter or observer.
    pub kind: LearnerType,
}

impl Member {
    /// A voting member.
    pub const fn voter(id: u64) -> Member {
        Member { id: ServerId(id), kind: LearnerType::Participant }
    }

    /// A non-voting member.
    pub const fn observer(id: u64) -> Member {
        Member { id: ServerId(id), kind: LearnerType::Observer }
    }
}

/// The quorum rule of one configuration (ZooKeeper's `QuorumVerifier`).
pub trait QuorumVerifier {
    /// True when `id` is a voting member (non-zero weight).
    fn is_voter(&self, id: ServerId) -> bool;

    /// True when `id` is a member that does not vote.
    fn is_observer(&self, id: ServerId) -> bool;

    /// True when `id` is listed at all, voter or observer.
    fn is_member(&self, id: ServerId) -> bool {
        self.is_voter(id) || self.is_observer(id)
    }

    /// True when the voters among `ids` form a quorum. Non-voters, unknown ids and
    /// repeats do not count, so callers may pass any set they hold.
    fn contains_quorum<I: IntoIterator<Item = ServerId>>(&self, ids: I) -> bool;
}

/// Why a member list cannot form a [`Majority`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MajorityError {
    /// More than [`ENSEMBLE_MAX`] members.
    TooMany,
    /// The same id is listed twice.
    Duplicate(ServerId),
    /// No member votes, so no quorum could ever form.
    NoVoters,
}

/// Simple majority over the voters (`QuorumMaj`): a quorum is more than half of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Majority {
    /// Members in configuration order; slots at `len..` are unused.
    members: [Member; ENSEMBLE_MAX],
    len: usize,
    voters: usize,
}

impl Majority {
    /// Builds the rule from the configured members, checking the list first.
    pub fn new(list: &[Member]) -> Result<Majority, MajorityError> {
        if list.len() > ENSEMBLE_MAX {
            return Err(MajorityError::TooMany);
        }
        let mut members = [Member::voter(0); ENSEMBLE_MAX];
        let mut voters = 0;
        for (i, m) in list.iter().enumerate() {
            if list.iter().take(i).any(|p| p.id == m.id) {
                return Err(MajorityError::Duplicate(m.id));
            }
            if let Some(slot) = members.get_mut(i) {
                *slot = *m;
            }
            if m.kind == LearnerType::Participant {
                voters += 1;
            }
        }
        if voters == 0 {
            return Err(MajorityError::NoVoters);
        }
        Ok(Majority { members, len: list.len(), voters })
    }

    /// All members, in configuration order.
    pub fn members(&self) -> &[Member] {
        self.members.get(..self.len).unwrap_or(&[])
    }

    /// The voting members' ids, in configuration order.
    pub fn voters(&self) -> impl Iterator<Item = ServerId> + '_ {
        self.members().iter().filter(|m| m.kind == LearnerType::Participant).map(|m| m.id)
    }

    /// How many members vote.
    pub fn voter_count(&self) -> usize {
        self.voters
    }

    /// The smallest number of voters that is a quorum.
    pub fn quorum_size(&self) -> usize {
        self.voters / 2 + 1
    }

    fn kind_of(&self, id: ServerId) -> Option<LearnerType> {
        self.members().iter().find(|m| m.id == id).map(|m| m.kind)
    }
}

impl QuorumVerifier for Majority {
    fn is_voter(&self, id: ServerId) -> bool {
        self.kind_of(id) == Some(LearnerType::Participant)
    }

    fn is_observer(&self, id: ServerId) -> bool {
        self.kind_of(id) == Some(LearnerType::Observer)
    }

    fn contains_quorum<I: IntoIterator<Item = ServerId>>(&self, ids: I) -> bool {
        // Mark by member position, so repeats and strangers cannot inflate the count.
        let mut seen = [false; ENSEMBLE_MAX];
        let mut count = 0;
        for id in ids {
            let Some(pos) = self.members().iter().position(|m| m.id == id) else {
                continue;
            };
            let voter = self.members().get(pos).is_some_and(|m| m.kind == LearnerType::Participant);
            if let Some(mark) = seen.get_mut(pos) {
                if voter && !*mark {
                    *mark = true;
                    count += 1;
                }
            }
        }
        debug_assert!(count <= self.voters);
        count > self.voters / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[u64]) -> impl Iterator<Item = ServerId> + '_ {
        list.iter().map(|&i| ServerId(i))
    }

    #[test]
    fn three_voters_need_two() {
        let q = Majority::new(&[Member::voter(1), Member::voter(2), Member::voter(3)]).unwrap();
        assert_eq!(q.quorum_size(), 2);
        assert!(!q.contains_quorum(ids(&[])));
        assert!(!q.contains_quorum(ids(&[1])));
        assert!(q.contains_quorum(ids(&[1, 3])));
        assert!(q.contains_quorum(ids(&[3, 2, 1])));
    }

    #[test]
    fn even_ensembles_need_more_than_half() {
        let q = Majority::new(&[Member::voter(1), Member::voter(2), Member::voter(3), Member::voter(4)]).unwrap();
        assert_eq!(q.quorum_size(), 3);
        assert!(!q.contains_quorum(ids(&[1, 2])));
        assert!(q.contains_quorum(ids(&[1, 2, 4])));
    }

    #[test]
    fn repeats_strangers_and_observers_do_not_count() {
        let q = Majority::new(&[
            Member::voter(1),
            Member::voter(2),
            Member::voter(3),
            Member::observer(4),
            Member::observer(5),
        ])
        .unwrap();
        assert_eq!(q.voter_count(), 3);
        assert!(!q.contains_quorum(ids(&[1, 1, 1])));
        assert!(!q.contains_quorum(ids(&[1, 4, 5, 99, u64::MAX])));
        assert!(q.contains_quorum(ids(&[4, 1, 5, 2])));
        assert!(q.is_voter(ServerId(2)) && !q.is_observer(ServerId(2)));
        assert!(q.is_observer(ServerId(4)) && !q.is_voter(ServerId(4)));
        assert!(!q.is_member(ServerId(6)));
        assert_eq!(q.voters().collect::<heapless_free::Ids>().0, [1, 2, 3, 0]);
    }

    /// Collects up to four ids without a heap, for comparing iterator output.
    mod heapless_free {
        use super::ServerId;
        pub struct Ids(pub [u64; 4]);
        impl FromIterator<ServerId> for Ids {
            fn from_iter<T: IntoIterator<Item = ServerId>>(iter: T) -> Self {
                let mut out = [0; 4];
                for (slot, id) in out.iter_mut().zip(iter) {
                    *slot = id.0;
                }
                Ids(out)
            }
        }
    }

    #[test]
    fn single_voter_is_its_own_quorum() {
        let q = Majority::new(&[Member::voter(7), Member::observer(8)]).unwrap();
        assert!(q.contains_quorum(ids(&[7])));
        assert!(!q.contains_quorum(ids(&[8])));
    }

    #[test]
    fn bad_member_lists_are_refused() {
        assert_eq!(Majority::new(&[Member::voter(1), Member::observer(1)]), Err(MajorityError::Duplicate(ServerId(1))));
        assert_eq!(Majority::new(&[Member::observer(1)]), Err(MajorityError::NoVoters));
        assert_eq!(Majority::new(&[]), Err(MajorityError::NoVoters));
        let many = [Member::voter(1); ENSEMBLE_MAX + 1];
        assert_eq!(Majority::new(&many), Err(MajorityError::TooMany));
        let mut full = [Member::voter(0); ENSEMBLE_MAX];
        for (i, m) in full.iter_mut().enumerate() {
            *m = Member::voter(i as u64 + 1);
        }
        let q = Majority::new(&full).unwrap();
        assert_eq!(q.quorum_size(), ENSEMBLE_MAX / 2 + 1);
        assert!(q.contains_quorum(ids(&[32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16])));
        assert!(!q.contains_quorum(ids(&[32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17])));
    }
}
