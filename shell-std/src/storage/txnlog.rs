//! The txn log: append-only segment files of framed records, group-committed.
//!
//! A segment is `log.<16 hex zxid of its first record>`: a 12-byte header (`HERDLOG1` and the
//! format version, u32 LE) and then records. Zxids increase strictly across the whole log, and
//! every segment holds at least one record, so a segment's name bounds every zxid in the
//! segment before it; replay and purge rely on that without reading those segments.
//!
//! Recovery tolerates exactly one kind of damage: a torn tail, i.e. the last record of the
//! last segment cut short or never written (zero-filled). Anything else is `InvalidData`
//! naming the file and offset, because dropping a record that was acknowledged as durable
//! would silently break ZooKeeper's guarantees.
//!
//! Records are dropped on purpose only by [`truncate_log_after`] (a learner's TRUNC, or every
//! record after a SNAP), which notes the cut in [`TRUNCATE_MARKER_FILE`] first so that an
//! interrupted truncation is finished by the next [`TxnLog::open`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::epoch::{read_u64_file, write_u64_file_atomic};
use super::record::{
    checked_len, encode_record, valid_record_at, BadRecord, Frame, RecordReader, FORMAT_VERSION, FRAME_HEADER_BYTES,
    MAX_RECORD_BYTES,
};
use super::{fsync_dir, invalid_data, list_numbered, numbered_name};

/// File-name prefix of log segments.
pub const LOG_PREFIX: &str = "log.";

/// A segment rolls once it reaches this size: large enough that a busy server rolls rarely,
/// small enough that purging after a snapshot frees space promptly (ZooKeeper preallocates
/// 64 MiB log files for the same reason).
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// File in the log directory naming a truncation in progress: the decimal zxid of the last
/// record to keep. It is in place (atomically, durably) before any segment is touched and
/// removed once the truncation is durable, and [`TxnLog::open`] finishes a truncation it
/// finds, so after a crash the log holds either its old records or the truncated ones.
/// Its name is no segment name (those end in 16 hex digits).
pub const TRUNCATE_MARKER_FILE: &str = "log.truncate";

/// Magic at the start of every segment.
const LOG_MAGIC: [u8; 8] = *b"HERDLOG1";

/// Magic plus the u32 format version.
const LOG_HEADER_BYTES: usize = 12;

/// Read buffer for scanning and replaying segments.
const READ_BUFFER_BYTES: usize = 256 * 1024;

/// Chunk size when checking that the bytes after a torn record are all zero.
const ZERO_CHECK_CHUNK_BYTES: usize = 64 * 1024;

// A segment must be able to hold a maximal record after its header.
const _: () = assert!(SEGMENT_BYTES > (LOG_HEADER_BYTES + FRAME_HEADER_BYTES + MAX_RECORD_BYTES) as u64);

fn log_header() -> [u8; LOG_HEADER_BYTES] {
    let mut h = [0u8; LOG_HEADER_BYTES];
    h[..8].copy_from_slice(&LOG_MAGIC);
    h[8..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h
}

/// What [`TxnLog::open`] found on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogRecovery {
    /// Zxid of the first record in the log, 0 if the log is empty.
    pub first_zxid: u64,
    /// Zxid of the last valid record, 0 if the log is empty.
    pub last_zxid: u64,
    /// Valid records across all segments.
    pub records: u64,
    /// Segments left after recovery.
    pub segments: usize,
    /// Bytes of torn tail removed (truncated, or whole torn segments deleted).
    pub truncated_bytes: u64,
}

/// What [`replay`] delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Records passed to the callback.
    pub records: u64,
    /// Zxid of the first record passed, 0 if none.
    pub first_zxid: u64,
    /// Zxid of the last record passed, 0 if none.
    pub last_zxid: u64,
}

/// What [`truncate_log_after`] dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TruncateSummary {
    /// Valid records dropped (every one with a zxid above the cut).
    pub records_dropped: u64,
    /// Segments deleted whole.
    pub segments_deleted: usize,
    /// Zxid of the last record kept, 0 if the log is now empty.
    pub last_zxid: u64,
}

/// The segment being appended to.
struct Segment {
    file: File,
}

/// Records appended since the last sync, grouped by the segment they go to.
struct PendingChunk {
    /// `Some(first zxid)` when these records start a new segment.
    new_segment: Option<u64>,
    bytes: Vec<u8>,
}

/// The txn log of one server: append records, then make them durable with one `sync`.
///
/// Not thread-safe by itself; [`LogWriter`](super::LogWriter) runs it on its own thread.
pub struct TxnLog {
    dir: PathBuf,
    segment_bytes: u64,
    /// Bytes reserved for each new segment (see `preallocate`).
    prealloc_bytes: u64,
    current: Option<Segment>,
    pending: Vec<PendingChunk>,
    /// Size the newest segment will have once `pending` is written.
    tail_len: u64,
    appended_zxid: u64,
    durable_zxid: u64,
    fsyncs: u64,
    /// Set after a failed write or fsync: what reached the disk is then unknown, so the log
    /// refuses further use until it is reopened (and recovered) from disk.
    failed: bool,
}

impl TxnLog {
    /// Opens (creating if needed) the log in `dir`, finishes a truncation a crash interrupted
    /// (see [`truncate_log_after`]), checks every segment, truncates a torn tail, and
    /// positions for appending after the last valid record.
    pub fn open(dir: &Path) -> io::Result<(TxnLog, LogRecovery)> {
        TxnLog::open_with_segment_bytes(dir, SEGMENT_BYTES)
    }

    /// [`TxnLog::open`] with a custom roll size (tests use small segments).
    pub fn open_with_segment_bytes(dir: &Path, segment_bytes: u64) -> io::Result<(TxnLog, LogRecovery)> {
        let (log, recovery, _) = TxnLog::open_scan::<io::Error, _>(dir, segment_bytes, u64::MAX, |_, _| Ok(()))?;
        Ok((log, recovery))
    }

    /// [`TxnLog::open`] and [`replay`] in one read of the log: calls `f(zxid, payload)` for
    /// every valid record with zxid > `after_zxid`, in zxid order, while checking the
    /// segments, then truncates a torn tail as `open` does.
    ///
    /// The torn record itself is never passed to `f`. When the log turns out to be corrupt
    /// (an `InvalidData` error), `f` may already have seen the valid records before the
    /// damage: the caller must then discard what it built, as it does for any recovery
    /// error. An error from `f` stops the scan and is returned, with the log left as found
    /// (an interrupted truncation, finished first, stays finished).
    pub fn open_replay<E, F>(dir: &Path, after_zxid: u64, f: F) -> Result<(TxnLog, LogRecovery, ReplaySummary), E>
    where
        E: From<io::Error>,
        F: FnMut(u64, &[u8]) -> Result<(), E>,
    {
        TxnLog::open_scan(dir, SEGMENT_BYTES, after_zxid, f)
    }

