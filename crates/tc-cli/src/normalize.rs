//! `tcbatch normalize`: one written phone number per line on standard input, one line out per
//! line in, in order: the E.164 form, or `error: <code>`.

use crate::submit::OutputArg;
use std::io::{self, BufReader, BufWriter, Write};
use std::process::ExitCode;
use tc_core::{Region, E164};
use tc_input::lines::Lines;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 when every line is a valid number, 1 when any line is \
                        an error, 2 on a usage or I/O error."
)]
pub struct NormalizeArgs {
    /// Reads numbers written without + or 00 as national numbers of this region (ISO 3166, e.g. IN).
    #[arg(long, value_name = "CC")]
    pub region: Option<Region>,
    /// One E.164 number or `error: CODE` per line, or one JSON object per line:
    /// {"line": N, "e164": "+91..."} or {"line": N, "error": "CODE", "message": "..."}.
    #[arg(long, value_enum, default_value_t = OutputArg::Human)]
    pub output: OutputArg,
}

pub fn run(args: NormalizeArgs) -> io::Result<ExitCode> {
    let mut lines = Lines::new(BufReader::with_capacity(1 << 16, io::stdin().lock()));
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut buf = Vec::with_capacity(64);
    let mut any_error = false;
    while let Some(line) = lines.read_line(&mut buf)? {
        let mut text = buf.as_slice();
        if line.number == 1 {
            text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
        }
        let text = String::from_utf8_lossy(text);
        let normalized = E164::normalize(&text, args.region);
        any_error |= normalized.is_err();
        match args.output {
            OutputArg::Human => match normalized {
                Ok(number) => writeln!(out, "{number}")?,
                Err(err) => writeln!(out, "error: {}", err.code())?,
            },
            OutputArg::Json => {
                let answer = match normalized {
                    Ok(number) => {
                        serde_json::json!({"line": line.number, "e164": number.to_string()})
                    }
                    Err(err) => serde_json::json!({
                        "line": line.number,
                        "error": err.code().as_str(),
                        "message": err.to_string(),
                    }),
                };
                writeln!(out, "{answer}")?;
            }
        }
        buf.clear();
    }
    out.flush()?;
    Ok(if any_error {
        ExitCode::from(crate::validate::EXIT_INVALID)
    } else {
        ExitCode::SUCCESS
    })
}
