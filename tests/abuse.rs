//! Abuse of the transports while legitimate sipp calls run through the relay (UDP): 1,000
//! idle TCP connections against a limit of 800, a slow-loris sender, oversize messages (a
//! 65,000-byte datagram, endless TCP headers), garbage on the TLS and QUIC ports, a peer that
//! resets in the middle of a message, and a destination that answers ICMP port unreachable.
//! The calls must all succeed, and the server must answer and stop cleanly afterwards.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use siprouter_e2e::{open_fds, sipp, sipp_available, siprouter_bin, Server, TempDir};

const SIP: u16 = 28260;
const TLS: u16 = 28261;
const QUIC: u16 = 28262;
const UAC: u16 = 28270;
const UAS: u16 = 28280;
/// Nothing listens here: forwarding to it draws ICMP port unreachable.
const DEAD: u16 = 28299;
const TCP_LIMIT: usize = 800;

fn config(dir: &std::path::Path) -> String {
    format!(
        "auto_aliases=no\n\
         tcp_max_connections={TCP_LIMIT}\n\
         tcp_msg_read_timeout=2\n\
         enable_tls=yes\n\
         listen=udp:127.0.0.1:{SIP}\nlisten=tcp:127.0.0.1:{SIP}\n\
         listen=tls:127.0.0.1:{TLS}\nlisten=quic:127.0.0.1:{QUIC}\n\
         loadmodule \"sl.so\"\nloadmodule \"maxfwd.so\"\nloadmodule \"rr.so\"\n\
         loadmodule \"siputils.so\"\nloadmodule \"textops.so\"\nloadmodule \"tls.so\"\n\
         modparam(\"tls\", \"certificate\", \"{cert}\")\n\
         modparam(\"tls\", \"private_key\", \"{key}\")\n\
         request_route {{\n\
         \x20 if (!mf_process_maxfwd_header(\"10\")) {{ sl_send_reply(\"483\", \"Too Many Hops\"); exit; }}\n\
         \x20 if (is_method(\"OPTIONS\") && uri == myself) {{ sl_send_reply(\"200\", \"OK\"); exit; }}\n\
         \x20 if ($rU == \"dead\") {{ forward(\"127.0.0.1\", {DEAD}); exit; }}\n\
         \x20 if (has_totag()) {{ if (loose_route()) {{ forward(); exit; }} }}\n\
         \x20 record_route();\n\
         \x20 forward(\"127.0.0.1\", {UAS});\n\
         }}\n",
        cert = dir.join("cert.pem").display(),
        key = dir.join("key.pem").display(),
    )
}

