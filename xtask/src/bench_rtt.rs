//! `cargo xtask bench rtt`: the round trip of a request through the relay, with siprouter's
//! threads as SCHED_BATCH (its default) and as started (`--sched keep`), on an idle machine
//! and with every CPU kept busy by other processes (`--hogs`).
//!
//! What SCHED_BATCH saves in CPU (`bench relay`) it may cost in waiting: a woken thread
//! does not preempt the running task, so when every CPU is busy it waits for that task's
//! time slice. This measures that price. A client thread sends an OPTIONS request to the
//! relay on 127.0.0.1:5060 (`configs/bench-relay.cfg`, which forwards to 127.0.0.1:5080),
//! waits for its answer (500 ms at most) and sleeps 1 ms before the next; a responder
//! thread on 5080 answers 200, which the relay sends back; the client times each request
//! until its answer. The two modes take turns, `--rounds` runs each, and each run prints
//! its percentiles, the requests that got no answer, and the scheduling policies the
//! server's threads ran under (read from /proc, so that a mode that changed nothing shows).

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bench_relay::{existing_file, quantile, Killed};

/// The relay's address, as in `configs/bench-relay.cfg`.
const RELAY: &str = "127.0.0.1:5060";
/// The responder's address, where `configs/bench-relay.cfg` forwards requests.
const RESPONDER: &str = "127.0.0.1:5080";
/// Requests in a row without an answer after which a run stops as failed.
const MAX_LOST_IN_A_ROW: usize = 10;

/// The round trips of one run.
struct Run {
    /// Each answered request's round trip in µs, sorted.
    rtt_us: Vec<f64>,
    /// Requests that got no answer within 500 ms.
    lost: usize,
    /// The scheduling policies of the server's threads (Linux's numbers), distinct.
    policies: Vec<u32>,
}

/// `bench rtt [--count N] [--rounds R] [--hogs K] [--bin PATH]`.
pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let (mut count, mut rounds, mut hogs, mut bin) = (2000usize, 2usize, 0usize, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|_| format!("{a}: not a number"));
        match a.as_str() {
            "--count" => count = number(value()?)?.max(1),
            "--rounds" => rounds = number(value()?)?.max(1),
            "--hogs" => hogs = number(value()?)?,
            "--bin" => bin = Some(PathBuf::from(value()?)),
            other => return Err(format!("bench rtt: unknown argument `{other}`")),
        }
    }
    let bin = match bin {
        Some(p) => existing_file(&p)?,
        None => crate::bench_relay::release_binary(root)?,
    };
    let cfg = root.join("configs/bench-relay.cfg");
    println!(
        "round trip through the relay, {count} requests a run, 1 ms apart, {hogs} busy \
         process(es) beside it"
    );
    for round in 1..=rounds {
        for sched in ["batch", "keep"] {
            let _hogs: Vec<Killed> = (0..hogs).map(|_| hog()).collect::<Result<_, _>>()?;
            let r = one_run(&bin, &cfg, sched, count)?;
            println!("round {round}, --sched {sched:5}: {}", summary(&r));
        }
    }
    Ok(())
}

/// A process that keeps one CPU busy until it is killed.
fn hog() -> Result<Killed, String> {
    use std::os::unix::process::CommandExt;
    Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .process_group(0)
        .stdin(Stdio::null())
        .spawn()
        .map(Killed)
        .map_err(|e| format!("cannot start a busy process: {e}"))
}

