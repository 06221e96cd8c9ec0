//! Request and response records (reference section 4.2, `zookeeper.jute`), and `Stat`.
//!
//! Records holding a vector are generic over it: decoding gives a [`List`]; encoding takes
//! any [`Seq`] (the decoded list, a slice, or a [`SeqIter`](super::SeqIter) over a tree).
//! Paths, schemes and names must not be null (ZooKeeper fails such a request with
//! MarshallingError); data buffers may be.

use super::acl::{Acl, AclList};
use super::create_mode::CreateMode;
use super::error::{DecodeError, EncodeError};
use super::error_code::ErrorCode;
use super::list::{Element, List, Seq, StrList, WriteElement};
use super::watcher::{AddWatchMode, WatcherType};
use super::wire::{Reader, Writer};
use super::{Decode, Encode};
use crate::ids::Version;
use crate::stat::Stat;

/// Bytes of a `Stat` on the wire.
pub const STAT_LEN: usize = 68;

impl<'a> Decode<'a> for Stat {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        if r.remaining() < STAT_LEN {
            return Err(DecodeError::Truncated { field: "Stat", at: r.position() });
        }
        Ok(Stat {
            czxid: r.read_i64("Stat.czxid")?,
            mzxid: r.read_i64("Stat.mzxid")?,
            ctime: r.read_i64("Stat.ctime")?,
            mtime: r.read_i64("Stat.mtime")?,
            version: r.read_i32("Stat.version")?,
            cversion: r.read_i32("Stat.cversion")?,
            aversion: r.read_i32("Stat.aversion")?,
            ephemeral_owner: r.read_i64("Stat.ephemeralOwner")?,
            data_length: r.read_i32("Stat.dataLength")?,
            num_children: r.read_i32("Stat.numChildren")?,
            pzxid: r.read_i64("Stat.pzxid")?,
        })
    }
}

impl Encode for Stat {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        if w.remaining() < STAT_LEN {
            return Err(EncodeError::BufferFull);
        }
        w.write_i64(self.czxid)?;
        w.write_i64(self.mzxid)?;
        w.write_i64(self.ctime)?;
        w.write_i64(self.mtime)?;
        w.write_i32(self.version)?;
        w.write_i32(self.cversion)?;
        w.write_i32(self.aversion)?;
        w.write_i64(self.ephemeral_owner)?;
        w.write_i32(self.data_length)?;
        w.write_i32(self.num_children)?;
        w.write_i64(self.pzxid)
    }
}

/// `create` / `create2` / `createContainer` body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreateRequest<'a, A = AclList<'a>> {
    /// Path to create (before any sequential suffix).
    pub path: &'a [u8],
    /// Initial data; `None` is stored as null data.
    pub data: Option<&'a [u8]>,
    /// ACL of the new node.
    pub acl: A,
    /// Create flags ([`CreateMode::from_flag`]).
    pub flags: i32,
}

impl<A> CreateRequest<'_, A> {
    /// The create mode, or `None` for flags ZooKeeper answers with BadArguments.
    pub fn mode(&self) -> Option<CreateMode> {
        CreateMode::from_flag(self.flags)
    }
}

impl<'a> Decode<'a> for CreateRequest<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(CreateRequest {
            path: r.read_str("CreateRequest.path")?,
            data: r.read_buffer("CreateRequest.data")?,
            acl: List::read(r, "CreateRequest.acl")?,
            flags: r.read_i32("CreateRequest.flags")?,
        })
    }
}

impl<'x, A: Seq<Acl<'x>>> Encode for CreateRequest<'_, A> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_str(self.path)?;
        w.write_buffer(self.data)?;
        self.acl.write_seq(w)?;
        w.write_i32(self.flags)
    }
}

/// `createTTL` body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreateTtlRequest<'a, A = AclList<'a>> {
    /// Path to create.
    pub path: &'a [u8],
    /// Initial data.
    pub data: Option<&'a [u8]>,
    /// ACL of the new node.
    pub acl: A,
    /// Create flags (5 or 6 for a valid TTL create).
    pub flags: i32,
    /// Time to live in ms.
    pub ttl: i64,
}

