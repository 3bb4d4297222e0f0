//! The checks on the push's files before the first request: nothing is sent whose answers
//! could not be written down.

use crate::error::{Error, FileRole};
use crate::report::{report_dir, temporary_report};
use std::path::{Path, PathBuf};

/// Checks, before anything is sent, that the input, the journal and the report are three
/// distinct files (by identity, so a symlink, a hard link or `./x` versus `x` are caught), and
/// that the report can be written: its directory exists and takes a new file, and the path is
/// not a directory or a read-only file. `input` is `None` when the records come from memory.
pub fn check_outputs(input: Option<&Path>, journal: &Path, report: &Path) -> Result<(), Error> {
    let mut files = vec![(FileRole::Journal, journal), (FileRole::Report, report)];
    if let Some(input) = input {
        files.insert(0, (FileRole::Input, input));
    }
    for (i, &(first, a)) in files.iter().enumerate() {
        for &(second, b) in &files[i + 1..] {
            if same_file(a, b) {
                return Err(Error::SameFile {
                    first,
                    second,
                    path: b.to_owned(),
                });
            }
        }
    }
    check_writable(report)
}

fn check_writable(report: &Path) -> Result<(), Error> {
    let refuse = |source| Error::Report {
        path: report.to_owned(),
        source,
    };
    if let Ok(meta) = std::fs::metadata(report) {
        if meta.is_dir() {
            return Err(refuse(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "it is a directory; give a file path",
            )));
        }
        if meta.permissions().readonly() {
            return Err(refuse(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "the file is read-only",
            )));
        }
    }
    // The report is written as a temporary file in its directory, then renamed: try exactly that.
    temporary_report(report_dir(report))
        .map(drop)
        .map_err(refuse)
}

/// Whether two paths name one file: equal identities when both exist, else equal canonical
/// forms (the parent canonicalised, for a file not created yet).
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return (x.dev(), x.ino()) == (y.dev(), y.ino());
        }
    }
    match (canonical(a), canonical(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

fn canonical(path: &Path) -> Option<PathBuf> {
    if let Ok(full) = std::fs::canonicalize(path) {
        return Some(full);
    }
    let name = path.file_name()?;
    Some(std::fs::canonicalize(report_dir(path)).ok()?.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_file_under_two_names_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("calls.csv");
        std::fs::write(&input, "x").unwrap();
        let journal = dir.path().join("j");
        let dotted = dir.path().join(".").join("calls.csv");
        let err = check_outputs(Some(&input), &journal, &dotted).unwrap_err();
        assert!(matches!(
            err,
            Error::SameFile {
                first: FileRole::Input,
                second: FileRole::Report,
                ..
            }
        ));
        let not_yet = dir.path().join("sub").join("..").join("j");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let err = check_outputs(Some(&input), &journal, &not_yet).unwrap_err();
        assert!(
            err.to_string().contains("the journal and the report"),
            "{err}"
        );
    }

    #[test]
    fn a_report_in_a_missing_directory_or_on_a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("j");
        let missing = dir.path().join("nope").join("r.csv");
        assert!(matches!(
            check_outputs(None, &journal, &missing),
            Err(Error::Report { .. })
        ));
        let err = check_outputs(None, &journal, dir.path()).unwrap_err();
        assert!(err.to_string().contains("directory"), "{err}");
        assert!(check_outputs(None, &journal, &dir.path().join("r.csv")).is_ok());
    }
}
