//! multi (14) and multiRead (22) bodies (reference section 4.3).
//!
//! Both directions are a run of `MultiHeader{int type, boolean done, int err}` + record,
//! closed by a header whose `done` is true (ZooKeeper writes `{-1, true, -1}`).

use super::acl::{Acl, AclList};
use super::create_mode::CreateMode;
use super::error::{DecodeError, EncodeError};
use super::error_code::ErrorCode;
use super::list::{List, Seq, StrList};
use super::opcode::OpCode;
use super::records::*;
use super::wire::{Reader, Writer};
use super::{Decode, Encode};
use crate::stat::Stat;

/// Bytes of a MultiHeader: type (int), done (bool), err (int).
const MULTI_HEADER_LEN: usize = 9;

/// Which multi a body belongs to; each allows its own sub-ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MultiKind {
    /// multi (14): create/create2/createContainer/createTTL, delete, setData, check.
    Write,
    /// multiRead (22): getData, getChildren.
    Read,
}

impl MultiKind {
    /// The opcode carrying this kind.
    pub fn opcode(self) -> OpCode {
        match self {
            MultiKind::Write => OpCode::Multi,
            MultiKind::Read => OpCode::MultiRead,
        }
    }
}

/// Reads a MultiHeader: `Some(type)` for an op, `None` for the end marker.
fn read_header(r: &mut Reader<'_>) -> Result<Option<i32>, DecodeError> {
    let op = r.read_i32("MultiHeader.type")?;
    let done = r.read_bool("MultiHeader.done")?;
    r.read_i32("MultiHeader.err")?;
    Ok(if done { None } else { Some(op) })
}

fn write_header(w: &mut Writer<'_>, op: i32, done: bool, err: i32) -> Result<(), EncodeError> {
    w.write_i32(op)?;
    w.write_bool(done)?;
    w.write_i32(err)
}

/// Writes the `{-1, true, -1}` header that closes a multi request or response.
pub fn encode_multi_end(w: &mut Writer<'_>) -> Result<(), EncodeError> {
    write_header(w, -1, true, -1)
}

