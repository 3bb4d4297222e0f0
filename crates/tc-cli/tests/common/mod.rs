//! What the tests that run the real `tcbatch` share: the command, with its state kept in the
//! test's own temporary directory, and one run's exit status and output.

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

thread_local! {
    /// This test's state directory (each test runs on a thread of its own), removed when the
    /// test ends.
    static STATE_DIR: tempfile::TempDir = tempfile::Builder::new()
        .prefix("tcbatch-state-")
        .tempdir()
        .expect("a temporary state directory");
}

/// The state directory of the test running on this thread.
pub fn state_dir() -> PathBuf {
    STATE_DIR.with(|dir| dir.path().to_owned())
}

/// `tcbatch`, as the tests run it: its local coordinator keeps its state in this test's own
/// temporary directory, never in the real home directory's, shared by every command the
/// test runs as it is by every command an operator runs on one machine.
pub fn tcbatch_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tcbatch"));
    command.env("TCBATCH_STATE_DIR", state_dir());
    command
}

/// One run of `tcbatch`: what a user sees.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(output: Output) -> Run {
        Run {
            code: output.status.code().expect("exit status"),
            stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
            stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
        }
    }

    /// Everything a user sees, for snapshots.
    pub fn transcript(&self) -> String {
        format!(
            "exit status: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `command` with `stdin` written to its standard input.
pub fn run_with_stdin(command: &mut Command, stdin: &[u8]) -> Run {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tcbatch");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin)
        .expect("write stdin");
    Run::from_output(child.wait_with_output().expect("wait for tcbatch"))
}

/// A file of the repository's `examples/` folder.
pub fn example(name: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "..", "..", "examples", name]
        .iter()
        .collect()
}
