//! ACLs and authentication (protocol reference section 9).
//!
//! A connection's authenticated ids live in [`AuthIds`], fixed-size inline storage. ACL lists
//! stay in their jute form (`vector<ACL>`: int32 count, then per entry int32 perms, ustring
//! scheme, ustring id) from the request that set them to the store and back to getACL, so this
//! module reads and writes that form directly: [`AclList`] parses it without copying,
//! [`check`] answers a permission question, [`fixup`] validates and expands a list at
//! create/setACL, and [`write_get_acl`] produces the getACL answer with digest ids masked.

use base64::Engine as _;
use core::fmt;
use core::net::IpAddr;
use core::ops::BitOr;
use sha1::{Digest as _, Sha1};

/// Longest id one connection can hold, in bytes. A digest id is the user name, `:` and 28
/// characters of base64, so this leaves user names of up to 227 bytes; an IPv6 address
/// needs 39.
pub const AUTH_ID_BYTES_MAX: usize = 256;

/// Most entries accepted in one ACL list at create/setACL. Duplicate removal compares every
/// pair of entries, so the bound keeps that scan small; real lists hold a handful.
pub const ACL_ENTRIES_MAX: usize = 1024;

/// Length of base64(SHA-1 digest): 20 bytes → 28 characters with padding.
const DIGEST_B64_BYTES: usize = 28;

/// Smallest jute encoding of one ACL entry: perms plus two empty strings.
const ENTRY_BYTES_MIN: usize = 12;

/// The getACL list of a node whose ACL everyone may use: `[ALL world:anyone]` in jute form.
pub const OPEN_ACL_UNSAFE: &[u8] = &[
    0, 0, 0, 1, 0, 0, 0, 31, 0, 0, 0, 5, b'w', b'o', b'r', b'l', b'd', 0, 0, 0, 6, b'a', b'n', b'y', b'o', b'n', b'e',
];

/// `[READ world:anyone]` in jute form (the ACL of `/zookeeper/config`).
pub const READ_ACL_UNSAFE: &[u8] =
    &[0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 5, b'w', b'o', b'r', b'l', b'd', 0, 0, 0, 6, b'a', b'n', b'y', b'o', b'n', b'e'];

/// Permission bits of an ACL entry (jute int). Stored as sent: bits above 31 are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Perms(pub i32);

impl Perms {
    /// getData, getChildren, exists on an existing node, getACL.
    pub const READ: Perms = Perms(1);
    /// setData.
    pub const WRITE: Perms = Perms(2);
    /// create a child.
    pub const CREATE: Perms = Perms(4);
    /// delete a child.
    pub const DELETE: Perms = Perms(8);
    /// setACL, and unmasked digest ids in getACL.
    pub const ADMIN: Perms = Perms(16);
    /// Every permission.
    pub const ALL: Perms = Perms(31);

    /// True when `self` grants at least one of the bits in `wanted`.
    pub const fn intersects(self, wanted: Perms) -> bool {
        self.0 & wanted.0 != 0
    }
}

impl BitOr for Perms {
    type Output = Perms;
    fn bitor(self, rhs: Perms) -> Perms {
        Perms(self.0 | rhs.0)
    }
}

/// The authentication schemes herd knows, by their ZooKeeper names.
///
/// `repr(u8)` with `World` = 0 keeps an all-zero [`AuthId`] a valid value, so connection
/// tables can live in zeroed, lazily-mapped memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Scheme {
    /// `world:anyone`, matching every connection (ACL side only).
    World = 0,
    /// `auth`: expanded at create/setACL into the caller's authenticated ids (ACL input only).
    Auth = 1,
    /// `digest:user:base64(sha1(user:password))`.
    Digest = 2,
    /// `ip:a.b.c.d[/bits]` in ACLs; `ip:<remote address>` on every connection.
    Ip = 3,
    /// `super`: held by a connection whose digest equals the configured super digest.
    Super = 4,
}

impl Scheme {
    /// The scheme's wire name.
    pub const fn name(self) -> &'static str {
        match self {
            Scheme::World => "world",
            Scheme::Auth => "auth",
            Scheme::Digest => "digest",
            Scheme::Ip => "ip",
            Scheme::Super => "super",
        }
    }

    /// Looks a wire name up; names are case-sensitive as in ZooKeeper.
    pub fn from_name(name: &[u8]) -> Option<Scheme> {
        match name {
            b"world" => Some(Scheme::World),
            b"auth" => Some(Scheme::Auth),
            b"digest" => Some(Scheme::Digest),
            b"ip" => Some(Scheme::Ip),
            b"super" => Some(Scheme::Super),
            _ => None,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an `auth` packet (opcode 100) failed. Every variant is answered with AuthFailed (−115),
/// after which the server closes the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No provider for the scheme (anything but `digest` and `ip`).
    UnknownScheme,
    /// The connection already holds the most ids it may hold.
    TooManyIds,
    /// The resulting id is longer than [`AUTH_ID_BYTES_MAX`].
    IdTooLong,
}

/// What a successful `auth` packet did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// A digest id was added; `superuser` when it matched the configured super digest and
    /// `super` was added too.
    Digest {
        /// The digest matched the super digest.
        superuser: bool,
    },
    /// The remote address was added (again) as an `ip` id.
    Ip,
}

/// One id a connection holds: its scheme and id string, in inline storage.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct AuthId {
    scheme: Scheme,
    len: u16,
    bytes: [u8; AUTH_ID_BYTES_MAX],
}

impl AuthId {
    /// An id from its scheme and id bytes.
    pub fn new(scheme: Scheme, id: &[u8]) -> Result<AuthId, AuthError> {
        let mut out = AuthId { scheme, len: 0, bytes: [0; AUTH_ID_BYTES_MAX] };
        out.push(id)?;
        Ok(out)
    }

    /// The `super` id (empty id string, as ZooKeeper adds it).
    pub const fn superuser() -> AuthId {
        AuthId { scheme: Scheme::Super, len: 0, bytes: [0; AUTH_ID_BYTES_MAX] }
    }

    /// The implicit `ip` id of a connection from `addr`, spelled as Java's `getHostAddress`
    /// does: dotted IPv4 (an IPv4-mapped IPv6 address counts as IPv4) or eight uncompressed
    /// lowercase hex groups for IPv6.
    pub fn ip(addr: IpAddr) -> AuthId {
        let mut out = AuthId { scheme: Scheme::Ip, len: 0, bytes: [0; AUTH_ID_BYTES_MAX] };
        let v4 = match addr {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(v6) => v6.to_ipv4_mapped(),
        };
        // The longest spelling (39 bytes) fits easily, so the pushes cannot fail.
        match (v4, addr) {
            (Some(v4), _) => {
                for (i, octet) in v4.octets().iter().enumerate() {
                    if i > 0 {
                        let _ = out.push(b".");
                    }
                    let _ = out.push_decimal(*octet);
                }
            }
            (None, IpAddr::V6(v6)) => {
                for (i, group) in v6.segments().iter().enumerate() {
                    if i > 0 {
                        let _ = out.push(b":");
                    }
                    let _ = out.push_hex(*group);
                }
            }
            (None, IpAddr::V4(_)) => {}
        }
        out
    }

