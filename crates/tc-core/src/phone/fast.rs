//! The fast path of [`super::E164::normalize`]: the phone library's own validity decision, for
//! the shapes most numbers have, without its per-call costs.
//!
//! The library answers with regexes that share a cache pool between threads, captures and
//! strings built on the way. Here each region's patterns, exactly as the library's metadata
//! writes them, are compiled once into one fully built DFA: immutable, so threads share it
//! without a lock, and matched by stepping bytes, so a number costs no allocation.
//!
//! Soundness runs one way: [`FastPath`] answers `Some` only where the library would accept the
//! same digits and print the same E.164; anything it does not replicate (a national prefix
//! that is more than plain digits, an international prefix, leading zeros that stay, a region
//! its patterns do not compile for) is `None`, and the library decides. The steps replicated
//! are named after the library's functions they stand for.
//!
//! This module does not name the library: phone.rs hands it each region's rules as text.

use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::util::{primitives::StateID, syntax};
use regex_automata::{Anchored, Input, MatchKind};
use std::sync::OnceLock;

/// Country calling codes have one to three digits.
const CALLING_CODES: usize = 1000;
/// The library's `MIN_LENGTH_FOR_NSN` and `MAX_LENGTH_FOR_NSN`.
const NSN_LENGTHS: std::ops::RangeInclusive<usize> = 2..=17;
/// A region's patterns that do not fit in this much memory as a DFA are left to the library.
const DFA_SIZE_LIMIT: usize = 4 << 20;

/// One number description of a region's metadata (general, fixed line, mobile...).
pub(super) struct Desc {
    /// `^(?:...)$`, as the metadata stores it; `None` when the region has no such numbers.
    pub(super) pattern: Option<String>,
    /// The national significant number lengths; empty means any length.
    pub(super) possible_lengths: Vec<i32>,
}

/// What the fast path needs of one region's metadata. `K` names the region for phone.rs.
pub(super) struct RegionRules<K> {
    pub(super) key: K,
    pub(super) general: Desc,
    /// The general description's lengths only dialled locally.
    pub(super) local_only_lengths: Vec<i32>,
    /// Every description that makes a number valid once it matches: premium rate, toll free,
    /// shared cost, VoIP, personal, pager, UAN, voicemail, fixed line, and mobile unless the
    /// metadata says its pattern is the fixed line's (the library does not look at it then).
    pub(super) kinds: Vec<Desc>,
    /// Patterns the library matches at the start of the number, as `^(?:...)$`.
    pub(super) leading_digits: Option<String>,
    pub(super) national_prefix_for_parsing: Option<String>,
    pub(super) international_prefix: Option<String>,
}

/// The regions of one calling code, in the order the library tries them (main region first),
/// as phone.rs reads them; `None` for a code that does not exist.
pub(super) type Loader<K> = fn(u16) -> Option<Vec<RegionRules<K>>>;

/// The fast path for every calling code, built lazily: a code's rules when a number first
/// names it, a region's DFA when a number first needs it.
pub(super) struct FastPath<K: 'static> {
    load: Loader<K>,
    countries: [OnceLock<Option<Country<K>>>; CALLING_CODES],
}

struct Country<K> {
    code: String,
    regions: Vec<Region<K>>,
}

struct Region<K> {
    rules: RegionRules<K>,
    matcher: OnceLock<Option<Matcher>>,
}

impl<K: Copy + Eq> FastPath<K> {
    pub(super) const fn new(load: Loader<K>) -> Self {
        FastPath {
            load,
            countries: [const { OnceLock::new() }; CALLING_CODES],
        }
    }

    /// `digits` were written after `+` and read without a default region: how the library
    /// would print `+digits` in E.164 when it accepts them.
    pub(super) fn international(&self, digits: &str) -> Option<Accepted> {
        let bytes = digits.as_bytes();
        // extract_country_code: no code starts with 0; the shortest known prefix is the code.
        // A shorter text is TooShortAfterIdd.
        if bytes.len() < 3 || bytes[0] == b'0' {
            return None;
        }
        let (country, nsn) = (1..=3).find_map(|width| {
            let country = self.country(calling_code(&bytes[..width])?)?;
            Some((country, &bytes[width..]))
        })?;
        // A code that exists but that the fast path does not handle is `None` too.
        let country = country?;
        if !NSN_LENGTHS.contains(&nsn.len()) {
            return None;
        }
        // The main region's national prefix is stripped even from international numbers.
        let main = country.regions.first()?.matcher()?;
        let matched = main.scan(nsn);
        let kept = main.after_national_prefix(nsn, matched)?;
        let kept_matched = if kept.len() == nsn.len() {
            matched
        } else {
            main.scan(kept)
        };
        if !is_plain_nsn(kept) || !country.is_valid(kept, kept_matched)? {
            return None;
        }
        Some(if kept.len() == nsn.len() {
            Accepted::AsWritten
        } else {
            Accepted::Rewritten(country.e164(kept))
        })
    }