impl<A> CreateTtlRequest<'_, A> {
    /// The create mode, or `None` for flags ZooKeeper answers with BadArguments.
    pub fn mode(&self) -> Option<CreateMode> {
        CreateMode::from_flag(self.flags)
    }
}

impl<'a> Decode<'a> for CreateTtlRequest<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(CreateTtlRequest {
            path: r.read_str("CreateTTLRequest.path")?,
            data: r.read_buffer("CreateTTLRequest.data")?,
            acl: List::read(r, "CreateTTLRequest.acl")?,
            flags: r.read_i32("CreateTTLRequest.flags")?,
            ttl: r.read_i64("CreateTTLRequest.ttl")?,
        })
    }
}

impl<'x, A: Seq<Acl<'x>>> Encode for CreateTtlRequest<'_, A> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_str(self.path)?;
        w.write_buffer(self.data)?;
        self.acl.write_seq(w)?;
        w.write_i32(self.flags)?;
        w.write_i64(self.ttl)
    }
}

/// A record that is one non-null path: GetACLRequest, SyncRequest/Response, CreateResponse,
/// GetAllChildrenNumberRequest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathRecord<'a> {
    /// The path.
    pub path: &'a [u8],
}

/// `getACL` body.
pub type GetAclRequest<'a> = PathRecord<'a>;
/// `sync` body.
pub type SyncRequest<'a> = PathRecord<'a>;
/// `sync` reply: the path echoed.
pub type SyncResponse<'a> = PathRecord<'a>;
/// `create` reply: the created path, with any sequential suffix.
pub type CreateResponse<'a> = PathRecord<'a>;
/// `getAllChildrenNumber` body.
pub type GetAllChildrenNumberRequest<'a> = PathRecord<'a>;

impl<'a> Decode<'a> for PathRecord<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(PathRecord { path: r.read_str("path")? })
    }
}

impl Encode for PathRecord<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_str(self.path)
    }
}

/// A path and a watch flag: the body of exists, getData, getChildren, getChildren2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathWatchRequest<'a> {
    /// The node.
    pub path: &'a [u8],
    /// Leave a one-shot watch.
    pub watch: bool,
}

/// `exists` body.
pub type ExistsRequest<'a> = PathWatchRequest<'a>;
/// `getData` body.
pub type GetDataRequest<'a> = PathWatchRequest<'a>;
/// `getChildren` body.
pub type GetChildrenRequest<'a> = PathWatchRequest<'a>;
/// `getChildren2` body.
pub type GetChildren2Request<'a> = PathWatchRequest<'a>;

impl<'a> Decode<'a> for PathWatchRequest<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(PathWatchRequest { path: r.read_str("path")?, watch: r.read_bool("watch")? })
    }
}

impl Encode for PathWatchRequest<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_str(self.path)?;
        w.write_bool(self.watch)
    }
}

/// A path and an expected version: the body of delete and of check (inside multi).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathVersionRequest<'a> {
    /// The node.
    pub path: &'a [u8],
    /// Expected data version, or [`Version::ANY`].
    pub version: Version,
}

/// `delete` body.
pub type DeleteRequest<'a> = PathVersionRequest<'a>;
/// `check` body (multi only).
pub type CheckVersionRequest<'a> = PathVersionRequest<'a>;

impl<'a> Decode<'a> for PathVersionRequest<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(PathVersionRequest { path: r.read_str("path")?, version: Version(r.read_i32("version")?) })
    }
}

impl Encode for PathVersionRequest<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_str(self.path)?;
        w.write_i32(self.version.0)
    }
}

/// `setData` body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetDataRequest<'a> {
    /// The node.
    pub path: &'a [u8],
    /// New data; `None` stores null.
    pub data: Option<&'a [u8]>,
    /// Expected data version, or [`Version::ANY`].
    pub version: Version,
}