    /// The id's scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The id string (for digest `user:hash`, for ip the address, empty for super).
    pub fn id(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The user name whoAmI reports: digest → the part before the first `:`, ip → the
    /// address, super → empty (ZooKeeper has no provider that names it).
    pub fn user(&self) -> &[u8] {
        let id = self.id();
        match self.scheme {
            Scheme::Digest => id.split(|&b| b == b':').next().unwrap_or(id),
            Scheme::Super => &[],
            _ => id,
        }
    }

    fn push(&mut self, more: &[u8]) -> Result<(), AuthError> {
        let start = usize::from(self.len);
        let end = start.checked_add(more.len()).ok_or(AuthError::IdTooLong)?;
        let dst = self.bytes.get_mut(start..end).ok_or(AuthError::IdTooLong)?;
        dst.copy_from_slice(more);
        self.len = u16::try_from(end).map_err(|_| AuthError::IdTooLong)?;
        Ok(())
    }

    fn push_decimal(&mut self, v: u8) -> Result<(), AuthError> {
        let digits = [v / 100, v / 10 % 10, v % 10];
        let skip = if v >= 100 {
            0
        } else if v >= 10 {
            1
        } else {
            2
        };
        for d in digits.iter().skip(skip) {
            self.push(&[b'0' + d])?;
        }
        Ok(())
    }

    fn push_hex(&mut self, v: u16) -> Result<(), AuthError> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut started = false;
        for shift in [12u32, 8, 4, 0] {
            let nibble = usize::from((v >> shift) & 0xf);
            if nibble != 0 || started || shift == 0 {
                started = true;
                self.push(&[HEX[nibble]])?;
            }
        }
        Ok(())
    }
}

impl PartialEq for AuthId {
    fn eq(&self, other: &AuthId) -> bool {
        self.scheme == other.scheme && self.id() == other.id()
    }
}

impl Eq for AuthId {}

impl fmt::Debug for AuthId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme)?;
        for chunk in self.id().utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{fffd}")?;
            }
        }
        Ok(())
    }
}

/// The ids one connection holds: the implicit `ip` id from connect, then whatever `auth`
/// packets added, at most `N` in all. Like ZooKeeper's set, adding an id already held is a
/// no-op. Ids belong to the connection, not the session: a reconnect starts again.
#[derive(Clone, Debug)]
#[repr(C)]
pub struct AuthIds<const N: usize> {
    ids: [AuthId; N],
    len: usize,
}

impl<const N: usize> AuthIds<N> {
    const ROOM_FOR_IP: () = assert!(N >= 1, "a connection needs room for its ip id");

    /// No ids at all: the state of an unused connection slot.
    pub const EMPTY: Self = AuthIds { ids: [AuthId::superuser(); N], len: 0 };

    /// The ids of a new connection from `remote`: just `ip:<remote>`.
    pub fn new(remote: IpAddr) -> Self {
        let () = Self::ROOM_FOR_IP;
        let mut ids = [AuthId::superuser(); N];
        if let Some(first) = ids.first_mut() {
            *first = AuthId::ip(remote);
        }
        AuthIds { ids, len: 1 }
    }

    /// The ids held, in the order they were added.
    pub fn as_slice(&self) -> &[AuthId] {
        self.ids.get(..self.len).unwrap_or(&[])
    }

    /// True when the connection holds `super` (it bypasses every ACL).
    pub fn is_super(&self) -> bool {
        self.as_slice().iter().any(|id| id.scheme == Scheme::Super)
    }

    /// Adds `id`; `Ok(false)` when it was already held.
    pub fn add(&mut self, id: AuthId) -> Result<bool, AuthError> {
        if self.as_slice().contains(&id) {
            return Ok(false);
        }
        let slot = self.ids.get_mut(self.len).ok_or(AuthError::TooManyIds)?;
        *slot = id;
        self.len += 1;
        Ok(true)
    }

    /// Handles an `auth` packet (section 9.2). `digest` never fails on its own (it adds the
    /// digest id, and `super` first when the digest id equals `super_digest`, the configured
    /// `user:base64` string); `ip` adds the remote address again; any other scheme fails.
    /// On error nothing was added.
    pub fn handle_auth(
        &mut self,
        scheme: &[u8],
        auth: &[u8],
        remote: IpAddr,
        super_digest: Option<&[u8]>,
    ) -> Result<AuthOutcome, AuthError> {
        match Scheme::from_name(scheme) {
            Some(Scheme::Digest) => {
                let id = digest(auth)?;
                let superuser = super_digest == Some(id.id());
                let new_ids = usize::from(!self.as_slice().contains(&id)) + usize::from(superuser && !self.is_super());
                if self.len.saturating_add(new_ids) > N {
                    return Err(AuthError::TooManyIds);
                }
                if superuser {
                    self.add(AuthId::superuser())?;
                }
                self.add(id)?;
                Ok(AuthOutcome::Digest { superuser })
            }
            Some(Scheme::Ip) => {
                self.add(AuthId::ip(remote))?;
                Ok(AuthOutcome::Ip)
            }
            _ => Err(AuthError::UnknownScheme),
        }
    }

    /// whoAmI's list: `(scheme, user)` per id held (see [`AuthId::user`]).
    pub fn client_infos(&self) -> impl Iterator<Item = (&'static str, &[u8])> + '_ {
        self.as_slice().iter().map(|id| (id.scheme.name(), id.user()))
    }
}

/// The digest id for `addauth digest user:password`: `user:base64(sha1(user:password))`,
/// where `user` is everything before the first `:` (the whole input if there is none) and
/// the hash covers the whole input.
pub fn digest(user_password: &[u8]) -> Result<AuthId, AuthError> {
    // ZooKeeper decodes the credential as a Java string first: every malformed UTF-8
    // sequence becomes U+FFFD, and the digest covers the re-encoded text.
    const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();
    let mut hasher = Sha1::new();
    let mut id = AuthId::new(Scheme::Digest, b"")?;
    let mut in_user = true;
    for chunk in user_password.utf8_chunks() {
        let valid = chunk.valid().as_bytes();
        hasher.update(valid);
        if in_user {
            match valid.iter().position(|&b| b == b':') {
                Some(colon) => {
                    id.push(valid.get(..colon).unwrap_or(&[]))?;
                    in_user = false;
                }
                None => id.push(valid)?,
            }
        }
        if !chunk.invalid().is_empty() {
            hasher.update(REPLACEMENT);
            if in_user {
                id.push(REPLACEMENT)?;
            }
        }
    }
    let hash = hasher.finalize();
    let mut b64 = [0u8; DIGEST_B64_BYTES];
    let written =
        base64::engine::general_purpose::STANDARD.encode_slice(hash, &mut b64).map_err(|_| AuthError::IdTooLong)?;
    id.push(b":")?;
    id.push(b64.get(..written).unwrap_or(&[]))?;
    Ok(id)
}

/// Why bytes are not a jute `vector<ACL>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclParseError {
    /// The bytes end inside a field.
    Truncated,
    /// The entry count is below −1.
    BadCount,
    /// A string length is below −1.
    BadStringLength,
    /// Bytes follow the list where exactly one list was expected.
    TrailingBytes,
}

