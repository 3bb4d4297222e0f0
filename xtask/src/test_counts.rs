//! Totals of `cargo test` runs, read from the harness's `test result:` lines.

use std::ops::AddAssign;

/// Tests passed and failed, summed over every test binary of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestCounts {
    pub passed: u64,
    pub failed: u64,
}

impl TestCounts {
    /// Reads a libtest summary such as `test result: ok. 12 passed; 0 failed; 1 ignored; ...`.
    /// Any other line gives `None`, so a whole output can be fed through line by line.
    pub fn from_summary_line(line: &str) -> Option<TestCounts> {
        let rest = line.trim().strip_prefix("test result: ")?;
        let (_status, counts) = rest.split_once(". ")?;
        let mut passed = None;
        let mut failed = None;
        for part in counts.split(';') {
            match part.trim().split_once(' ') {
                Some((n, "passed")) => passed = n.parse().ok(),
                Some((n, "failed")) => failed = n.parse().ok(),
                _ => {}
            }
        }
        Some(TestCounts {
            passed: passed?,
            failed: failed?,
        })
    }
}

impl AddAssign for TestCounts {
    fn add_assign(&mut self, other: TestCounts) {
        self.passed += other.passed;
        self.failed += other.failed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_passing_and_failing_summaries() {
        let ok = "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.15s";
        assert_eq!(
            TestCounts::from_summary_line(ok),
            Some(TestCounts {
                passed: 12,
                failed: 0
            })
        );
        let failed =
            "test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out";
        assert_eq!(
            TestCounts::from_summary_line(failed),
            Some(TestCounts {
                passed: 3,
                failed: 2
            })
        );
    }

    #[test]
    fn ignores_other_lines() {
        for line in [
            "",
            "running 3 tests",
            "test pools ... ok",
            "test result: garbage",
            "xtask-ci: 1 passed, 0 failed",
        ] {
            assert_eq!(TestCounts::from_summary_line(line), None, "{line}");
        }
    }

    #[test]
    fn sums() {
        let mut total = TestCounts::default();
        total += TestCounts {
            passed: 2,
            failed: 1,
        };
        total += TestCounts {
            passed: 5,
            failed: 0,
        };
        assert_eq!(
            total,
            TestCounts {
                passed: 7,
                failed: 1
            }
        );
    }
}