impl<'a> Decode<'a> for SetDataRequest<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(SetDataRequest {
            path: r.read_str("SetDataRequest.path")?,
            data: r.read_buffer("SetDataRequest.data")?,
            version: Version(r.read_i32("SetDataRequest.version")?),
        })
    }
}

impl Encode for SetDataRequest<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_str(self.path)?;
        w.write_buffer(self.data)?;
        w.write_i32(self.version.0)
    }
}

/// `setACL` body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetAclRequest<'a, A = AclList<'a>> {
    /// The node.
    pub path: &'a [u8],
    /// The new ACL.
    pub acl: A,
    /// Expected ACL version (aversion), or [`Version::ANY`].
    pub version: Version,
}

impl<'a> Decode<'a> for SetAclRequest<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(SetAclRequest {
            path: r.read_str("SetACLRequest.path")?,
            acl: List::read(r, "SetACLRequest.acl")?,
            version: Version(r.read_i32("SetACLRequest.version")?),
        })
    }
}

impl<'x, A: Seq<Acl<'x>>> Encode for SetAclRequest<'_, A> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_str(self.path)?;
        self.acl.write_seq(w)?;
        w.write_i32(self.version.0)
    }
}

/// `setWatches` body (xid −8 after a reconnect).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetWatches<S> {
    /// The client's last seen zxid (wire long).
    pub relative_zxid: i64,
    /// Paths with a data watch.
    pub data_watches: S,
    /// Paths with an exists watch.
    pub exist_watches: S,
    /// Paths with a child watch.
    pub child_watches: S,
}

impl<'a> Decode<'a> for SetWatches<StrList<'a>> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(SetWatches {
            relative_zxid: r.read_i64("SetWatches.relativeZxid")?,
            data_watches: List::read(r, "SetWatches.dataWatches")?,
            exist_watches: List::read(r, "SetWatches.existWatches")?,
            child_watches: List::read(r, "SetWatches.childWatches")?,
        })
    }
}

impl<'x, S: Seq<&'x [u8]>> Encode for SetWatches<S> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_i64(self.relative_zxid)?;
        self.data_watches.write_seq(w)?;
        self.exist_watches.write_seq(w)?;
        self.child_watches.write_seq(w)
    }
}

/// `setWatches2` body: setWatches plus persistent watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetWatches2<S> {
    /// The client's last seen zxid (wire long).
    pub relative_zxid: i64,
    /// Paths with a data watch.
    pub data_watches: S,
    /// Paths with an exists watch.
    pub exist_watches: S,
    /// Paths with a child watch.
    pub child_watches: S,
    /// Paths with a persistent watch.
    pub persistent_watches: S,
    /// Paths with a persistent recursive watch.
    pub persistent_recursive_watches: S,
}

impl<'a> Decode<'a> for SetWatches2<StrList<'a>> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(SetWatches2 {
            relative_zxid: r.read_i64("SetWatches2.relativeZxid")?,
            data_watches: List::read(r, "SetWatches2.dataWatches")?,
            exist_watches: List::read(r, "SetWatches2.existWatches")?,
            child_watches: List::read(r, "SetWatches2.childWatches")?,
            persistent_watches: List::read(r, "SetWatches2.persistentWatches")?,
            persistent_recursive_watches: List::read(r, "SetWatches2.persistentRecursiveWatches")?,
        })
    }
}

impl<'x, S: Seq<&'x [u8]>> Encode for SetWatches2<S> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_i64(self.relative_zxid)?;
        self.data_watches.write_seq(w)?;
        self.exist_watches.write_seq(w)?;
        self.child_watches.write_seq(w)?;
        self.persistent_watches.write_seq(w)?;
        self.persistent_recursive_watches.write_seq(w)
    }
}

