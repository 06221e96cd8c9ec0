//! Durable storage for the std server: the txn log, snapshots and epoch files.
//!
//! Files in a data directory (the log and snapshot directories may be the same one):
//! - `log.<16 hex digits>`: a txn log segment, named by the zxid of its first record,
//!   append-only, group-committed ([`TxnLog`], [`LogWriter`]).
//! - `snapshot.<16 hex digits>`: a complete snapshot of the tree as of that zxid, written to
//!   `snapshot.<zxid>.tmp` first and renamed once fsynced ([`SnapshotWriter`]).
//! - `acceptedEpoch`, `currentEpoch`: decimal text, replaced atomically ([`write_u64_file_atomic`]).
//! - `log.truncate`: only while a log truncation is in progress ([`truncate_log_after`]).
//!
//! Every record is framed as `[u32 LE len][u32 LE crc32(zxid ++ payload)][u64 LE zxid][payload]`
//! (see `record.rs`). Payloads are opaque here; the core encodes them. Zxids are plain `u64`s,
//! and zxid 0 means "nothing": every logged record has a zxid above 0.
//!
//! Recovery is: [`latest_snapshot`], then [`TxnLog::open`] (which truncates a torn tail), then
//! [`replay`] of the records after the snapshot's zxid, then [`LogWriter::spawn`].
//! After a new snapshot, [`purge_snapshots`] returns the oldest snapshot it kept, and
//! [`purge_log`] with that zxid drops the segments no kept snapshot needs.
//!
//! A follower syncing from its leader: on TRUNC to zxid z, [`remove_snapshots_after`] then
//! [`truncate_log_after`]; on SNAP of zxid z (bytes built by the leader with
//! [`SnapshotBuffer`] or [`snapshot_file_bytes`]), [`remove_snapshots_after`],
//! [`truncate_log_after`], [`install_snapshot_bytes`], then [`truncate_log_all`]. With the log
//! writer stopped; in that order a crash at any point leaves a state recovery accepts.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

mod epoch;
mod record;
mod snapshot;
mod txnlog;
mod writer;

pub use epoch::{read_u64_file, write_u64_file_atomic, ACCEPTED_EPOCH_FILE, CURRENT_EPOCH_FILE};
pub use record::MAX_RECORD_BYTES;
pub use snapshot::{
    install_snapshot_bytes, latest_snapshot, purge_snapshots, remove_snapshots_after, snapshot_file_bytes, Snapshot,
    SnapshotBuffer, SnapshotRecords, SnapshotWriter, SNAPSHOT_PREFIX,
};
pub use txnlog::{
    purge_log, replay, truncate_log_after, truncate_log_all, LogRecovery, ReplaySummary, TruncateSummary, TxnLog,
    LOG_PREFIX, SEGMENT_BYTES, TRUNCATE_MARKER_FILE,
};
pub use writer::{LogWriter, LogWriterHandle, MAX_BATCH_BYTES};

/// Number of hex digits in a zxid file-name suffix (a full `u64`).
const ZXID_HEX_DIGITS: usize = 16;

/// `prefix` followed by the zxid as 16 lowercase hex digits, e.g. `log.0000000100000001`.
pub(crate) fn numbered_name(prefix: &str, zxid: u64) -> String {
    format!("{prefix}{zxid:016x}")
}

/// Parses `prefix` + exactly 16 hex digits; anything else (temp files, other files) is `None`.
pub(crate) fn parse_numbered_name(name: &str, prefix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?;
    if digits.len() != ZXID_HEX_DIGITS || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// The files in `dir` named `prefix<16 hex>`, sorted by their number; a missing `dir` is empty.
pub(crate) fn list_numbered(dir: &Path, prefix: &str) -> io::Result<Vec<(u64, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        if let Some(n) = name.to_str().and_then(|s| parse_numbered_name(s, prefix)) {
            found.push((n, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Makes creations, renames and removals of entries in `dir` durable.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An `InvalidData` error: the bytes on disk are not what herd wrote.
pub(crate) fn invalid_data(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
pub(crate) mod test_dir {
    //! A scratch directory per test, removed on drop.

    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    static NEXT: AtomicU64 = AtomicU64::new(0);

    /// A fresh empty directory under the system temp dir.
    pub struct TestDir(PathBuf);

    impl TestDir {
        /// Creates `herd-storage-<tag>-<pid>-<n>`.
        pub fn new(tag: &str) -> TestDir {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("herd-storage-{tag}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            TestDir(path)
        }

        /// The directory.
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_names_round_trip_and_reject_others() {
        assert_eq!(numbered_name("log.", 0x1_0000_0002), "log.0000000100000002");
        assert_eq!(parse_numbered_name("log.0000000100000002", "log."), Some(0x1_0000_0002));
        assert_eq!(parse_numbered_name("log.00000001000000AB", "log."), Some(0x1_0000_00ab));
        assert_eq!(parse_numbered_name("log.000000010000002", "log."), None);
        assert_eq!(parse_numbered_name("log.+000000100000002", "log."), None);
        assert_eq!(parse_numbered_name("snapshot.0000000000000001.tmp", "snapshot."), None);
        assert_eq!(parse_numbered_name("snapshot.0000000000000001", "log."), None);
    }

    #[test]
    fn list_numbered_sorts_and_skips_missing_dir() {
        let dir = test_dir::TestDir::new("list");
        for name in ["log.0000000000000010", "log.0000000000000002", "log.x", "other"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let found = list_numbered(dir.path(), "log.").unwrap();
        let numbers: Vec<u64> = found.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, vec![2, 0x10]);
        assert!(list_numbered(&dir.path().join("missing"), "log.").unwrap().is_empty());
    }
}
