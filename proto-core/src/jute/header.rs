//! RequestHeader and ReplyHeader (reference section 3.1).

use super::error::{DecodeError, EncodeError};
use super::error_code::ErrorCode;
use super::opcode::OpCode;
use super::wire::{Reader, Writer};
use super::{Decode, Encode};
use crate::ids::Xid;

/// Bytes of a RequestHeader; a shorter frame makes the server close the connection.
pub const REQUEST_HEADER_LEN: usize = 8;

/// Bytes of a ReplyHeader.
pub const REPLY_HEADER_LEN: usize = 16;

/// Precedes every request after the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    /// Client-chosen id, echoed in the reply.
    pub xid: Xid,
    /// What the body is.
    pub op: OpCode,
}

/// Precedes every reply after the handshake; a body follows only when `err` is Ok.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyHeader {
    /// The request's xid, or a special one (−1 notification, −2 ping, −4 auth, −8 setWatches).
    pub xid: Xid,
    /// The server's last applied zxid as a wire long (−1 for notifications and Unimplemented,
    /// 0 for auth replies).
    pub zxid: i64,
    /// Outcome.
    pub err: ErrorCode,
}

impl ReplyHeader {
    /// The header of a watch notification: xid −1, zxid −1, Ok.
    pub const NOTIFICATION: ReplyHeader = ReplyHeader { xid: Xid::NOTIFICATION, zxid: -1, err: ErrorCode::Ok };
}

impl<'a> Decode<'a> for RequestHeader {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(RequestHeader {
            xid: Xid(r.read_i32("RequestHeader.xid")?),
            op: OpCode::from(r.read_i32("RequestHeader.type")?),
        })
    }
}

impl Encode for RequestHeader {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_i32(self.xid.0)?;
        w.write_i32(self.op.code())
    }
}

impl<'a> Decode<'a> for ReplyHeader {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(ReplyHeader {
            xid: Xid(r.read_i32("ReplyHeader.xid")?),
            zxid: r.read_i64("ReplyHeader.zxid")?,
            err: ErrorCode::from(r.read_i32("ReplyHeader.err")?),
        })
    }
}

impl Encode for ReplyHeader {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_i32(self.xid.0)?;
        w.write_i64(self.zxid)?;
        w.write_i32(self.err.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::testing::{decode_all, encode_vec, short_buffers_fail, truncations_fail};

    #[test]
    fn request_header_both_ways() {
        let bytes = [0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11];
        let h = RequestHeader { xid: Xid::PING, op: OpCode::Ping };
        assert_eq!(encode_vec(&h), bytes);
        assert_eq!(decode_all::<RequestHeader>(&bytes), Ok(h));
        truncations_fail::<RequestHeader>(&bytes);
    }

    #[test]
    fn reply_header_both_ways() {
        let bytes = [0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0x9b];
        let h = ReplyHeader { xid: Xid(7), zxid: 0x1_0000_0002, err: ErrorCode::NoNode };
        assert_eq!(encode_vec(&h), bytes);
        assert_eq!(decode_all::<ReplyHeader>(&bytes), Ok(h));
        truncations_fail::<ReplyHeader>(&bytes);
        short_buffers_fail(&h, REPLY_HEADER_LEN);
    }
}
