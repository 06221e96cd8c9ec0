//! A whole client request frame: RequestHeader plus the body its opcode names.

use super::error::{DecodeError, EncodeError, RequestError};
use super::header::{RequestHeader, REQUEST_HEADER_LEN};
use super::list::StrList;
use super::multi::{MultiKind, MultiRequest};
use super::opcode::OpCode;
use super::records::*;
use super::wire::{Reader, Writer};
use super::{Decode, Encode};
use crate::ids::Xid;

/// A decoded client request (everything after the handshake).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// create (1), create2 (15) or createContainer (19); `opcode` says which reply to send.
    Create {
        /// Which of the three create opcodes was sent.
        opcode: OpCode,
        /// The body.
        req: CreateRequest<'a>,
    },
    /// createTTL (21).
    CreateTtl(CreateTtlRequest<'a>),
    /// delete (2).
    Delete(DeleteRequest<'a>),
    /// exists (3).
    Exists(ExistsRequest<'a>),
    /// getData (4).
    GetData(GetDataRequest<'a>),
    /// setData (5).
    SetData(SetDataRequest<'a>),
    /// getACL (6).
    GetAcl(GetAclRequest<'a>),
    /// setACL (7).
    SetAcl(SetAclRequest<'a>),
    /// getChildren (8).
    GetChildren(GetChildrenRequest<'a>),
    /// sync (9).
    Sync(SyncRequest<'a>),
    /// ping (11); no body.
    Ping,
    /// getChildren2 (12).
    GetChildren2(GetChildren2Request<'a>),
    /// multi (14) or multiRead (22); the request knows its kind.
    Multi(MultiRequest<'a>),
    /// reconfig (16).
    Reconfig(ReconfigRequest<'a>),
    /// checkWatches (17).
    CheckWatches(CheckWatchesRequest<'a>),
    /// removeWatches (18).
    RemoveWatches(RemoveWatchesRequest<'a>),
    /// deleteContainer (20): the body is the raw UTF-8 path, not a jute record.
    DeleteContainer {
        /// The whole body.
        path: &'a [u8],
    },
    /// auth (100).
    Auth(AuthPacket<'a>),
    /// setWatches (101).
    SetWatches(SetWatches<StrList<'a>>),
    /// sasl (102).
    Sasl(SaslToken<'a>),
    /// getEphemerals (103).
    GetEphemerals(GetEphemeralsRequest<'a>),
    /// getAllChildrenNumber (104).
    GetAllChildrenNumber(GetAllChildrenNumberRequest<'a>),
    /// setWatches2 (105).
    SetWatches2(SetWatches2<StrList<'a>>),
    /// addWatch (106).
    AddWatch(AddWatchRequest<'a>),
    /// whoAmI (107); no body.
    WhoAmI,
    /// closeSession (−11); no body.
    CloseSession,
}

impl<'a> Request<'a> {
    /// The opcode that carries this request.
    pub fn opcode(&self) -> OpCode {
        match self {
            Request::Create { opcode, .. } => *opcode,
            Request::CreateTtl(_) => OpCode::CreateTtl,
            Request::Delete(_) => OpCode::Delete,
            Request::Exists(_) => OpCode::Exists,
            Request::GetData(_) => OpCode::GetData,
            Request::SetData(_) => OpCode::SetData,
            Request::GetAcl(_) => OpCode::GetAcl,
            Request::SetAcl(_) => OpCode::SetAcl,
            Request::GetChildren(_) => OpCode::GetChildren,
            Request::Sync(_) => OpCode::Sync,
            Request::Ping => OpCode::Ping,
            Request::GetChildren2(_) => OpCode::GetChildren2,
            Request::Multi(m) => m.kind().opcode(),
            Request::Reconfig(_) => OpCode::Reconfig,
            Request::CheckWatches(_) => OpCode::CheckWatches,
            Request::RemoveWatches(_) => OpCode::RemoveWatches,
            Request::DeleteContainer { .. } => OpCode::DeleteContainer,
            Request::Auth(_) => OpCode::Auth,
            Request::SetWatches(_) => OpCode::SetWatches,
            Request::Sasl(_) => OpCode::Sasl,
            Request::GetEphemerals(_) => OpCode::GetEphemerals,
            Request::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            Request::SetWatches2(_) => OpCode::SetWatches2,
            Request::AddWatch(_) => OpCode::AddWatch,
            Request::WhoAmI => OpCode::WhoAmI,
            Request::CloseSession => OpCode::CloseSession,
        }
    }

    /// Decodes the body of a request with a valid opcode.
    fn decode_body(op: OpCode, r: &mut Reader<'a>) -> Result<Request<'a>, DecodeError> {
        Ok(match op {
            OpCode::Create | OpCode::Create2 | OpCode::CreateContainer => {
                Request::Create { opcode: op, req: CreateRequest::decode(r)? }
            }
            OpCode::CreateTtl => Request::CreateTtl(CreateTtlRequest::decode(r)?),
            OpCode::Delete => Request::Delete(DeleteRequest::decode(r)?),
            OpCode::Exists => Request::Exists(ExistsRequest::decode(r)?),
            OpCode::GetData => Request::GetData(GetDataRequest::decode(r)?),
            OpCode::SetData => Request::SetData(SetDataRequest::decode(r)?),
            OpCode::GetAcl => Request::GetAcl(GetAclRequest::decode(r)?),
            OpCode::SetAcl => Request::SetAcl(SetAclRequest::decode(r)?),
            OpCode::GetChildren => Request::GetChildren(GetChildrenRequest::decode(r)?),
            OpCode::Sync => Request::Sync(SyncRequest::decode(r)?),
            OpCode::Ping => Request::Ping,
            OpCode::GetChildren2 => Request::GetChildren2(GetChildren2Request::decode(r)?),
            OpCode::Multi => Request::Multi(MultiRequest::decode(r, MultiKind::Write)?),
            OpCode::MultiRead => Request::Multi(MultiRequest::decode(r, MultiKind::Read)?),
            OpCode::Reconfig => Request::Reconfig(ReconfigRequest::decode(r)?),
            OpCode::CheckWatches => Request::CheckWatches(CheckWatchesRequest::decode(r)?),
            OpCode::RemoveWatches => Request::RemoveWatches(RemoveWatchesRequest::decode(r)?),
            OpCode::DeleteContainer => Request::DeleteContainer { path: r.read_bytes(r.remaining(), "path")? },
            OpCode::Auth => Request::Auth(AuthPacket::decode(r)?),
            OpCode::SetWatches => Request::SetWatches(SetWatches::decode(r)?),
            OpCode::Sasl => Request::Sasl(SaslToken::decode(r)?),
            OpCode::GetEphemerals => Request::GetEphemerals(GetEphemeralsRequest::decode(r)?),
            OpCode::GetAllChildrenNumber => Request::GetAllChildrenNumber(GetAllChildrenNumberRequest::decode(r)?),
            OpCode::SetWatches2 => Request::SetWatches2(SetWatches2::decode(r)?),
            OpCode::AddWatch => Request::AddWatch(AddWatchRequest::decode(r)?),
            OpCode::WhoAmI => Request::WhoAmI,
            OpCode::CloseSession => Request::CloseSession,
            // decode_request filters these out first; an unexpected one is reported as a
            // body that cannot be read rather than a panic.
            OpCode::Notification | OpCode::Check | OpCode::CreateSession | OpCode::Error | OpCode::Unknown(_) => {
                return Err(DecodeError::Truncated { field: "body", at: r.position() })
            }
        })
    }

    /// Writes the body (no header); the inverse of decoding.
    pub fn encode_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        match self {
            Request::Create { req, .. } => req.encode(w),
            Request::CreateTtl(req) => req.encode(w),
            Request::Delete(req) => req.encode(w),
            Request::Exists(req) | Request::GetData(req) | Request::GetChildren(req) | Request::GetChildren2(req) => {
                req.encode(w)
            }
            Request::SetData(req) => req.encode(w),
            Request::GetAcl(req) | Request::Sync(req) | Request::GetAllChildrenNumber(req) => req.encode(w),
            Request::SetAcl(req) => req.encode(w),
            Request::Multi(m) => m.encode(w),
            Request::Reconfig(req) => req.encode(w),
            Request::CheckWatches(req) | Request::RemoveWatches(req) => req.encode(w),
            Request::DeleteContainer { path } => w.write_bytes(path),
            Request::Auth(req) => req.encode(w),
            Request::SetWatches(req) => req.encode(w),
            Request::Sasl(req) => req.encode(w),
            Request::GetEphemerals(req) => req.encode(w),
            Request::SetWatches2(req) => req.encode(w),
            Request::AddWatch(req) => req.encode(w),
            Request::Ping | Request::WhoAmI | Request::CloseSession => Ok(()),
        }
    }
}

/// Decodes a request frame (the bytes after the 4-byte length prefix). Trailing bytes after
/// the body are ignored, as ZooKeeper ignores them.
pub fn decode_request(frame: &[u8]) -> Result<(Xid, Request<'_>), RequestError> {
    if frame.len() < REQUEST_HEADER_LEN {
        return Err(RequestError::Header { len: frame.len() });
    }
    let mut r = Reader::new(frame);
    let header = RequestHeader::decode(&mut r).map_err(|_| RequestError::Header { len: frame.len() })?;
    let (xid, op) = (header.xid, header.op);
    if !op.is_valid_request() {
        return Err(RequestError::UnknownOpcode { xid, op: op.code() });
    }
    let request = Request::decode_body(op, &mut r).map_err(|reason| RequestError::Body { xid, op, reason })?;
    Ok((xid, request))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::jute::acl::AclList;
    use crate::jute::testing::encode_vec;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn frame(xid: i32, op: i32, body: &[u8]) -> Vec<u8> {
        [&xid.to_be_bytes()[..], &op.to_be_bytes(), body].concat()
    }

    #[test]
    fn header_errors_close() {
        assert_eq!(decode_request(&[0, 0, 0, 1, 0, 0, 0]), Err(RequestError::Header { len: 7 }));
        assert_eq!(decode_request(&[]), Err(RequestError::Header { len: 0 }));
    }

    #[test]
    fn unknown_opcodes_are_unimplemented() {
        for op in [0, 10, 13, 23, 99, 200, -10, -1] {
            assert_eq!(
                decode_request(&frame(5, op, &[0, 0, 0, 1, b'/', 0, 0, 0, 0])),
                Err(RequestError::UnknownOpcode { xid: Xid(5), op }),
                "op {op}"
            );
        }
    }

    #[test]
    fn bad_bodies_are_marshalling_errors() {
        // getData with the watch byte missing.
        let err = decode_request(&frame(3, 4, &[0, 0, 0, 1, b'/'])).unwrap_err();
        assert_eq!(
            err,
            RequestError::Body {
                xid: Xid(3),
                op: OpCode::GetData,
                reason: DecodeError::Truncated { field: "watch", at: 13 }
            }
        );
        // A path length beyond the frame.
        assert!(matches!(
            decode_request(&frame(3, 2, &[0, 0, 0, 9, b'/'])),
            Err(RequestError::Body { op: OpCode::Delete, reason: DecodeError::BadLength { len: 9, at: 8, .. }, .. })
        ));
        // A null path.
        assert!(matches!(
            decode_request(&frame(3, 3, &[0xff, 0xff, 0xff, 0xff, 0])),
            Err(RequestError::Body { reason: DecodeError::Null { .. }, .. })
        ));
    }

    #[test]
    fn bodyless_ops_and_trailing_bytes() {
        assert_eq!(decode_request(&frame(-2, 11, &[])), Ok((Xid::PING, Request::Ping)));
        assert_eq!(decode_request(&frame(9, 107, &[1, 2, 3])), Ok((Xid(9), Request::WhoAmI)));
        assert_eq!(decode_request(&frame(9, -11, &[])), Ok((Xid(9), Request::CloseSession)));
        let f = frame(1, 3, &[0, 0, 0, 1, b'/', 1, 0xde, 0xad]);
        let (_, req) = decode_request(&f).unwrap();
        assert_eq!(req, Request::Exists(PathWatchRequest { path: b"/", watch: true }));
    }

    #[test]
    fn create_opcodes_are_kept() {
        let body = [0, 0, 0, 2, b'/', b'c', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 4];
        for op in [OpCode::Create, OpCode::Create2, OpCode::CreateContainer] {
            let f = frame(1, op.code(), &body);
            let (_, req) = decode_request(&f).unwrap();
            let expected = CreateRequest { path: b"/c", data: None, acl: AclList::EMPTY, flags: 4 };
            assert_eq!(req, Request::Create { opcode: op, req: expected });
            assert_eq!(req.opcode(), op);
        }
    }

    #[test]
    fn special_bodies() {
        let f = frame(1, 20, b"/c");
        assert_eq!(decode_request(&f), Ok((Xid(1), Request::DeleteContainer { path: b"/c" })));
        let f = frame(1, 102, &[0, 0, 0, 1, 9]);
        assert_eq!(decode_request(&f), Ok((Xid(1), Request::Sasl(SaslToken { token: Some(&[9]) }))));
        let f = frame(-4, 100, &[0, 0, 0, 0, 0, 0, 0, 5, b'w', b'o', b'r', b'l', b'd', 0, 0, 0, 0]);
        let (xid, req) = decode_request(&f).unwrap();
        assert_eq!(
            (xid, req),
            (Xid::AUTH, Request::Auth(AuthPacket { auth_type: 0, scheme: b"world", auth: Some(b"") }))
        );
    }

    #[test]
    fn requests_reencode_to_the_same_bytes() {
        let bodies: [(i32, &[u8]); 6] = [
            (5, &[0, 0, 0, 1, b'/', 0, 0, 0, 1, b'x', 0, 0, 0, 1]),
            (6, &[0, 0, 0, 1, b'/']),
            (104, &[0, 0, 0, 1, b'/']),
            (18, &[0, 0, 0, 1, b'/', 0, 0, 0, 2]),
            (106, &[0, 0, 0, 1, b'/', 0, 0, 0, 0]),
            (101, &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
        ];
        for (op, body) in bodies {
            let f = frame(1, op, body);
            let (_, req) = decode_request(&f).unwrap();
            assert_eq!(req.opcode().code(), op);
            let mut out = [0u8; 64];
            let mut w = Writer::new(&mut out);
            req.encode_body(&mut w).unwrap();
            assert_eq!(w.written(), body, "op {op}");
        }
        let ping = encode_vec(&RequestHeader { xid: Xid::PING, op: OpCode::Ping });
        assert_eq!(decode_request(&ping), Ok((Xid::PING, Request::Ping)));
    }

    proptest! {
        #![proptest_config(crate::jute::testing::proptest_config())]
        #[test]
        fn arbitrary_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_request(&bytes);
        }

        #[test]
        fn arbitrary_bodies_never_panic(op in prop::sample::select(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 14, 15, 16, 17, 18, 19, 21, 22, 100, 101, 102, 103, 104, 105, 106][..]),
                                        body in proptest::collection::vec(any::<u8>(), 0..128)) {
            let f = frame(1, op, &body);
            if let Ok((_, req)) = decode_request(&f) {
                // Whatever decodes re-encodes to a frame that decodes to the same request.
                let mut out = [0u8; 256];
                let mut w = Writer::new(&mut out);
                RequestHeader { xid: Xid(1), op: req.opcode() }.encode(&mut w).unwrap();
                req.encode_body(&mut w).unwrap();
                let again = decode_request(w.written()).map(|(_, r)| r);
                prop_assert_eq!(again, Ok(req));
            }
        }

        #[test]
        fn mutated_valid_frames_never_panic(which in 0usize..3, at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
            let multi = [
                &[0, 0, 0, 1, 0, 0, 0, 14][..],
                &[0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, b'/', b'a', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0],
                &[0, 0, 0, 13, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, b'/', b'a', 0, 0, 0, 0],
                &[0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff],
            ]
            .concat();
            let create = frame(1, 15, &[0, 0, 0, 2, b'/', b'c', 0, 0, 0, 1, b'x', 0, 0, 0, 1, 0, 0, 0, 31, 0, 0, 0, 5, b'w', b'o', b'r', b'l', b'd', 0, 0, 0, 6, b'a', b'n', b'y', b'o', b'n', b'e', 0, 0, 0, 0]);
            let watches = frame(-8, 105, &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, b'/', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, b'/']);
            let base = [multi, create, watches];
            let mut f = base[which].clone();
            prop_assert!(decode_request(&f).is_ok(), "the unmutated frame is valid");
            let i = at.index(f.len());
            f[i] = byte;
            f.truncate(cut.index(f.len() + 1));
            let _ = decode_request(&f);
        }
    }
}
