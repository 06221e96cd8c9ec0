//! Snapshots: the whole tree as of one zxid, as a stream of framed records.
//!
//! File `snapshot.<16 hex zxid>`: a 20-byte header (`HERDSNP1`, format version u32 LE, zxid
//! u64 LE), records framed as in the log with the snapshot's zxid, then a trailer
//! `[u32 LE 0xFFFF_FFFF][u32 LE crc32(zxid ++ count)][u64 LE zxid][u64 LE record count]` and
//! the end of file. Only a file with a matching trailer is complete; it is written as
//! `snapshot.<zxid>.tmp`, fsynced, then renamed, so a crash leaves at worst a stray temp file.
//!
//! For a leader's SNAP sync, [`SnapshotBuffer`] (or [`snapshot_file_bytes`]) builds the same
//! bytes in memory, and the follower checks and stores them with [`install_snapshot_bytes`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::record::{
    checked_len, record_crc, BufferedPayloads, FrameHeader, HeaderRead, RecordReader, FORMAT_VERSION,
    FRAME_HEADER_BYTES, MAX_RECORD_BYTES,
};
use super::{fsync_dir, invalid_data, list_numbered, numbered_name, parse_numbered_name};

/// File-name prefix of snapshots.
pub const SNAPSHOT_PREFIX: &str = "snapshot.";

/// Suffix of a snapshot still being written.
const TEMP_SUFFIX: &str = ".tmp";

/// Magic at the start of every snapshot.
const SNAPSHOT_MAGIC: [u8; 8] = *b"HERDSNP1";

/// Magic, u32 format version, u64 zxid.
const SNAPSHOT_HEADER_BYTES: usize = 20;

/// Length field marking the trailer; never a valid record length.
const TRAILER_MARK: u32 = u32::MAX;

/// Buffer for writing and reading snapshots: they are large and sequential.
const IO_BUFFER_BYTES: usize = 256 * 1024;

const _: () = assert!(TRAILER_MARK as usize > MAX_RECORD_BYTES);

fn snapshot_header(zxid: u64) -> [u8; SNAPSHOT_HEADER_BYTES] {
    let mut h = [0u8; SNAPSHOT_HEADER_BYTES];
    h[..8].copy_from_slice(&SNAPSHOT_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..].copy_from_slice(&zxid.to_le_bytes());
    h
}

/// The frame header of one snapshot record; `InvalidInput` if it exceeds [`MAX_RECORD_BYTES`].
fn record_header(zxid: u64, payload: &[u8]) -> io::Result<[u8; FRAME_HEADER_BYTES]> {
    let len = checked_len(payload)?;
    Ok(FrameHeader { len, crc: record_crc(zxid, payload), zxid }.encode())
}

/// `snapshot.<zxid>.tmp` in `dir`: where a snapshot is written before it is renamed.
fn temp_path(dir: &Path, zxid: u64) -> PathBuf {
    dir.join(format!("{}{TEMP_SUFFIX}", numbered_name(SNAPSHOT_PREFIX, zxid)))
}

fn trailer(zxid: u64, count: u64) -> [u8; FRAME_HEADER_BYTES + 8] {
    let header = FrameHeader { len: TRAILER_MARK, crc: record_crc(zxid, &count.to_le_bytes()), zxid };
    let mut t = [0u8; FRAME_HEADER_BYTES + 8];
    t[..FRAME_HEADER_BYTES].copy_from_slice(&header.encode());
    t[FRAME_HEADER_BYTES..].copy_from_slice(&count.to_le_bytes());
    t
}

/// Writes one snapshot; nothing is visible under the final name until [`SnapshotWriter::finish`].
///
/// Dropping it unfinished removes the temp file.
pub struct SnapshotWriter {
    dir: PathBuf,
    zxid: u64,
    temp_path: PathBuf,
    out: Option<BufWriter<File>>,
    count: u64,
}

impl SnapshotWriter {
    /// Starts `snapshot.<zxid>.tmp` in `dir` (created if needed), replacing a stale one.
    pub fn create(dir: &Path, zxid: u64) -> io::Result<SnapshotWriter> {
        fs::create_dir_all(dir)?;
        let temp_path = temp_path(dir, zxid);
        let file = OpenOptions::new().write(true).create(true).truncate(true).open(&temp_path)?;
        let mut out = BufWriter::with_capacity(IO_BUFFER_BYTES, file);
        out.write_all(&snapshot_header(zxid))?;
        Ok(SnapshotWriter { dir: dir.to_path_buf(), zxid, temp_path, out: Some(out), count: 0 })
    }

