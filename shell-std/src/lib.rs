//! herd's std shell: runs the [`proto_core`] replica on Linux with TCP sockets (smol +
//! async-net) and files, and answers ZooKeeper's four-letter words.

pub mod config;
pub mod ensemble;
pub mod fourlw;
pub mod host;
pub mod memory;
pub mod peers;
pub mod recovery;
pub mod report;
pub mod serve;
pub mod snapshotter;
pub mod storage;
