//! `cargo xtask ci` and `cargo xtask fuzz`: cargo steps run in order, stopping at the first
//! failure, with the test counts of every step summed into one closing line.

use crate::{cargo, numeric_option, reject_unknown, workspace_root, AlreadyReported};
use anyhow::{bail, Context, Result};
use std::io::{self, BufRead, BufReader, Write};
use std::process::{ExitStatus, Stdio};
use xtask::test_counts::TestCounts;

const CI_STEPS: [&[&str]; 4] = [
    &["fmt", "--all", "--", "--check"],
    &[
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ],
    // Every test binary runs even when one fails, so a failure report is complete.
    &[
        "test",
        "--workspace",
        "--all-targets",
        "--locked",
        "--no-fail-fast",
    ],
    &["test", "--workspace", "--doc", "--locked"],
];

/// tc-core with its optional `validator` feature: linted and tested like the default build.
const VALIDATOR_FEATURE_STEPS: [&[&str]; 2] = [
    &[
        "clippy",
        "-p",
        "tc-core",
        "--all-targets",
        "--features",
        "validator",
        "--locked",
        "--",
        "-D",
        "warnings",
    ],
    &[
        "test",
        "-p",
        "tc-core",
        "--features",
        "validator",
        "--lib",
        "--locked",
    ],
];

/// tc-input as a library user builds it: without its `clap` feature, which the workspace's
/// build always has on (tcbatch asks for it).
const TC_INPUT_WITHOUT_CLAP_STEP: &[&str] = &[
    "clippy",
    "-p",
    "tc-input",
    "--all-targets",
    "--locked",
    "--",
    "-D",
    "warnings",
];

/// A crate outside the workspace that uses tc-core from its own types: the library must stay
/// usable by someone who has not read its source.
const ADOPTER_STEP: &[&str] = &[
    "test",
    "--manifest-path",
    "tests/adopter/Cargo.toml",
    "--locked",
];

/// The libraries' documentation: every public item documented, every link resolved.
const DOC_STEP: &[&str] = &[
    "doc",
    "--no-deps",
    "-p",
    "tc-core",
    "-p",
    "tc-engine",
    "-p",
    "tc-http",
    "-p",
    "tc-redis",
    "-p",
    "tc-local",
    "-p",
    "tc-push",
    "-p",
    "tc-input",
    "--locked",
];

/// The relay against its own OpenAPI document (`contract.rs`), after the tests have built
/// `tcbatch`: a cargo step like the others, so its outcome ends the run the same way.
const CONTRACT_STEP: &[&str] = &["xtask", "contract"];

/// One `cargo` invocation and the environment it runs with.
struct Step {
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
}

impl Step {
    fn new(args: &[&str]) -> Step {
        Step {
            args: args.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
        }
    }

    fn with_env(mut self, key: &'static str, value: impl Into<String>) -> Step {
        self.env.push((key, value.into()));
        self
    }
}

pub fn ci(options: &[String]) -> Result<()> {
    reject_unknown(options, &[], &[])?;
    let mut steps: Vec<Step> = CI_STEPS.iter().map(|args| Step::new(args)).collect();
    steps.extend(VALIDATOR_FEATURE_STEPS.iter().map(|args| Step::new(args)));
    steps.push(Step::new(TC_INPUT_WITHOUT_CLAP_STEP));
    // The adopter shares the workspace's target directory, so its dependencies build once.
    let target = workspace_root().join("target").display().to_string();
    steps.push(Step::new(ADOPTER_STEP).with_env("CARGO_TARGET_DIR", target));
    steps.push(Step::new(DOC_STEP).with_env("RUSTDOCFLAGS", "-D warnings"));
    steps.push(Step::new(CONTRACT_STEP));
    run_steps("xtask-ci", &steps)
}

/// The property tests, long and optimised: the same properties as in `ci`, many more cases.
pub fn fuzz(options: &[String]) -> Result<()> {
    reject_unknown(options, &[], &["--cases"])?;
    let cases = numeric_option(options, "--cases", 100_000)?;
    if cases == 0 {
        bail!("--cases 0 would test nothing; give at least 1");
    }
    let mut step = Step::new(&["test", "-p", "xtask", "--release", "--locked"])
        .with_env("PROPTEST_CASES", cases.to_string());
    for name in property_test_names()? {
        step.args.push("--test".into());
        step.args.push(name);
    }
    println!("xtask fuzz: {cases} cases per property");
    run_steps("xtask fuzz", &[step])
}

/// `props_*` test targets, found from their files so a new one is never forgotten.
fn property_test_names() -> Result<Vec<String>> {
    let dir = workspace_root().join("xtask").join("tests");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".rs").filter(|s| s.starts_with("props_")) {
            names.push(stem.to_owned());
        }
    }
    if names.is_empty() {
        bail!(
            "no props_*.rs in {}: the property tests are missing",
            dir.display()
        );
    }
    names.sort();
    Ok(names)
}

/// Runs each `cargo` step in order and stops at the first failure. Always ends with the line
/// `<name>: N passed, M failed`, the sum of every `test result:` line seen.
fn run_steps(name: &str, steps: &[Step]) -> Result<()> {
    let mut totals = TestCounts::default();
    let mut failure = None;
    for (index, step) in steps.iter().enumerate() {
        let shown = format!("cargo {}", step.args.join(" "));
        println!("\n==> [{}/{}] {shown}", index + 1, steps.len());
        match run_teed(step, &mut totals) {
            Ok(status) if status.success() => {}
            Ok(status) => {
                failure = Some(format!(
                    "{name}: step {}/{} `{shown}` failed ({status}); fix what it reports above, then run it again",
                    index + 1,
                    steps.len()
                ));
                break;
            }
            Err(err) => {
                failure = Some(format!("{name}: could not run `{shown}`: {err:#}"));
                break;
            }
        }
    }
    if failure.is_none() && totals.failed > 0 {
        failure = Some(format!(
            "{name}: cargo succeeded but reported {} failed tests",
            totals.failed
        ));
    }
    if let Some(message) = &failure {
        eprintln!("\n{message}");
    }
    // Flush stderr's message before the closing line so the line really comes last.
    io::stderr().flush().ok();
    println!("{name}: {} passed, {} failed", totals.passed, totals.failed);
    match failure {
        Some(_) => Err(AlreadyReported.into()),
        None => Ok(()),
    }
}

/// Runs `cargo <args>`, copying its standard output through line by line while counting tests.
fn run_teed(step: &Step, totals: &mut TestCounts) -> Result<ExitStatus> {
    let mut command = cargo();
    command.args(&step.args).stdout(Stdio::piped());
    for (key, value) in &step.env {
        command.env(key, value);
    }
    let mut child = command.spawn().context("starting cargo")?;
    let stdout = child
        .stdout
        .take()
        .context("cargo's standard output was not captured")?;
    let mut out = io::stdout();
    for line in BufReader::new(stdout).split(b'\n') {
        let line = line.context("reading cargo's output")?;
        let text = String::from_utf8_lossy(&line);
        writeln!(out, "{text}")?;
        if let Some(counts) = TestCounts::from_summary_line(&text) {
            *totals += counts;
        }
    }
    child.wait().context("waiting for cargo")
}
