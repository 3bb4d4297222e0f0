//! Per-record delivery outcomes, decided by the receiver number alone so tests can predict them.
//!
//! The hash is FNV-1a over the number's ASCII digits: stable across runs, platforms and Rust
//! versions (std's hasher is seeded per process), and blind to `+`, spaces and other formatting,
//! so `+919876543210` and `919876543210` get the same outcome.

/// Out of 100 buckets: 85 succeed, the rest fail for one of the documented reasons.
const OUTCOMES: &[(u64, &str, Option<&str>)] = &[
    (85, "success", None),
    (
        89,
        "not_truecaller_user",
        Some("receiver is not a Truecaller user"),
    ),
    (
        93,
        "os_not_supported",
        Some("receiver's OS is not supported (not Android)"),
    ),
    (
        96,
        "app_version_not_supported",
        Some("receiver's Truecaller app version is not supported"),
    ),
    (
        100,
        "push_failed",
        Some("failed to push to the receiver's device (device unreachable)"),
    ),
];

/// The `status_info.status` the simulator reports for a record sent to `receiver_number`:
/// `"success"` for about 85% of numbers, otherwise `not_truecaller_user`, `os_not_supported`,
/// `app_version_not_supported` or `push_failed`.
pub fn expected_status(receiver_number: &str) -> &'static str {
    expected_outcome(receiver_number).0
}

/// The status and the message (none for `success`) reported for `receiver_number`.
pub fn expected_outcome(receiver_number: &str) -> (&'static str, Option<&'static str>) {
    let bucket = mix(fnv1a(receiver_number.bytes().filter(u8::is_ascii_digit))) % 100;
    OUTCOMES
        .iter()
        .find(|(upper, _, _)| bucket < *upper)
        .map_or(("success", None), |&(_, status, message)| (status, message))
}

fn fnv1a(bytes: impl Iterator<Item = u8>) -> u64 {
    bytes.fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// FNV-1a's low bits change little between numbers that differ in the last digit; folding the
/// high half in spreads consecutive numbers over the buckets.
fn mix(hash: u64) -> u64 {
    hash ^ (hash >> 29) ^ (hash >> 47)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_does_not_change_the_outcome() {
        for n in 0..200u64 {
            let digits = format!("9198765{:05}", n);
            assert_eq!(
                expected_outcome(&digits),
                expected_outcome(&format!("+{digits}"))
            );
        }
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a("".bytes()), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a".bytes()), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a("foobar".bytes()), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn about_85_percent_succeed_and_every_failure_occurs() {
        let mut counts = std::collections::BTreeMap::new();
        for n in 0..10_000u64 {
            *counts
                .entry(expected_status(&format!("+9198{:08}", n)))
                .or_insert(0u32) += 1;
        }
        let success = counts["success"];
        assert!((8_200..=8_800).contains(&success), "{counts:?}");
        for (_, status, _) in OUTCOMES {
            assert!(
                counts.get(status).copied().unwrap_or(0) > 100,
                "{status}: {counts:?}"
            );
        }
    }
}