fn request(method: &str, ruri: &str, via: &str, id: &str, extra: &str) -> String {
    format!(
        "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/{via};branch=z9hG4bK-{id}\r\nMax-Forwards: 70\r\n\
         From: <sip:abuse@127.0.0.1>;tag=a\r\nTo: <{ruri}>\r\nCall-ID: {id}@abuse\r\n\
         CSeq: 1 {method}\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

/// Whether the relay answers an OPTIONS over UDP with 200 within a second.
fn healthy() -> bool {
    let Ok(sock) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let Ok(me) = sock.local_addr() else {
        return false;
    };
    let req = request(
        "OPTIONS",
        &format!("sip:127.0.0.1:{SIP}"),
        &format!("UDP {me}"),
        "health",
        "",
    );
    sock.set_read_timeout(Some(Duration::from_secs(1))).ok();
    let mut buf = [0u8; 4096];
    sock.send_to(req.as_bytes(), ("127.0.0.1", SIP)).is_ok()
        && sock
            .recv(&mut buf)
            .is_ok_and(|n| buf[..n].starts_with(b"SIP/2.0 200 OK\r\n"))
}

/// Reads until the peer closes (EOF or reset) or `limit` passes; how long that took, or
/// `None` if it stayed open.
fn closed_within(conn: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    conn.set_read_timeout(Some(Duration::from_millis(100))).ok();
    while started.elapsed() < limit {
        match conn.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

/// Whether the server has not closed `conn` (a read would block rather than end).
fn still_open(mut conn: &TcpStream) -> bool {
    let mut buf = [0u8; 64];
    conn.set_nonblocking(true).ok();
    let open = matches!(conn.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    conn.set_nonblocking(false).ok();
    open
}

/// An OPTIONS over a new TCP connection: `Some(true)` answered 200, `Some(false)` refused
/// or closed cleanly, `None` hung for 3 s.
fn tcp_options() -> Option<bool> {
    let Ok(mut conn) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], SIP).into(), Duration::from_secs(3))
    else {
        return Some(false);
    };
    let me = conn.local_addr().ok()?;
    let req = request(
        "OPTIONS",
        &format!("sip:127.0.0.1:{SIP}"),
        &format!("TCP {me}"),
        "tcp-legit",
        "",
    );
    if conn.write_all(req.as_bytes()).is_err() {
        return Some(false);
    }
    conn.set_read_timeout(Some(Duration::from_secs(3))).ok();
    let mut buf = [0u8; 4096];
    match conn.read(&mut buf) {
        Ok(0) => Some(false),
        Ok(n) => Some(buf[..n].starts_with(b"SIP/2.0 200 OK\r\n")),
        Err(e)
            if e.kind() == std::io::ErrorKind::WouldBlock
                || e.kind() == std::io::ErrorKind::TimedOut =>
        {
            None
        }
        Err(_) => Some(false),
    }
}

#[test]
fn transports_survive_abuse_while_calls_succeed() {
    if !sipp_available() {
        return;
    }
    let tmp = TempDir::new("abuse");
    let dir = tmp.0.clone();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("certificate");
    tmp.file("cert.pem", &ck.cert.pem());
    tmp.file("key.pem", &ck.signing_key.serialize_pem());
    let cfg = tmp.file("abuse.cfg", &config(&dir));
    let server = Server::start(
        Command::new(siprouter_bin())
            .arg("-E")
            .arg("-f")
            .arg(&cfg)
            .stderr(std::fs::File::create(dir.join("stderr.log")).expect("log")),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !healthy() {
        let log = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "the relay never answered:\n{log}"
        );
    }
    let pid = server.pid();

    // Legitimate traffic all along: 3,000 calls at 200/s (15 s).
    let _uas = Server(
        sipp(&["-sn", "uas", "-p", &UAS.to_string(), "-t", "u1"])
            .spawn()
            .expect("sipp uas"),
    );
    std::thread::sleep(Duration::from_millis(300));
    let mut uac = Server(
        sipp(&[
            "-sn",
            "uac",
            "-p",
            &UAC.to_string(),
            "-t",
            "u1",
            &format!("127.0.0.1:{SIP}"),
            "-m",
            "3000",
            "-r",
            "200",
            "-timeout",
            "60s",
            "-timeout_error",
        ])
        .spawn()
        .expect("sipp uac"),
    );

    // Slow-loris in the background: one header byte a second, closed at the 2 s read timeout.
    let loris = std::thread::spawn(|| {
        let mut conn = TcpStream::connect(("127.0.0.1", SIP)).expect("connect");
        let started = Instant::now();
        for b in
            b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKs\r\n"
                .iter()
        {
            if conn.write_all(&[*b]).is_err() {
                break;
            }
            if closed_within(&mut conn, Duration::from_secs(1)).is_some() {
                return Some(started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(10) {
                break;
            }
        }
        None
    });

    // Oversize: a 65,000-byte datagram, then endless headers over TCP.
    let udp = UdpSocket::bind("127.0.0.1:0").expect("socket");
    let me = udp.local_addr().expect("address");
    let mut big = request(
        "INVITE",
        "sip:big@127.0.0.1",
        &format!("UDP {me}"),
        "big",
        "",
    );
    big.insert_str(
        big.len() - 2,
        &format!("X-Big: {}\r\n", "b".repeat(64_900 - big.len())),
    );
    udp.send_to(&big.as_bytes()[..65_000.min(big.len())], ("127.0.0.1", SIP))
        .expect("big datagram");
    assert!(healthy(), "after a 65,000-byte datagram");
    let mut endless = TcpStream::connect(("127.0.0.1", SIP)).expect("connect");
    endless
        .write_all(b"OPTIONS sip:127.0.0.1 SIP/2.0\r\n")
        .expect("write");
    // Twice the 16 KiB header limit, half the 64 KiB message limit. How much more a sender
    // could write before it sees the close is the kernel's buffering on loopback (megabytes,
    // varying between machines), so the test asks whether the server closes, not how much
    // was written.
    let line = format!("X-Endless: {}\r\n", "e".repeat(1000));
    let mut sent = 0usize;
    while sent < 32 << 10 && endless.write_all(line.as_bytes()).is_ok() {
        sent += line.len();
    }
    // Within a second: the 2 s incomplete-message timeout would close it too, later.
    let endless_closed = closed_within(&mut endless, Duration::from_secs(1));
    assert!(
        endless_closed.is_some(),
        "endless headers: the connection stayed open after {sent} bytes"
    );
    assert!(healthy(), "after endless TCP headers");

    // Garbage on the TLS and QUIC ports.
    let mut tls = TcpStream::connect(("127.0.0.1", TLS)).expect("connect to TLS");
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let _ = tls.write_all(&garbage);
    assert!(
        closed_within(&mut tls, Duration::from_secs(5)).is_some(),
        "garbage on the TLS port must close the connection"
    );
    for len in [1usize, 20, 1200, 1500] {
        udp.send_to(&garbage[..len], ("127.0.0.1", QUIC))
            .expect("QUIC garbage");
    }
    assert!(healthy(), "after garbage on the TLS and QUIC ports");

    // A peer that resets mid-message: unread data at close makes the kernel send RST.
    let mut rst = TcpStream::connect(("127.0.0.1", SIP)).expect("connect");
    let rme = rst.local_addr().expect("address");
    rst.write_all(
        request(
            "OPTIONS",
            &format!("sip:127.0.0.1:{SIP}"),
            &format!("TCP {rme}"),
            "rst",
            "",
        )
        .as_bytes(),
    )
    .expect("write");
    std::thread::sleep(Duration::from_millis(200));
    rst.write_all(b"INVITE sip:half@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP")
        .expect("write half");
    drop(rst);
    assert!(healthy(), "after a reset in the middle of a message");

    // ICMP port unreachable from the next hop.
    for i in 0..50 {
        let req = request(
            "INVITE",
            "sip:dead@127.0.0.1",
            &format!("UDP {me}"),
            &format!("dead{i}"),
            "",
        );
        udp.send_to(req.as_bytes(), ("127.0.0.1", SIP))
            .expect("send");
    }
    assert!(healthy(), "after forwarding to an unreachable port");

    // 1,000 idle connections against a limit of 800.
    let idle: Vec<TcpStream> = (0..1000)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", SIP)).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let held = idle.iter().filter(|c| still_open(c)).count();
    let fds = open_fds(pid);
    assert!(
        held <= TCP_LIMIT,
        "{held} idle connections held, limit {TCP_LIMIT}"
    );
    assert!(
        held >= TCP_LIMIT - 100,
        "only {held} of 1,000 idle connections held"
    );
    assert!(
        fds < TCP_LIMIT + 100,
        "{fds} descriptors open with {held} connections"
    );
    let at_limit = tcp_options();
    assert!(
        at_limit.is_some(),
        "a new connection at the limit hung instead of being refused"
    );
    assert!(healthy(), "UDP while the TCP limit is reached");
    drop(idle);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        tcp_options(),
        Some(true),
        "a new TCP connection after the idle ones closed"
    );

    let loris_closed = loris.join().expect("slow-loris thread");
    let closed_after = loris_closed.expect("the slow-loris connection was never closed");
    assert!(
        closed_after < Duration::from_secs(6),
        "slow-loris closed only after {closed_after:?}"
    );

    let status = uac.0.wait().expect("wait for sipp");
    println!(
        "abuse: {held} of 1,000 idle connections held (limit {TCP_LIMIT}, {fds} fds), a new \
         one at the limit {}, slow-loris closed after {closed_after:?}, endless headers closed \
         {endless_closed:?} after {sent} bytes; sipp: {status}",
        if at_limit == Some(true) {
            "answered"
        } else {
            "refused cleanly"
        },
    );
    assert!(
        status.success(),
        "legitimate calls failed during the abuse ({status})"
    );
    assert!(healthy());
    assert!(server.stop().success());
}
