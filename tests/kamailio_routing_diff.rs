//! Side by side with Debian's Kamailio (`.ci/run` installs it): both servers run the same
//! record-routing relay script, the same requests are sent to each from one socket, and what
//! each forwards is captured on loopback and compared line by line. The differences that
//! cannot matter (each server's own port and branch, the order of lines both add at the
//! top) are normalised; every other difference fails the test.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use siprouter_e2e::{kamailio_available, siprouter_bin, Server, TempDir};

const SCRIPT: &str = r#"
debug=0
log_stderror=yes
auto_aliases=no
dns=no
rev_dns=no
children=1
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "pv.so"
loadmodule "siputils.so"
request_route {
    if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
    if (has_totag()) {
        if (loose_route()) { forward(); exit; }
        sl_send_reply("404", "Not here");
        exit;
    }
    if (is_present_hf("X-To-Tcp")) { $du = "sip:127.0.0.1:DEST;transport=tcp"; }
    else { $du = "sip:127.0.0.1:DEST"; }
    add_rr_param(";pv=1");
    record_route();
    subst('/^Subject: (.*)$/Subject: [relayed] \1/');
    replace_all("example\.com", "example.net");
    append_hf("X-Relayed: yes\r\n");
    forward();
}
"#;

fn free_port() -> u16 {
    // A UDP and a TCP socket on the same free port: bind both, then release them.
    loop {
        let u = UdpSocket::bind("127.0.0.1:0").expect("udp");
        let port = u.local_addr().expect("addr").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The request as a client sends it, lines joined with CRLF.
fn invite(extra: &str) -> Vec<u8> {
    format!(
        "INVITE sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-diff-1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:alice@example.com>;tag=a1\r\n\
         To: <sip:bob@example.com>\r\n\
         Call-ID: diff-1@example.com\r\n\
         CSeq: 1 INVITE\r\n\
         Subject: hello\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// An in-dialog BYE with this Request-URI and route set.
fn bye(ruri: &str, routes: &str) -> Vec<u8> {
    format!(
        "BYE {ruri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-diff-2\r\n\
         Max-Forwards: 70\r\n\
         Route: {routes}\r\n\
         From: <sip:alice@example.com>;tag=a1\r\n\
         To: <sip:bob@example.com>;tag=b2\r\n\
         Call-ID: diff-1@example.com\r\n\
         CSeq: 2 BYE\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// What a server sent, normalised: its port and the destination port become placeholders,
/// its branches `BRANCH`, the client's `rport` value `RPORT`; in a local reply the To tag
/// (each server hashes its own) and the `Server` line (each names itself).
fn normalise(text: &str, server_port: u16, dest: u16) -> Vec<String> {
    text.lines()
        .map(|l| {
            let mut l = l
                .replace(&format!(":{server_port}"), ":SERVER")
                .replace(&format!(":{dest}"), ":DEST");
            if let Some(i) = l.find("branch=z9hG4bK") {
                if !l[i..].starts_with("branch=z9hG4bK-diff") {
                    let end = l[i..].find([';', ',']).map_or(l.len(), |e| i + e);
                    l.replace_range(i..end, "branch=BRANCH");
                }
            }
            if let Some(i) = l.find("rport=") {
                let end = l[i..].find([';', ',']).map_or(l.len(), |e| i + e);
                l.replace_range(i..end, "rport=RPORT");
            }
            if l.starts_with("To:") {
                if let Some(i) = l.find(";tag=") {
                    l.replace_range(i.., ";tag=TAG");
                }
            }
            if l.starts_with("Server:") {
                l = "Server: SERVER".into();
            }
            l
        })
        .collect()
}

struct Capture {
    udp: UdpSocket,
    tcp: TcpListener,
}

impl Capture {
    fn new(port: u16) -> Capture {
        let udp = UdpSocket::bind(("127.0.0.1", port)).expect("capture udp");
        udp.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let tcp = TcpListener::bind(("127.0.0.1", port)).expect("capture tcp");
        Capture { udp, tcp }
    }

    fn udp(&self) -> String {
        let mut buf = vec![0; 65_536];
        let (n, _) = self.udp.recv_from(&mut buf).expect("a forwarded request");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    fn tcp(&self) -> String {
        let (mut s, _) = self.tcp.accept().expect("a connection");
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            if out.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Starts a server on `port` and waits until it answers an OPTIONS-less probe: its UDP
/// port is bound.
fn start(program: &Path, args: &[String], port: u16) -> Server {
    let server = Server::start(
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    for _ in 0..100 {
        if UdpSocket::bind(("127.0.0.1", port)).is_err() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} did not bind 127.0.0.1:{port}", program.display());
}

/// The requests through one server: INVITE to UDP, INVITE to TCP, three in-dialog BYEs
/// (loose routing, a strict next hop, a strict previous hop), an INVITE without
/// Max-Forwards, and a 483.
fn run_through(program: &Path, extra_args: &[&str], dir: &TempDir) -> Vec<Vec<String>> {
    let (port, dest) = (free_port(), free_port());
    let cfg = dir.file(
        &format!("{}.cfg", port),
        &SCRIPT.replace("DEST", &dest.to_string()),
    );
    let mut args: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
    args.extend([
        "-f".into(),
        cfg.display().to_string(),
        "-l".into(),
        format!("udp:127.0.0.1:{port}"),
        "-l".into(),
        format!("tcp:127.0.0.1:{port}"),
    ]);
    let capture = Capture::new(dest);
    let server = start(program, &args, port);
    let client = UdpSocket::bind("127.0.0.1:0").expect("client");
    let to: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut seen = Vec::new();
    client.send_to(&invite(""), to).expect("send");
    seen.push(normalise(&capture.udp(), port, dest));
    client
        .send_to(&invite("X-To-Tcp: 1\r\n"), to)
        .expect("send");
    seen.push(normalise(&capture.tcp(), port, dest));
    let (us, them) = (format!("127.0.0.1:{port}"), format!("127.0.0.1:{dest}"));
    for (ruri, routes) in [
        // Loose routing: our entry goes, the next Route is the destination.
        (
            format!("sip:bob@{them}"),
            format!("<sip:{us};lr;ftag=a1;pv=1>, <sip:{them};lr>"),
        ),
        // The next hop is a strict router: it becomes the Request-URI.
        (
            format!("sip:bob@{them}"),
            format!("<sip:{us};lr>, <sip:{them}>"),
        ),
        // The previous hop was a strict router: our URI came as the Request-URI.
        (
            format!("sip:{us};lr;ftag=a1"),
            format!("<sip:{them};lr>, <sip:bob@{them}>"),
        ),
    ] {
        client.send_to(&bye(&ruri, &routes), to).expect("send");
        seen.push(normalise(&capture.udp(), port, dest));
    }
    // No Max-Forwards: maxfwd adds one with the script's value.
    let missing = String::from_utf8_lossy(&invite(""))
        .replace("Max-Forwards: 70\r\n", "")
        .into_bytes();
    client.send_to(&missing, to).expect("send");
    seen.push(normalise(&capture.udp(), port, dest));
    // A local reply: Max-Forwards 0 is answered 483.
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let exhausted = String::from_utf8_lossy(&invite(""))
        .replace("Max-Forwards: 70", "Max-Forwards: 0")
        .into_bytes();
    client.send_to(&exhausted, to).expect("send");
    let mut buf = vec![0; 65_536];
    let (n, _) = client.recv_from(&mut buf).expect("a 483");
    seen.push(normalise(&String::from_utf8_lossy(&buf[..n]), port, dest));
    drop(server);
    seen
}

#[test]
fn forwarded_requests_match_kamailio_line_by_line() {
    let Some(kam) = kamailio_available() else {
        return;
    };
    let dir = TempDir::new("routing-diff");
    let run_dir = dir.0.join("kamailio-run");
    std::fs::create_dir_all(&run_dir).expect("run dir");
    let run_dir = run_dir.display().to_string();
    let theirs = run_through(
        &kam,
        &["-DD", "-E", "-Y", &run_dir, "-m", "64", "-M", "8"],
        &dir,
    );
    let ours = run_through(siprouter_bin(), &["-E"], &dir);
    for (i, (k, s)) in theirs.iter().zip(&ours).enumerate() {
        assert_eq!(
            s, k,
            "request {i}: siprouter (left) and Kamailio (right) forwarded different messages"
        );
    }
}