    /// Appends one record; `InvalidInput` if it exceeds [`MAX_RECORD_BYTES`].
    pub fn write_record(&mut self, payload: &[u8]) -> io::Result<()> {
        let header = record_header(self.zxid, payload)?;
        let out = self.out.as_mut().ok_or_else(|| io::Error::other("snapshot already finished"))?;
        out.write_all(&header)?;
        out.write_all(payload)?;
        self.count += 1;
        Ok(())
    }

    /// Records written so far.
    pub fn record_count(&self) -> u64 {
        self.count
    }

    /// Writes the trailer, fsyncs, renames to `snapshot.<zxid>` and fsyncs the directory;
    /// returns the final path.
    pub fn finish(mut self) -> io::Result<PathBuf> {
        let mut out = self.out.take().ok_or_else(|| io::Error::other("snapshot already finished"))?;
        out.write_all(&trailer(self.zxid, self.count))?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        let path = self.dir.join(numbered_name(SNAPSHOT_PREFIX, self.zxid));
        fs::rename(&self.temp_path, &path)?;
        // Renamed: nothing left for Drop to remove.
        self.temp_path = PathBuf::new();
        fsync_dir(&self.dir)?;
        Ok(path)
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        if !self.temp_path.as_os_str().is_empty() {
            drop(self.out.take());
            let _ = fs::remove_file(&self.temp_path);
        }
    }
}

/// Builds a complete snapshot file in memory, byte for byte what [`SnapshotWriter`] writes
/// to disk: for a leader to send in a SNAP sync.
///
/// The whole snapshot is held in memory; its size is the caller's to bound.
pub struct SnapshotBuffer {
    zxid: u64,
    bytes: Vec<u8>,
    count: u64,
}

impl SnapshotBuffer {
    /// Starts a snapshot as of `zxid` (the header only so far).
    pub fn new(zxid: u64) -> SnapshotBuffer {
        SnapshotBuffer { zxid, bytes: snapshot_header(zxid).to_vec(), count: 0 }
    }

    /// Appends one record; `InvalidInput` if it exceeds [`MAX_RECORD_BYTES`], and then
    /// nothing is appended.
    pub fn write_record(&mut self, payload: &[u8]) -> io::Result<()> {
        let header = record_header(self.zxid, payload)?;
        self.bytes.reserve(header.len() + payload.len());
        self.bytes.extend_from_slice(&header);
        self.bytes.extend_from_slice(payload);
        self.count += 1;
        Ok(())
    }

    /// Records written so far.
    pub fn record_count(&self) -> u64 {
        self.count
    }

    /// Appends the trailer and returns the file's bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.extend_from_slice(&trailer(self.zxid, self.count));
        self.bytes
    }
}

/// The complete bytes of a snapshot file as of `zxid` holding `records` in order (header and
/// trailer included; see [`SnapshotBuffer`]); `InvalidInput` if a record exceeds
/// [`MAX_RECORD_BYTES`].
pub fn snapshot_file_bytes<I>(zxid: u64, records: I) -> io::Result<Vec<u8>>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let mut buffer = SnapshotBuffer::new(zxid);
    for record in records {
        buffer.write_record(record.as_ref())?;
    }
    Ok(buffer.finish())
}