/// `addWatch` body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddWatchRequest<'a> {
    /// The watched path (need not exist).
    pub path: &'a [u8],
    /// Persistent or persistent-recursive; ZooKeeper answers an unknown mode with
    /// MarshallingError.
    pub mode: AddWatchMode,
}

impl<'a> Decode<'a> for AddWatchRequest<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(AddWatchRequest {
            path: r.read_str("AddWatchRequest.path")?,
            mode: AddWatchMode::from(r.read_i32("AddWatchRequest.mode")?),
        })
    }
}

impl Encode for AddWatchRequest<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_str(self.path)?;
        w.write_i32(self.mode.code())
    }
}

/// `checkWatches` / `removeWatches` body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchesRequest<'a> {
    /// The watched path.
    pub path: &'a [u8],
    /// Which table.
    pub watcher_type: WatcherType,
}

/// `checkWatches` body.
pub type CheckWatchesRequest<'a> = WatchesRequest<'a>;
/// `removeWatches` body.
pub type RemoveWatchesRequest<'a> = WatchesRequest<'a>;

impl<'a> Decode<'a> for WatchesRequest<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(WatchesRequest { path: r.read_str("path")?, watcher_type: WatcherType::from(r.read_i32("type")?) })
    }
}

impl Encode for WatchesRequest<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_str(self.path)?;
        w.write_i32(self.watcher_type.code())
    }
}

/// `auth` body (xid −4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthPacket<'a> {
    /// Clients send 0; ignored.
    pub auth_type: i32,
    /// Auth scheme (`digest`…).
    pub scheme: &'a [u8],
    /// Credentials (digest: `user:password`).
    pub auth: Option<&'a [u8]>,
}

impl<'a> Decode<'a> for AuthPacket<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(AuthPacket {
            auth_type: r.read_i32("AuthPacket.type")?,
            scheme: r.read_str("AuthPacket.scheme")?,
            auth: r.read_buffer("AuthPacket.auth")?,
        })
    }
}

impl Encode for AuthPacket<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_i32(self.auth_type)?;
        w.write_str(self.scheme)?;
        w.write_buffer(self.auth)
    }
}

/// `getEphemerals` body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetEphemeralsRequest<'a> {
    /// Plain string prefix; null, empty or `/` select all of the session's ephemerals.
    pub prefix_path: Option<&'a [u8]>,
}

impl<'a> Decode<'a> for GetEphemeralsRequest<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(GetEphemeralsRequest { prefix_path: r.read_ustring("GetEphemeralsRequest.prefixPath")? })
    }
}

impl Encode for GetEphemeralsRequest<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_ustring(self.prefix_path)
    }
}

/// `reconfig` body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReconfigRequest<'a> {
    /// Servers to add (incremental mode).
    pub joining_servers: Option<&'a [u8]>,
    /// Server ids to remove (incremental mode).
    pub leaving_servers: Option<&'a [u8]>,
    /// The whole new membership (non-incremental mode).
    pub new_members: Option<&'a [u8]>,
    /// Expected current config version, −1 for any.
    pub cur_config_id: i64,
}

impl<'a> Decode<'a> for ReconfigRequest<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(ReconfigRequest {
            joining_servers: r.read_ustring("ReconfigRequest.joiningServers")?,
            leaving_servers: r.read_ustring("ReconfigRequest.leavingServers")?,
            new_members: r.read_ustring("ReconfigRequest.newMembers")?,
            cur_config_id: r.read_i64("ReconfigRequest.curConfigId")?,
        })
    }
}

impl Encode for ReconfigRequest<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_ustring(self.joining_servers)?;
        w.write_ustring(self.leaving_servers)?;
        w.write_ustring(self.new_members)?;
        w.write_i64(self.cur_config_id)
    }
}

/// A SASL token: `GetSASLRequest` (opcode 102 body) and `SetSASLResponse`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaslToken<'a> {
    /// Opaque SASL bytes.
    pub token: Option<&'a [u8]>,
}

