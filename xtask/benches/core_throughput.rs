//! tc-core throughput: validate and normalise generated messy records in-process, on one thread.
//!
//! `cargo xtask bench` runs this with `cargo bench` (release profile) and reads its last line.
//! Under `cargo test` (no `--bench` argument) it makes a small pass, so it is checked in CI too.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tc_core::{EpochMillis, RawRecord, Validator};
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
    let validator = Validator::new(EpochMillis::try_from(NOW_MS).unwrap());

    let (mut valid, mut invalid) = (0usize, 0usize);
    let start = Instant::now();
    for (i, raw) in raws.iter().enumerate() {
        match validator.validate(black_box(raw)) {
            Ok(record) => {
                black_box(record);
                valid += 1;
            }
            Err(diagnostics) => {
                black_box(diagnostics);
                invalid += 1;
            }
        }
        if i % 4096 == 0 && start.elapsed() > TIME_LIMIT {
            eprintln!(
                "core_throughput: stopped after {TIME_LIMIT:?} at {} records",
                i + 1
            );
            break;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let done = valid + invalid;
    println!(
        "core_throughput: records={done} valid={valid} invalid={invalid} seconds={seconds:.3} records_per_second={:.0}",
        done as f64 / seconds.max(1e-9)
    );
    // The generator promises which rows are bad: a different count means the bench measured
    // something other than the intended mix.
    if done == records && invalid != expected_invalid {
        eprintln!("core_throughput: {invalid} records were invalid, the generator made {expected_invalid} bad rows");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
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
