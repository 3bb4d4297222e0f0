//! Deterministic, realistic and messy call records, as a CRM or dialer export would hold them:
//! Indian, UK and US numbers written every common way, text padded with spaces, timestamps as
//! milliseconds or RFC 3339, and about 5% of rows with one real mistake each.
//!
//! Every row is valid at [`NOW_RFC3339`] unless it carries a [`Defect`], and the defect names the
//! one code validation must report, so the benches can check they measured real work.

use std::io::{self, Write};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// The CSV header: the API's wire field names.
pub const HEADER: [&str; 7] = [
    "caller_number",
    "receiver_number",
    "dynamic_label_name",
    "dynamic_call_reason",
    "label_id",
    "starts_at",
    "ends_at",
];

/// The time every generated row is checked against (`--now`), as epoch milliseconds.
pub const NOW_MS: i64 = 1_753_246_800_000;
/// [`NOW_MS`] in RFC 3339, as `tcbatch validate --now` takes it.
pub const NOW_RFC3339: &str = "2025-07-23T05:00:00Z";

/// Rows in a thousand that carry a defect.
const DEFECTS_PER_MILLE: u64 = 50;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// The one mistake a generated row was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    LetterInNumber,
    Extension,
    NumberTooShort,
    LabelTooLong,
    LabelMissing,
    ForbiddenInReason,
    TimestampInSeconds,
    WindowExpired,
    WindowTooLong,
}

impl Defect {
    const ALL: [Defect; 9] = [
        Defect::LetterInNumber,
        Defect::Extension,
        Defect::NumberTooShort,
        Defect::LabelTooLong,
        Defect::LabelMissing,
        Defect::ForbiddenInReason,
        Defect::TimestampInSeconds,
        Defect::WindowExpired,
        Defect::WindowTooLong,
    ];

    /// The code validation must report for this defect, and the only one.
    pub fn code(self) -> &'static str {
        match self {
            Defect::LetterInNumber => "phone_has_letters",
            Defect::Extension => "phone_has_extension",
            Defect::NumberTooShort => "phone_too_short",
            Defect::LabelTooLong => "label_name_too_long",
            Defect::LabelMissing => "label_name_required",
            Defect::ForbiddenInReason => "call_reason_forbidden_character",
            Defect::TimestampInSeconds => "timestamp_in_seconds",
            Defect::WindowExpired => "window_expired",
            Defect::WindowTooLong => "window_too_long",
        }
    }
}

/// One generated row: cells in [`HEADER`] order, an empty cell meaning absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub cells: [String; 7],
    pub defect: Option<Defect>,
}

impl Row {
    /// `(wire field name, text)` pairs, as `tc_core::RawRecord::from_text_fields` takes them.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        HEADER
            .iter()
            .copied()
            .zip(self.cells.iter().map(String::as_str))
    }
}

/// A small, fast, seedable generator (SplitMix64): the same seed gives the same file everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`); the modulo bias is irrelevant for test data.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A number in `low..high`.
    pub fn between(&mut self, low: i64, high: i64) -> i64 {
        low + self.below((high - low) as u64) as i64
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn digits(&mut self, out: &mut String, count: usize) {
        for _ in 0..count {
            out.push(char::from(b'0' + self.below(10) as u8));
        }
    }
}

/// A phone number as country code and national groups, the way people write it.
struct Number {
    country_code: &'static str,
    groups: Vec<String>,
}

/// The businesses' own lines: few, reused on every row, as in a real export.
const CALLERS: [(&str, &[&str]); 4] = [
    ("91", &["98450", "00001"]),
    ("91", &["80", "4719", "0000"]),
    ("44", &["20", "7946", "0000"]),
    ("1", &["212", "555", "0100"]),
];

const LABELS: [&str; 8] = [
    "Centro Bank",
    "QuickShip Deliveries",
    "सेंट्रो बैंक",
    "Acme Loans 🏦",
    "Northwind Insurance",
    "  Fresh Basket Grocery  ",
    "Zenith Card Services",
    "Tata-Style Motors Service",
];

const REASONS: [&str; 7] = [
    "Calling you for KYC Verification",
    "Your parcel is out for delivery",
    "आपके लोन के बारे में जानकारी",
    "Reminder about your EMI due on 25 July",
    "Delivery slot confirmation, today 2-4 pm",
    " Your policy renewal is due ",
    "",
];

