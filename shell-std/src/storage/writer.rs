//! The durable-writer thread: owns the [`TxnLog`] so the core thread never waits on fsync.
//!
//! Loop: block for one record, drain whatever else is queued (up to [`MAX_BATCH_BYTES`]),
//! append it all, fsync once, report the durable zxid, repeat. Records that arrive during an
//! fsync form the next batch, which is group commit without any timer.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::{self, JoinHandle};

use super::txnlog::{purge_log, TxnLog};

/// Most payload bytes written per fsync: bounds how long one batch holds back the durable
/// report when the queue is deep (about a quarter second of a slow disk's bandwidth).
pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// One record for the writer thread.
struct Append {
    zxid: u64,
    payload: Vec<u8>,
}

/// Starts the durable-writer thread.
pub struct LogWriter;

impl LogWriter {
    /// Moves `log` onto a new thread named `herd-log-writer`.
    ///
    /// `on_durable` runs on that thread after every fsync with `Ok(last durable zxid)`, or once
    /// with `Err` when an append, write or fsync fails; the thread then stops, because what
    /// reached the disk is unknown and the server must not acknowledge anything more.
    pub fn spawn<F>(log: TxnLog, on_durable: F) -> io::Result<LogWriterHandle>
    where
        F: Fn(io::Result<u64>) + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let dir = log.dir().to_path_buf();
        let thread = thread::Builder::new().name("herd-log-writer".into()).spawn(move || run(log, &rx, &on_durable))?;
        Ok(LogWriterHandle { tx: Some(tx), thread: Some(thread), dir })
    }
}

/// The core thread's side of the writer: submit records, shut down.
///
/// The queue is unbounded; the core bounds it by the proposals it keeps outstanding.
/// Dropping the handle lets the thread write and fsync what is queued, then exit.
pub struct LogWriterHandle {
    tx: Option<Sender<Append>>,
    thread: Option<JoinHandle<Option<TxnLog>>>,
    dir: PathBuf,
}

impl LogWriterHandle {
    /// Queues one record without blocking; `BrokenPipe` once the writer has stopped.
    ///
    /// Zxids must increase; a lower one stops the writer with an error via the callback.
    pub fn submit(&self, zxid: u64, payload: Vec<u8>) -> io::Result<()> {
        let stopped = || io::Error::new(io::ErrorKind::BrokenPipe, "log writer has stopped");
        let tx = self.tx.as_ref().ok_or_else(stopped)?;
        tx.send(Append { zxid, payload }).map_err(|_| stopped())
    }

