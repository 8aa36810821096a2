//! RFC 4475 on the wire: every torture message is sent to a running siprouter (the stateless
//! relay of `configs/torture-relay.cfg`, forwarding to a sink socket of this test) over UDP and
//! over TCP, each followed by an OPTIONS probe that must still be answered.
//!
//! Expected, per the corpus index and the RFC's notes for a stateless proxy:
//! - `valid` requests are forwarded to the sink (`dblreq`: only its REGISTER, never the
//!   trailing INVITE-like octets); `valid` responses are not ours (their top Via names another
//!   host) and are dropped.
//! - `invalid` requests are answered 400 (`badvers` 505, `mismatch02` 501 or 400) and never
//!   forwarded; invalid responses are dropped.
//! - `semantic` ones get the code the RFC names for a proxy (416, 420, 483, 400), or are
//!   forwarded where it says a proxy processes them normally.
//! - Over TCP, the messages whose framing is broken (`clerr`, `ncl`, `mcl01`) cannot be
//!   answered on that stream: nothing may be forwarded, and the server must stay healthy.
//!
//! The corpus is sent `SIPROUTER_TORTURE_ROUNDS` times (default 10; `cargo xtask torture`
//! runs 100): the server's RSS at the end must be that after the first round, within the
//! 10% its runtime and allocator take to reach their working size.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use siprouter_e2e::{corpus_dir, rss_kib, siprouter_bin, workspace_root, Server};

const RELAY: u16 = 29080;
const SINK: u16 = 29081;

/// What the relay must do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Forwarded to the sink, no reply.
    Forward,
    /// This message forwarded first; what follows it on the stream may be forwarded too.
    ForwardFirst,
    /// Answered with one of these codes, not forwarded.
    Reply(&'static [u16]),
    /// Neither answered nor forwarded.
    Nothing,
}

/// The expectation for a corpus message over a transport.
fn expect(name: &str, class: &str, tcp: bool) -> Expect {
    match name {
        // Responses whose top Via is not ours: a proxy drops them.
        "unreason" | "noreason" | "scalarlg" | "bigcode" | "bcast" => Expect::Nothing,
        // Broken framing on a stream: no reply is possible on it.
        // On a stream, dblreq's REGISTER is one message and its trailing octets another.
        "dblreq" if tcp => Expect::ForwardFirst,
        _ if tcp && framing_broken(name) => Expect::Nothing,
        "badvers" => Expect::Reply(&[505]),
        "mismatch02" => Expect::Reply(&[501, 400]),
        "unkscm" | "novelsc" => Expect::Reply(&[416]),
        "bext01" => Expect::Reply(&[420]),
        "zeromf" => Expect::Reply(&[483]),
        "badbranch" | "insuf" | "multi01" | "mcl01" => Expect::Reply(&[400]),
        _ if class == "invalid" => Expect::Reply(&[400]),
        // valid, and semantic ones a proxy handles normally (unksm2, invut, regaut01,
        // cparam01, cparam02, regescrt, sdp01).
        _ => Expect::Forward,
    }
}

/// Messages whose end cannot be found on a stream (a Content-Length past the end, a negative
/// or a doubled one, no Content-Length, `baddn`'s archive copy without the empty line,
/// `dblreq`'s trailing octets): the stream cannot go on after them, so the probe goes over
/// UDP.
fn framing_broken(name: &str) -> bool {
    matches!(
        name,
        "clerr" | "ncl" | "mcl01" | "inv2543" | "baddn" | "dblreq"
    )
}

/// The corpus: (name, class, bytes), in index order.
fn corpus() -> Vec<(String, String, Vec<u8>)> {
    let dir = corpus_dir().join("rfc4475");
    let index = std::fs::read_to_string(dir.join("index.tsv"))
        .unwrap_or_else(|e| panic!("cannot read {}/index.tsv: {e}", dir.display()));
    index
        .lines()
        .skip(1)
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let bytes = std::fs::read(dir.join(format!("{}.sip", cols[0]))).expect("message");
            (cols[0].to_string(), cols[2].to_string(), bytes)
        })
        .collect()
}