/// Generates rows from a seed; about 5% carry a [`Defect`].
#[derive(Debug, Clone)]
pub struct Generator {
    rng: Rng,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: Rng::new(seed),
        }
    }

    pub fn row(&mut self) -> Row {
        let defect =
            (self.rng.below(1000) < DEFECTS_PER_MILLE).then(|| *self.rng.pick(&Defect::ALL));
        let rng = &mut self.rng;

        let (country_code, groups) = *rng.pick(&CALLERS);
        let caller = Number {
            country_code,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        let caller = written(rng, &caller);

        let receiver = receiver(rng);
        let receiver = match defect {
            Some(Defect::LetterInNumber) => {
                // The classic typo: the letter O for the digit 0, in the last position.
                let mut text = written_plain(&receiver);
                text.pop();
                text.push('O');
                text
            }
            Some(Defect::Extension) => {
                format!("{} ext. {}", written_plain(&receiver), rng.between(10, 999))
            }
            Some(Defect::NumberTooShort) => {
                format!("+{} {}", receiver.country_code, &receiver.groups[0][..2])
            }
            _ => written(rng, &receiver),
        };

        let with_label_id = rng.below(10) == 0;
        let label_id = if with_label_id {
            uuid(rng)
        } else {
            String::new()
        };
        let label = match defect {
            Some(Defect::LabelTooLong) => {
                "Centro Bank Customer Care and Collections Desk".to_owned()
            }
            Some(Defect::LabelMissing) => String::new(),
            // A label id stands in for the name now and then, as the API allows.
            _ if with_label_id && rng.below(2) == 0 => String::new(),
            _ => rng.pick(&LABELS).to_string(),
        };
        let label_id = if defect == Some(Defect::LabelMissing) {
            String::new()
        } else {
            label_id
        };

        let reason = match defect {
            Some(Defect::ForbiddenInReason) => {
                format!("Calling about your order #{}", rng.between(1000, 99_999))
            }
            _ => rng.pick(&REASONS).to_string(),
        };

        let (starts_at, ends_at) = match defect {
            Some(Defect::WindowExpired) => {
                let ends = NOW_MS - rng.between(MINUTE, 3 * HOUR);
                (ends - HOUR, ends)
            }
            Some(Defect::WindowTooLong) => {
                let starts = NOW_MS + rng.between(0, 6 * HOUR);
                (starts, starts + 25 * HOUR)
            }
            _ => {
                // Starts up to an hour ago and lasts at least two hours, so it is still open now.
                let starts = NOW_MS + rng.between(-HOUR, 6 * HOUR);
                (starts, starts + rng.between(2 * HOUR, 20 * HOUR))
            }
        };
        let starts_at = match defect {
            Some(Defect::TimestampInSeconds) => (starts_at / 1000).to_string(),
            _ => timestamp(rng, starts_at),
        };
        let ends_at = timestamp(rng, ends_at);

        Row {
            cells: [
                caller, receiver, label, reason, label_id, starts_at, ends_at,
            ],
            defect,
        }
    }
}

impl Iterator for Generator {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        Some(self.row())
    }
}

/// A customer's number from ranges that are valid for their country.
fn receiver(rng: &mut Rng) -> Number {
    let mut national = String::with_capacity(12);
    match rng.below(10) {
        // Most customers of this toolkit are Indian: mobiles start with 6 to 9.
        0..=5 => {
            national.push(char::from(b'6' + rng.below(4) as u8));
            rng.digits(&mut national, 9);
            let (a, b) = national.split_at(5);
            Number {
                country_code: "91",
                groups: vec![a.into(), b.into()],
            }
        }
        6 | 7 => {
            let prefix: &&str = rng.pick(&["75", "207", "161"]);
            national.push_str(prefix);
            let missing = 10 - national.len();
            rng.digits(&mut national, missing);
            let (a, b) = national.split_at(4);
            Number {
                country_code: "44",
                groups: vec![a.into(), b.into()],
            }
        }
        _ => {
            let area: &&str = rng.pick(&["212", "415", "646", "312", "617"]);
            national.push_str(area);
            national.push(char::from(b'2' + rng.below(8) as u8));
            rng.digits(&mut national, 6);
            let (area, rest) = national.split_at(3);
            let (exchange, line) = rest.split_at(3);
            Number {
                country_code: "1",
                groups: vec![area.into(), exchange.into(), line.into()],
            }
        }
    }
}

