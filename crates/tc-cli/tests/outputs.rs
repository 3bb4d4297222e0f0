//! What every command prints for a person, snapshotted: each `--help` (its placeholders and the
//! exit statuses it ends with) and the human output of the commands the day-after tests do not
//! cover (`normalize`, `submit`, `mock`, `serve`; `validate` is in `cli.rs`). What changes from
//! run to run or machine to machine (ports, batch ids, paths, the number of cores) is named
//! instead of shown.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

mod common;
use common::{run_with_stdin, Run};

fn tcbatch(args: &[&str], stdin: &[u8]) -> Run {
    run_with_stdin(&mut command(args), stdin)
}

/// `tcbatch ARGS` with no credentials and quiet logs (their lines carry times).
fn command(args: &[&str]) -> Command {
    let mut command = common::tcbatch_command();
    command
        .args(args)
        .env_remove("TRUECALLER_CLIENT_ACCOUNT_ID")
        .env_remove("TRUECALLER_KEY_ID")
        .env_remove("TRUECALLER_API_KEY")
        .env("RUST_LOG", "warn");
    command
}

fn snapshot(name: &str, text: &str, dir: &Path) {
    let text = text.replace(&dir.display().to_string(), "[DIR]");
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"http://127\.0\.0\.1:\d+", "[URL]");
    settings.add_filter(r"(at least one\.?\s*\[default: )\d+\]", "${1}[CORES]]");
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// Every command's `--help`: the placeholders and the closing exit statuses are reviewed here.
#[test]
fn every_commands_help_ends_with_its_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let top = tcbatch(&["--help"], b"");
    assert_eq!(top.code, 0);
    snapshot("help", &top.transcript(), dir.path());
    for command in [
        "validate",
        "normalize",
        "submit",
        "mock",
        "serve",
        "status",
        "labels",
        "check",
        "report",
        "completions",
        "man",
    ] {
        let run = tcbatch(&[command, "--help"], b"");
        assert_eq!(run.code, 0, "{command}");
        let last_paragraph = run.stdout.trim_end().rsplit("\n\n").next().unwrap();
        assert!(
            last_paragraph.starts_with("Exit status: 0"),
            "{command} --help ends with: {last_paragraph}"
        );
        snapshot(&format!("help_{command}"), &run.transcript(), dir.path());
    }
}

#[test]
fn normalize_output_for_people_and_for_machines() {
    let dir = tempfile::tempdir().unwrap();
    let input = b"+91 98765 43210\n\n098765 4321O\n(+44) 7911 123456\n";
    let human = tcbatch(&["normalize", "--region", "IN"], input);
    assert_eq!(human.code, 1);
    snapshot("normalize_human", &human.transcript(), dir.path());
    let json = tcbatch(&["normalize", "--region", "IN", "--output", "json"], input);
    assert_eq!(json.code, 1);
    let lines: Vec<serde_json::Value> = json
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "one answer per line in");
    assert_eq!(lines[0]["e164"], "+919876543210");
    assert_eq!(lines[1]["error"], "missing_field");
    assert_eq!(lines[2]["error"], "phone_has_letters");
    assert_eq!(lines[3]["line"], 4);
    assert_eq!(lines[3]["e164"], "+447911123456");
}

#[test]
fn submit_summary_of_the_example() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("calls.csv");
    std::fs::copy(common::example("calls.csv"), &input).unwrap();
    let run = tcbatch(
        &[
            "submit",
            input.to_str().unwrap(),
            "--mock",
            "--region",
            "IN",
            "--wait",
        ],
        b"",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    snapshot("submit_human", &run.transcript(), dir.path());
}

/// Which of a child's outputs says that it is up.
enum Watched {
    Stdout,
    Stderr,
}

/// Reads the `watched` output of `child` until a line contains `last`, then stops the child
/// with SIGTERM and reads the rest: what an operator sees from start to stop.
fn until_then_stop(mut child: Child, watched: Watched, last: &str) -> Run {
    let stdout: Box<dyn Read + Send> = Box::new(child.stdout.take().unwrap());
    let stderr: Box<dyn Read + Send> = Box::new(child.stderr.take().unwrap());
    let (watch, mut other) = match watched {
        Watched::Stdout => (stdout, stderr),
        Watched::Stderr => (stderr, stdout),
    };
    // The other output is drained meanwhile, so a full pipe cannot stall the child.
    let other = std::thread::spawn(move || {
        let mut text = String::new();
        other.read_to_string(&mut text).map(|_| text)
    });
    let mut lines = BufReader::new(watch);
    let mut seen = String::new();
    while !seen.contains(last) {
        let read = lines.read_line(&mut seen).unwrap();
        assert!(read > 0, "tcbatch ended before printing {last:?}: {seen}");
    }
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    lines.read_to_string(&mut seen).unwrap();
    let other = other.join().unwrap().unwrap();
    let code = child.wait().unwrap().code().expect("an exit status");
    let (stdout, stderr) = match watched {
        Watched::Stdout => (seen, other),
        Watched::Stderr => (other, seen),
    };
    Run {
        code,
        stdout,
        stderr,
    }
}

#[test]
fn mock_prints_where_it_listens_and_what_it_accepts_then_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let child = command(&["mock", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let run = until_then_stop(child, Watched::Stdout, "Press Ctrl-C to stop.");
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot("mock_human", &run.transcript(), dir.path());
}

#[test]
fn serve_says_where_it_listens_and_that_queued_records_stay_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("relay.db");
    let child = command(&["serve", "--mock", "--listen", "127.0.0.1:0", "--store"])
        .arg(&store)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let run = until_then_stop(child, Watched::Stderr, "relay listening on");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("queued records stay in the store"));
    snapshot("serve_human", &run.transcript(), dir.path());
}
