//! siprouter between two sipp instances on loopback (`.ci/run` installs `sip-tester`):
//! the built-in `uac` scenario sends 1,000 calls (INVITE, ACK, BYE) through a record-routing
//! stateless relay to sipp's `uas`, over UDP and over TCP, with zero failed calls. Raw UDP
//! probes check the script's OPTIONS answer, the 483 for `Max-Forwards: 0`, and that a reply
//! whose top Via is not ours is dropped.

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use siprouter_e2e::{sipp, sipp_available, siprouter_bin, workspace_root, Server};

fn start_relay(relay_port: u16, uas_port: u16) -> Server {
    let cfg = workspace_root().join("tests/configs/stateless-relay.cfg");
    let child = Command::new(siprouter_bin())
        .args(["-f", cfg.to_str().expect("UTF-8 path")])
        .args([
            "-A",
            &format!("RELAY_PORT={relay_port}"),
            "-A",
            &format!("UAS_PORT={uas_port}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start siprouter");
    Server(child)
}

fn request(method: &str, ruri: &str, from: std::net::SocketAddr, max_forwards: u8) -> String {
    format!(
        "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK-{method}-{mf}\r\n\
         Max-Forwards: {max_forwards}\r\nFrom: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <{ruri}>\r\n\
         Call-ID: probe-{method}-{mf}@127.0.0.1\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n",
        mf = max_forwards
    )
}

/// Sends `msg` and returns the first datagram that comes back within `wait`.
fn exchange(sock: &UdpSocket, to: u16, msg: &str, wait: Duration) -> Option<String> {
    sock.send_to(msg.as_bytes(), ("127.0.0.1", to)).ok()?;
    sock.set_read_timeout(Some(wait)).ok()?;
    let mut buf = [0u8; 65535];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Waits until the relay answers OPTIONS (the script's `sl_send_reply("200", "OK")`).
fn wait_ready(relay_port: u16) -> UdpSocket {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("probe socket");
    let from = sock.local_addr().expect("probe address");
    let ruri = format!("sip:127.0.0.1:{relay_port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(r) = exchange(
            &sock,
            relay_port,
            &request("OPTIONS", &ruri, from, 70),
            Duration::from_millis(200),
        ) {
            assert!(r.starts_with("SIP/2.0 200 OK\r\n"), "{r}");
            return sock;
        }
    }
    panic!("siprouter did not answer OPTIONS on 127.0.0.1:{relay_port}");
}

fn thousand_calls(transport: &str, relay: u16, uas: u16, uac: u16) {
    if !sipp_available() {
        return;
    }
    let _relay = start_relay(relay, uas);
    let _probe = wait_ready(relay);
    let _uas = Server(
        sipp(&["-sn", "uas", "-p", &uas.to_string(), "-t", transport])
            .spawn()
            .expect("start sipp uas"),
    );
    std::thread::sleep(Duration::from_millis(300));
    let status = sipp(&[
        "-sn",
        "uac",
        "-p",
        &uac.to_string(),
        "-t",
        transport,
        &format!("127.0.0.1:{relay}"),
        "-m",
        "1000",
        "-r",
        "400",
        "-timeout",
        "40s",
        "-timeout_error",
    ])
    .status()
    .expect("run sipp uac");
    assert!(
        status.success(),
        "sipp uac reported failed calls over {transport} ({status})"
    );
}

#[test]
fn thousand_calls_over_udp() {
    thousand_calls("u1", 25060, 25080, 25070);
}

#[test]
fn thousand_calls_over_tcp() {
    thousand_calls("t1", 26060, 26080, 26070);
}

#[test]
fn max_forwards_zero_and_foreign_replies() {
    let (relay, uas) = (27060, 27080);
    let _relay = start_relay(relay, uas);
    let sock = wait_ready(relay);
    let me = sock.local_addr().expect("probe address");
    let r = exchange(
        &sock,
        relay,
        &request("INVITE", "sip:bob@127.0.0.1:27080", me, 0),
        Duration::from_secs(2),
    )
    .expect("an answer to Max-Forwards: 0");
    assert!(r.starts_with("SIP/2.0 483 Too Many Hops\r\n"), "{r}");

    let reply = |top: &str| {
        format!(
            "SIP/2.0 200 OK\r\nVia: {top}\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-orig\r\n\
             From: <sip:a@127.0.0.1>;tag=a\r\nTo: <sip:b@127.0.0.1>;tag=b\r\nCall-ID: fv@127.0.0.1\r\n\
             CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        )
    };
    // Top Via names someone else: dropped (nothing comes back to the second Via, us).
    let foreign = reply("SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bK-foreign");
    assert_eq!(
        exchange(&sock, relay, &foreign, Duration::from_millis(500)),
        None
    );
    // Control: the same reply with the relay's own Via on top is passed on to us.
    let ours = reply(&format!("SIP/2.0/UDP 127.0.0.1:{relay};branch=z9hG4bKsr0"));
    let back = exchange(&sock, relay, &ours, Duration::from_secs(2)).expect("the reply is relayed");
    assert!(
        back.starts_with("SIP/2.0 200 OK\r\n") && back.matches("Via:").count() == 1,
        "{back}"
    );
}