/// One ACL entry as it appears in jute; `None` is a null string (length −1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AclEntry<'a> {
    /// Permission bits.
    pub perms: Perms,
    /// Scheme name.
    pub scheme: Option<&'a [u8]>,
    /// Id string.
    pub id: Option<&'a [u8]>,
}

impl<'a> AclEntry<'a> {
    /// An entry with non-null strings.
    pub const fn new(perms: Perms, scheme: &'a [u8], id: &'a [u8]) -> Self {
        AclEntry { perms, scheme: Some(scheme), id: Some(id) }
    }
}

/// A validated jute `vector<ACL>`, borrowed from the bytes it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AclList<'a> {
    raw: &'a [u8],
    count: u32,
    null: bool,
}

impl<'a> AclList<'a> {
    /// Parses the list at the front of `bytes`, checking every entry, and returns it with the
    /// bytes after it (the rest of a create or setACL request).
    pub fn parse_prefix(bytes: &'a [u8]) -> Result<(AclList<'a>, &'a [u8]), AclParseError> {
        let mut r = Reader { buf: bytes };
        let count = r.i32()?;
        let (count, null) = match count {
            -1 => (0, true),
            c => (u32::try_from(c).map_err(|_| AclParseError::BadCount)?, false),
        };
        // Fail early on counts the bytes cannot hold, before walking them.
        let most = r.buf.len() / ENTRY_BYTES_MIN;
        if usize::try_from(count).map_or(true, |c| c > most) {
            return Err(AclParseError::Truncated);
        }
        for _ in 0..count {
            r.entry()?;
        }
        let used = bytes.len() - r.buf.len();
        let raw = bytes.get(..used).ok_or(AclParseError::Truncated)?;
        Ok((AclList { raw, count, null }, r.buf))
    }

    /// Parses bytes that hold exactly one list.
    pub fn parse(bytes: &'a [u8]) -> Result<AclList<'a>, AclParseError> {
        match Self::parse_prefix(bytes)? {
            (list, []) => Ok(list),
            _ => Err(AclParseError::TrailingBytes),
        }
    }

    /// Number of entries (0 for a null list).
    pub fn len(&self) -> usize {
        usize::try_from(self.count).unwrap_or(usize::MAX)
    }

    /// True for an empty or null list.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// True for a null list (count −1).
    pub fn is_null(&self) -> bool {
        self.null
    }

    /// The list's jute bytes, count included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// The entries in order.
    pub fn iter(&self) -> AclIter<'a> {
        AclIter { reader: Reader { buf: self.raw.get(4..).unwrap_or(&[]) }, left: self.count }
    }
}

impl<'a> IntoIterator for AclList<'a> {
    type Item = AclEntry<'a>;
    type IntoIter = AclIter<'a>;
    fn into_iter(self) -> AclIter<'a> {
        self.iter()
    }
}

/// Iterator over the entries of an [`AclList`].
#[derive(Clone, Debug)]
pub struct AclIter<'a> {
    reader: Reader<'a>,
    left: u32,
}

impl<'a> Iterator for AclIter<'a> {
    type Item = AclEntry<'a>;
    fn next(&mut self) -> Option<AclEntry<'a>> {
        self.left = self.left.checked_sub(1)?;
        // The list was checked when parsed, so this read succeeds.
        self.reader.entry().ok()
    }
}

#[derive(Clone, Debug)]
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn i32(&mut self) -> Result<i32, AclParseError> {
        let (head, rest) = self.buf.split_first_chunk::<4>().ok_or(AclParseError::Truncated)?;
        self.buf = rest;
        Ok(i32::from_be_bytes(*head))
    }

    fn ustring(&mut self) -> Result<Option<&'a [u8]>, AclParseError> {
        let len = match self.i32()? {
            -1 => return Ok(None),
            n => usize::try_from(n).map_err(|_| AclParseError::BadStringLength)?,
        };
        if len > self.buf.len() {
            return Err(AclParseError::Truncated);
        }
        let (s, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(Some(s))
    }

    fn entry(&mut self) -> Result<AclEntry<'a>, AclParseError> {
        let perms = Perms(self.i32()?);
        let scheme = self.ustring()?;
        let id = self.ustring()?;
        Ok(AclEntry { perms, scheme, id })
    }
}

/// Writes jute into a caller's buffer; every write is bounds-checked.
struct Writer<'o> {
    buf: &'o mut [u8],
    pos: usize,
}

/// The output buffer is too small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OutputFull;

impl<'o> Writer<'o> {
    fn bytes(&mut self, b: &[u8]) -> Result<(), OutputFull> {
        let end = self.pos.checked_add(b.len()).ok_or(OutputFull)?;
        self.buf.get_mut(self.pos..end).ok_or(OutputFull)?.copy_from_slice(b);
        self.pos = end;
        Ok(())
    }

    fn i32(&mut self, v: i32) -> Result<(), OutputFull> {
        self.bytes(&v.to_be_bytes())
    }

    fn len_prefix(&mut self, len: usize) -> Result<(), OutputFull> {
        self.i32(i32::try_from(len).map_err(|_| OutputFull)?)
    }

    fn ustring(&mut self, s: Option<&[u8]>) -> Result<(), OutputFull> {
        match s {
            None => self.i32(-1),
            Some(s) => {
                self.len_prefix(s.len())?;
                self.bytes(s)
            }
        }
    }

    fn entry(&mut self, e: &AclEntry<'_>) -> Result<(), OutputFull> {
        self.i32(e.perms.0)?;
        self.ustring(e.scheme)?;
        self.ustring(e.id)
    }

    fn patch_i32(&mut self, at: usize, v: i32) -> Result<(), OutputFull> {
        let end = at.checked_add(4).ok_or(OutputFull)?;
        self.buf.get_mut(at..end).ok_or(OutputFull)?.copy_from_slice(&v.to_be_bytes());
        Ok(())
    }

    fn into_written(self) -> &'o [u8] {
        let Writer { buf, pos } = self;
        buf.get(..pos).unwrap_or(&[])
    }
}

/// ZooKeeper's `checkACL` (section 9.3, skipACL aside): may a connection holding `ids` do
/// something needing any bit of `wanted` on a node whose ACL is the jute list `acl`?
///
/// An empty (or null) list allows everyone; `super` is allowed everything; otherwise an entry
/// sharing a bit with `wanted` must be `world:anyone`, an exactly equal `digest` id, or an
/// `ip` range containing the connection's address. Bytes that are not a list allow nobody.
pub fn check(acl: &[u8], wanted: Perms, ids: &[AuthId]) -> bool {
    let Ok(list) = AclList::parse(acl) else {
        return false;
    };
    if list.is_empty() {
        return true;
    }
    if ids.iter().any(|id| id.scheme == Scheme::Super) {
        return true;
    }
    list.iter().any(|entry| entry.perms.intersects(wanted) && entry_matches(&entry, ids))
}

