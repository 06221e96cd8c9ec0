//! ZooKeeper's client wire codec ("jute"), ZooKeeper 3.8 feature level.
//!
//! Decoding borrows from the received frame and allocates nothing: strings are raw bytes
//! (UTF-8 is checked later by path validation, which turns a bad encoding into ZooKeeper's
//! error), and vectors are validated once and kept as slices ([`List`]). Encoding writes into
//! a caller's buffer; lists come from anything that is a [`Seq`] (a decoded list, a slice or
//! an iterator).
//!
//! Entry points:
//! - [`classify_prefix`]: what the first 4 bytes of a frame mean (length, 4lw word, invalid);
//! - [`ConnectRequest`]: the handshake frame, read with [`Decode::decode_from`];
//! - [`decode_request`]: every later frame, with errors sorted by server reaction;
//! - [`FrameWriter`] and the `encode_*` helpers: whole length-prefixed frames.

/// Declares a wire code enum with an `Unknown(i32)` variant, its conversions and a
/// `Display` that prints ZooKeeper's name.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this codec does not know, kept as sent.
            Unknown(i32),
        }

        impl $name {
            /// The wire value.
            pub const fn code(self) -> i32 {
                match self {
                    $( $name::$variant => $value, )+
                    $name::Unknown(v) => v,
                }
            }

            /// The variant for a wire value.
            pub const fn from_code(v: i32) -> $name {
                match v {
                    $( $value => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }

            /// ZooKeeper's name for the value; `None` for an unknown one.
            pub const fn name(self) -> Option<&'static str> {
                match self {
                    $( $name::$variant => Some($text), )+
                    $name::Unknown(_) => None,
                }
            }
        }

        impl From<i32> for $name {
            fn from(v: i32) -> $name {
                $name::from_code(v)
            }
        }

        impl From<$name> for i32 {
            fn from(v: $name) -> i32 {
                v.code()
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "Unknown({})", self.code()),
                }
            }
        }
    };
}

mod acl;
mod connect;
mod create_mode;
mod error;
mod error_code;
mod frame;
mod header;
mod list;
mod multi;
mod opcode;
mod records;
mod request;
mod watcher;
mod wire;

pub use acl::{perms, Acl, AclList, Id, CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE};
pub use connect::{ConnectRequest, ConnectResponse, PASSWORD_LEN};
pub use create_mode::CreateMode;
pub use error::{DecodeError, EncodeError, RequestError};
pub use error_code::ErrorCode;
pub use frame::{
    classify_length, classify_prefix, encode_connect_request, encode_connect_response, encode_notification,
    encode_reply, encode_request, FourLetterWord, FrameWriter, Prefix, LENGTH_PREFIX_LEN,
};
pub use header::{ReplyHeader, RequestHeader, REPLY_HEADER_LEN, REQUEST_HEADER_LEN};
pub use list::{Element, List, ListIter, Seq, SeqIter, StrList, WriteElement};
pub use multi::{
    encode_multi_end, encode_multi_request, encode_multi_response, MultiKind, MultiOp, MultiOps, MultiRequest,
    MultiResponse, MultiResult, MultiResults,
};
pub use opcode::OpCode;
pub use records::*;
pub use request::{decode_request, Request};
pub use watcher::{AddWatchMode, EventType, KeeperState, WatcherEvent, WatcherType};
pub use wire::{Reader, Slot, Writer};

/// A record that can be read from a jute stream.
pub trait Decode<'a>: Sized {
    /// Reads the record at the reader's position.
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError>;

    /// Reads the record from the start of `bytes`; trailing bytes are ignored, as
    /// ZooKeeper ignores them.
    fn decode_from(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Self::decode(&mut Reader::new(bytes))
    }
}

/// A record that can be written to a jute stream.
pub trait Encode {
    /// Writes the record at the writer's position.
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError>;
}

/// The empty body (ping, delete, errors…).
impl Encode for () {
    fn encode(&self, _w: &mut Writer<'_>) -> Result<(), EncodeError> {
        Ok(())
    }
}

impl<E: Encode + ?Sized> Encode for &E {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        (**self).encode(w)
    }
}

#[cfg(test)]
pub(crate) mod testing {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// Encodes into a fresh vector.
    pub fn encode_vec<E: Encode + ?Sized>(e: &E) -> Vec<u8> {
        let mut buf = std::vec![0u8; 1 << 16];
        let mut w = Writer::new(&mut buf);
        e.encode(&mut w).expect("test record fits");
        let n = w.position();
        buf.truncate(n);
        buf
    }

    /// Decodes and checks that the whole input was the record.
    pub fn decode_all<'a, D: Decode<'a>>(bytes: &'a [u8]) -> Result<D, DecodeError> {
        let mut r = Reader::new(bytes);
        let d = D::decode(&mut r)?;
        assert_eq!(r.remaining(), 0, "record must consume every byte");
        Ok(d)
    }

    /// Checks that every strict prefix of `bytes` fails to decode.
    pub fn truncations_fail<'a, D: Decode<'a>>(bytes: &'a [u8]) {
        for n in 0..bytes.len() {
            let prefix = bytes.get(..n).unwrap_or(&[]);
            assert!(D::decode_from(prefix).is_err(), "a {n}-byte prefix must not decode");
        }
    }

    /// Property-test settings: failures are reported, not saved to files beside the crate.
    pub fn proptest_config() -> proptest::test_runner::Config {
        proptest::test_runner::Config { failure_persistence: None, ..Default::default() }
    }

    /// Checks that encoding into any buffer shorter than `full` bytes reports BufferFull.
    pub fn short_buffers_fail<E: Encode + ?Sized>(e: &E, full: usize) {
        for n in 0..full {
            let mut buf = std::vec![0u8; n];
            assert_eq!(e.encode(&mut Writer::new(&mut buf)), Err(EncodeError::BufferFull), "{n} bytes");
        }
    }
}
