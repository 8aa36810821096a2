//! Helpers for siprouter's end-to-end tests: they drive the real, built `siprouter` binary
//! (and, as the server grows, sipp and Kamailio on loopback).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .to_path_buf()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The shared test corpora (`../shared/corpus` beside the workspace).
pub fn corpus_dir() -> PathBuf {
    workspace_root().join("../shared/corpus")
}

/// Builds the `siprouter` binary once per test run and returns its path; `SIPROUTER_BIN`
/// names another binary to test instead (`cargo xtask` points it at the release build).
///
/// # Panics
/// When the build fails: the tests cannot run without the binary.
pub fn siprouter_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("SIPROUTER_BIN") {
            return PathBuf::from(bin);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "siprouter"])
            .current_dir(workspace_root())
            .status()
            .expect("cannot run cargo to build siprouter");
        assert!(status.success(), "building siprouter failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target"));
        target.join("debug").join("siprouter")
    })
}

/// Runs siprouter with `args` (no standard input) and returns its output.
///
/// # Panics
/// When the binary cannot be started.
pub fn run_siprouter(args: &[&str]) -> Output {
    Command::new(siprouter_bin())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("cannot start siprouter")
}