/// True when one ACL entry matches one of `ids` (perms aside).
fn entry_matches(entry: &AclEntry<'_>, ids: &[AuthId]) -> bool {
    let (Some(scheme), Some(acl_id)) = (entry.scheme, entry.id) else {
        return false;
    };
    match Scheme::from_name(scheme) {
        Some(Scheme::World) => acl_id == b"anyone",
        Some(Scheme::Digest) => ids.iter().any(|id| id.scheme == Scheme::Digest && id.id() == acl_id),
        Some(Scheme::Ip) => ids.iter().any(|id| id.scheme == Scheme::Ip && ip_matches(id.id(), acl_id)),
        // `auth` never survives fixup and `super` is no provider: neither matches anything.
        _ => false,
    }
}

/// Why [`write_get_acl`] produced nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetAclError {
    /// The stored list is not jute.
    Malformed(AclParseError),
    /// The answer does not fit the output buffer.
    OutputFull,
}

/// Writes the ACL part of a getACL answer for the stored list `acl` into `out` (section 9.4):
/// the list as stored when `ids` have ADMIN on it, otherwise with every digest id masked to
/// `user:x`. The caller has already checked READ or ADMIN.
pub fn write_get_acl<'o>(acl: &[u8], ids: &[AuthId], out: &'o mut [u8]) -> Result<&'o [u8], GetAclError> {
    let list = AclList::parse(acl).map_err(GetAclError::Malformed)?;
    let admin = check(acl, Perms::ADMIN, ids);
    let mut w = Writer { buf: out, pos: 0 };
    let full = |_| GetAclError::OutputFull;
    if admin || list.is_null() {
        w.bytes(list.as_bytes()).map_err(full)?;
        return Ok(w.into_written());
    }
    w.i32(i32::try_from(list.count).map_err(|_| GetAclError::OutputFull)?).map_err(full)?;
    for entry in list.iter() {
        match (entry.scheme, entry.id) {
            (Some(b"digest"), Some(id)) => {
                w.i32(entry.perms.0).map_err(full)?;
                w.ustring(entry.scheme).map_err(full)?;
                let len_at = w.pos;
                w.i32(0).map_err(full)?;
                let start = w.pos;
                write_masked_digest(&mut w, id).map_err(full)?;
                let len = w.pos - start;
                w.patch_i32(len_at, i32::try_from(len).map_err(|_| GetAclError::OutputFull)?).map_err(full)?;
            }
            _ => w.entry(&entry).map_err(full)?,
        }
    }
    Ok(w.into_written())
}

/// Java's `id.replaceAll(":.*", ":x")`: each `:` and the rest of its line become `:x`. `.`
/// stops at a line terminator (`\n`, `\r`, U+0085, U+2028, U+2029), so a later line of a
/// (strange) id is masked again from its own first `:`.
fn write_masked_digest(w: &mut Writer<'_>, id: &[u8]) -> Result<(), OutputFull> {
    let mut in_mask = false;
    let mut rest = id;
    while let Some((&b, tail)) = rest.split_first() {
        let terminator = line_terminator_len(rest);
        if in_mask {
            if terminator > 0 {
                in_mask = false;
                let (t, after) = rest.split_at(terminator);
                w.bytes(t)?;
                rest = after;
            } else {
                rest = tail;
            }
        } else if b == b':' {
            w.bytes(b":x")?;
            in_mask = true;
            rest = tail;
        } else {
            w.bytes(&[b])?;
            rest = tail;
        }
    }
    Ok(())
}

fn line_terminator_len(s: &[u8]) -> usize {
    match s {
        [b'\n', ..] | [b'\r', ..] => 1,
        [0xc2, 0x85, ..] => 2,
        [0xe2, 0x80, 0xa8, ..] | [0xe2, 0x80, 0xa9, ..] => 3,
        _ => 0,
    }
}

/// Why [`fixup`] refused a requested ACL list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixupError {
    /// InvalidACL (−114): empty list, unknown or null scheme, `world` other than `anyone`,
    /// a malformed digest or ip id, or `auth` from a caller with no authenticated id.
    InvalidAcl,
    /// A null id under `world`, `digest` or `ip`: ZooKeeper hits a null pointer there and
    /// answers MarshallingError (−5).
    NullId,
    /// More than [`ACL_ENTRIES_MAX`] entries (answer InvalidACL).
    TooManyEntries,
    /// The final list does not fit the output buffer.
    OutputFull,
}

/// ZooKeeper's `fixupACL` (section 9.5): validates the requested list, removes exact
/// duplicates, expands each `auth` entry into one entry per authenticated id of the caller
/// (its digest ids; neither `ip` nor `super` counts), and writes the list to store into `out`
/// in jute form. Perms are not validated.
///
/// As in ZooKeeper, duplicates are removed before expansion, so an expanded `auth` entry
/// may repeat an explicit one.
pub fn fixup<'a, 'o, I>(requested: I, ids: &[AuthId], out: &'o mut [u8]) -> Result<&'o [u8], FixupError>
where
    I: IntoIterator<Item = AclEntry<'a>>,
    I::IntoIter: Clone,
{
    let entries = requested.into_iter();
    let authenticated = || ids.iter().filter(|id| id.scheme == Scheme::Digest);
    // First pass: validate everything, so an invalid entry wins over a full buffer.
    let mut unique = 0usize;
    for (i, entry) in entries.clone().enumerate() {
        if i >= ACL_ENTRIES_MAX {
            return Err(FixupError::TooManyEntries);
        }
        if is_repeat(entries.clone(), i, &entry) {
            continue;
        }
        unique += 1;
        let scheme = entry.scheme.ok_or(FixupError::InvalidAcl)?;
        match Scheme::from_name(scheme) {
            Some(Scheme::Auth) => {
                if authenticated().next().is_none() {
                    return Err(FixupError::InvalidAcl);
                }
            }
            Some(Scheme::World) => {
                if entry.id.ok_or(FixupError::NullId)? != b"anyone" {
                    return Err(FixupError::InvalidAcl);
                }
            }
            Some(Scheme::Digest) => {
                if !digest_id_is_valid(entry.id.ok_or(FixupError::NullId)?) {
                    return Err(FixupError::InvalidAcl);
                }
            }
            Some(Scheme::Ip) => {
                if !ip_acl_is_valid(entry.id.ok_or(FixupError::NullId)?) {
                    return Err(FixupError::InvalidAcl);
                }
            }
            Some(Scheme::Super) | None => return Err(FixupError::InvalidAcl),
        }
    }
    if unique == 0 {
        return Err(FixupError::InvalidAcl);
    }
    // Second pass: write the list.
    let full = |_| FixupError::OutputFull;
    let mut w = Writer { buf: out, pos: 0 };
    w.i32(0).map_err(full)?;
    let mut count: i32 = 0;
    for (i, entry) in entries.clone().enumerate() {
        if is_repeat(entries.clone(), i, &entry) {
            continue;
        }
        if entry.scheme == Some(b"auth") {
            for id in authenticated() {
                w.entry(&AclEntry::new(entry.perms, b"digest", id.id())).map_err(full)?;
                count = count.checked_add(1).ok_or(FixupError::OutputFull)?;
            }
        } else {
            w.entry(&entry).map_err(full)?;
            count = count.checked_add(1).ok_or(FixupError::OutputFull)?;
        }
    }
    w.patch_i32(0, count).map_err(full)?;
    Ok(w.into_written())
}

/// True when an entry before position `i` equals `entry`.
fn is_repeat<'a>(entries: impl Iterator<Item = AclEntry<'a>>, i: usize, entry: &AclEntry<'a>) -> bool {
    entries.take(i).any(|earlier| earlier == *entry)
}

