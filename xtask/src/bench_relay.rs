//! `cargo xtask bench relay` and `cargo xtask bench cfg`: siprouter side by side with
//! Kamailio (when `kamailio` is installed), same config, same machine, same invocation.
//!
//! The method follows the reference relay benchmark (`../shared/bench`), re-implemented here:
//!
//! - **relay**: sipp's `uas` on 127.0.0.1:5080, the server on 127.0.0.1:5060 running
//!   `configs/bench-relay.cfg` (sl + maxfwd, stateless `forward()`), sipp's `uac` sending
//!   `--calls` calls at `--rate` per second. Each server runs in a process group of its own;
//!   its CPU is the time on CPU of every thread of every process of the group, from the
//!   scheduler's accounting (`/proc/PID/task/TID/schedstat`, nanoseconds), over the uac's
//!   run, divided by the relayed messages (6 per successful call: INVITE, 180, 200, ACK,
//!   BYE, 200). That is the reference harness's method; the `utime + stime` ticks of
//!   `/proc/PID/stat` (10 ms, sampled: a few percent off at 500 calls/s) are printed beside
//!   it as a cross-check. Peak RSS is the sum of `VmRSS` over the group,
//!   sampled every 20 ms. Calls and the achieved rate come from sipp's statistics file.
//! - **cfg**: `-c` on generated configs of 1k, 10k and 20k lines (`../shared/bench/gen-big-cfg`
//!   when present, which both servers accept): the median wall time of 5 runs and the peak
//!   RSS reported by `/usr/bin/time -f %M`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One server under test.
pub(crate) struct ServerCmd {
    /// Its name in the printed figures.
    pub(crate) name: &'static str,
    /// The program to start.
    pub(crate) program: PathBuf,
    /// Its arguments.
    pub(crate) args: Vec<String>,
    /// Extra environment variables (the PGO training names each server's profile file).
    pub(crate) env: Vec<(String, String)>,
}

/// What one run measured.
#[derive(Debug, Default, Clone)]
pub(crate) struct Figures {
    /// Successful calls.
    pub(crate) ok: u64,
    /// Failed calls.
    pub(crate) failed: u64,
    /// The call rate sipp achieved.
    cps: f64,
    /// CPU per relayed message from the scheduler's accounting, in µs.
    us_per_msg: f64,
    /// The same from `utime + stime` ticks (the cross-check).
    tick_us_per_msg: f64,
    peak_rss_kib: u64,
}

pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("relay") => relay(root, &args[1..]),
        Some("cfg") => cfg(root, &args[1..]),
        _ => Err(
            "bench: `relay [--proto udp|tcp] [--rate R] [--calls N] [--repeat K] [--search] [--floor] [--all-batch] [--bin PATH]` or `cfg [--bin PATH]`"
                .into(),
        ),
    }
}

/// Builds the release siprouter and returns its path.
pub(crate) fn release_binary(root: &Path) -> Result<PathBuf, String> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-p", "siprouter"])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the release siprouter failed".into());
    }
    Ok(root.join("target/release/siprouter"))
}

/// The siprouter to measure: `--bin PATH` when given (a PGO build from `cargo xtask pgo`,
/// another commit's build), else the release build, built first.
fn siprouter_binary(root: &Path, given: Option<PathBuf>) -> Result<PathBuf, String> {
    match given {
        Some(p) => existing_file(&p),
        None => release_binary(root),
    }
}

/// `--bin`'s file as an absolute path: `Command::new` would look a bare name up on `PATH`
/// and run another program than the file this checked.
pub(crate) fn existing_file(p: &Path) -> Result<PathBuf, String> {
    match p.canonicalize() {
        Ok(abs) if abs.is_file() => Ok(abs),
        _ => Err(format!("--bin {}: no such file", p.display())),
    }
}

