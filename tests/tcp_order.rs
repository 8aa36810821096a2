//! Messages relayed over TCP keep their order when the next hop cannot keep up. The relay
//! routes a stream's messages on the connection's task and writes them straight to the next
//! hop's socket when nothing is queued for it; otherwise they wait in the connection's queue,
//! and when that is full, in the serve loop, which also resolves host names. A stream of
//! requests over one connection, sent faster than the next hop reads (through a small
//! receive buffer), every third one addressed by a name (`127.1`, which only a resolver
//! reads as 127.0.0.1), must reach the next hop complete and in order while every path is
//! in use.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use siprouter_e2e::{siprouter_bin, Server, TempDir};

const SIP: u16 = 28360;
/// Requests sent: more than the connection's queue (256) and the serve loop's (1,024) hold.
const REQUESTS: usize = 2000;
const BODY: usize = 2048;

fn request(i: usize, body: &str) -> String {
    format!(
        "MESSAGE sip:order@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-o{i}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=a\r\nTo: <sip:order@127.0.0.1>\r\n\
         Call-ID: order@test\r\nCSeq: {i} MESSAGE\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Reads the complete messages at the front of `stream` (split by Content-Length): each
/// one's CSeq number, and how many octets they take.
fn cseqs(stream: &[u8]) -> (Vec<usize>, usize) {
    let mut out = Vec::new();
    let mut used = 0;
    while let Some(end) = stream[used..].windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&stream[used..used + end]);
        let value = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<usize>().ok())
        };
        let (Some(len), Some(cseq)) = (value("Content-Length: "), value("CSeq: ")) else {
            panic!("a relayed message without Content-Length or CSeq:\n{head}");
        };
        if used + end + 4 + len > stream.len() {
            break;
        }
        out.push(cseq);
        used += end + 4 + len;
    }
    (out, used)
}

#[test]
fn a_burst_relayed_over_tcp_to_a_slow_next_hop_arrives_in_order() {
    // The next hop's small receive buffer (inherited by the accepted socket) keeps the
    // relay's socket full for most of the test.
    let next_hop = {
        use socket2::{Domain, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        s.set_recv_buffer_size(8192).expect("rcvbuf");
        s.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .expect("bind the next hop");
        s.listen(8).expect("listen");
        TcpListener::from(s)
    };
    let hop = next_hop.local_addr().expect("address").port();
    let tmp = TempDir::new("tcp-order");
    let cfg = tmp.file(
        "order.cfg",
        &format!(
            "auto_aliases=no\nlisten=tcp:127.0.0.1:{SIP}\n\
             request_route {{\n\
               if ($cs mod 3 == 0) {{ forward_tcp(\"127.1\", {hop}); exit; }}\n\
               forward_tcp(\"127.0.0.1\", {hop});\n  exit;\n}}\n"
        ),
    );
    let _server = Server::start(
        Command::new(siprouter_bin())
            .args(["-E", "-f"])
            .arg(&cfg)
            .stderr(std::fs::File::create(tmp.0.join("stderr.log")).expect("log")),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut client = loop {
        match TcpStream::connect(("127.0.0.1", SIP)) {
            Ok(c) => break c,
            Err(e) => {
                assert!(Instant::now() < deadline, "the relay never listened: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    let body = "b".repeat(BODY);
    // The sender keeps its connection open (in its result) until the test ends.
    let sender = std::thread::spawn(move || {
        for i in 1..=REQUESTS {
            if client.write_all(request(i, &body).as_bytes()).is_err() {
                break;
            }
        }
        client
    });

    // The next hop reads a little at a time: the relay writes straight to its socket while
    // there is room, queues behind what waits, and waits when its queue is full.
    let (mut conn, _) = next_hop
        .accept()
        .expect("the relay connects to the next hop");
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut seen = Vec::with_capacity(REQUESTS);
    let mut pending = Vec::new();
    let mut chunk = vec![0u8; 4096];
    let started = Instant::now();
    while seen.len() < REQUESTS && started.elapsed() < Duration::from_secs(30) {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
        }
        let (cs, used) = cseqs(&pending);
        seen.extend(cs);
        pending.drain(..used);
        std::thread::sleep(Duration::from_millis(1));
    }
    let log = std::fs::read_to_string(tmp.0.join("stderr.log")).unwrap_or_default();
    assert_eq!(
        seen.len(),
        REQUESTS,
        "{} of {REQUESTS} requests arrived (the sender finished: {})\n{log}",
        seen.len(),
        sender.is_finished()
    );
    let out_of_order: Vec<_> = seen.windows(2).filter(|w| w[1] != w[0] + 1).collect();
    assert!(
        out_of_order.is_empty() && seen.first() == Some(&1),
        "requests out of order: {:?}",
        &out_of_order[..out_of_order.len().min(10)]
    );
}
