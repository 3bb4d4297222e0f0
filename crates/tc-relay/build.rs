// The tests that need a PostgreSQL server run when `TC_POSTGRES_URL` names one, and are
// ignored, each with the reason, when it does not; with `TC_POSTGRES_REQUIRED=1` (as CI sets
// it) a missing URL stops the build instead, so CI can never skip them.

use std::env;
use std::process::ExitCode;

fn main() -> ExitCode {
    println!("cargo::rerun-if-env-changed=TC_POSTGRES_URL");
    println!("cargo::rerun-if-env-changed=TC_POSTGRES_REQUIRED");
    println!("cargo::rustc-check-cfg=cfg(tc_postgres)");
    let url = env::var("TC_POSTGRES_URL").is_ok_and(|url| !url.trim().is_empty());
    if url {
        println!("cargo::rustc-cfg=tc_postgres");
    } else if env::var("TC_POSTGRES_REQUIRED").is_ok_and(|v| v == "1") {
        eprintln!(
            "TC_POSTGRES_REQUIRED=1 but TC_POSTGRES_URL is not set: point it at a PostgreSQL \
             server whose user may create databases, e.g. \
             TC_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres"
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
