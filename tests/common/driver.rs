//! Runs the official Python driver (`neo4j`) through the scripts in tests/py/.
//!
//! Why: the proxy must be judged by what a real driver sees, not by our own Bolt code. Each
//! script prints exactly one JSON line on stdout when the result is right and exits 1 with a
//! message on stderr when it is wrong; this module turns that into a value or a panic that
//! quotes stderr. Every run has a timeout after which the script is killed.

use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use super::{run_captured, Captured};

/// The Python interpreter: `BOLTGATE_PYTHON`, else `python3`.
pub fn python() -> String {
    std::env::var("BOLTGATE_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// tests/py/ in this checkout.
pub fn py_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("py")
}

/// A script that did not produce its one JSON line.
#[derive(Debug)]
pub struct PyFailure {
    pub script: String,
    pub args: Vec<String>,
    /// None when the script was killed at the timeout.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl PyFailure {
    /// The `FAIL: ...` line a script printed for a wrong result, if any.
    pub fn fail_message(&self) -> Option<&str> {
        self.stderr.lines().find_map(|l| l.strip_prefix("FAIL: "))
    }
}

impl std::fmt::Display for PyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.status {
            None => "timed out and was killed".to_string(),
            Some(s) => format!("exited with {s}"),
        };
        write!(
            f,
            "tests/py/{} {:?} {what}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.script,
            self.args,
            super::tail(&self.stdout, 2000),
            super::tail(&self.stderr, 6000)
        )
    }
}

/// Runs tests/py/`script` with `args`; returns its JSON line, or panics showing stderr.
pub fn run_py(script: &str, args: &[&str], timeout: Duration) -> serde_json::Value {
    try_run_py(script, args, timeout).unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`run_py`], but a failure (non-zero exit, timeout, no JSON line) is returned, for
/// tests that expect the driver to fail.
pub fn try_run_py(
    script: &str,
    args: &[&str],
    timeout: Duration,
) -> Result<serde_json::Value, PyFailure> {
    let mut cmd = Command::new(python());
    cmd.arg(py_dir().join(script))
        .args(args)
        .current_dir(py_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1");
    let Captured {
        status,
        stdout,
        stderr,
    } = run_captured(&format!("python {script}"), &mut cmd, timeout)
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python()));
    let failure = |status| PyFailure {
        script: script.to_string(),
        args: args.iter().map(|s| s.to_string()).collect(),
        status,
        stdout: stdout.clone(),
        stderr: stderr.clone(),
    };
    match status {
        Some(s) if s.success() => {
            let line = stdout.lines().rev().find(|l| !l.trim().is_empty());
            match line.map(serde_json::from_str) {
                Some(Ok(v)) => Ok(v),
                _ => Err(failure(Some(s))),
            }
        }
        other => Err(failure(other)),
    }
}
