//! herd's embedded shell: runs the same [`proto_core`] replica over embassy-net sockets and
//! flash storage. This crate holds the shell's no_std, no-alloc boundary today; the embassy
//! pump arrives with the embedded issue, and the no-std proof (`nostd-check/`) already links it.
#![no_std]
#![forbid(unsafe_code)]

pub use proto_core;
