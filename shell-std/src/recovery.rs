//! Start-up: the newest valid snapshot, then every logged txn after it.

use std::io;

use proto_core::server::Server;

use crate::config::Config;
use crate::serve::Clock;
use crate::storage::{latest_snapshot, replay, TxnLog};

/// Restores `server` from the data and log directories and returns the opened log (its
/// torn tail, if any, already cut off).
pub fn recover(server: &mut Server<'static>, config: &Config, clock: &Clock) -> io::Result<TxnLog> {
    let now = clock.now();
    if let Some(snap) = latest_snapshot(&config.data_dir)? {
        log::info!("loading snapshot {} ({} records)", snap.path.display(), snap.record_count);
        for record in snap.records()? {
            let record = record?;
            server.restore_snapshot_record(now, &record).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", snap.path.display()))
            })?;
        }
    }
    let (log, found) = TxnLog::open(&config.data_log_dir)?;
    if found.truncated_bytes > 0 {
        log::warn!("txn log: dropped a torn tail of {} bytes (a write cut short by a crash)", found.truncated_bytes);
    }
    let after = server.last_zxid().0;
    let summary = replay(&config.data_log_dir, after, |zxid, payload| {
        server.replay(now, payload).map(|_| ()).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("txn log record at zxid 0x{zxid:x} does not apply: {e:?}"))
        })
    })?;
    if summary.records > 0 {
        log::info!(
            "replayed {} txns from the log (0x{:x}..=0x{:x})",
            summary.records,
            summary.first_zxid,
            summary.last_zxid
        );
    }
    server.finish_recovery(clock.now());
    Ok(log)
}
