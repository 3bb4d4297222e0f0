//! `cargo xtask bench`: the phone library's bare parse rate and tc-core's throughput in-process,
//! then `tcbatch validate` end to end on a generated messy CSV with its default jobs, with wall
//! time, the child's peak resident memory, the ratio to the bare parse rate, and a check that a
//! worker on every core writes the same bytes; then `tcbatch submit` and `tcbatch serve` against
//! the simulator.

use crate::{cargo, numeric_option, reject_unknown, target_dir};
use anyhow::{bail, ensure, Context, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use xtask::messy::{self, NOW_RFC3339};

/// Targets published in docs/performance.md.
const CORE_TARGET_PER_SECOND: f64 = 250_000.0;
/// End to end, a whole record (CSV, every rule, the report) costs less than one bare parse.
const E2E_TARGET_RATIO: f64 = 1.0;
const E2E_TARGET_RSS_MIB: f64 = 64.0;
/// Ends a run that hangs; far above any plausible time for a million rows.
const E2E_TIME_LIMIT: Duration = Duration::from_secs(300);
const CSV_SEED: u64 = 1_000_003;

pub fn bench(options: &[String]) -> Result<()> {
    reject_unknown(
        options,
        &[
            "--core-only",
            "--no-submit",
            "--no-relay",
            "--relay-only",
            "--validate-only",
            "--no-shared",
            "--shared-only",
            "--no-postgres",
            "--postgres-only",
        ],
        &[
            "--records",
            "--rows",
            "--submit-rows",
            "--redis",
            "--postgres",
        ],
    )?;
    let records = numeric_option(options, "--records", 200_000)?;
    let rows = numeric_option(options, "--rows", 1_000_000)?;
    let submit_rows = numeric_option(options, "--submit-rows", 1_000_000)?;
    ensure!(
        records > 0 && rows > 0,
        "--records and --rows must be at least 1"
    );

    let given = |flag: &str| options.iter().any(|o| o == flag);
    let mut table = Vec::new();
    let redis_url = redis_url(options)?;
    if given("--relay-only") {
        table.extend(crate::bench_relay::relay_rows()?);
    } else if given("--shared-only") {
        table.extend(crate::bench_shared::shared_rows(&redis_url)?);
    } else if given("--postgres-only") {
        let postgres_url = postgres_url(options)?;
        table.extend(crate::bench_postgres::postgres_rows(
            &redis_url,
            &postgres_url,
        )?);
    } else {
        let core = core_throughput(records)?;
        table.extend(core.rows);
        if !given("--core-only") {
            table.extend(end_to_end(rows as usize, core.bare_per_second)?);
            if !given("--no-submit") && !given("--validate-only") {
                table.extend(crate::bench_submit::submit_rows(submit_rows as usize)?);
            }
            if !given("--no-relay") && !given("--validate-only") {
                table.extend(crate::bench_relay::relay_rows()?);
            }
            if !given("--no-shared") && !given("--validate-only") {
                table.extend(crate::bench_shared::shared_rows(&redis_url)?);
            }
            if !given("--no-postgres") && !given("--validate-only") {
                let postgres_url = postgres_url(options)?;
                table.extend(crate::bench_postgres::postgres_rows(
                    &redis_url,
                    &postgres_url,
                )?);
            }
        }
        if !given("--validate-only") {
            for tokens in [1, 10] {
                table.push(crate::bench_submit::virtual_time(tokens));
            }
        }
    }
    println!("\n| measurement | input | result | target | met |\n|---|---|---|---|---|");
    for row in &table {
        println!("{row}");
    }
    Ok(())
}

/// The PostgreSQL the shared-queue runs make their databases on: `--postgres URL`, else
/// `$TC_POSTGRES_URL`, else the default port on loopback.
fn postgres_url(options: &[String]) -> Result<String> {
    match options.iter().position(|o| o == "--postgres") {
        Some(at) => options.get(at + 1).cloned().context(
            "--postgres needs a URL, as in `--postgres postgres://postgres@127.0.0.1:5432/postgres`",
        ),
        None => Ok(std::env::var("TC_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())),
    }
}

/// The Redis the shared-account runs coordinate through: `--redis URL`, else `$TC_REDIS_URL`,
/// else the default port on loopback.
fn redis_url(options: &[String]) -> Result<String> {
    match options.iter().position(|o| o == "--redis") {
        Some(at) => options
            .get(at + 1)
            .cloned()
            .context("--redis needs a URL, as in `--redis redis://127.0.0.1:6379/0`"),
        None => {
            Ok(std::env::var("TC_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_owned()))
        }
    }
}

pub(crate) struct TableRow {
    pub measurement: &'static str,
    pub input: String,
    pub result: String,
    pub target: &'static str,
    pub met: bool,
}

impl std::fmt::Display for TableRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let met = if self.met { "yes" } else { "no" };
        write!(
            f,
            "| {} | {} | {} | {} | {met} |",
            self.measurement, self.input, self.result, self.target
        )
    }
}

/// What the in-process bench measured, as table rows, and the bare parse rate the end-to-end
/// figure is compared with.
struct CoreFigures {
    rows: Vec<TableRow>,
    bare_per_second: f64,
}

/// Runs the release-built `core_throughput` bench and reads its result lines.
fn core_throughput(records: u64) -> Result<CoreFigures> {
    println!("==> tc-core throughput: cargo bench -p xtask --bench core_throughput -- --records {records}");
    let mut child = cargo()
        .args([
            "bench",
            "-p",
            "xtask",
            "--bench",
            "core_throughput",
            "--locked",
            "--",
        ])
        .args(["--records", &records.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .context("starting cargo bench")?;
    let stdout = child
        .stdout
        .take()
        .context("cargo bench's output was not captured")?;
    let (mut result, mut bare) = (None, None);
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo bench's output")?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("core_throughput: ") {
            result = Some(rest.to_owned());
        }
        if let Some(rest) = line.strip_prefix("bare_parse: ") {
            bare = Some(rest.to_owned());
        }
    }
    let status = child.wait().context("waiting for cargo bench")?;
    ensure!(
        status.success(),
        "the tc-core bench failed ({status}); see its output above"
    );
    let result = result.context("the tc-core bench printed no `core_throughput:` line")?;
    let bare = bare.context("the tc-core bench printed no `bare_parse:` line")?;
    let per_second = value(&result, "records_per_second")?;
    let without_memo = value(&result, "records_per_second_without_memo")?;
    let bare_per_second = value(&bare, "parses_per_second")?;
    let rows = vec![
        TableRow {
            measurement: "bare phone-library parse of each receiver, 1 thread (the yardstick)",
            input: format!("the same {} receivers as written", value(&bare, "parses")?),
            result: format!(
                "{bare_per_second:.0} parses/s ({:.3} s)",
                value(&bare, "seconds")?
            ),
            target: "none: the yardstick",
            met: true,
        },
        TableRow {
            measurement: "tc-core validate + normalise, 1 thread, caller memo",
            input: format!(
                "{} generated messy records ({} invalid)",
                value(&result, "records")?,
                value(&result, "invalid")?
            ),
            result: format!(
                "{per_second:.0} records/s ({:.3} s), {:.2}x the bare parse rate; {without_memo:.0} \
                 records/s without the memo",
                value(&result, "seconds")?,
                per_second / bare_per_second
            ),
            target: ">= 250,000 records/s",
            met: per_second >= CORE_TARGET_PER_SECOND,
        },
    ];
    Ok(CoreFigures {
        rows,
        bare_per_second,
    })
}

/// The number after `key=` in a bench's result line.
fn value(line: &str, key: &str) -> Result<f64> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .with_context(|| format!("no {key}= in `{line}`"))?
        .parse()
        .with_context(|| format!("{key} in `{line}` is not a number"))
}

/// Generates the CSV, builds `tcbatch` and times `tcbatch validate` on it with its default jobs,
/// then checks that a worker on every core writes the same report.
fn end_to_end(rows: usize, bare_per_second: f64) -> Result<Vec<TableRow>> {
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let csv = dir.join(format!("messy-{rows}.csv"));
    let started = Instant::now();
    let mut out =
        BufWriter::new(File::create(&csv).with_context(|| format!("creating {}", csv.display()))?);
    let defective = messy::write_csv(&mut out, CSV_SEED, rows)
        .and_then(|defective| out.flush().map(|()| defective))
        .context("writing the CSV")?;
    let size_mib = std::fs::metadata(&csv)?.len() as f64 / (1024.0 * 1024.0);
    println!(
        "==> generated {} ({rows} rows, {size_mib:.1} MiB) in {:.1} s",
        csv.display(),
        started.elapsed().as_secs_f64()
    );

    build_tcbatch()?;
    // tcbatch ends with "N records: V valid, I invalid" on standard error: the bench only
    // counts if it rejected exactly the rows the generator spoiled.
    let expected = format!(
        "{rows} records: {} valid, {defective} invalid",
        rows - defective
    );
    let all_cores = validate_run(&csv, &[], &expected)?;
    // The same rows as a bank exports them, read through a column map and a time zone, right
    // after the plain run so that both meet the same load.
    let bank_csv = dir.join(format!("bank-{rows}.csv"));
    write_bank_variant(&csv, &bank_csv)?;
    let mapped = validate_run(&bank_csv, &BANK_FLAGS, &expected)?;
    // A run takes about a second, too short to tell 5% from the machine's noise, and a shared
    // machine's speed drifts by more than that from one second to the next: each mapped run is
    // compared with the plain run just before it, and the comparison takes the median pair.
    let mut pairs = vec![Pair {
        plain: all_cores.measured.clone(),
        mapped: mapped.measured,
    }];
    for _ in 1..COMPARISON_RUNS {
        pairs.push(Pair {
            plain: validate_run(&csv, &[], &expected)?.measured,
            mapped: validate_run(&bank_csv, &BANK_FLAGS, &expected)?.measured,
        });
    }
    // The default runs one worker per core but the reader's (one here): a worker on every core
    // is the comparison, and must write the same bytes.
    let cores = available_cores().to_string();
    let one_job = validate_run(&csv, &["--jobs", &cores], &expected)?;
    let same = files_equal(&all_cores.report, &one_job.report)?;
    let per_second = |run: &Measured| rows as f64 / run.wall.as_secs_f64().max(1e-9);
    let rss_mib = |run: &Measured| run.peak_rss_kib as f64 / 1024.0;
    let (all, one) = (&all_cores.measured, &one_job.measured);
    let ratio = per_second(all) / bare_per_second;
    println!(
        "tcbatch validate on {} cores: {:.2} s, {:.0} records/s ({ratio:.2}x the bare parse rate), \
         peak RSS {:.1} MiB; --jobs {cores}: {:.2} s; same report: {same}",
        available_cores(),
        all.wall.as_secs_f64(),
        per_second(all),
        rss_mib(all),
        one.wall.as_secs_f64(),
    );
    let input = format!("{rows}-row messy CSV ({size_mib:.0} MiB, {defective} invalid)");
    let mapped_row = mapped_row(&input, pairs, rows);
    Ok(vec![
        TableRow {
            measurement: "`tcbatch validate --output json`, end to end, default jobs (a worker per core but the reader's)",
            input: input.clone(),
            result: format!(
                "{:.0} records/s ({:.2} s wall on {} cores), {ratio:.2}x the bare parse rate; \
                 {:.1} MiB peak RSS; report identical to a worker on every core: {}",
                per_second(all),
                all.wall.as_secs_f64(),
                available_cores(),
                rss_mib(all),
                if same { "yes" } else { "NO" }
            ),
            target: ">= 1.0x the bare parse rate, < 64 MiB peak RSS, the same bytes whatever the jobs",
            met: ratio >= E2E_TARGET_RATIO && rss_mib(all) < E2E_TARGET_RSS_MIB && same,
        },
        TableRow {
            measurement: "`tcbatch validate --output json --jobs CORES`, a worker on every core",
            input,
            result: format!(
                "{:.0} records/s ({:.2} s wall), {:.2}x the bare parse rate; {:.1} MiB peak RSS",
                per_second(one),
                one.wall.as_secs_f64(),
                per_second(one) / bare_per_second,
                rss_mib(one)
            ),
            target: "none: the single-thread comparison",
            met: true,
        },
        mapped_row,
    ])
}

/// The flags a bank's export needs: every column mapped, local times read in India's zone.
const BANK_FLAGS: [&str; 16] = [
    "--map",
    "caller_number=Agent Line",
    "--map",
    "receiver_number=Customer Mobile",
    "--map",
    "dynamic_label_name=Display Name",
    "--map",
    "dynamic_call_reason=Call Reason",
    "--map",
    "label_id=Label",
    "--map",
    "starts_at=Show From (IST)",
    "--map",
    "ends_at=Show Until (IST)",
    "--timezone",
    "Asia/Kolkata",
];

/// With a column map and a time zone, validation may lose at most this share of its speed.
const MAPPED_MAX_SLOWDOWN: f64 = 0.05;

/// Pairs of plain and mapped runs the comparison takes the median of.
const COMPARISON_RUNS: usize = 5;

/// A plain run and the mapped run right after it, which met about the same machine.
struct Pair {
    plain: Measured,
    mapped: Measured,
}

impl Pair {
    /// The mapped run's speed as a share of the plain run's: wall time and processor time.
    fn ratios(&self) -> (f64, f64) {
        let ratio = |plain: Duration, mapped: Duration| {
            plain.as_secs_f64() / mapped.as_secs_f64().max(1e-9)
        };
        (
            ratio(self.plain.wall, self.mapped.wall),
            ratio(self.plain.cpu, self.mapped.cpu),
        )
    }
}

/// The mapped run's row: the median pair of runs (by the wall-time ratio) compared.
fn mapped_row(input: &str, mut pairs: Vec<Pair>, rows: usize) -> TableRow {
    pairs.sort_by(|a, b| a.ratios().0.total_cmp(&b.ratios().0));
    let median = &pairs[pairs.len() / 2];
    let (plain, mapped) = (&median.plain, &median.mapped);
    let (ratio, cpu_ratio) = median.ratios();
    let per_second = |wall: Duration| rows as f64 / wall.as_secs_f64().max(1e-9);
    let all: Vec<String> = pairs
        .iter()
        .map(|p| format!("{:.3}", p.ratios().0))
        .collect();
    println!(
        "tcbatch validate with a column map and a time zone: {:.2} s, {:.0} records/s, \
         {ratio:.3}x the plain run; processor time {:.2} s against {:.2} s, {cpu_ratio:.3}x \
         (median of {COMPARISON_RUNS} pairs: {})",
        mapped.wall.as_secs_f64(),
        per_second(mapped.wall),
        mapped.cpu.as_secs_f64(),
        plain.cpu.as_secs_f64(),
        all.join(", ")
    );
    TableRow {
        measurement: "`tcbatch validate --output json` with `--map` for all 7 fields and \
                      `--timezone Asia/Kolkata`, every core",
        input: format!(
            "the same rows, bank headers, the +05:30 times written as local times \
             (`2025-07-23 10:30:00`); {input}"
        ),
        result: format!(
            "{:.0} records/s ({:.2} s wall), {ratio:.3}x the plain run's {:.0} records/s \
             ({:.2} s); processor time {:.2} s against {:.2} s ({cpu_ratio:.3}x the plain \
             run's speed); the median of {COMPARISON_RUNS} pairs of runs, each mapped run \
             right after a plain one (ratios {}); {:.1} MiB peak RSS",
            per_second(mapped.wall),
            mapped.wall.as_secs_f64(),
            per_second(plain.wall),
            plain.wall.as_secs_f64(),
            mapped.cpu.as_secs_f64(),
            plain.cpu.as_secs_f64(),
            all.join(", "),
            mapped.peak_rss_kib as f64 / 1024.0
        ),
        target: "at most 5% slower than the plain run",
        met: ratio >= 1.0 - MAPPED_MAX_SLOWDOWN,
    }
}

/// Writes `csv` again as a bank's export: its own headers, and every RFC 3339 time at +05:30
/// as the local time it is in India (`2025-07-23T10:30:00+05:30` becomes
/// `2025-07-23 10:30:00`), the same instant once read with `--timezone Asia/Kolkata`.
fn write_bank_variant(csv: &Path, bank: &Path) -> Result<()> {
    let input =
        BufReader::new(File::open(csv).with_context(|| format!("opening {}", csv.display()))?);
    let mut out =
        BufWriter::new(File::create(bank).with_context(|| format!("creating {}", bank.display()))?);
    let mut lines = input.lines();
    lines.next().context("the CSV has a header")??;
    writeln!(
        out,
        "Agent Line,Customer Mobile,Display Name,Call Reason,Label,Show From (IST),Show Until (IST)"
    )?;
    for line in lines {
        writeln!(out, "{}", ist_as_local(&line?))?;
    }
    out.flush()?;
    Ok(())
}

/// `line` with each `YYYY-MM-DDTHH:MM:SS+05:30` written `YYYY-MM-DD HH:MM:SS`.
fn ist_as_local(line: &str) -> String {
    const OFFSET: &str = "+05:30";
    const DATE_TIME: usize = "2025-07-23T10:30:00".len();
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(OFFSET) {
        let (head, tail) = rest.split_at(at);
        let start = head.len().saturating_sub(DATE_TIME);
        let stamp = head
            .get(start..)
            .filter(|s| s.len() == DATE_TIME && s.as_bytes()[10] == b'T');
        match stamp {
            Some(stamp) => {
                out.push_str(&head[..start]);
                out.push_str(&stamp.replacen('T', " ", 1));
            }
            None => {
                out.push_str(head);
                out.push_str(OFFSET);
            }
        }
        rest = &tail[OFFSET.len()..];
    }
    out.push_str(rest);
    out
}

/// Builds the release `tcbatch` every end-to-end run starts.
pub(crate) fn build_tcbatch() -> Result<()> {
    println!("==> cargo build --release -p tc-cli --locked");
    let status = cargo()
        .args(["build", "--release", "-p", "tc-cli", "--locked"])
        .status()
        .context("starting cargo build")?;
    ensure!(
        status.success(),
        "building tcbatch failed ({status}); see the errors above"
    );
    Ok(())
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// One timed `tcbatch validate` run and the file its report went to.
struct ValidateRun {
    measured: Measured,
    report: PathBuf,
}

/// Runs the release `tcbatch validate` on `csv` with `extra` arguments, its report to a file.
/// Fails unless it exits 0 or 1 and its summary says `expected`.
fn validate_run(csv: &Path, extra: &[&str], expected: &str) -> Result<ValidateRun> {
    let dir = csv.parent().context("the CSV has a folder")?;
    let tcbatch = target_dir().join("release").join("tcbatch");
    let name = match extra {
        [] => "default-jobs".to_owned(),
        [first, ..] if *first == "--map" => "mapped".to_owned(),
        _ => extra.concat().replace("--", ""),
    };
    let report = dir.join(format!("tcbatch-validate-{name}.json"));
    let stderr_path = dir.join(format!("tcbatch-validate-{name}.stderr"));
    let mut args = vec![
        "validate",
        path_str(csv)?,
        "--format",
        "csv",
        "--now",
        NOW_RFC3339,
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    println!("==> tcbatch {} > {}", args.join(" "), report.display());
    let child = Command::new(&tcbatch)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(File::create(&report)?)
        .stderr(File::create(&stderr_path)?)
        .spawn()
        .with_context(|| format!("starting {}", tcbatch.display()))?;
    let run = wait_measured(child, E2E_TIME_LIMIT)?;
    let stderr_tail = tail(&stderr_path, 10);
    // 0: every row valid; 1: some rows invalid (expected: about 5% are). Anything else is a crash
    // or a usage error, and its numbers would mean nothing.
    if !matches!(run.exit_code, Some(0 | 1)) {
        bail!(
            "tcbatch validate ended with {} after {:.2} s; its last words ({}):\n{stderr_tail}",
            run.describe_exit(),
            run.wall.as_secs_f64(),
            stderr_path.display()
        );
    }
    ensure!(
        std::fs::read_to_string(&stderr_path)
            .unwrap_or_default()
            .contains(expected),
        "tcbatch validate did not report `{expected}`; its last words ({}):\n{stderr_tail}",
        stderr_path.display()
    );
    Ok(ValidateRun {
        measured: run,
        report,
    })
}

/// Whether two files hold the same bytes, read a block at a time.
fn files_equal(a: &Path, b: &Path) -> Result<bool> {
    let open = |path: &Path| -> Result<BufReader<File>> {
        Ok(BufReader::new(
            File::open(path).with_context(|| format!("opening {}", path.display()))?,
        ))
    };
    let (mut a, mut b) = (open(a)?, open(b)?);
    loop {
        let (x, y) = (a.fill_buf()?, b.fill_buf()?);
        if x.is_empty() || y.is_empty() {
            return Ok(x.is_empty() && y.is_empty());
        }
        let n = x.len().min(y.len());
        if x[..n] != y[..n] {
            return Ok(false);
        }
        a.consume(n);
        b.consume(n);
    }
}

#[derive(Clone)]
pub(crate) struct Measured {
    pub wall: Duration,
    /// Processor time, user and system, of every thread: less moved by other load than `wall`.
    pub cpu: Duration,
    pub peak_rss_kib: i64,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
}

impl Measured {
    pub fn describe_exit(&self) -> String {
        match (self.exit_code, self.signal) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("signal {signal}"),
            (None, None) => "an unknown status".to_owned(),
        }
    }
}

/// Waits for `child` with `wait4`, which hands back the child's own resource usage: its peak
/// resident set size is exact, where sampling /proc could miss a short peak at the end.
fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
}

pub(crate) fn wait_measured(child: Child, limit: Duration) -> Result<Measured> {
    let started = Instant::now();
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data, for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut killed = false;
    loop {
        // WNOHANG: poll, so a hung child can be stopped at `limit`. The 1 ms poll is noise
        // next to a run measured in seconds.
        let options = if killed { 0 } else { libc::WNOHANG };
        // SAFETY: pid is our own unwaited child; status and usage point to live locals.
        let reaped = unsafe { libc::wait4(pid, &mut status, options, &mut usage) };
        if reaped == pid {
            break;
        }
        if reaped == -1 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err).context("waiting for tcbatch");
        }
        if started.elapsed() > limit && !killed {
            // SAFETY: signalling our own child, which has not been reaped yet.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed = true;
            continue;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let wall = started.elapsed();
    // The std handle never saw the exit; dropping it neither waits nor kills.
    drop(child);
    if killed {
        bail!("tcbatch ran over {limit:?} and was stopped");
    }
    let exited = libc::WIFEXITED(status);
    Ok(Measured {
        wall,
        cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
        // Linux reports ru_maxrss in KiB.
        peak_rss_kib: usage.ru_maxrss,
        exit_code: exited.then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
    })
}

pub(crate) fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// The last `lines` lines of a small text file, for error messages.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ist_times_become_local_times_and_nothing_else_changes() {
        assert_eq!(
            super::ist_as_local(
                "+91 98,सेंट्रो,2025-07-23T10:30:00+05:30,2025-07-23T12:00:00Z,x+05:30"
            ),
            "+91 98,सेंट्रो,2025-07-23 10:30:00,2025-07-23T12:00:00Z,x+05:30"
        );
    }
}