impl<'a> Decode<'a> for SaslToken<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(SaslToken { token: r.read_buffer("SASL.token")? })
    }
}

impl Encode for SaslToken<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_buffer(self.token)
    }
}

/// A reply that is one Stat: exists, setData, setACL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatResponse {
    /// The node's Stat.
    pub stat: Stat,
}

/// `exists` reply.
pub type ExistsResponse = StatResponse;
/// `setData` reply.
pub type SetDataResponse = StatResponse;
/// `setACL` reply.
pub type SetAclResponse = StatResponse;

impl<'a> Decode<'a> for StatResponse {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(StatResponse { stat: Stat::decode(r)? })
    }
}

impl Encode for StatResponse {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        self.stat.encode(w)
    }
}

/// `create2` / `createContainer` / `createTTL` reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Create2Response<'a> {
    /// The created path, with any sequential suffix.
    pub path: &'a [u8],
    /// The new node's Stat.
    pub stat: Stat,
}

impl<'a> Decode<'a> for Create2Response<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Create2Response { path: r.read_str("Create2Response.path")?, stat: Stat::decode(r)? })
    }
}

impl Encode for Create2Response<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_str(self.path)?;
        self.stat.encode(w)
    }
}

/// `getData` (and `reconfig`) reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetDataResponse<'a> {
    /// The data; `None` for null data.
    pub data: Option<&'a [u8]>,
    /// The node's Stat.
    pub stat: Stat,
}

impl<'a> Decode<'a> for GetDataResponse<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(GetDataResponse { data: r.read_buffer("GetDataResponse.data")?, stat: Stat::decode(r)? })
    }
}

impl Encode for GetDataResponse<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_buffer(self.data)?;
        self.stat.encode(w)
    }
}

/// `getACL` reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetAclResponse<A> {
    /// The ACL.
    pub acl: A,
    /// The node's Stat.
    pub stat: Stat,
}

impl<'a> Decode<'a> for GetAclResponse<AclList<'a>> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(GetAclResponse { acl: List::read(r, "GetACLResponse.acl")?, stat: Stat::decode(r)? })
    }
}

impl<'x, A: Seq<Acl<'x>>> Encode for GetAclResponse<A> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        self.acl.write_seq(w)?;
        self.stat.encode(w)
    }
}

/// `getChildren` reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetChildrenResponse<S> {
    /// Child names (not paths).
    pub children: S,
}

impl<'a> Decode<'a> for GetChildrenResponse<StrList<'a>> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(GetChildrenResponse { children: List::read(r, "GetChildrenResponse.children")? })
    }
}

impl<'x, S: Seq<&'x [u8]>> Encode for GetChildrenResponse<S> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        self.children.write_seq(w)
    }
}

/// `getChildren2` reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetChildren2Response<S> {
    /// Child names (not paths).
    pub children: S,
    /// The parent's Stat.
    pub stat: Stat,
}

impl<'a> Decode<'a> for GetChildren2Response<StrList<'a>> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(GetChildren2Response { children: List::read(r, "GetChildren2Response.children")?, stat: Stat::decode(r)? })
    }
}

impl<'x, S: Seq<&'x [u8]>> Encode for GetChildren2Response<S> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        self.children.write_seq(w)?;
        self.stat.encode(w)
    }
}

/// `getEphemerals` reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetEphemeralsResponse<S> {
    /// Full paths of the session's ephemerals.
    pub ephemerals: S,
}

impl<'a> Decode<'a> for GetEphemeralsResponse<StrList<'a>> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(GetEphemeralsResponse { ephemerals: List::read(r, "GetEphemeralsResponse.ephemerals")? })
    }
}

impl<'x, S: Seq<&'x [u8]>> Encode for GetEphemeralsResponse<S> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        self.ephemerals.write_seq(w)
    }
}

/// An int body: the `getAllChildrenNumber` reply (`totalNumber`) and the `addWatch` reply
/// (ErrorResponse{0}).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntResponse {
    /// The value.
    pub value: i32,
}

