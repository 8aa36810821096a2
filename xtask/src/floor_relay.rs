//! `cargo xtask floor-relay`: the floor of the relay benchmark, and what `bench relay
//! --floor` runs beside siprouter and Kamailio.
//!
//! Issue #10 measures the servers against "a relay that does nothing but one blocking
//! `recv_from` + one `send_to` per message and inserts/removes one Via line (no SIP
//! parsing, std sockets)". This is that relay, so that the floor is measured on the machine
//! at hand, in the same invocation as the two servers: what a message costs there before
//! any SIP work (system calls, wake-ups, the loopback path) is no server's to remove.
//!
//! It listens on UDP 127.0.0.1:5060 with `--threads` threads (default 2, the `children` of
//! `configs/bench-relay.cfg`) blocked in `recv_from` on one socket, as Kamailio's receivers
//! share theirs. A request gets a Via line of its own after the request line (its branch is
//! `z9hG4bKfloor` followed by the sender's branch, so each transaction keeps a branch of its
//! own) and goes to sipp's uas on 127.0.0.1:5080; a response loses that Via value (its own
//! line, or the first of a comma-separated list, as sipp's uas writes them) and goes to the
//! address of the Via after it. Anything else is dropped. It does not parse SIP beyond that
//! and is no product code: a benchmark yardstick only.
//!
//! With `--tcp` it does the same over TCP for the benchmark's `sipp -t t1` (one connection
//! from the uac): it accepts on 127.0.0.1:5060, connects once to the uas on 127.0.0.1:5080,
//! and a thread per connection blocks in `read`, cuts the stream into messages (the blank
//! line, then `Content-Length`/`l` bytes of body) and writes each one rewritten to the
//! other side with one `write`: requests to the uas, responses to the uac's latest
//! connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};

/// The transport of the Via the floor relay adds.
#[derive(Clone, Copy, Debug)]
enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    /// The start of the Via value the floor relay adds (the sender's branch follows it).
    fn ours(self) -> &'static [u8] {
        match self {
            Proto::Udp => b"SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfloor",
            Proto::Tcp => b"SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKfloor",
        }
    }
}

/// Where requests go: sipp's uas in the benchmark.
const UAS: ([u8; 4], u16) = ([127, 0, 0, 1], 5080);

/// Runs the floor relay until it is killed.
pub(crate) fn serve(args: &[String]) -> Result<(), String> {
    let mut threads = 2usize;
    let mut tcp = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--tcp" => tcp = true,
            "--threads" => {
                threads = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--threads: a number of at least 1")?;
            }
            other => return Err(format!("floor-relay: unknown argument `{other}`")),
        }
    }
    if tcp {
        return serve_tcp();
    }
    let sock = UdpSocket::bind("127.0.0.1:5060").map_err(|e| format!("127.0.0.1:5060: {e}"))?;
    let uas = SocketAddr::from(UAS);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let sock = sock.try_clone().map_err(|e| e.to_string())?;
            Ok(std::thread::spawn(move || relay_loop(&sock, uas)))
        })
        .collect::<Result<_, String>>()?;
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

/// One thread's loop: receive, rewrite, send.
fn relay_loop(sock: &UdpSocket, uas: SocketAddr) {
    let mut buf = vec![0u8; 65_536];
    let mut out = Vec::with_capacity(65_536);
    loop {
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let msg = buf.get(..n).unwrap_or_default();
        out.clear();
        let dest = if msg.starts_with(b"SIP/2.0 ") {
            response(Proto::Udp, msg, &mut out).and_then(|()| next_via(&out))
        } else {
            request(Proto::Udp, msg, &mut out).then_some(uas)
        };
        if let Some(to) = dest {
            let _ = sock.send_to(&out, to);
        }
    }
}

/// The TCP floor: accepts the uac's connections and relays over them and one connection to
/// the uas, a thread per connection.
fn serve_tcp() -> Result<(), String> {
    let listener =
        TcpListener::bind("127.0.0.1:5060").map_err(|e| format!("127.0.0.1:5060: {e}"))?;
    tcp_accept(&listener, SocketAddr::from(UAS));
    Ok(())
}