    /// `digits` were written without `+` and read in `region`, whose calling code is `code`:
    /// the E.164 form when the library would read them as a national number and accept it.
    pub(super) fn national(&self, digits: &str, code: u16, region: K) -> Option<String> {
        let country = self.country(code)??;
        let nsn = digits.as_bytes();
        if !NSN_LENGTHS.contains(&nsn.len()) {
            return None;
        }
        let at = country.regions.iter().position(|r| r.rules.key == region)?;
        let matcher = country.regions[at].matcher()?;
        let matched = matcher.scan(nsn);
        // An international prefix makes the digits international.
        if matcher
            .international_prefix
            .is_some_and(|p| p.is_in(matched))
        {
            return None;
        }
        if let Some(after_code) = nsn.strip_prefix(country.code.as_bytes()) {
            match matcher.reads_code_first(nsn, matched, after_code)? {
                // Then the library reads the digits as it reads them after `+`.
                CodeFirst::TakenOff => {
                    return match self.international(digits)? {
                        Accepted::AsWritten => Some(format!("+{digits}")),
                        Accepted::Rewritten(e164) => Some(e164),
                    };
                }
                CodeFirst::Kept => {}
            }
        }
        let kept = matcher.after_national_prefix(nsn, matched)?;
        // Validity is decided by the calling code's regions, main region first.
        let main_matched = if at == 0 && kept.len() == nsn.len() {
            matched
        } else {
            country.regions[0].matcher()?.scan(kept)
        };
        (is_plain_nsn(kept) && country.is_valid(kept, main_matched)?).then(|| country.e164(kept))
    }

    /// Whether the library, reading `00` and then `after_00` as a number of `region` (calling
    /// code `code`), surely takes exactly that `00` for the region's international prefix and
    /// reads what follows as it reads it after `+`. `false` where it may not, or where the fast
    /// path cannot tell: then the caller weighs both readings.
    pub(super) fn takes_00_for_international_prefix(
        &self,
        after_00: &str,
        code: u16,
        region: K,
    ) -> bool {
        // parse_prefix_as_idd: no calling code starts with 0, so a 0 after the prefix undoes it.
        if !matches!(after_00.bytes().next(), Some(b'1'..=b'9')) {
            return false;
        }
        let Some(Some(country)) = self.country(code) else {
            return false;
        };
        let rules = country.regions.iter().find(|r| r.rules.key == region);
        let pattern = rules.and_then(|r| r.rules.international_prefix.as_deref());
        pattern
            .and_then(inner)
            .and_then(|choices| first_choice_after_00(choices, after_00.as_bytes()))
            .is_some_and(|choice| choice == "00")
    }

    /// Bytes held by the DFAs built so far.
    #[cfg(test)]
    pub(super) fn compiled_bytes(&self) -> usize {
        let regions = self.countries.iter().filter_map(OnceLock::get).flatten();
        let matchers = regions.flat_map(|c| c.regions.iter().filter_map(|r| r.matcher.get()));
        matchers.flatten().map(|m| m.dfa.memory_usage()).sum()
    }

    /// The country of a calling code: `None` when no such code exists, `Some(None)` when it
    /// exists but the fast path does not handle it.
    fn country(&self, code: u16) -> Option<Option<&Country<K>>> {
        let slot = self.countries.get(usize::from(code))?;
        let country = slot.get_or_init(|| self.load_country(code));
        match country {
            Some(country) if country.regions.is_empty() => Some(None),
            Some(country) => Some(Some(country)),
            None => None,
        }
    }

    fn load_country(&self, code: u16) -> Option<Country<K>> {
        let regions = (self.load)(code)?;
        Some(Country {
            code: code.to_string(),
            regions: regions
                .into_iter()
                .map(|rules| Region {
                    rules,
                    matcher: OnceLock::new(),
                })
                .collect(),
        })
    }
}

/// What the library prints for an international number it accepts.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Accepted {
    /// `+` and the digits as written.
    AsWritten,
    /// Another E.164 text: the library took a national prefix off after the code.
    Rewritten(String),
}

/// The digits of a calling code as a number; `None` past three digits.
fn calling_code(digits: &[u8]) -> Option<u16> {
    digits.iter().try_fold(0u16, |code, d| {
        d.is_ascii_digit().then(|| code * 10 + u16::from(d - b'0'))
    })
}

