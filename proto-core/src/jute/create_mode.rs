//! Create flags (reference section 6.1, `CreateMode`).

/// The kind of node a create makes, from the request's `flags`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CreateMode {
    /// Flag 0.
    Persistent,
    /// Flag 1: deleted when the owning session ends.
    Ephemeral,
    /// Flag 2.
    PersistentSequential,
    /// Flag 3.
    EphemeralSequential,
    /// Flag 4: reaped once its last child is gone (sent with opcode 19).
    Container,
    /// Flag 5: reaped after `ttl` ms without changes or children (opcode 21).
    PersistentWithTtl,
    /// Flag 6: sequential and TTL (opcode 21).
    PersistentSequentialWithTtl,
}

impl CreateMode {
    /// The mode for a wire flag; `None` is ZooKeeper's BadArguments.
    pub const fn from_flag(flag: i32) -> Option<CreateMode> {
        match flag {
            0 => Some(CreateMode::Persistent),
            1 => Some(CreateMode::Ephemeral),
            2 => Some(CreateMode::PersistentSequential),
            3 => Some(CreateMode::EphemeralSequential),
            4 => Some(CreateMode::Container),
            5 => Some(CreateMode::PersistentWithTtl),
            6 => Some(CreateMode::PersistentSequentialWithTtl),
            _ => None,
        }
    }

    /// The wire flag.
    pub const fn flag(self) -> i32 {
        match self {
            CreateMode::Persistent => 0,
            CreateMode::Ephemeral => 1,
            CreateMode::PersistentSequential => 2,
            CreateMode::EphemeralSequential => 3,
            CreateMode::Container => 4,
            CreateMode::PersistentWithTtl => 5,
            CreateMode::PersistentSequentialWithTtl => 6,
        }
    }

    /// True for modes deleted with their session.
    pub const fn is_ephemeral(self) -> bool {
        matches!(self, CreateMode::Ephemeral | CreateMode::EphemeralSequential)
    }

    /// True for modes that append a sequence suffix to the name.
    pub const fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }

    /// True for the container mode.
    pub const fn is_container(self) -> bool {
        matches!(self, CreateMode::Container)
    }

    /// True for the TTL modes.
    pub const fn is_ttl(self) -> bool {
        matches!(self, CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_and_others_are_refused() {
        for flag in 0..=6 {
            assert_eq!(CreateMode::from_flag(flag).map(CreateMode::flag), Some(flag));
        }
        assert_eq!(CreateMode::from_flag(7), None);
        assert_eq!(CreateMode::from_flag(-1), None);
        assert!(CreateMode::from_flag(3).is_some_and(|m| m.is_ephemeral() && m.is_sequential()));
        assert!(CreateMode::from_flag(6).is_some_and(|m| m.is_ttl() && m.is_sequential()));
        assert!(!CreateMode::Container.is_ephemeral());
    }
}
