//! The tests that need a Redis server run when `TC_REDIS_URL` names one, and are ignored, each
//! with the reason, when it does not; with `TC_REDIS_REQUIRED=1` (as CI sets it) a missing URL
//! stops the build instead, so CI can never skip them.

use std::env;
use std::process::ExitCode;

fn main() -> ExitCode {
    println!("cargo::rerun-if-env-changed=TC_REDIS_URL");
    println!("cargo::rerun-if-env-changed=TC_REDIS_REQUIRED");
    println!("cargo::rustc-check-cfg=cfg(tc_redis)");
    let url = env::var("TC_REDIS_URL").is_ok_and(|url| !url.trim().is_empty());
    if url {
        println!("cargo::rustc-cfg=tc_redis");
    } else if env::var("TC_REDIS_REQUIRED").is_ok_and(|v| v == "1") {
        eprintln!(
            "TC_REDIS_REQUIRED=1 but TC_REDIS_URL is not set: point it at a Redis server, \
             e.g. TC_REDIS_URL=redis://127.0.0.1:6379/"
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
