//! The input flags `validate`, `submit` and `config show` share ([`InputArgs`]), and the flags
//! that pick a profile of the config file ([`ProfileArgs`]). `config::Settings::read_options`
//! turns them, over the profile's settings, into tc-input's `ReadOptions`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use tc_input::local_time::{DateFormat, Span, Zone};
use tc_input::map::MapEntry;

/// The input flags of `validate` and `submit`; a profile's settings fill what they leave out.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct InputArgs {
    /// Reads the column HEADER as the field FIELD, such as --map receiver_number="Customer
    /// Mobile" (letter case and spaces of HEADER do not matter); repeat for each field.
    #[arg(long = "map", value_name = "FIELD=HEADER")]
    pub map: Vec<MapEntry>,
    /// Reads times without a UTC offset (`2030-07-23 10:30`, date cells) in this IANA time zone.
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<Zone>,
    /// A strftime pattern for local times in another form, such as `%d/%m/%Y %H:%M`.
    #[arg(long, value_name = "PATTERN")]
    pub date_format: Option<DateFormat>,
    /// The column of the planned call time: starts_at and ends_at are derived from it with
    /// --show-before and --show-after.
    #[arg(long, value_name = "HEADER")]
    pub call_time: Option<String>,
    /// How long before the call time the caller ID shows, such as 15m.
    #[arg(long, value_name = "DURATION")]
    pub show_before: Option<Span>,
    /// How long after the call time the caller ID shows, such as 2h.
    #[arg(long, value_name = "DURATION")]
    pub show_after: Option<Span>,
    /// The sheet of a spreadsheet to read; default: the first.
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,
    /// The CSV separator: `,`, `;`, `tab` or `|`. Default: a comma, or `;` or a tab when the
    /// header splits only on that.
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<Delimiter>,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

/// Which profile of which config file applies.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ProfileArgs {
    /// The config file; default: tcbatch.toml in the working directory, when there is one.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The profile of the config file whose settings apply (flags override them).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

/// A CSV field separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiter(pub u8);

impl FromStr for Delimiter {
    type Err = String;

    fn from_str(text: &str) -> Result<Delimiter, String> {
        match text {
            "tab" | "\\t" | "\t" => Ok(Delimiter(b'\t')),
            "," | ";" | "|" | ":" => Ok(Delimiter(text.as_bytes()[0])),
            _ => Err(format!(
                "`{}` is not a CSV separator tcbatch reads; give `,`, `;`, `|`, `:` or `tab`",
                tc_core::diagnostic::excerpt(text)
            )),
        }
    }
}

impl fmt::Display for Delimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            b'\t' => f.write_str("tab"),
            other => write!(f, "{}", other as char),
        }
    }
}