/// Checks that `bytes` are a complete snapshot file as of `zxid` (header, every record's CRC,
/// the trailer and its count, nothing after it), then stores them durably as
/// `snapshot.<zxid>` in `dir` (temp file, fsync, rename, directory fsync), where
/// [`latest_snapshot`] finds them; returns the path.
///
/// Bad bytes are an `InvalidData` error and leave nothing behind. An existing snapshot of the
/// same zxid is replaced. Must not run while a [`SnapshotWriter`] for the same zxid writes into
/// `dir`: they share the temp file.
///
/// For a follower replacing its state in a SNAP sync, a crash at any point stays recoverable
/// if the caller runs, in this order: [`remove_snapshots_after`]`(snap_dir, zxid)`,
/// [`truncate_log_after`](super::truncate_log_after)`(log_dir, zxid)` (drops any txns of its
/// own above `zxid`, which the leader does not have), this function, then
/// [`truncate_log_all`](super::truncate_log_all)`(log_dir)` (the txns at or below `zxid` may
/// be from another history and must never be replayed on an older snapshot).
pub fn install_snapshot_bytes(dir: &Path, zxid: u64, bytes: &[u8]) -> io::Result<PathBuf> {
    let count = check_snapshot_bytes(zxid, bytes)?;
    fs::create_dir_all(dir)?;
    let temp = temp_path(dir, zxid);
    let path = dir.join(numbered_name(SNAPSHOT_PREFIX, zxid));
    let written = (|| {
        let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, &path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    fsync_dir(dir)?;
    ::log::info!("installed snapshot {} ({count} records, {} bytes)", path.display(), bytes.len());
    Ok(path)
}

/// Reads `bytes` as a whole snapshot file and checks it is one as of `zxid`; returns its
/// record count.
fn check_snapshot_bytes(zxid: u64, bytes: &[u8]) -> io::Result<u64> {
    let mut records = SnapshotRecords::from_bytes(bytes)?;
    if records.zxid != zxid {
        return Err(invalid_data(format!(
            "{}: snapshot is as of zxid {:#x}, expected {zxid:#x}",
            records.path.display(),
            records.zxid
        )));
    }
    while records.next_payload()?.is_some() {}
    Ok(records.count)
}

/// Deletes the snapshots in `dir` newer than `zxid` (and their temp files); returns how many
/// snapshots were deleted.
///
/// A follower told to truncate its history to `zxid` (TRUNC) runs this before
/// [`truncate_log_after`](super::truncate_log_after): recovery loads the newest snapshot,
/// so one newer than `zxid` would bring the dropped txns back. In that order a crash leaves
/// either the old history or a prefix of it. The snapshotter must not be running.
///
/// Recovery then starts from the newest snapshot left: if none is left at or below `zxid`
/// and the log no longer reaches back to the first txn (purged), the state at `zxid` cannot
/// be rebuilt from disk, and a full snapshot from the leader is needed instead.
pub fn remove_snapshots_after(dir: &Path, zxid: u64) -> io::Result<usize> {
    let mut removed = 0;
    let mut changed = false;
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let (snap_zxid, is_temp) = match name.strip_suffix(TEMP_SUFFIX) {
            Some(stem) => (parse_numbered_name(stem, SNAPSHOT_PREFIX), true),
            None => (parse_numbered_name(name, SNAPSHOT_PREFIX), false),
        };
        if snap_zxid.is_some_and(|z| z > zxid) {
            fs::remove_file(entry.path())?;
            changed = true;
            if !is_temp {
                removed += 1;
            }
        }
    }
    if changed {
        fsync_dir(dir)?;
    }
    Ok(removed)
}

/// A complete, validated snapshot on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The zxid the snapshot reflects: replay the log after it.
    pub zxid: u64,
    /// The file.
    pub path: PathBuf,
    /// Records it holds, from its trailer.
    pub record_count: u64,
}

impl Snapshot {
    /// Reads and validates the whole file: header, every record's CRC, the trailer.
    pub fn open(path: &Path) -> io::Result<Snapshot> {
        let mut records = SnapshotRecords::open(path)?;
        while records.next_payload()?.is_some() {}
        Ok(Snapshot { zxid: records.zxid, path: path.to_path_buf(), record_count: records.count })
    }

    /// Streams the records in order; each is checked again while read.
    pub fn records(&self) -> io::Result<SnapshotRecords> {
        let records = SnapshotRecords::open(&self.path)?;
        if records.zxid != self.zxid {
            return Err(invalid_data(format!("{}: snapshot changed since validation", self.path.display())));
        }
        Ok(records)
    }
}

/// A snapshot's records in order, each checked as it is read; after an `Err` it ends.
///
/// [`SnapshotRecords::next_payload`] hands out payloads in place, without a copy; the
/// `Iterator` impl copies each into its own `Vec`. Read from a file ([`Snapshot::records`])
/// or from received bytes ([`SnapshotRecords::from_bytes`]).
pub struct SnapshotRecords<R = File> {
    /// The file, or a label for bytes in memory; for error messages.
    path: PathBuf,
    reader: RecordReader<R>,
    zxid: u64,
    offset: u64,
    count: u64,
    done: bool,
}

/// The error for bad bytes at `offset` of `path`.
fn bad_at(path: &Path, offset: u64, what: impl std::fmt::Display) -> io::Error {
    invalid_data(format!("{}: at offset {offset}: {what}", path.display()))
}

impl SnapshotRecords<File> {
    fn open(path: &Path) -> io::Result<SnapshotRecords<File>> {
        SnapshotRecords::start(RecordReader::new(File::open(path)?, IO_BUFFER_BYTES), path)
    }
}

