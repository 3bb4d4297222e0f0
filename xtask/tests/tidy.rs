//! Tidy checks of the codebase itself: tc-core and tc-engine stay pure, tc-input's I/O stays in
//! its entry points, the rules documentation matches the code, and no file carries machine
//! paths, leftover debugging or an undocumented crate root.

use serde_json::Value;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;
use tc_core::rules::PHONE_SEPARATORS;
use tc_core::{Code, EpochMillis, Field, RawRecord, Region, Validator, E164};
use xtask::rules_doc::{rule_rows, tables, unquote};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
    command
}

/// Every `.rs` file under `dir`, recursively, skipping build output.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && path.file_name().is_some_and(|n| n != "target") {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// `path:line: text` for each line of the files containing one of `needles`.
fn occurrences(files: &[PathBuf], needles: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for (number, line) in text.lines().enumerate() {
            for needle in needles.iter().filter(|n| line.contains(n.as_str())) {
                let shown = file.strip_prefix(root()).unwrap_or(file).display();
                found.push(format!(
                    "{shown}:{}: `{needle}` in `{}`",
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    found
}

/// Crates that do I/O or own a runtime: tc-core may depend on none of them, even indirectly.
const IO_CRATES: &[&str] = &[
    "tokio",
    "reqwest",
    "hyper",
    "mio",
    "axum",
    "socket2",
    "async-std",
    "async-io",
    "smol",
    "tower",
    "fs-err",
    "fs_extra",
    "tempfile",
    "walkdir",
    "memmap2",
    "notify",
    "glob",
];

/// The crates of [`IO_CRATES`] that `package` depends on, even indirectly, through normal
/// (not dev, not build) edges, each as the path that reaches it.
fn io_dependencies_of(package: &str) -> Vec<String> {
    let output = cargo()
        .args(["metadata", "--format-version", "1"])
        .output()
        .expect("running cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let names: HashMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let nodes: HashMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .expect("resolve.nodes")
        .iter()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let start = names
        .iter()
        .find(|(_, name)| **name == package)
        .map(|(id, _)| *id)
        .unwrap_or_else(|| panic!("{package} in metadata"));

    // Breadth-first over normal edges, remembering how each crate was reached.
    let mut reached_from: HashMap<&str, &str> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(id) = queue.pop_front() {
        for dep in nodes[id]["deps"].as_array().into_iter().flatten() {
            let normal = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null());
            let Some(dep_id) = dep["pkg"].as_str() else {
                continue;
            };
            if normal && dep_id != start && !reached_from.contains_key(dep_id) {
                reached_from.insert(dep_id, id);
                queue.push_back(dep_id);
            }
        }
    }
    let mut offenders = Vec::new();
    for (&id, _) in reached_from
        .iter()
        .filter(|(id, _)| IO_CRATES.contains(&names[**id]) || names[**id] == "tc-push")
    {
        let mut path = vec![names[id]];
        let mut at = id;
        while let Some(&parent) = reached_from.get(at) {
            path.push(names[parent]);
            at = parent;
        }
        path.push(package);
        path.reverse();
        path.dedup();
        offenders.push(path.join(" -> "));
    }
    offenders.sort();
    offenders
}

#[test]
fn tc_core_has_no_io_dependency() {
    let offenders = io_dependencies_of("tc-core");
    assert!(
        offenders.is_empty(),
        "tc-core must stay free of I/O, but depends on: {offenders:#?}\nmove that code to tc-http, tc-sim or tc-cli"
    );
}

#[test]
fn tc_engine_has_no_io_dependency() {
    let offenders = io_dependencies_of("tc-engine");
    assert!(
        offenders.is_empty(),
        "tc-engine decides without I/O, but depends on: {offenders:#?}\nthe I/O belongs to the \
         adapters (tc-push, tc-relay)"
    );
}

#[test]
fn tc_relay_does_not_depend_on_tc_push() {
    // The relay shares the push's decisions through tc-engine, not its journal and threads.
    let offenders: Vec<String> = io_dependencies_of("tc-relay")
        .into_iter()
        .filter(|path| path.ends_with("tc-push"))
        .collect();
    assert!(
        offenders.is_empty(),
        "tc-relay depends on tc-push: {offenders:#?}\nmove the shared decision to tc-engine"
    );
}

/// The lines of `file` that are not test code, numbered from 1, and the files it declares as
/// `#[cfg(test)] mod name;`. By the crate's convention a `#[cfg(test)] mod tests { ... }` block
/// closes its file, so everything from it on is skipped. Tests may print and time themselves;
/// the library may not.
fn library_lines(file: &Path) -> (Vec<(usize, String)>, Vec<PathBuf>) {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = Vec::new();
    let mut test_files = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let next = lines.get(index + 1).map(|l| l.trim()).unwrap_or("");
        if lines[index].trim() == "#[cfg(test)]" && next.starts_with("mod ") {
            if let Some(name) = next.strip_prefix("mod ").and_then(|n| n.strip_suffix(';')) {
                let dir = file.parent().expect("a file has a directory");
                let own_dir = match file.file_stem().and_then(|s| s.to_str()) {
                    Some("mod" | "lib" | "main") => dir.to_path_buf(),
                    Some(stem) => dir.join(stem),
                    None => dir.to_path_buf(),
                };
                test_files.push(own_dir.join(format!("{name}.rs")));
                test_files.push(own_dir.join(name).join("mod.rs"));
                index += 2;
                continue;
            }
            break;
        }
        kept.push((index + 1, lines[index].to_owned()));
        index += 1;
    }
    (kept, test_files)
}

#[test]
fn tc_core_never_reads_a_clock_or_does_io() {
    // Converting a `SystemTime` a caller hands over is fine; reading the clock is not.
    let banned = [
        "SystemTime::now",
        "Instant::now",
        "now_utc",
        "now_local",
        "std::fs",
        "std::net",
        "std::thread",
        "std::process",
        "std::io::stdin",
        "std::env",
        "println!",
        "print!(",
        "eprint",
        "tokio",
    ];
    let found = library_occurrences("crates/tc-core/src", &banned, &[]);
    assert!(
        found.is_empty(),
        "tc-core is pure: the time is a parameter and I/O belongs to the other crates. Found:\n{}",
        found.join("\n")
    );
}

/// The one file of tc-input that opens files and standard input: its reader entry points.
const TC_INPUT_ENTRY_POINTS: &str = "crates/tc-input/src/open.rs";

#[test]
fn tc_input_does_no_io_beyond_its_readers() {
    // Anywhere in the library: no clock, no thread, no process, no network, no printing.
    let banned = [
        "SystemTime::now",
        "Instant::now",
        "now_utc",
        "now_local",
        "std::thread",
        "std::process",
        "std::net",
        "TcpStream",
        "std::env",
        "println!",
        "print!(",
        "eprint",
        "tokio",
        "anyhow",
    ];
    let mut found = library_occurrences("crates/tc-input/src", &banned, &[]);
    // Opening what is read is the entry points' job; every other file reads what they hand it.
    let opening = [
        "std::fs",
        "File::open",
        "File::create",
        "stdin()",
        "open_workbook_auto",
        "calamine::open_workbook(",
    ];
    found.extend(library_occurrences(
        "crates/tc-input/src",
        &opening,
        &[TC_INPUT_ENTRY_POINTS],
    ));
    assert!(
        found.is_empty(),
        "tc-input reads the file its caller names or the reader it is handed, in \
         {TC_INPUT_ENTRY_POINTS}, and does no other I/O: no clock, no thread, no printing. \
         Found:\n{}",
        found.join("\n")
    );
    // The allowance names a file that really is where the files are opened.
    let entry_points = std::fs::read_to_string(root().join(TC_INPUT_ENTRY_POINTS))
        .expect("tc-input's entry points exist");
    assert!(
        entry_points.contains("File::open") && entry_points.contains("stdin()"),
        "{TC_INPUT_ENTRY_POINTS} no longer opens the input: name the file that does"
    );
}

#[test]
fn tc_engine_never_reads_a_clock_or_does_io() {
    let banned = [
        "SystemTime",
        "Instant",
        "now_utc",
        "std::fs",
        "std::net",
        "std::thread",
        "std::process",
        "std::env",
        "println!",
        "print!(",
        "eprint",
        "tokio",
    ];
    let found = library_occurrences("crates/tc-engine/src", &banned, &[]);
    assert!(
        found.is_empty(),
        "tc-engine decides without I/O: the time is a parameter. Found:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_relay_store_names_states_and_codes_only_in_its_column_mapping() {
    // A state or a code written into a SQL string is a second mapping that can disagree with
    // `store/columns.rs`; queries bind the mapping's values instead.
    let mut needles: Vec<String> = tc_engine::RecordState::ALL
        .iter()
        .map(|state| format!("'{state}'"))
        .collect();
    needles.extend(
        [
            "'sent'",
            "'outcome_unknown'",
            "'window_expired'",
            "'record_unreadable'",
            "'not_sent'",
        ]
        .map(str::to_owned),
    );
    let files: Vec<PathBuf> = rust_files(&root().join("crates/tc-relay/src"))
        .into_iter()
        .filter(|f| !f.ends_with("store/columns.rs"))
        .collect();
    let found = occurrences(&files, &needles);
    assert!(
        found.is_empty(),
        "name states and codes through store/columns.rs, not in SQL:\n{}",
        found.join("\n")
    );
}

#[test]
fn delivery_is_paired_only_in_tc_engine() {
    // Pairing a status answer with a batch's records by receiver was written three times, and
    // the copies disagreed; `tc_engine::delivery::pair` is the one rule.
    let needle = [concat!("trim_start_matches(", "'+')").to_owned()];
    let mut files = Vec::new();
    for dir in [
        "crates/tc-push/src",
        "crates/tc-relay/src",
        "crates/tc-http/src",
    ] {
        files.extend(rust_files(&root().join(dir)));
    }
    let found = occurrences(&files, &needle);
    assert!(
        found.is_empty(),
        "pair deliveries with tc_engine::delivery::pair:\n{}",
        found.join("\n")
    );
    // And both pollers do call it.
    for poller in [
        "crates/tc-push/src/delivery.rs",
        "crates/tc-relay/src/delivery.rs",
    ] {
        let text = std::fs::read_to_string(root().join(poller)).expect("the poller exists");
        assert!(
            text.contains("use tc_engine::delivery::") && text.contains("pair("),
            "{poller} no longer pairs with tc_engine::delivery::pair"
        );
    }
}

#[test]
fn architecture_maps_every_module_of_the_engine_and_its_adapters() {
    // A module the map does not name is one nobody knows where to look for.
    let map = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut missing = Vec::new();
    for krate in ["tc-engine", "tc-http", "tc-push", "tc-relay", "tc-local"] {
        let src = root().join("crates").join(krate).join("src");
        for file in rust_files(&src) {
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name == "lib.rs" || name == "mod.rs" || name == "tests.rs" {
                continue;
            }
            if !map.contains(&format!("`{name}`")) {
                missing.push(format!("{krate}: {name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's module maps do not name:\n{}",
        missing.join("\n")
    );
}

/// How docs/rules.md's source column names each `RuleInfo::source`.
fn documented_source(source: &str) -> &'static str {
    match source {
        "doc" => "API documentation",
        "decision" => "project decision",
        _ => "toolkit input check",
    }
}

#[test]
fn rules_doc_has_one_row_per_code_and_agrees_with_the_table() {
    let path = root().join("docs/rules.md");
    let text = std::fs::read_to_string(&path).expect("docs/rules.md exists");
    let rows = rule_rows(&text).unwrap_or_else(|e| panic!("{e}"));
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for row in &rows {
        if !seen.insert(row.code.as_str()) {
            problems.push(format!(
                "line {}: `{}` has a second row",
                row.line, row.code
            ));
        }
        let Some(code) = Code::from_name(&row.code) else {
            problems.push(format!(
                "line {}: `{}` is not a code of tc_core::Code",
                row.line, row.code
            ));
            continue;
        };
        let info = code.info();
        if let Some(field) = info.field {
            if !row.fields.iter().any(|f| f == field.wire_name()) {
                problems.push(format!(
                    "line {}: `{code}` is reported on `{field}`, which its row does not list",
                    row.line
                ));
            }
        }
        for name in &row.fields {
            if Field::from_wire_name(name).is_none() {
                problems.push(format!("line {}: `{name}` is not a wire field", row.line));
            }
        }
        let source = documented_source(info.source);
        if !row.source.starts_with(source) {
            problems.push(format!(
                "line {}: the source of `{code}` is `{source}`, not `{}`",
                row.line, row.source
            ));
        }
    }
    for code in Code::ALL {
        if !seen.contains(code.as_str()) {
            problems.push(format!("`{code}` has no row in the rules table"));
        }
    }
    let documented: Vec<&str> = rows.iter().map(|r| r.code.as_str()).collect();
    let in_code_order: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    if problems.is_empty() && documented != in_code_order {
        problems.push("rows are not in the order of tc_core::Code::ALL".to_owned());
    }
    assert!(
        problems.is_empty(),
        "docs/rules.md is out of step with tc_core::RULES:\n{}",
        problems.join("\n")
    );
}

/// Tracked files and new files not yet committed (but not ignored ones).
fn repository_files() -> Vec<PathBuf> {
    let output = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root())
        .output()
        .expect("git is needed to list the repository's files");
    assert!(
        output.status.success(),
        "git ls-files failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| root().join(String::from_utf8_lossy(p).as_ref()))
        .filter(|p| p.is_file())
        .collect()
}

#[test]
fn no_file_names_a_machine_path() {
    // Built from pieces so this file does not match itself.
    let needles = [["/", "work", "/"].concat(), ["/", "root", "/"].concat()];
    let mut found = Vec::new();
    for file in repository_files() {
        let bytes = std::fs::read(&file).unwrap_or_default();
        for needle in &needles {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(format!(
                    "{}: contains `{needle}`",
                    file.strip_prefix(root()).unwrap_or(&file).display()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "paths of a particular machine do not belong in the repository:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_crate_root_starts_with_a_doc_comment() {
    let mut crate_dirs: Vec<PathBuf> = std::fs::read_dir(root().join("crates"))
        .expect("crates/ exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    crate_dirs.push(root().join("xtask"));
    let mut problems = Vec::new();
    for dir in crate_dirs {
        let src = dir.join("src");
        let mut roots: Vec<PathBuf> = ["lib.rs", "main.rs"]
            .iter()
            .map(|f| src.join(f))
            .filter(|p| p.is_file())
            .collect();
        roots.extend(rust_files(&src.join("bin")));
        if roots.is_empty() {
            problems.push(format!("{}: no src/lib.rs or src/main.rs", dir.display()));
        }
        for file in roots {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if !text.trim_start().starts_with("//!") {
                let shown = file
                    .strip_prefix(root())
                    .unwrap_or(&file)
                    .display()
                    .to_string();
                problems.push(format!(
                    "{shown}: start with `//!` lines saying what the crate is for"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_placeholder_or_debugging_macros() {
    // Built from pieces so this file does not match itself.
    let needles = [
        ["todo", "!("].concat(),
        ["unimplemented", "!("].concat(),
        ["dbg", "!("].concat(),
    ];
    let mut files = rust_files(&root().join("crates"));
    files.extend(rust_files(&root().join("xtask")));
    let found = occurrences(&files, &needles);
    assert!(
        found.is_empty(),
        "finish or remove these before merging:\n{}",
        found.join("\n")
    );
}

/// The rows of the docs/rules.md tables whose header is exactly `header`.
fn example_rows(header: &[&str]) -> Vec<(usize, Vec<String>)> {
    let text = std::fs::read_to_string(root().join("docs/rules.md")).expect("docs/rules.md exists");
    let rows: Vec<_> = tables(&text)
        .into_iter()
        .filter(|t| t.header == header)
        .flat_map(|t| t.rows)
        .collect();
    assert!(
        !rows.is_empty(),
        "docs/rules.md has no examples table with the header {header:?}"
    );
    rows
}

#[test]
fn phone_examples_in_the_rules_doc_hold() {
    let mut wrong = Vec::new();
    for (line, cells) in example_rows(&["written", "default region", "result"]) {
        let (written, region, expected) =
            (unquote(&cells[0]), unquote(&cells[1]), unquote(&cells[2]));
        let region = (region != "—").then(|| region.parse::<Region>().expect("a known region"));
        let got = match E164::normalize(written, region) {
            Ok(number) => number.as_str().to_owned(),
            Err(err) => err.code().as_str().to_owned(),
        };
        if got != expected {
            wrong.push(format!(
                "line {line}: `{written}` gives `{got}`, the doc says `{expected}`"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/rules.md phone examples are wrong:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_rules_doc_lists_exactly_the_phone_separators_the_code_reads() {
    let rows = example_rows(&["separators", "code points"]);
    // Each row shows its characters in backticks and names their code points, in one order.
    let shown: Vec<String> = rows
        .iter()
        .flat_map(|(_, cells)| cells[0].split('`').skip(1).step_by(2).map(str::to_owned))
        .collect();
    let named: Vec<String> = rows
        .iter()
        .flat_map(|(_, cells)| cells[1].split_whitespace().map(str::to_owned))
        .collect();
    let code: Vec<String> = PHONE_SEPARATORS.iter().map(char::to_string).collect();
    let code_points: Vec<String> = PHONE_SEPARATORS
        .iter()
        .map(|c| format!("U+{:04X}", u32::from(*c)))
        .collect();
    assert_eq!(
        shown, code,
        "docs/rules.md shows other phone separators than tc_core::rules::PHONE_SEPARATORS"
    );
    assert_eq!(
        named, code_points,
        "docs/rules.md names other code points than tc_core::rules::PHONE_SEPARATORS"
    );
}

#[test]
fn timestamp_examples_in_the_rules_doc_hold() {
    let validator = Validator::new(EpochMillis::try_from(1_753_246_800_000).unwrap());
    let mut wrong = Vec::new();
    for (line, cells) in example_rows(&["written", "result"]) {
        let (written, expected) = (unquote(&cells[0]), unquote(&cells[1]));
        let got = match written.parse::<EpochMillis>() {
            Ok(ms) => ms.to_string(),
            Err(_) => {
                let raw = RawRecord::from_text_fields([("starts_at", written)]);
                let diagnostics = validator
                    .validate(&raw)
                    .expect_err("no numbers, so never valid");
                let codes: Vec<&str> = diagnostics
                    .iter()
                    .filter(|d| d.field == Some(Field::StartsAt))
                    .map(|d| d.code.as_str())
                    .collect();
                codes.join(", ")
            }
        };
        if got != expected {
            wrong.push(format!(
                "line {line}: `{written}` gives `{got}`, the doc says `{expected}`"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/rules.md timestamp examples are wrong:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn test_code_is_told_apart_from_library_code() {
    let dir = std::env::temp_dir().join(format!("xtask-tidy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("mod.rs");
    std::fs::write(
        &file,
        "fn a() {}\n#[cfg(test)]\nmod tests;\nfn b() {}\n#[cfg(test)]\nmod more {\nfn c() {}\n}\n",
    )
    .unwrap();
    let (lines, test_files) = library_lines(&file);
    std::fs::remove_dir_all(&dir).ok();
    let kept: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(kept, ["fn a() {}", "fn b() {}"]);
    assert!(test_files.contains(&dir.join("tests.rs")));
}

/// Lines of the library code (tests left out) of every `.rs` file under `dir` that contain one
/// of `needles`, except in the files `allowed` names (paths relative to the workspace root).
fn library_occurrences(dir: &str, needles: &[&str], allowed: &[&str]) -> Vec<String> {
    let files = rust_files(&root().join(dir));
    let mut scanned = Vec::new();
    let mut test_files = Vec::new();
    for file in &files {
        let (lines, tests) = library_lines(file);
        scanned.push((file, lines));
        test_files.extend(tests);
    }
    let mut found = Vec::new();
    for (file, lines) in scanned.into_iter().filter(|(f, _)| !test_files.contains(f)) {
        let shown = file.strip_prefix(root()).unwrap_or(file);
        if allowed.iter().any(|a| shown == Path::new(a)) {
            continue;
        }
        for (number, line) in lines {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for needle in needles.iter().filter(|n| line.contains(*n)) {
                found.push(format!(
                    "{}:{number}: `{needle}` in `{}`",
                    shown.display(),
                    line.trim()
                ));
            }
        }
    }
    found
}

#[test]
fn the_phone_library_is_named_only_in_phone_rs() {
    let needles = [
        "rlibphonenumber::",
        "use rlibphonenumber",
        "extern crate rlibphonenumber",
    ];
    let mut found = Vec::new();
    // The benchmark names the library on purpose: a bare parse is the yardstick a record's
    // cost is measured against.
    for dir in ["crates", "xtask/src", "xtask/benches"] {
        found.extend(library_occurrences(
            dir,
            &needles,
            &[
                "crates/tc-core/src/phone.rs",
                "xtask/benches/core_throughput.rs",
            ],
        ));
    }
    assert!(
        found.is_empty(),
        "only tc-core's phone.rs may use the phone library, so replacing it touches one file; \
         go through tc_core::E164 instead:\n{}",
        found.join("\n")
    );
}

#[test]
fn tc_cli_does_not_reach_into_the_transport() {
    let found = library_occurrences("crates/tc-cli/src", &["tc_core::transport"], &[]);
    assert!(
        found.is_empty(),
        "tcbatch is an adapter: it configures tc-http and tc-push and never drives tc-core's \
         transport machines itself:\n{}",
        found.join("\n")
    );
}

/// Whether `line` matches an HTTP status arm or range: a three-digit status literal followed by
/// `=>`, `..` or `|`, as in `429 =>` or `500..=599`.
fn has_status_arm(line: &str) -> bool {
    let bytes = line.as_bytes();
    (0..bytes.len().saturating_sub(2)).any(|i| {
        let status = &bytes[i..i + 3];
        let starts_number = i == 0 || !bytes[i - 1].is_ascii_alphanumeric() && bytes[i - 1] != b'_';
        let rest = line[i + 3..].trim_start();
        starts_number
            && (b'1'..=b'5').contains(&status[0])
            && status.iter().all(u8::is_ascii_digit)
            && bytes
                .get(i + 3)
                .is_none_or(|b| !b.is_ascii_alphanumeric() && *b != b'_')
            && (rest.starts_with("=>") || rest.starts_with("..") || rest.starts_with('|'))
    })
}

#[test]
fn tc_http_decides_no_policy() {
    let dir = "crates/tc-http/src";
    let mut found = library_occurrences(dir, &["Duration::from_secs("], &[]);
    found.extend(
        library_occurrences(dir, &["Duration::from_millis("], &[])
            .into_iter()
            .filter(|hit| {
                hit.split("Duration::from_millis(")
                    .skip(1)
                    .any(|after| after.starts_with(|c: char| c.is_ascii_digit()))
            }),
    );
    for file in rust_files(&root().join(dir)) {
        let (lines, _) = library_lines(&file);
        for (number, line) in lines.iter().filter(|(_, l)| has_status_arm(l)) {
            let shown = file.strip_prefix(root()).unwrap_or(&file).display();
            found.push(format!(
                "{shown}:{number}: a status arm in `{}`",
                line.trim()
            ));
        }
    }
    assert!(
        found.is_empty(),
        "tc-http carries out tc-core's decisions: how long to wait and what a status means are \
         decided in tc_core::transport (its constants and Verdict), never here:\n{}",
        found.join("\n")
    );
}

/// The longest a function of tc-http's library code may be, signature to closing brace: a
/// driver's steps stay named and short enough to read at once.
const TC_HTTP_LONGEST_FN: usize = 60;

/// `line`'s braces that count: none inside a string, a `'{'`/`'}'` or a comment.
fn brace_balance(line: &str) -> (i64, bool) {
    let code = line.replace("'{'", "").replace("'}'", "");
    let (mut depth, mut opened, mut in_string, mut escaped) = (0, false, false, false);
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '/' if chars.peek() == Some(&'/') => break,
            '{' => {
                depth += 1;
                opened = true;
            }
            '}' => depth -= 1,
            _ => {}
        }
    }
    (depth, opened)
}

/// Each function with a body in `lines` (numbered lines of one file): its first line, its name
/// and its length in lines, signature to closing brace.
fn fn_lengths(lines: &[(usize, String)]) -> Vec<(usize, String, usize)> {
    let mut found = Vec::new();
    for (start, (number, line)) in lines.iter().enumerate() {
        let line = line
            .replace("pub(crate)", "pub")
            .replace("pub(super)", "pub");
        let words: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == '(' || c == '<')
            .filter(|w| !w.is_empty())
            .collect();
        let leading = [
            "pub",
            "pub(crate)",
            "pub(super)",
            "async",
            "const",
            "unsafe",
        ];
        let mut rest = words.iter().skip_while(|w| leading.contains(w));
        if rest.next() != Some(&"fn") {
            continue;
        }
        let name = rest.next().map_or("?", |n| n).to_owned();
        let mut depth = 0;
        let mut opened = false;
        for (end, (_, body)) in lines.iter().enumerate().skip(start) {
            if !opened && body.contains(';') && !body.contains('{') && depth == 0 {
                break;
            }
            let (change, opens) = brace_balance(body);
            depth += change;
            opened |= opens;
            if opened && depth == 0 {
                found.push((*number, name.clone(), end - start + 1));
                break;
            }
        }
    }
    found
}

#[test]
fn the_function_length_check_sees_what_it_must() {
    let numbered = |text: &str| -> Vec<(usize, String)> {
        text.lines()
            .enumerate()
            .map(|(n, l)| (n + 1, l.to_owned()))
            .collect()
    };
    let source = "impl X {\n    pub(crate) async fn call<T>(\n        &self,\n    ) -> T {\n        \
                  let s = \"}\"; // }\n        if c == '{' { 1 } else { 2 }\n    }\n    fn decl(&self);\n}\n\
                  fn free() {}\n";
    assert_eq!(
        fn_lengths(&numbered(source)),
        [(2, "call".to_owned(), 6), (10, "free".to_owned(), 1)]
    );
}

#[test]
fn tc_http_functions_are_short() {
    let mut found = Vec::new();
    for file in rust_files(&root().join("crates/tc-http/src")) {
        let (lines, _) = library_lines(&file);
        for (number, name, length) in fn_lengths(&lines) {
            if length > TC_HTTP_LONGEST_FN {
                let shown = file.strip_prefix(root()).unwrap_or(&file).display();
                found.push(format!("{shown}:{number}: `{name}` is {length} lines"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "split tc-http's functions into named steps of at most {TC_HTTP_LONGEST_FN} lines:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_coordinators_store_never_reads_its_clock() {
    // Every time a tc-redis script sees is passed in by the caller: a lease ends at a time
    // stored with the claim, never at a key's expiry. Expiries only collect garbage, and are
    // set, never read.
    let scripts = std::fs::read_to_string(root().join("crates/tc-redis/src/scripts.rs")).unwrap();
    let found: Vec<_> = ["'PTTL'", "'TTL'", "'TIME'", "'EXPIRETIME'", "'PEXPIRETIME'"]
        .into_iter()
        .filter(|command| scripts.contains(command))
        .collect();
    assert!(
        found.is_empty(),
        "tc-redis's scripts read the store's clock through {found:?}: pass the time in instead"
    );
}

#[test]
fn the_local_coordinator_reads_no_wall_clock() {
    // Every time its file holds is one a client passed: a lease ends at the time it was
    // given, a place leaves its window a window after the time it was recorded at. The only
    // clock it may read is the monotonic one that bounds its wait for the file's lock.
    let needles = [
        "SystemTime",
        "now_utc",
        "UNIX_EPOCH",
        "modified()",
        "accessed()",
    ];
    let found = library_occurrences("crates/tc-local/src", &needles, &[]);
    assert!(
        found.is_empty(),
        "tc-local answers at the times its callers pass, as SharedAccount does:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_status_arm_check_sees_what_it_must() {
    assert!(has_status_arm("            429 => hold(),"));
    assert!(has_status_arm("match s { 500..=599 => x }"));
    assert!(has_status_arm("400 | 401 | 403 => refused"));
    assert!(!has_status_arm("let limit = 16_384;"));
    assert!(!has_status_arm("format!(\"HTTP {status}\")"));
    assert!(!has_status_arm("v2 => \"v2\","));
}

#[test]
fn the_simulator_reads_time_through_tokio() {
    let mut found = library_occurrences(
        "crates/tc-sim/src",
        &[
            "std::time::Instant",
            "use std::time::{",
            concat!("thread::", "sleep"),
        ],
        &[],
    )
    .into_iter()
    .filter(|hit| !hit.contains("use std::time::{") || hit.contains("Instant"))
    .collect::<Vec<_>>();
    found.extend(library_occurrences(
        "crates/tc-sim/src",
        &["SystemTime"],
        // The one wall-clock reading: `ends_at` is wall time in the API itself.
        &["crates/tc-sim/src/routes.rs"],
    ));
    assert!(
        found.is_empty(),
        "the simulator reads time through tokio's clock, so a paused-time test drives it and the \
         client together; only routes.rs reads the wall clock, for ends_at:\n{}",
        found.join("\n")
    );
}

#[test]
fn async_tests_of_the_transport_simulator_and_push_run_in_paused_time() {
    let mut found = Vec::new();
    for dir in [
        "crates/tc-http",
        "crates/tc-sim",
        "crates/tc-push",
        "crates/tc-relay",
        "crates/tc-local",
    ] {
        for file in rust_files(&root().join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            for (number, line) in lines.iter().enumerate() {
                // A test of the PostgreSQL store talks to a server over a socket, which a
                // paused clock does not govern: it runs in real time, asserting no duration.
                let needs_postgres = lines[number + 1..]
                    .iter()
                    .take(3)
                    .any(|l| l.contains("not(tc_postgres)"));
                if line.contains("#[tokio::test")
                    && !line.contains("start_paused = true")
                    && !needs_postgres
                {
                    let shown = file.strip_prefix(root()).unwrap_or(&file).display();
                    found.push(format!("{shown}:{}: `{}`", number + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "time in tests is virtual: write #[tokio::test(start_paused = true)] and assert exact \
         counts, not wall-clock margins:\n{}",
        found.join("\n")
    );
}

/// The `assert!` calls of `text` (a test file) that compare a measured duration: one whose
/// argument holds `elapsed()`, or a name bound to an `elapsed()`, beside `<`, `>`, `<=` or `>=`.
/// Each as `line: text` of the line the assert starts on. `assert_eq!` is what such a test
/// means: in virtual time the duration is exact.
fn duration_range_asserts(text: &str) -> Vec<String> {
    let mut measured: Vec<String> = vec!["elapsed()".to_owned()];
    for line in text.lines() {
        let line = line.trim();
        if let (Some(rest), true) = (line.strip_prefix("let "), line.contains("elapsed()")) {
            let name: String = rest
                .trim_start_matches("mut ")
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                measured.push(name);
            }
        }
    }
    let names_a_measure = |argument: &str| {
        measured.iter().any(|name| {
            argument.match_indices(name.as_str()).any(|(at, _)| {
                let before = argument[..at].chars().next_back();
                let after = argument[at + name.len()..].chars().next();
                let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                name == "elapsed()" || (!word(before) && !word(after))
            })
        })
    };
    let mut found = Vec::new();
    for (at, _) in text.match_indices("assert!(") {
        // The macro's argument, to its closing parenthesis; strings are cut off at their first
        // quote, so a message that mentions a comparison is not taken for one.
        let mut depth = 0usize;
        let mut argument = String::new();
        let mut in_string = false;
        for c in text[at + "assert!".len()..].chars() {
            match c {
                '"' => in_string = !in_string,
                '(' if !in_string => depth += 1,
                ')' if !in_string => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            if !in_string && c != '"' {
                argument.push(c);
            }
        }
        let compares = [" < ", " > ", " <= ", " >= "]
            .iter()
            .any(|op| argument.contains(op));
        if compares && names_a_measure(&argument) {
            let line = text[..at].matches('\n').count() + 1;
            let shown = text.lines().nth(line - 1).unwrap_or_default().trim();
            found.push(format!("{line}: `{shown}`"));
        }
    }
    found
}

#[test]
fn tests_assert_no_measured_duration_as_a_range() {
    let mut found = Vec::new();
    for dir in [
        "crates/tc-http/tests",
        "crates/tc-sim/tests",
        "crates/tc-push/tests",
        "crates/tc-relay/tests",
        "crates/tc-cli/tests",
    ] {
        for file in rust_files(&root().join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let shown = file.strip_prefix(root()).unwrap_or(&file).display();
            for hit in duration_range_asserts(&text) {
                found.push(format!("{shown}:{hit}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "time in tests is virtual: a duration is asserted exactly (assert_eq!), never as a range \
         around the wall clock; a test with a real process waits for an event, bounded by a \
         timeout that fails, and asserts no duration:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_duration_range_check_sees_what_it_must() {
    let range = "let started = Instant::now();\nassert!(\n    started.elapsed() >= timeout,\n    \"early\"\n);";
    assert_eq!(duration_range_asserts(range), ["2: `assert!(`"]);
    let named = "let waited = started.elapsed();\nassert!(waited <= Duration::from_secs(1), \"{waited:?}\");";
    assert_eq!(duration_range_asserts(named).len(), 1);
    let exact = "let waited = started.elapsed();\nassert_eq!(waited, Duration::from_secs(1));";
    assert!(duration_range_asserts(exact).is_empty());
    let counts = "let waited = started.elapsed();\nassert!(written < 20 << 20, \"waited < 1 s\");";
    assert!(duration_range_asserts(counts).is_empty());
    let unrelated = "let waited_for = x.elapsed();\nassert!(waited_more > 1);";
    assert!(duration_range_asserts(unrelated).is_empty());
}

#[test]
fn the_relay_reads_wall_time_only_through_its_clock() {
    // Its linger and rate room run on tokio's monotonic clock; the wall time that records'
    // windows and stored timestamps need comes from the `tc_http::Clock` it is given.
    let found = library_occurrences("crates/tc-relay/src", &["SystemTime", "now_utc"], &[]);
    assert!(
        found.is_empty(),
        "tc-relay reads wall time only through its Clock, so a paused-time test drives it:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_push_engine_reads_time_only_through_its_clock() {
    let found = library_occurrences(
        "crates/tc-push/src",
        &[
            "SystemTime",
            "Instant",
            concat!("thread::", "sleep"),
            "now_utc",
        ],
        &[],
    );
    assert!(
        found.is_empty(),
        "tc-push reads time through the tc_http::Clock it is given, so a test can drive it:\n{}",
        found.join("\n")
    );
}

#[test]
fn tcbatch_never_writes_or_folds_the_journal_itself() {
    let found = library_occurrences(
        "crates/tc-cli/src",
        &["JournalWriter", "Entry::", "Ledger"],
        &[],
    );
    assert!(
        found.is_empty(),
        "the journal and its fold belong to tc-push, so a library user's push and tcbatch's \
         cannot differ; tcbatch drives tc_push::Pusher:\n{}",
        found.join("\n")
    );
}

#[test]
fn redis_tests_run_with_redis_and_say_why_they_are_ignored_without_it() {
    // Each test needs a Redis; without TC_REDIS_URL it is ignored with the reason (so a
    // developer sees how many and why), and with TC_REDIS_REQUIRED=1 (CI) the build stops
    // instead: tc-redis's build script sets `tc_redis` only when TC_REDIS_URL is set.
    let mut found = Vec::new();
    for file in rust_files(&root().join("crates/tc-redis/tests")) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for (number, line) in lines.iter().enumerate() {
            let trimmed = line.trim();
            if trimmed != "#[test]" && !trimmed.starts_with("#[tokio::test") {
                continue;
            }
            // The attributes up to the function, without whitespace (rustfmt may wrap them).
            let attributes: String = lines[number + 1..]
                .iter()
                .take_while(|l| !l.contains("fn "))
                .flat_map(|l| l.chars())
                .filter(|c| !c.is_whitespace())
                .collect();
            let gated = attributes.starts_with("#[cfg_attr(not(tc_redis),ignore=\"needsRedis");
            let worker = attributes.starts_with("#[ignore=\"aworkerprocess");
            if !gated && !worker {
                let shown = file.strip_prefix(root()).unwrap_or(&file).display();
                found.push(format!("{shown}:{}: `{trimmed}`", number + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "follow each Redis test's attribute with \
         #[cfg_attr(not(tc_redis), ignore = \"needs Redis: set TC_REDIS_URL=...\")]:\n{}",
        found.join("\n")
    );
    let build = std::fs::read_to_string(root().join("crates/tc-redis/build.rs")).unwrap();
    assert!(build.contains("TC_REDIS_REQUIRED") && build.contains("rustc-cfg=tc_redis"));
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(
        ci.contains("export TC_REDIS_REQUIRED=1"),
        ".ci/run requires the Redis tests to run"
    );
}

#[test]
fn postgres_tests_run_with_postgres_and_say_why_they_are_ignored_without_it() {
    // A test that makes a database of its own needs a PostgreSQL server: without
    // TC_POSTGRES_URL it is ignored with the reason, and with TC_POSTGRES_REQUIRED=1 (CI) the
    // build stops instead (tc-relay's build script, which tc-cli's includes).
    let mut found = Vec::new();
    for dir in ["crates/tc-relay", "crates/tc-cli/tests"] {
        for file in rust_files(&root().join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            for (number, line) in lines.iter().enumerate() {
                let trimmed = line.trim();
                if trimmed != "#[test]" && !trimmed.starts_with("#[tokio::test") {
                    continue;
                }
                let attributes: String = lines[number + 1..]
                    .iter()
                    .take_while(|l| !l.contains("fn "))
                    .flat_map(|l| l.chars())
                    .filter(|c| !c.is_whitespace())
                    .collect();
                // The test's body: up to the next test attribute.
                let body: String = lines[number + 1..]
                    .iter()
                    .take_while(|l| !l.trim().starts_with("#[test") && !l.contains("#[tokio::test"))
                    .copied()
                    .collect();
                let needs = body.contains("TestDatabase") || body.contains("postgres(&database)");
                let gated =
                    attributes.starts_with("#[cfg_attr(not(tc_postgres),ignore=\"needsPostgreSQL");
                if needs && !gated {
                    let shown = file.strip_prefix(root()).unwrap_or(&file).display();
                    found.push(format!("{shown}:{}: `{trimmed}`", number + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "follow each PostgreSQL test's attribute with #[cfg_attr(not(tc_postgres), ignore = \
         \"needs PostgreSQL: set TC_POSTGRES_URL=...\")]:\n{}",
        found.join("\n")
    );
    let build = std::fs::read_to_string(root().join("crates/tc-relay/build.rs")).unwrap();
    assert!(build.contains("TC_POSTGRES_REQUIRED") && build.contains("rustc-cfg=tc_postgres"));
    let cli_build = std::fs::read_to_string(root().join("crates/tc-cli/build.rs")).unwrap();
    assert!(cli_build.contains("include!(\"../tc-relay/build.rs\")"));
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(
        ci.contains("export TC_POSTGRES_REQUIRED=1"),
        ".ci/run requires the PostgreSQL tests to run"
    );
    let workflow = std::fs::read_to_string(root().join(".github/workflows/ci.yml")).unwrap();
    assert!(
        workflow.contains("TC_POSTGRES_URL"),
        "the workflow gives the tests a PostgreSQL"
    );
}

#[test]
fn only_tc_redis_talks_to_redis() {
    let mut found = Vec::new();
    for dir in [
        "crates/tc-core/src",
        "crates/tc-http/src",
        "crates/tc-push/src",
        "crates/tc-relay/src",
        "crates/tc-cli/src",
        "crates/tc-sim/src",
    ] {
        let hits = library_occurrences(dir, &["redis::"], &[]);
        // `tc_redis::` is the crate that owns it, and welcome.
        found.extend(hits.into_iter().filter(|hit| {
            let line = hit
                .split_once("` in `")
                .map_or(hit.as_str(), |(_, line)| line);
            line.match_indices("redis::")
                .any(|(at, _)| !line[..at].ends_with("tc_"))
        }));
    }
    assert!(
        found.is_empty(),
        "the coordinator's store is tc-redis's business; the others see tc_http::Coordinator:\n{}",
        found.join("\n")
    );
}

/// rustls picks its process-wide provider only when exactly one is built in; a dependency's
/// default features (tokio-rustls and rcgen default to aws-lc) could bring a second one in
/// without a word, and every TLS connection would then fail at run time.
#[test]
fn one_rustls_crypto_provider() {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).expect("Cargo.lock is readable");
    let packages: Vec<&str> = lock
        .lines()
        .filter_map(|line| line.strip_prefix("name = \""))
        .filter_map(|rest| rest.strip_suffix('"'))
        .collect();
    assert!(
        packages.contains(&"ring"),
        "ring is the provider the relay and the client use"
    );
    let other: Vec<&&str> = packages
        .iter()
        .filter(|name| name.starts_with("aws-lc"))
        .collect();
    assert!(
        other.is_empty(),
        "a second rustls crypto provider is in the build: {other:?}; turn off the default \
         features of the crate that brings it and ask for ring"
    );
}

#[test]
fn the_time_zone_library_is_named_only_in_local_time_rs() {
    let mut found = Vec::new();
    for dir in ["crates/tc-input/src", "crates/tc-cli/src"] {
        found.extend(library_occurrences(
            dir,
            &["jiff::"],
            &["crates/tc-input/src/local_time.rs"],
        ));
    }
    assert!(
        found.is_empty(),
        "local times are read in one place, so every input reads them alike:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_spreadsheet_library_is_named_only_in_spreadsheet_rs() {
    let mut found = Vec::new();
    for dir in ["crates/tc-input/src", "crates/tc-cli/src"] {
        found.extend(library_occurrences(
            dir,
            &["calamine::"],
            &["crates/tc-input/src/spreadsheet.rs"],
        ));
    }
    assert!(
        found.is_empty(),
        "workbooks are read in one place, which turns their rows into the readers' rows:\n{}",
        found.join("\n")
    );
}