/// One sub-op of a multi request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MultiOp<'a, A = AclList<'a>> {
    /// create (1), create2 (15) or createContainer (19); `opcode` picks the result type.
    Create {
        /// Which create opcode.
        opcode: OpCode,
        /// The body; its flags are a valid create mode (checked at decode).
        req: CreateRequest<'a, A>,
    },
    /// createTTL (21).
    CreateTtl(CreateTtlRequest<'a, A>),
    /// delete (2).
    Delete(DeleteRequest<'a>),
    /// setData (5).
    SetData(SetDataRequest<'a>),
    /// check (13).
    Check(CheckVersionRequest<'a>),
    /// getData (4) in multiRead; the watch flag is ignored.
    GetData(GetDataRequest<'a>),
    /// getChildren (8) in multiRead; the watch flag is ignored.
    GetChildren(GetChildrenRequest<'a>),
}

impl<'a, A> MultiOp<'a, A> {
    /// The sub-op's type.
    pub fn opcode(&self) -> OpCode {
        match self {
            MultiOp::Create { opcode, .. } => *opcode,
            MultiOp::CreateTtl(_) => OpCode::CreateTtl,
            MultiOp::Delete(_) => OpCode::Delete,
            MultiOp::SetData(_) => OpCode::SetData,
            MultiOp::Check(_) => OpCode::Check,
            MultiOp::GetData(_) => OpCode::GetData,
            MultiOp::GetChildren(_) => OpCode::GetChildren,
        }
    }
}

impl<'a> MultiOp<'a> {
    /// Reads the record of sub-op `op` (header already read at `at`), refusing what `kind`
    /// does not allow.
    fn read_body(op: i32, kind: MultiKind, r: &mut Reader<'a>, at: usize) -> Result<Self, DecodeError> {
        use MultiKind::{Read, Write};
        let code = OpCode::from(op);
        Ok(match (code, kind) {
            (OpCode::Create | OpCode::Create2 | OpCode::CreateContainer, Write) => {
                let req = CreateRequest::decode(r)?;
                // ZooKeeper checks the mode while decoding a multi, unlike a plain create.
                if CreateMode::from_flag(req.flags).is_none() {
                    return Err(DecodeError::BadCreateFlags { flags: req.flags, at });
                }
                MultiOp::Create { opcode: code, req }
            }
            (OpCode::CreateTtl, Write) => MultiOp::CreateTtl(CreateTtlRequest::decode(r)?),
            (OpCode::Delete, Write) => MultiOp::Delete(DeleteRequest::decode(r)?),
            (OpCode::SetData, Write) => MultiOp::SetData(SetDataRequest::decode(r)?),
            (OpCode::Check, Write) => MultiOp::Check(CheckVersionRequest::decode(r)?),
            (OpCode::GetData, Read) => MultiOp::GetData(GetDataRequest::decode(r)?),
            (OpCode::GetChildren, Read) => MultiOp::GetChildren(GetChildrenRequest::decode(r)?),
            (
                OpCode::Create
                | OpCode::Create2
                | OpCode::CreateContainer
                | OpCode::CreateTtl
                | OpCode::Delete
                | OpCode::SetData
                | OpCode::Check
                | OpCode::GetData
                | OpCode::GetChildren,
                _,
            ) => return Err(DecodeError::MixedMulti { op, at }),
            _ => return Err(DecodeError::UnknownMultiOp { op, at }),
        })
    }
}

impl<'x, A: Seq<Acl<'x>>> Encode for MultiOp<'_, A> {
    /// Writes the sub-op header (`err` −1, as clients send it) and the record.
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        write_header(w, self.opcode().code(), false, -1)?;
        match self {
            MultiOp::Create { req, .. } => req.encode(w),
            MultiOp::CreateTtl(req) => req.encode(w),
            MultiOp::Delete(req) | MultiOp::Check(req) => req.encode(w),
            MultiOp::SetData(req) => req.encode(w),
            MultiOp::GetData(req) | MultiOp::GetChildren(req) => req.encode(w),
        }
    }
}

/// Writes a whole multi request body: each op, then the end marker.
pub fn encode_multi_request<'x, 'o, A, I>(w: &mut Writer<'_>, ops: I) -> Result<(), EncodeError>
where
    A: Seq<Acl<'x>>,
    I: IntoIterator<Item = MultiOp<'o, A>>,
{
    for op in ops {
        op.encode(w)?;
    }
    encode_multi_end(w)
}

/// A decoded multi or multiRead body, every sub-op already validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultiRequest<'a> {
    kind: MultiKind,
    raw: &'a [u8],
    count: u32,
}

impl<'a> MultiRequest<'a> {
    /// Reads and validates a body of the given kind, up to and including its end marker.
    pub fn decode(r: &mut Reader<'a>, kind: MultiKind) -> Result<Self, DecodeError> {
        let start = r.rest();
        let before = r.position();
        let mut ops_end = before;
        let mut count: u32 = 0;
        loop {
            let at = r.position();
            let Some(op) = read_header(r)? else { break };
            MultiOp::read_body(op, kind, r, at)?;
            count = count.saturating_add(1);
            ops_end = r.position();
        }
        let raw = start.get(..ops_end.saturating_sub(before)).unwrap_or(&[]);
        Ok(MultiRequest { kind, raw, count })
    }

    /// multi or multiRead.
    pub fn kind(&self) -> MultiKind {
        self.kind
    }

    /// Number of sub-ops.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True for an empty multi (legal: it answers an empty result list).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The sub-ops' bytes, without the end marker.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The sub-ops in order.
    pub fn iter(&self) -> MultiOps<'a> {
        MultiOps { r: Reader::new(self.raw), kind: self.kind }
    }
}

impl Encode for MultiRequest<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_bytes(self.raw)?;
        encode_multi_end(w)
    }
}

impl<'a> IntoIterator for &MultiRequest<'a> {
    type Item = MultiOp<'a>;
    type IntoIter = MultiOps<'a>;
    fn into_iter(self) -> MultiOps<'a> {
        self.iter()
    }
}

/// Iterator over a validated [`MultiRequest`].
#[derive(Clone, Debug)]
pub struct MultiOps<'a> {
    r: Reader<'a>,
    kind: MultiKind,
}

