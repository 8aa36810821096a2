//! `cargo xtask pgo`: a profile-guided (PGO) release build of siprouter.
//!
//! The steps, each in a target directory of its own under `target/pgo/` so that the plain
//! release build in `target/release` is left alone:
//!
//! 1. build siprouter with `-Cprofile-generate` (instrumented: every branch counts itself);
//! 2. train it on the two workloads the benchmarks measure: `-c` of the bundled configs and of
//!    generated configs (1,000 and 20,000 lines, [`crate::gen_cfg`]), and the sipp relay of
//!    `configs/bench-relay.cfg` over UDP and over TCP (each process writes a `.profraw` file
//!    when it exits; the relay server is stopped with SIGTERM, which it handles);
//! 3. merge the raw profiles with `llvm-profdata` (from rustup's `llvm-tools` component, or
//!    on `PATH`);
//! 4. build again with `-Cprofile-use`, which lays out the hot code together, inlines along
//!    the hot paths and moves the cold ones out of the way.
//!
//! The result is `target/pgo/use/release/siprouter`; `cargo xtask bench relay|cfg --bin PATH`
//! measures it side by side with Kamailio. Nothing here is needed to build or run siprouter:
//! `cargo build --release` stays the plain build. The profile is generated on each run and
//! never committed (it is a binary and depends on the compiler version).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bench_relay::{relay_once, ServerCmd};

/// Calls per relay training run: enough to reach every branch of the steady state several
/// thousand times, at a rate that keeps the run to a few seconds.
const TRAIN_CALLS: u64 = 4_000;
const TRAIN_RATE: u64 = 1_000;

/// Runs the four steps and prints the path of the optimised binary.
pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("pgo: unknown argument `{a}` (it takes none)"));
    }
    let profdata = llvm_profdata()?;
    if !crate::bench_relay::have("sipp") {
        return Err(
            "pgo trains on the sipp relay: install sipp (apt-get install sip-tester)".into(),
        );
    }
    let pgo = root.join("target/pgo");
    let data = pgo.join("data");
    // Old raw profiles would be merged into the new one: start from none.
    if data.exists() {
        std::fs::remove_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
    }
    std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;

    println!("xtask pgo: 1/4 the instrumented build");
    let gen = build(
        root,
        &pgo.join("gen"),
        &format!("-Cprofile-generate={}", data.display()),
    )?;

    println!("xtask pgo: 2/4 training: -c, then the relay over UDP and TCP");
    train_check(root, &gen, &pgo)?;
    train_relay(root, &gen, &pgo)?;
    let raw = std::fs::read_dir(&data)
        .map_err(|e| format!("{}: {e}", data.display()))?
        .count();
    if raw == 0 {
        return Err("training wrote no profile: did the instrumented server exit cleanly?".into());
    }

    println!("xtask pgo: 3/4 merging {raw} raw profiles");
    let merged = pgo.join("merged.profdata");
    let ok = Command::new(&profdata)
        .arg("merge")
        .arg("-o")
        .arg(&merged)
        .arg(&data)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return Err(format!("{} merge failed", profdata.display()));
    }

    println!("xtask pgo: 4/4 the optimised build");
    let bin = build(
        root,
        &pgo.join("use"),
        &format!("-Cprofile-use={}", merged.display()),
    )?;
    println!("xtask pgo: {}", bin.display());
    Ok(())
}

/// `llvm-profdata` of the active toolchain (its profile format must match the compiler's),
/// else one on `PATH`.
fn llvm_profdata() -> Result<PathBuf, String> {
    let out = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let host = Command::new("rustc")
        .args(["--print", "host-tuple"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let bundled = sysroot.join(format!("lib/rustlib/{host}/bin/llvm-profdata"));
    if bundled.is_file() {
        return Ok(bundled);
    }
    Err(format!(
        "llvm-profdata not found at {}: run `rustup component add llvm-tools` \
         (an LLVM of another version cannot read this compiler's profiles)",
        bundled.display()
    ))
}

/// Builds the release siprouter into `target_dir` with extra `rustflags`.
fn build(root: &Path, target_dir: &Path, rustflags: &str) -> Result<PathBuf, String> {
    let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    if !flags.is_empty() {
        flags.push(' ');
    }
    flags.push_str(rustflags);
    let ok = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-p", "siprouter"])
        .env("RUSTFLAGS", flags)
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(root)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return Err(format!("the build into {} failed", target_dir.display()));
    }
    Ok(target_dir.join("release/siprouter"))
}

/// `-c` of the bundled configs and of generated ones, several times each (a check of the
/// large file is where the lexer and the parser spend their time).
fn train_check(root: &Path, bin: &Path, pgo: &Path) -> Result<(), String> {
    let mut files = vec![
        root.join("configs/siprouter.cfg"),
        root.join("configs/bench-relay.cfg"),
    ];
    for lines in [1_000, 20_000] {
        let file = pgo.join(format!("train-{lines}.cfg"));
        std::fs::write(&file, crate::gen_cfg::generate(lines))
            .map_err(|e| format!("{}: {e}", file.display()))?;
        files.push(file);
    }
    for file in &files {
        for _ in 0..5 {
            let out = Command::new(bin)
                .arg("-c")
                .arg("-f")
                .arg(file)
                .output()
                .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "training: `siprouter -c -f {}` failed:\n{}",
                    file.display(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    }
    Ok(())
}

/// The relay benchmark's run, once over UDP and once over TCP, with the instrumented server.
fn train_relay(root: &Path, bin: &Path, pgo: &Path) -> Result<(), String> {
    let cfg = root.join("configs/bench-relay.cfg").display().to_string();
    for (proto, defines) in [("udp", vec![]), ("tcp", vec!["-A", "WITH_TCP"])] {
        let server = ServerCmd {
            name: "siprouter",
            program: bin.to_path_buf(),
            args: ["-E", "-f", &cfg]
                .into_iter()
                .chain(defines)
                .map(String::from)
                .collect(),
        };
        let f = relay_once(&server, proto, TRAIN_RATE, TRAIN_CALLS, pgo)?;
        println!(
            "xtask pgo: {proto} training relayed {} calls ({} failed)",
            f.ok, f.failed
        );
        if f.ok == 0 {
            return Err(format!("the {proto} training run relayed no call"));
        }
    }
    Ok(())
}
