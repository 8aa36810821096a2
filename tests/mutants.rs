//! Broken configs: the corpus configs mutated (tokens deleted, duplicated or swapped, the file
//! truncated, bytes injected) and checked with `siprouter -c`. Every run must end in bounded
//! time with exit 0 or 255 (a panic exits 101, a signal has no code), and every rejection must
//! say where: a `file:line:col` on stderr.
//!
//! `SIPROUTER_MUTANTS` sets how many mutants (default 300, as CI runs it);
//! `cargo xtask mutants` runs 10,000 on the release binary. The mutants come from a fixed seed
//! (`SIPROUTER_MUTANTS_SEED` changes it), so a failure can be repeated; the failing mutant is
//! kept in the temporary folder named in the message. The runs happen in a network namespace
//! of their own when `unshare` can make one, so no name lookup of a mutated host leaves the
//! machine or waits for a resolver.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use siprouter_e2e::{corpus_dir, siprouter_bin};

/// How long one `siprouter -c` may take.
const TIME_BOUND: Duration = Duration::from_secs(10);

/// A small deterministic generator (xorshift64*), enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Splits config text into tokens: word runs, whitespace runs, single other bytes.
fn tokens(text: &[u8]) -> Vec<&[u8]> {
    let class = |b: u8| {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' {
            0
        } else if b.is_ascii_whitespace() {
            1
        } else {
            2
        }
    };
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=text.len() {
        let split = i == text.len() || class(text[i]) != class(text[i - 1]) || class(text[i]) == 2;
        if split {
            out.push(&text[start..i]);
            start = i;
        }
    }
    out
}

/// Bytes worth injecting: structure, quoting, preprocessor marks, controls and non-UTF-8.
const INJECT: &[&[u8]] = &[
    b"{",
    b"}",
    b"(",
    b")",
    b"\"",
    b"'",
    b";",
    b"=",
    b"#!",
    b"#!ifdef X\n",
    b"#!endif\n",
    b"/*",
    b"*/",
    b"$",
    b"$(",
    b"\\",
    b"\0",
    b"\xff\xfe",
    b"\n",
    b"route(",
    b"[",
    b"]",
    b"include_file \"nowhere.cfg\"\n",
    b"listen=",
    b"0x",
    b"999999999999999999999",
];

/// One mutant of `text`: one to three mutations.
fn mutate(text: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut toks: Vec<Vec<u8>> = tokens(text).into_iter().map(<[u8]>::to_vec).collect();
    for _ in 0..=rng.below(3) {
        let n = toks.len();
        if n == 0 {
            break;
        }
        let i = rng.below(n);
        match rng.below(5) {
            0 => {
                toks.remove(i);
            }
            1 => {
                let t = toks[i].clone();
                toks.insert(i, t);
            }
            2 => {
                let j = rng.below(n);
                toks.swap(i, j);
            }
            3 => {
                let keep = rng.below(n);
                toks.truncate(keep.max(1));
            }
            _ => toks.insert(i, INJECT[rng.below(INJECT.len())].to_vec()),
        }
    }
    toks.concat()
}

/// The `cfg` files of both corpora, and siprouter's own configs (the bundled one, the
/// end-to-end relay, the listen tables), which pass the check, so their mutants reach the
/// socket and route-script stages too.
fn corpus_configs() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let root = siprouter_e2e::workspace_root();
    let own = [
        root.join("configs"),
        root.join("tests/configs"),
        root.join("crates/socket-info/tests/listen-configs"),
    ];
    for dir in own {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.path().extension().is_some_and(|x| x == "cfg") {
                let text = std::fs::read(e.path()).expect("config");
                // Weighted like ten corpus files each: they are few but reach deeper.
                for _ in 0..10 {
                    out.push((e.path().display().to_string(), text.clone()));
                }
            }
        }
    }
    for set in ["kamailio-cfg", "kamailio-tests-cfg"] {
        let dir = corpus_dir().join(set);
        let index = std::fs::read_to_string(dir.join("index.tsv"))
            .unwrap_or_else(|e| panic!("cannot read {}/index.tsv: {e}", dir.display()));
        for line in index.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.get(2) == Some(&"cfg") {
                let text = std::fs::read(dir.join(cols[0])).expect("corpus config");
                out.push((cols[0].to_string(), text));
            }
        }
    }
    out.sort();
    out
}

