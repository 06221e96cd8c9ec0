//! Request opcodes (reference section 4.1, ZooKeeper's `ZooDefs.OpCode`).

code_enum! {
    /// The `type` of a RequestHeader, a multi sub-op or a txn.
    pub enum OpCode {
        /// Server-to-client watch event; never a valid request.
        Notification = 0 => "notification",
        /// create (CreateRequest → CreateResponse).
        Create = 1 => "create",
        /// delete.
        Delete = 2 => "delete",
        /// exists.
        Exists = 3 => "exists",
        /// getData.
        GetData = 4 => "getData",
        /// setData.
        SetData = 5 => "setData",
        /// getACL.
        GetAcl = 6 => "getACL",
        /// setACL.
        SetAcl = 7 => "setACL",
        /// getChildren.
        GetChildren = 8 => "getChildren",
        /// sync.
        Sync = 9 => "sync",
        /// ping (xid −2, no body).
        Ping = 11 => "ping",
        /// getChildren2 (children plus Stat).
        GetChildren2 = 12 => "getChildren2",
        /// check version; valid only inside a multi.
        Check = 13 => "check",
        /// multi (atomic writes).
        Multi = 14 => "multi",
        /// create2 (create answering with a Stat).
        Create2 = 15 => "create2",
        /// reconfig.
        Reconfig = 16 => "reconfig",
        /// checkWatches.
        CheckWatches = 17 => "checkWatches",
        /// removeWatches.
        RemoveWatches = 18 => "removeWatches",
        /// createContainer.
        CreateContainer = 19 => "createContainer",
        /// deleteContainer (raw path body, sent by the container reaper).
        DeleteContainer = 20 => "deleteContainer",
        /// createTTL.
        CreateTtl = 21 => "createTtl",
        /// multiRead (independent reads).
        MultiRead = 22 => "multiRead",
        /// auth (xid −4).
        Auth = 100 => "auth",
        /// setWatches (xid −8).
        SetWatches = 101 => "setWatches",
        /// sasl.
        Sasl = 102 => "sasl",
        /// getEphemerals.
        GetEphemerals = 103 => "getEphemerals",
        /// getAllChildrenNumber.
        GetAllChildrenNumber = 104 => "getAllChildrenNumber",
        /// setWatches2 (adds persistent watches).
        SetWatches2 = 105 => "setWatches2",
        /// addWatch (persistent / recursive).
        AddWatch = 106 => "addWatch",
        /// whoAmI (no body).
        WhoAmI = 107 => "whoAmI",
        /// createSession txn, made by the handshake.
        CreateSession = -10 => "createSession",
        /// closeSession (no body).
        CloseSession = -11 => "closeSession",
        /// error txn; also the type of a failed multi result.
        Error = -1 => "error",
    }
}

impl OpCode {
    /// True when a client may send this opcode in a RequestHeader (ZooKeeper's
    /// `Request.isValid` plus auth and sasl, which it handles before that check).
    ///
    /// createSession is refused too: it is ZooKeeper's internal txn for the handshake, and a
    /// client never sends it.
    pub const fn is_valid_request(self) -> bool {
        use OpCode::*;
        match self {
            Create | Delete | Exists | GetData | SetData | GetAcl | SetAcl | GetChildren | Sync | Ping
            | GetChildren2 | Multi | Create2 | Reconfig | CheckWatches | RemoveWatches | CreateContainer
            | DeleteContainer | CreateTtl | MultiRead | Auth | SetWatches | Sasl | GetEphemerals
            | GetAllChildrenNumber | SetWatches2 | AddWatch | WhoAmI | CloseSession => true,
            Notification | Check | CreateSession | Error | Unknown(_) => false,
        }
    }

    /// True when the op changes the tree or sessions, so it becomes a replicated txn.
    pub const fn is_write(self) -> bool {
        use OpCode::*;
        matches!(
            self,
            Create
                | Delete
                | SetData
                | SetAcl
                | Multi
                | Create2
                | Reconfig
                | CreateContainer
                | DeleteContainer
                | CreateTtl
                | CreateSession
                | CloseSession
                | Error
        )
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn validity_follows_the_reference() {
        for op in [0, 10, 13, 23, 50, 99, 108, -1, -10, -12, i32::MIN] {
            assert!(!OpCode::from(op).is_valid_request(), "{op} must be invalid");
        }
        for op in (1..=9).chain([11, 12]).chain(14..=22).chain(100..=107).chain([-11]) {
            assert!(OpCode::from(op).is_valid_request(), "{op} must be valid");
        }
    }

    #[test]
    fn codes_round_trip_and_print_zookeeper_names() {
        for v in -12..=110 {
            assert_eq!(i32::from(OpCode::from(v)), v);
        }
        assert_eq!(OpCode::from(21), OpCode::CreateTtl);
        assert_eq!(OpCode::from(10), OpCode::Unknown(10));
        assert!(OpCode::SetAcl.is_write() && !OpCode::Sync.is_write() && !OpCode::MultiRead.is_write());
        assert_eq!(std::format!("{} {}", OpCode::GetAcl, OpCode::Unknown(42)), "getACL Unknown(42)");
    }
}