/// Starts the relay with `--sched sched`, answers on the responder's port, and times
/// `count` requests.
fn one_run(bin: &Path, cfg: &Path, sched: &str, count: usize) -> Result<Run, String> {
    use std::os::unix::process::CommandExt;
    let responder = UdpSocket::bind(RESPONDER).map_err(|e| format!("{RESPONDER}: {e}"))?;
    responder
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let mut server = Killed(
        Command::new(bin)
            .args(["-E", "--sched", sched, "-f"])
            .arg(cfg)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let answering = {
        let stop = stop.clone();
        std::thread::spawn(move || answer(&responder, &stop))
    };
    let outcome = time_requests(&mut server, count);
    stop.store(true, Ordering::Relaxed);
    let _ = answering.join();
    outcome
}

/// Waits for the relay to answer, then times `count` requests through it. Fails when the
/// server has exited (another process on its port would be measured instead) or stops
/// answering.
fn time_requests(server: &mut Killed, count: usize) -> Result<Run, String> {
    let alive = |server: &mut Killed| match server.0.try_wait() {
        Ok(None) => Ok(()),
        _ => Err("the relay exited (a port in use? an option this build lacks?)".to_string()),
    };
    let client = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| e.to_string())?;
    // The server is up once a request comes back (within 5 s).
    let deadline = Instant::now() + Duration::from_secs(5);
    while ask(&client, u64::MAX).is_none() {
        alive(server)?;
        if Instant::now() > deadline {
            return Err("the relay does not answer on 127.0.0.1:5060".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    alive(server)?;
    let mut run = Run {
        rtt_us: Vec::with_capacity(count),
        lost: 0,
        policies: thread_policies(server.0.id()),
    };
    let mut lost_in_a_row = 0;
    for i in 0..count {
        match ask(&client, i as u64) {
            Some(rtt) => {
                run.rtt_us.push(rtt);
                lost_in_a_row = 0;
            }
            None => {
                run.lost += 1;
                lost_in_a_row += 1;
                if lost_in_a_row == MAX_LOST_IN_A_ROW {
                    alive(server)?;
                    return Err(format!(
                        "{MAX_LOST_IN_A_ROW} requests in a row got no answer"
                    ));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    alive(server)?;
    run.rtt_us.sort_by(f64::total_cmp);
    Ok(run)
}

/// The distinct scheduling policies (field 41 of `/proc/PID/task/TID/stat`, counted after
/// the parenthesised command name) of a process's threads; empty when /proc cannot be read.
fn thread_policies(pid: u32) -> Vec<u32> {
    let mut policies: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("stat")).ok())
        .filter_map(|stat| {
            let rest = &stat[stat.rfind(')')? + 1..];
            rest.split_ascii_whitespace().nth(41 - 3)?.parse().ok()
        })
        .collect();
    policies.sort_unstable();
    policies.dedup();
    policies
}

/// Sends request `n` through the relay and returns its round trip in µs, or `None` when no
/// answer to it came within the socket's timeout.
fn ask(client: &UdpSocket, n: u64) -> Option<f64> {
    let me = client.local_addr().ok()?;
    let request = format!(
        "OPTIONS sip:rtt@{RESPONDER} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-rtt{n}\r\n\
         From: <sip:rtt@127.0.0.1>;tag=1\r\nTo: <sip:rtt@{RESPONDER}>\r\nCall-ID: rtt{n}@127.0.0.1\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    let start = Instant::now();
    client.send_to(request.as_bytes(), RELAY).ok()?;
    let mut buf = [0u8; 4096];
    let wanted = format!("branch=z9hG4bK-rtt{n}");
    loop {
        let (len, _) = client.recv_from(&mut buf).ok()?;
        // An answer to an earlier request that came late is not this one's.
        if answers(&buf[..len], &wanted) {
            return Some(start.elapsed().as_secs_f64() * 1e6);
        }
    }
}

/// Whether `answer` carries the branch `wanted` (not one that only starts with it: the
/// branch of request 1 is a prefix of request 10's).
fn answers(answer: &[u8], wanted: &str) -> bool {
    let text = String::from_utf8_lossy(answer);
    text.match_indices(wanted)
        .any(|(at, _)| !text[at + wanted.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

/// The responder: answers each request with 200 and the request's Via, From, To, Call-ID
/// and CSeq lines, until `stop` is set (the socket's read timeout bounds each wait) or the
/// socket fails.
fn answer(sock: &UdpSocket, stop: &AtomicBool) {
    use std::io::ErrorKind;
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let (len, from) = match sock.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => return,
        };
        let request = String::from_utf8_lossy(&buf[..len]);
        let head = request.split("\r\n\r\n").next().unwrap_or_default();
        let copied: Vec<&str> = head
            .split("\r\n")
            .skip(1)
            .filter(|l| {
                let name = l.split(':').next().unwrap_or_default().to_ascii_lowercase();
                matches!(name.as_str(), "via" | "from" | "to" | "call-id" | "cseq")
            })
            .collect();
        let reply = format!(
            "SIP/2.0 200 OK\r\n{}\r\nContent-Length: 0\r\n\r\n",
            copied.join("\r\n")
        );
        let _ = sock.send_to(reply.as_bytes(), from);
    }
}

/// `n 2000 lost 0, µs: p50 24 p90 33 p99 107 max 551; threads' policy [3]` (3 is
/// SCHED_BATCH, 0 SCHED_OTHER).
fn summary(r: &Run) -> String {
    let q = |p: f64| quantile(&r.rtt_us, p);
    format!(
        "n {} lost {}, µs: p50 {:.0} p90 {:.0} p99 {:.0} max {:.0}; threads' policy {:?}",
        r.rtt_us.len(),
        r.lost,
        q(0.5),
        q(0.9),
        q(0.99),
        r.rtt_us.last().copied().unwrap_or(f64::NAN),
        r.policies
    )
}

#[cfg(test)]
mod tests {
    use super::{answers, summary, thread_policies, Run};

    #[test]
    fn an_answer_is_matched_by_its_whole_branch() {
        let reply =
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:4000;branch=z9hG4bK-rtt10\r\n\r\n";
        assert!(answers(reply, "branch=z9hG4bK-rtt10"));
        assert!(!answers(reply, "branch=z9hG4bK-rtt1"));
        let with_param = b"Via: SIP/2.0/UDP h;branch=z9hG4bK-rtt1;received=1.2.3.4\r\n";
        assert!(answers(with_param, "branch=z9hG4bK-rtt1"));
    }

    #[test]
    fn summary_reads_the_percentiles_of_the_sorted_round_trips() {
        let r = Run {
            rtt_us: (0..=100).map(f64::from).collect(),
            lost: 2,
            policies: vec![3],
        };
        assert_eq!(
            summary(&r),
            "n 101 lost 2, µs: p50 50 p90 90 p99 99 max 100; threads' policy [3]"
        );
        let none = Run {
            rtt_us: vec![],
            lost: 5,
            policies: vec![],
        };
        assert_eq!(
            summary(&none),
            "n 0 lost 5, µs: p50 NaN p90 NaN p99 NaN max NaN; threads' policy []"
        );
    }

    #[test]
    fn the_policies_of_this_process_threads_are_read() {
        let policies = thread_policies(std::process::id());
        assert_eq!(policies.len(), 1, "{policies:?}");
        assert!(policies[0] <= 6, "{policies:?}");
    }
}