    /// Deletes log segments holding only zxids ≤ `keep_after_zxid` (see [`purge_log`]).
    ///
    /// Runs on the calling thread and blocks on file removal and a directory fsync.
    pub fn purge(&self, keep_after_zxid: u64) -> io::Result<usize> {
        purge_log(&self.dir, keep_after_zxid)
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes and fsyncs everything queued, stops the thread and returns the log.
    ///
    /// `Err` if the writer had stopped on an error (already reported through the callback)
    /// or its thread panicked.
    pub fn shutdown(mut self) -> io::Result<TxnLog> {
        drop(self.tx.take());
        let thread = self.thread.take().ok_or_else(|| io::Error::other("log writer already joined"))?;
        match thread.join() {
            Ok(Some(log)) => Ok(log),
            Ok(None) => Err(io::Error::other("log writer stopped after an error")),
            Err(_) => Err(io::Error::other("log writer thread panicked")),
        }
    }
}

/// The thread body; returns the log on a clean shutdown, `None` after an error.
fn run(mut log: TxnLog, rx: &Receiver<Append>, on_durable: &dyn Fn(io::Result<u64>)) -> Option<TxnLog> {
    loop {
        // All senders gone and nothing queued: everything submitted is already durable.
        let Ok(first) = rx.recv() else {
            return Some(log);
        };
        let mut batch_bytes = first.payload.len();
        let mut disconnected = false;
        if let Err(e) = log.append(first.zxid, &first.payload) {
            on_durable(Err(e));
            return None;
        }
        while batch_bytes < MAX_BATCH_BYTES {
            let next = match rx.try_recv() {
                Ok(next) => next,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    disconnected = true;
                    break;
                }
            };
            batch_bytes += next.payload.len();
            if let Err(e) = log.append(next.zxid, &next.payload) {
                on_durable(Err(e));
                return None;
            }
        }
        match log.sync() {
            Ok(zxid) => on_durable(Ok(zxid)),
            Err(e) => {
                on_durable(Err(e));
                return None;
            }
        }
        if disconnected {
            return Some(log);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_dir::TestDir;
    use super::super::txnlog::replay;
    use super::*;
    use std::sync::{Arc, Mutex};

    type Reports = Arc<Mutex<Vec<Result<u64, io::ErrorKind>>>>;

    fn recorder() -> (Reports, impl Fn(io::Result<u64>) + Send + 'static) {
        let reports: Reports = Arc::default();
        let sink = Arc::clone(&reports);
        (reports, move |r: io::Result<u64>| sink.lock().unwrap().push(r.map_err(|e| e.kind())))
    }

    #[test]
    fn batches_are_durable_and_reported_in_order() {
        let dir = TestDir::new("writer");
        let (log, _) = TxnLog::open(dir.path()).unwrap();
        let (reports, cb) = recorder();
        let handle = LogWriter::spawn(log, cb).unwrap();
        for zxid in 1..=500u64 {
            handle.submit(zxid, zxid.to_le_bytes().to_vec()).unwrap();
        }
        let log = handle.shutdown().unwrap();
        assert_eq!(log.durable_zxid(), 500);

        let reports = reports.lock().unwrap().clone();
        let zxids: Vec<u64> = reports.iter().map(|r| *r.as_ref().unwrap()).collect();
        assert!(zxids.windows(2).all(|w| w[0] < w[1]), "reports must increase: {zxids:?}");
        assert_eq!(zxids.last(), Some(&500));
        // One report per batch, and each batch cost one data fsync plus the directory fsync
        // of the single segment created by the first batch.
        assert_eq!(log.fsync_count(), zxids.len() as u64 + 1);

        let mut seen = Vec::new();
        replay::<io::Error, _>(dir.path(), 0, |z, p| {
            assert_eq!(p, z.to_le_bytes());
            seen.push(z);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, (1..=500).collect::<Vec<_>>());
    }

    #[test]
    fn a_bad_zxid_stops_the_writer_with_an_error() {
        let dir = TestDir::new("writer-err");
        let (log, _) = TxnLog::open(dir.path()).unwrap();
        let (reports, cb) = recorder();
        let handle = LogWriter::spawn(log, cb).unwrap();
        handle.submit(5, b"a".to_vec()).unwrap();
        handle.submit(4, b"b".to_vec()).unwrap();
        assert!(handle.shutdown().is_err());
        let reports = reports.lock().unwrap().clone();
        assert_eq!(reports.last(), Some(&Err(io::ErrorKind::InvalidInput)));
        assert!(reports.iter().filter(|r| r.is_err()).count() == 1);
    }

    #[test]
    fn submit_fails_once_the_writer_is_gone() {
        let dir = TestDir::new("writer-gone");
        let (log, _) = TxnLog::open(dir.path()).unwrap();
        let (done_tx, done_rx) = mpsc::channel();
        let handle = LogWriter::spawn(log, move |r: io::Result<u64>| {
            let _ = done_tx.send(r.is_err());
        })
        .unwrap();
        handle.submit(2, Vec::new()).unwrap();
        handle.submit(1, Vec::new()).unwrap();
        // Wait for the error report, then for the thread to drop its receiver.
        while !done_rx.recv().unwrap() {}
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut result = handle.submit(3, Vec::new());
        while result.is_ok() && std::time::Instant::now() < deadline {
            thread::sleep(std::time::Duration::from_millis(1));
            result = handle.submit(3, Vec::new());
        }
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    }
}
