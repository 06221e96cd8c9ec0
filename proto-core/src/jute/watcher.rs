//! Watch enums and the WatcherEvent record (reference section 8.1).

use super::error::{DecodeError, EncodeError};
use super::wire::{Reader, Writer};
use super::{Decode, Encode};

code_enum! {
    /// What happened to the watched node (`Watcher.Event.EventType`).
    pub enum EventType {
        /// A connection-state change, not a node event.
        None = -1 => "None",
        /// The node was created.
        NodeCreated = 1 => "NodeCreated",
        /// The node was deleted.
        NodeDeleted = 2 => "NodeDeleted",
        /// The node's data changed.
        NodeDataChanged = 3 => "NodeDataChanged",
        /// A child was created or deleted.
        NodeChildrenChanged = 4 => "NodeChildrenChanged",
        /// Client-local: a data watch was removed.
        DataWatchRemoved = 5 => "DataWatchRemoved",
        /// Client-local: a child watch was removed.
        ChildWatchRemoved = 6 => "ChildWatchRemoved",
        /// Client-local: a persistent watch was removed.
        PersistentWatchRemoved = 7 => "PersistentWatchRemoved",
    }
}

code_enum! {
    /// The connection state carried in a WatcherEvent (`Watcher.Event.KeeperState`).
    pub enum KeeperState {
        /// Deprecated.
        UnknownState = -1 => "Unknown",
        /// Disconnected from the server.
        Disconnected = 0 => "Disconnected",
        /// Deprecated.
        NoSyncConnected = 1 => "NoSyncConnected",
        /// Connected; the state the server always sends.
        SyncConnected = 3 => "SyncConnected",
        /// Authentication failed.
        AuthFailed = 4 => "AuthFailed",
        /// Connected to a read-only server.
        ConnectedReadOnly = 5 => "ConnectedReadOnly",
        /// SASL authentication succeeded.
        SaslAuthenticated = 6 => "SaslAuthenticated",
        /// The session expired.
        Expired = -112 => "Expired",
        /// Client-local: the client was closed.
        Closed = 7 => "Closed",
    }
}

code_enum! {
    /// Which watch table removeWatches/checkWatches address (`Watcher.WatcherType`).
    pub enum WatcherType {
        /// The child table.
        Children = 1 => "Children",
        /// The data table.
        Data = 2 => "Data",
        /// Both tables.
        Any = 3 => "Any",
    }
}

code_enum! {
    /// The mode of an addWatch request (`AddWatchMode`).
    pub enum AddWatchMode {
        /// Fires for events at the path and is never consumed.
        Persistent = 0 => "PERSISTENT",
        /// Fires for the path and all descendants, never for NodeChildrenChanged.
        PersistentRecursive = 1 => "PERSISTENT_RECURSIVE",
    }
}

/// A watch notification body (jute `WatcherEvent`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatcherEvent<'a> {
    /// What happened.
    pub event_type: EventType,
    /// Connection state; servers always send SyncConnected.
    pub state: KeeperState,
    /// Full server path of the node.
    pub path: &'a [u8],
}

impl<'a> Decode<'a> for WatcherEvent<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(WatcherEvent {
            event_type: EventType::from(r.read_i32("WatcherEvent.type")?),
            state: KeeperState::from(r.read_i32("WatcherEvent.state")?),
            path: r.read_str("WatcherEvent.path")?,
        })
    }
}

impl Encode for WatcherEvent<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_i32(self.event_type.code())?;
        w.write_i32(self.state.code())?;
        w.write_str(self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::testing::{decode_all, encode_vec, truncations_fail};

    const EVENT: [u8; 14] = [0, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0, 2, b'/', b'a'];

    #[test]
    fn watcher_event_both_ways() {
        let ev =
            WatcherEvent { event_type: EventType::NodeChildrenChanged, state: KeeperState::SyncConnected, path: b"/a" };
        assert_eq!(encode_vec(&ev), EVENT);
        assert_eq!(decode_all::<WatcherEvent>(&EVENT), Ok(ev));
        truncations_fail::<WatcherEvent>(&EVENT);
    }

    #[test]
    fn enum_codes() {
        assert_eq!(KeeperState::from(-112), KeeperState::Expired);
        assert_eq!(EventType::from(-1), EventType::None);
        assert_eq!(WatcherType::from(4), WatcherType::Unknown(4));
        assert_eq!(AddWatchMode::from(1), AddWatchMode::PersistentRecursive);
    }
}