/// Whether `program` is on `PATH`.
pub(crate) fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn relay(root: &Path, args: &[String]) -> Result<(), String> {
    let (mut proto, mut rate, mut calls) = ("udp".to_string(), 2000u64, 10_000u64);
    let mut search = false;
    let mut floor = false;
    let mut all_batch = false;
    let mut repeat = 1u64;
    let mut bin = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--proto" => proto = value()?,
            "--rate" => rate = value()?.parse().map_err(|_| "--rate: not a number")?,
            "--calls" => calls = value()?.parse().map_err(|_| "--calls: not a number")?,
            "--search" => search = true,
            "--floor" => floor = true,
            "--all-batch" => all_batch = true,
            "--bin" => bin = Some(PathBuf::from(value()?)),
            "--repeat" => {
                repeat = value()?.parse().map_err(|_| "--repeat: not a number")?;
                if repeat == 0 {
                    return Err("--repeat: at least 1".into());
                }
            }
            other => return Err(format!("bench relay: unknown argument `{other}`")),
        }
    }
    if proto != "udp" && proto != "tcp" {
        return Err(format!("--proto {proto}: udp or tcp"));
    }
    // A wrong `--bin` is reported before anything else is looked at, and the release build
    // is made only once sipp is known to be there.
    let given = bin.as_deref().map(existing_file).transpose()?;
    if !have("sipp") {
        return Err("sipp is not installed (apt-get install sip-tester)".into());
    }
    let bin = match given {
        Some(p) => p,
        None => release_binary(root)?,
    };
    let cfg = root.join("configs/bench-relay.cfg");
    let dir = root.join("target/bench/relay");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut defines = vec![];
    if proto == "tcp" {
        defines = vec!["-A".to_string(), "WITH_TCP".to_string()];
    }
    let cfg_arg = cfg.display().to_string();
    let mut servers = vec![ServerCmd {
        name: "siprouter",
        program: bin,
        args: [
            vec!["-E".into(), "-f".into(), cfg_arg.clone()],
            defines.clone(),
        ]
        .concat(),
        env: vec![],
    }];
    if have("kamailio") {
        let run_dir = dir.join("kamailio-run");
        std::fs::create_dir_all(&run_dir).map_err(|e| e.to_string())?;
        servers.push(ServerCmd {
            name: "kamailio",
            program: "kamailio".into(),
            args: [
                vec![
                    "-DD".into(),
                    "-E".into(),
                    "-f".into(),
                    cfg_arg,
                    "-Y".into(),
                    run_dir.display().to_string(),
                    "-m".into(),
                    "64".into(),
                    "-M".into(),
                    "8".into(),
                    "-x".into(),
                    "tlsf".into(),
                ],
                defines,
            ]
            .concat(),
            env: vec![],
        });
    } else {
        println!("kamailio is not installed: measuring siprouter alone");
    }
    if floor {
        servers.push(ServerCmd {
            name: "floor",
            program: std::env::current_exe().map_err(|e| format!("the xtask binary: {e}"))?,
            args: [
                vec![
                    "floor-relay".into(),
                    "--threads".into(),
                    children(&cfg).to_string(),
                ],
                if proto == "tcp" {
                    vec!["--tcp".into()]
                } else {
                    vec![]
                },
            ]
            .concat(),
            env: vec![],
        });
    }
    if all_batch {
        if !have("chrt") {
            return Err("--all-batch needs chrt (util-linux)".into());
        }
        println!("kamailio and the floor relay run as SCHED_BATCH (chrt -b 0), as siprouter's threads do by default");
        servers = servers.into_iter().map(under_batch).collect();
    }
    if search {
        if repeat > 1 {
            return Err("--search runs its own steps: no --repeat with it".into());
        }
        return search_rates(&servers, &proto, &dir);
    }
    let (mut ratios, mut floors) = (Vec::new(), Vec::new());
    for round in 1..=repeat {
        if repeat > 1 {
            println!("round {round} of {repeat}");
        }
        let r = relay_round(&servers, &proto, rate, calls, &dir)?;
        ratios.extend(r.ours_to_theirs);
        floors.extend(r.floor_to_theirs);
    }
    print_over_rounds("CPU per message ratios", &mut ratios);
    print_over_rounds("floor/kamailio CPU per message", &mut floors);
    Ok(())
}

