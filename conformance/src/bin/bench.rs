//! `bench`: herd against Apache ZooKeeper 3.8 in one run (see `src/bench/mod.rs`).
//!
//! `cargo run --release -p conformance --bin bench -- [--only zookeeper|herd] [--seconds 3 | --quick]
//! [--clients 1,8,32] [--ops get,set,create,mixed] [--modes sync,pipelined] [--pipeline-depth 16]
//! [--seed 1] [--znodes 1000000] [--no-ensemble | --ensemble-only] [--csv PATH] [--png PATH]`

#[path = "../bench/mod.rs"]
mod bench;

fn main() -> std::process::ExitCode {
    bench::main()
}