/// Accepts connections on `listener` and relays them, requests to the uas at `uas`.
fn tcp_accept(listener: &TcpListener, uas: SocketAddr) {
    let ends = Arc::new(TcpEnds {
        uas_addr: uas,
        uac: Mutex::new(None),
        uas: Mutex::new(None),
    });
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let _ = conn.set_nodelay(true);
        let conn = Arc::new(conn);
        if let Ok(mut uac) = ends.uac.lock() {
            *uac = Some(Arc::clone(&conn));
        }
        let ends = Arc::clone(&ends);
        std::thread::spawn(move || tcp_loop(&conn, &ends));
    }
}

/// The two sides of the TCP floor: the uac's latest connection (responses go there) and the
/// one connection to the uas (requests go there), made at the first request.
/// Made for the benchmark's one uac connection (`sipp -t t1`): with several, responses go
/// to the latest, whichever the call came on.
struct TcpEnds {
    uas_addr: SocketAddr,
    uac: Mutex<Option<Arc<TcpStream>>>,
    uas: Mutex<Option<Arc<TcpStream>>>,
}

impl TcpEnds {
    /// The connection to the uas, made (with its reading thread) on first use.
    fn uas(self: &Arc<Self>) -> Option<Arc<TcpStream>> {
        // Under the lock, so that two uac connections never make two (or two readers).
        let mut uas = self.uas.lock().ok()?;
        if let Some(c) = uas.as_ref() {
            return Some(Arc::clone(c));
        }
        let conn = Arc::new(TcpStream::connect(self.uas_addr).ok()?);
        let _ = conn.set_nodelay(true);
        *uas = Some(Arc::clone(&conn));
        let (ends, reader) = (Arc::clone(self), Arc::clone(&conn));
        std::thread::spawn(move || tcp_loop(&reader, &ends));
        Some(conn)
    }
}

/// More than this much of a stream without a whole message in it ends the connection.
const MAX_PENDING: usize = 1 << 20;

/// One TCP connection's loop: read, cut into messages, rewrite, write each to the other side.
fn tcp_loop(conn: &TcpStream, ends: &Arc<TcpEnds>) {
    let mut pending: Vec<u8> = Vec::with_capacity(65_536);
    let mut chunk = vec![0u8; 65_536];
    let mut out = Vec::with_capacity(65_536);
    loop {
        let n = match (&*conn).read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(chunk.get(..n).unwrap_or_default());
        // Keep-alive blank lines between messages are no message.
        let blank = pending
            .iter()
            .take_while(|&&c| matches!(c, b'\r' | b'\n'))
            .count();
        pending.drain(..blank);
        if pending.len() > MAX_PENDING {
            break;
        }
        while let Some(len) = frame(&pending) {
            let msg = pending.get(..len).unwrap_or_default();
            out.clear();
            let to = if msg.starts_with(b"SIP/2.0 ") {
                response(Proto::Tcp, msg, &mut out).and_then(|()| ends.uac.lock().ok()?.clone())
            } else if request(Proto::Tcp, msg, &mut out) {
                ends.uas()
            } else {
                None
            };
            if let Some(to) = to {
                let _ = (&*to).write_all(&out);
            }
            pending.drain(..len);
        }
    }
    // The benchmark sums the scheduler's time of the threads alive at its end: a thread that
    // ended with its connection (sipp's uac closes it when done) would take its time with it.
    loop {
        std::thread::park();
    }
}

/// The length of the first whole message at the start of `stream` (headers, the blank line
/// and `Content-Length` bytes of body; none without that header), if it is all there.
fn frame(stream: &[u8]) -> Option<usize> {
    let head = find(stream, b"\r\n\r\n")? + 4;
    let body = stream
        .get(..head)?
        .split(|&c| c == b'\n')
        .find_map(|line| {
            let (name, value) = line.split_at(line.iter().position(|&c| c == b':')?);
            let name = name.trim_ascii();
            (name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")).then(
                || {
                    std::str::from_utf8(value.get(1..)?.trim_ascii())
                        .ok()?
                        .parse()
                        .ok()
                },
            )?
        })
        .unwrap_or(0usize);
    let len = head.checked_add(body)?;
    (stream.len() >= len).then_some(len)
}

