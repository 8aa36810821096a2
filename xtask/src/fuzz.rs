//! `cargo xtask fuzz`: coverage-guided fuzzing with libFuzzer on the stable toolchain.
//!
//! Each crate may have a `fuzz/` folder (a cargo-fuzz layout outside the workspace, with
//! `fuzz_targets/*.rs`). We build it as cargo-fuzz does, with the coverage instrumentation
//! passed as stable `-C` options (only AddressSanitizer would need nightly, and safe Rust
//! does not need it), and run each target for a bounded time. Seeds come from the folders
//! listed in `fuzz/seeds` (one path per line, relative to the workspace root); extra libFuzzer
//! flags for a crate's targets come from `fuzz/args` (e.g. `-max_len=8192`); the corpus a
//! run grows is kept in `target/fuzz/corpus/<target>`. A crash leaves its input in
//! `target/fuzz/artifacts/<target>/`: add it to the crate's regression tests.

use std::path::{Path, PathBuf};
use std::process::Command;

const COVERAGE_FLAGS: &str = "-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    -Cdebug-assertions -Coverflow-checks";

pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let mut seconds = 60u64;
    let mut only: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                let v = it.next().ok_or("--seconds needs a number")?;
                seconds = v
                    .parse()
                    .map_err(|_| format!("--seconds: `{v}` is not a number"))?;
            }
            name if !name.starts_with('-') => only = Some(name.to_string()),
            other => return Err(format!("fuzz: unknown argument `{other}`")),
        }
    }
    let host = host_triple()?;
    let target_dir = root.join("target").join("fuzz");
    let mut ran = 0;
    for fuzz_dir in fuzz_dirs(root)? {
        let targets = target_names(&fuzz_dir)?;
        if only.as_ref().is_some_and(|o| !targets.contains(o)) {
            continue;
        }
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--release",
                "--bins",
                "--target",
                &host,
                "--manifest-path",
            ])
            .arg(fuzz_dir.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target_dir)
            .env("RUSTFLAGS", COVERAGE_FLAGS)
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!("building {} failed", fuzz_dir.display()));
        }
        let seeds = seed_dirs(root, &fuzz_dir);
        let extra_args = std::fs::read_to_string(fuzz_dir.join("args")).unwrap_or_default();
        for t in targets
            .iter()
            .filter(|t| only.as_ref().is_none_or(|o| o == *t))
        {
            let bin = target_dir.join(&host).join("release").join(t);
            let corpus = target_dir.join("corpus").join(t);
            let artifacts = target_dir.join("artifacts").join(t);
            for d in [&corpus, &artifacts] {
                std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
            }
            println!("\n=== xtask fuzz: {t} for {seconds} s");
            let status = Command::new(&bin)
                .arg(format!("-max_total_time={seconds}"))
                .arg("-rss_limit_mb=2048")
                .arg("-print_final_stats=1")
                .arg(format!("-artifact_prefix={}/", artifacts.display()))
                .args(extra_args.split_whitespace())
                .arg(&corpus)
                .args(&seeds)
                .status()
                .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
            if !status.success() {
                return Err(format!(
                    "fuzz target {t} found a failure; its input is in {}",
                    artifacts.display()
                ));
            }
            ran += 1;
        }
    }
    if ran == 0 {
        return Err("no fuzz target matched".into());
    }
    Ok(())
}

fn host_triple() -> Result<String, String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .ok_or_else(|| "rustc -vV printed no host triple".to_string())
}

fn fuzz_dirs(root: &Path) -> Result<Vec<PathBuf>, String> {
    let crates = root.join("crates");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&crates).map_err(|e| format!("{}: {e}", crates.display()))? {
        let dir = entry.map_err(|e| e.to_string())?.path().join("fuzz");
        if dir.join("Cargo.toml").is_file() {
            out.push(dir);
        }
    }
    out.sort();
    Ok(out)
}

fn target_names(fuzz_dir: &Path) -> Result<Vec<String>, String> {
    let dir = fuzz_dir.join("fuzz_targets");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let p = entry.map_err(|e| e.to_string())?.path();
        if p.extension().is_some_and(|x| x == "rs") {
            if let Some(stem) = p.file_stem() {
                out.push(stem.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    Ok(out)
}

fn seed_dirs(root: &Path, fuzz_dir: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string(fuzz_dir.join("seeds"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| root.join(l))
        .filter(|p| p.is_dir())
        .collect()
}