/// parse_helper's length checks, and no leading zero: the library keeps an Italian leading
/// zero apart from the number, which is left to it.
fn is_plain_nsn(nsn: &[u8]) -> bool {
    NSN_LENGTHS.contains(&nsn.len()) && nsn.first() != Some(&b'0')
}

impl<K> Country<K> {
    /// `+`, the calling code and the national significant number.
    fn e164(&self, nsn: &[u8]) -> String {
        let mut e164 = String::with_capacity(1 + self.code.len() + nsn.len());
        e164.push('+');
        e164.push_str(&self.code);
        e164.extend(nsn.iter().map(|&d| char::from(d)));
        e164
    }

    /// is_valid_number on the national significant number `nsn` of this calling code, given
    /// what the main region's patterns matched: `None` where the fast path cannot tell.
    fn is_valid(&self, nsn: &[u8], main_matched: u32) -> Option<bool> {
        let (main, others) = self.regions.split_first()?;
        let main = main.matcher()?;
        if others.is_empty() {
            return Some(main.is_valid(main_matched, nsn.len()));
        }
        // get_region_for_number_from_region_list: the first region whose leading digits
        // match, or for which the number has a type, is the number's region.
        if let Some(valid) = main.decides_region(main_matched, nsn.len()) {
            return Some(valid);
        }
        for region in others {
            let matcher = region.matcher()?;
            if let Some(valid) = matcher.decides_region(matcher.scan(nsn), nsn.len()) {
                return Some(valid);
            }
        }
        Some(false)
    }
}

impl<K> Region<K> {
    fn matcher(&self) -> Option<&Matcher> {
        self.matcher
            .get_or_init(|| Matcher::build(&self.rules))
            .as_ref()
    }
}

/// One region's patterns compiled into one DFA, each pattern reported separately.
struct Matcher {
    dfa: dense::DFA<Vec<u32>>,
    general: Kind,
    general_lengths: LengthRule,
    kinds: Vec<Kind>,
    leading_digits: Option<PatternBit>,
    national_prefix: Option<PatternBit>,
    /// The national prefixes when the pattern is plain digits or a choice of them (`0`, `1`,
    /// `0|180020`): then the library strips the first of them the number starts with, and the
    /// fast path can follow it.
    national_prefix_digits: Option<Vec<Box<[u8]>>>,
    international_prefix: Option<PatternBit>,
}

/// The bit of a pattern in the set [`Matcher::scan`] returns.
#[derive(Clone, Copy)]
struct PatternBit(u32);

impl PatternBit {
    fn is_in(self, matched: u32) -> bool {
        matched & self.0 != 0
    }
}

/// A number description: its pattern's bit and the lengths it allows, one bit per length.
struct Kind {
    pattern: PatternBit,
    lengths: u32,
}

impl Kind {
    /// is_number_matching_desc: a possible length, then the pattern.
    fn accepts(&self, matched: u32, length: usize) -> bool {
        self.lengths & (1 << length) != 0 && self.pattern.is_in(matched)
    }
}

impl Matcher {
    /// Compiles a region's patterns; `None` when one of them is not in the form the library's
    /// metadata always has, or the DFA would be too big: the library handles that region.
    fn build<K>(rules: &RegionRules<K>) -> Option<Matcher> {
        let mut patterns = Patterns::default();
        let general = patterns.kind(&rules.general)?;
        let kinds = rules
            .kinds
            .iter()
            .filter_map(|desc| desc.pattern.as_ref().map(|_| patterns.kind(desc)))
            .collect::<Option<Vec<_>>>()?;
        let leading_digits = patterns.prefix(rules.leading_digits.as_deref())?;
        let national_prefix = patterns.prefix(rules.national_prefix_for_parsing.as_deref())?;
        let international_prefix = patterns.prefix(rules.international_prefix.as_deref())?;
        Some(Matcher {
            dfa: patterns.compile()?,
            general: general?,
            general_lengths: LengthRule {
                possible: library_length_mask(&rules.general.possible_lengths),
                local_only: library_length_mask(&rules.local_only_lengths),
            },
            kinds: kinds.into_iter().flatten().collect(),
            leading_digits,
            national_prefix,
            national_prefix_digits: rules
                .national_prefix_for_parsing
                .as_deref()
                .and_then(inner)
                .and_then(plain_digit_choices),
            international_prefix,
        })
    }