impl<'a> Iterator for MultiOps<'a> {
    type Item = MultiOp<'a>;
    fn next(&mut self) -> Option<MultiOp<'a>> {
        if self.r.remaining() == 0 {
            return None;
        }
        // Validated at decode; on the impossible failure, end instead of panicking.
        let at = self.r.position();
        let op = read_header(&mut self.r).ok().flatten();
        let item = op.and_then(|op| MultiOp::read_body(op, self.kind, &mut self.r, at).ok());
        if item.is_none() {
            self.r = Reader::new(&[]);
        }
        item
    }
}

/// One entry of a multi response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MultiResult<'a, S = StrList<'a>> {
    /// Result type 1: a `create` sub-op (path only).
    Create {
        /// Created path.
        path: &'a [u8],
    },
    /// Result type 15: create2, createContainer or createTTL.
    Create2 {
        /// Created path.
        path: &'a [u8],
        /// The new node's Stat.
        stat: Stat,
    },
    /// Result type 2.
    Delete,
    /// Result type 13.
    Check,
    /// Result type 5.
    SetData {
        /// The node's new Stat.
        stat: Stat,
    },
    /// Result type 4 (multiRead).
    GetData {
        /// The data.
        data: Option<&'a [u8]>,
        /// The node's Stat.
        stat: Stat,
    },
    /// Result type 8 (multiRead).
    GetChildren {
        /// Child names.
        children: S,
    },
    /// Result type −1: this sub-op failed (or, with Ok, ran before the one that failed).
    Error {
        /// The sub-op's code, repeated in the header and the body.
        err: ErrorCode,
    },
}

impl<S> MultiResult<'_, S> {
    /// The result header's type.
    pub fn opcode(&self) -> OpCode {
        match self {
            MultiResult::Create { .. } => OpCode::Create,
            MultiResult::Create2 { .. } => OpCode::Create2,
            MultiResult::Delete => OpCode::Delete,
            MultiResult::Check => OpCode::Check,
            MultiResult::SetData { .. } => OpCode::SetData,
            MultiResult::GetData { .. } => OpCode::GetData,
            MultiResult::GetChildren { .. } => OpCode::GetChildren,
            MultiResult::Error { .. } => OpCode::Error,
        }
    }
}

impl<'a> MultiResult<'a> {
    fn read_body(op: i32, r: &mut Reader<'a>, at: usize) -> Result<Self, DecodeError> {
        Ok(match OpCode::from(op) {
            OpCode::Create => MultiResult::Create { path: r.read_str("CreateResponse.path")? },
            OpCode::Create2 => {
                let rec = Create2Response::decode(r)?;
                MultiResult::Create2 { path: rec.path, stat: rec.stat }
            }
            OpCode::Delete => MultiResult::Delete,
            OpCode::Check => MultiResult::Check,
            OpCode::SetData => MultiResult::SetData { stat: Stat::decode(r)? },
            OpCode::GetData => {
                let rec = GetDataResponse::decode(r)?;
                MultiResult::GetData { data: rec.data, stat: rec.stat }
            }
            OpCode::GetChildren => {
                MultiResult::GetChildren { children: List::read(r, "GetChildrenResponse.children")? }
            }
            OpCode::Error => MultiResult::Error { err: ErrorResponse::decode(r)?.err },
            _ => return Err(DecodeError::UnknownMultiOp { op, at }),
        })
    }
}

impl<'x, S: Seq<&'x [u8]>> Encode for MultiResult<'_, S> {
    /// Writes the result header (`err` 0, or the code for an Error) and its record.
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        let err = match self {
            MultiResult::Error { err } => err.code(),
            _ => 0,
        };
        write_header(w, self.opcode().code(), false, err)?;
        match self {
            MultiResult::Create { path } => w.write_str(path),
            MultiResult::Create2 { path, stat } => Create2Response { path, stat: *stat }.encode(w),
            MultiResult::Delete | MultiResult::Check => Ok(()),
            MultiResult::SetData { stat } => stat.encode(w),
            MultiResult::GetData { data, stat } => GetDataResponse { data: *data, stat: *stat }.encode(w),
            MultiResult::GetChildren { children } => children.write_seq(w),
            MultiResult::Error { err } => ErrorResponse { err: *err }.encode(w),
        }
    }
}

