//! Snapshots taken without pausing the server: a forked child writes the parent's state as
//! it was at the fork (the kernel's copy-on-write gives a consistent image for free), while
//! the parent keeps serving. When the child succeeds, old snapshots and the log segments
//! they cover are purged.

use std::path::PathBuf;

use proto_core::server::Server;
use proto_core::Zxid;
use smol::channel::Sender;

use crate::config::Config;
use crate::serve::Event;
use crate::storage::{purge_log, purge_snapshots, SnapshotWriter};

/// Runs at most one snapshot child at a time.
pub struct Snapshotter {
    data_dir: PathBuf,
    log_dir: PathBuf,
    retain: usize,
    running: bool,
}

impl Snapshotter {
    /// A snapshotter writing into `data_dir`.
    pub fn new(data_dir: PathBuf, config: &Config) -> Snapshotter {
        Snapshotter {
            data_dir,
            log_dir: config.data_log_dir.clone(),
            retain: config.snap_retain_count.max(3) as usize,
            running: false,
        }
    }

    /// True while a child is writing.
    pub fn running(&self) -> bool {
        self.running
    }

    /// Forks a child that writes the current state; `events` learns when it is done.
    pub fn start(&mut self, server: &Server<'static>, events: Sender<Event>) {
        let zxid = server.last_zxid();
        // SAFETY: fork() in a process with other threads: the child only runs this thread.
        // It uses the allocator (glibc makes malloc fork-safe) and plain file I/O, takes no
        // lock another thread could hold, and leaves through _exit without running
        // destructors or atexit handlers.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            log::warn!("snapshot at zxid {zxid}: fork failed: {}", std::io::Error::last_os_error());
            return;
        }
        if pid == 0 {
            let ok = write_snapshot(server, &self.data_dir, zxid);
            // SAFETY: ends the child without touching state shared with the parent.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        self.running = true;
        log::info!("snapshot at zxid {zxid}: writing in child process {pid}");
        std::thread::spawn(move || {
            let mut status = 0;
            // SAFETY: waits for our own child; status is a valid out pointer.
            let r = unsafe { libc::waitpid(pid, &mut status, 0) };
            let ok = r == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
            let _ = events.send_blocking(Event::SnapshotDone { zxid, ok });
        });
    }

    /// The child finished: purge what the new snapshot makes unnecessary.
    pub fn finished(&mut self, zxid: Zxid, ok: bool) {
        self.running = false;
        if !ok {
            log::warn!("snapshot at zxid {zxid} failed; the log keeps everything");
            return;
        }
        log::info!("snapshot at zxid {zxid} written");
        match purge_snapshots(&self.data_dir, self.retain) {
            Ok(Some(oldest)) => {
                if let Err(e) = purge_log(&self.log_dir, oldest) {
                    log::warn!("purging txn log segments older than 0x{oldest:x}: {e}");
                }
            }
            Ok(None) => {}
            Err(e) => log::warn!("purging old snapshots: {e}"),
        }
    }
}

fn write_snapshot(server: &Server<'static>, dir: &std::path::Path, zxid: Zxid) -> bool {
    let run = || -> std::io::Result<()> {
        let mut w = SnapshotWriter::create(dir, zxid.0)?;
        let mut scratch = vec![0u8; 2 * server.limits().packet_bytes_max as usize + 4096];
        server
            .write_snapshot(&mut scratch, |rec| w.write_record(rec))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        w.finish()?;
        Ok(())
    };
    match run() {
        Ok(()) => true,
        Err(e) => {
            eprintln!("snapshot at zxid {zxid}: {e}");
            false
        }
    }
}