fn written_plain(n: &Number) -> String {
    format!("+{} {}", n.country_code, n.groups.join(" "))
}

/// One of the ways people write an international number.
fn written(rng: &mut Rng, n: &Number) -> String {
    let cc = n.country_code;
    match rng.below(8) {
        0 => written_plain(n),
        1 => format!("+{cc}-{}", n.groups.join("-")),
        2 => format!("00{cc} {}", n.groups.join(" ")),
        3 => format!("(+{cc}) {}", n.groups.join(".")),
        // Bare country code and number, as the older documentation asks.
        4 => format!("{cc}{}", n.groups.concat()),
        5 => format!("+{cc} ({}) {}", n.groups[0], n.groups[1..].join(" ")),
        6 => written_plain(n).chars().map(full_width).collect(),
        _ => format!(" \t+{cc}{} ", n.groups.concat()),
    }
}

/// Full-width forms, as East Asian input methods type them.
fn full_width(c: char) -> char {
    match c {
        '0'..='9' => char::from_u32(0xFF10 + (c as u32 - '0' as u32)).unwrap_or(c),
        '+' => '\u{FF0B}',
        c => c,
    }
}

fn uuid(rng: &mut Rng) -> String {
    let hex = format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64());
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Milliseconds most of the time, RFC 3339 in UTC or in India's offset otherwise.
fn timestamp(rng: &mut Rng, ms: i64) -> String {
    let offset = match rng.below(20) {
        0..=11 => return ms.to_string(),
        12..=16 => UtcOffset::UTC,
        _ => UtcOffset::from_hms(5, 30, 0).unwrap_or(UtcOffset::UTC),
    };
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| t.to_offset(offset))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// Writes a CSV of `rows` generated rows with a header line. Returns how many rows carry a
/// defect, which is how many a validator must reject.
pub fn write_csv(out: &mut impl Write, seed: u64, rows: usize) -> io::Result<usize> {
    let mut defective = 0;
    writeln!(out, "{}", HEADER.join(","))?;
    let mut line = String::with_capacity(256);
    for row in Generator::new(seed).take(rows) {
        defective += usize::from(row.defect.is_some());
        line.clear();
        for (i, cell) in row.cells.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            if cell.contains([',', '"', '\n', '\r']) {
                line.push('"');
                line.push_str(&cell.replace('"', "\"\""));
                line.push('"');
            } else {
                line.push_str(cell);
            }
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(defective)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tc_core::{EpochMillis, RawRecord, Validator};

    #[test]
    fn rows_validate_exactly_as_their_defect_says() {
        let validator = Validator::new(EpochMillis::try_from(NOW_MS).unwrap());
        let mut defects = 0;
        for (i, row) in Generator::new(7).take(4000).enumerate() {
            let result = validator.validate(&RawRecord::from_text_fields(row.fields()));
            match (row.defect, result) {
                (None, Ok(_)) => {}
                (None, Err(diags)) => panic!("row {i} {:?} should be valid: {diags:?}", row.cells),
                (Some(_), Ok(_)) => panic!("row {i} {:?} should be invalid", row.cells),
                (Some(defect), Err(diags)) => {
                    defects += 1;
                    let codes: Vec<&str> = diags.iter().map(|d| d.code.as_str()).collect();
                    assert_eq!(codes, [defect.code()], "row {i} {:?}", row.cells);
                }
            }
        }
        // About 5%: 200 expected out of 4000.
        assert!((120..=280).contains(&defects), "{defects} defective rows");
    }

    #[test]
    fn same_seed_same_rows() {
        let a: Vec<Row> = Generator::new(3).take(50).collect();
        let b: Vec<Row> = Generator::new(3).take(50).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn csv_quotes_cells_with_commas() {
        let mut out = Vec::new();
        let defective = write_csv(&mut out, 1, 300).unwrap();
        assert!(defective < 60, "{defective}");
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 301);
        assert!(text.starts_with("caller_number,receiver_number,"));
        assert!(text.contains("\"Delivery slot confirmation, today 2-4 pm\""));
    }
}
