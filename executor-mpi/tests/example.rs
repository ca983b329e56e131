//! The example of the README, `examples/mpi_primes.rs`, run as a user would: under
//! `mpirun -n 3` (pre-launched) and under `mpirun -n 1` with `--spawn 2` (spawned). It submits
//! and maps real work (counting primes) and checks its own answers; this test checks that it
//! printed them and exited with success in both modes.
//!
//! `cargo test` builds the examples next to the test binaries (`target/<profile>/examples`);
//! where `mpirun` or the example binary is missing (`cargo test --test example` alone does not
//! build examples) the test says so and is ignored.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{Launch, PRE_LAUNCHED};

/// What the example prints when both of its computations came out right.
const EXPECTED: [&str; 2] = [
    "148933 primes below 2000000",
    "primes in [1e9, 1e9 + 200): [1000000007,",
];

/// One launch of the example must end by then (it takes seconds).
const TIMEOUT: Duration = Duration::from_secs(300);

/// The spawned launch: rank 0 alone, which spawns the workers itself.
const SPAWNING: Launch = Launch {
    ranks: "1",
    args: &[],
};

fn main() {
    let Some(mpirun) = common::find_on_path("mpirun") else {
        return ignored("mpirun is not installed");
    };
    let example = example_binary();
    if !example.is_file() {
        return ignored("the example is not built: run `cargo test -p concurrent-futures-mpi`");
    }
    println!("\nrunning 2 tests");
    let runs = [
        ("pre_launched", PRE_LAUNCHED, vec![]),
        ("spawned", SPAWNING, vec!["--spawn", "2"]),
    ];
    let mut failed = 0;
    for (name, how, args) in runs {
        match run(&mpirun, how, &example, &args) {
            Ok(()) => println!("test mpi_primes::{name} ... ok"),
            Err(problem) => {
                failed += 1;
                println!("test mpi_primes::{name} ... FAILED\n{problem}");
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out",
        if failed == 0 { "ok" } else { "FAILED" },
        2 - failed
    );
    if failed > 0 {
        std::process::exit(1);
    }
}

/// Runs the example once; what went wrong, if anything.
fn run(
    mpirun: &std::path::Path,
    how: Launch,
    example: &PathBuf,
    args: &[&str],
) -> Result<(), String> {
    let mut command = common::mpirun_command(mpirun.to_path_buf(), how);
    let output_path = std::env::temp_dir().join(format!(
        "executor-mpi-example-{}-{}.out",
        std::process::id(),
        how.ranks
    ));
    let output_file = std::fs::File::create(&output_path).map_err(|e| e.to_string())?;
    command
        .arg(example)
        .args(args)
        .stdout(Stdio::from(output_file))
        .stderr(Stdio::inherit());
    let child = command
        .spawn()
        .map_err(|e| format!("mpirun did not start: {e}"))?;
    let status = common::wait_bounded(child, TIMEOUT);
    let output = std::fs::read_to_string(&output_path).unwrap_or_default();
    let _ = std::fs::remove_file(&output_path);
    let status = status.ok_or_else(|| format!("did not end within {TIMEOUT:?}:\n{output}"))?;
    if !status.success() {
        return Err(format!("exited with {status}:\n{output}"));
    }
    match EXPECTED.iter().find(|line| !output.contains(*line)) {
        Some(missing) => Err(format!("its output lacks {missing:?}:\n{output}")),
        None => Ok(()),
    }
}

/// `target/<profile>/examples/mpi_primes`, beside this test's `deps` directory.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in target/<profile>/deps");
    profile_dir.join("examples").join("mpi_primes")
}

fn ignored(reason: &str) {
    println!("notice: the mpi_primes example test is skipped: {reason}");
    println!("test mpi_primes ... ignored ({reason})");
    println!("\ntest result: ok. 0 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out");
}
