//! `herd`: a ZooKeeper-compatible coordination server.
//!
//! `herd server [zoo.cfg]` runs a server from ZooKeeper's own configuration file; with no
//! file it serves standalone on 127.0.0.1:2181 with its data in ./herd-data.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shell_std::{config, serve};

#[derive(Parser)]
#[command(name = "herd", version, about = "A ZooKeeper-compatible coordination service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a server from a zoo.cfg (standalone on 127.0.0.1:2181, data in ./herd-data, without one).
    Server {
        /// ZooKeeper configuration file.
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Server { config } => {
            let config = match config {
                Some(path) => match config::Config::load(&path) {
                    Ok(c) => c,
                    Err(e) => {
                        log::error!("{}: {e}", path.display());
                        return ExitCode::from(2);
                    }
                },
                None => config::Config::standalone_default(),
            };
            match serve::run(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    log::error!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