/// `getAllChildrenNumber` reply: the number of descendants.
pub type GetAllChildrenNumberResponse = IntResponse;

impl<'a> Decode<'a> for IntResponse {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(IntResponse { value: r.read_i32("int")? })
    }
}

impl Encode for IntResponse {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_i32(self.value)
    }
}

/// `ErrorResponse{int err}`: the `addWatch` reply body (err 0) and a failed multi result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorResponse {
    /// The code.
    pub err: ErrorCode,
}

impl<'a> Decode<'a> for ErrorResponse {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(ErrorResponse { err: ErrorCode::from(r.read_i32("ErrorResponse.err")?) })
    }
}

impl Encode for ErrorResponse {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_i32(self.err.code())
    }
}

/// One authenticated identity of a connection, as whoAmI reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientInfo<'a> {
    /// Scheme (`ip`, `digest`…).
    pub auth_scheme: &'a [u8],
    /// User name or other id (digest: the part before `:`).
    pub user: &'a [u8],
}

/// A decoded vector of ClientInfo.
pub type ClientInfoList<'a> = List<'a, ClientInfo<'a>>;

impl<'a> Element<'a> for ClientInfo<'a> {
    const MIN_LEN: usize = 8;
    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(ClientInfo { auth_scheme: r.read_str("ClientInfo.authScheme")?, user: r.read_str("ClientInfo.user")? })
    }
}

impl WriteElement for ClientInfo<'_> {
    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_str(self.auth_scheme)?;
        w.write_str(self.user)
    }
}

/// `whoAmI` reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WhoAmIResponse<C> {
    /// One entry per auth id of the connection.
    pub client_info: C,
}

impl<'a> Decode<'a> for WhoAmIResponse<ClientInfoList<'a>> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(WhoAmIResponse { client_info: List::read(r, "WhoAmIResponse.clientInfo")? })
    }
}

