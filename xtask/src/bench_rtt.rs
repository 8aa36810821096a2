//! `cargo xtask bench rtt`: the round trip of a request through the relay, with siprouter's
//! threads as SCHED_BATCH (its default) and as started (`--sched keep`), on an idle machine
//! and with every CPU kept busy by other processes (`--hogs`).
//!
//! What SCHED_BATCH saves in CPU (`bench relay`) it may cost in waiting: a woken thread
//! does not preempt the running task, so when every CPU is busy it waits for that task's
//! time slice. This measures that price. A client thread sends an OPTIONS request to the
//! relay on 127.0.0.1:5060 (`configs/bench-relay.cfg`, which forwards to 127.0.0.1:5080)
//! every millisecond; a responder thread on 5080 answers 200, which the relay sends back;
//! the client times each request until its answer. The two modes take turns, `--rounds`
//! runs each, and the percentiles of every round are printed.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::bench_relay::Killed;

/// The relay's port and the responder's, as in `configs/bench-relay.cfg`.
const RELAY: &str = "127.0.0.1:5060";
const RESPONDER: &str = "127.0.0.1:5080";

/// The round trips of one run, in µs, sorted; and how many requests got no answer.
struct Run {
    rtt_us: Vec<f64>,
    lost: usize,
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
        Some(p) => p
            .canonicalize()
            .map_err(|_| format!("--bin {}: no such file", p.display()))?,
        None => crate::bench_relay::release_binary(root)?,
    };
    let cfg = root.join("configs/bench-relay.cfg");
    println!(
        "round trip through the relay, {count} requests a run, one a millisecond, {hogs} busy \
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
    let _server = Killed(
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
    let answering = std::thread::spawn(move || answer(&responder));
    let client = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| e.to_string())?;
    // The server is up once a request comes back (within 5 s).
    let deadline = Instant::now() + Duration::from_secs(5);
    while ask(&client, u64::MAX).is_none() {
        if Instant::now() > deadline {
            return Err("the relay does not answer on 127.0.0.1:5060".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut run = Run {
        rtt_us: Vec::with_capacity(count),
        lost: 0,
    };
    for i in 0..count {
        match ask(&client, i as u64) {
            Some(rtt) => run.rtt_us.push(rtt),
            None => run.lost += 1,
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // A datagram of one byte ends the responder.
    let _ = client.send_to(b"q", RESPONDER);
    let _ = answering.join();
    run.rtt_us.sort_by(f64::total_cmp);
    Ok(run)
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
/// and CSeq lines, until a datagram of one byte.
fn answer(sock: &UdpSocket) {
    let mut buf = [0u8; 4096];
    while let Ok((len, from)) = sock.recv_from(&mut buf) {
        if len <= 1 {
            return;
        }
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

/// `n 2000 lost 0, µs: p50 24 p90 33 p99 107 max 551`.
fn summary(r: &Run) -> String {
    let q = |p: f64| -> f64 {
        r.rtt_us
            .get(((r.rtt_us.len() as f64 * p) as usize).min(r.rtt_us.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    format!(
        "n {} lost {}, µs: p50 {:.0} p90 {:.0} p99 {:.0} max {:.0}",
        r.rtt_us.len(),
        r.lost,
        q(0.5),
        q(0.9),
        q(0.99),
        r.rtt_us.last().copied().unwrap_or(f64::NAN)
    )
}

#[cfg(test)]
mod tests {
    use super::{answers, summary, Run};

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
            rtt_us: (1..=100).map(f64::from).collect(),
            lost: 2,
        };
        assert_eq!(
            summary(&r),
            "n 100 lost 2, µs: p50 51 p90 91 p99 100 max 100"
        );
        let none = Run {
            rtt_us: vec![],
            lost: 5,
        };
        assert_eq!(
            summary(&none),
            "n 0 lost 5, µs: p50 NaN p90 NaN p99 NaN max NaN"
        );
    }
}
