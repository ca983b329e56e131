//! What every command shares: the workspace root, the `cargo` to call, and running child
//! processes with their exit status checked and their command named when they fail.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Any error a command reports; `main` prints it and exits non-zero.
pub(crate) type Error = Box<dyn std::error::Error>;
/// The result every command returns.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// The workspace root: the parent of this crate's directory, as in rust-analyzer's xtask.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// A `cargo` command: the cargo that started us (`$CARGO`), so the toolchain stays the same.
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The command as a person would type it, with the environment it sets in front
/// (`RUSTFLAGS=... cargo test ...`), for logs and error messages.
pub(crate) fn display(cmd: &Command) -> String {
    let mut words: Vec<String> = cmd
        .get_envs()
        .filter_map(|(key, value)| {
            let value = value?;
            Some(format!("{}={}", key.to_string_lossy(), quote(value)))
        })
        .collect();
    let program = Path::new(cmd.get_program());
    words.push(
        program
            .file_name()
            .unwrap_or(program.as_os_str())
            .to_string_lossy()
            .into_owned(),
    );
    words.extend(cmd.get_args().map(quote));
    words.join(" ")
}

fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    if !word.is_empty() && !word.contains([' ', '"', '\'', '$', '\\']) {
        return word.into_owned();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Runs `cmd` with inherited standard streams and fails, naming the command, unless it succeeds.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", display(cmd));
    let status = cmd
        .status()
        .map_err(|error| format!("cannot start `{}`: {error}", display(cmd)))?;
    check(cmd, status)
}

/// Fails with a message naming `cmd` unless `status` is a success.
pub(crate) fn check(cmd: &Command, status: ExitStatus) -> Result<()> {
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", display(cmd)).into())
    }
}

/// Runs `cmd`, copying its standard output to ours as it arrives and handing each complete line
/// (with the instant it was read) to `on_line`. Standard error is inherited untouched. Returns
/// the exit status for the caller to judge: a failing test run still has output worth parsing.
pub(crate) fn stream(cmd: &mut Command, on_line: impl FnMut(&str, Instant)) -> Result<ExitStatus> {
    stream_to(cmd, &mut io::stdout(), on_line)
}

/// [`stream`], forwarding the output to `out`.
fn stream_to(
    cmd: &mut Command,
    out: &mut dyn Write,
    mut on_line: impl FnMut(&str, Instant),
) -> Result<ExitStatus> {
    eprintln!("$ {}", display(cmd));
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot start `{}`: {error}", display(cmd)))?;
    let mut child_stdout = child.stdout.take().expect("stdout was piped");
    let mut chunk = [0u8; 8192];
    let mut pending = Vec::new();
    loop {
        let read = match child_stdout.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(format!("reading `{}`: {error}", display(cmd)).into()),
        };
        // Forward at once, so a slow check is visible while it runs; parse whole lines only.
        out.write_all(&chunk[..read])?;
        out.flush()?;
        pending.extend_from_slice(&chunk[..read]);
        while let Some(end) = pending.iter().position(|&byte| byte == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            on_line(&String::from_utf8_lossy(&line[..end]), Instant::now());
        }
    }
    if !pending.is_empty() {
        on_line(&String::from_utf8_lossy(&pending), Instant::now());
    }
    child
        .wait()
        .map_err(|error| format!("waiting for `{}`: {error}", display(cmd)).into())
}

/// `0.42s`, `12.3s`, `4m05s`: short and readable in a table.
pub(crate) fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds < 10.0 {
        format!("{seconds:.2}s")
    } else if seconds < 60.0 {
        format!("{seconds:.1}s")
    } else {
        let whole = duration.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

/// Prints a section header, so long logs are easy to scan.
pub(crate) fn section(title: &str) {
    println!("\n==> {title}");
}

/// Runs the process pool's test `test` (a `harness = false` target of
/// `concurrent-futures-process`) in release, with `filter` and its output shown, and the
/// environment that sizes it: how `soak` and `fuzz` run at length what the suite runs bounded.
pub(crate) fn run_process_test(test: &str, filter: &[&str], env: &[(&str, u64)]) -> Result<()> {
    let mut cargo = cargo();
    cargo.args([
        "test",
        "--release",
        "--package",
        "concurrent-futures-process",
        "--test",
        test,
        "--",
    ]);
    cargo.args(filter).arg("--nocapture");
    for (key, value) in env {
        cargo.env(key, value.to_string());
    }
    run(&mut cargo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_shows_environment_program_and_quoted_arguments() {
        let mut cmd = Command::new("/usr/bin/cargo");
        cmd.env("RUSTFLAGS", "--cfg executor_loom").args([
            "test",
            "-p",
            "concurrent-futures-core",
            "--",
            "it's",
        ]);
        assert_eq!(
            display(&cmd),
            r"RUSTFLAGS='--cfg executor_loom' cargo test -p concurrent-futures-core -- 'it'\''s'"
        );
    }

    #[test]
    fn run_names_the_failing_command() {
        let error = run(Command::new("false").arg("--flag")).unwrap_err();
        assert!(
            error.to_string().contains("`false --flag` failed"),
            "{error}"
        );
    }

    #[test]
    fn stream_hands_over_every_line_including_an_unterminated_last_one() {
        let mut lines = Vec::new();
        let mut forwarded = Vec::new();
        let status = stream_to(
            Command::new("printf").arg("one\\ntwo\\nthree"),
            &mut forwarded,
            |line, _| lines.push(line.to_owned()),
        )
        .unwrap();
        assert!(status.success());
        assert_eq!(lines, ["one", "two", "three"]);
        assert_eq!(forwarded, b"one\ntwo\nthree");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(format_duration(Duration::from_millis(420)), "0.42s");
        assert_eq!(format_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(format_duration(Duration::from_secs(245)), "4m05s");
    }
}
