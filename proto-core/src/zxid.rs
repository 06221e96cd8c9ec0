//! ZooKeeper transaction ids: `epoch << 32 | counter`.

use core::fmt;
use serde::{Deserialize, Serialize};

/// A transaction id: the high 32 bits are the leader epoch, the low 32 a counter.
///
/// Ordered as the plain 64-bit number, which orders by epoch first, as ZAB requires.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Zxid(pub u64);

impl Zxid {
    /// The zxid of an empty database.
    pub const ZERO: Zxid = Zxid(0);

    /// Builds a zxid from its epoch and counter.
    pub const fn new(epoch: u32, counter: u32) -> Zxid {
        Zxid(((epoch as u64) << 32) | counter as u64)
    }

    /// The leader epoch that issued this zxid.
    pub const fn epoch(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The position of this zxid within its epoch.
    pub const fn counter(self) -> u32 {
        self.0 as u32
    }

    /// The next zxid in the same epoch, or `None` when the counter would roll over
    /// (ZooKeeper then forces a new epoch rather than wrap).
    pub const fn next(self) -> Option<Zxid> {
        if self.counter() == u32::MAX - 1 {
            None
        } else {
            Some(Zxid(self.0 + 1))
        }
    }

    /// The value as the signed long that jute puts on the wire.
    pub const fn as_wire(self) -> i64 {
        self.0 as i64
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_orders_before_counter() {
        assert!(Zxid::new(2, 0) > Zxid::new(1, 0xffff_fff0));
        assert_eq!(Zxid::new(3, 7).epoch(), 3);
        assert_eq!(Zxid::new(3, 7).counter(), 7);
    }

    #[test]
    fn counter_rollover_is_refused() {
        assert_eq!(Zxid::new(1, u32::MAX - 1).next(), None);
        assert_eq!(Zxid::new(1, 5).next(), Some(Zxid::new(1, 6)));
    }
}
