//! `--dry-run`: everything `submit` does before the first request, and nothing after.

use super::SubmitArgs;
use anyhow::Result;
use tc_core::{Region, Validator, MAX_BATCH_RECORDS};
use tc_input::ReadOptions;

/// `--dry-run`: validate and plan, send nothing, write nothing.
pub fn run(args: &SubmitArgs, read: &ReadOptions, region: Option<Region>) -> Result<i32> {
    let mut validator = Validator::new(crate::validate::system_now());
    if let Some(region) = region {
        validator = validator.with_default_region(region);
    }
    let (mut rows, mut valid) = (0u64, 0u64);
    let mut codes = std::collections::BTreeMap::<&'static str, u64>::new();
    for input in tc_input::open_with(Some(&args.file), read)? {
        rows += 1;
        match input
            .raw
            .map_err(tc_core::ValidationErrors::from)
            .and_then(|raw| validator.validate(&raw))
        {
            Ok(_) => valid += 1,
            Err(problems) => {
                for d in problems {
                    *codes.entry(d.code.as_str()).or_default() += 1;
                }
            }
        }
    }
    let batches = valid.div_ceil(MAX_BATCH_RECORDS as u64);
    let per_minute = 60 * u64::from(args.connection.tokens());
    let minutes = batches as f64 / per_minute as f64;
    let summary = serde_json::json!({
        "rows": rows, "valid": valid, "invalid": rows - valid, "batches": batches,
        "requests": batches, "minutes_at_rate_limit": (minutes * 100.0).round() / 100.0,
        "problems_by_code": codes,
    });
    if args.output == super::OutputArg::Json {
        println!("{summary}");
    } else {
        eprintln!(
            "dry run: {rows} rows, {valid} valid, {} invalid; {batches} batches of up to {} \
             ({batches} requests, {:.1} min at {per_minute} requests/min); nothing was sent",
            rows - valid,
            MAX_BATCH_RECORDS,
            minutes
        );
        for (code, n) in &codes {
            eprintln!("  {n:>8}  {code}");
        }
        if rows > valid {
            eprintln!(
                "run `tcbatch validate {}` to see every problem",
                args.file.display()
            );
        }
    }
    Ok(if rows == valid {
        super::EXIT_OK
    } else {
        super::EXIT_SOME_ROWS_NOT_ACCEPTED
    })
}