    fn open_scan<E, F>(
        dir: &Path,
        segment_bytes: u64,
        after_zxid: u64,
        mut f: F,
    ) -> Result<(TxnLog, LogRecovery, ReplaySummary), E>
    where
        E: From<io::Error>,
        F: FnMut(u64, &[u8]) -> Result<(), E>,
    {
        let mut deliver = Deliver { after_zxid, f: &mut f, summary: ReplaySummary::default() };
        fs::create_dir_all(dir)?;
        finish_pending_truncation(dir, &mut no_crash)?;
        let segments = list_numbered(dir, LOG_PREFIX)?;
        let mut recovery = LogRecovery::default();
        let mut last_zxid = 0u64;
        let mut prev_name: Option<u64> = None;
        let mut kept: Option<(PathBuf, u64)> = None;
        let mut dir_changed = false;

        for (i, (name, path)) in segments.iter().enumerate() {
            let is_last = i + 1 == segments.len();
            if prev_name.is_some_and(|p| p >= *name) || *name <= last_zxid {
                return Err(invalid_data(format!(
                    "{}: segment zxid {name:#x} is not above the previous zxid {last_zxid:#x}",
                    path.display()
                ))
                .into());
            }
            prev_name = Some(*name);
            let scan = scan_segment(path, *name, last_zxid, is_last, &mut deliver)?;
            let len = match scan.end {
                SegmentEnd::Clean { len } => len,
                SegmentEnd::TornHeader { file_len } => {
                    ::log::warn!(
                        "{}: torn segment header at offset 0; removing the segment ({file_len} bytes dropped)",
                        path.display()
                    );
                    fs::remove_file(path)?;
                    dir_changed = true;
                    recovery.truncated_bytes += file_len;
                    continue;
                }
                SegmentEnd::Torn { valid_len, file_len, reason } => {
                    let dropped = file_len - valid_len;
                    recovery.truncated_bytes += if scan.records == 0 { file_len } else { dropped };
                    if scan.records == 0 {
                        ::log::warn!(
                            "{}: torn record at offset {valid_len} ({reason}); it was the segment's \
                             only record, removing the segment ({file_len} bytes dropped)",
                            path.display()
                        );
                        fs::remove_file(path)?;
                        dir_changed = true;
                        continue;
                    }
                    ::log::warn!(
                        "{}: torn record at offset {valid_len} ({reason}); truncating, {dropped} bytes dropped",
                        path.display()
                    );
                    let file = OpenOptions::new().write(true).open(path)?;
                    file.set_len(valid_len)?;
                    file.sync_all()?;
                    valid_len
                }
            };
            if scan.records == 0 {
                if !is_last {
                    return Err(invalid_data(format!(
                        "{}: segment holds no records but is not the last one",
                        path.display()
                    ))
                    .into());
                }
                // A segment is named after its first record; with none, the name would not
                // match the next record appended, so drop the empty file.
                ::log::warn!("{}: removing empty segment ({len} bytes)", path.display());
                fs::remove_file(path)?;
                dir_changed = true;
                recovery.truncated_bytes += len;
                continue;
            }
            if recovery.records == 0 {
                recovery.first_zxid = scan.first_zxid;
            }
            recovery.records += scan.records;
            recovery.segments += 1;
            last_zxid = scan.last_zxid;
            kept = Some((path.clone(), len));
        }
        if dir_changed {
            fsync_dir(dir)?;
        }
        recovery.last_zxid = last_zxid;

        let (current, tail_len) = match kept {
            Some((path, len)) => {
                // Not O_APPEND: the file may be longer than its records (preallocated zeros).
                let mut file = OpenOptions::new().write(true).open(&path)?;
                file.seek(SeekFrom::Start(len))?;
                (Some(Segment { file }), len)
            }
            None => (None, 0),
        };
        let log = TxnLog {
            dir: dir.to_path_buf(),
            segment_bytes,
            prealloc_bytes: segment_bytes,
            current,
            pending: Vec::new(),
            tail_len,
            appended_zxid: last_zxid,
            durable_zxid: last_zxid,
            fsyncs: 0,
            failed: false,
        };
        Ok((log, recovery, deliver.summary))
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Zxid of the last record appended (durable or not), 0 if none.
    pub fn last_zxid(&self) -> u64 {
        self.appended_zxid
    }

    /// Zxid of the last record known durable, 0 if none.
    pub fn durable_zxid(&self) -> u64 {
        self.durable_zxid
    }

    /// fsync calls made so far (segment files and the directory), for metrics and tests.
    pub fn fsync_count(&self) -> u64 {
        self.fsyncs
    }

    /// Sets how many bytes each new segment reserves on creation (default: the roll size;
    /// 0 turns preallocation off, so a segment's size is exactly its records).
    pub fn set_preallocation(&mut self, bytes: u64) {
        self.prealloc_bytes = bytes;
    }

    /// Buffers one record; nothing reaches the disk until [`TxnLog::sync`].
    ///
    /// Errors: `InvalidInput` if `zxid` is not above the last appended zxid or the payload
    /// exceeds [`MAX_RECORD_BYTES`]; any error if an earlier sync failed.
    pub fn append(&mut self, zxid: u64, payload: &[u8]) -> io::Result<()> {
        self.check_usable()?;
        if zxid <= self.appended_zxid {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("zxid {zxid:#x} is not above the last logged zxid {:#x}", self.appended_zxid),
            ));
        }
        // Checked before touching `pending`, so a refused record leaves no trace.
        checked_len(payload)?;
        let roll = (self.current.is_none() && self.pending.is_empty()) || self.tail_len >= self.segment_bytes;
        if roll {
            self.pending.push(PendingChunk { new_segment: Some(zxid), bytes: Vec::new() });
            self.tail_len = LOG_HEADER_BYTES as u64;
        } else if self.pending.is_empty() {
            self.pending.push(PendingChunk { new_segment: None, bytes: Vec::new() });
        }
        let Some(chunk) = self.pending.last_mut() else {
            return Err(io::Error::other("no pending chunk after push"));
        };
        let before = chunk.bytes.len();
        encode_record(zxid, payload, &mut chunk.bytes)?;
        self.tail_len += (chunk.bytes.len() - before) as u64;
        self.appended_zxid = zxid;
        Ok(())
    }

    /// Writes every buffered record and fsyncs once (plus once per segment rolled and once for
    /// the directory when a segment was created); returns the last durable zxid.
    ///
    /// After an error the log is unusable: reopen it to recover what reached the disk.
    pub fn sync(&mut self) -> io::Result<u64> {
        self.check_usable()?;
        if self.pending.is_empty() {
            return Ok(self.durable_zxid);
        }
        if let Err(e) = self.write_pending() {
            self.failed = true;
            return Err(e);
        }
        self.durable_zxid = self.appended_zxid;
        Ok(self.durable_zxid)
    }

    /// Deletes segments holding only zxids ≤ `keep_after_zxid`; see [`purge_log`].
    pub fn purge(&self, keep_after_zxid: u64) -> io::Result<usize> {
        purge_log(&self.dir, keep_after_zxid)
    }

    fn check_usable(&self) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other("txn log unusable after a failed write or fsync; reopen it"));
        }
        Ok(())
    }

    fn write_pending(&mut self) -> io::Result<()> {
        let mut dirty = false;
        let mut created = false;
        for chunk in std::mem::take(&mut self.pending) {
            if let Some(first_zxid) = chunk.new_segment {
                // The finished segment gives back its unused preallocated tail, and its
                // records and size must be durable before its successor exists: recovery
                // treats only the last segment's tail as possibly torn.
                if let Some(seg) = &mut self.current {
                    let end = seg.file.stream_position()?;
                    seg.file.set_len(end)?;
                    seg.file.sync_data()?;
                    self.fsyncs += 1;
                }
                self.current = Some(create_segment(&self.dir, first_zxid, self.prealloc_bytes)?);
                created = true;
            }
            let Some(seg) = self.current.as_mut() else {
                return Err(io::Error::other("records pending without a segment"));
            };
            seg.file.write_all(&chunk.bytes)?;
            dirty = true;
        }
        if dirty {
            if let Some(seg) = &self.current {
                seg.file.sync_data()?;
                self.fsyncs += 1;
            }
        }
        if created {
            fsync_dir(&self.dir)?;
            self.fsyncs += 1;
        }
        Ok(())
    }
}

fn create_segment(dir: &Path, first_zxid: u64, prealloc_bytes: u64) -> io::Result<Segment> {
    let path = dir.join(numbered_name(LOG_PREFIX, first_zxid));
    let mut file = OpenOptions::new().write(true).create_new(true).open(&path)?;
    file.write_all(&log_header())?;
    preallocate(&file, prealloc_bytes);
    Ok(Segment { file })
}

/// Reserves the segment's blocks up front (the file reads as zeros past its records), so
/// that each group commit's fdatasync flushes data without also journaling a new file size
/// and block allocation: measured here, that makes an fdatasync about a third cheaper. Where
/// the file system cannot, appends simply grow the file.
fn preallocate(file: &File, bytes: u64) {
    use std::os::fd::AsRawFd;
    let Ok(len) = libc::off_t::try_from(bytes) else { return };
    // SAFETY: plain syscall on a file descriptor we own; no memory is passed.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) };
    if rc != 0 {
        ::log::debug!("txn log: fallocate failed ({}); appending without preallocation", io::Error::last_os_error());
    }
}

/// Deletes the segments of `dir` that hold only zxids ≤ `keep_after_zxid`, keeping the one
/// that contains it; returns how many were deleted.
///
/// Safe while a [`LogWriter`](super::LogWriter) appends: a segment is deleted only when its
/// successor's name, which bounds all its zxids, is ≤ `keep_after_zxid`. Pass the zxid of the
/// oldest snapshot kept, so every kept snapshot can still be brought up to date.
pub fn purge_log(dir: &Path, keep_after_zxid: u64) -> io::Result<usize> {
    let segments = list_numbered(dir, LOG_PREFIX)?;
    let mut removed = 0;
    for pair in segments.windows(2) {
        let [(_, path), (next_name, _)] = pair else {
            break;
        };
        if *next_name > keep_after_zxid {
            break;
        }
        fs::remove_file(path)?;
        removed += 1;
    }
    if removed > 0 {
        fsync_dir(dir)?;
    }
    Ok(removed)
}

/// Durably drops every record with a zxid above `zxid` from the log in `dir` (a learner's
/// TRUNC): segments wholly above it are deleted, the one holding the cut is cut at the record
/// boundary (keeping its preallocated size as zeros, which recovery reads as a clean end),
/// and the directory is fsynced. Returns what was dropped; a log with nothing above `zxid`
/// is left untouched.
///
/// The log must not be open for appending meanwhile: stop the
/// [`LogWriter`](super::LogWriter) (`LogWriterHandle::shutdown`) and drop its [`TxnLog`]
/// first, and reopen it afterwards. A torn tail is cut off as [`TxnLog::open`] would; any
/// other damage in the segment holding the cut is an `InvalidData` error, before anything
/// is changed.
///
/// Crash-safe: the cut is first recorded in [`TRUNCATE_MARKER_FILE`], and [`TxnLog::open`]
/// (and [`TxnLog::open_replay`]) finishes a truncation it finds there, so after a crash the
/// log holds either all its old records or exactly those ≤ `zxid`. A truncation left pending
/// by a crash is finished before a new one starts.
///
/// Snapshots newer than `zxid` would bring the dropped txns back at start-up: delete them
/// first with [`remove_snapshots_after`](super::remove_snapshots_after).
pub fn truncate_log_after(dir: &Path, zxid: u64) -> io::Result<TruncateSummary> {
    truncate_with(dir, zxid, &mut no_crash)
}

