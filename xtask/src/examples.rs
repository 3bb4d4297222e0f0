//! `cargo xtask examples`: writes `examples/bank-export.xlsx` from `examples/bank-export.csv`, as
//! a bank's spreadsheet holds it: text cells, and the call time as real date cells shown as
//! `yyyy-mm-dd hh:mm`. The workbook's creation time is fixed, so the same CSV always gives the
//! same workbook.

use anyhow::{bail, ensure, Context, Result};
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook};
use std::path::Path;

/// The column written as date cells.
const DATE_COLUMN: &str = "Scheduled (IST)";

pub fn examples(options: &[String]) -> Result<()> {
    crate::reject_unknown(options, &[], &[])?;
    let dir = crate::workspace_root().join("examples");
    let csv = dir.join("bank-export.csv");
    let xlsx = dir.join("bank-export.xlsx");
    write_workbook(&csv, &xlsx)?;
    println!("wrote {} from {}", xlsx.display(), csv.display());
    Ok(())
}

fn write_workbook(csv: &Path, xlsx: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(csv).with_context(|| format!("reading {}", csv.display()))?;
    // The example has no quoted fields; refuse one rather than split it wrongly.
    ensure!(
        !text.contains('"'),
        "{} has a quoted field, which this generator does not read",
        csv.display()
    );
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .context("the CSV is empty")?
        .split(',')
        .collect();
    let date_at = header.iter().position(|h| *h == DATE_COLUMN);
    let mut workbook = Workbook::new();
    let created = ExcelDateTime::from_ymd(2030, 7, 1)?;
    workbook.set_properties(&DocProperties::new().set_creation_datetime(&created));
    let sheet = workbook.add_worksheet().set_name("Calls")?;
    let shown = Format::new().set_num_format("yyyy-mm-dd hh:mm");
    for (col, name) in header.iter().enumerate() {
        sheet.write_string(0, col as u16, *name)?;
    }
    for (row, line) in lines.enumerate() {
        let row = row as u32 + 1;
        for (col, cell) in line.split(',').enumerate() {
            if Some(col) == date_at {
                sheet.write_datetime_with_format(row, col as u16, date_cell(cell)?, &shown)?;
            } else {
                sheet.write_string(row, col as u16, cell)?;
            }
        }
    }
    sheet.autofit();
    workbook
        .save(xlsx)
        .with_context(|| format!("writing {}", xlsx.display()))?;
    Ok(())
}

/// `2030-07-23 10:30` as an Excel date cell.
fn date_cell(text: &str) -> Result<ExcelDateTime> {
    let number = |s: &str| -> Result<u16> {
        s.parse()
            .with_context(|| format!("`{text}` is not YYYY-MM-DD HH:MM"))
    };
    let Some((date, time)) = text.split_once(' ') else {
        bail!("`{text}` is not YYYY-MM-DD HH:MM");
    };
    let ymd: Vec<&str> = date.split('-').collect();
    let hm: Vec<&str> = time.split(':').collect();
    let ([y, m, d], [h, min]) = (ymd.as_slice(), hm.as_slice()) else {
        bail!("`{text}` is not YYYY-MM-DD HH:MM");
    };
    Ok(
        ExcelDateTime::from_ymd(number(y)?, number(m)? as u8, number(d)? as u8)?.and_hms(
            number(h)?,
            number(min)? as u8,
            0,
        )?,
    )
}
