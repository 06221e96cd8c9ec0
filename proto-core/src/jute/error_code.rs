//! ZooKeeper's error codes (reference section 7, `KeeperException.Code`).

code_enum! {
    /// The `err` of a ReplyHeader, an ErrorResponse or a multi result.
    pub enum ErrorCode {
        /// Success.
        Ok = 0 => "OK",
        /// Range marker for system errors; not sent.
        SystemError = -1 => "SystemError",
        /// A multi sub-op after the one that failed.
        RuntimeInconsistency = -2 => "RuntimeInconsistency",
        /// Not sent by the request path.
        DataInconsistency = -3 => "DataInconsistency",
        /// Client-side: the connection was lost.
        ConnectionLoss = -4 => "ConnectionLoss",
        /// The request body could not be decoded.
        MarshallingError = -5 => "MarshallingError",
        /// Unknown opcode, TTL with extended types off, reconfig in standalone.
        Unimplemented = -6 => "Unimplemented",
        /// Client-side: the operation timed out.
        OperationTimeout = -7 => "OperationTimeout",
        /// Bad path syntax, flags, TTL or reconfig arguments.
        BadArguments = -8 => "BadArguments",
        /// The session is unknown to the tracker.
        UnknownSession = -12 => "UnknownSession",
        /// reconfig: the new config has no synced quorum.
        NewConfigNoQuorum = -13 => "NewConfigNoQuorum",
        /// reconfig while another one is pending.
        ReconfigInProgress = -14 => "ReconfigInProgress",
        /// Range marker for API errors; not sent.
        ApiError = -100 => "APIError",
        /// The node (or its parent) does not exist.
        NoNode = -101 => "NoNode",
        /// The ACL check failed.
        NoAuth = -102 => "NoAuth",
        /// Version mismatch.
        BadVersion = -103 => "BadVersion",
        /// Create under an ephemeral node.
        NoChildrenForEphemerals = -108 => "NoChildrenForEphemerals",
        /// The node already exists.
        NodeExists = -110 => "NodeExists",
        /// Delete of a node that has children.
        NotEmpty = -111 => "NotEmpty",
        /// The session expired or is closing.
        SessionExpired = -112 => "SessionExpired",
        /// Client-side: invalid callback.
        InvalidCallback = -113 => "InvalidCallback",
        /// Empty or malformed ACL list, or `auth` with no authenticated id.
        InvalidAcl = -114 => "InvalidACL",
        /// The auth packet was rejected.
        AuthFailed = -115 => "AuthFailed",
        /// The session moved to another connection or server.
        SessionMoved = -118 => "SessionMoved",
        /// A write sent to a read-only server.
        NotReadOnly = -119 => "NotReadOnly",
        /// Ephemeral create on a local session that cannot be upgraded.
        EphemeralOnLocalSession = -120 => "EphemeralOnLocalSession",
        /// removeWatches/checkWatches found nothing.
        NoWatcher = -121 => "NoWatcher",
        /// Client-side request timeout.
        RequestTimeout = -122 => "RequestTimeout",
        /// reconfig while `reconfigEnabled=false`.
        ReconfigDisabled = -123 => "ReconfigDisabled",
        /// The server requires SASL and the client has not authenticated.
        SessionClosedRequireSaslAuth = -124 => "SessionClosedRequireSaslAuth",
        /// A hard quota was exceeded.
        QuotaExceeded = -125 => "QuotaExceeded",
        /// The request was throttled and dropped.
        ThrottledOp = -127 => "ThrottledOp",
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn every_code_round_trips() {
        for v in -130..=1 {
            assert_eq!(ErrorCode::from(v).code(), v);
        }
        assert_eq!(ErrorCode::from(-101), ErrorCode::NoNode);
        assert_eq!(ErrorCode::from(-109), ErrorCode::Unknown(-109), "-109 is unused");
        assert_eq!(ErrorCode::InvalidAcl.code(), -114);
        assert_eq!(std::format!("{}", ErrorCode::InvalidAcl), "InvalidACL");
        assert_eq!(std::format!("{}", ErrorCode::from(-126)), "Unknown(-126)");
    }
}
