//! `cargo xtask contract`: the relay held to its own OpenAPI document. `tcbatch serve --mock`
//! runs on a free port of 127.0.0.1, and schemathesis, an OpenAPI-driven fuzzer, sends it the
//! requests the document describes (valid and invalid) and fails on any 5xx, any status the
//! document does not list for the operation, any body that breaks its schema and any answer
//! of an undocumented content type.
//!
//! Repeatable and bounded: the fuzzer and everything it imports are pinned
//! (`xtask/contract-requirements.txt`), the seed and the examples per operation are fixed, one
//! worker sends, and a run that outlasts [`DEADLINE`] is stopped and fails. The fuzzer lives in
//! a virtualenv under the target directory, made on the first run and kept while the pins are
//! unchanged, so a fresh machine needs nothing but Python 3.11 or later with its `venv` module.

use crate::{cargo, target_dir, workspace_root};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Every package the fuzzer runs with, pinned.
const REQUIREMENTS: &str = include_str!("../contract-requirements.txt");

/// The checks the relay must pass on every answer (schemathesis's names).
const CHECKS: &str = "not_a_server_error,status_code_conformance,response_schema_conformance,\
                      content_type_conformance,response_headers_conformance";

/// Test cases per operation and phase.
const MAX_EXAMPLES: u64 = 100;

/// The fuzzer's seed: the same requests on every run.
const SEED: u64 = 20_261_208;

/// The longest a run may take before it is stopped as failed: several times what it takes on
/// the project's 2-core machine, so only a hang or a runaway trips it.
const DEADLINE: Duration = Duration::from_secs(240);

/// How long the relay may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A request that takes longer than this is a failure of its own.
const REQUEST_TIMEOUT_SECONDS: &str = "10";

pub fn contract(options: &[String]) -> Result<()> {
    crate::reject_unknown(options, &[], &["--max-examples", "--seed"])?;
    let examples = crate::numeric_option(options, "--max-examples", MAX_EXAMPLES)?;
    let seed = crate::numeric_option(options, "--seed", SEED)?;
    let started = Instant::now();
    let work = target_dir().join("contract");
    let schemathesis = fuzzer(&target_dir().join("schemathesis-venv"))?;
    let tcbatch = build_tcbatch()?;
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("clearing {}", work.display()))?;
    }
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let mut relay = Relay::start(&tcbatch, &work)?;
    println!(
        "xtask contract: {examples} examples per operation, seed {seed}, against {}",
        relay.base
    );
    let fuzzed = fuzz(&schemathesis, &relay.base, &work, examples, seed);
    let relay_alive = relay.child.try_wait().ok().flatten().is_none();
    if relay_alive {
        // What the relay made of the requests: how many posts it took, refused and why.
        match requests_answered(&relay.base) {
            Ok(counts) => println!("xtask contract: the relay's answers: {counts}"),
            Err(err) => println!("xtask contract: the relay's metrics could not be read: {err:#}"),
        }
    }
    relay.stop();
    let log = work.join("relay.log");
    let outcome = match fuzzed {
        Err(err) => Err(err),
        Ok(_) if !relay_alive => Err(anyhow::anyhow!(
            "the relay exited while the fuzzer ran: see its log, {}",
            log.display()
        )),
        Ok(status) if !status.success() => Err(anyhow::anyhow!(
            "the relay answered against its OpenAPI document ({status}): each failure above \
             names the request, the check and a curl line to repeat it; the relay's log is {}",
            log.display()
        )),
        Ok(_) => Ok(()),
    };
    println!(
        "xtask contract: {} in {:.0} s",
        if outcome.is_ok() { "passed" } else { "failed" },
        started.elapsed().as_secs_f64()
    );
    outcome
}

/// The fuzzer's executable in the virtualenv at `venv`, installed first unless the venv holds
/// exactly the pinned packages already.
fn fuzzer(venv: &Path) -> Result<PathBuf> {
    let bin = venv.join("bin");
    let schemathesis = bin.join("schemathesis");
    let marker = venv.join("contract-requirements.txt");
    let installed = std::fs::read_to_string(&marker).ok();
    if schemathesis.exists() && installed.as_deref() == Some(REQUIREMENTS) {
        return Ok(schemathesis);
    }
    let python = python3()?;
    println!(
        "xtask contract: installing the fuzzer into {}",
        venv.display()
    );
    if venv.exists() {
        std::fs::remove_dir_all(venv).with_context(|| format!("clearing {}", venv.display()))?;
    }
    let made = Command::new(&python)
        .args(["-m", "venv"])
        .arg(venv)
        .status()
        .context("running python3 -m venv")?;
    if !made.success() {
        bail!(
            "`python3 -m venv {}` failed ({made}): the contract test needs Python's venv module \
             (on Debian and Ubuntu: apt-get install python3-venv)",
            venv.display()
        );
    }
    let requirements = venv.join("requirements.txt");
    std::fs::write(&requirements, REQUIREMENTS)?;
    let pip = Command::new(bin.join("pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "-r",
        ])
        .arg(&requirements)
        .status()
        .context("running the virtualenv's pip")?;
    if !pip.success() {
        bail!(
            "pip could not install the pinned fuzzer ({pip}); is the package registry \
             reachable? The pins are in xtask/contract-requirements.txt"
        );
    }
    std::fs::write(&marker, REQUIREMENTS)?;
    Ok(schemathesis)
}