    /// The set of patterns that match all of `nsn` (a prefix, for the prefix patterns).
    fn scan(&self, nsn: &[u8]) -> u32 {
        let input = Input::new(nsn).anchored(Anchored::Yes);
        let Ok(mut state) = self.dfa.start_state_forward(&input) else {
            return 0;
        };
        for &byte in nsn {
            state = self.dfa.next_state(state, byte);
            if self.dfa.is_dead_state(state) {
                return 0;
            }
        }
        self.matched_at_end(self.dfa.next_eoi_state(state))
    }

    fn matched_at_end(&self, state: StateID) -> u32 {
        if !self.dfa.is_match_state(state) {
            return 0;
        }
        (0..self.dfa.match_len(state))
            .map(|i| 1 << self.dfa.match_pattern(state, i).as_usize())
            .fold(0, |set, bit| set | bit)
    }

    /// get_number_type_helper is not Unknown: the general description, then any type.
    fn is_valid(&self, matched: u32, length: usize) -> bool {
        self.general.accepts(matched, length)
            && self.kinds.iter().any(|kind| kind.accepts(matched, length))
    }

    /// maybe_extract_country_code, for national `digits` that start with the region's own
    /// calling code: whether the library takes the code off, reading the rest as the
    /// national number. `matched` is what the patterns matched of all `digits`; `None` when
    /// it would take off a national prefix after the code too, which is not replicated here.
    fn reads_code_first(
        &self,
        digits: &[u8],
        matched: u32,
        after_code: &[u8],
    ) -> Option<CodeFirst> {
        // The general pattern alone here, without its lengths, as the library checks it.
        let general_whole = self.general.pattern.is_in(matched);
        let too_long = matches!(self.general_lengths.test(digits.len()), Length::TooLong);
        if general_whole && !too_long {
            // Whatever follows the code: the digits as written fit the region.
            return Some(CodeFirst::Kept);
        }
        let after_matched = self.scan(after_code);
        if !after_code.is_empty() && self.national_prefix.is_some_and(|p| p.is_in(after_matched)) {
            return None;
        }
        let general_after = self.general.pattern.is_in(after_matched);
        Some(if general_after || too_long {
            CodeFirst::TakenOff
        } else {
            CodeFirst::Kept
        })
    }

    /// maybe_strip_national_prefix_and_carrier_code and parse_helper's length check after it,
    /// with this region's metadata: the national significant number the library goes on
    /// with, given what the patterns `matched` of `nsn`. `None` for a national prefix that is
    /// more than plain digits (carrier codes, transform rules), which is not replicated.
    fn after_national_prefix<'a>(&self, nsn: &'a [u8], matched: u32) -> Option<&'a [u8]> {
        if !self.national_prefix.is_some_and(|p| p.is_in(matched)) {
            return Some(nsn);
        }
        // Leftmost-first, as the library's regex matches: the first choice that fits.
        let prefixes = self.national_prefix_digits.as_deref()?;
        let prefix = prefixes.iter().find(|p| nsn.starts_with(p))?;
        let stripped = &nsn[prefix.len()..];
        // The general pattern alone, as the library checks it: a number that matched it
        // keeps its prefix unless what is left matches it too.
        let stripped_matched = self.scan(stripped);
        if self.general.pattern.is_in(matched) && !self.general.pattern.is_in(stripped_matched) {
            return Some(nsn);
        }
        // What is left must be long enough to be a number of the region.
        match self.general_lengths.test(stripped.len()) {
            Length::Possible | Length::TooLong => Some(stripped),
            Length::LocalOnly | Length::TooShort | Length::Invalid => Some(nsn),
        }
    }

    /// Whether this is the region of a number of a shared calling code, and if so whether
    /// the number is valid in it; `None` when the library looks at the next region.
    fn decides_region(&self, matched: u32, length: usize) -> Option<bool> {
        let valid = self.is_valid(matched, length);
        let leading = self.leading_digits.is_some_and(|p| p.is_in(matched));
        (valid || leading).then_some(valid)
    }
}

/// The patterns of one DFA, in the order their bits are numbered.
#[derive(Default)]
struct Patterns(Vec<String>);

impl Patterns {
    /// A description's pattern, matched in full. `Some(None)` for a description without one
    /// (it never matches); `None` for a pattern not in the metadata's `^(?:...)$` form.
    fn kind(&mut self, desc: &Desc) -> Option<Option<Kind>> {
        let Some(pattern) = &desc.pattern else {
            return Some(None);
        };
        let pattern = self.push(format!("^(?:{})$", inner(pattern)?))?;
        Some(Some(Kind {
            pattern,
            lengths: length_mask(&desc.possible_lengths),
        }))
    }