/// `--all-batch`: the other servers (Kamailio, the floor relay) started through `chrt -b 0`
/// so that every thread of theirs runs as SCHED_BATCH, the policy siprouter gives its own
/// threads unless `--sched keep`; siprouter is left as it is.
fn under_batch(s: ServerCmd) -> ServerCmd {
    if s.name == "siprouter" {
        return s;
    }
    let mut args = vec![
        "-b".to_string(),
        "0".to_string(),
        s.program.display().to_string(),
    ];
    args.extend(s.args);
    ServerCmd {
        program: PathBuf::from("chrt"),
        args,
        ..s
    }
}

/// Prints the ratios of several rounds and their median (nothing for one round).
fn print_over_rounds(what: &str, ratios: &mut [f64]) {
    if ratios.len() > 1 {
        ratios.sort_by(f64::total_cmp);
        let list: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        let median = quantile(ratios, 0.5);
        println!(
            "{what} over {} rounds: {} (median {median:.2})",
            ratios.len(),
            list.join(", ")
        );
    }
}

/// The `children=` of a config (the floor relay runs as many threads), 2 when not found.
fn children(cfg: &Path) -> usize {
    std::fs::read_to_string(cfg)
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == "children").then(|| v.trim().parse().ok())?
            })
        })
        .unwrap_or(2)
        .max(1)
}

/// What one round compared: siprouter's CPU per message over Kamailio's, and the floor
/// relay's over Kamailio's, when those ran.
struct RoundRatios {
    ours_to_theirs: Option<f64>,
    floor_to_theirs: Option<f64>,
}

/// One run of each server in turn; prints their figures and, with Kamailio, the ratios.
fn relay_round(
    servers: &[ServerCmd],
    proto: &str,
    rate: u64,
    calls: u64,
    dir: &Path,
) -> Result<RoundRatios, String> {
    let mut results = Vec::new();
    for s in servers {
        let f = relay_once(s, proto, rate, calls, dir)?;
        println!(
            "{:<10} {proto} {rate}/s: {} ok, {} failed, {:.0} calls/s achieved, {:.2} µs CPU per \
             relayed message (ticks: {:.2}), peak RSS {:.1} MB",
            s.name,
            f.ok,
            f.failed,
            f.cps,
            f.us_per_msg,
            f.tick_us_per_msg,
            f.peak_rss_kib as f64 / 1024.0
        );
        results.push((s.name, f));
    }
    let by_name = |name: &str| results.iter().find(|(n, _)| *n == name).map(|(_, f)| f);
    let (ours, theirs, floor) = (by_name("siprouter"), by_name("kamailio"), by_name("floor"));
    let cpu = ours.zip(theirs).map(|(ours, theirs)| {
        let cpu = ours.us_per_msg / theirs.us_per_msg;
        println!(
            "ratios siprouter/kamailio: CPU per message {cpu:.2}, peak RSS {:.2}, achieved rate {:.2}",
            ours.peak_rss_kib as f64 / theirs.peak_rss_kib as f64,
            ours.cps / theirs.cps
        );
        cpu
    });
    let share = floor
        .zip(theirs)
        .map(|(f, theirs)| f.us_per_msg / theirs.us_per_msg);
    if let (Some(ours), Some(f)) = (ours, floor) {
        let against_theirs = theirs.zip(share).map_or(String::new(), |(theirs, share)| {
            format!(
                ", floor/kamailio {share:.2}, kamailio/floor {:.2}",
                theirs.us_per_msg / f.us_per_msg
            )
        });
        println!(
            "floor relay: siprouter/floor {:.2}{against_theirs}",
            ours.us_per_msg / f.us_per_msg
        );
    }
    Ok(RoundRatios {
        ours_to_theirs: cpu,
        floor_to_theirs: share,
    })
}

