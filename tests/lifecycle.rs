//! The running server: SIGHUP reloads the routing logic (a clean config is swapped in, a
//! broken one is refused with its diagnostics while the old routes keep answering), SIGTERM
//! stops it within a bound.

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use siprouter_e2e::{signal, siprouter_bin};

fn config(reason: &str) -> String {
    config_on(29060, reason)
}

fn config_on(port: u16, reason: &str) -> String {
    format!(
        "debug=2\nauto_aliases=no\nlisten=udp:127.0.0.1:{port}\nloadmodule \"sl.so\"\n\
         request_route {{\n  sl_send_reply(\"200\", \"{reason}\");\n}}\n"
    )
}

/// The reason phrase of the answer to an OPTIONS, if one comes within 300 ms.
fn ask(sock: &UdpSocket) -> Option<String> {
    ask_on(sock, 29060)
}

/// [`ask`] for a server on another port.
fn ask_on(sock: &UdpSocket, port: u16) -> Option<String> {
    let me = sock.local_addr().ok()?;
    let req = format!(
        "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-lc\r\n\
         From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: lc@127.0.0.1\r\n\
         CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(req.as_bytes(), ("127.0.0.1", port)).ok()?;
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .ok()?;
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    text.lines()
        .next()?
        .strip_prefix("SIP/2.0 200 ")
        .map(str::to_string)
}

fn wait_for(sock: &UdpSocket, reason: &str) {
    wait_for_on(sock, 29060, reason)
}

fn wait_for_on(sock: &UdpSocket, port: u16, reason: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if ask_on(sock, port).as_deref() == Some(reason) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no `200 {reason}` within 10 s");
}

#[test]
fn sighup_reloads_routes_and_sigterm_stops() {
    let dir = std::env::temp_dir().join(format!("siprouter-lifecycle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary folder");
    let cfg = dir.join("live.cfg");
    let log = dir.join("stderr.log");
    std::fs::write(&cfg, config("Version A")).expect("config");
    let mut child = Command::new(siprouter_bin())
        .args(["-E", "-f", cfg.to_str().expect("UTF-8 path")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start siprouter");
    let sock = UdpSocket::bind("127.0.0.1:0").expect("probe socket");
    wait_for(&sock, "Version A");

    std::fs::write(&cfg, config("Version B")).expect("config");
    signal(child.id(), "-HUP");
    wait_for(&sock, "Version B");

    std::fs::write(&cfg, "request_route {\n  sl_send_reply(\"200\" }\n").expect("config");
    signal(child.id(), "-HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        ask(&sock).as_deref(),
        Some("Version B"),
        "the old routes must keep running"
    );

    let started = Instant::now();
    signal(child.id(), "-TERM");
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no exit within 5 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let stderr = std::fs::read_to_string(&log).expect("log");
    assert!(
        stderr.contains("SIGHUP: routing logic reloaded"),
        "{stderr}"
    );
    assert!(
        stderr.contains("live.cfg:2:23: "),
        "the broken config's error is logged:\n{stderr}"
    );
    assert!(stderr.contains("the old routing logic stays"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A reload rebuilds the sockets as start-up did: the `-l` socket is added to the config's
/// `listen=` one again, so reloading the same config reports no listen change.
#[test]
fn sighup_with_listen_option_keeps_the_same_sockets() {
    let dir = std::env::temp_dir().join(format!("siprouter-lifecycle-l-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary folder");
    let cfg = dir.join("live.cfg");
    let log = dir.join("stderr.log");
    // The config listens on 29065; `-l` adds 29066, which the probe uses.
    std::fs::write(&cfg, config_on(29065, "Version A")).expect("config");
    let mut child = Command::new(siprouter_bin())
        .args(["-E", "-f", cfg.to_str().expect("UTF-8 path")])
        .args(["-l", "udp:127.0.0.1:29066"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start siprouter");
    let sock = UdpSocket::bind("127.0.0.1:0").expect("probe socket");
    wait_for_on(&sock, 29066, "Version A");

    std::fs::write(&cfg, config_on(29065, "Version B")).expect("config");
    signal(child.id(), "-HUP");
    wait_for_on(&sock, 29066, "Version B");

    signal(child.id(), "-TERM");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}");
    let stderr = std::fs::read_to_string(&log).expect("log");
    assert!(
        stderr.contains("SIGHUP: routing logic reloaded"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("listen configuration changed"),
        "the reload must build the sockets with the same -l as start-up:\n{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Kamailio's `-w`, `-t` and `-G`: once its socket is bound, the server enters the working
/// directory (and, when the test runs as root, the new root), and it keeps its process group
/// id in the `-G` file. A pid file given as a relative path is still removed at exit, after
/// the directory changed. A working directory that does not exist stops start-up, named.
#[test]
fn working_directory_change_root_and_pgid_file() {
    use std::os::unix::fs::MetadataExt;

    let dir = std::env::temp_dir().join(format!("siprouter-confine-{}", std::process::id()));
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("work")).expect("temporary folders");
    let cfg = dir.join("confine.cfg");
    std::fs::write(&cfg, config_on(29074, "Confined")).expect("config");
    let cfg_arg = cfg.to_str().expect("UTF-8 path");
    let pgid_file = dir.join("siprouter.pgid");
    let work = root.join("work");
    let start = |extra: &[&str]| {
        let child = Command::new(siprouter_bin())
            .args(["-E", "-f", cfg_arg])
            .args(extra)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start siprouter");
        let sock = UdpSocket::bind("127.0.0.1:0").expect("probe socket");
        wait_for_on(&sock, 29074, "Confined");
        child
    };
    let link = |child: &std::process::Child, what: &str| {
        std::fs::read_link(format!("/proc/{}/{what}", child.id())).expect("proc link")
    };

    let child = start(&[
        "-P",
        "relative.pid",
        "-G",
        pgid_file.to_str().expect("UTF-8 path"),
        "-w",
        work.to_str().expect("UTF-8 path"),
    ]);
    assert_eq!(link(&child, "cwd"), work);
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).expect("stat");
    let pgid = stat
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().nth(2))
        .expect("pgrp field");
    let written = std::fs::read_to_string(&pgid_file).expect("pgid file");
    assert_eq!(written.trim(), pgid);
    let pid_file = dir.join("relative.pid");
    let pid = std::fs::read_to_string(&pid_file).expect("pid file in the start directory");
    assert_eq!(pid.trim(), child.id().to_string());
    stop(child);
    assert!(
        !pid_file.exists(),
        "the relative pid file is removed at exit"
    );
    assert!(!pgid_file.exists(), "the pgid file is removed at exit");

    if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        let child = start(&["-t", root.to_str().expect("UTF-8 path"), "-w", "/work"]);
        assert_eq!(link(&child, "root"), root);
        assert_eq!(link(&child, "cwd"), work);
        stop(child);
    } else {
        eprintln!("not root: -t (change root) is not tried");
    }

    let out = Command::new(siprouter_bin())
        .args(["-E", "-f", cfg_arg, "-w", "/no/such/dir"])
        .stdin(Stdio::null())
        .output()
        .expect("run siprouter");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot change the working directory to /no/such/dir"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// SIGTERM, then a successful exit within 5 s.
fn stop(mut child: std::process::Child) {
    signal(child.id(), "-TERM");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no exit within 5 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}