/// Whether stderr names a place: a word `FILE:LINE:COL` (optionally followed by `:`).
fn has_location(stderr: &str) -> bool {
    stderr.split_whitespace().any(|word| {
        let word = word.trim_end_matches(':');
        let mut parts = word.rsplitn(3, ':');
        let (col, line, file) = (parts.next(), parts.next(), parts.next());
        let number = |s: Option<&str>| {
            s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        };
        number(col) && number(line) && file.is_some_and(|f| !f.is_empty())
    })
}

/// `unshare -n` when it works here (root, util-linux), so lookups fail fast and stay local.
fn isolated() -> bool {
    Command::new("unshare")
        .args(["-n", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `siprouter -c -f path`, killing it at the time bound. Exit code (`None`: a signal),
/// stderr, and whether it finished in time.
fn check(path: &Path, unshare: bool, bin: &Path) -> (Option<i32>, String, bool) {
    let mut cmd = if unshare {
        let mut c = Command::new("unshare");
        c.arg("-n").arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let err_path = path.with_extension("stderr");
    let err_file = std::fs::File::create(&err_path).expect("stderr file");
    let mut child = cmd
        .args(["-c", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file)
        .spawn()
        .expect("start siprouter");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if started.elapsed() > TIME_BOUND {
            child.kill().ok();
            child.wait().ok();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    match status {
        Some(s) => (s.code(), stderr, true),
        None => (None, stderr, false),
    }
}

#[test]
fn mutated_configs_are_checked_in_bounded_time_and_every_rejection_has_a_place() {
    let count: usize = std::env::var("SIPROUTER_MUTANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let seed: u64 = std::env::var("SIPROUTER_MUTANTS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_cafe);
    let bin = siprouter_bin();
    let configs = corpus_configs();
    assert!(configs.len() > 100, "only {} corpus configs", configs.len());
    let dir = std::env::temp_dir().join(format!("siprouter-mutants-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary folder");
    let unshare = isolated();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let (accepted, rejected) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    break;
                }
                let mut rng = Rng(seed ^ (n as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                let (name, text) = &configs[rng.below(configs.len())];
                let path = dir.join(format!("mutant-{n}.cfg"));
                std::fs::write(&path, mutate(text, &mut rng)).expect("mutant");
                let (code, stderr, in_time) = check(&path, unshare, bin);
                let problem = match code {
                    _ if !in_time => Some(format!("no answer within {TIME_BOUND:?}")),
                    Some(0) => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                    Some(255) if has_location(&stderr) => {
                        rejected.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                    Some(255) => Some("rejected without a file:line:col".into()),
                    other => Some(format!("exit {other:?} (a panic or a signal)")),
                };
                match problem {
                    Some(p) => failures.lock().expect("lock").push(format!(
                        "{} (mutant of {name}): {p}\n{stderr}",
                        path.display()
                    )),
                    None => {
                        std::fs::remove_file(&path).ok();
                        std::fs::remove_file(path.with_extension("stderr")).ok();
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().expect("lock");
    println!(
        "{count} mutants in {:.1} s ({}): {} accepted, {} rejected with a place, {} failures",
        started.elapsed().as_secs_f64(),
        if unshare {
            "own network namespace"
        } else {
            "host network"
        },
        accepted.load(Ordering::Relaxed),
        rejected.load(Ordering::Relaxed),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {count} mutants failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    std::fs::remove_dir_all(&dir).ok();
}