impl<'a> SnapshotRecords<&'a [u8]> {
    /// Reads a whole snapshot file held in memory (as [`SnapshotBuffer`] builds it), e.g. to
    /// restore what a leader sent without reading it back from disk. Checks the header now
    /// and each record and the trailer as they are read; the zxid is the header's.
    pub fn from_bytes(bytes: &'a [u8]) -> io::Result<SnapshotRecords<&'a [u8]>> {
        let reader = RecordReader::new(bytes, IO_BUFFER_BYTES.min(bytes.len()));
        SnapshotRecords::start(reader, Path::new("received snapshot"))
    }
}

impl<R: Read> SnapshotRecords<R> {
    /// Checks the header read through `reader`; `path` names the source in errors, and a
    /// `snapshot.<zxid>` file name must match the header's zxid.
    fn start(mut reader: RecordReader<R>, path: &Path) -> io::Result<SnapshotRecords<R>> {
        let mut head = [0u8; SNAPSHOT_HEADER_BYTES];
        let got = reader.read_full(&mut head)?;
        let zxid = u64::from_le_bytes([head[12], head[13], head[14], head[15], head[16], head[17], head[18], head[19]]);
        if got != SNAPSHOT_HEADER_BYTES || head != snapshot_header(zxid) {
            return Err(invalid_data(format!(
                "{}: bad snapshot header (want magic HERDSNP1, version {FORMAT_VERSION})",
                path.display()
            )));
        }
        let name = path.file_name().and_then(|n| n.to_str());
        if let Some(named) = name.and_then(|n| parse_numbered_name(n, SNAPSHOT_PREFIX)) {
            if named != zxid {
                return Err(invalid_data(format!(
                    "{}: header zxid {zxid:#x} does not match the file name",
                    path.display()
                )));
            }
        }
        Ok(SnapshotRecords {
            path: path.to_path_buf(),
            reader,
            zxid,
            offset: SNAPSHOT_HEADER_BYTES as u64,
            count: 0,
            done: false,
        })
    }

    /// The snapshot's zxid, from its header.
    pub fn zxid(&self) -> u64 {
        self.zxid
    }

    /// The next record's payload, checked; `None` once the trailer has been read and
    /// checked. After an `Err` it returns `None`.
    pub fn next_payload(&mut self) -> io::Result<Option<&[u8]>> {
        if self.done {
            return Ok(None);
        }
        // Set again below once a record is known good, so any error or the trailer ends it.
        self.done = true;
        let header = match self.reader.read_header()? {
            HeaderRead::Full(h) => h,
            HeaderRead::End | HeaderRead::Short(_) => {
                return Err(bad_at(&self.path, self.offset, "file ends before the trailer: incomplete snapshot"));
            }
        };
        if header.zxid != self.zxid {
            return Err(bad_at(
                &self.path,
                self.offset,
                format_args!("record zxid {:#x} is not the snapshot's", header.zxid),
            ));
        }
        if header.len == TRAILER_MARK {
            return self.read_trailer(&header).map(|()| None);
        }
        if header.len as usize > MAX_RECORD_BYTES {
            return Err(bad_at(
                &self.path,
                self.offset,
                format_args!("record length {} exceeds {MAX_RECORD_BYTES}", header.len),
            ));
        }
        let Ok(payload) = self.reader.read_payload(&header)? else {
            return Err(bad_at(&self.path, self.offset, "file ends inside a record: incomplete snapshot"));
        };
        if record_crc(header.zxid, payload) != header.crc {
            return Err(bad_at(&self.path, self.offset, "CRC mismatch"));
        }
        self.offset += header.frame_bytes();
        self.count += 1;
        self.done = false;
        Ok(Some(payload))
    }

    /// Payloads already buffered after the current one, unchecked: for read-ahead hints
    /// (see [`RecordReader::buffered_payloads`]), never for data.
    pub fn buffered_payloads(&self) -> BufferedPayloads<'_> {
        self.reader.buffered_payloads()
    }

    fn read_trailer(&mut self, header: &FrameHeader) -> io::Result<()> {
        let mut count = [0u8; 8];
        if self.reader.read_full(&mut count)? != count.len() {
            return Err(bad_at(&self.path, self.offset, "short trailer: incomplete snapshot"));
        }
        if record_crc(header.zxid, &count) != header.crc {
            return Err(bad_at(&self.path, self.offset, "trailer CRC mismatch"));
        }
        let count = u64::from_le_bytes(count);
        if count != self.count {
            return Err(bad_at(
                &self.path,
                self.offset,
                format_args!("trailer says {count} records, found {}", self.count),
            ));
        }
        let mut extra = [0u8; 1];
        if self.reader.read_full(&mut extra)? != 0 {
            return Err(bad_at(&self.path, self.offset, "bytes after the trailer"));
        }
        Ok(())
    }
}

impl<R: Read> Iterator for SnapshotRecords<R> {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<io::Result<Vec<u8>>> {
        self.next_payload().map(|p| p.map(<[u8]>::to_vec)).transpose()
    }
}

