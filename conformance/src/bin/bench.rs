//! `bench`: herd against Apache ZooKeeper 3.8 in one run (see `src/bench/mod.rs`).
//!
//! `cargo run --release -p conformance --bin bench -- [--only zookeeper|herd] [--seconds 5]
//! [--clients 32] [--znodes 1000000] [--csv PATH] [--png PATH]`

#[path = "../bench/mod.rs"]
mod bench;

fn main() -> std::process::ExitCode {
    bench::main()
}
