//! Start-up: the newest valid snapshot, then every logged txn after it.

use std::io;
use std::time::Instant;

use proto_core::server::snapshot::SnapshotRestore;
use proto_core::server::Server;

use crate::config::Config;
use crate::serve::Clock;
use crate::storage::{latest_snapshot, TxnLog};

/// Restores `server` from the data and log directories and returns the opened log (its
/// torn tail, if any, already cut off).
///
/// The log is checked and replayed in one pass ([`TxnLog::open_replay`]); on any error the
/// server is left half-built and must be dropped, as the caller does by exiting. Logs at
/// info level where the time went.
pub fn recover(server: &mut Server<'static>, config: &Config, clock: &Clock) -> io::Result<TxnLog> {
    recover_with(server, config, clock, |_, _| {})
}

/// [`recover`], also handing every replayed log record (zxid, payload) to `on_record`: an
/// ensemble member keeps the newest ones for DIFF.
pub fn recover_with(
    server: &mut Server<'static>,
    config: &Config,
    clock: &Clock,
    mut on_record: impl FnMut(u64, &[u8]),
) -> io::Result<TxnLog> {
    let now = clock.now();
    let t0 = Instant::now();
    let snapshot = latest_snapshot(&config.data_dir)?;
    let t_found = Instant::now();
    let mut snapshot_records = 0u64;
    if let Some(snap) = snapshot {
        log::info!("loading snapshot {} ({} records)", snap.path.display(), snap.record_count);
        let mut restore = SnapshotRestore::new(server, now);
        let mut records = snap.records()?;
        // Records the last read-ahead hint covered and that are not restored yet.
        let mut hinted = 0usize;
        loop {
            if hinted == 0 {
                hinted = restore.prefetch(records.buffered_payloads());
            }
            let Some(payload) = records.next_payload()? else { break };
            hinted = hinted.saturating_sub(1);
            restore
                .record(payload)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", snap.path.display())))?;
            snapshot_records += 1;
        }
    }
    let t_restored = Instant::now();
    let after = server.last_zxid().0;
    let (log, found, summary) = TxnLog::open_replay(&config.data_log_dir, after, |zxid, payload| {
        on_record(zxid, payload);
        server.replay(now, payload).map(|_| ()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("txn log record at zxid 0x{zxid:x} does not apply: {e:?}"),
            )
        })
    })?;
    let t_replayed = Instant::now();
    if found.truncated_bytes > 0 {
        log::warn!("txn log: dropped a torn tail of {} bytes (a write cut short by a crash)", found.truncated_bytes);
    }
    if summary.records > 0 {
        log::info!(
            "replayed {} txns from the log (0x{:x}..=0x{:x})",
            summary.records,
            summary.first_zxid,
            summary.last_zxid
        );
    }
    server.finish_recovery(clock.now());
    log::info!(
        "recovery timing: snapshot found and checked in {:?}, {} records restored in {:?}, \
         log of {} records in {} segments checked with {} txns replayed in {:?}, total {:?}",
        t_found - t0,
        snapshot_records,
        t_restored - t_found,
        found.records,
        found.segments,
        summary.records,
        t_replayed - t_restored,
        t0.elapsed()
    );
    Ok(log)
}