/// Writes `msg` with our Via line after its first line into `out`; false when it has no
/// line end.
fn request(proto: Proto, msg: &[u8], out: &mut Vec<u8>) -> bool {
    let Some(first) = find(msg, b"\r\n") else {
        return false;
    };
    let (line, rest) = msg.split_at(first + 2);
    out.extend_from_slice(line);
    out.extend_from_slice(b"Via: ");
    out.extend_from_slice(proto.ours());
    if let Some(at) = find(msg, b"branch=") {
        let value = msg.get(at + 7..).unwrap_or_default();
        let end = value
            .iter()
            .position(|&c| matches!(c, b';' | b',' | b'\r' | b'\n'))
            .unwrap_or(value.len());
        out.extend_from_slice(value.get(..end).unwrap_or_default());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(rest);
    true
}

/// Writes `msg` without our Via value into `out`; `None` when our Via is missing (see
/// [`next_via`] for where a UDP response goes).
fn response(proto: Proto, msg: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let at = find(msg, proto.ours())?;
    let value_end = at + find(msg.get(at..)?, b"\r\n")?;
    match msg.get(at..value_end)?.iter().position(|&c| c == b',') {
        // `Via: ours, next`: keep `Via: next`.
        Some(comma) => {
            let mut next = at + comma + 1;
            while matches!(msg.get(next), Some(b' ' | b'\t')) {
                next += 1;
            }
            out.extend_from_slice(msg.get(..at)?);
            out.extend_from_slice(msg.get(next..)?);
        }
        // A line of its own: drop it whole (`Via:`, `v:` or the like before the value, CRLF
        // after it).
        None => {
            let line_start = msg.get(..at)?.iter().rposition(|&c| c == b'\n')? + 1;
            match msg.get(line_start..at)?.iter().rposition(|&c| c == b',') {
                // `Via: other, ours`: keep `Via: other`.
                Some(comma) => {
                    out.extend_from_slice(msg.get(..line_start + comma)?);
                    out.extend_from_slice(msg.get(value_end..)?);
                }
                None => {
                    out.extend_from_slice(msg.get(..line_start)?);
                    out.extend_from_slice(msg.get(value_end + 2..)?);
                }
            }
        }
    }
    Some(())
}

/// The address (`host:port`, IPv4 or bracketed IPv6) of the first UDP Via in `msg`.
fn next_via(msg: &[u8]) -> Option<SocketAddr> {
    let at = find(msg, b"SIP/2.0/UDP ")? + b"SIP/2.0/UDP ".len();
    let rest = msg.get(at..)?;
    let end = rest
        .iter()
        .position(|&c| matches!(c, b';' | b',' | b'\r' | b' '))
        .unwrap_or(rest.len());
    std::str::from_utf8(rest.get(..end)?).ok()?.parse().ok()
}

/// The first place of `needle` in `hay`. Each place is compared whole only when its first
/// byte matches: a floor should spend as little as it can of its own (a whole comparison
/// at every place made `memcmp` a sixth of the relay's own time).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, _) = needle.split_first()?;
    hay.windows(needle.len())
        .position(|w| w.first() == Some(&first) && w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1-1-0\r\n\
        Call-ID: 1@127.0.0.1\r\nContent-Length: 0\r\n\r\n";

    /// A UDP response rewritten, and where it goes.
    fn udp_response(msg: &[u8], out: &mut Vec<u8>) -> Option<SocketAddr> {
        response(Proto::Udp, msg, out).and_then(|()| next_via(out))
    }

    #[test]
    fn a_request_gets_our_via_with_the_senders_branch_on_the_second_line() {
        let mut out = Vec::new();
        assert!(request(Proto::Udp, INVITE, &mut out));
        let text = String::from_utf8(out).expect("ASCII");
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], "INVITE sip:service@127.0.0.1:5060 SIP/2.0");
        assert_eq!(
            lines[1],
            "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfloorz9hG4bK-1-1-0"
        );
        assert_eq!(
            lines[2],
            "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1-1-0"
        );
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
    }

    #[test]
    fn a_response_loses_our_via_on_its_own_line_and_goes_to_the_next_one() {
        let msg = b"SIP/2.0 200 OK\r\n\
            Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfloorz9hG4bK-1-1-0\r\n\
            Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1-1-0\r\n\
            Content-Length: 0\r\n\r\n";
        let mut out = Vec::new();
        let to = udp_response(msg, &mut out);
        assert_eq!(to, Some(SocketAddr::from(([127, 0, 0, 1], 5070))));
        assert_eq!(
            out,
            b"SIP/2.0 200 OK\r\n\
            Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1-1-0\r\n\
            Content-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn our_via_goes_alone_after_another_and_whole_in_compact_form() {
        let cases: [(&[u8], &[u8]); 2] = [
            (
                b"SIP/2.0 200 OK\r\n\
                Via: SIP/2.0/UDP 127.0.0.1:5070;branch=a, SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfloora\r\n\r\n",
                b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=a\r\n\r\n",
            ),
            (
                b"SIP/2.0 200 OK\r\n\
                v:SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfloorz9hG4bK-3\r\n\
                v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-3\r\n\r\n",
                b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-3\r\n\r\n",
            ),
        ];
        for (msg, expected) in cases {
            let mut out = Vec::new();
            let to = udp_response(msg, &mut out);
            assert_eq!(to, Some(SocketAddr::from(([127, 0, 0, 1], 5070))));
            assert_eq!(out, expected, "{}", String::from_utf8_lossy(&out));
        }
    }

    #[test]
    fn a_response_loses_our_via_at_the_head_of_a_comma_list() {
        let msg = b"SIP/2.0 180 Ringing\r\n\
            Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfloorz9hG4bK-2, SIP/2.0/UDP [::1]:5070;branch=z9hG4bK-2\r\n\
            Content-Length: 0\r\n\r\n";
        let mut out = Vec::new();
        let to = udp_response(msg, &mut out);
        assert_eq!(to, "[::1]:5070".parse().ok());
        assert_eq!(
            out,
            b"SIP/2.0 180 Ringing\r\n\
            Via: SIP/2.0/UDP [::1]:5070;branch=z9hG4bK-2\r\n\
            Content-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn what_the_floor_cannot_relay_is_dropped() {
        let mut out = Vec::new();
        // No line end: no request.
        assert!(!request(Proto::Udp, b"INVITE sip:x SIP/2.0", &mut out));
        // A response without our Via, or with nothing after it.
        assert_eq!(
            udp_response(
                b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1:5060\r\n\r\n",
                &mut out
            ),
            None
        );
        out.clear();
        let only_ours =
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfloorx\r\n\r\n";
        assert_eq!(udp_response(only_ours, &mut out), None);
    }

    #[test]
    fn the_floor_relays_a_transaction_over_loopback() {
        // The relay's own loop on an ephemeral port, with two sockets for uac and uas.
        let relay = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let uas = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let uac = UdpSocket::bind("127.0.0.1:0").expect("bind");
        for s in [&uas, &uac] {
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .expect("timeout");
        }
        let relay_addr = relay.local_addr().expect("addr");
        let uas_addr = uas.local_addr().expect("addr");
        std::thread::spawn(move || relay_loop(&relay, uas_addr));
        let invite = String::from_utf8_lossy(INVITE).replace(
            "127.0.0.1:5070",
            &uac.local_addr().expect("addr").to_string(),
        );
        uac.send_to(invite.as_bytes(), relay_addr).expect("send");
        let mut buf = [0u8; 2048];
        let (n, from) = uas.recv_from(&mut buf).expect("the uas gets the request");
        assert_eq!(from, relay_addr);
        let got = String::from_utf8_lossy(&buf[..n]).into_owned();
        let via_lines: Vec<&str> = got.lines().filter(|l| l.starts_with("Via: ")).collect();
        assert_eq!(via_lines.len(), 2, "{got}");
        // The uas answers with both Vias, as a UAS copies them.
        let reply = format!(
            "SIP/2.0 200 OK\r\n{}\r\n{}\r\nContent-Length: 0\r\n\r\n",
            via_lines[0], via_lines[1]
        );
        uas.send_to(reply.as_bytes(), relay_addr).expect("send");
        let (n, _) = uac.recv_from(&mut buf).expect("the uac gets the response");
        let back = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert_eq!(back.matches("Via: ").count(), 1, "{back}");
        assert!(back.starts_with("SIP/2.0 200 OK\r\n"));
    }

    #[test]
    fn a_stream_is_cut_after_the_blank_line_and_the_body() {
        let two = b"MESSAGE sip:a SIP/2.0\r\nl: 3\r\n\r\nabcBYE sip:a SIP/2.0\r\n\r\n";
        let first = frame(two).expect("the first is whole");
        assert_eq!(&two[..first], b"MESSAGE sip:a SIP/2.0\r\nl: 3\r\n\r\nabc");
        assert_eq!(frame(&two[first..]), Some(two.len() - first));
        // Not yet whole: the head, or the body, still to come.
        assert_eq!(
            frame(b"INVITE sip:a SIP/2.0\r\nContent-Length: 5\r\n"),
            None
        );
        assert_eq!(
            frame(b"INVITE sip:a SIP/2.0\r\nContent-Length: 5\r\n\r\nabc"),
            None
        );
        // Any case of the name; no length is no body.
        assert_eq!(
            frame(b"X sip:a SIP/2.0\r\ncontent-LENGTH:2\r\n\r\nxyz"),
            Some(39)
        );
        assert_eq!(frame(b"X sip:a SIP/2.0\r\n\r\nxyz"), Some(19));
    }

    #[test]
    fn the_tcp_floor_relays_a_transaction_over_loopback() {
        let relay = TcpListener::bind("127.0.0.1:0").expect("bind");
        let uas = TcpListener::bind("127.0.0.1:0").expect("bind");
        let (relay_addr, uas_addr) = (
            relay.local_addr().expect("addr"),
            uas.local_addr().expect("addr"),
        );
        std::thread::spawn(move || tcp_accept(&relay, uas_addr));
        let timeout = Some(std::time::Duration::from_secs(5));
        let mut uac = TcpStream::connect(relay_addr).expect("connect");
        uac.set_read_timeout(timeout).expect("timeout");
        let invite = String::from_utf8_lossy(INVITE).replace("SIP/2.0/UDP", "SIP/2.0/TCP");
        // Sent in two writes: the relay must wait for the whole message.
        let (a, b) = invite.as_bytes().split_at(30);
        uac.write_all(a).expect("write");
        uac.flush().expect("flush");
        std::thread::sleep(std::time::Duration::from_millis(20));
        uac.write_all(b).expect("write");
        let (mut at_uas, _) = uas.accept().expect("the relay connects to the uas");
        at_uas.set_read_timeout(timeout).expect("timeout");
        let got = read_message(&mut at_uas);
        assert!(
            got.starts_with(
                "INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;"
            ),
            "{got}"
        );
        let vias: Vec<&str> = got.lines().filter(|l| l.starts_with("Via: ")).collect();
        assert_eq!(
            vias,
            [
                "Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKfloorz9hG4bK-1-1-0",
                "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-1-1-0"
            ]
        );
        let reply = format!(
            "SIP/2.0 200 OK\r\n{}\r\n{}\r\nContent-Length: 0\r\n\r\n",
            vias[0], vias[1]
        );
        at_uas.write_all(reply.as_bytes()).expect("write");
        let back = read_message(&mut uac);
        assert_eq!(back.matches("Via: ").count(), 1, "{back}");
        assert!(
            back.contains("\r\nVia: SIP/2.0/TCP 127.0.0.1:5070;"),
            "{back}"
        );
        assert!(back.starts_with("SIP/2.0 200 OK\r\n"));
    }

    /// Reads one message (no body) from a stream.
    fn read_message(s: &mut TcpStream) -> String {
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while !got.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).expect("a whole message");
            got.push(byte[0]);
        }
        String::from_utf8_lossy(&got).into_owned()
    }
}
