//! `cargo xtask pgo`: a profile-guided (PGO) release build of siprouter.
//!
//! The steps, each in a target directory of its own under `target/pgo/` so that the plain
//! release build in `target/release` is left alone:
//!
//! 1. build siprouter with `-Cprofile-generate` (instrumented: every branch counts itself);
//! 2. train it on `-c` of the bundled configs and of generated ones (1,000 and 20,000 lines,
//!    [`crate::gen_cfg`]: the same kind of file as the one `bench cfg` times, not that file),
//!    and on the relay benchmark's own run (`configs/bench-relay.cfg`, sipp's uac and uas)
//!    over UDP and over TCP. The relay is the workload `bench relay` measures: its gains are
//!    gains on the trained workload. Every process writes its counts when it exits (the relay
//!    server is stopped with SIGTERM, which it handles); each relay server writes a file of
//!    its own, which must exist afterwards;
//! 3. merge the raw profiles with the toolchain's own `llvm-profdata` (rustup's `llvm-tools`
//!    component: another LLVM version cannot read this compiler's profiles);
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
/// thousand times.
const TRAIN_CALLS: u64 = 4_000;
/// Calls per second in a relay training run: a run takes a few seconds.
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
    let merged = pgo.join("merged.profdata");
    let optimised = pgo.join("use/release/siprouter");
    // Old raw profiles would be merged into the new one, and an old optimised binary would be
    // measured as the new one if this run failed: start from none of them.
    if data.exists() {
        std::fs::remove_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
    }
    for old in [&merged, &optimised] {
        if old.exists() {
            std::fs::remove_file(old).map_err(|e| format!("{}: {e}", old.display()))?;
        }
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
    train_relay(root, &gen, &pgo, &data)?;

    println!("xtask pgo: 3/4 merging the profiles");
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

/// `llvm-profdata` of the active toolchain: its profile format must match the compiler's.
fn llvm_profdata() -> Result<PathBuf, String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let output = |args: &[&str]| -> Result<String, String> {
        let out = Command::new(&rustc)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run {rustc}: {e}"))?;
        if !out.status.success() {
            return Err(format!("`{rustc} {}` failed", args.join(" ")));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let sysroot = PathBuf::from(output(&["--print", "sysroot"])?.trim());
    let host = host_of(&output(&["-vV"])?)
        .ok_or_else(|| format!("`{rustc} -vV` names no host"))?
        .to_string();
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

/// The target triple on the `host:` line of `rustc -vV` (which every rustc prints).
fn host_of(version: &str) -> Option<&str> {
    version
        .lines()
        .find_map(|l| l.strip_prefix("host:"))
        .map(str::trim)
        .filter(|h| !h.is_empty())
}

/// The rustflags of a build with `extra` added, as `CARGO_ENCODED_RUSTFLAGS` (flags
/// separated by 0x1f): cargo reads that variable before `RUSTFLAGS`, so the user's flags
/// are taken from whichever is set, and a path with a space stays one flag.
fn encoded_rustflags(encoded: Option<&str>, plain: Option<&str>, extra: &str) -> String {
    let mut flags: Vec<&str> = match (encoded, plain) {
        (Some(e), _) => e.split('\x1f').filter(|f| !f.is_empty()).collect(),
        (None, Some(p)) => p.split_whitespace().collect(),
        (None, None) => Vec::new(),
    };
    flags.push(extra);
    flags.join("\x1f")
}

/// Builds the release siprouter into `target_dir` with the extra rustc flag `extra`.
fn build(root: &Path, target_dir: &Path, extra: &str) -> Result<PathBuf, String> {
    let encoded = std::env::var("CARGO_ENCODED_RUSTFLAGS").ok();
    let plain = std::env::var("RUSTFLAGS").ok();
    let flags = encoded_rustflags(encoded.as_deref(), plain.as_deref(), extra);
    let ok = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-p", "siprouter"])
        .env_remove("RUSTFLAGS")
        .env("CARGO_ENCODED_RUSTFLAGS", flags)
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
        crate::write_big_cfg(&file, lines)?;
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
/// Each server writes its counts to a file of its own in `data`, which must exist after the
/// run: a server killed instead of stopped, or one that never ran, leaves none.
fn train_relay(root: &Path, bin: &Path, pgo: &Path, data: &Path) -> Result<(), String> {
    let cfg = root.join("configs/bench-relay.cfg").display().to_string();
    for (proto, defines) in [("udp", vec![]), ("tcp", vec!["-A", "WITH_TCP"])] {
        let profile = data.join(format!("relay-{proto}.profraw"));
        let server = ServerCmd {
            name: "siprouter",
            program: bin.to_path_buf(),
            args: ["-E", "-f", &cfg]
                .into_iter()
                .chain(defines)
                .map(String::from)
                .collect(),
            env: vec![("LLVM_PROFILE_FILE".into(), profile.display().to_string())],
        };
        let f = relay_once(&server, proto, TRAIN_RATE, TRAIN_CALLS, pgo)?;
        println!(
            "xtask pgo: {proto} training relayed {} calls ({} failed)",
            f.ok, f.failed
        );
        if f.ok == 0 {
            return Err(format!("the {proto} training run relayed no call"));
        }
        if !profile.is_file() {
            return Err(format!(
                "the {proto} training server wrote no profile ({}): it did not exit cleanly",
                profile.display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{encoded_rustflags, host_of, run};
    use std::path::Path;

    #[test]
    fn the_host_comes_from_rustc_vv() {
        let vv = "rustc 1.95.0 (59807616e 2026-04-14)\nbinary: rustc\n\
                  host: x86_64-unknown-linux-gnu\nrelease: 1.95.0\n";
        assert_eq!(host_of(vv), Some("x86_64-unknown-linux-gnu"));
        assert_eq!(host_of("rustc 1.95.0\nhost: \n"), None);
        assert_eq!(host_of(""), None);
    }

    #[test]
    fn the_users_rustflags_are_kept() {
        let x = "-Cprofile-use=/a b/merged.profdata";
        assert_eq!(encoded_rustflags(None, None, x), x);
        assert_eq!(
            encoded_rustflags(None, Some(" -Ctarget-cpu=native  -Dwarnings "), x),
            format!("-Ctarget-cpu=native\x1f-Dwarnings\x1f{x}")
        );
        // The encoded form wins, as it does in cargo, and keeps a flag with a space whole.
        assert_eq!(
            encoded_rustflags(Some("-L\x1f/c d"), Some("-Cignored"), x),
            format!("-L\x1f/c d\x1f{x}")
        );
    }

    #[test]
    fn pgo_takes_no_arguments() {
        let e = run(Path::new("/nonexistent"), &["--native".into()]).unwrap_err();
        assert!(e.contains("--native"), "{e}");
    }
}