/// Writes a whole multi response body: each result, then the end marker.
pub fn encode_multi_response<'x, 'r, S, I>(w: &mut Writer<'_>, results: I) -> Result<(), EncodeError>
where
    S: Seq<&'x [u8]>,
    I: IntoIterator<Item = MultiResult<'r, S>>,
{
    for result in results {
        result.encode(w)?;
    }
    encode_multi_end(w)
}

/// A decoded multi response body, every result already validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultiResponse<'a> {
    raw: &'a [u8],
    count: u32,
}

impl<'a> Decode<'a> for MultiResponse<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let start = r.rest();
        let before = r.position();
        let mut results_end = before;
        let mut count: u32 = 0;
        loop {
            let at = r.position();
            let Some(op) = read_header(r)? else { break };
            MultiResult::read_body(op, r, at)?;
            count = count.saturating_add(1);
            results_end = r.position();
        }
        let raw = start.get(..results_end.saturating_sub(before)).unwrap_or(&[]);
        Ok(MultiResponse { raw, count })
    }
}

impl Encode for MultiResponse<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_bytes(self.raw)?;
        encode_multi_end(w)
    }
}

impl<'a> MultiResponse<'a> {
    /// Number of results.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when there is no result.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The results' bytes, without the end marker.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The results in order.
    pub fn iter(&self) -> MultiResults<'a> {
        MultiResults { r: Reader::new(self.raw) }
    }
}

/// Iterator over a validated [`MultiResponse`].
#[derive(Clone, Debug)]
pub struct MultiResults<'a> {
    r: Reader<'a>,
}

impl<'a> Iterator for MultiResults<'a> {
    type Item = MultiResult<'a>;
    fn next(&mut self) -> Option<MultiResult<'a>> {
        if self.r.remaining() < MULTI_HEADER_LEN {
            return None;
        }
        let at = self.r.position();
        let op = read_header(&mut self.r).ok().flatten();
        let item = op.and_then(|op| MultiResult::read_body(op, &mut self.r, at).ok());
        if item.is_none() {
            self.r = Reader::new(&[]);
        }
        item
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::ids::Version;
    use crate::jute::acl::OPEN_ACL_UNSAFE;
    use crate::jute::testing::{encode_vec, truncations_fail};
    use crate::jute::{decode_request, Request, RequestError};
    use proptest::prelude::*;
    use std::vec::Vec;

    const END: [u8; 9] = [0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff];

    fn header(op: i32) -> Vec<u8> {
        [&op.to_be_bytes()[..], &[0], &[0xff; 4]].concat()
    }

    fn path(p: &[u8]) -> Vec<u8> {
        [&(p.len() as i32).to_be_bytes()[..], p].concat()
    }

    /// create2 /a (no data, open ACL, flags 0), check /a v1, delete /b any.
    fn write_multi() -> Vec<u8> {
        let acl = [&[0, 0, 0, 1, 0, 0, 0, 31][..], &path(b"world"), &path(b"anyone")].concat();
        [
            header(15),
            path(b"/a"),
            [0xff; 4].to_vec(),
            acl,
            [0, 0, 0, 0].to_vec(),
            header(13),
            path(b"/a"),
            [0, 0, 0, 1].to_vec(),
            header(2),
            path(b"/b"),
            [0xff; 4].to_vec(),
            END.to_vec(),
        ]
        .concat()
    }

    #[test]
    fn multi_request_decodes_and_iterates() {
        let body = write_multi();
        let mut r = Reader::new(&body);
        let m = MultiRequest::decode(&mut r, MultiKind::Write).unwrap();
        assert_eq!(r.remaining(), 0);
        assert_eq!(m.len(), 3);
        let ops: Vec<_> = m.iter().collect();
        assert_eq!(ops[1], MultiOp::Check(PathVersionRequest { path: b"/a", version: Version(1) }));
        assert_eq!(ops[2], MultiOp::Delete(PathVersionRequest { path: b"/b", version: Version::ANY }));
        let MultiOp::Create { opcode, req } = ops[0] else { panic!("first op is a create") };
        assert_eq!((opcode, req.path, req.data, req.flags), (OpCode::Create2, &b"/a"[..], None, 0));
        assert_eq!(req.acl.iter().collect::<Vec<_>>(), OPEN_ACL_UNSAFE);
        assert_eq!(encode_vec(&m), body, "re-encodes to the same bytes");
        // Built by a client from slices, the same bytes come out.
        let built = [
            MultiOp::Create {
                opcode: OpCode::Create2,
                req: CreateRequest { path: b"/a", data: None, acl: &OPEN_ACL_UNSAFE[..], flags: 0 },
            },
            MultiOp::Check(PathVersionRequest { path: b"/a", version: Version(1) }),
            MultiOp::Delete(PathVersionRequest { path: b"/b", version: Version::ANY }),
        ];
        let mut out = [0u8; 256];
        let mut w = Writer::new(&mut out);
        encode_multi_request(&mut w, built).unwrap();
        assert_eq!(w.written(), body.as_slice());
        for n in 0..body.len() {
            assert!(MultiRequest::decode(&mut Reader::new(&body[..n]), MultiKind::Write).is_err(), "{n}-byte prefix");
        }
    }