    /// A pattern the library matches at the start only. The numbers are digits, so a match at
    /// the start is a full match of the pattern followed by any digits.
    fn prefix(&mut self, pattern: Option<&str>) -> Option<Option<PatternBit>> {
        match pattern {
            None => Some(None),
            Some(pattern) => Some(Some(self.push(format!("^(?:{})[0-9]*$", inner(pattern)?))?)),
        }
    }

    fn push(&mut self, pattern: String) -> Option<PatternBit> {
        let bit = 1u32.checked_shl(u32::try_from(self.0.len()).ok()?)?;
        self.0.push(pattern);
        Some(PatternBit(bit))
    }

    /// `\d` is ASCII here (Unicode in the library): the numbers matched are ASCII digits, on
    /// which the two agree, and the DFA stays small.
    fn compile(&self) -> Option<dense::DFA<Vec<u32>>> {
        dense::Builder::new()
            .configure(
                dense::Config::new()
                    .match_kind(MatchKind::All)
                    .start_kind(StartKind::Anchored)
                    .dfa_size_limit(Some(DFA_SIZE_LIMIT))
                    .determinize_size_limit(Some(DFA_SIZE_LIMIT)),
            )
            .syntax(syntax::Config::new().unicode(false))
            .build_many(&self.0)
            .ok()
    }
}

/// The choice of an international prefix such as `00|99` that the library's leftmost-first
/// match takes at the start of `00` and `after_00`; `None` when none matches, or when a choice
/// up to the one that matches is more than plain digits (a `|` may then lie inside a group).
fn first_choice_after_00<'a>(choices: &'a str, after_00: &[u8]) -> Option<&'a str> {
    let written = || b"00".iter().chain(after_00);
    for choice in choices.split('|') {
        if choice.is_empty() || !choice.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let fits = choice.len() <= 2 + after_00.len();
        if fits && choice.bytes().zip(written()).all(|(c, w)| c == *w) {
            return Some(choice);
        }
    }
    None
}

/// `0|180020` as its choices; `None` for a pattern with anything but digits and `|`.
fn plain_digit_choices(pattern: &str) -> Option<Vec<Box<[u8]>>> {
    pattern
        .split('|')
        .map(|choice| {
            let plain = !choice.is_empty() && choice.bytes().all(|b| b.is_ascii_digit());
            plain.then(|| choice.as_bytes().into())
        })
        .collect()
}

/// The `...` of the metadata's `^(?:...)$`: the library's anchored forms are built by cutting
/// that wrapper, and anything else it would read differently.
fn inner(pattern: &str) -> Option<&str> {
    pattern
        .strip_prefix("^(?:")?
        .strip_suffix(")$")
        .filter(|inner| !inner.is_empty())
}

/// The general description's lengths as test_number_length reads them.
struct LengthRule {
    possible: u64,
    local_only: u64,
}

/// Whether the library reads a national number's first digits as its region's calling code.
enum CodeFirst {
    TakenOff,
    Kept,
}

/// What test_number_length says of a length.
enum Length {
    Possible,
    LocalOnly,
    TooShort,
    TooLong,
    Invalid,
}

impl LengthRule {
    /// test_number_length_with_unknown_type, step for step.
    fn test(&self, length: usize) -> Length {
        if self.possible == 0 {
            return Length::Invalid;
        }
        let Some(bit) = u32::try_from(length).ok().and_then(|l| 1u64.checked_shl(l)) else {
            return Length::TooLong;
        };
        if self.local_only & bit != 0 {
            return Length::LocalOnly;
        }
        let shortest = 1u64 << self.possible.trailing_zeros();
        let longest = 1u64 << (63 - self.possible.leading_zeros());
        if bit == shortest {
            Length::Possible
        } else if bit < shortest {
            Length::TooShort
        } else if bit > longest {
            Length::TooLong
        } else if self.possible & bit != 0 {
            Length::Possible
        } else {
            Length::Invalid
        }
    }
}

/// The library's build_length_mask: a `-1` ("no such numbers") clears what came before it.
fn library_length_mask(lengths: &[i32]) -> u64 {
    lengths
        .iter()
        .fold(0, |mask, &length| match u32::try_from(length) {
            Ok(length) if length < 64 => mask | 1 << length,
            _ => 0,
        })
}

/// One bit per allowed length; every length when the list is empty (the library then checks
/// the pattern only). Lengths out of range (the metadata's `-1`, "no such numbers") allow none.
fn length_mask(lengths: &[i32]) -> u32 {
    if lengths.is_empty() {
        return u32::MAX;
    }
    lengths
        .iter()
        .filter_map(|&l| u32::try_from(l).ok().filter(|l| *l < 32))
        .fold(0, |mask, l| mask | 1 << l)
}