/// Durably drops every record of the log in `dir`: [`truncate_log_after`] with zxid 0 (no
/// record has zxid 0), with the same preconditions and crash safety.
///
/// For a follower that installed a snapshot from its leader (SNAP): its own records are
/// superseded, and those at or below the snapshot's zxid may come from another history, so
/// none may ever be replayed on an older snapshot. See
/// [`install_snapshot_bytes`](super::install_snapshot_bytes) for the order of the steps.
pub fn truncate_log_all(dir: &Path) -> io::Result<TruncateSummary> {
    truncate_log_after(dir, 0)
}

/// The crash point between the steps of a truncation: never fails outside tests.
fn no_crash() -> io::Result<()> {
    Ok(())
}

/// [`truncate_log_after`], calling `step` before each change to the disk; an error from it
/// stops the truncation there, as a crash would (tests use it to stop at every step).
fn truncate_with(dir: &Path, zxid: u64, step: &mut dyn FnMut() -> io::Result<()>) -> io::Result<TruncateSummary> {
    finish_pending_truncation(dir, step)?;
    // Read and checked before anything changes: a refused truncation leaves no trace.
    let plan = plan_truncation(dir, zxid)?;
    if plan.is_noop() {
        return Ok(plan.summary);
    }
    step()?;
    write_u64_file_atomic(dir, TRUNCATE_MARKER_FILE, zxid)?;
    apply_truncation(dir, &plan, step)?;
    step()?;
    fs::remove_file(dir.join(TRUNCATE_MARKER_FILE))?;
    fsync_dir(dir)?;
    ::log::info!(
        "txn log truncated after zxid {zxid:#x}: {} records and {} whole segments dropped",
        plan.summary.records_dropped,
        plan.summary.segments_deleted
    );
    Ok(plan.summary)
}

/// Finishes a truncation a crash interrupted, if [`TRUNCATE_MARKER_FILE`] names one. Redoing
/// it is safe however far it got: the plan is made again from what is on disk.
fn finish_pending_truncation(dir: &Path, step: &mut dyn FnMut() -> io::Result<()>) -> io::Result<()> {
    let Some(zxid) = read_u64_file(dir, TRUNCATE_MARKER_FILE)? else {
        return Ok(());
    };
    let plan = plan_truncation(dir, zxid)?;
    ::log::warn!(
        "txn log: finishing an interrupted truncation after zxid {zxid:#x} ({} more records dropped)",
        plan.summary.records_dropped
    );
    apply_truncation(dir, &plan, step)?;
    step()?;
    fs::remove_file(dir.join(TRUNCATE_MARKER_FILE))?;
    fsync_dir(dir)
}

/// The changes a truncation makes, worked out from the segments on disk.
struct TruncatePlan {
    /// Segments named above the cut, oldest first: all their records go.
    delete: Vec<PathBuf>,
    /// The segment holding the cut, when it changes.
    cut: Option<SegmentCut>,
    summary: TruncateSummary,
}

/// How the segment holding the cut changes.
struct SegmentCut {
    path: PathBuf,
    /// Bytes to keep: the header and the records ≤ the cut; 0 means none is left (delete it).
    keep_len: u64,
    /// The file's size now, kept as reserved zeros after the cut.
    file_len: u64,
}

impl TruncatePlan {
    fn is_noop(&self) -> bool {
        self.delete.is_empty() && self.cut.is_none()
    }
}

fn plan_truncation(dir: &Path, zxid: u64) -> io::Result<TruncatePlan> {
    let segments = list_numbered(dir, LOG_PREFIX)?;
    // A segment's name is its first zxid, so those named above the cut go whole.
    let split = segments.partition_point(|(name, _)| *name <= zxid);
    let (below, above) = segments.split_at(split);
    let mut plan = TruncatePlan { delete: Vec::new(), cut: None, summary: TruncateSummary::default() };
    for (_, path) in above {
        plan.summary.records_dropped += count_records(path)?;
        plan.delete.push(path.clone());
    }
    plan.summary.segments_deleted = above.len();
    let Some((name, path)) = below.last() else {
        return Ok(plan);
    };

    // The segment holding the cut, checked as recovery checks it; it is the last one once
    // those above are gone, so a torn tail is cut off with the dropped records.
    let mut keep_len = LOG_HEADER_BYTES as u64;
    let mut kept = 0u64;
    let mut kept_last = 0u64;
    let mut dropped = 0u64;
    let mut tally = |z: u64, payload: &[u8]| -> io::Result<()> {
        if z <= zxid {
            // Records follow the header back to back.
            keep_len += (FRAME_HEADER_BYTES + payload.len()) as u64;
            kept += 1;
            kept_last = z;
        } else {
            dropped += 1;
        }
        Ok(())
    };
    let mut deliver = Deliver { after_zxid: 0, f: &mut tally, summary: ReplaySummary::default() };
    let scan = scan_segment::<io::Error, _>(path, *name, 0, above.is_empty(), &mut deliver)?;
    let file_len = fs::metadata(path)?.len();
    plan.summary.records_dropped += dropped;
    plan.summary.last_zxid = kept_last;
    let torn = !matches!(scan.end, SegmentEnd::Clean { .. });
    if dropped > 0 || torn {
        let keep_len = if kept == 0 { 0 } else { keep_len };
        plan.cut = Some(SegmentCut { path: path.clone(), keep_len, file_len });
    }
    Ok(plan)
}

/// Valid records at the start of a segment that is about to be deleted: damage (a bad
/// header, a bad record) only ends the count, since none of it is kept.
fn count_records(path: &Path) -> io::Result<u64> {
    let mut r = match open_checked(path) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut n = 0;
    while let Frame::Record(..) = r.next_record()? {
        n += 1;
    }
    Ok(n)
}

/// Carries out `plan`: newest segments first, so an interrupted run leaves a prefix of the
/// log even without its marker, then the cut, then the directory fsync.
fn apply_truncation(dir: &Path, plan: &TruncatePlan, step: &mut dyn FnMut() -> io::Result<()>) -> io::Result<()> {
    let mut dir_changed = false;
    for path in plan.delete.iter().rev() {
        step()?;
        remove_if_present(path)?;
        dir_changed = true;
    }
    if let Some(cut) = &plan.cut {
        step()?;
        if cut.keep_len == 0 {
            remove_if_present(&cut.path)?;
            dir_changed = true;
        } else {
            let file = OpenOptions::new().write(true).open(&cut.path)?;
            file.set_len(cut.keep_len)?;
            // Zeros past the last record, as a preallocated segment has them: appends after
            // reopening keep the cheap fdatasync, and recovery sees a clean end.
            preallocate(&file, cut.file_len);
            file.sync_all()?;
        }
    }
    if dir_changed {
        step()?;
        fsync_dir(dir)?;
    }
    Ok(())
}

/// Removes `path`; already gone is fine (a redone truncation, or a concurrent purge).
fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Calls `f(zxid, payload)` for every record with zxid > `after_zxid`, in zxid order.
///
/// Call it after [`TxnLog::open`] (which repairs a torn tail and finishes an interrupted
/// truncation) and before appending: any invalid record here is an `InvalidData` error.
/// Segments wholly ≤ `after_zxid` are skipped unread. An error from `f` stops the replay
/// and is returned. Should a truncation still be pending, the records it drops are not
/// passed on.
pub fn replay<E, F>(dir: &Path, after_zxid: u64, mut f: F) -> Result<ReplaySummary, E>
where
    E: From<io::Error>,
    F: FnMut(u64, &[u8]) -> Result<(), E>,
{
    let keep_up_to = read_u64_file(dir, TRUNCATE_MARKER_FILE)?.unwrap_or(u64::MAX);
    let segments = list_numbered(dir, LOG_PREFIX)?;
    let mut deliver = Deliver { after_zxid, f: &mut f, summary: ReplaySummary::default() };
    let mut last_zxid = 0u64;
    for (i, (name, path)) in segments.iter().enumerate() {
        // Every zxid in segment i is below the next segment's name.
        if let Some((next_name, _)) = segments.get(i + 1) {
            if next_name.saturating_sub(1) <= after_zxid {
                continue;
            }
        }
        let mut r = open_checked(path)?;
        let mut off = LOG_HEADER_BYTES as u64;
        let mut first = true;
        loop {
            let (header, payload) = match r.next_record()? {
                Frame::End => break,
                // Preallocated space past the last record.
                Frame::Bad(_) if zeros_from(path, off)? => break,
                Frame::Bad(reason) => return Err(corrupt(path, off, reason).into()),
                Frame::Record(h, payload) => (h, payload),
            };
            check_order(path, off, *name, first, last_zxid, header.zxid)?;
            if header.zxid > keep_up_to {
                return Ok(deliver.summary);
            }
            first = false;
            last_zxid = header.zxid;
            off += header.frame_bytes();
            deliver.record(header.zxid, payload)?;
        }
    }
    Ok(deliver.summary)
}