    #[test]
    fn multi_read_and_mixing_rules() {
        let reads = [header(4), path(b"/a"), [1].to_vec(), header(8), path(b"/"), [0].to_vec(), END.to_vec()].concat();
        let m = MultiRequest::decode(&mut Reader::new(&reads), MultiKind::Read).unwrap();
        let ops: Vec<_> = m.iter().collect();
        assert_eq!(
            ops,
            [
                MultiOp::GetData(PathWatchRequest { path: b"/a", watch: true }),
                MultiOp::GetChildren(PathWatchRequest { path: b"/", watch: false })
            ]
        );
        // Reads inside multi, writes inside multiRead: mixing.
        assert_eq!(
            MultiRequest::decode(&mut Reader::new(&reads), MultiKind::Write),
            Err(DecodeError::MixedMulti { op: 4, at: 0 })
        );
        let writes = write_multi();
        assert_eq!(
            MultiRequest::decode(&mut Reader::new(&writes), MultiKind::Read),
            Err(DecodeError::MixedMulti { op: 15, at: 0 })
        );
        // Unknown sub-ops, including nested multis and getACL.
        for op in [3, 6, 14, 22, 99, -1] {
            let body = [header(op), path(b"/"), END.to_vec()].concat();
            assert_eq!(
                MultiRequest::decode(&mut Reader::new(&body), MultiKind::Write),
                Err(DecodeError::UnknownMultiOp { op, at: 0 })
            );
        }
        // An empty multi is legal; any header with done set ends it.
        let empty = [0, 0, 0, 1, 1, 0, 0, 0, 0];
        assert!(MultiRequest::decode(&mut Reader::new(&empty), MultiKind::Write).is_ok_and(|m| m.is_empty()));
    }

    #[test]
    fn multi_create_with_bad_flags_is_a_decode_error() {
        let body =
            [header(1), path(b"/a"), [0xff; 4].to_vec(), [0, 0, 0, 0].to_vec(), [0, 0, 0, 9].to_vec(), END.to_vec()]
                .concat();
        assert_eq!(
            MultiRequest::decode(&mut Reader::new(&body), MultiKind::Write),
            Err(DecodeError::BadCreateFlags { flags: 9, at: 0 })
        );
    }

    #[test]
    fn multi_through_decode_request() {
        let frame = [&[0, 0, 0, 7, 0, 0, 0, 22][..], &write_multi()].concat();
        assert!(matches!(
            decode_request(&frame),
            Err(RequestError::Body { op: OpCode::MultiRead, reason: DecodeError::MixedMulti { op: 15, at: 8 }, .. })
        ));
        let frame = [&[0, 0, 0, 7, 0, 0, 0, 14][..], &write_multi()].concat();
        let (_, req) = decode_request(&frame).unwrap();
        assert!(matches!(req, Request::Multi(m) if m.kind() == MultiKind::Write && m.len() == 3));
        assert_eq!(req.opcode(), OpCode::Multi);
    }

    const STAT: Stat = Stat {
        czxid: 1,
        mzxid: 1,
        ctime: 0,
        mtime: 0,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 0,
        num_children: 0,
        pzxid: 1,
    };

    fn stat_bytes() -> Vec<u8> {
        encode_vec(&STAT)
    }

