//! The readers' entry points, and the only I/O the crate does: [`open_with`] opens the file the
//! caller names (or standard input), [`from_reader`] reads the reader it is handed, and
//! [`estimate_rows`] looks at a file's size and first lines. Everything else reads the input
//! these hand it, and nothing else (tidy: `tc_input_does_no_io_beyond_its_readers`).

use crate::{csv, is_stdin, json, jsonl, spreadsheet};
use crate::{Format, Parsed, ReadError, ReadOptions, Records, Source, Unopenable};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

const READ_BUFFER_BYTES: usize = 1 << 16;

/// Opens `file` (standard input when `None` or `-`) and reads it as `options` say: its format
/// (else the one its extension names), its column map, delimiter, sheet and time reading.
///
/// Messages name the file as `` `PATH` ``, or as `standard input`. A spreadsheet is read from a
/// file only.
pub fn open_with<P>(file: Option<&P>, options: &ReadOptions) -> Result<Records, ReadError>
where
    P: AsRef<Path> + ?Sized,
{
    let file = file.map(AsRef::as_ref);
    let format = Format::resolve(options.format, file)?;
    options.check_fits(format)?;
    let parsed = match format {
        Format::Spreadsheet => Parsed::Sheet(Box::new(open_sheet(file, options)?)),
        _ => {
            let (name, source) = open_text(file)?;
            parse(source, name, format, options)?
        }
    };
    Ok(Records::new(parsed, options, format))
}

/// Reads `reader` as `format`, with the rest of `options` (their format is not used): a file
/// already open, a request body, bytes in memory. `name` is the input as messages name it, such
/// as `` `calls.csv` `` or `the request body`.
///
/// A spreadsheet is read whole into memory before its sheet is found (a workbook is a zipped
/// whole); the text formats are streamed, one record at a time.
pub fn from_reader<R>(
    reader: R,
    name: impl Into<String>,
    format: Format,
    options: &ReadOptions,
) -> Result<Records, ReadError>
where
    R: BufRead + 'static,
{
    options.check_fits(format)?;
    let parsed = parse(Box::new(reader), name.into(), format, options)?;
    Ok(Records::new(parsed, options, format))
}

/// The input read as `format`, named `name` in messages; a text input is checked by [`sniff`]
/// first.
fn parse(
    mut source: Source,
    name: String,
    format: Format,
    options: &ReadOptions,
) -> Result<Parsed, ReadError> {
    Ok(match format {
        Format::Csv => {
            let source = sniff(source, &name, format)?;
            let layout = &options.layout;
            let csv = csv::CsvRecords::with_layout(source, name, layout, options.delimiter)?;
            Parsed::Csv(Box::new(csv))
        }
        Format::Jsonl => {
            let source = sniff(source, &name, format)?;
            Parsed::Jsonl(jsonl::JsonlRecords::new(source, name, options.keep.clone()))
        }
        Format::Json => {
            let source = sniff(source, &name, format)?;
            Parsed::Json(json::JsonRecords::new(source, name, options.keep.clone())?)
        }
        Format::Spreadsheet => {
            let mut bytes = Vec::new();
            source
                .read_to_end(&mut bytes)
                .map_err(|err| ReadError::io(&name, err))?;
            let open = || Ok(io::Cursor::new(&bytes[..]));
            let sheet = options.sheet.as_deref();
            let records =
                spreadsheet::SheetRecords::open(None, open, &name, sheet, &options.layout)?;
            Parsed::Sheet(Box::new(records))
        }
    })
}

/// A text input, and its name as messages give it.
fn open_text(file: Option<&Path>) -> Result<(String, Source), ReadError> {
    Ok(match file.filter(|p| !is_stdin(Some(p))) {
        None => (
            "standard input".to_owned(),
            Box::new(BufReader::with_capacity(READ_BUFFER_BYTES, io::stdin())),
        ),
        Some(path) => {
            let shown = format!("`{}`", path.display());
            let file = open_file(path, &shown)?;
            (
                shown,
                Box::new(BufReader::with_capacity(READ_BUFFER_BYTES, file)),
            )
        }
    })
}