/// The highest rate (steps of 500 calls/s, 5 s of calls each) at which every call succeeds
/// and the achieved rate is within 5% of the asked one, for each server in turn.
fn search_rates(servers: &[ServerCmd], proto: &str, dir: &Path) -> Result<(), String> {
    let mut best = Vec::new();
    for s in servers {
        let mut clean = 0;
        for rate in (1..=24).map(|i| i * 500) {
            let f = relay_once(s, proto, rate, rate * 5, dir)?;
            let ok = f.failed == 0 && f.ok == rate * 5 && f.cps >= 0.95 * rate as f64;
            println!(
                "{:<10} {proto} {rate}/s: {} ok, {} failed, {:.0} calls/s achieved{}",
                s.name,
                f.ok,
                f.failed,
                f.cps,
                if ok { "" } else { "  <- not clean" }
            );
            if !ok {
                break;
            }
            clean = rate;
        }
        println!("{:<10} highest clean rate: {clean} calls/s", s.name);
        best.push((s.name, clean));
    }
    let rate_of = |name: &str| best.iter().find(|(n, _)| *n == name).map(|&(_, r)| r);
    if let (Some(ours), Some(theirs)) = (rate_of("siprouter"), rate_of("kamailio")) {
        println!(
            "ratio siprouter/kamailio of the highest clean rate: {:.2}",
            ours as f64 / theirs.max(1) as f64
        );
    }
    Ok(())
}

/// Processes whose process group is `pgid`.
fn group(pgid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            stat_fields(*pid).is_some_and(|f| f.get(2).and_then(|g| g.parse().ok()) == Some(pgid))
        })
        .collect()
}

/// The fields of /proc/PID/stat after the command name (field 3 onwards).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = text.rsplit_once(") ")?.1;
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// The CPU used so far by a process group, from one listing of its processes: the ticks
/// (utime + stime + reaped children) and the nanoseconds on CPU of every thread.
fn group_cpu(pgid: u32) -> (u64, u64) {
    let pids = group(pgid);
    (ticks(&pids), sched_ns(&pids))
}