/// The newest complete, valid snapshot in `dir`, or `None`.
///
/// Every candidate is read in full. An invalid one (`InvalidData`) is logged with `warn!` and
/// the next older one is tried; other I/O errors are returned, since falling back past a
/// snapshot the disk cannot read should be an operator's decision.
pub fn latest_snapshot(dir: &Path) -> io::Result<Option<Snapshot>> {
    for (_, path) in list_numbered(dir, SNAPSHOT_PREFIX)?.iter().rev() {
        match Snapshot::open(path) {
            Ok(snapshot) => return Ok(Some(snapshot)),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                ::log::warn!("ignoring invalid snapshot {}: {e}", path.display());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Keeps the newest `keep` valid snapshots and deletes every snapshot older than them, plus
/// temp files of zxids below the newest kept; returns the zxid of the oldest kept snapshot
/// (the log is needed from there on: pass it to [`purge_log`](super::purge_log)), or `None`
/// when `dir` holds no valid snapshot, in which case nothing is deleted.
///
/// Invalid snapshots newer than the oldest kept one stay (they are already ignored on load).
pub fn purge_snapshots(dir: &Path, keep: usize) -> io::Result<Option<u64>> {
    if keep == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "must keep at least one snapshot"));
    }
    let snapshots = list_numbered(dir, SNAPSHOT_PREFIX)?;
    let mut valid = Vec::new();
    for (zxid, path) in snapshots.iter().rev() {
        if valid.len() == keep {
            break;
        }
        match Snapshot::open(path) {
            Ok(_) => valid.push(*zxid),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                ::log::warn!("not counting invalid snapshot {}: {e}", path.display());
            }
            Err(e) => return Err(e),
        }
    }
    let (Some(&oldest_kept), Some(&newest_kept)) = (valid.last(), valid.first()) else {
        return Ok(None);
    };
    let mut removed = false;
    for (zxid, path) in &snapshots {
        if *zxid < oldest_kept {
            fs::remove_file(path)?;
            removed = true;
        }
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let stale = name
            .to_str()
            .and_then(|n| n.strip_suffix(TEMP_SUFFIX))
            .and_then(|n| parse_numbered_name(n, SNAPSHOT_PREFIX))
            .is_some_and(|zxid| zxid < newest_kept);
        if stale {
            fs::remove_file(entry.path())?;
            removed = true;
        }
    }
    if removed {
        fsync_dir(dir)?;
    }
    Ok(Some(oldest_kept))
}

#[cfg(test)]
mod tests {
    use super::super::test_dir::TestDir;
    use super::*;
    use proptest::prelude::*;

    fn write_snapshot(dir: &Path, zxid: u64, records: &[Vec<u8>]) -> PathBuf {
        let mut w = SnapshotWriter::create(dir, zxid).unwrap();
        for r in records {
            w.write_record(r).unwrap();
        }
        assert_eq!(w.record_count(), records.len() as u64);
        w.finish().unwrap()
    }

    fn read_all(s: &Snapshot) -> Vec<Vec<u8>> {
        s.records().unwrap().collect::<io::Result<Vec<_>>>().unwrap()
    }

    /// An empty snapshot at zxid 0x1_0000_0002, byte for byte; pins the format.
    const EMPTY_SNAPSHOT: [u8; 44] = [
        b'H', b'E', b'R', b'D', b'S', b'N', b'P', b'1', // magic
        1, 0, 0, 0, // version
        2, 0, 0, 0, 1, 0, 0, 0, // zxid
        0xff, 0xff, 0xff, 0xff, // trailer mark
        0x59, 0x22, 0xbe, 0xf0, // crc32(zxid ++ count)
        2, 0, 0, 0, 1, 0, 0, 0, // zxid
        0, 0, 0, 0, 0, 0, 0, 0, // record count
    ];

    #[test]
    fn empty_snapshot_has_fixed_bytes() {
        let dir = TestDir::new("snap-fixed");
        let path = write_snapshot(dir.path(), 0x1_0000_0002, &[]);
        assert_eq!(path.file_name().unwrap(), "snapshot.0000000100000002");
        assert_eq!(fs::read(&path).unwrap(), EMPTY_SNAPSHOT);
        let s = latest_snapshot(dir.path()).unwrap().unwrap();
        assert_eq!((s.zxid, s.record_count), (0x1_0000_0002, 0));
        assert!(read_all(&s).is_empty());
    }

    #[test]
    fn round_trip_many_records() {
        let dir = TestDir::new("snap-rt");
        let records: Vec<Vec<u8>> = (0..5000u32).map(|i| i.to_le_bytes().repeat((i % 7) as usize)).collect();
        write_snapshot(dir.path(), 42, &records);
        let s = latest_snapshot(dir.path()).unwrap().unwrap();
        assert_eq!(s.zxid, 42);
        assert_eq!(s.record_count, 5000);
        assert_eq!(read_all(&s), records);
        // No temp file remains.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("snapshot.000000000000002a")]);
    }