/// ZooKeeper's digest `isValid`: Java's `id.split(":")` gives exactly two parts. That split
/// drops trailing empty parts, so `a:b:` is valid and `a:` is not.
fn digest_id_is_valid(id: &[u8]) -> bool {
    let mut parts_kept = 0;
    for (n, part) in id.split(|&b| b == b':').enumerate() {
        if !part.is_empty() {
            parts_kept = n + 1;
        }
    }
    parts_kept == 2
}

/// ZooKeeper 3.8's ip `isValid`: a dotted IPv4 address, optionally `/bits` with bits 0..=32.
fn ip_acl_is_valid(id: &[u8]) -> bool {
    let (addr, bits) = split_cidr(id);
    let bits_ok = match bits {
        None => true,
        Some(b) => parse_prefix_bits(b).is_some(),
    };
    parse_ipv4(addr).is_some() && bits_ok
}

/// ZooKeeper 3.8's ip `matches`: the connection address `conn_addr` lies in the ACL's range.
/// IPv6 on either side never matches.
fn ip_matches(conn_addr: &[u8], acl_id: &[u8]) -> bool {
    let (addr, bits) = split_cidr(acl_id);
    let Some(acl_addr) = parse_ipv4(addr) else {
        return false;
    };
    let bits = match bits {
        None => 32,
        Some(b) => match parse_prefix_bits(b) {
            Some(b) => b,
            None => return false,
        },
    };
    let Some(remote) = parse_ipv4(conn_addr) else {
        return false;
    };
    let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
    u32::from_be_bytes(acl_addr) & mask == u32::from_be_bytes(remote) & mask
}

/// `a.b.c.d/bits` → (`a.b.c.d`, Some(`bits`)), split at the first `/`.
fn split_cidr(id: &[u8]) -> (&[u8], Option<&[u8]>) {
    match id.iter().position(|&b| b == b'/') {
        Some(at) => (id.get(..at).unwrap_or(&[]), id.get(at + 1..)),
        None => (id, None),
    }
}

fn parse_prefix_bits(s: &[u8]) -> Option<u32> {
    java_parse_int(s).and_then(|b| u32::try_from(b).ok()).filter(|&b| b <= 32)
}

/// Four dot-separated Java integers in 0..=255 (so `010` and `+1` are accepted, as there).
fn parse_ipv4(s: &[u8]) -> Option<[u8; 4]> {
    let mut parts = s.split(|&b| b == b'.');
    let mut out = [0u8; 4];
    for octet in out.iter_mut() {
        *octet = u8::try_from(java_parse_int(parts.next()?)?).ok()?;
    }
    match parts.next() {
        Some(_) => None,
        None => Some(out),
    }
}

/// Java's `Integer.parseInt` over ASCII: [`java_parse_long`] within `int` range.
fn java_parse_int(s: &[u8]) -> Option<i32> {
    java_parse_long(s).and_then(|v| i32::try_from(v).ok())
}