/// CPU ticks (utime + stime + reaped children) of these processes.
fn ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .copied()
        .filter_map(stat_fields)
        .map(|f| {
            // After the name: state(0) … utime(11) stime(12) cutime(13) cstime(14).
            (11..=14)
                .filter_map(|i| f.get(i)?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

/// Nanoseconds on CPU of every thread of these processes (the first field of
/// `/proc/PID/task/TID/schedstat`).
fn sched_ns(pids: &[u32]) -> u64 {
    pids.iter()
        .flat_map(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/task"))
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter_map(|task| {
            let text = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            text.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
}

fn group_rss_kib(pgid: u32) -> u64 {
    group(pgid)
        .into_iter()
        .filter_map(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()?
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

fn sipp(args: &[&str], dir: &Path) -> Command {
    let mut c = Command::new("sipp");
    c.args(args)
        .args(["-nostdin", "-i", "127.0.0.1", "-max_recv_loops", "10000"])
        .args([
            "-default_behaviors",
            "all,-abortunexp",
            "-buff_size",
            "1048576",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// A child started in a process group of its own, killed with its group when dropped.
pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        // The whole group: Kamailio's workers too.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0.id())])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One run of the relay benchmark on server `s`: starts it (in a process group of its own)
/// and sipp's uas, runs sipp's uac for `calls` calls at `rate`, and measures the server's
/// group. Fails when the server is gone before the uac starts (a bad config, a port in
/// use), so that figures never come from another process on the port.
pub(crate) fn relay_once(
    s: &ServerCmd,
    proto: &str,
    rate: u64,
    calls: u64,
    dir: &Path,
) -> Result<Figures, String> {
    use std::os::unix::process::CommandExt;
    let transport = if proto == "tcp" { "t1" } else { "u1" };
    let mut server = Killed(
        Command::new(&s.program)
            .args(&s.args)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .envs(s.env.iter().map(|(k, v)| (k, v)))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", s.name))?,
    );
    let pgid = server.0.id();
    std::thread::sleep(Duration::from_millis(1500));
    if let Ok(Some(status)) = server.0.try_wait() {
        return Err(format!("{} exited at its start ({status})", s.name));
    }
    let _uas = Killed(
        sipp(&["-sn", "uas", "-p", "5080", "-t", transport], dir)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start sipp: {e}"))?,
    );
    std::thread::sleep(Duration::from_millis(500));
    let stat = dir.join(format!("{}-uac-stat.csv", s.name));
    let _ = std::fs::remove_file(&stat);
    let peak = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(group_rss_kib(pgid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let (ticks_before, ns_before) = group_cpu(pgid);
    let started = Instant::now();
    let status = sipp(
        &[
            "-sn",
            "uac",
            "127.0.0.1:5060",
            "-p",
            "5070",
            "-t",
            transport,
            "-r",
            &rate.to_string(),
            "-m",
            &calls.to_string(),
            "-recv_timeout",
            "5000",
            "-timeout",
            &format!("{}s", calls / rate + 20),
            "-timeout_error",
            "-trace_stat",
            "-stf",
            &stat.display().to_string(),
            "-fd",
            "1",
        ],
        dir,
    )
    .status()
    .map_err(|e| format!("cannot run sipp: {e}"))?;
    let wall = started.elapsed();
    let (ticks_after, ns_after) = group_cpu(pgid);
    let ticks = ticks_after.saturating_sub(ticks_before);
    let ns = ns_after.saturating_sub(ns_before);
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let (ok, failed, cps) = sipp_totals(&stat).unwrap_or((0, calls, 0.0));
    let msgs = ok * 6;
    let tick_us = ticks as f64 * 1e6 / clock_ticks() as f64;
    let per_msg = |us: f64| if msgs > 0 { us / msgs as f64 } else { f64::NAN };
    if !status.success() && failed == 0 {
        println!("{}: sipp exited with {status} after {wall:?}", s.name);
    }
    Ok(Figures {
        ok,
        failed,
        cps,
        us_per_msg: per_msg(ns as f64 / 1000.0),
        tick_us_per_msg: per_msg(tick_us),
        peak_rss_kib: peak.load(Ordering::Relaxed),
    })
}

/// Successful and failed calls and the average call rate from sipp's `-trace_stat` file.
fn sipp_totals(stat: &Path) -> Option<(u64, u64, f64)> {
    let text = std::fs::read_to_string(stat).ok()?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next()?.split(';').collect();
    let last: Vec<&str> = lines.next_back()?.split(';').collect();
    let col = |name: &str| {
        let i = header.iter().position(|h| h.trim() == name)?;
        last.get(i).map(|v| v.trim().to_string())
    };
    let ok = col("SuccessfulCall(C)")?.parse().ok()?;
    let failed = col("FailedCall(C)")?.parse().ok()?;
    let cps = col("CallRate(C)")?.parse().unwrap_or(0.0);
    Some((ok, failed, cps))
}

fn cfg(root: &Path, args: &[String]) -> Result<(), String> {
    let bin = match args {
        [] => None,
        [flag, path] if flag == "--bin" => Some(PathBuf::from(path)),
        _ => return Err("bench cfg: the one option is `--bin PATH`".into()),
    };
    let bin = siprouter_binary(root, bin)?;
    let generator = root.join("../shared/bench/gen-big-cfg");
    if !generator.is_file() {
        return Err(format!(
            "{} is missing: the config bench needs configs both servers accept",
            generator.display()
        ));
    }
    let dir = root.join("target/bench/cfg");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let kamailio = have("kamailio");
    for lines in [1_000, 10_000, 20_000] {
        let file = dir.join(format!("big-{lines}.cfg"));
        let ok = Command::new("bash")
            .arg(&generator)
            .args(["-n", &lines.to_string(), "-o"])
            .arg(&file)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!("{} failed", generator.display()));
        }
        let file_arg = file.display().to_string();
        let ours_args = ["-c", "-f", &file_arg];
        let theirs_args = ["-c", "-f", &file_arg, "-M", "256", "-x", "tlsf"];
        let mut time = |who| match who {
            Who::Ours => time_check(&bin, &ours_args),
            Who::Theirs => time_check(Path::new("kamailio"), &theirs_args),
        };
        // As the reference harness does (`hyperfine -N --warmup 3`): wall times of the
        // program started directly, each timed run right after a run of the same program,
        // and the peak RSS from a run of its own under `/usr/bin/time` (whose fork and exec
        // would otherwise be in every time). The servers' series are cut into blocks that
        // take turns, so that a slow phase of the machine slows both alike.
        let (mut ours, mut theirs) = run_plan(&block_plan(kamailio), &mut time)?;
        // The same runs one by one, each right after the other server's: a run after
        // Kamailio's check, which touches 75 MB, is slower (shown, not the headline).
        let alternating = if kamailio {
            Some(run_plan(&alternating_plan(), &mut time)?)
        } else {
            None
        };
        ours.rss = peak_rss(&bin, &ours_args)?;
        if kamailio {
            theirs.rss = peak_rss(Path::new("kamailio"), &theirs_args)?;
        }
        print!("{lines:>6} lines: siprouter -c {}", ours.show());
        if kamailio {
            print!(
                "; kamailio -c {}; siprouter is {:.1}× faster with {:.2}× the memory",
                theirs.show(),
                theirs.median() / ours.median(),
                ours.rss as f64 / theirs.rss as f64
            );
        }
        if let Some((o, t)) = &alternating {
            print!(
                " (each run right after the other server's: {:.1} against {:.1} ms, {:.1}×)",
                o.median(),
                t.median(),
                t.median() / o.median()
            );
        }
        println!();
    }
    Ok(())
}

/// Timed runs of each `-c` in each of [`cfg()`]'s series (after untimed ones).
const CHECK_RUNS: usize = 21;

/// Timed runs of a block of [`block_plan`], after its one untimed run.
const CHECK_BLOCK: usize = 3;

/// Runs of each server before the timed ones of [`alternating_plan`] (the files and
/// binaries into the page cache).
const CHECK_WARMUP: usize = 3;

/// A server in a `-c` comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Ours,
    Theirs,
}

/// One run of a series: whose, and whether its time counts.
type Run = (Who, bool);

/// [`cfg()`]'s headline series: blocks of one untimed run then [`CHECK_BLOCK`] timed runs
/// of one server, the servers' blocks taking turns (Kamailio's first in even rounds), until
/// each has [`CHECK_RUNS`] timed runs. Every timed run comes right after a run of the same
/// server, as in hyperfine's series of the reference harness. Without Kamailio
/// (`both` false): only ours.
fn block_plan(both: bool) -> Vec<Run> {
    let mut plan = Vec::new();
    for round in 0..CHECK_RUNS.div_ceil(CHECK_BLOCK) {
        let order = match (both, round % 2) {
            (false, _) => &[Who::Ours][..],
            (true, 0) => &[Who::Theirs, Who::Ours][..],
            (true, _) => &[Who::Ours, Who::Theirs][..],
        };
        for &who in order {
            plan.push((who, false));
            plan.extend(std::iter::repeat_n((who, true), CHECK_BLOCK));
        }
    }
    plan
}

/// The runs one by one, the two servers alternating and taking turns at going first:
/// [`CHECK_WARMUP`] untimed rounds, then [`CHECK_RUNS`] timed ones. Half of each server's
/// timed runs come right after the other's.
fn alternating_plan() -> Vec<Run> {
    (0..CHECK_WARMUP + CHECK_RUNS)
        .flat_map(|round| {
            let timed = round >= CHECK_WARMUP;
            let (a, b) = if round % 2 == 0 {
                (Who::Theirs, Who::Ours)
            } else {
                (Who::Ours, Who::Theirs)
            };
            [(a, timed), (b, timed)]
        })
        .collect()
}

/// Runs `plan` with `time` (one run's wall time); the timed runs' times of ours and
/// Kamailio's, sorted.
fn run_plan(
    plan: &[Run],
    time: &mut impl FnMut(Who) -> Result<f64, String>,
) -> Result<(Checks, Checks), String> {
    let (mut ours, mut theirs) = (Checks::default(), Checks::default());
    for &(who, timed) in plan {
        let ms = time(who)?;
        if timed {
            match who {
                Who::Ours => ours.times.push(ms),
                Who::Theirs => theirs.times.push(ms),
            }
        }
    }
    for c in [&mut ours, &mut theirs] {
        c.times.sort_by(f64::total_cmp);
    }
    Ok((ours, theirs))
}

/// The wall times (ms, sorted once the runs are done) of a series of checks and the peak
/// RSS (KiB) of one.
#[derive(Default)]
struct Checks {
    times: Vec<f64>,
    rss: u64,
}

impl Checks {
    fn median(&self) -> f64 {
        quantile(&self.times, 0.5)
    }

    /// `median ms (p25–p75), peak MB`.
    fn show(&self) -> String {
        format!(
            "{:.1} ms ({:.1}–{:.1}), {:.1} MB",
            self.median(),
            quantile(&self.times, 0.25),
            quantile(&self.times, 0.75),
            self.rss as f64 / 1024.0
        )
    }
}

/// The `q`-quantile of `sorted` (ascending), interpolated between the two nearest values
/// (so the median of an even count is the mean of the middle two); NaN when it is empty.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    let at = last as f64 * q;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    let (a, b) = (sorted[lo.min(last)], sorted[hi.min(last)]);
    a + (b - a) * (at - lo as f64)
}

/// The wall time (ms) of one run of `program`, which must succeed.
fn time_check(program: &Path, args: &[&str]) -> Result<f64, String> {
    let started = Instant::now();
    let out = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if !out.status.success() {
        return Err(format!(
            "{} {} failed:\n{}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(ms)
}

/// The peak RSS (KiB) of one run of `program`, from `/usr/bin/time`.
fn peak_rss(program: &Path, args: &[&str]) -> Result<u64, String> {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(program)
        .args(args)
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run /usr/bin/time {}: {e}", program.display()))?;
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .filter(|_| out.status.success())
        .ok_or_else(|| {
            format!(
                "/usr/bin/time {} {}: no peak RSS",
                program.display(),
                args.join(" ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::{
        alternating_plan, block_plan, cfg, quantile, relay, siprouter_binary, under_batch, Run,
        ServerCmd, Who, CHECK_RUNS,
    };
    use std::path::{Path, PathBuf};

    #[test]
    fn all_batch_starts_the_others_through_chrt_and_leaves_siprouter() {
        let cmd = |name| ServerCmd {
            name,
            program: PathBuf::from("/usr/sbin/kamailio"),
            args: vec!["-f".into(), "x.cfg".into()],
            env: vec![("K".into(), "V".into())],
        };
        let theirs = under_batch(cmd("kamailio"));
        assert_eq!(theirs.program, PathBuf::from("chrt"));
        assert_eq!(
            theirs.args,
            ["-b", "0", "/usr/sbin/kamailio", "-f", "x.cfg"]
        );
        assert_eq!((theirs.name, theirs.env.len()), ("kamailio", 1));
        let ours = under_batch(cmd("siprouter"));
        assert_eq!(ours.program, PathBuf::from("/usr/sbin/kamailio"));
        assert_eq!(ours.args, ["-f", "x.cfg"]);
    }

    #[test]
    fn bin_names_the_binary_measured() {
        // An existing file is used as given (no build); a missing one is an error naming it.
        let me = std::env::current_exe().unwrap().canonicalize().unwrap();
        assert_eq!(
            siprouter_binary(Path::new("/nonexistent"), Some(me.clone())),
            Ok(me.clone())
        );
        let missing = PathBuf::from("/nonexistent/siprouter-pgo");
        let e = siprouter_binary(Path::new("/nonexistent"), Some(missing)).unwrap_err();
        assert!(e.contains("/nonexistent/siprouter-pgo"), "{e}");
        // The benches check `--bin` before building or measuring anything.
        let root = Path::new("/nonexistent");
        let e = relay(root, &["--bin".into(), "/nonexistent/x".into()]).unwrap_err();
        assert!(e.contains("/nonexistent/x"), "{e}");
        // A bare name is the file in the current directory, made absolute (not a program
        // looked up on `PATH`).
        let dir = me.parent().unwrap().to_path_buf();
        let name = PathBuf::from(me.file_name().unwrap());
        let cwd = std::env::current_dir().unwrap();
        if dir == cwd {
            assert_eq!(siprouter_binary(root, Some(name)), Ok(me.clone()));
        } else {
            assert!(siprouter_binary(root, Some(name)).is_err());
        }
        let e = cfg(root, &["--bin".into(), "/nonexistent/x".into()]).unwrap_err();
        assert!(e.contains("/nonexistent/x"), "{e}");
        let e = cfg(root, &["--pgo".into()]).unwrap_err();
        assert!(e.contains("--bin PATH"), "{e}");
    }

    /// The timed runs of `who` in `plan`, and how many of them come right after a run of
    /// the other server.
    fn timed(plan: &[Run], who: Who) -> (usize, usize) {
        let mut after_other = 0;
        let mut n = 0;
        for (i, &(w, t)) in plan.iter().enumerate() {
            if w == who && t {
                n += 1;
                if i == 0 || plan[i - 1].0 != who {
                    after_other += 1;
                }
            }
        }
        (n, after_other)
    }

    #[test]
    fn check_series_time_each_server_after_itself_or_after_the_other() {
        for both in [true, false] {
            let plan = block_plan(both);
            assert_eq!(
                timed(&plan, Who::Ours),
                (CHECK_RUNS, 0),
                "ours, both={both}"
            );
            let theirs = if both { CHECK_RUNS } else { 0 };
            assert_eq!(
                timed(&plan, Who::Theirs),
                (theirs, 0),
                "Kamailio, both={both}"
            );
            // An untimed run opens every block.
            assert!(!plan[0].1);
        }
        // Blocks take turns at going first.
        let plan = block_plan(true);
        let firsts: Vec<Who> = plan
            .iter()
            .enumerate()
            .filter(|&(i, r)| !r.1 && (i == 0 || plan[i - 1].0 != r.0))
            .map(|(_, r)| r.0)
            .collect();
        assert!(firsts.windows(2).all(|w| w[0] != w[1]), "{firsts:?}");
        assert!(firsts.contains(&Who::Ours) && firsts.contains(&Who::Theirs));
        // One by one: each server's timed runs, half of them right after the other's.
        let plan = alternating_plan();
        for who in [Who::Ours, Who::Theirs] {
            let (n, after) = timed(&plan, who);
            assert_eq!(n, CHECK_RUNS);
            assert!(after.abs_diff(n / 2) <= 1, "{who:?}: {after} of {n}");
        }
    }

    #[test]
    fn quantiles_of_sorted_times() {
        assert_eq!(quantile(&[1.0, 2.0, 9.0], 0.5), 2.0);
        assert_eq!(quantile(&[1.0, 2.0, 4.0, 9.0], 0.5), 3.0);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.25), 2.0);
        assert_eq!(quantile(&[7.0], 0.75), 7.0);
        assert!(quantile(&[], 0.5).is_nan());
    }
}
