//! The running server: SIGHUP reloads the routing logic (a clean config is swapped in, a
//! broken one is refused with its diagnostics while the old routes keep answering), SIGTERM
//! stops it within a bound.

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use siprouter_e2e::{signal, siprouter_bin, Server};

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

/// Starts siprouter with `args`, standard input as given, no output and stderr into `log`.
fn start(args: &[&str], stdin: Stdio, log: &std::path::Path) -> std::process::Child {
    Command::new(siprouter_bin())
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("start siprouter")
}

#[test]
fn sighup_reloads_routes_and_sigterm_stops() {
    let dir = std::env::temp_dir().join(format!("siprouter-lifecycle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary folder");
    let cfg = dir.join("live.cfg");
    let log = dir.join("stderr.log");
    std::fs::write(&cfg, config("Version A")).expect("config");
    let cfg_arg = cfg.to_str().expect("UTF-8 path");
    let mut child = start(&["-E", "-f", cfg_arg], Stdio::null(), &log);
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
    // The UDP threads wake from their receives and end without a panic (std's receive
    // could panic on the socket shut down to wake them).
    assert!(!stderr.contains("panicked"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A reload rebuilds the sockets as start-up did: the `-l` socket is added to the config's
/// `listen=` one again (and the `--alias` to its aliases), so reloading the same config
/// reports no listen change.
#[test]
fn sighup_with_listen_option_keeps_the_same_sockets() {
    let dir = std::env::temp_dir().join(format!("siprouter-lifecycle-l-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary folder");
    let cfg = dir.join("live.cfg");
    let log = dir.join("stderr.log");
    // The config listens on 29065; `-l` adds 29066, which the probe uses.
    std::fs::write(&cfg, config_on(29065, "Version A")).expect("config");
    let cfg_arg = cfg.to_str().expect("UTF-8 path");
    let args = [
        "-E",
        "-f",
        cfg_arg,
        "-l",
        "udp:127.0.0.1:29066",
        "--alias=sip.example.org",
    ];
    let mut child = start(&args, Stdio::null(), &log);
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
        "the reload must build the sockets with the same -l and --alias as start-up:\n{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `-f -`: the config comes from standard input. It serves; a SIGHUP cannot read it again
/// and says so, and the routes keep answering.
#[test]
fn a_config_from_standard_input_serves_and_is_not_reloaded() {
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!("siprouter-lifecycle-in-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary folder");
    let log = dir.join("stderr.log");
    let mut child = start(&["-E", "-f", "-"], Stdio::piped(), &log);
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(config_on(29067, "From stdin").as_bytes())
            .expect("write the config");
    }
    let mut server = Server(child);
    let sock = UdpSocket::bind("127.0.0.1:0").expect("probe socket");
    wait_for_on(&sock, 29067, "From stdin");

    signal(server.0.id(), "-HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ask_on(&sock, 29067).as_deref(), Some("From stdin"));
    signal(server.0.id(), "-TERM");
    let status = server.0.wait().expect("wait");
    assert!(status.success(), "{status}");
    let stderr = std::fs::read_to_string(&log).expect("log");
    assert!(
        stderr.contains("read from standard input or another stream and cannot be read again"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Kamailio's `-w`, `-t`, `-P` and `-G`: once its socket is bound, the server enters the
/// new root (when the test runs as root) and the working directory, then writes its pid
/// files there (a relative path is relative to the new directory, as in Kamailio) and
/// removes them at exit. The process group id is written only when siprouter leads its own
/// group; otherwise it warns and writes none. A working directory that does not exist stops
/// start-up, named.
#[test]
fn working_directory_change_root_and_pid_files() {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;

    let dir = std::env::temp_dir().join(format!("siprouter-confine-{}", std::process::id()));
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("work")).expect("temporary folders");
    let dir = dir.canonicalize().expect("canonical temporary folder");
    let (root, work) = (dir.join("root"), dir.join("root/work"));
    let cfg = dir.join("confine.cfg");
    std::fs::write(&cfg, config_on(29074, "Confined")).expect("config");
    let cfg_arg = cfg.to_str().expect("UTF-8 path");
    let log = dir.join("stderr.log");
    let command = |extra: &[&str]| {
        let mut c = Command::new(siprouter_bin());
        c.args(["-E", "-f", cfg_arg])
            .args(extra)
            .current_dir(&dir)
            .stderr(std::fs::File::create(&log).expect("log file"));
        c
    };
    let ready = |server: &Server| {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("probe socket");
        wait_for_on(&sock, 29074, "Confined");
        server.pid()
    };
    let link = |pid: u32, what: &str| {
        std::fs::read_link(format!("/proc/{pid}/{what}")).expect("proc link")
    };

    // Its own process group (as a service manager starts it): both files, in `-w`.
    let work_arg = work.to_str().expect("UTF-8 path");
    let server = Server::start(
        command(&["-P", "relative.pid", "-G", "relative.pgid", "-w", work_arg]).process_group(0),
    );
    let pid = ready(&server);
    assert_eq!(link(pid, "cwd"), work);
    for file in ["relative.pid", "relative.pgid"] {
        let text = std::fs::read_to_string(work.join(file)).expect("file in the -w directory");
        assert_eq!(text.trim(), pid.to_string(), "{file}");
    }
    assert!(server.stop().success());
    for file in ["relative.pid", "relative.pgid"] {
        assert!(!work.join(file).exists(), "{file} is removed at exit");
    }

    // The test's process group: no pgid file, a warning.
    let pgid_file = dir.join("shared.pgid");
    let server = Server::start(&mut command(&[
        "-G",
        pgid_file.to_str().expect("UTF-8 path"),
    ]));
    ready(&server);
    assert!(
        !pgid_file.exists(),
        "no pgid file for a group siprouter does not lead"
    );
    assert!(server.stop().success());
    let stderr = std::fs::read_to_string(&log).expect("log");
    assert!(
        stderr.contains("does not lead its own process group"),
        "{stderr}"
    );

    if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        let server = Server::start(&mut command(&[
            "-t",
            root.to_str().expect("UTF-8 path"),
            "-w",
            "work",
        ]));
        let pid = ready(&server);
        assert_eq!(link(pid, "root"), root);
        assert_eq!(
            link(pid, "cwd"),
            work,
            "-w is relative to the new root's top"
        );
        assert!(server.stop().success());
    } else {
        eprintln!("not root: -t (change root) is not tried");
    }

    let mut failing = Server::start(&mut command(&["-w", "/no/such/dir"]));
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = failing.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "siprouter served without its -w directory"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success());
    let stderr = std::fs::read_to_string(&log).expect("log");
    assert!(
        stderr.contains("cannot change the working directory to /no/such/dir"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The nice value (field 19) and scheduling policy (field 41) of a thread's
/// `/proc/…/stat` line (fields counted after the parenthesised command name).
fn scheduling(stat: &str) -> (i32, u32) {
    let rest = &stat[stat.rfind(')').expect("a command name") + 1..];
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    let nice = fields[19 - 3].parse().expect("a nice value");
    let policy = fields[41 - 3].parse().expect("a policy number");
    (nice, policy)
}

/// [`scheduling`] of every thread of a process.
fn thread_scheduling(pid: u32) -> Vec<(i32, u32)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the task list");
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("stat")).ok())
        .map(|stat| scheduling(&stat))
        .collect()
}

/// `--sched`: a server started with the default policy runs every thread (the runtime's
/// and each UDP worker's, `children=2`) as SCHED_BATCH (3), keeps the nice value it was
/// started with (`nice -n 3`), and relays as before; with `--sched keep` the threads keep
/// the policy they were started with.
#[test]
fn serving_threads_run_as_sched_batch_unless_kept() {
    let dir = std::env::temp_dir().join(format!("siprouter-sched-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary folder");
    let cfg = dir.join("sched.cfg");
    std::fs::write(
        &cfg,
        format!("children=2\n{}", config_on(29068, "Scheduled")),
    )
    .expect("config");
    let cfg_arg = cfg.to_str().expect("UTF-8 path");
    // This test's own thread: what the server inherits through `nice`.
    let (our_nice, our_policy) =
        scheduling(&std::fs::read_to_string("/proc/thread-self/stat").expect("own stat"));
    if our_policy != 0 {
        eprintln!("skipped: the tests run under policy {our_policy}, not the default");
        return;
    }
    let nice = (our_nice + 3).min(19);
    let sock = UdpSocket::bind("127.0.0.1:0").expect("probe socket");
    for (args, want) in [(&[][..], 3), (&["--sched", "keep"][..], 0)] {
        let log = dir.join("stderr.log");
        let bin = siprouter_bin().to_str().expect("UTF-8 path");
        let all: Vec<&str> = [&["-n", "3", bin, "-E", "-f", cfg_arg][..], args].concat();
        let server = Server(
            Command::new("nice")
                .args(&all)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("log file"))
                .spawn()
                .expect("start siprouter under nice"),
        );
        wait_for_on(&sock, 29068, "Scheduled");
        // The main thread and both UDP workers (the second may start just after the first
        // answers).
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut threads = thread_scheduling(server.pid());
        while threads.len() < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            threads = thread_scheduling(server.pid());
        }
        assert!(threads.len() >= 3, "{threads:?}");
        assert!(
            threads.iter().all(|&t| t == (nice, want)),
            "{args:?}: {threads:?}, want nice {nice} and policy {want}"
        );
        assert!(server.stop().success());
    }
    std::fs::remove_dir_all(&dir).ok();
}
