//! The running server's process conventions: where its log goes (syslog with the config's
//! facility and name, stderr with `-E`, JSON with `--log-format json`), which lines pass
//! (Kamailio's `debug=` threshold, `RUST_LOG` over it), the `-P` pid file and `-u`/`-g`.

use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use siprouter_e2e::{siprouter_bin, Server, TempDir};

/// A config answering every request `200 OK` after logging at several levels.
fn config(port: u16, extra: &str) -> String {
    format!(
        "auto_aliases=no\nlisten=udp:127.0.0.1:{port}\nloadmodule \"sl.so\"\nloadmodule \"xlog.so\"\nloadmodule \"pv.so\"\n\
         {extra}\n\
         request_route {{\n\
         \x20 xnotice(\"notice $rm\\n\");\n\
         \x20 xinfo(\"info $rm\\n\");\n\
         \x20 xdbg(\"debug $rm\\n\");\n\
         \x20 sl_send_reply(\"200\", \"OK\");\n\
         }}\n"
    )
}

/// Sends OPTIONS until a 200 comes back (10 s at most).
fn wait_answered(port: u16) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("probe socket");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let me = sock.local_addr().expect("address");
    let req = format!(
        "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-log\r\n\
         From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: log@127.0.0.1\r\n\
         CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        sock.send_to(req.as_bytes(), ("127.0.0.1", port))
            .expect("send");
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            if buf[..n].starts_with(b"SIP/2.0 200") {
                return;
            }
        }
    }
    panic!("no 200 from 127.0.0.1:{port} within 10 s");
}

/// Waits (5 s at most) until `path` holds text containing `what`, and returns the text.
fn wait_for_text(path: &Path, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(what) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn without_stderror_lines_go_to_syslog_with_facility_name_and_threshold() {
    let dir = TempDir::new("log-syslog");
    let syslog_path = dir.0.join("log.sock");
    let syslog = UnixDatagram::bind(&syslog_path).expect("syslog socket");
    syslog
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    // debug=1 is Kamailio's NOTICE: notices pass, infos and debugs do not.
    let cfg = dir.file(
        "syslog.cfg",
        &config(29070, "debug=1\nlog_facility=LOG_LOCAL3\nlog_name=\"edge\""),
    );
    let server = Server::start(
        Command::new(siprouter_bin())
            .args(["-f", cfg.to_str().expect("UTF-8 path")])
            .env("SIPROUTER_SYSLOG_SOCKET", &syslog_path)
            .env_remove("RUST_LOG")
            .stderr(Stdio::null()),
    );
    let pid = server.pid();
    wait_answered(29070);
    let mut lines = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = syslog.recv(&mut buf) {
        lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(server.stop().success());
    // LOG_LOCAL3 (19) * 8 + notice shown as info (6) = 158.
    let notice = lines
        .iter()
        .find(|l| l.contains("notice OPTIONS"))
        .unwrap_or_else(|| panic!("no notice line in {lines:#?}"));
    assert!(
        notice.starts_with(&format!("<158>edge[{pid}]: ")),
        "{notice}"
    );
    assert!(notice.contains("syslog.cfg:10:3"), "{notice}");
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("info OPTIONS") || l.contains("debug OPTIONS")),
        "lines above debug=1 were logged: {lines:#?}"
    );
}

#[test]
fn json_on_stderr_and_rust_log_overrides_the_config_level() {
    let dir = TempDir::new("log-json");
    let cfg = dir.file("json.cfg", &config(29071, "debug=-1"));
    let log = dir.0.join("stderr.log");
    let server = Server::start(
        Command::new(siprouter_bin())
            .args(["-E", "--log-format", "json", "-f"])
            .arg(&cfg)
            .env("RUST_LOG", "debug")
            .stderr(std::fs::File::create(&log).expect("log file")),
    );
    wait_answered(29071);
    let text = wait_for_text(&log, "debug OPTIONS");
    assert!(server.stop().success());
    let line = text
        .lines()
        .find(|l| l.contains("debug OPTIONS"))
        .unwrap_or_else(|| panic!("RUST_LOG=debug must show xdbg lines:\n{text}"));
    for want in [
        "\"level\":\"DEBUG\"",
        "\"target\":\"script\"",
        "\"message\":\"debug OPTIONS\"",
        "json.cfg:10:3\"",
    ] {
        assert!(line.contains(want), "missing {want} in {line}");
    }
    assert!(text.lines().all(|l| l.starts_with('{')), "{text}");
}

#[test]
fn a_bad_facility_fails_the_check_with_its_place() {
    let dir = TempDir::new("log-facility");
    let cfg = dir.file("f.cfg", &config(29072, "log_facility=LOG_NOWHERE"));
    let out = Command::new(siprouter_bin())
        .args(["-c", "-f"])
        .arg(&cfg)
        .output()
        .expect("run siprouter");
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("f.cfg:6:14: error: unknown log_facility `LOG_NOWHERE`"),
        "{err}"
    );
}

#[test]
fn pid_file_lives_as_long_as_the_server() {
    let dir = TempDir::new("log-pid");
    let cfg = dir.file("pid.cfg", &config(29073, ""));
    let pid_file = dir.0.join("siprouter.pid");
    let server = Server::start(
        Command::new(siprouter_bin())
            .args(["-E", "-P"])
            .arg(&pid_file)
            .arg("-f")
            .arg(&cfg)
            .stderr(Stdio::null()),
    );
    wait_answered(29073);
    let pid = server.pid();
    assert_eq!(
        std::fs::read_to_string(&pid_file).ok(),
        Some(format!("{pid}\n"))
    );
    assert!(server.stop().success());
    assert!(!pid_file.exists(), "the pid file is removed at exit");
}

/// The uid and gid lines of /proc/PID/status (real, effective, saved, filesystem).
fn ids(pid: u32) -> (String, String) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    (field("Uid:"), field("Gid:"))
}

#[test]
fn user_and_group_are_taken_after_binding_a_privileged_port() {
    if ids(std::process::id()).0 != "0 0 0 0" {
        eprintln!("skipped: switching users needs root, and these tests do not run as root");
        return;
    }
    let dir = TempDir::new("log-user");
    // Port 987 needs root to bind: it works only if the switch comes after binding.
    let cfg = dir.file("user.cfg", &config(987, ""));
    let server = Server::start(
        Command::new(siprouter_bin())
            .args(["-E", "-u", "nobody", "-g", "65534", "-f"])
            .arg(&cfg)
            .stderr(Stdio::null()),
    );
    wait_answered(987);
    assert_eq!(
        ids(server.pid()),
        (
            "65534 65534 65534 65534".into(),
            "65534 65534 65534 65534".into()
        )
    );
    assert!(server.stop().success());

    let out = Command::new(siprouter_bin())
        .args(["-c", "-u", "no-such-user-here", "-f"])
        .arg(&cfg)
        .output()
        .expect("run siprouter");
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("bad user name/uid number: no-such-user-here"));
}