    #[test]
    fn incomplete_or_corrupt_newer_snapshot_falls_back_to_older() {
        let dir = TestDir::new("snap-fallback");
        let old = vec![b"old".to_vec()];
        write_snapshot(dir.path(), 10, &old);

        // No trailer: as if the process died between the last record and finish.
        let p20 = write_snapshot(dir.path(), 20, &[b"new".to_vec(), b"new2".to_vec()]);
        let len = fs::metadata(&p20).unwrap().len();
        OpenOptions::new().write(true).open(&p20).unwrap().set_len(len - 24).unwrap();
        // A flipped payload byte.
        let p30 = write_snapshot(dir.path(), 30, &[b"newer".to_vec()]);
        let mut bytes = fs::read(&p30).unwrap();
        bytes[SNAPSHOT_HEADER_BYTES + FRAME_HEADER_BYTES] ^= 0x01;
        fs::write(&p30, bytes).unwrap();
        // Cut in the middle of a record.
        let p40 = write_snapshot(dir.path(), 40, &[vec![7u8; 100]]);
        OpenOptions::new().write(true).open(&p40).unwrap().set_len(70).unwrap();

        let s = latest_snapshot(dir.path()).unwrap().unwrap();
        assert_eq!(s.zxid, 10);
        assert_eq!(read_all(&s), old);
        assert_eq!(Snapshot::open(&p20).unwrap_err().kind(), io::ErrorKind::InvalidData);
        let err = Snapshot::open(&p30).unwrap_err().to_string();
        assert!(err.contains("offset 20") && err.contains("CRC"), "{err}");
    }

