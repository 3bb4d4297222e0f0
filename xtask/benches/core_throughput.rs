//! tc-core throughput: validate and normalise generated messy records in-process, on one thread,
//! next to the yardstick of the phone library's own parse of the same receivers.
//!
//! `cargo xtask bench` runs this with `cargo bench` (release profile) and reads its
//! `bare_parse:` and `core_throughput:` lines. Under `cargo test` (no `--bench` argument) it
//! makes a small pass, so it is checked in CI too.
//!
//! This file names the phone library itself, the one place outside tc-core's `phone.rs` that
//! does: the yardstick is the library with nothing of ours around it.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tc_core::{CallerMemo, EpochMillis, RawRecord, Validator};
use xtask::messy::{Generator, NOW_MS};

/// Stops the timed loop even on a machine far slower than expected.
const TIME_LIMIT: Duration = Duration::from_secs(60);
const SEED: u64 = 20_250_723;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let benchmarking = args.iter().any(|a| a == "--bench");
    let records = match records_option(&args) {
        Ok(n) => n.unwrap_or(if benchmarking { 200_000 } else { 2_000 }),
        Err(message) => {
            eprintln!("core_throughput: {message}");
            return ExitCode::FAILURE;
        }
    };

    // Reading the input is the CLI's job, not tc-core's: build the records before the clock runs.
    let rows: Vec<_> = Generator::new(SEED).take(records).collect();
    let expected_invalid = rows.iter().filter(|r| r.defect.is_some()).count();
    let raws: Vec<RawRecord> = rows
        .iter()
        .map(|r| RawRecord::from_text_fields(r.fields()))
        .collect();
    let receivers: Vec<&str> = rows.iter().map(|r| r.cells[1].as_str()).collect();
    let parses = bare_parse(&receivers);
    println!(
        "bare_parse: parses={} parsed={} seconds={:.3} parses_per_second={:.0}",
        parses.done,
        parses.passed,
        parses.seconds,
        parses.per_second()
    );

    let validator = Validator::new(EpochMillis::try_from(NOW_MS).unwrap());
    let mut memo = CallerMemo::new();
    let with_memo = time_validation(&raws, |raw| validator.validate_with_memo(raw, &mut memo));
    let without_memo = time_validation(&raws, |raw| validator.validate(raw));
    let (done, invalid) = (with_memo.done, with_memo.done - with_memo.passed);
    println!(
        "core_throughput: records={done} valid={} invalid={invalid} seconds={:.3} \
         records_per_second={:.0} records_per_second_without_memo={:.0}",
        with_memo.passed,
        with_memo.seconds,
        with_memo.per_second(),
        without_memo.per_second()
    );
    if without_memo.done == with_memo.done && without_memo.passed != with_memo.passed {
        eprintln!("core_throughput: the memo changed which records are valid");
        return ExitCode::FAILURE;
    }
    // The generator promises which rows are bad: a different count means the bench measured
    // something other than the intended mix.
    if done == records && invalid != expected_invalid {
        eprintln!("core_throughput: {invalid} records were invalid, the generator made {expected_invalid} bad rows");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// How many items a timed loop took, how many passed, and in how long.
struct Timed {
    done: usize,
    passed: usize,
    seconds: f64,
}

impl Timed {
    fn per_second(&self) -> f64 {
        self.done as f64 / self.seconds.max(1e-9)
    }
}

/// Runs `step` on each item until done or [`TIME_LIMIT`]; `step` says whether the item passed.
fn timed<T>(items: &[T], mut step: impl FnMut(&T) -> bool) -> Timed {
    let mut passed = 0;
    let start = Instant::now();
    for (i, item) in items.iter().enumerate() {
        passed += usize::from(step(black_box(item)));
        if i % 4096 == 0 && start.elapsed() > TIME_LIMIT {
            eprintln!(
                "core_throughput: stopped after {TIME_LIMIT:?} at {} items",
                i + 1
            );
            return Timed {
                done: i + 1,
                passed,
                seconds: start.elapsed().as_secs_f64(),
            };
        }
    }
    Timed {
        done: items.len(),
        passed,
        seconds: start.elapsed().as_secs_f64(),
    }
}

fn time_validation<E>(
    raws: &[RawRecord],
    mut validate: impl FnMut(&RawRecord) -> Result<tc_core::CallRecord, E>,
) -> Timed {
    timed(raws, |raw| black_box(validate(raw)).is_ok())
}

/// The phone library's parse of each receiver as written, with India as the default region
/// (most of the numbers are Indian): what a program that called the library directly would
/// pay per number, before any check of ours.
fn bare_parse(receivers: &[&str]) -> Timed {
    use rlibphonenumber::{Region, PHONE_NUMBER_UTIL};
    let india = Region::from_code("IN").ok();
    timed(receivers, |text| {
        black_box(PHONE_NUMBER_UTIL.parse(*text, india)).is_ok()
    })
}

fn records_option(args: &[String]) -> Result<Option<usize>, String> {
    let Some(at) = args.iter().position(|a| a == "--records") else {
        return Ok(None);
    };
    let value = args.get(at + 1).ok_or("--records needs a number")?;
    value
        .parse()
        .map(Some)
        .map_err(|_| format!("--records {value}: not a whole number"))
}
