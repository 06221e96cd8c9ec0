//! ACL records and permission bits (reference section 9.1, `ZooDefs.Perms` / `Ids`).

use super::error::{DecodeError, EncodeError};
use super::list::{Element, List, WriteElement};
use super::wire::{Reader, Writer};
use super::{Decode, Encode};

/// Permission bits of an ACL entry (`ZooDefs.Perms`).
pub mod perms {
    /// Read data and list children.
    pub const READ: i32 = 1;
    /// Set data.
    pub const WRITE: i32 = 1 << 1;
    /// Create children.
    pub const CREATE: i32 = 1 << 2;
    /// Delete children.
    pub const DELETE: i32 = 1 << 3;
    /// Set the ACL.
    pub const ADMIN: i32 = 1 << 4;
    /// Every permission.
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// One ACL entry: jute `ACL{int perms, Id{ustring scheme, ustring id}}`, with the Id inlined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Acl<'a> {
    /// Permission bits ([`perms`]).
    pub perms: i32,
    /// Auth scheme (`world`, `auth`, `digest`, `ip`, `x509`, `sasl`…).
    pub scheme: &'a [u8],
    /// Identity within the scheme.
    pub id: &'a [u8],
}

/// An identity: jute `Id{ustring scheme, ustring id}` (an ACL's subject, a connection's auth id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Id<'a> {
    /// Auth scheme.
    pub scheme: &'a [u8],
    /// Identity within the scheme.
    pub id: &'a [u8],
}

impl<'a> Acl<'a> {
    /// The entry's subject.
    pub fn identity(&self) -> Id<'a> {
        Id { scheme: self.scheme, id: self.id }
    }
}

impl<'a> Decode<'a> for Id<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Id {
            scheme: r.read_str("Id.scheme")?,
            // kazoo writes an empty id (e.g. `auth:""`) as a null string; ZooKeeper reads
            // it as null and ignores it for `auth`, so null reads as empty here.
            id: r.read_ustring("Id.id")?.unwrap_or_default(),
        })
    }
}

impl Encode for Id<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_str(self.scheme)?;
        w.write_str(self.id)
    }
}

/// A decoded vector of ACL entries.
pub type AclList<'a> = List<'a, Acl<'a>>;

/// `OPEN_ACL_UNSAFE`: everything for anyone.
pub const OPEN_ACL_UNSAFE: [Acl<'static>; 1] = [Acl { perms: perms::ALL, scheme: b"world", id: b"anyone" }];
/// `CREATOR_ALL_ACL`: everything for the creator's authenticated ids.
pub const CREATOR_ALL_ACL: [Acl<'static>; 1] = [Acl { perms: perms::ALL, scheme: b"auth", id: b"" }];
/// `READ_ACL_UNSAFE`: read for anyone.
pub const READ_ACL_UNSAFE: [Acl<'static>; 1] = [Acl { perms: perms::READ, scheme: b"world", id: b"anyone" }];

impl<'a> Decode<'a> for Acl<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let perms = r.read_i32("ACL.perms")?;
        let Id { scheme, id } = Id::decode(r)?;
        Ok(Acl { perms, scheme, id })
    }
}

impl Encode for Acl<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_i32(self.perms)?;
        self.identity().encode(w)
    }
}

impl<'a> Element<'a> for Acl<'a> {
    const MIN_LEN: usize = 12;
    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Acl::decode(r)
    }
}

impl WriteElement for Acl<'_> {
    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        self.encode(w)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::jute::list::Seq;
    use crate::jute::testing::{decode_all, encode_vec, truncations_fail};
    use std::vec::Vec;

    const WORLD_ALL: [u8; 23] =
        [0, 0, 0, 31, 0, 0, 0, 5, b'w', b'o', b'r', b'l', b'd', 0, 0, 0, 6, b'a', b'n', b'y', b'o', b'n', b'e'];

    #[test]
    fn acl_both_ways() {
        assert_eq!(encode_vec(&OPEN_ACL_UNSAFE[0]), WORLD_ALL);
        assert_eq!(decode_all::<Acl>(&WORLD_ALL), Ok(OPEN_ACL_UNSAFE[0]));
        truncations_fail::<Acl>(&WORLD_ALL);
        assert_eq!(decode_all::<Id>(&WORLD_ALL[4..]), Ok(OPEN_ACL_UNSAFE[0].identity()));
        truncations_fail::<Id>(&WORLD_ALL[4..]);
    }

    #[test]
    fn acl_list_iterates_entries() {
        let mut bytes = Vec::from([0, 0, 0, 2]);
        bytes.extend_from_slice(&WORLD_ALL);
        bytes.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2, b'i', b'p', 0, 0, 0, 0]);
        let mut r = Reader::new(&bytes);
        let list = AclList::read(&mut r, "acl").unwrap();
        let entries: Vec<_> = list.iter().collect();
        assert_eq!(entries, [OPEN_ACL_UNSAFE[0], Acl { perms: perms::READ, scheme: b"ip", id: b"" }]);
        let mut out = [0u8; 64];
        let mut w = Writer::new(&mut out);
        entries.as_slice().write_seq(&mut w).unwrap();
        assert_eq!(w.written(), bytes.as_slice());
        assert_eq!(perms::ALL, 31);
    }
}
