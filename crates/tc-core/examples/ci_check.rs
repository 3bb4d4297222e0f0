//! A service's CI check: validate the call records a test fixture or a template holds, offline,
//! and fail the build on the first bad one, naming the line, field and rule.
//!
//! ```sh
//! cargo run -p tc-core --example ci_check -- examples/every-code.jsonl --region IN --now 2030-07-23T05:00:00Z
//! ```
//!
//! Each line of the file is one record in the API's JSON shape. Exits 0 when every record is
//! valid, 1 when one is not, 2 when the arguments or the file cannot be read.

use std::error::Error;
use std::process::ExitCode;
use std::time::SystemTime;
use tc_core::{EpochMillis, RawRecord, Region, Validator};

struct Args {
    path: String,
    region: Option<Region>,
    now: EpochMillis,
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut region = None;
    let mut now = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--region" => region = Some(args.next().ok_or("--region needs a code")?.parse()?),
            "--now" => now = Some(args.next().ok_or("--now needs a time")?.parse()?),
            _ if path.is_none() => path = Some(arg),
            other => return Err(format!("unexpected argument `{other}`").into()),
        }
    }
    Ok(Args {
        path: path.ok_or("give the JSON Lines file to check")?,
        region,
        now: match now {
            Some(now) => now,
            None => EpochMillis::try_from(SystemTime::now())?,
        },
    })
}

fn run() -> Result<u64, Box<dyn Error>> {
    let args = parse_args()?;
    let mut validator = Validator::new(args.now);
    if let Some(region) = args.region {
        validator = validator.with_default_region(region);
    }
    let text = std::fs::read_to_string(&args.path)?;
    let mut invalid = 0;
    for (index, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let line_number = index + 1;
        let raw: RawRecord = match serde_json::from_str(line) {
            Ok(raw) => raw,
            Err(e) => {
                invalid += 1;
                eprintln!("{}:{line_number}: not a JSON record: {e}", args.path);
                continue;
            }
        };
        if let Err(errors) = validator.validate(&raw) {
            invalid += 1;
            for diagnostic in &errors {
                eprintln!("{}:{line_number}: {diagnostic}", args.path);
            }
        }
    }
    Ok(invalid)
}

fn main() -> ExitCode {
    match run() {
        Ok(0) => ExitCode::SUCCESS,
        Ok(invalid) => {
            eprintln!("{invalid} invalid record(s)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("ci_check: {e}");
            ExitCode::from(2)
        }
    }
}
