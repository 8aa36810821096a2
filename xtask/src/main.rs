//! Project automation, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! - `ci`: every check CI runs, in order, stopping at the first failure with a clear message.
//! - `bench`: generates the large benchmark config and runs the criterion benchmarks;
//!   `bench relay` and `bench cfg` compare siprouter with Kamailio (see [`bench_relay`]);
//!   `bench rtt` times a request's round trip through the relay (see [`bench_rtt`]).
//! - `gen-cfg [--lines N] [-o FILE]`: writes the large, deterministic benchmark config.
//! - `pgo`: a profile-guided release build of siprouter, trained on `-c` and the relay
//!   (see [`pgo`]).
//! - `floor-relay [--threads N] [--tcp]`: the floor of the relay benchmark (see [`floor_relay`]).
//! - `fuzz [--seconds N] [TARGET]`: builds every `crates/*/fuzz` target with libFuzzer's
//!   coverage instrumentation and runs each for a bounded time.
//! - `mutants`, `soak`, `torture`: the long hardening runs (see [`hardening`]).
//!
//! Standard library only, so that `cargo xtask` builds in seconds on a fresh machine.

mod bench_relay;
mod bench_rtt;
mod floor_relay;
mod fuzz;
mod gen_cfg;
mod hardening;
mod pgo;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") if matches!(args.get(1).map(String::as_str), Some("relay" | "cfg")) => {
            bench_relay::run(&root(), &args[1..])
        }
        Some("bench") if args.get(1).map(String::as_str) == Some("rtt") => {
            bench_rtt::run(&root(), &args[2..])
        }
        Some("bench") => bench(&args[1..]),
        Some("gen-cfg") => gen_cfg_cmd(&args[1..]),
        Some("pgo") => pgo::run(&root(), &args[1..]),
        Some("floor-relay") => floor_relay::serve(&args[1..]),
        Some("fuzz") => fuzz::run(&root(), &args[1..]),
        Some(what @ ("mutants" | "soak" | "torture")) => hardening::run(&root(), what, &args[1..]),
        Some("-h" | "--help" | "help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <command>

commands:
  ci                          fmt, clippy, tests, -c of the generated config, docs,
                              cargo-deny (what CI runs)
  bench [criterion args]      generate the large config and run the criterion benchmarks
  bench relay [--proto udp|tcp] [--rate R] [--calls N] [--repeat K] [--search] [--floor]
              [--all-batch] [--bin PATH]
                              sipp relay benchmark: siprouter and (if installed) Kamailio;
                              --floor adds the floor relay; --all-batch runs Kamailio and
                              the floor as SCHED_BATCH; --bin measures that siprouter
  bench rtt [--count N] [--rounds R] [--hogs K] [--bin PATH]
                              a request's round trip through the relay, --sched batch and
                              keep taking turns, K busy processes beside it
  floor-relay [--threads N] [--tcp]
                              the floor relay alone on 127.0.0.1:5060 (to :5080)
  bench cfg [--bin PATH]      -c on 1k/10k/20k-line configs: siprouter vs Kamailio
  pgo                         profile-guided release build (target/pgo/use/release/siprouter)
  gen-cfg [--lines N] [-o F]  write the large benchmark config (default 20000 lines, stdout)
  fuzz [--seconds N] [NAME]   run every fuzz target (or NAME) for N seconds each (default 60)
  mutants [--count N]         siprouter -c on N mutated corpus configs (default 10000)
  soak [--seconds N]          sipp through the relay at a steady rate (default 600 s)
  torture [--rounds N]        the RFC 4475 messages over UDP and TCP, N rounds (default 100)";

/// The workspace root (the parent of this crate's directory).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Runs one step; a failure names the step and its exit status.
fn step(name: &str, mut cmd: Command) -> Result<(), String> {
    println!("\n=== xtask ci: {name}");
    let status = cmd
        .status()
        .map_err(|e| format!("step `{name}` could not start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("step `{name}` failed ({status})"))
    }
}

fn ci() -> Result<(), String> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    step("cargo fmt --check", fmt)?;

    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    step("cargo clippy -D warnings", clippy)?;

    let mut test = cargo();
    test.args(["test", "--workspace"]);
    step("cargo test --workspace", test)?;

    // The generated benchmark config must pass a whole check: `cargo xtask pgo` trains on it,
    // and a config the route-script check rejects would train the error path instead.
    let generated = root().join("target").join("ci").join("gen-20000.cfg");
    write_big_cfg(&generated, 20_000)?;
    println!("\n=== xtask ci: siprouter -c on the generated 20,000-line config");
    let check = cargo()
        .args(["run", "--quiet", "-p", "siprouter", "--", "-c", "-f"])
        .arg(&generated)
        .output()
        .map_err(|e| format!("siprouter -c could not start: {e}"))?;
    // Its warnings (routes that never run without tm) would fill the log: shown on failure.
    if !check.status.success() {
        eprint!("{}", String::from_utf8_lossy(&check.stderr));
        return Err(format!(
            "siprouter -c rejected {} ({})",
            generated.display(),
            check.status
        ));
    }

    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings");
    step("cargo doc (warnings denied)", doc)?;

    ensure_cargo_deny()?;
    let mut deny = cargo();
    deny.args(["deny", "check", "bans", "licenses", "sources"]);
    step("cargo deny check bans licenses sources", deny)?;

    println!("\nxtask ci: all checks passed");
    Ok(())
}

fn ensure_cargo_deny() -> Result<(), String> {
    let present = cargo()
        .args(["deny", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if present {
        return Ok(());
    }
    let mut install = cargo();
    install.args(["install", "--locked", "cargo-deny"]);
    step("cargo install --locked cargo-deny", install)
}

fn bench_cfg_path() -> PathBuf {
    root().join("target").join("bench").join("big.cfg")
}

fn bench(extra: &[String]) -> Result<(), String> {
    let path = bench_cfg_path();
    write_big_cfg(&path, 20_000)?;
    let mut cmd = cargo();
    // The reference benchmark's generator (the file `kamailio -c` is timed on), when the
    // shared folder is beside the repository: the parser bench parses it too.
    let reference = root().join("../shared/bench/gen-big-cfg");
    if reference.is_file() {
        let out = root().join("target").join("bench").join("kamailio-big.cfg");
        let status = Command::new("bash")
            .arg(&reference)
            .args(["-n", "20000", "-o"])
            .arg(&out)
            .status()
            .map_err(|e| format!("cannot run {}: {e}", reference.display()))?;
        if status.success() {
            println!(
                "xtask: wrote {} with {}",
                out.display(),
                reference.display()
            );
            cmd.env("SIPROUTER_BENCH_KAMAILIO_CFG", &out);
        }
    }
    // `--bench '*'`: only the criterion targets, so that criterion's arguments do not reach
    // the libraries' test harnesses.
    cmd.args(["bench", "--workspace", "--bench", "*"])
        .env("SIPROUTER_BENCH_CFG", &path);
    if !extra.is_empty() {
        cmd.arg("--").args(extra);
    }
    step("cargo bench", cmd)
}

/// Writes the generated benchmark config of `lines` lines to `path` (its folder created).
pub(crate) fn write_big_cfg(path: &Path, lines: usize) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let text = gen_cfg::generate(lines);
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("xtask: wrote {} ({lines}+ lines)", path.display());
    Ok(())
}

fn gen_cfg_cmd(args: &[String]) -> Result<(), String> {
    let mut lines = 20_000usize;
    let mut out: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--lines" | "-n" => {
                let v = it.next().ok_or("--lines needs a number")?;
                lines = v
                    .parse()
                    .map_err(|_| format!("--lines: `{v}` is not a number"))?;
            }
            "-o" => out = Some(PathBuf::from(it.next().ok_or("-o needs a file name")?)),
            other => return Err(format!("gen-cfg: unknown argument `{other}`")),
        }
    }
    match out {
        Some(p) => write_big_cfg(&p, lines),
        None => {
            print!("{}", gen_cfg::generate(lines));
            Ok(())
        }
    }
}
