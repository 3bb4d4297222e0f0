//! `cargo xtask`: the project's own tasks. `ci` is the one command CI and contributors run;
//! `fuzz` runs the property tests long; `contract` fuzzes the relay against its OpenAPI
//! document; `bench` measures throughput and memory.

mod bench;
mod bench_postgres;
mod bench_relay;
mod bench_shared;
mod bench_submit;
mod ci;
mod contract;
mod examples;

use anyhow::{anyhow, bail, Context, Result};
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

const HELP: &str = "\
Usage: cargo xtask <task> [options]

Tasks:
  ci                  fmt check, clippy -D warnings, every test (tidy and property tests
                      included), the doc tests and `contract`; ends with
                      `xtask-ci: N passed, M failed`
  fuzz [--cases N]    the property tests in release mode with N cases each (default 100000)
  contract            the relay held to its own OpenAPI document: schemathesis (pinned, in a
                      virtualenv under the target directory; needs python3 3.11+) fuzzes
                      `tcbatch serve --mock` on 127.0.0.1 and fails on any 5xx, undocumented
                      status, content type or header, or body that breaks its schema
      --max-examples N  test cases per operation and phase (default 100)
      --seed N          the fuzzer's seed (default fixed: the same requests every run)
  bench [options]     tc-core throughput in-process, `tcbatch validate` end to end on a
                      generated messy CSV (wall time and peak RSS), `tcbatch submit` against
                      `tcbatch mock` on loopback (rate achieved, 429s, peak RSS), and the time
                      to push 1,000,000 records at the real limit in virtual time, and
                      `tcbatch serve` against `tcbatch mock` (ingestion, latency, share of
                      the limit), and two submits + two relays on one account through a
                      Redis coordinator and with none; every run but that one with
                      `--coordinator none`; prints a Markdown table
      --records N     records for the tc-core throughput run (default 200000)
      --rows N        rows of the end-to-end CSV (default 1000000)
      --submit-rows N rows pushed by `tcbatch submit` to `tcbatch mock` (default 1000000)
      --no-submit     skip the submit run
      --no-relay      skip the relay runs
      --relay-only    only the relay runs
      --validate-only tc-core throughput and `tcbatch validate` (plain, with a column
                      map and a time zone, one job); no submit, relay or virtual time
      --no-shared     skip the shared-account runs (they need a Redis)
      --shared-only   only the shared-account runs
      --redis URL     the Redis they share through (default $TC_REDIS_URL, else
                      redis://127.0.0.1:6379/0)
      --core-only     skip every end-to-end run
  examples            writes examples/bank-export.xlsx from examples/bank-export.csv
  help, --help, -h    this text
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, options) = match args.split_first() {
        Some((task, options)) => (task.as_str(), options),
        None => {
            eprint!("{HELP}");
            return ExitCode::from(2);
        }
    };
    let result = match task {
        "ci" => ci::ci(options),
        "fuzz" => ci::fuzz(options),
        "contract" => contract::contract(options),
        "bench" => bench::bench(options),
        "examples" => examples::examples(options),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(anyhow!(
            "unknown task `{other}`; run `cargo xtask --help` for the list"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is::<AlreadyReported>() => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("xtask {task}: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// A failure whose explanation has been printed already, so `main` only sets the exit code.
#[derive(Debug)]
struct AlreadyReported;

impl fmt::Display for AlreadyReported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("failure already reported")
    }
}

impl std::error::Error for AlreadyReported {}

/// The workspace root: xtask sits one level below it.
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// `cargo`, the same one that runs us, in the workspace root.
fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    command.current_dir(workspace_root());
    command
}

/// The value of `--name N` among `options`, or `default`.
fn numeric_option(options: &[String], name: &str, default: u64) -> Result<u64> {
    match options.iter().position(|o| o == name) {
        None => Ok(default),
        Some(at) => {
            let value = options
                .get(at + 1)
                .with_context(|| format!("{name} needs a number, as in `{name} 1000`"))?;
            value
                .replace('_', "")
                .parse()
                .with_context(|| format!("{name} {value}: not a whole number"))
        }
    }
}

/// Fails on any option this task does not know, so a typo is not silently ignored.
fn reject_unknown(options: &[String], flags: &[&str], valued: &[&str]) -> Result<()> {
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        if valued.contains(&option.as_str()) {
            rest.next();
        } else if !flags.contains(&option.as_str()) {
            bail!(
                "unknown option `{option}`; run `cargo xtask --help` for the options of each task"
            );
        }
    }
    Ok(())
}