/// An OPTIONS to the relay itself, with a Call-ID that tells its answer apart.
fn probe(id: u64, via: &str) -> String {
    format!(
        "OPTIONS sip:127.0.0.1:{RELAY} SIP/2.0\r\nVia: SIP/2.0/{via};branch=z9hG4bK-probe{id}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1>\r\n\
         Call-ID: probe-{id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

/// The status code of a response.
fn status(msg: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(msg);
    text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

/// What happened to one message.
#[derive(Debug, Default)]
struct Seen {
    replies: Vec<u16>,
    forwarded: Vec<Vec<u8>>,
    probe_answered: bool,
}

/// Splits a stream into SIP messages by Content-Length (`l:` too); what is left over.
fn split_stream(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                matches!(name.trim(), "content-length" | "l").then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        let total = end + 4 + len;
        if buf.len() < total {
            break;
        }
        out.push(buf.drain(..total).collect());
    }
    out
}

/// The sink's TCP side: every message forwarded over TCP, from any connection.
fn tcp_sink() -> Receiver<Vec<u8>> {
    let listener = TcpListener::bind(("127.0.0.1", SINK)).expect("sink listener");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut conn = conn;
                let (mut buf, mut chunk) = (Vec::new(), [0u8; 8192]);
                while let Ok(n @ 1..) = conn.read(&mut chunk) {
                    buf.extend_from_slice(&chunk[..n]);
                    for m in split_stream(&mut buf) {
                        if tx.send(m).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    rx
}

struct Harness {
    client: UdpSocket,
    sink: UdpSocket,
    sink_tcp: Receiver<Vec<u8>>,
    probes: u64,
    forwards: usize,
}

impl Harness {
    fn new() -> Harness {
        let client = UdpSocket::bind("127.0.0.1:0").expect("client socket");
        let sink = UdpSocket::bind(("127.0.0.1", SINK)).expect("sink socket");
        sink.set_nonblocking(true).expect("non-blocking sink");
        Harness {
            client,
            sink,
            sink_tcp: tcp_sink(),
            probes: 0,
            forwards: 0,
        }
    }

    /// Collects what reached the sink; waits (1 s at most) for a forward when one is due,
    /// as a forward over TCP is read by another thread.
    fn drain_sink(&mut self, seen: &mut Seen, want_forward: bool) {
        let deadline = Instant::now() + Duration::from_secs(1);
        let before = seen.forwarded.len();
        let mut buf = vec![0u8; 65536];
        loop {
            while let Ok(n) = self.sink.recv(&mut buf) {
                seen.forwarded.push(buf[..n].to_vec());
            }
            while let Ok(m) = self.sink_tcp.try_recv() {
                seen.forwarded.push(m);
            }
            if !want_forward || !seen.forwarded.is_empty() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.forwards += seen.forwarded.len() - before;
    }

    /// UDP: the message, then a probe; everything the relay did for the message is done
    /// once the probe is answered (one socket, handled in order).
    fn udp(&mut self, msg: &[u8], want_forward: bool) -> Seen {
        self.probes += 1;
        let id = self.probes;
        let me = self.client.local_addr().expect("address");
        let mut seen = Seen::default();
        self.client
            .send_to(msg, ("127.0.0.1", RELAY))
            .expect("send");
        self.client
            .send_to(
                probe(id, &format!("UDP {me}")).as_bytes(),
                ("127.0.0.1", RELAY),
            )
            .expect("send probe");
        self.client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = self.client.recv(&mut buf) {
            let m = &buf[..n];
            if String::from_utf8_lossy(m).contains(&format!("Call-ID: probe-{id}\r\n")) {
                seen.probe_answered = status(m) == Some(200);
                break;
            }
            seen.replies.extend(status(m));
        }
        self.drain_sink(&mut seen, want_forward);
        seen
    }

    /// TCP: a fresh connection with the message, then a probe on the same stream (or, when
    /// the message's framing leaves the stream unusable, a probe over UDP after a pause).
    fn tcp(&mut self, msg: &[u8], framing_broken: bool, want_forward: bool) -> Seen {
        self.probes += 1;
        let id = self.probes;
        let mut seen = Seen::default();
        let mut conn = TcpStream::connect(("127.0.0.1", RELAY)).expect("connect");
        conn.set_read_timeout(Some(Duration::from_millis(if framing_broken {
            300
        } else {
            2000
        })))
        .expect("timeout");
        let me = conn.local_addr().expect("address");
        conn.write_all(msg).expect("write");
        if !framing_broken {
            conn.write_all(probe(id, &format!("TCP {me}")).as_bytes())
                .expect("write probe");
        }
        let mut stream = Vec::new();
        let mut buf = [0u8; 8192];
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => stream.extend_from_slice(&buf[..n]),
            }
            if String::from_utf8_lossy(&stream).contains(&format!("Call-ID: probe-{id}\r\n")) {
                break;
            }
        }
        for m in String::from_utf8_lossy(&stream).split("SIP/2.0 ").skip(1) {
            let code: Option<u16> = m.get(..3).and_then(|c| c.parse().ok());
            if m.contains(&format!("Call-ID: probe-{id}\r\n")) {
                seen.probe_answered = code == Some(200);
            } else {
                seen.replies.extend(code);
            }
        }
        drop(conn);
        if framing_broken {
            // What reached the sink meanwhile belongs to this message.
            let probe = self.udp(b"", false);
            seen.probe_answered = probe.probe_answered;
            seen.forwarded.extend(probe.forwarded);
        }
        self.drain_sink(&mut seen, want_forward);
        seen
    }

    fn udp_probe(&mut self) -> bool {
        let s = self.udp(b"", false);
        s.probe_answered
    }
}

/// Checks one outcome; the problem, if any.
fn verdict(name: &str, expect: Expect, seen: &Seen) -> Option<String> {
    if !seen.probe_answered {
        return Some("the OPTIONS probe after it was not answered".into());
    }
    let forwarded = !seen.forwarded.is_empty();
    match expect {
        Expect::Forward if seen.forwarded.len() != 1 || !seen.replies.is_empty() => Some(format!(
            "expected one forward and no reply, saw {} forward(s) and replies {:?}",
            seen.forwarded.len(),
            seen.replies
        )),
        Expect::ForwardFirst
            if seen.forwarded.is_empty() || seen.forwarded.len() > 2 || !seen.replies.is_empty() =>
        {
            Some(format!(
                "expected one or two forwards and no reply, saw {} forward(s) and replies {:?}",
                seen.forwarded.len(),
                seen.replies
            ))
        }
        Expect::Forward | Expect::ForwardFirst if name == "dblreq" => {
            let text = String::from_utf8_lossy(&seen.forwarded[0]).into_owned();
            (!text.starts_with("REGISTER ") || text.contains("INVITE"))
                .then(|| format!("dblreq: only the REGISTER may be forwarded:\n{text}"))
        }
        Expect::Reply(codes)
            if forwarded || seen.replies.len() != 1 || !codes.contains(&seen.replies[0]) =>
        {
            Some(format!(
                "expected one reply in {codes:?} and no forward, saw replies {:?} and {} forward(s)",
                seen.replies,
                seen.forwarded.len()
            ))
        }
        Expect::Nothing if forwarded || !seen.replies.is_empty() => Some(format!(
            "expected neither reply nor forward, saw replies {:?} and {} forward(s)",
            seen.replies,
            seen.forwarded.len()
        )),
        _ => None,
    }
}

#[test]
fn torture_messages_over_udp_and_tcp_get_the_rfc_verdicts_and_leak_nothing() {
    let rounds: usize = std::env::var("SIPROUTER_TORTURE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let corpus = corpus();
    assert_eq!(corpus.len(), 49, "RFC 4475 has 49 messages");
    let mut harness = Harness::new();
    let cfg = workspace_root().join("tests/configs/torture-relay.cfg");
    let server = Server::start(
        Command::new(siprouter_bin())
            .arg("-f")
            .arg(&cfg)
            .args(["-E", "-A", &format!("RELAY_PORT={RELAY}")])
            .args(["-A", &format!("SINK_PORT={SINK}")])
            .stderr(Stdio::null()),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !harness.udp_probe() {
        assert!(Instant::now() < deadline, "the relay never answered");
    }
    let mut failures = BTreeMap::new();
    let mut rss_after_first = 0;
    let mut forwards_due = 0;
    let started = Instant::now();
    for round in 0..rounds {
        for (name, class, bytes) in &corpus {
            for tcp in [false, true] {
                let framing_broken = tcp && framing_broken(name);
                let expected = expect(name, class, tcp);
                let want_forward = matches!(expected, Expect::Forward | Expect::ForwardFirst);
                if expected == Expect::Forward {
                    forwards_due += 1;
                }
                let mut seen = if tcp {
                    harness.tcp(bytes, framing_broken, want_forward)
                } else {
                    harness.udp(bytes, want_forward)
                };
                let proto = if tcp { "tcp" } else { "udp" };
                if expected == Expect::ForwardFirst {
                    // The octets after dblreq's REGISTER may still be on their way.
                    std::thread::sleep(Duration::from_millis(100));
                    let mut rest = Seen::default();
                    harness.drain_sink(&mut rest, false);
                    seen.forwarded.extend(rest.forwarded);
                    // Counted as seen, so the total check below stays exact.
                    forwards_due += seen.forwarded.len();
                }
                if let Some(p) = verdict(name, expected, &seen) {
                    failures
                        .entry(format!("{name} over {proto} ({class})"))
                        .or_insert(format!("round {}: {p}", round + 1));
                }
            }
        }
        if round == 0 {
            rss_after_first = rss_kib(server.pid());
        }
        if (round + 1) % 10 == 0 {
            println!(
                "after round {}: RSS {} KiB",
                round + 1,
                rss_kib(server.pid())
            );
        }
    }
    let rss_end = rss_kib(server.pid());
    println!(
        "{rounds} round(s) of {} messages over UDP and TCP in {:.1} s; RSS {rss_after_first} KiB after the first, {rss_end} KiB at the end",
        corpus.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(server.stop().success());
    // A forward that came late would have been counted for a later message: count them all.
    std::thread::sleep(Duration::from_millis(100));
    let mut late = Seen::default();
    harness.drain_sink(&mut late, false);
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{failures:#?}",
        failures.len()
    );
    let late_lines: Vec<String> = late
        .forwarded
        .iter()
        .map(|m| {
            String::from_utf8_lossy(m)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(
        harness.forwards, forwards_due,
        "forwards seen vs. due; late ones: {late_lines:?}"
    );
    // The runtime and the allocator reach their working size in the first tens of rounds
    // (about 0.7 MB; flat from there to round 300, see docs/reliability.md): 10% allows for
    // that, a leak of one connection's or one message's memory per round does not fit.
    assert!(
        rss_end * 100 <= rss_after_first * 110,
        "RSS grew from {rss_after_first} KiB to {rss_end} KiB over {rounds} rounds"
    );
}