    #[test]
    fn multi_response_both_ways() {
        let kids: [&[u8]; 1] = [b"x"];
        let results: [MultiResult<'_, &[&[u8]]>; 8] = [
            MultiResult::Create { path: b"/a" },
            MultiResult::Create2 { path: b"/b", stat: STAT },
            MultiResult::Delete,
            MultiResult::Check,
            MultiResult::SetData { stat: STAT },
            MultiResult::GetData { data: Some(b"d"), stat: STAT },
            MultiResult::GetChildren { children: &kids[..] },
            MultiResult::Error { err: ErrorCode::NoNode },
        ];
        #[rustfmt::skip]
        let expected = [
            &[0, 0, 0, 1, 0, 0, 0, 0, 0][..], &path(b"/a"),
            &[0, 0, 0, 15, 0, 0, 0, 0, 0], &path(b"/b"), &stat_bytes(),
            &[0, 0, 0, 2, 0, 0, 0, 0, 0],
            &[0, 0, 0, 13, 0, 0, 0, 0, 0],
            &[0, 0, 0, 5, 0, 0, 0, 0, 0], &stat_bytes(),
            &[0, 0, 0, 4, 0, 0, 0, 0, 0], &path(b"d"), &stat_bytes(),
            &[0, 0, 0, 8, 0, 0, 0, 0, 0], &[0, 0, 0, 1], &path(b"x"),
            &[0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0x9b], &[0xff, 0xff, 0xff, 0x9b],
            &END,
        ]
        .concat();
        let mut out = [0u8; 512];
        let mut w = Writer::new(&mut out);
        encode_multi_response(&mut w, results).unwrap();
        assert_eq!(w.written(), expected.as_slice());

        let decoded = MultiResponse::decode_from(&expected).unwrap();
        assert_eq!(decoded.len(), 8);
        let back: Vec<_> = decoded.iter().collect();
        assert_eq!(
            back[..6],
            [
                MultiResult::Create { path: b"/a" },
                MultiResult::Create2 { path: b"/b", stat: STAT },
                MultiResult::Delete,
                MultiResult::Check,
                MultiResult::SetData { stat: STAT },
                MultiResult::GetData { data: Some(b"d"), stat: STAT },
            ]
        );
        assert!(matches!(back[6], MultiResult::GetChildren { children } if children.iter().eq(kids)));
        assert_eq!(back[7], MultiResult::Error { err: ErrorCode::NoNode });
        assert_eq!(encode_vec(&decoded), expected);
        truncations_fail::<MultiResponse>(&expected);
        let bad = [header(3), END.to_vec()].concat();
        assert_eq!(MultiResponse::decode_from(&bad), Err(DecodeError::UnknownMultiOp { op: 3, at: 0 }));
        let mut empty = [0u8; 9];
        let mut w = Writer::new(&mut empty);
        encode_multi_response::<&[&[u8]], _>(&mut w, []).unwrap();
        assert_eq!(w.written(), END);
    }

    proptest! {
        #![proptest_config(crate::jute::testing::proptest_config())]
        #[test]
        fn arbitrary_multi_responses_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(m) = MultiResponse::decode_from(&bytes) {
                prop_assert_eq!(m.iter().count(), m.len());
            }
        }

        #[test]
        fn arbitrary_multi_requests_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), read in any::<bool>()) {
            let kind = if read { MultiKind::Read } else { MultiKind::Write };
            if let Ok(m) = MultiRequest::decode(&mut Reader::new(&bytes), kind) {
                prop_assert_eq!(m.iter().count(), m.len());
            }
        }
    }

    /// A result with no body (delete, check) is a bare 9-byte header: the last one counts.
    #[test]
    fn a_trailing_delete_or_check_result_is_iterated() {
        let results = [MultiResult::Create { path: b"/a" }, MultiResult::Check, MultiResult::Delete];
        let bytes = {
            let mut buf = [0u8; 128];
            let mut w = crate::jute::Writer::new(&mut buf);
            encode_multi_response::<&[&[u8]], _>(&mut w, results).unwrap();
            let n = w.position();
            buf[..n].to_vec()
        };
        let resp: MultiResponse = crate::jute::testing::decode_all(&bytes).unwrap();
        assert_eq!(resp.len(), 3);
        let ops: Vec<OpCode> = resp.iter().map(|r| r.opcode()).collect();
        assert_eq!(ops, [OpCode::Create, OpCode::Check, OpCode::Delete]);
    }
}
