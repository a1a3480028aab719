//! Shared test helpers: where the shared data is.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// `../shared/data` beside the repository (or `$BOTSCOPE_DATA`).
///
/// `None` (the caller skips with a message) when the data is missing,
/// except under CI (`CI=true`), where missing data is a failure.
pub fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("BOTSCOPE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if dir.join("SOURCES.md").exists() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!(
            "shared data not found at {} (CI=true: tests that need it must not skip)",
            dir.display()
        );
    }
    eprintln!("SKIP: shared data not found at {}", dir.display());
    None
}
