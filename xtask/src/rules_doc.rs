//! Reads the tables of `docs/rules.md`, so tests can hold the documentation to the code.
//!
//! A table counts as a rules table when its header has a `code` column. In it, the `code` cell
//! holds one code in backticks and the `field(s)` cell names every wire field the code can be
//! reported on, each in backticks (none for whole-record and whole-batch problems).

/// A Markdown table: its header cells and its rows, each with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
}

/// Every table of `markdown`, in document order, without the `|---|` separator lines.
pub fn tables(markdown: &str) -> Vec<Table> {
    let mut tables: Vec<Table> = Vec::new();
    let mut in_table = false;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim();
        if !trimmed.starts_with('|') {
            in_table = false;
            continue;
        }
        let cells = split_row(trimmed);
        if !in_table {
            in_table = true;
            tables.push(Table {
                header: cells,
                rows: Vec::new(),
            });
        } else if !cells
            .iter()
            .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
        {
            tables
                .last_mut()
                .expect("a table was started")
                .rows
                .push((index + 1, cells));
        }
    }
    tables
}

impl Table {
    /// The index of the first header cell for which `pred` holds on its lower-case text.
    pub fn column(&self, pred: impl Fn(&str) -> bool) -> Option<usize> {
        self.header.iter().position(|c| pred(&c.to_lowercase()))
    }
}

/// One row of a rules table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRow {
    /// 1-based line number in the document, for error messages.
    pub line: usize,
    pub code: String,
    pub fields: Vec<String>,
    pub source: String,
}

/// Every row of every rules table in `markdown`, in document order.
pub fn rule_rows(markdown: &str) -> Result<Vec<RuleRow>, String> {
    let mut rows = Vec::new();
    for table in tables(markdown) {
        let Some(code_column) = table.column(|c| c == "code") else {
            continue;
        };
        let fields_column = table.column(|c| c.starts_with("field"));
        let source_column = table.column(|c| c == "source");
        for (line, cells) in &table.rows {
            let cell = |i: Option<usize>| {
                i.and_then(|i| cells.get(i))
                    .map(String::as_str)
                    .unwrap_or("")
            };
            let code_cell = cell(Some(code_column));
            let code = backticked(code_cell);
            if code.len() != 1 {
                return Err(format!(
                    "docs/rules.md line {line}: the code cell `{code_cell}` must hold exactly one code in backticks"
                ));
            }
            rows.push(RuleRow {
                line: *line,
                code: code[0].clone(),
                fields: backticked(cell(fields_column)),
                source: cell(source_column).to_owned(),
            });
        }
    }
    Ok(rows)
}

/// The text inside the first pair of backticks of `cell`, or the whole cell trimmed.
pub fn unquote(cell: &str) -> &str {
    cell.split('`').nth(1).unwrap_or(cell.trim())
}

/// The cells of `| a | b \| c |`, trimmed; `\|` is a literal bar inside a cell.
fn split_row(line: &str) -> Vec<String> {
    let inner = line.strip_prefix('|').unwrap_or(line);
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut cells = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                cells.last_mut().expect("cells starts non-empty").push('|');
            }
            '|' => cells.push(String::new()),
            c => cells.last_mut().expect("cells starts non-empty").push(c),
        }
    }
    cells.iter().map(|c| c.trim().to_owned()).collect()
}

/// The snake_case identifiers written in backticks in `cell`.
fn backticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
# Rules

| field(s) | code | source | boundary |
|---|---|---|---|
| `caller_number`, `receiver_number` | `phone_invalid` | decision | full validity \\| not length |
| — | `batch_empty` | API documentation | at least 1 |

| written | result |
|---|---|
| `+91 98765 43210` | `+919876543210` |
";

    #[test]
    fn reads_rows_of_code_tables_only() {
        let rows = rule_rows(DOC).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].code, "phone_invalid");
        assert_eq!(rows[0].fields, ["caller_number", "receiver_number"]);
        assert_eq!(rows[0].source, "decision");
        assert_eq!(rows[0].line, 5);
        assert_eq!(rows[1].code, "batch_empty");
        assert!(rows[1].fields.is_empty());
    }

    #[test]
    fn reads_every_table_and_escaped_bars() {
        let tables = tables(DOC);
        assert_eq!(tables.len(), 2);
        assert_eq!(tables[0].rows[0].1[3], "full validity | not length");
        assert_eq!(tables[1].header, ["written", "result"]);
        assert_eq!(
            tables[1].rows,
            [(
                10,
                vec!["`+91 98765 43210`".to_owned(), "`+919876543210`".to_owned()]
            )]
        );
        assert_eq!(unquote(&tables[1].rows[0].1[0]), "+91 98765 43210");
    }

    #[test]
    fn a_code_cell_without_one_code_is_an_error() {
        let doc = "| code | field |\n|---|---|\n| phone_invalid | x |\n";
        let err = rule_rows(doc).unwrap_err();
        assert!(err.contains("line 3"), "{err}");
    }
}