/// Java's `Long.parseLong` over ASCII: an optional sign, then at least one digit, no overflow.
/// (Java also takes non-ASCII Unicode digits; herd does not.)
pub(crate) fn java_parse_long(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulated negatively, as Java does, so i64::MIN parses.
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};
    use std::vec::Vec;

    const REMOTE: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));

    /// Digest ids computed independently with Python's hashlib + base64.
    const SUPER_SECRET: &[u8] = b"super:lK75jTNcA+U9vtVEw5vB51mj/w4=";
    const USER_PASS: &[u8] = b"user:smGaoVKd/cQkjm7b88GyorAUz20=";

    fn jute(entries: &[(i32, &[u8], &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(entries.len() as i32).to_be_bytes());
        for (perms, scheme, id) in entries {
            out.extend_from_slice(&perms.to_be_bytes());
            out.extend_from_slice(&(scheme.len() as i32).to_be_bytes());
            out.extend_from_slice(scheme);
            out.extend_from_slice(&(id.len() as i32).to_be_bytes());
            out.extend_from_slice(id);
        }
        out
    }

    fn entries(list: &[u8]) -> Entries {
        AclList::parse(list)
            .unwrap()
            .iter()
            .map(|e| (e.perms.0, e.scheme.unwrap().to_vec(), e.id.unwrap().to_vec()))
            .collect()
    }

    fn conn_with(extra: &[AuthId]) -> AuthIds<8> {
        let mut ids = AuthIds::<8>::new(REMOTE);
        for id in extra {
            ids.add(*id).unwrap();
        }
        ids
    }

    #[test]
    fn digest_matches_independent_vectors() {
        assert_eq!(digest(b"super:secret").unwrap().id(), SUPER_SECRET);
        assert_eq!(digest(b"user:pass").unwrap().id(), USER_PASS);
        // The user is split at the first ':', the hash covers everything.
        assert_eq!(digest(b"bob:b:c").unwrap().id(), b"bob:eGny0bF+s5VxTZATIOYEzyL69G8=");
        assert_eq!(digest(b"nocolon").unwrap().id(), b"nocolon:Ra+cHr2ZoHvBjtNArFGNGlVie4g=");
        assert_eq!(digest(b":").unwrap().id(), b":BaefBs8/Z/cm2uaNGKIpD2yaUMk=");
        assert_eq!(digest(b"x").unwrap().scheme(), Scheme::Digest);
    }

    #[test]
    fn digest_of_an_overlong_user_is_refused() {
        let long = [b'u'; AUTH_ID_BYTES_MAX];
        assert_eq!(digest(&long), Err(AuthError::IdTooLong));
        let fits = [b'u'; AUTH_ID_BYTES_MAX - 1 - DIGEST_B64_BYTES];
        assert_eq!(digest(&fits).unwrap().id().len(), AUTH_ID_BYTES_MAX);
    }

    #[test]
    fn ip_ids_are_spelled_like_java() {
        assert_eq!(AuthId::ip(REMOTE).id(), b"10.1.2.3");
        assert_eq!(AuthId::ip(IpAddr::V4(Ipv4Addr::new(255, 0, 100, 9))).id(), b"255.0.100.9");
        assert_eq!(AuthId::ip(IpAddr::V6(Ipv6Addr::LOCALHOST)).id(), b"0:0:0:0:0:0:0:1");
        let v6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0xff00, 0x42, 0x8329);
        assert_eq!(AuthId::ip(IpAddr::V6(v6)).id(), b"2001:db8:0:0:0:ff00:42:8329");
        let mapped = Ipv4Addr::new(192, 168, 0, 1).to_ipv6_mapped();
        assert_eq!(AuthId::ip(IpAddr::V6(mapped)).id(), b"192.168.0.1");
    }

    #[test]
    fn handle_auth_digest_ip_and_unknown() {
        let mut ids = AuthIds::<8>::new(REMOTE);
        assert_eq!(ids.as_slice(), &[AuthId::ip(REMOTE)]);
        let sup = Some(SUPER_SECRET);
        assert_eq!(ids.handle_auth(b"digest", b"user:pass", REMOTE, sup), Ok(AuthOutcome::Digest { superuser: false }));
        assert!(!ids.is_super());
        assert_eq!(ids.as_slice()[1].id(), USER_PASS);
        // Wrong password: still succeeds, with a different id.
        assert_eq!(
            ids.handle_auth(b"digest", b"super:wrong", REMOTE, sup),
            Ok(AuthOutcome::Digest { superuser: false })
        );
        assert!(!ids.is_super());
        assert_eq!(
            ids.handle_auth(b"digest", b"super:secret", REMOTE, sup),
            Ok(AuthOutcome::Digest { superuser: true })
        );
        assert!(ids.is_super());
        assert_eq!(ids.as_slice().len(), 5);
        // No super digest configured: the same credentials are a plain digest.
        let mut plain = AuthIds::<8>::new(REMOTE);
        assert_eq!(
            plain.handle_auth(b"digest", b"super:secret", REMOTE, None),
            Ok(AuthOutcome::Digest { superuser: false })
        );
        assert!(!plain.is_super());
        // ip re-adds the address: already held, nothing new.
        assert_eq!(plain.handle_auth(b"ip", b"", REMOTE, None), Ok(AuthOutcome::Ip));
        assert_eq!(plain.as_slice().len(), 2);
        for scheme in [&b"world"[..], b"auth", b"super", b"sasl", b"DIGEST", b""] {
            assert_eq!(plain.handle_auth(scheme, b"a:b", REMOTE, None), Err(AuthError::UnknownScheme));
        }
        assert_eq!(plain.as_slice().len(), 2);
    }

    #[test]
    fn auth_beyond_the_bound_fails_and_adds_nothing() {
        let mut ids = AuthIds::<3>::new(REMOTE);
        ids.handle_auth(b"digest", b"a:1", REMOTE, None).unwrap();
        // Needs two slots (super + digest) but one is left.
        assert_eq!(ids.handle_auth(b"digest", b"super:secret", REMOTE, Some(SUPER_SECRET)), Err(AuthError::TooManyIds));
        assert_eq!(ids.as_slice().len(), 2);
        assert!(!ids.is_super());
        ids.handle_auth(b"digest", b"b:2", REMOTE, None).unwrap();
        assert_eq!(ids.handle_auth(b"digest", b"c:3", REMOTE, None), Err(AuthError::TooManyIds));
        // Repeating a held id needs no room.
        assert_eq!(ids.handle_auth(b"digest", b"a:1", REMOTE, None), Ok(AuthOutcome::Digest { superuser: false }));
        let other = IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1));
        assert_eq!(ids.handle_auth(b"ip", b"", other, None), Err(AuthError::TooManyIds));
        assert_eq!(ids.as_slice().len(), 3);
    }

    #[test]
    fn who_am_i_lists_scheme_and_user() {
        let mut ids = AuthIds::<8>::new(REMOTE);
        ids.handle_auth(b"digest", b"super:secret", REMOTE, Some(SUPER_SECRET)).unwrap();
        let infos: Vec<_> = ids.client_infos().collect();
        assert_eq!(infos, [("ip", &b"10.1.2.3"[..]), ("super", &b""[..]), ("digest", &b"super"[..])]);
    }

    #[test]
    fn cidr_matching_table() {
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"10.1.2.3", b"10.0.0.0/8", true),
            (b"10.1.2.3", b"11.0.0.0/8", false),
            (b"10.1.2.3", b"10.1.0.0/16", true),
            (b"10.1.2.3", b"10.2.0.0/16", false),
            (b"10.1.2.3", b"10.1.2.0/23", true),
            (b"10.1.2.3", b"10.1.2.3", true),
            (b"10.1.2.3", b"10.1.2.4", false),
            (b"10.1.2.3", b"10.1.2.3/32", true),
            (b"10.1.2.3", b"10.1.2.2/32", false),
            (b"10.1.2.3", b"10.1.2.2/31", true),
            (b"10.1.2.3", b"0.0.0.0/0", true),
            (b"10.1.2.3", b"99.99.99.99/0", true),
            (b"10.1.2.3", b"10.0.0.0/33", false),
            (b"10.1.2.3", b"10.0.0.0/-1", false),
            (b"10.1.2.3", b"10.0.0.0/", false),
            (b"10.1.2.3", b"10.0.0.0/x", false),
            (b"10.1.2.3", b"10.0.0.0/8/8", false),
            (b"10.1.2.3", b"10.0.0/8", false),
            (b"10.1.2.3", b"10.0.0.0.0/8", false),
            (b"10.1.2.3", b"10.0.0.256/8", false),
            (b"10.1.2.3", b"::1", false),
            (b"10.1.2.3", b"", false),
            // Java integer parsing: signs and leading zeros pass.
            (b"10.1.2.3", b"010.+1.2.3/+32", true),
            (b"10.1.2.3", b"10.1.2.-0/-0", true),
            // An IPv6 connection never matches.
            (b"0:0:0:0:0:0:0:1", b"0.0.0.0/0", false),
        ];
        for (conn, acl, want) in cases {
            assert_eq!(ip_matches(conn, acl), *want, "{:?} vs {:?}", conn, acl);
        }
    }

    #[test]
    fn check_follows_section_9_3() {
        let anyone = jute(&[(1, b"world", b"anyone")]);
        let ip8 = jute(&[(31, b"ip", b"10.0.0.0/8")]);
        let dig = jute(&[(Perms::WRITE.0, b"digest", USER_PASS)]);
        let plain = conn_with(&[]);
        let user = conn_with(&[digest(b"user:pass").unwrap()]);
        let sup = conn_with(&[AuthId::superuser()]);

        assert!(check(&jute(&[]), Perms::ALL, plain.as_slice()));
        assert!(check(&(-1i32).to_be_bytes(), Perms::READ, plain.as_slice()));
        assert!(check(&anyone, Perms::READ, plain.as_slice()));
        assert!(!check(&anyone, Perms::WRITE, plain.as_slice()));
        assert!(check(&anyone, Perms::READ | Perms::ADMIN, plain.as_slice()));
        assert!(check(&ip8, Perms::DELETE, plain.as_slice()));
        let far = AuthIds::<8>::new(IpAddr::V4(Ipv4Addr::new(11, 0, 0, 1)));
        assert!(!check(&ip8, Perms::DELETE, far.as_slice()));
        assert!(check(&dig, Perms::WRITE, user.as_slice()));
        assert!(!check(&dig, Perms::READ, user.as_slice()));
        assert!(!check(&dig, Perms::WRITE, plain.as_slice()));
        assert!(check(&dig, Perms::READ, sup.as_slice()));
        // Scheme and id must both match exactly; a digest id is no ip.
        let wrong_case = jute(&[(31, b"Digest", USER_PASS), (31, b"world", b"Anyone")]);
        assert!(!check(&wrong_case, Perms::ALL, user.as_slice()));
        let ip_named_digest = jute(&[(31, b"digest", b"10.1.2.3")]);
        assert!(!check(&ip_named_digest, Perms::ALL, plain.as_slice()));
        // Entries left by no fixup (auth, super) match nothing.
        let odd = jute(&[(31, b"auth", b""), (31, b"super", b"")]);
        assert!(!check(&odd, Perms::ALL, user.as_slice()));
        // Perms beyond 31 are kept and only their bits count.
        assert!(check(&jute(&[(-1, b"world", b"anyone")]), Perms::ADMIN, plain.as_slice()));
    }

    #[test]
    fn check_denies_malformed_lists_without_panicking() {
        let good = jute(&[(31, b"world", b"anyone")]);
        let ids = conn_with(&[AuthId::superuser()]);
        for cut in 1..good.len() {
            assert!(!check(&good[..cut], Perms::READ, ids.as_slice()), "cut {cut}");
        }
        assert!(!check(&[], Perms::READ, ids.as_slice()));
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(!check(&trailing, Perms::READ, ids.as_slice()));
        assert!(!check(&(-2i32).to_be_bytes(), Perms::READ, ids.as_slice()));
        assert!(!check(&[0x7f, 0xff, 0xff, 0xff], Perms::READ, ids.as_slice()));
        let bad_len = [0, 0, 0, 1, 0, 0, 0, 31, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0];
        assert!(!check(&bad_len, Perms::READ, ids.as_slice()));
        // Null strings parse but match nothing.
        let nulls = [0, 0, 0, 1, 0, 0, 0, 31, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(!check(&nulls, Perms::READ, conn_with(&[]).as_slice()));
    }

    #[test]
    fn parse_prefix_returns_the_rest_and_known_lists_parse() {
        let mut bytes = jute(&[(31, b"world", b"anyone")]);
        assert_eq!(bytes, OPEN_ACL_UNSAFE);
        bytes.extend_from_slice(&[9, 9]);
        let (list, rest) = AclList::parse_prefix(&bytes).unwrap();
        assert_eq!(rest, &[9, 9]);
        assert_eq!(list.len(), 1);
        assert_eq!(list.as_bytes(), OPEN_ACL_UNSAFE);
        assert_eq!(AclList::parse(&bytes), Err(AclParseError::TrailingBytes));
        assert_eq!(entries(READ_ACL_UNSAFE), [(1, b"world".to_vec(), b"anyone".to_vec())]);
        let null = AclList::parse(&[0xff, 0xff, 0xff, 0xff]).unwrap();
        assert!(null.is_null() && null.is_empty() && null.iter().next().is_none());
        assert_eq!(AclList::parse(&(-2i32).to_be_bytes()), Err(AclParseError::BadCount));
        assert_eq!(AclList::parse(&[0, 0, 0, 2]), Err(AclParseError::Truncated));
    }

    #[test]
    fn get_acl_masks_digests_without_admin() {
        let stored = jute(&[
            (Perms::READ.0, b"digest", USER_PASS),
            (Perms::ADMIN.0, b"digest", b"boss:AAAA"),
            (Perms::READ.0, b"ip", b"10.0.0.0/8"),
            (Perms::READ.0, b"world", b"anyone"),
            (Perms::READ.0, b"digest", b"nocolon"),
        ]);
        let mut out = [0u8; 512];
        let reader = conn_with(&[digest(b"user:pass").unwrap()]);
        let masked = write_get_acl(&stored, reader.as_slice(), &mut out).unwrap();
        let masked_len = masked.len();
        assert_eq!(
            entries(masked),
            [
                (1, b"digest".to_vec(), b"user:x".to_vec()),
                (16, b"digest".to_vec(), b"boss:x".to_vec()),
                (1, b"ip".to_vec(), b"10.0.0.0/8".to_vec()),
                (1, b"world".to_vec(), b"anyone".to_vec()),
                (1, b"digest".to_vec(), b"nocolon".to_vec()),
            ]
        );
        let boss = conn_with(&[AuthId::new(Scheme::Digest, b"boss:AAAA").unwrap()]);
        assert_eq!(write_get_acl(&stored, boss.as_slice(), &mut out).unwrap(), &stored[..]);
        let sup = conn_with(&[AuthId::superuser()]);
        assert_eq!(write_get_acl(&stored, sup.as_slice(), &mut out).unwrap(), &stored[..]);
        // Too small an output buffer, at every size, is an error.
        for size in 0..masked_len {
            let mut small = std::vec![0u8; size];
            assert_eq!(write_get_acl(&stored, reader.as_slice(), &mut small), Err(GetAclError::OutputFull));
        }
        assert_eq!(
            write_get_acl(&stored[..5], reader.as_slice(), &mut out),
            Err(GetAclError::Malformed(AclParseError::Truncated))
        );
    }

    #[test]
    fn digest_mask_follows_java_replace_all() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"u:h", b"u:x"),
            (b"u:", b"u:x"),
            (b":h", b":x"),
            (b"u:a:b", b"u:x"),
            (b"u:a\nv:b", b"u:x\nv:x"),
            (b"u:a\r\nw", b"u:x\r\nw"),
            ("u:a\u{2028}v:b".as_bytes(), "u:x\u{2028}v:x".as_bytes()),
            (b"plain", b"plain"),
        ];
        for (id, want) in cases {
            let mut buf = [0u8; 64];
            let mut w = Writer { buf: &mut buf, pos: 0 };
            write_masked_digest(&mut w, id).unwrap();
            assert_eq!(w.into_written(), *want);
        }
    }

    type Entries = Vec<(i32, Vec<u8>, Vec<u8>)>;

    fn run_fixup(req: &[AclEntry<'_>], ids: &AuthIds<8>) -> Result<Entries, FixupError> {
        let mut out = [0u8; 1024];
        fixup(req.iter().copied(), ids.as_slice(), &mut out).map(entries)
    }

    #[test]
    fn fixup_table() {
        use FixupError::*;
        let e = AclEntry::new;
        let plain = conn_with(&[]);
        let user = conn_with(&[digest(b"user:pass").unwrap(), digest(b"b:2").unwrap()]);
        let sup_only = conn_with(&[AuthId::superuser()]);
        let world = (31, b"world".to_vec(), b"anyone".to_vec());
        let ok =
            |v: &[(i32, &[u8], &[u8])]| Ok(v.iter().map(|(p, s, i)| (*p, s.to_vec(), i.to_vec())).collect::<Vec<_>>());

        assert_eq!(run_fixup(&[], &plain), Err(InvalidAcl));
        assert_eq!(run_fixup(&[e(Perms::ALL, b"world", b"anyone")], &plain), Ok(std::vec![world.clone()]));
        assert_eq!(run_fixup(&[e(Perms::ALL, b"world", b"someone")], &plain), Err(InvalidAcl));
        assert_eq!(run_fixup(&[e(Perms::ALL, b"World", b"anyone")], &plain), Err(InvalidAcl));
        assert_eq!(run_fixup(&[e(Perms::ALL, b"super", b"")], &plain), Err(InvalidAcl));
        assert_eq!(run_fixup(&[e(Perms::ALL, b"sasl", b"bob")], &plain), Err(InvalidAcl));
        // auth expands to the digest ids; ip and super do not count.
        assert_eq!(run_fixup(&[e(Perms::ALL, b"auth", b"")], &plain), Err(InvalidAcl));
        assert_eq!(run_fixup(&[e(Perms::ALL, b"auth", b"")], &sup_only), Err(InvalidAcl));
        assert_eq!(
            run_fixup(&[e(Perms(5), b"auth", b"whatever")], &user),
            ok(&[(5, b"digest", USER_PASS), (5, b"digest", b"b:zdbHuLwinQKXeWY2Cch1CZ4zJUE=")])
        );
        // digest ids: Java's split(":") must give two parts.
        for (id, valid) in [
            (&b"u:h"[..], true),
            (b"u:h:", true),
            (b":h", true),
            (b"u:", false),
            (b"u", false),
            (b"u:h:i", false),
            (b"::h", false),
            (b":", false),
            (b"", false),
        ] {
            let got = run_fixup(&[e(Perms::READ, b"digest", id)], &plain);
            assert_eq!(got.is_ok(), valid, "{:?}", id);
        }
        // ip ids.
        for (id, valid) in [
            (&b"10.0.0.1"[..], true),
            (b"10.0.0.0/8", true),
            (b"0.0.0.0/0", true),
            (b"1.2.3.4/32", true),
            (b"1.2.3.4/33", false),
            (b"1.2.3.4/-1", false),
            (b"1.2.3.4/", false),
            (b"1.2.3", false),
            (b"1.2.3.4.5", false),
            (b"1.2.3.256", false),
            (b"::1", false),
            (b"host.example", false),
        ] {
            let got = run_fixup(&[e(Perms::READ, b"ip", id)], &plain);
            assert_eq!(got.is_ok(), valid, "{:?}", id);
        }
        // Exact duplicates go; perms are part of the identity and are not validated.
        assert_eq!(
            run_fixup(
                &[
                    e(Perms::ALL, b"world", b"anyone"),
                    e(Perms(0), b"world", b"anyone"),
                    e(Perms::ALL, b"world", b"anyone"),
                    e(Perms(-7), b"ip", b"1.2.3.4"),
                ],
                &plain
            ),
            ok(&[(31, b"world", b"anyone"), (0, b"world", b"anyone"), (-7, b"ip", b"1.2.3.4")])
        );
        // One bad entry spoils the list.
        assert_eq!(
            run_fixup(&[e(Perms::ALL, b"world", b"anyone"), e(Perms::ALL, b"ip", b"x")], &plain),
            Err(InvalidAcl)
        );
        // Null strings.
        let null_scheme = AclEntry { perms: Perms::ALL, scheme: None, id: Some(&b"anyone"[..]) };
        assert_eq!(run_fixup(&[null_scheme], &plain), Err(InvalidAcl));
        let null_id = AclEntry { perms: Perms::ALL, scheme: Some(&b"world"[..]), id: None };
        assert_eq!(run_fixup(&[null_id], &plain), Err(NullId));
        let null_auth = AclEntry { perms: Perms::ALL, scheme: Some(&b"auth"[..]), id: None };
        assert_eq!(run_fixup(&[null_auth], &user).unwrap().len(), 2);
    }

    #[test]
    fn fixup_duplicates_are_removed_before_auth_expansion() {
        let user = conn_with(&[digest(b"user:pass").unwrap()]);
        let got = run_fixup(
            &[AclEntry::new(Perms::ALL, b"digest", USER_PASS), AclEntry::new(Perms::ALL, b"auth", b"")],
            &user,
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], got[1]);
    }

    #[test]
    fn fixup_bounds_output_and_entry_count() {
        let plain = conn_with(&[]);
        let req = [AclEntry::new(Perms::ALL, b"world", b"anyone")];
        for size in 0..OPEN_ACL_UNSAFE.len() {
            let mut out = std::vec![0u8; size];
            assert_eq!(fixup(req.iter().copied(), plain.as_slice(), &mut out), Err(FixupError::OutputFull));
        }
        let mut out = std::vec![0u8; OPEN_ACL_UNSAFE.len()];
        assert_eq!(fixup(req.iter().copied(), plain.as_slice(), &mut out).unwrap(), OPEN_ACL_UNSAFE);
        // An invalid entry wins over a full buffer.
        let bad = [AclEntry::new(Perms::ALL, b"world", b"x")];
        assert_eq!(fixup(bad.iter().copied(), plain.as_slice(), &mut []), Err(FixupError::InvalidAcl));
        let many = std::vec![AclEntry::new(Perms::ALL, b"world", b"anyone"); ACL_ENTRIES_MAX + 1];
        let mut big = std::vec![0u8; 1 << 16];
        assert_eq!(fixup(many.iter().copied(), plain.as_slice(), &mut big), Err(FixupError::TooManyEntries));
        // Straight from a request's jute list.
        let list = AclList::parse(OPEN_ACL_UNSAFE).unwrap();
        assert_eq!(fixup(list, plain.as_slice(), &mut big).unwrap(), OPEN_ACL_UNSAFE);
        let null = AclList::parse(&[0xff, 0xff, 0xff, 0xff]).unwrap();
        assert_eq!(fixup(null, plain.as_slice(), &mut big), Err(FixupError::InvalidAcl));
    }

    #[test]
    fn java_integer_parsing() {
        assert_eq!(java_parse_int(b"0"), Some(0));
        assert_eq!(java_parse_int(b"+12"), Some(12));
        assert_eq!(java_parse_int(b"-12"), Some(-12));
        assert_eq!(java_parse_int(b"2147483647"), Some(i32::MAX));
        assert_eq!(java_parse_int(b"-2147483648"), Some(i32::MIN));
        assert_eq!(java_parse_int(b"2147483648"), None);
        assert_eq!(java_parse_int(b"99999999999999999999999"), None);
        for bad in [&b""[..], b"+", b"-", b"1a", b" 1", b"1 ", b"0x1"] {
            assert_eq!(java_parse_int(bad), None, "{:?}", bad);
        }
    }
}
