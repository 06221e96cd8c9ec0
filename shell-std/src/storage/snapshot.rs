//! Snapshots: the whole tree as of one zxid, as a stream of framed records.
//!
//! File `snapshot.<16 hex zxid>`: a 20-byte header (`HERDSNP1`, format version u32 LE, zxid
//! u64 LE), records framed as in the log with the snapshot's zxid, then a trailer
//! `[u32 LE 0xFFFF_FFFF][u32 LE crc32(zxid ++ count)][u64 LE zxid][u64 LE record count]` and
//! the end of file. Only a file with a matching trailer is complete; it is written as
//! `snapshot.<zxid>.tmp`, fsynced, then renamed, so a crash leaves at worst a stray temp file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
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
        let temp_path = dir.join(format!("{}{TEMP_SUFFIX}", numbered_name(SNAPSHOT_PREFIX, zxid)));
        let file = OpenOptions::new().write(true).create(true).truncate(true).open(&temp_path)?;
        let mut out = BufWriter::with_capacity(IO_BUFFER_BYTES, file);
        out.write_all(&snapshot_header(zxid))?;
        Ok(SnapshotWriter { dir: dir.to_path_buf(), zxid, temp_path, out: Some(out), count: 0 })
    }

    /// Appends one record; `InvalidInput` if it exceeds [`MAX_RECORD_BYTES`].
    pub fn write_record(&mut self, payload: &[u8]) -> io::Result<()> {
        let len = checked_len(payload)?;
        let out = self.out.as_mut().ok_or_else(|| io::Error::other("snapshot already finished"))?;
        let header = FrameHeader { len, crc: record_crc(self.zxid, payload), zxid: self.zxid };
        out.write_all(&header.encode())?;
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
/// `Iterator` impl copies each into its own `Vec`.
pub struct SnapshotRecords {
    path: PathBuf,
    reader: RecordReader<File>,
    zxid: u64,
    offset: u64,
    count: u64,
    done: bool,
}

/// The error for bad bytes at `offset` of `path`.
fn bad_at(path: &Path, offset: u64, what: impl std::fmt::Display) -> io::Error {
    invalid_data(format!("{}: at offset {offset}: {what}", path.display()))
}

impl SnapshotRecords {
    fn open(path: &Path) -> io::Result<SnapshotRecords> {
        let mut reader = RecordReader::new(File::open(path)?, IO_BUFFER_BYTES);
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

impl Iterator for SnapshotRecords {
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