/// Passes records above `after_zxid` on to `f` and counts them.
struct Deliver<'f, F> {
    after_zxid: u64,
    f: &'f mut F,
    summary: ReplaySummary,
}

impl<F> Deliver<'_, F> {
    fn record<E>(&mut self, zxid: u64, payload: &[u8]) -> Result<(), E>
    where
        F: FnMut(u64, &[u8]) -> Result<(), E>,
    {
        if zxid > self.after_zxid {
            (self.f)(zxid, payload)?;
            if self.summary.records == 0 {
                self.summary.first_zxid = zxid;
            }
            self.summary.records += 1;
            self.summary.last_zxid = zxid;
        }
        Ok(())
    }
}

/// Opens a segment for reading and checks its header strictly.
fn open_checked(path: &Path) -> io::Result<RecordReader<File>> {
    let mut r = RecordReader::new(File::open(path)?, READ_BUFFER_BYTES);
    let mut head = [0u8; LOG_HEADER_BYTES];
    let got = r.read_full(&mut head)?;
    if got != LOG_HEADER_BYTES || head != log_header() {
        return Err(bad_header(path));
    }
    Ok(r)
}

fn bad_header(path: &Path) -> io::Error {
    invalid_data(format!("{}: bad segment header (want magic HERDLOG1, version {FORMAT_VERSION})", path.display()))
}

fn corrupt(path: &Path, off: u64, reason: impl std::fmt::Display) -> io::Error {
    invalid_data(format!("{}: corrupt record at offset {off}: {reason}", path.display()))
}

/// The first record must carry the segment's name, and zxids must increase strictly.
fn check_order(path: &Path, off: u64, name: u64, first: bool, last: u64, zxid: u64) -> io::Result<()> {
    if first && zxid != name {
        return Err(invalid_data(format!(
            "{}: first record at offset {off} has zxid {zxid:#x}, but the segment is named {name:#x}",
            path.display()
        )));
    }
    if zxid <= last {
        return Err(invalid_data(format!(
            "{}: record at offset {off} has zxid {zxid:#x}, not above the previous zxid {last:#x}",
            path.display()
        )));
    }
    Ok(())
}

/// How a scanned segment ends.
enum SegmentEnd {
    /// After the last valid record, at `len`.
    Clean { len: u64 },
    /// A torn record at `valid_len`; the file is `file_len` bytes.
    Torn { valid_len: u64, file_len: u64, reason: BadRecord },
    /// The header itself is torn (a prefix of it, then zeros or nothing).
    TornHeader { file_len: u64 },
}

struct SegmentScan {
    records: u64,
    first_zxid: u64,
    last_zxid: u64,
    end: SegmentEnd,
}

/// Reads a whole segment, checking every record and passing each valid one to `deliver`;
/// only the last segment may end torn.
fn scan_segment<E, F>(
    path: &Path,
    name: u64,
    after_zxid: u64,
    is_last: bool,
    deliver: &mut Deliver<'_, F>,
) -> Result<SegmentScan, E>
where
    E: From<io::Error>,
    F: FnMut(u64, &[u8]) -> Result<(), E>,
{
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut r = RecordReader::new(file, READ_BUFFER_BYTES);
    let mut head = [0u8; LOG_HEADER_BYTES];
    let got = r.read_full(&mut head)?;
    let expected = log_header();
    if got != LOG_HEADER_BYTES || head != expected {
        let present = head.get(..got).unwrap_or_default();
        if is_last && is_torn_prefix(present, &expected) && r.rest_is_zero()? {
            return Ok(SegmentScan {
                records: 0,
                first_zxid: 0,
                last_zxid: after_zxid,
                end: SegmentEnd::TornHeader { file_len },
            });
        }
        return Err(bad_header(path).into());
    }

    let mut scan = SegmentScan { records: 0, first_zxid: 0, last_zxid: after_zxid, end: SegmentEnd::Clean { len: 0 } };
    let mut off = LOG_HEADER_BYTES as u64;
    loop {
        match r.next_record()? {
            Frame::End => {
                scan.end = SegmentEnd::Clean { len: off };
                return Ok(scan);
            }
            Frame::Record(h, payload) => {
                check_order(path, off, name, scan.records == 0, scan.last_zxid, h.zxid)?;
                if scan.records == 0 {
                    scan.first_zxid = h.zxid;
                }
                scan.records += 1;
                scan.last_zxid = h.zxid;
                off += h.frame_bytes();
                deliver.record(h.zxid, payload)?;
            }
            Frame::Bad(reason) => {
                drop(r);
                // Nothing but zeros from a record boundary on: preallocated space that was
                // never written. The segment ends here; nothing is torn.
                if zeros_from(path, off)? {
                    scan.end = SegmentEnd::Clean { len: off };
                    return Ok(scan);
                }
                // A torn append leaves a prefix of what was written, or zeros; an impossible
                // length or damage before the last segment's end is corruption.
                if !is_last || matches!(reason, BadRecord::TooLong { .. }) {
                    return Err(corrupt(path, off, reason).into());
                }
                scan.end = classify_tail(path, off, file_len, scan.last_zxid, reason)?;
                return Ok(scan);
            }
        }
    }
}

/// Decides whether the bad record at `off` (in the last segment) is a torn tail: it must
/// reach the end of the file or be followed only by zeros, and no valid record may start
/// anywhere inside it (a length field corrupted upwards would otherwise swallow records that
/// were acknowledged as durable).
/// True when every byte of `path` from `off` to its end is zero.
fn zeros_from(path: &Path, off: u64) -> io::Result<bool> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(off))?;
    rest_is_zero(&mut file)
}

fn classify_tail(path: &Path, off: u64, file_len: u64, last_zxid: u64, reason: BadRecord) -> io::Result<SegmentEnd> {
    let record_end = match reason {
        BadRecord::ShortHeader { .. } | BadRecord::ShortPayload { .. } => file_len,
        BadRecord::BadCrc { len } => off + FRAME_HEADER_BYTES as u64 + u64::from(len),
        BadRecord::TooLong { .. } => return Err(corrupt(path, off, reason)),
    };
    let mut file = File::open(path)?;
    if record_end < file_len {
        file.seek(SeekFrom::Start(record_end))?;
        if !rest_is_zero(&mut file)? {
            return Err(corrupt(path, off, format_args!("{reason}, followed by non-zero bytes")));
        }
    }
    // Any valid record starting inside the bad one ends within a maximal frame after it.
    let window_end = file_len.min(record_end.saturating_add((FRAME_HEADER_BYTES + MAX_RECORD_BYTES) as u64));
    let mut window = Vec::new();
    file.seek(SeekFrom::Start(off))?;
    file.take(window_end.saturating_sub(off)).read_to_end(&mut window)?;
    let starts = usize::try_from(record_end.min(file_len) - off).unwrap_or(usize::MAX);
    for p in 1..starts.min(window.len()) {
        if window.get(p..).is_some_and(|rest| valid_record_at(rest, last_zxid)) {
            return Err(corrupt(
                path,
                off,
                format_args!("{reason}, but a valid record follows at offset {}", off + p as u64),
            ));
        }
    }
    Ok(SegmentEnd::Torn { valid_len: off, file_len, reason })
}

/// True if `present` is a prefix of `expected` followed only by zeros.
fn is_torn_prefix(present: &[u8], expected: &[u8]) -> bool {
    let common = present.iter().zip(expected).take_while(|(a, b)| a == b).count();
    present.get(common..).is_some_and(|rest| rest.iter().all(|b| *b == 0))
}