    #[test]
    fn wrong_count_extra_bytes_and_renamed_files_are_invalid() {
        let dir = TestDir::new("snap-invalid");
        let p = write_snapshot(dir.path(), 5, &[b"x".to_vec()]);
        let good = fs::read(&p).unwrap();

        let mut extra = good.clone();
        extra.push(0);
        fs::write(&p, &extra).unwrap();
        assert!(Snapshot::open(&p).unwrap_err().to_string().contains("after the trailer"));

        // Trailer claiming zero records, with a matching CRC.
        let mut wrong = good[..good.len() - 24].to_vec();
        wrong.extend_from_slice(&trailer(5, 0));
        fs::write(&p, &wrong).unwrap();
        assert!(Snapshot::open(&p).unwrap_err().to_string().contains("trailer says 0"));

        let renamed = dir.path().join("snapshot.0000000000000006");
        fs::write(&renamed, &good).unwrap();
        assert_eq!(Snapshot::open(&renamed).unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert_eq!(latest_snapshot(dir.path()).unwrap(), None);
    }

    #[test]
    fn dropped_writer_leaves_nothing_and_oversized_record_is_refused() {
        let dir = TestDir::new("snap-drop");
        {
            let mut w = SnapshotWriter::create(dir.path(), 9).unwrap();
            w.write_record(b"partial").unwrap();
            let big = vec![0u8; MAX_RECORD_BYTES + 1];
            assert_eq!(w.write_record(&big).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        assert_eq!(latest_snapshot(dir.path()).unwrap(), None);
        assert_eq!(latest_snapshot(&dir.path().join("missing")).unwrap(), None);
    }

    #[test]
    fn purge_keeps_newest_valid_snapshots() {
        let dir = TestDir::new("snap-purge");
        for zxid in [10, 20, 30, 40] {
            write_snapshot(dir.path(), zxid, &[zxid.to_le_bytes().to_vec()]);
        }
        // A stale temp file from an older attempt and an invalid newest snapshot.
        fs::write(dir.path().join("snapshot.0000000000000019.tmp"), b"junk").unwrap();
        fs::write(dir.path().join("snapshot.0000000000000032"), b"junk").unwrap();

        assert_eq!(purge_snapshots(dir.path(), 2).unwrap(), Some(30));
        let mut left: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, ["snapshot.000000000000001e", "snapshot.0000000000000028", "snapshot.0000000000000032"]);
        assert_eq!(latest_snapshot(dir.path()).unwrap().unwrap().zxid, 40);
        assert_eq!(purge_snapshots(dir.path(), 0).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        let empty = TestDir::new("snap-purge-empty");
        assert_eq!(purge_snapshots(empty.path(), 1).unwrap(), None);
    }

    fn sample_records() -> Vec<Vec<u8>> {
        (0..50u32).map(|i| format!("/node{i}").into_bytes().repeat((i % 5) as usize)).collect()
    }

    fn dir_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    #[test]
    fn in_memory_bytes_are_the_file_bytes() {
        let dir = TestDir::new("snap-bytes");
        let records = sample_records();
        let path = write_snapshot(dir.path(), 0x3_0000_0007, &records);
        let bytes = snapshot_file_bytes(0x3_0000_0007, &records).unwrap();
        assert_eq!(bytes, fs::read(&path).unwrap());
        let mut buffer = SnapshotBuffer::new(0x3_0000_0007);
        for r in &records {
            buffer.write_record(r).unwrap();
        }
        assert_eq!(buffer.record_count(), 50);
        assert_eq!(buffer.finish(), bytes);
        assert_eq!(snapshot_file_bytes(0x1_0000_0002, std::iter::empty::<&[u8]>()).unwrap(), EMPTY_SNAPSHOT);

        // Read straight from memory, as from the file.
        let mut from_memory = SnapshotRecords::from_bytes(&bytes).unwrap();
        assert_eq!(from_memory.zxid(), 0x3_0000_0007);
        let mut got = Vec::new();
        while let Some(p) = from_memory.next_payload().unwrap() {
            got.push(p.to_vec());
        }
        assert_eq!(got, records);
    }

    #[test]
    fn oversized_record_is_refused_and_leaves_the_buffer_valid() {
        let mut buffer = SnapshotBuffer::new(4);
        buffer.write_record(b"a").unwrap();
        let big = vec![0u8; MAX_RECORD_BYTES + 1];
        assert_eq!(buffer.write_record(&big).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(buffer.record_count(), 1);
        let bytes = buffer.finish();
        assert_eq!(bytes, snapshot_file_bytes(4, [b"a"]).unwrap());
        let err = snapshot_file_bytes(4, [&b"a"[..], &big[..]]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn installed_bytes_become_the_latest_snapshot() {
        let dir = TestDir::new("snap-install");
        write_snapshot(dir.path(), 10, &[b"old".to_vec()]);
        let records = sample_records();
        let bytes = snapshot_file_bytes(0x2_0000_0005, &records).unwrap();
        let path = install_snapshot_bytes(dir.path(), 0x2_0000_0005, &bytes).unwrap();
        assert_eq!(path, dir.path().join("snapshot.0000000200000005"));
        assert_eq!(fs::read(&path).unwrap(), bytes);
        assert_eq!(dir_names(dir.path()), ["snapshot.000000000000000a", "snapshot.0000000200000005"], "no temp left");
        let s = latest_snapshot(dir.path()).unwrap().unwrap();
        assert_eq!((s.zxid, s.record_count, &s.path), (0x2_0000_0005, 50, &path));
        assert_eq!(read_all(&s), records);

        // The same zxid again replaces the file; a missing directory is created.
        let other = snapshot_file_bytes(0x2_0000_0005, [b"x"]).unwrap();
        install_snapshot_bytes(dir.path(), 0x2_0000_0005, &other).unwrap();
        assert_eq!(read_all(&latest_snapshot(dir.path()).unwrap().unwrap()), [b"x".to_vec()]);
        let nested = dir.path().join("a/b");
        install_snapshot_bytes(&nested, 3, &snapshot_file_bytes(3, [b"y"]).unwrap()).unwrap();
        assert_eq!(latest_snapshot(&nested).unwrap().unwrap().zxid, 3);
    }

    #[test]
    fn bad_bytes_are_refused_and_leave_nothing_behind() {
        let good = snapshot_file_bytes(7, [&b"alpha"[..], b"", b"beta"]).unwrap();
        let dir = TestDir::new("snap-install-bad");
        write_snapshot(dir.path(), 5, &[b"kept".to_vec()]);
        let before = dir_names(dir.path());
        let refused = |bytes: &[u8], zxid: u64, what: &str| {
            let err = install_snapshot_bytes(dir.path(), zxid, bytes).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{what}");
            assert_eq!(dir_names(dir.path()), before, "{what}");
            err.to_string()
        };
        // Every truncation, including a missing trailer.
        for len in 0..good.len() {
            refused(&good[..len], 7, &format!("first {len} bytes"));
        }
        // Every byte changed.
        for i in 0..good.len() {
            for flip in [0x01u8, 0x80] {
                let mut bad = good.clone();
                bad[i] ^= flip;
                refused(&bad, 7, &format!("byte {i} ^ {flip:#x}"));
            }
        }
        let mut extra = good.clone();
        extra.push(0);
        assert!(refused(&extra, 7, "extra byte").contains("after the trailer"));
        let msg = refused(&good, 8, "other zxid");
        assert!(msg.contains("received snapshot") && msg.contains("expected 0x8"), "{msg}");
        // A trailer counting one record too few, with a matching CRC.
        let mut miscounted = good[..good.len() - 24].to_vec();
        miscounted.extend_from_slice(&trailer(7, 2));
        assert!(refused(&miscounted, 7, "count").contains("trailer says 2"));

        assert_eq!(latest_snapshot(dir.path()).unwrap().unwrap().zxid, 5);
        let missing = dir.path().join("missing");
        assert!(install_snapshot_bytes(&missing, 7, b"junk").is_err());
        assert!(!missing.exists(), "no directory made for bad bytes");
    }

    #[test]
    fn a_crash_before_the_rename_leaves_only_an_ignored_temp_file() {
        let dir = TestDir::new("snap-install-crash");
        write_snapshot(dir.path(), 5, &[b"kept".to_vec()]);
        // Complete bytes, fsynced under the temp name, never renamed.
        fs::write(temp_path(dir.path(), 9), snapshot_file_bytes(9, [b"new"]).unwrap()).unwrap();
        assert_eq!(latest_snapshot(dir.path()).unwrap().unwrap().zxid, 5);
        // Installing again overwrites the stray temp file and renames it.
        install_snapshot_bytes(dir.path(), 9, &snapshot_file_bytes(9, [b"new"]).unwrap()).unwrap();
        assert_eq!(dir_names(dir.path()), ["snapshot.0000000000000005", "snapshot.0000000000000009"]);
        assert_eq!(latest_snapshot(dir.path()).unwrap().unwrap().zxid, 9);
    }

    #[test]
    fn remove_snapshots_after_keeps_those_at_or_below() {
        let dir = TestDir::new("snap-remove-after");
        for zxid in [0x10, 0x20, 0x30, 0x40] {
            write_snapshot(dir.path(), zxid, &[b"r".to_vec()]);
        }
        for name in ["snapshot.0000000000000025.tmp", "snapshot.0000000000000005.tmp", "log.0000000000000031", "other"]
        {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        assert_eq!(remove_snapshots_after(dir.path(), 0x20).unwrap(), 2);
        assert_eq!(
            dir_names(dir.path()),
            [
                "log.0000000000000031",
                "other",
                "snapshot.0000000000000005.tmp",
                "snapshot.0000000000000010",
                "snapshot.0000000000000020"
            ]
        );
        assert_eq!(latest_snapshot(dir.path()).unwrap().unwrap().zxid, 0x20);
        assert_eq!(remove_snapshots_after(dir.path(), 0x20).unwrap(), 0);
        assert_eq!(remove_snapshots_after(dir.path(), 0).unwrap(), 2);
        assert_eq!(latest_snapshot(dir.path()).unwrap(), None);
        assert_eq!(remove_snapshots_after(&dir.path().join("missing"), 0).unwrap(), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400), with_header in any::<bool>()) {
            let dir = TestDir::new("snap-prop");
            let mut bytes = if with_header { snapshot_header(7).to_vec() } else { Vec::new() };
            bytes.extend_from_slice(&body);
            fs::write(dir.path().join("snapshot.0000000000000007"), &bytes).unwrap();
            if let Ok(Some(s)) = latest_snapshot(dir.path()) {
                let mut n = 0u64;
                for record in s.records().unwrap() {
                    prop_assert!(record.is_ok());
                    n += 1;
                }
                prop_assert_eq!(n, s.record_count);
            }
        }

        #[test]
        fn install_accepts_only_complete_snapshots(body in proptest::collection::vec(any::<u8>(), 0..200), records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..4)) {
            let dir = TestDir::new("snap-install-prop");
            let mut bytes = snapshot_header(7).to_vec();
            bytes.extend_from_slice(&body);
            if install_snapshot_bytes(dir.path(), 7, &bytes).is_err() {
                prop_assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
            } else {
                prop_assert_eq!(latest_snapshot(dir.path()).unwrap().map(|s| s.zxid), Some(7));
            }
            let good = snapshot_file_bytes(7, &records).unwrap();
            let path = install_snapshot_bytes(dir.path(), 7, &good).unwrap();
            let s = Snapshot::open(&path).unwrap();
            prop_assert_eq!(read_all(&s), records);
        }

        #[test]
        fn any_single_byte_flip_is_detected(records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..8), pos in any::<prop::sample::Index>(), flip in 1u8..) {
            let dir = TestDir::new("snap-flip");
            let p = write_snapshot(dir.path(), 3, &records);
            let mut bytes = fs::read(&p).unwrap();
            let i = pos.index(bytes.len());
            bytes[i] ^= flip;
            fs::write(&p, &bytes).unwrap();
            prop_assert_eq!(latest_snapshot(dir.path()).unwrap(), None);
        }
    }
}
