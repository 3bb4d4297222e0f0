//! What `tcbatch` writes to its logs, however verbose they are asked to be: never a customer's
//! phone number (the phone library traces every number it parses) and never a secret.

mod common;

use std::path::PathBuf;

fn example(name: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "..", "..", "examples", name]
        .iter()
        .collect()
}

/// The digits of every number in `examples/calls.csv`, as the phone library would quote them.
fn customer_numbers() -> Vec<String> {
    let text = std::fs::read_to_string(example("calls.csv")).unwrap();
    let mut numbers = Vec::new();
    for line in text.lines().skip(1) {
        for field in line.split(',').take(2) {
            let digits: String = field.chars().filter(char::is_ascii_digit).collect();
            // The national significant number: what the library prints without a country code.
            if digits.len() >= 10 {
                numbers.push(digits[digits.len() - 10..].to_owned());
            }
        }
    }
    assert!(numbers.len() > 10, "the example holds numbers to look for");
    numbers
}

#[test]
fn trace_logs_of_a_push_name_no_customer_number_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("calls.csv");
    std::fs::copy(example("calls.csv"), &input).unwrap();
    let output = common::tcbatch_command()
        .args(["submit", "--mock", "--region", "IN"])
        .arg(&input)
        .env("RUST_LOG", "trace,rlibphonenumber=trace")
        .output()
        .expect("run tcbatch");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("TRACE"),
        "trace logging was on, so the test looks at real trace output:\n{stderr}"
    );
    assert!(stderr.contains("7 accepted"), "the push ran:\n{stderr}");
    for number in customer_numbers() {
        assert!(
            !stderr.contains(&number),
            "the logs quote the customer number {number}:\n{stderr}"
        );
    }
    let demo = tc_sim::SimConfig::demo();
    assert!(
        !stderr.contains(&demo.api_key),
        "the API key reached the logs"
    );
}