/// The oldest Python the pinned fuzzer installs on (its `Requires-Python`).
const PYTHON_AT_LEAST: (u32, u32) = (3, 11);

/// `python3`, checked to be recent enough and to have `venv`: the one thing the contract test
/// needs from the machine.
fn python3() -> Result<PathBuf> {
    let python = PathBuf::from("python3");
    let (major, minor) = PYTHON_AT_LEAST;
    let check = format!(
        "import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= ({major}, {minor}) else 3)"
    );
    let found = Command::new(&python).args(["-c", &check]).output();
    match found {
        Ok(output) if output.status.success() => Ok(python),
        _ => bail!(
            "cargo xtask contract needs Python {major}.{minor} or later as `python3` on the \
             PATH, with its venv module, to install the OpenAPI fuzzer (schemathesis) in a \
             virtualenv: install it (on Debian and Ubuntu: apt-get install python3 \
             python3-venv) and run it again"
        ),
    }
}

/// `tcbatch` as the tests build it (debug), so CI builds nothing twice.
fn build_tcbatch() -> Result<PathBuf> {
    let status = cargo()
        .args(["build", "-p", "tc-cli", "--bin", "tcbatch", "--locked"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building tcbatch failed ({status})");
    }
    Ok(target_dir().join("debug").join("tcbatch"))
}

/// Runs the fuzzer against the relay at `base` until it ends, or until [`DEADLINE`].
fn fuzz(
    schemathesis: &Path,
    base: &str,
    work: &Path,
    examples: u64,
    seed: u64,
) -> Result<ExitStatus> {
    let mut child = Command::new(schemathesis)
        .arg("run")
        .arg(format!("{base}/openapi.json"))
        .args(["--checks", CHECKS])
        .args(["--max-examples", &examples.to_string()])
        .args(["--seed", &seed.to_string()])
        // One worker: the same requests in the same order on every run.
        .args(["--workers", "1"])
        .args(["--request-timeout", REQUEST_TIMEOUT_SECONDS])
        // No examples remembered from earlier runs: each run is its seed's alone.
        .args(["--generation-database", "none"])
        .args(["--report", "junit", "--report-dir"])
        .arg(work.join("report"))
        .arg("--no-color")
        .current_dir(work)
        .spawn()
        .with_context(|| format!("starting {}", schemathesis.display()))?;
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "the fuzzer ran past {} s and was stopped: a request that hangs, or a run far \
                 slower than it should be",
                DEADLINE.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The relay's `tc_relay_requests_total` counts, read from its `/metrics` in one line.
fn requests_answered(base: &str) -> Result<String> {
    use std::io::Write;
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let counts: Vec<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("tc_relay_requests_total{outcome=\""))
        .filter_map(|rest| rest.split_once("\"} "))
        .map(|(outcome, count)| format!("{outcome} {count}"))
        .collect();
    Ok(counts.join(", "))
}

/// `tcbatch serve --mock` on a free port of 127.0.0.1, with a store of its own.
struct Relay {
    child: Child,
    base: String,
}

impl Relay {
    fn start(tcbatch: &Path, work: &Path) -> Result<Relay> {
        // Append mode for both writers, the child's stdout and the thread copying its stderr.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(work.join("relay.log"))?;
        let mut child = Command::new(tcbatch)
            .args([
                "serve",
                "--mock",
                "--listen",
                "127.0.0.1:0",
                "--drain",
                "0s",
                "--store",
            ])
            .arg(work.join("relay.db"))
            .current_dir(workspace_root())
            .stdout(log)
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", tcbatch.display()))?;
        let stderr = child.stderr.take().context("the relay's stderr")?;
        let (found, listening) = mpsc::channel();
        let log = work.join("relay.log");
        // Reads the relay's stderr to its end, into the log, passing on where it listens.
        std::thread::spawn(move || copy_log(stderr, &log, found));
        match listening.recv_timeout(START_TIMEOUT) {
            Ok(base) => Ok(Relay { child, base }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the relay did not say where it listens within {} s; its log is {}",
                    START_TIMEOUT.as_secs(),
                    work.join("relay.log").display()
                )
            }
        }
    }

    /// SIGTERM, as an operator stops it; killed if it does not stop.
    fn stop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: a plain signal to the child this struct started and has not reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The relay's stderr line by line into `log`, sending the base URL of the line that says
/// where it listens.
fn copy_log(stderr: impl Read, log: &Path, found: mpsc::Sender<String>) {
    use std::io::Write;
    let Ok(mut file) = std::fs::OpenOptions::new().append(true).open(log) else {
        return;
    };
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        let _ = writeln!(file, "{line}");
        if let Some(rest) = line.split("relay listening on ").nth(1) {
            let base = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            let _ = found.send(base);
        }
    }
}