/// Reads `r` to its end; true if every byte is zero.
fn rest_is_zero<R: Read>(r: &mut R) -> io::Result<bool> {
    let mut chunk = vec![0u8; ZERO_CHECK_CHUNK_BYTES];
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => return Ok(true),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.get(..n).is_some_and(|c| c.iter().any(|b| *b != 0)) {
            return Ok(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::encode_record;
    use super::super::test_dir::TestDir;
    use super::*;
    use proptest::prelude::*;

    fn payload(zxid: u64) -> Vec<u8> {
        format!("txn-{zxid}-{}", "x".repeat((zxid % 13) as usize)).into_bytes()
    }

    /// Appends `zxids` and syncs once.
    fn write_log(dir: &Path, zxids: impl IntoIterator<Item = u64>) -> TxnLog {
        let (mut log, _) = TxnLog::open(dir).unwrap();
        // These tests cut and pad files by their exact size.
        log.set_preallocation(0);
        for z in zxids {
            log.append(z, &payload(z)).unwrap();
        }
        log.sync().unwrap();
        log
    }

    fn replay_all(dir: &Path, after: u64) -> io::Result<Vec<(u64, Vec<u8>)>> {
        let mut out = Vec::new();
        replay::<io::Error, _>(dir, after, |z, p| {
            out.push((z, p.to_vec()));
            Ok(())
        })?;
        Ok(out)
    }

    fn segment_files(dir: &Path) -> Vec<(u64, PathBuf)> {
        list_numbered(dir, LOG_PREFIX).unwrap()
    }

    /// A segment file written by hand, for layouts `TxnLog` refuses to produce.
    fn raw_segment(dir: &Path, name: u64, zxids: &[u64]) -> PathBuf {
        let mut bytes = log_header().to_vec();
        for z in zxids {
            encode_record(*z, &payload(*z), &mut bytes).unwrap();
        }
        let path = dir.join(numbered_name(LOG_PREFIX, name));
        fs::write(&path, bytes).unwrap();
        path
    }

    fn record_len(zxid: u64) -> u64 {
        (FRAME_HEADER_BYTES + payload(zxid).len()) as u64
    }

    #[test]
    fn round_trip() {
        let dir = TestDir::new("log-rt");
        let (log, rec) = TxnLog::open(dir.path()).unwrap();
        assert_eq!(rec, LogRecovery::default());
        assert_eq!((log.last_zxid(), log.durable_zxid()), (0, 0));
        drop(log);

        let zxids = [1, 2, 0x1_0000_0001];
        let log = write_log(dir.path(), zxids);
        assert_eq!(log.durable_zxid(), 0x1_0000_0001);
        drop(log);

        let (log, rec) = TxnLog::open(dir.path()).unwrap();
        assert_eq!(
            rec,
            LogRecovery { first_zxid: 1, last_zxid: 0x1_0000_0001, records: 3, segments: 1, truncated_bytes: 0 }
        );
        assert_eq!(log.last_zxid(), 0x1_0000_0001);
        let all = replay_all(dir.path(), 0).unwrap();
        assert_eq!(all, zxids.iter().map(|z| (*z, payload(*z))).collect::<Vec<_>>());
        let after = replay_all(dir.path(), 1).unwrap();
        assert_eq!(after.iter().map(|(z, _)| *z).collect::<Vec<_>>(), vec![2, 0x1_0000_0001]);
        let summary = replay::<io::Error, _>(dir.path(), 1, |_, _| Ok(())).unwrap();
        assert_eq!(summary, ReplaySummary { records: 2, first_zxid: 2, last_zxid: 0x1_0000_0001 });

        // The segment is named after its first zxid and starts with the header.
        let files = segment_files(dir.path());
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].1.file_name().unwrap(), "log.0000000000000001");
        assert_eq!(&fs::read(&files[0].1).unwrap()[..12], b"HERDLOG1\x01\x00\x00\x00");
    }

    #[test]
    fn group_commit_uses_one_fsync_per_batch() {
        let dir = TestDir::new("log-group");
        // An existing segment, so the batch needs no directory fsync.
        drop(write_log(dir.path(), [1]));
        let (mut log, _) = TxnLog::open(dir.path()).unwrap();
        for z in 2..=101 {
            log.append(z, &payload(z)).unwrap();
        }
        assert_eq!(log.fsync_count(), 0, "append must not touch the disk");
        assert_eq!(log.durable_zxid(), 1);
        assert_eq!(log.sync().unwrap(), 101);
        assert_eq!(log.fsync_count(), 1);
        assert_eq!(log.sync().unwrap(), 101, "an empty sync reports the same point");
        assert_eq!(log.fsync_count(), 1);
        drop(log);
        assert_eq!(TxnLog::open(dir.path()).unwrap().1.records, 101);
    }

    #[test]
    fn append_refuses_bad_records_without_side_effects() {
        let dir = TestDir::new("log-refuse");
        let (mut log, _) = TxnLog::open(dir.path()).unwrap();
        assert_eq!(log.append(0, b"a").unwrap_err().kind(), io::ErrorKind::InvalidInput);
        log.append(5, b"a").unwrap();
        assert_eq!(log.append(5, b"b").unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(log.append(4, b"b").unwrap_err().kind(), io::ErrorKind::InvalidInput);
        let big = vec![0u8; MAX_RECORD_BYTES + 1];
        assert_eq!(log.append(6, &big).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(log.sync().unwrap(), 5);
        drop(log);
        assert_eq!(replay_all(dir.path(), 0).unwrap(), vec![(5, b"a".to_vec())]);
    }

    #[test]
    fn torn_tail_at_every_cut_is_truncated_and_appending_continues() {
        let full = TestDir::new("log-torn-src");
        drop(write_log(full.path(), [1, 2, 3]));
        let path = &segment_files(full.path())[0].1;
        let bytes = fs::read(path).unwrap();
        let last_start = bytes.len() as u64 - record_len(3);

        for cut in last_start..bytes.len() as u64 {
            let dir = TestDir::new("log-torn");
            let seg = dir.path().join("log.0000000000000001");
            fs::write(&seg, &bytes[..cut as usize]).unwrap();
            let (mut log, rec) = TxnLog::open(dir.path()).unwrap();
            assert_eq!((rec.records, rec.last_zxid), (2, 2), "cut at {cut}");
            assert_eq!(rec.truncated_bytes, cut - last_start, "cut at {cut}");
            assert_eq!(fs::metadata(&seg).unwrap().len(), last_start);

            log.append(7, b"after").unwrap();
            assert_eq!(log.sync().unwrap(), 7);
            drop(log);
            let got: Vec<u64> = replay_all(dir.path(), 0).unwrap().iter().map(|(z, _)| *z).collect();
            assert_eq!(got, vec![1, 2, 7], "cut at {cut}");
        }
    }

    #[test]
    fn zero_filled_tail_is_unwritten_space_not_a_torn_record() {
        let dir = TestDir::new("log-zeros");
        drop(write_log(dir.path(), [1, 2]));
        let path = segment_files(dir.path())[0].1.clone();
        let len = fs::metadata(&path).unwrap().len();
        // As preallocation leaves it, or a crash where the size reached the disk but no
        // data did: zeros from a record boundary on.
        OpenOptions::new().write(true).open(&path).unwrap().set_len(len + 4096).unwrap();
        let (mut log, rec) = TxnLog::open(dir.path()).unwrap();
        assert_eq!((rec.records, rec.truncated_bytes), (2, 0));
        // Appending continues at the end of the records, inside the zeros.
        log.append(3, &payload(3)).unwrap();
        log.sync().unwrap();
        drop(log);
        assert_eq!(fs::metadata(&path).unwrap().len(), len + 4096);
        let zxids: Vec<u64> = replay_all(dir.path(), 0).unwrap().into_iter().map(|(z, _)| z).collect();
        assert_eq!(zxids, [1, 2, 3]);
    }

    #[test]
    fn segments_are_preallocated_and_trimmed_when_they_roll() {
        let dir = TestDir::new("log-prealloc");
        let (mut log, _) = TxnLog::open_with_segment_bytes(dir.path(), 4096).unwrap();
        log.append(1, &payload(1)).unwrap();
        log.sync().unwrap();
        let first = segment_files(dir.path())[0].1.clone();
        assert!(fs::metadata(&first).unwrap().len() >= 4096, "the new segment reserves its roll size");
        for z in 2..=200u64 {
            log.append(z, &payload(z)).unwrap();
            log.sync().unwrap();
        }
        drop(log);
        let files = segment_files(dir.path());
        assert!(files.len() > 1);
        // Every finished segment holds exactly its records; only the last keeps zeros.
        for (_, path) in &files[..files.len() - 1] {
            let bytes = fs::read(path).unwrap();
            assert_ne!(bytes.last(), Some(&0), "{} was trimmed", path.display());
        }
        // Reopening finds every record and nothing torn; appends go after the last one.
        let (mut log, rec) = TxnLog::open_with_segment_bytes(dir.path(), 4096).unwrap();
        assert_eq!((rec.records, rec.last_zxid, rec.truncated_bytes), (200, 200, 0));
        log.append(201, &payload(201)).unwrap();
        log.sync().unwrap();
        drop(log);
        let zxids: Vec<u64> = replay_all(dir.path(), 0).unwrap().into_iter().map(|(z, _)| z).collect();
        assert_eq!(zxids, (1..=201).collect::<Vec<_>>());
    }

    #[test]
    fn torn_only_record_removes_the_segment() {
        let dir = TestDir::new("log-torn-only");
        drop(write_log(dir.path(), [1]));
        drop(write_log(dir.path(), [0x10]));
        // Force a second segment by hand: the torn one holds only zxid 0x20.
        let path = raw_segment(dir.path(), 0x20, &[0x20]);
        let len = fs::metadata(&path).unwrap().len();
        OpenOptions::new().write(true).open(&path).unwrap().set_len(len - 1).unwrap();
        let (mut log, rec) = TxnLog::open(dir.path()).unwrap();
        assert_eq!((rec.records, rec.last_zxid, rec.segments), (2, 0x10, 1));
        assert!(!path.exists());
        log.append(0x20, b"again").unwrap();
        log.sync().unwrap();
        drop(log);
        assert_eq!(replay_all(dir.path(), 0x10).unwrap(), vec![(0x20, b"again".to_vec())]);
    }

    #[test]
    fn torn_or_empty_last_segment_header_is_removed() {
        for content in [&b""[..], b"HERD", b"HERDLOG1\x01\x00\x00\x00", b"HERDLO\0\0\0\0\0\0\0\0\0\0\0\0\0\0"] {
            let dir = TestDir::new("log-torn-header");
            drop(write_log(dir.path(), [1]));
            let path = dir.path().join("log.0000000000000002");
            fs::write(&path, content).unwrap();
            let (_, rec) = TxnLog::open(dir.path()).unwrap();
            assert_eq!((rec.records, rec.segments), (1, 1), "{content:?}");
            assert!(!path.exists(), "{content:?}");
        }
    }

    #[test]
    fn bad_header_is_an_error() {
        for content in [&b"HERDLOG2\x01\x00\x00\x00"[..], b"HERDLOG1\x02\x00\x00\x00", b"HERDLOX\0\0\0\0\0\0\0\0\0\x01"]
        {
            let dir = TestDir::new("log-bad-header");
            fs::write(dir.path().join("log.0000000000000002"), content).unwrap();
            let err = TxnLog::open(dir.path()).err().unwrap();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert!(err.to_string().contains("bad segment header"), "{err}");
        }
    }

    #[test]
    fn corrupt_byte_in_the_middle_is_an_error_naming_the_offset() {
        let dir = TestDir::new("log-corrupt");
        drop(write_log(dir.path(), [1, 2, 3]));
        let path = segment_files(dir.path())[0].1.clone();
        let mut bytes = fs::read(&path).unwrap();
        let second = LOG_HEADER_BYTES as u64 + record_len(1);
        bytes[second as usize + FRAME_HEADER_BYTES + 1] ^= 0x40;
        fs::write(&path, &bytes).unwrap();
        let err = TxnLog::open(dir.path()).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let msg = err.to_string();
        assert!(msg.contains(&format!("offset {second}")) && msg.contains("log.0000000000000001"), "{msg}");
        assert!(replay_all(dir.path(), 0).is_err());
        // Nothing was truncated.
        assert_eq!(fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn crc_mismatch_followed_by_garbage_is_an_error() {
        let dir = TestDir::new("log-garbage");
        drop(write_log(dir.path(), [1, 2]));
        let path = segment_files(dir.path())[0].1.clone();
        let mut bytes = fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 1;
        bytes.extend_from_slice(b"\x01garbage");
        fs::write(&path, &bytes).unwrap();
        let err = TxnLog::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("non-zero"), "{err}");
    }

    #[test]
    fn corrupted_length_cannot_swallow_valid_records() {
        let dir = TestDir::new("log-len");
        drop(write_log(dir.path(), [1, 2, 3]));
        let path = segment_files(dir.path())[0].1.clone();
        let mut bytes = fs::read(&path).unwrap();
        // Record 1's length now runs past the end of the file, like a torn write would.
        let at = LOG_HEADER_BYTES;
        bytes[at..at + 4].copy_from_slice(&1000u32.to_le_bytes());
        fs::write(&path, &bytes).unwrap();
        let err = TxnLog::open(dir.path()).err().unwrap();
        let msg = err.to_string();
        assert!(msg.contains(&format!("offset {at}")) && msg.contains("valid record follows"), "{msg}");
    }

    #[test]
    fn torn_record_in_a_non_last_segment_is_an_error() {
        let dir = TestDir::new("log-torn-middle");
        let first = raw_segment(dir.path(), 1, &[1, 2]);
        raw_segment(dir.path(), 3, &[3]);
        let len = fs::metadata(&first).unwrap().len();
        OpenOptions::new().write(true).open(&first).unwrap().set_len(len - 2).unwrap();
        let err = TxnLog::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("log.0000000000000001"), "{err}");
    }

    #[test]
    fn non_monotonic_zxids_on_disk_are_errors() {
        let cases: [&[(u64, &[u64])]; 4] = [
            &[(5, &[5, 3])],            // decreasing within a segment
            &[(5, &[5, 5])],            // repeated
            &[(1, &[1, 9]), (8, &[8])], // next segment starts below the previous end
            &[(4, &[5])],               // first record does not match the name
        ];
        for layout in cases {
            let dir = TestDir::new("log-order");
            for (name, zxids) in layout {
                raw_segment(dir.path(), *name, zxids);
            }
            let err = TxnLog::open(dir.path()).err().unwrap();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{layout:?}");
            assert!(err.to_string().contains("zxid"), "{err}");
            assert!(replay_all(dir.path(), 0).is_err(), "{layout:?}");
        }
        let dir = TestDir::new("log-zero-name");
        raw_segment(dir.path(), 0, &[]);
        assert!(TxnLog::open(dir.path()).is_err());
    }

    #[test]
    fn segments_roll_and_replay_and_purge_across_them() {
        let dir = TestDir::new("log-roll");
        let (mut log, _) = TxnLog::open_with_segment_bytes(dir.path(), 200).unwrap();
        for z in 1..=40u64 {
            log.append(z, &payload(z)).unwrap();
            if z % 3 == 0 {
                log.sync().unwrap();
            }
        }
        assert_eq!(log.sync().unwrap(), 40);
        drop(log);

        let files = segment_files(dir.path());
        assert!(files.len() > 3, "expected several segments, got {}", files.len());
        for (name, path) in &files {
            assert!(fs::metadata(path).unwrap().len() < 200 + 64, "segment {name:#x} too large");
        }
        let (mut log, rec) = TxnLog::open_with_segment_bytes(dir.path(), 200).unwrap();
        assert_eq!((rec.records, rec.last_zxid, rec.segments), (40, 40, files.len()));
        let after: Vec<u64> = replay_all(dir.path(), 7).unwrap().iter().map(|(z, _)| *z).collect();
        assert_eq!(after, (8..=40).collect::<Vec<_>>());
        // Each segment's first record is its name, so names are exactly the roll points.
        for (name, path) in &files {
            let mut r = open_checked(path).unwrap();
            let Frame::Record(h, _) = r.next_record().unwrap() else { panic!() };
            assert_eq!(h.zxid, *name);
        }

        let keep_after = 25;
        let containing = files.iter().rev().find(|(n, _)| *n <= keep_after).unwrap().0;
        let removed = log.purge(keep_after).unwrap();
        let left = segment_files(dir.path());
        assert_eq!(removed, files.len() - left.len());
        assert!(removed > 0);
        assert_eq!(left[0].0, containing, "the segment holding the snapshot zxid is kept");
        let after: Vec<u64> = replay_all(dir.path(), keep_after).unwrap().iter().map(|(z, _)| *z).collect();
        assert_eq!(after, (26..=40).collect::<Vec<_>>());

        // Appending after a purge continues, and the log reopens.
        log.append(41, b"x").unwrap();
        log.sync().unwrap();
        drop(log);
        let (_, rec) = TxnLog::open_with_segment_bytes(dir.path(), 200).unwrap();
        assert_eq!((rec.first_zxid, rec.last_zxid), (containing, 41));
        assert_eq!(purge_log(dir.path(), 0).unwrap(), 0);
    }

    #[test]
    fn replay_stops_on_callback_error() {
        let dir = TestDir::new("log-replay-err");
        drop(write_log(dir.path(), [1, 2, 3]));
        let mut seen = 0;
        let err = replay::<io::Error, _>(dir.path(), 0, |z, _| {
            seen += 1;
            if z == 2 {
                Err(io::Error::other("stop"))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!((seen, err.to_string().as_str()), (2, "stop"));
    }

    #[test]
    fn open_replay_delivers_what_open_then_replay_do() {
        let dir = TestDir::new("log-open-replay");
        let (mut log, _) = TxnLog::open_with_segment_bytes(dir.path(), 200).unwrap();
        log.set_preallocation(0);
        for z in 1..=30u64 {
            log.append(z, &payload(z)).unwrap();
        }
        log.sync().unwrap();
        drop(log);
        // A torn last record: cut, then replayed by neither path.
        let last = segment_files(dir.path()).pop().unwrap().1;
        let len = fs::metadata(&last).unwrap().len();
        OpenOptions::new().write(true).open(&last).unwrap().set_len(len - 3).unwrap();
        let copy = TestDir::new("log-open-replay-copy");
        for (_, path) in segment_files(dir.path()) {
            fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
        }

        let (_, rec_a) = TxnLog::open(copy.path()).unwrap();
        let want = replay_all(copy.path(), 11).unwrap();
        let mut got = Vec::new();
        let (mut log, rec_b, summary) = TxnLog::open_replay::<io::Error, _>(dir.path(), 11, |z, p| {
            got.push((z, p.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(rec_a, rec_b);
        assert_eq!(rec_b.last_zxid, 29);
        assert!(rec_b.truncated_bytes > 0);
        assert_eq!(got, want);
        assert_eq!(got.iter().map(|(z, _)| *z).collect::<Vec<_>>(), (12..=29).collect::<Vec<_>>());
        assert_eq!((summary.records, summary.first_zxid, summary.last_zxid), (18, 12, 29));
        // The same repair on disk.
        let names = |d: &Path| -> Vec<(u64, Vec<u8>)> {
            segment_files(d).into_iter().map(|(n, p)| (n, fs::read(p).unwrap())).collect()
        };
        assert_eq!(names(dir.path()), names(copy.path()));
        // Appending continues after the truncated tail.
        log.append(30, b"again").unwrap();
        log.sync().unwrap();
    }

    #[test]
    fn open_replay_reports_corruption_and_callback_errors() {
        let dir = TestDir::new("log-open-replay-bad");
        drop(write_log(dir.path(), [1, 2, 3]));
        let path = segment_files(dir.path())[0].1.clone();
        let mut bytes = fs::read(&path).unwrap();
        let second = LOG_HEADER_BYTES as u64 + record_len(1);
        bytes[second as usize + FRAME_HEADER_BYTES] ^= 0x01;
        fs::write(&path, &bytes).unwrap();
        let err = TxnLog::open_replay::<io::Error, _>(dir.path(), 0, |_, _| Ok(())).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let msg = err.to_string();
        assert!(msg.contains(&format!("offset {second}")) && msg.contains("log.0000000000000001"), "{msg}");
        assert_eq!(fs::read(&path).unwrap(), bytes, "nothing truncated");

        let dir = TestDir::new("log-open-replay-stop");
        drop(write_log(dir.path(), [1, 2, 3]));
        let mut seen = Vec::new();
        let err = TxnLog::open_replay::<io::Error, _>(dir.path(), 0, |z, _| {
            seen.push(z);
            if z == 2 {
                Err(io::Error::other("stop"))
            } else {
                Ok(())
            }
        })
        .err()
        .unwrap();
        assert_eq!((seen, err.to_string()), (vec![1, 2], "stop".to_string()));
    }

    /// Records 1..=`last` in segments rolled at 200 bytes, each reserving `prealloc` bytes.
    fn write_segmented(dir: &Path, last: u64, prealloc: u64) -> Vec<(u64, PathBuf)> {
        let (mut log, _) = TxnLog::open_with_segment_bytes(dir, 200).unwrap();
        log.set_preallocation(prealloc);
        for z in 1..=last {
            log.append(z, &payload(z)).unwrap();
            if z % 4 == 0 {
                log.sync().unwrap();
            }
        }
        log.sync().unwrap();
        drop(log);
        segment_files(dir)
    }

    /// The records 1..=`last` as [`write_segmented`] and [`write_log`] write them.
    fn expected(last: u64) -> Vec<(u64, Vec<u8>)> {
        (1..=last).map(|z| (z, payload(z))).collect()
    }

    /// What recovery replays from `dir`.
    fn open_contents(dir: &Path) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        let (_, rec, _) = TxnLog::open_replay::<io::Error, _>(dir, 0, |z, p| {
            out.push((z, p.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(rec.records, out.len() as u64);
        out
    }

    /// Every file in `dir` with its bytes, by name.
    fn dir_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name().into_string().unwrap(), fs::read(e.path()).unwrap())
            })
            .collect();
        files.sort();
        files
    }

    fn copy_dir(from: &Path, to: &Path) {
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }

    /// A step hook that lets `n` steps run, then fails every later one like a crash.
    fn crash_after(n: usize) -> impl FnMut() -> io::Result<()> {
        let mut left = n;
        move || {
            if left == 0 {
                return Err(io::Error::other("simulated crash"));
            }
            left -= 1;
            Ok(())
        }
    }

    #[test]
    fn truncate_after_every_zxid_keeps_exactly_the_records_up_to_it() {
        for cut in 0..=41u64 {
            let dir = TestDir::new("log-trunc-every");
            let before = write_segmented(dir.path(), 40, 0);
            assert!(before.len() > 3, "several segments");
            let files_before = dir_files(dir.path());
            let kept = cut.min(40);

            let summary = truncate_log_after(dir.path(), cut).unwrap();
            let deleted = before.iter().filter(|(n, _)| *n > cut).count();
            assert_eq!(
                summary,
                TruncateSummary { records_dropped: 40 - kept, segments_deleted: deleted, last_zxid: kept },
                "cut {cut}"
            );
            assert!(!dir.path().join(TRUNCATE_MARKER_FILE).exists());
            let left: Vec<u64> = segment_files(dir.path()).iter().map(|(n, _)| *n).collect();
            let want: Vec<u64> = before.iter().map(|(n, _)| *n).filter(|n| *n <= cut).collect();
            assert_eq!(left, want, "cut {cut}");
            if cut >= 40 {
                assert_eq!(dir_files(dir.path()), files_before, "nothing above {cut}: nothing touched");
            }

            let (mut log, rec) = TxnLog::open(dir.path()).unwrap();
            assert_eq!((rec.records, rec.last_zxid, rec.truncated_bytes), (kept, kept, 0), "cut {cut}");
            assert_eq!(replay_all(dir.path(), 0).unwrap(), expected(kept), "cut {cut}");
            // The next epoch's records follow the kept ones.
            log.append(0x1_0000_0001, b"next epoch").unwrap();
            log.sync().unwrap();
            drop(log);
            let mut want = expected(kept);
            want.push((0x1_0000_0001, b"next epoch".to_vec()));
            assert_eq!(open_contents(dir.path()), want, "cut {cut}");
        }
    }

    #[test]
    fn truncate_keeps_the_preallocated_zero_tail() {
        let dir = TestDir::new("log-trunc-prealloc");
        let (mut log, _) = TxnLog::open_with_segment_bytes(dir.path(), 4096).unwrap();
        for z in 1..=10u64 {
            log.append(z, &payload(z)).unwrap();
        }
        log.sync().unwrap();
        drop(log);
        let path = segment_files(dir.path())[0].1.clone();
        let old = fs::read(&path).unwrap();
        assert!(old.len() >= 4096, "the segment is preallocated");
        let keep = LOG_HEADER_BYTES + (1..=6).map(|z| record_len(z) as usize).sum::<usize>();

        let summary = truncate_log_after(dir.path(), 6).unwrap();
        assert_eq!(summary, TruncateSummary { records_dropped: 4, segments_deleted: 0, last_zxid: 6 });
        let new = fs::read(&path).unwrap();
        assert_eq!(new.len(), old.len(), "the reserved size stays");
        assert_eq!(new[..keep], old[..keep]);
        assert!(new[keep..].iter().all(|b| *b == 0), "zeros after the cut");
        assert_ne!(old[keep..keep + 16], [0u8; 16], "record 7 was there before");

        let (mut log, rec) = TxnLog::open(dir.path()).unwrap();
        assert_eq!((rec.records, rec.last_zxid, rec.truncated_bytes), (6, 6, 0));
        log.append(0x1_0000_0001, b"next").unwrap();
        log.sync().unwrap();
        drop(log);
        assert_eq!(fs::metadata(&path).unwrap().len(), old.len() as u64, "appended inside the zeros");
        let mut want = expected(6);
        want.push((0x1_0000_0001, b"next".to_vec()));
        assert_eq!(open_contents(dir.path()), want);
    }

    #[test]
    fn truncate_log_all_drops_every_record() {
        let dir = TestDir::new("log-trunc-all");
        let before = write_segmented(dir.path(), 40, 256);
        let summary = truncate_log_all(dir.path()).unwrap();
        assert_eq!(summary, TruncateSummary { records_dropped: 40, segments_deleted: before.len(), last_zxid: 0 });
        assert!(segment_files(dir.path()).is_empty());
        assert!(dir_files(dir.path()).is_empty(), "no marker or temp file left");
        let (mut log, rec) = TxnLog::open(dir.path()).unwrap();
        assert_eq!(rec, LogRecovery::default());
        log.append(0x2_0000_0001, b"after snap").unwrap();
        log.sync().unwrap();
        drop(log);
        assert_eq!(open_contents(dir.path()), vec![(0x2_0000_0001, b"after snap".to_vec())]);

        assert_eq!(
            truncate_log_all(dir.path()).unwrap(),
            TruncateSummary { records_dropped: 1, segments_deleted: 1, last_zxid: 0 }
        );
        // Nothing to drop: an emptied log, an empty directory, a missing one.
        let files = dir_files(dir.path());
        assert_eq!(truncate_log_all(dir.path()).unwrap(), TruncateSummary::default());
        assert_eq!(dir_files(dir.path()), files);
        let empty = TestDir::new("log-trunc-empty");
        assert_eq!(truncate_log_after(empty.path(), 5).unwrap(), TruncateSummary::default());
        let missing = empty.path().join("missing");
        assert_eq!(truncate_log_all(&missing).unwrap(), TruncateSummary::default());
        assert!(!missing.exists());
    }

    #[test]
    fn truncate_cuts_a_torn_tail_too() {
        for (cut, want) in [(10u64, 2u64), (2, 2), (1, 1)] {
            let dir = TestDir::new("log-trunc-torn");
            drop(write_log(dir.path(), [1, 2, 3]));
            let path = segment_files(dir.path())[0].1.clone();
            let len = fs::metadata(&path).unwrap().len();
            OpenOptions::new().write(true).open(&path).unwrap().set_len(len - 3).unwrap();
            let summary = truncate_log_after(dir.path(), cut).unwrap();
            // The torn record 3 is no valid record: it is cut, not counted.
            assert_eq!(summary, TruncateSummary { records_dropped: 2 - want, segments_deleted: 0, last_zxid: want });
            let (_, rec) = TxnLog::open(dir.path()).unwrap();
            assert_eq!((rec.records, rec.truncated_bytes), (want, 0), "cut {cut}");
            assert_eq!(replay_all(dir.path(), 0).unwrap(), expected(want), "cut {cut}");
        }
    }

    #[test]
    fn truncate_refuses_a_corrupt_segment_and_changes_nothing() {
        for cut in [1u64, 2, 3] {
            let dir = TestDir::new("log-trunc-corrupt");
            drop(write_log(dir.path(), [1, 2, 3]));
            raw_segment(dir.path(), 4, &[4, 5]);
            let path = segment_files(dir.path())[0].1.clone();
            let mut bytes = fs::read(&path).unwrap();
            let second = LOG_HEADER_BYTES + record_len(1) as usize;
            bytes[second + FRAME_HEADER_BYTES + 1] ^= 0x40;
            fs::write(&path, &bytes).unwrap();
            let files = dir_files(dir.path());
            let err = truncate_log_after(dir.path(), cut).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "cut {cut}");
            assert!(err.to_string().contains(&format!("offset {second}")), "{err}");
            assert_eq!(dir_files(dir.path()), files, "cut {cut}: nothing changed, no marker");
        }
    }

    #[test]
    fn a_truncation_stopped_at_any_step_leaves_the_old_or_the_new_log() {
        let src = TestDir::new("log-trunc-crash-src");
        let segments = write_segmented(src.path(), 40, 256);
        let cut = 17;
        let above = segments.iter().filter(|(n, _)| *n > cut).count();
        assert!(above >= 2 && !segments.iter().any(|(n, _)| *n == cut + 1), "a cut inside a segment, segments after");
        let (old, new) = (expected(40), expected(cut));

        let mut n = 0;
        loop {
            let dir = TestDir::new("log-trunc-crash");
            copy_dir(src.path(), dir.path());
            let result = truncate_with(dir.path(), cut, &mut crash_after(n));
            let finished = match &result {
                Ok(summary) => {
                    assert_eq!(summary.records_dropped, 40 - cut);
                    true
                }
                Err(e) => {
                    assert_eq!(e.to_string(), "simulated crash");
                    false
                }
            };
            // Nothing changes before the marker is durable; everything after it counts as done.
            let want = if n == 0 { &old } else { &new };
            assert_eq!(&replay_all(dir.path(), 0).unwrap(), want, "read-only replay after step {n}");
            // Recovery finishes the truncation, and may itself be stopped at any step.
            for m in 0.. {
                let again = TestDir::new("log-trunc-crash-again");
                copy_dir(dir.path(), again.path());
                let redone = finish_pending_truncation(again.path(), &mut crash_after(m)).is_ok();
                assert_eq!(&open_contents(again.path()), want, "stopped at step {n}, then recovery at step {m}");
                assert!(!again.path().join(TRUNCATE_MARKER_FILE).exists());
                let names: Vec<u64> = segment_files(again.path()).iter().map(|(name, _)| *name).collect();
                assert!(want.len() == 40 || names.iter().all(|name| *name <= cut), "{names:?}");
                if redone {
                    break;
                }
            }
            if finished {
                break;
            }
            n += 1;
        }
        // Marker, each deletion, the cut, the directory fsync, removing the marker.
        assert_eq!(n, above + 4);
    }

    #[test]
    fn recovery_finishes_a_truncation_from_any_mix_of_its_effects() {
        // A crash can persist any subset of the unsynced deletions and the cut.
        let src = TestDir::new("log-trunc-mix-src");
        let segments = write_segmented(src.path(), 40, 256);
        let cut = 17;
        let done = TestDir::new("log-trunc-mix-done");
        copy_dir(src.path(), done.path());
        truncate_log_after(done.path(), cut).unwrap();
        let cut_name = segments.iter().rev().find(|(n, _)| *n <= cut).unwrap().0;
        let cut_file = numbered_name(LOG_PREFIX, cut_name);
        let above: Vec<&PathBuf> = segments.iter().filter(|(n, _)| *n > cut).map(|(_, p)| p).collect();
        assert!(above.len() >= 2);

        for mask in 0..1u32 << above.len() {
            for cut_done in [false, true] {
                let dir = TestDir::new("log-trunc-mix");
                copy_dir(src.path(), dir.path());
                write_u64_file_atomic(dir.path(), TRUNCATE_MARKER_FILE, cut).unwrap();
                for (i, path) in above.iter().enumerate() {
                    if mask & (1 << i) != 0 {
                        fs::remove_file(dir.path().join(path.file_name().unwrap())).unwrap();
                    }
                }
                if cut_done {
                    fs::copy(done.path().join(&cut_file), dir.path().join(&cut_file)).unwrap();
                }
                assert_eq!(open_contents(dir.path()), expected(cut), "mask {mask:b}, cut done {cut_done}");
                assert_eq!(dir_files(dir.path()), dir_files(done.path()), "mask {mask:b}, cut done {cut_done}");
            }
        }
    }

    #[test]
    fn a_pending_truncation_is_finished_before_the_next_one() {
        let dir = TestDir::new("log-trunc-pending");
        write_segmented(dir.path(), 40, 0);
        write_u64_file_atomic(dir.path(), TRUNCATE_MARKER_FILE, 30).unwrap();
        let summary = truncate_log_after(dir.path(), 17).unwrap();
        assert_eq!((summary.records_dropped, summary.last_zxid), (13, 17));
        assert_eq!(open_contents(dir.path()), expected(17));

        let dir = TestDir::new("log-trunc-pending-lower");
        write_segmented(dir.path(), 40, 0);
        write_u64_file_atomic(dir.path(), TRUNCATE_MARKER_FILE, 10).unwrap();
        assert_eq!(
            truncate_log_after(dir.path(), 17).unwrap(),
            TruncateSummary { records_dropped: 0, segments_deleted: 0, last_zxid: 10 }
        );
        assert_eq!(open_contents(dir.path()), expected(10));
        assert!(!dir.path().join(TRUNCATE_MARKER_FILE).exists());
    }

    #[test]
    fn unfinished_marker_temp_is_ignored_and_a_bad_marker_is_an_error() {
        let dir = TestDir::new("log-trunc-marker");
        drop(write_log(dir.path(), [1, 2, 3]));
        // A crash while the marker was written, before its rename: no truncation began.
        fs::write(dir.path().join(format!("{TRUNCATE_MARKER_FILE}.tmp")), b"1").unwrap();
        assert_eq!(open_contents(dir.path()), expected(3));

        fs::write(dir.path().join(TRUNCATE_MARKER_FILE), b"one\n").unwrap();
        let files = dir_files(dir.path());
        assert_eq!(TxnLog::open(dir.path()).err().unwrap().kind(), io::ErrorKind::InvalidData);
        assert_eq!(truncate_log_after(dir.path(), 1).unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert!(replay_all(dir.path(), 0).is_err());
        assert_eq!(dir_files(dir.path()), files);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300), with_header in any::<bool>()) {
            let dir = TestDir::new("log-prop");
            let mut bytes = if with_header { log_header().to_vec() } else { Vec::new() };
            bytes.extend_from_slice(&body);
            fs::write(dir.path().join("log.0000000000000001"), &bytes).unwrap();
            if let Ok((_, rec)) = TxnLog::open(dir.path()) {
                let replayed = replay_all(dir.path(), 0).unwrap();
                prop_assert_eq!(replayed.len() as u64, rec.records);
            }
        }

        /// One flipped byte anywhere is either reported, or was in the last record and only
        /// that record is dropped: never a silent loss of an earlier record.
        #[test]
        fn a_flipped_byte_never_loses_earlier_records(n in 1u64..6, pos in any::<prop::sample::Index>(), flip in 1u8..) {
            let dir = TestDir::new("log-flip");
            drop(write_log(dir.path(), 1..=n));
            let path = dir.path().join("log.0000000000000001");
            let mut bytes = fs::read(&path).unwrap();
            let i = pos.index(bytes.len());
            bytes[i] ^= flip;
            fs::write(&path, &bytes).unwrap();
            let last_start = bytes.len() as u64 - record_len(n);
            match TxnLog::open(dir.path()) {
                Ok((_, rec)) => {
                    prop_assert!(i as u64 >= last_start, "flip at {} went unnoticed", i);
                    prop_assert_eq!(rec.records, n - 1);
                }
                Err(e) => prop_assert_eq!(e.kind(), io::ErrorKind::InvalidData),
            }
        }
    }
}