fn open_sheet(
    file: Option<&Path>,
    options: &ReadOptions,
) -> Result<spreadsheet::SheetRecords, ReadError> {
    let Some(path) = file.filter(|p| !is_stdin(Some(p))) else {
        return Err(ReadError::SpreadsheetFromStdin);
    };
    let shown = format!("`{}`", path.display());
    // The same messages as for a text file that does not exist or is a directory.
    open_file(path, &shown)?;
    let extension = path.extension().and_then(|e| e.to_str());
    // Opened afresh for each kind of workbook tried, through a buffer of the usual size.
    let open = || File::open(path).map(BufReader::new);
    let sheet = options.sheet.as_deref();
    spreadsheet::SheetRecords::open(extension, open, &shown, sheet, &options.layout)
}

/// A rough count of the records in `file`, for progress display: its size over the mean length
/// of its first lines. `None` for standard input or an unreadable file.
pub fn estimate_rows(file: &Path) -> Option<u64> {
    if is_stdin(Some(file)) {
        return None;
    }
    let size = std::fs::metadata(file).ok()?.len();
    let mut sample = Vec::with_capacity(READ_BUFFER_BYTES);
    File::open(file)
        .ok()?
        .take(READ_BUFFER_BYTES as u64)
        .read_to_end(&mut sample)
        .ok()?;
    let lines = memchr::memchr_iter(b'\n', &sample).count().max(1) as u64;
    Some(size.saturating_mul(lines) / (sample.len() as u64).max(1))
}

/// How much of the input [`sniff`] looks at.
const SNIFF_BYTES: u64 = 4096;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Looks at the start of the input before any reader does: text in another encoding than UTF-8
/// (UTF-16 or UTF-32, which spreadsheets save as "Unicode text") and an input with nothing in it
/// are errors that say what happened, in every format alike. Gives the input back whole.
pub(crate) fn sniff(mut source: Source, name: &str, format: Format) -> Result<Source, ReadError> {
    let mut head = Vec::with_capacity(SNIFF_BYTES as usize);
    (&mut source)
        .take(SNIFF_BYTES)
        .read_to_end(&mut head)
        .map_err(|err| ReadError::io(name, err))?;
    if let Some(encoding) = wide_encoding(&head) {
        return Err(ReadError::NotUtf8 {
            name: name.to_owned(),
            encoding,
        });
    }
    let content = head.strip_prefix(UTF8_BOM).unwrap_or(&head);
    if (head.len() as u64) < SNIFF_BYTES && content.iter().all(u8::is_ascii_whitespace) {
        return Err(ReadError::Empty {
            name: name.to_owned(),
            format,
        });
    }
    Ok(Box::new(io::Cursor::new(head).chain(source)))
}

/// The wide encoding `head` (the start of an input) is in, by its byte order mark or, without
/// one, by its zero bytes: text that is mostly ASCII has a zero in every other byte in UTF-16,
/// and UTF-8 text has none at all.
fn wide_encoding(head: &[u8]) -> Option<&'static str> {
    const BOMS: [(&[u8], &str); 4] = [
        (b"\xFF\xFE\x00\x00", "UTF-32 (little-endian)"),
        (b"\x00\x00\xFE\xFF", "UTF-32 (big-endian)"),
        (b"\xFF\xFE", "UTF-16 (little-endian)"),
        (b"\xFE\xFF", "UTF-16 (big-endian)"),
    ];
    if let Some((_, encoding)) = BOMS.iter().find(|(bom, _)| head.starts_with(bom)) {
        return Some(encoding);
    }
    let pairs = head.len() / 2;
    if pairs == 0 {
        return None;
    }
    let zeros_at = |parity: usize| {
        head.iter()
            .skip(parity)
            .step_by(2)
            .take(pairs)
            .filter(|&&b| b == 0)
            .count()
    };
    let (even, odd) = (zeros_at(0), zeros_at(1));
    if odd * 2 > pairs && even * 4 < pairs {
        Some("UTF-16 (little-endian)")
    } else if even * 2 > pairs && odd * 4 < pairs {
        Some("UTF-16 (big-endian)")
    } else {
        None
    }
}

fn open_file(path: &Path, shown: &str) -> Result<File, ReadError> {
    let why = match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Some(Unopenable::Directory),
        Ok(_) => None,
        Err(err) if err.kind() == io::ErrorKind::NotFound => Some(Unopenable::NotFound),
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
            Some(Unopenable::PermissionDenied)
        }
        Err(_) => None,
    };
    if let Some(why) = why {
        return Err(ReadError::CannotOpen {
            name: shown.to_owned(),
            why,
        });
    }
    File::open(path).map_err(|source| ReadError::Open {
        name: shown.to_owned(),
        source,
    })
}