impl<'x, C: Seq<ClientInfo<'x>>> Encode for WhoAmIResponse<C> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        self.client_info.write_seq(w)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::jute::acl::OPEN_ACL_UNSAFE;
    use crate::jute::list::SeqIter;
    use crate::jute::testing::{decode_all, encode_vec, short_buffers_fail, truncations_fail};
    use std::vec::Vec;

    /// Checks a record both ways against fixed bytes, and that each shorter prefix fails.
    fn both_ways<'a, R>(rec: &R, bytes: &'a [u8])
    where
        R: Decode<'a> + Encode + PartialEq + core::fmt::Debug,
    {
        assert_eq!(encode_vec(rec), bytes, "encode");
        assert_eq!(decode_all::<R>(bytes).as_ref(), Ok(rec), "decode");
        truncations_fail::<R>(bytes);
        short_buffers_fail(rec, bytes.len());
    }

    pub(crate) const STAT: Stat = Stat {
        czxid: 1,
        mzxid: 2,
        ctime: 3,
        mtime: 4,
        version: 5,
        cversion: -1,
        aversion: 7,
        ephemeral_owner: 8,
        data_length: 9,
        num_children: 10,
        pzxid: 11,
    };

    #[rustfmt::skip]
    pub(crate) const STAT_BYTES: [u8; 68] = [
        0, 0, 0, 0, 0, 0, 0, 1,  0, 0, 0, 0, 0, 0, 0, 2,  0, 0, 0, 0, 0, 0, 0, 3,
        0, 0, 0, 0, 0, 0, 0, 4,  0, 0, 0, 5,  0xff, 0xff, 0xff, 0xff,  0, 0, 0, 7,
        0, 0, 0, 0, 0, 0, 0, 8,  0, 0, 0, 9,  0, 0, 0, 10,  0, 0, 0, 0, 0, 0, 0, 11,
    ];

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn stat_is_68_bytes() {
        both_ways(&STAT, &STAT_BYTES);
        assert_eq!(Stat::decode_from(&STAT_BYTES[..60]), Err(DecodeError::Truncated { field: "Stat", at: 0 }));
    }

    #[test]
    fn create_requests() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0, 0, 0, 2, b'/', b'a'], &[0, 0, 0, 1, b'x'], &[0, 0, 0, 1],
            &[0, 0, 0, 31, 0, 0, 0, 5], b"world", &[0, 0, 0, 6], b"anyone", &[0, 0, 0, 3],
        ]);
        let acl = AclList::read(&mut Reader::new(&bytes[11..]), "acl").unwrap();
        both_ways(&CreateRequest { path: b"/a", data: Some(b"x"), acl, flags: 3 }, &bytes);
        let from_slice = CreateRequest { path: b"/a", data: Some(b"x"), acl: &OPEN_ACL_UNSAFE[..], flags: 3 };
        assert_eq!(encode_vec(&from_slice), bytes);
        assert_eq!(from_slice.mode(), Some(CreateMode::EphemeralSequential));

        let ttl_bytes = cat(&[&bytes[..bytes.len() - 4], &[0, 0, 0, 5], &[0, 0, 0, 0, 0, 0, 0x03, 0xe8]]);
        both_ways(&CreateTtlRequest { path: b"/a", data: Some(b"x"), acl, flags: 5, ttl: 1000 }, &ttl_bytes);

        // Null data and a null ACL vector are kept as such.
        let null_bytes = [0, 0, 0, 2, b'/', b'a', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        let req = CreateRequest::decode_from(&null_bytes).unwrap();
        assert_eq!(req.data, None);
        assert!(req.acl.is_null());
        assert_eq!(encode_vec(&req), null_bytes);
    }

    #[test]
    fn path_records() {
        both_ways(&PathRecord { path: b"/zk" }, &[0, 0, 0, 3, b'/', b'z', b'k']);
        both_ways(&PathWatchRequest { path: b"/", watch: true }, &[0, 0, 0, 1, b'/', 1]);
        both_ways(
            &PathVersionRequest { path: b"/", version: Version::ANY },
            &[0, 0, 0, 1, b'/', 0xff, 0xff, 0xff, 0xff],
        );
        both_ways(
            &SetDataRequest { path: b"/", data: Some(b"ab"), version: Version(2) },
            &[0, 0, 0, 1, b'/', 0, 0, 0, 2, b'a', b'b', 0, 0, 0, 2],
        );
        both_ways(
            &AddWatchRequest { path: b"/", mode: AddWatchMode::PersistentRecursive },
            &[0, 0, 0, 1, b'/', 0, 0, 0, 1],
        );
        both_ways(&WatchesRequest { path: b"/", watcher_type: WatcherType::Any }, &[0, 0, 0, 1, b'/', 0, 0, 0, 3]);
        both_ways(&GetEphemeralsRequest { prefix_path: None }, &[0xff, 0xff, 0xff, 0xff]);
        both_ways(&SaslToken { token: Some(b"t") }, &[0, 0, 0, 1, b't']);
        assert_eq!(PathRecord::decode_from(&[0xff, 0xff, 0xff, 0xff]), Err(DecodeError::Null { field: "path", at: 0 }));
    }

    #[test]
    fn set_acl_and_get_acl() {
        let acl_bytes = cat(&[&[0, 0, 0, 1, 0, 0, 0, 31, 0, 0, 0, 5], b"world", &[0, 0, 0, 6], b"anyone"]);
        let acl = AclList::read(&mut Reader::new(&acl_bytes), "acl").unwrap();
        let bytes = cat(&[&[0, 0, 0, 1, b'/'], &acl_bytes, &[0, 0, 0, 4]]);
        both_ways(&SetAclRequest { path: b"/", acl, version: Version(4) }, &bytes);
        both_ways(&GetAclResponse { acl, stat: STAT }, &cat(&[&acl_bytes, &STAT_BYTES]));
    }

    #[test]
    fn set_watches() {
        let bytes = cat(&[
            &[0, 0, 0, 0, 0, 0, 0, 9],
            &[0, 0, 0, 1, 0, 0, 0, 2, b'/', b'a'],
            &[0, 0, 0, 0],
            &[0, 0, 0, 1, 0, 0, 0, 1, b'/'],
        ]);
        let rec = SetWatches::decode_from(&bytes).unwrap();
        assert_eq!(rec.data_watches.iter().collect::<Vec<_>>(), [&b"/a"[..]]);
        both_ways(&rec, &bytes);
        let two: [&[u8]; 1] = [b"/a"];
        let none: [&[u8]; 0] = [];
        let root: [&[u8]; 1] = [b"/"];
        let from_slices =
            SetWatches { relative_zxid: 9, data_watches: &two[..], exist_watches: &none[..], child_watches: &root[..] };
        assert_eq!(encode_vec(&from_slices), bytes);

        let bytes2 = cat(&[&bytes, &[0, 0, 0, 0], &[0, 0, 0, 1, 0, 0, 0, 1, b'/']]);
        let rec2 = SetWatches2::decode_from(&bytes2).unwrap();
        assert_eq!(rec2.persistent_recursive_watches.len(), 1);
        both_ways(&rec2, &bytes2);
    }

    #[test]
    fn auth_and_reconfig() {
        let bytes = cat(&[&[0, 0, 0, 0, 0, 0, 0, 6], b"digest", &[0, 0, 0, 3], b"u:p"]);
        both_ways(&AuthPacket { auth_type: 0, scheme: b"digest", auth: Some(b"u:p") }, &bytes);
        let bytes = cat(&[&[0, 0, 0, 1, b'j', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0], &[0xff; 8]]);
        both_ways(
            &ReconfigRequest {
                joining_servers: Some(b"j"),
                leaving_servers: None,
                new_members: Some(b""),
                cur_config_id: -1,
            },
            &bytes,
        );
    }

    #[test]
    fn responses() {
        both_ways(&StatResponse { stat: STAT }, &STAT_BYTES);
        both_ways(
            &Create2Response { path: b"/a0000000001", stat: STAT },
            &cat(&[&[0, 0, 0, 12], b"/a0000000001", &STAT_BYTES]),
        );
        both_ways(&GetDataResponse { data: None, stat: STAT }, &cat(&[&[0xff; 4], &STAT_BYTES]));
        both_ways(&IntResponse { value: 42 }, &[0, 0, 0, 42]);
        both_ways(&ErrorResponse { err: ErrorCode::Ok }, &[0, 0, 0, 0]);

        let kids = cat(&[&[0, 0, 0, 2, 0, 0, 0, 1, b'a', 0, 0, 0, 1, b'b']]);
        let rec = GetChildrenResponse::decode_from(&kids).unwrap();
        both_ways(&rec, &kids);
        let names: [&[u8]; 2] = [b"a", b"b"];
        assert_eq!(encode_vec(&GetChildrenResponse { children: SeqIter(names.iter().copied()) }), kids);
        let kids2 = cat(&[&kids, &STAT_BYTES]);
        let rec2 = GetChildren2Response::decode_from(&kids2).unwrap();
        assert_eq!(rec2.stat, STAT);
        both_ways(&rec2, &kids2);
        both_ways(&GetEphemeralsResponse::decode_from(&kids).unwrap(), &kids);

        let who = cat(&[&[0, 0, 0, 1, 0, 0, 0, 2], b"ip", &[0, 0, 0, 9], b"127.0.0.1"]);
        let rec = WhoAmIResponse::decode_from(&who).unwrap();
        let infos: Vec<_> = rec.client_info.iter().collect();
        assert_eq!(infos, [ClientInfo { auth_scheme: b"ip", user: b"127.0.0.1" }]);
        both_ways(&rec, &who);
        assert_eq!(encode_vec(&WhoAmIResponse { client_info: infos.as_slice() }), who);
    }
}
