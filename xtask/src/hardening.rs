//! The long hardening runs (issue: hostile input, faults and sustained load). Each is an
//! end-to-end test in `tests/` that CI runs in a short form; here it runs in full, on the
//! release binary, with its figures printed:
//!
//! - `mutants [--count N]`: `siprouter -c` on N mutated corpus configs (default 10,000).
//! - `soak [--seconds N]`: sipp through the relay at half the highest rate with zero failed
//!   calls (measured first) for N seconds (default 600), with RSS and descriptors sampled.
//! - `torture [--rounds N]`: the RFC 4475 messages over UDP and TCP, N rounds (default 100).

use std::path::Path;
use std::process::Command;

/// One long run: the test file, the environment variable that sizes it, its default size.
struct Run {
    test: &'static str,
    /// Only the tests whose name contains this.
    filter: &'static str,
    size_var: &'static str,
    default: u64,
}

pub(crate) fn run(root: &Path, what: &str, args: &[String]) -> Result<(), String> {
    let (flag, run) = match what {
        "mutants" => (
            "--count",
            Run {
                test: "mutants",
                filter: "",
                size_var: "SIPROUTER_MUTANTS",
                default: 10_000,
            },
        ),
        "soak" => (
            "--seconds",
            Run {
                test: "load",
                filter: "soak",
                size_var: "SIPROUTER_SOAK_SECONDS",
                default: 600,
            },
        ),
        "torture" => (
            "--rounds",
            Run {
                test: "torture",
                filter: "",
                size_var: "SIPROUTER_TORTURE_ROUNDS",
                default: 100,
            },
        ),
        other => return Err(format!("unknown hardening run `{other}`")),
    };
    let mut size = run.default;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == flag {
            let v = it.next().ok_or(format!("{flag} needs a number"))?;
            size = v
                .parse()
                .map_err(|_| format!("{flag}: `{v}` is not a number"))?;
        } else {
            return Err(format!("{what}: unknown argument `{a}` (only {flag} N)"));
        }
    }
    let bin = crate::bench_relay::release_binary(root)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args([
            "test",
            "--release",
            "-p",
            "siprouter-e2e",
            "--test",
            run.test,
        ])
        .args(["--", "--nocapture", "--test-threads=1", run.filter])
        .env(run.size_var, size.to_string())
        // The soak runs at half the highest rate it measures first.
        .env("SIPROUTER_SOAK_RATE", "half-max")
        .env("SIPROUTER_BIN", &bin)
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}
