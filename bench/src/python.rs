//! The CPython anchors: `bench/python/anchors.py`, run with the machine's `python3`.
//!
//! One interpreter serves a whole workload (`--serve`: a JSON request per line in, a JSON answer
//! per line out), so CPython is interleaved with the Rust contenders and, like them, does not pay
//! its start-up in every measurement. The memory figures use `--once` instead: a fresh process
//! per measurement, as for ours.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::Value;

/// The interpreter: `$EXECUTOR_BENCH_PYTHON`, or `python3`.
pub(crate) fn interpreter() -> String {
    std::env::var("EXECUTOR_BENCH_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// The anchors script, found next to this crate's sources.
fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/anchors.py")
}

/// A running `anchors.py --serve`.
#[derive(Debug)]
pub struct Python {
    child: Child,
    /// `None` once dropped: closing it ends the serve loop.
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    version: String,
}

impl Python {
    /// Starts the interpreter; the error says why there is none (the caller skips CPython).
    pub fn start() -> Result<Python, String> {
        let mut child = Command::new(interpreter())
            .arg(script())
            .arg("--serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot start `{}`: {error}", interpreter()))?;
        let stdin = child.stdin.take().expect("stdin was piped");
        let stdout = BufReader::new(child.stdout.take().expect("stdout was piped"));
        let mut python = Python {
            child,
            stdin: Some(stdin),
            stdout,
            version: String::new(),
        };
        let reply = python.exchange(&serde_json::json!({"workload": "version"}))?;
        python.version = reply
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        Ok(python)
    }

    /// The interpreter's version, `3.11.7`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Whether the version is at least `major.minor`.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        let mut parts = self.version.split('.').map(|part| part.parse::<u32>().ok());
        match (parts.next().flatten(), parts.next().flatten()) {
            (Some(have_major), Some(have_minor)) => (have_major, have_minor) >= (major, minor),
            _ => false,
        }
    }

    /// Runs one measurement in the warm interpreter; one figure per metric.
    pub fn measure(&mut self, request: &Value) -> Result<Vec<f64>, String> {
        figures(&self.exchange(request)?)
    }

    /// Runs one measurement in a fresh interpreter (`--once`).
    pub fn measure_once(request: &Value) -> Result<Vec<f64>, String> {
        let output = Command::new(interpreter())
            .arg(script())
            .arg("--once")
            .arg(request.to_string())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|error| format!("cannot start `{}`: {error}", interpreter()))?;
        if !output.status.success() {
            return Err(format!("anchors.py --once failed: {}", output.status));
        }
        let reply: Value = serde_json::from_slice(&output.stdout)
            .map_err(|error| format!("anchors.py answered no JSON: {error}"))?;
        figures(&reply)
    }

    fn exchange(&mut self, request: &Value) -> Result<Value, String> {
        let broken = |error: std::io::Error| format!("anchors.py --serve: {error}");
        let stdin = self.stdin.as_mut().expect("stdin is open until drop");
        writeln!(stdin, "{request}").map_err(broken)?;
        stdin.flush().map_err(broken)?;
        let mut line = String::new();
        if self.stdout.read_line(&mut line).map_err(broken)? == 0 {
            return Err("anchors.py --serve exited".to_owned());
        }
        serde_json::from_str(&line).map_err(|error| format!("anchors.py answered no JSON: {error}"))
    }
}

/// The figures of an answer, or its error.
fn figures(reply: &Value) -> Result<Vec<f64>, String> {
    if let Some(error) = reply.get("error").and_then(Value::as_str) {
        return Err(format!("CPython: {error}"));
    }
    reply
        .get("values")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("anchors.py answered without values: {reply}"))?
        .iter()
        .map(|value| {
            value
                .as_f64()
                .ok_or_else(|| format!("not a number: {value}"))
        })
        .collect()
}

impl Drop for Python {
    fn drop(&mut self) {
        // Closing stdin ends the serve loop; the interpreter exits on its own.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
