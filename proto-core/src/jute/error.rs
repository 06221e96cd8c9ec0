//! Why a frame could not be decoded or encoded.

use core::fmt;

use super::opcode::OpCode;
use crate::ids::Xid;

/// A record could not be decoded; `at` is the byte offset where the bad field starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes end inside `field`.
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Offset of the field.
        at: usize,
    },
    /// A length or count below −1, or longer than the bytes that follow.
    BadLength {
        /// The field whose length prefix is bad.
        field: &'static str,
        /// The length as sent.
        len: i32,
        /// Offset of the length prefix.
        at: usize,
    },
    /// A null ustring where a value is required (a path, a scheme, a list element).
    Null {
        /// The field that was null.
        field: &'static str,
        /// Offset of the length prefix.
        at: usize,
    },
    /// A multi sub-op type that no multi carries (ZooKeeper: "Invalid type of op").
    UnknownMultiOp {
        /// The sub-op type as sent.
        op: i32,
        /// Offset of the sub-op header.
        at: usize,
    },
    /// A sub-op of the other kind: a read in `multi` or a write in `multiRead`
    /// (ZooKeeper: "Mixing different kind of ops").
    MixedMulti {
        /// The sub-op type as sent.
        op: i32,
        /// Offset of the sub-op header.
        at: usize,
    },
    /// A create inside a multi whose flags name no create mode (ZooKeeper refuses it while
    /// decoding, so it is a marshalling error rather than BadArguments).
    BadCreateFlags {
        /// The flags as sent.
        flags: i32,
        /// Offset of the sub-op header.
        at: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::Truncated { field, at } => write!(f, "truncated {field} at byte {at}"),
            DecodeError::BadLength { field, len, at } => {
                write!(f, "unreasonable length {len} for {field} at byte {at}")
            }
            DecodeError::Null { field, at } => write!(f, "null {field} at byte {at}"),
            DecodeError::UnknownMultiOp { op, at } => {
                write!(f, "invalid type of op {op} in multi at byte {at}")
            }
            DecodeError::MixedMulti { op, at } => {
                write!(f, "mixing different kind of ops: {op} at byte {at}")
            }
            DecodeError::BadCreateFlags { flags, at } => {
                write!(f, "invalid flag {flags} for create mode at byte {at}")
            }
        }
    }
}

/// A record could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer is too small.
    BufferFull,
    /// A string, buffer or list longer than a jute length (`i32`) can say.
    TooLong,
    /// A patch aimed at a slot that was not reserved in this writer.
    BadSlot,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BufferFull => f.write_str("output buffer full"),
            EncodeError::TooLong => f.write_str("value longer than a jute length"),
            EncodeError::BadSlot => f.write_str("patch of a slot that was not reserved"),
        }
    }
}

/// A client request frame could not be decoded; each variant maps to one server reaction
/// (reference section 3.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The frame is too short for a RequestHeader: close the connection, no reply.
    Header {
        /// The frame length.
        len: usize,
    },
    /// The opcode is not a valid client request: reply Unimplemented (−6, zxid −1), then
    /// close the connection.
    UnknownOpcode {
        /// The request's xid, echoed in the reply.
        xid: Xid,
        /// The opcode as sent.
        op: i32,
    },
    /// The body does not decode: reply MarshallingError (−5) and keep the connection
    /// (ZooKeeper closes instead when the op is `auth`, whose failure aborts the packet).
    Body {
        /// The request's xid, echoed in the reply.
        xid: Xid,
        /// The request's opcode.
        op: OpCode,
        /// What was wrong with the body.
        reason: DecodeError,
    },
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Header { len } => {
                write!(f, "request header needs 8 bytes, frame has {len}")
            }
            RequestError::UnknownOpcode { xid, op } => {
                write!(f, "xid {}: invalid opcode {op}", xid.0)
            }
            RequestError::Body { xid, op, reason } => {
                write!(f, "xid {}: bad {op} body: {reason}", xid.0)
            }
        }
    }
}
