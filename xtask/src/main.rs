//! See <https://github.com/matklad/cargo-xtask/>. Repository automation: `cargo xtask <command>`.
//!
//! This binary is the single place where the workspace's chores live, so that what CI does can be
//! reproduced on any machine with one command and no extra tools: `cargo xtask ci` runs exactly
//! the sequence `.ci/run` runs. It is std-only and starts in a blink.
//!
//! Layout, as in rust-analyzer's xtask: `flags.rs` parses the command line, each command lives in
//! its own file (`conformance.rs`, `loom.rs`, `ci.rs`, `tidy.rs`, `fuzz.rs`, `soak.rs`, `cluster.rs`) with
//! `impl flags::Command { fn run(&self) }`, and `main` only dispatches. Adding a command touches
//! `flags.rs`, one new file and one `match` arm below.

mod bench;
mod ci;
mod cluster;
mod conformance;
mod flags;
mod fuzz;
mod json;
mod libtest;
mod loom;
mod soak;
mod tidy;
mod util;
mod workspace;

use std::process::ExitCode;

fn main() -> ExitCode {
    let command = match flags::Xtask::from_args(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("error: {message}\n\n{}", flags::USAGE);
            return ExitCode::from(2);
        }
    };
    if let Err(error) = std::env::set_current_dir(util::project_root()) {
        eprintln!("error: cannot enter the workspace root: {error}");
        return ExitCode::FAILURE;
    }
    let result = match command {
        flags::Xtask::Help => {
            println!("{}", flags::USAGE);
            Ok(())
        }
        flags::Xtask::Conformance(cmd) => cmd.run().map(drop),
        flags::Xtask::Loom(cmd) => cmd.run().map(drop),
        flags::Xtask::Bench(cmd) => cmd.run(),
        flags::Xtask::Ci(cmd) => cmd.run(),
        flags::Xtask::Tidy(cmd) => cmd.run(),
        flags::Xtask::Fuzz(cmd) => cmd.run(),
        flags::Xtask::Soak(cmd) => cmd.run(),
        flags::Xtask::Cluster(cmd) => cmd.run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
