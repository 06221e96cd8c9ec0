//! herd
mod storage;
fn main() {}
