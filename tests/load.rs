//! siprouter under sustained sipp load (UDP, the record-routing relay of
//! `configs/stateless-relay.cfg` with a versioned OPTIONS answer):
//!
//! - a SIGHUP with a changed route script while calls run loses no call, and the new
//!   behaviour answers right after the reload;
//! - a soak at a steady rate ends with zero failed calls, RSS within 5% of the RSS after the
//!   first minute (a fifth of the run when it is shorter), and no file-descriptor growth.
//!
//! `SIPROUTER_SOAK_SECONDS` (default 10, as CI runs it; `cargo xtask soak` runs 600) and
//! `SIPROUTER_SOAK_RATE` (calls per second, default 1000; `half-max`, as `cargo xtask soak`
//! sets it, first finds the highest rate with zero failed calls in 5-second steps of 500/s
//! and soaks at half of it) size the soak.

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use siprouter_e2e::{
    open_fds, rss_kib, signal, sipp, sipp_available, siprouter_bin, workspace_root, Server, TempDir,
};

/// The end-to-end relay config with `OK` replaced by a version tag in the OPTIONS answer.
fn relay_config(version: &str) -> String {
    let base = std::fs::read_to_string(workspace_root().join("tests/configs/stateless-relay.cfg"))
        .expect("relay config");
    let versioned = base.replace(
        "sl_send_reply(\"200\", \"OK\");",
        &format!("sl_send_reply(\"200\", \"{version}\");"),
    );
    assert_ne!(
        versioned, base,
        "the relay config answers OPTIONS with 200 OK"
    );
    versioned
}

/// The load tests run one at a time: two sipp loads on two cores would measure each other.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn start_relay(cfg: &Path, relay: u16, uas: u16) -> Server {
    Server::start(
        Command::new(siprouter_bin())
            .arg("-f")
            .arg(cfg)
            .args(["-E", "-A", &format!("RELAY_PORT={relay}")])
            .args(["-A", &format!("UAS_PORT={uas}")])
            .stderr(Stdio::null()),
    )
}

/// The reason phrase of the relay's 200 to OPTIONS, if one comes within 300 ms.
fn options_reason(sock: &UdpSocket, relay: u16) -> Option<String> {
    let me = sock.local_addr().ok()?;
    let req = format!(
        "OPTIONS sip:127.0.0.1:{relay} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-ld\r\n\
         Max-Forwards: 70\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\n\
         Call-ID: load@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(req.as_bytes(), ("127.0.0.1", relay)).ok()?;
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .ok()?;
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).ok()?;
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()?
        .strip_prefix("SIP/2.0 200 ")
        .map(str::to_string)
}

/// Waits (10 s at most) for the OPTIONS answer `reason`; how long it took.
fn wait_for_reason(sock: &UdpSocket, relay: u16, reason: &str) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if options_reason(sock, relay).as_deref() == Some(reason) {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no `200 {reason}` within 10 s");
}

/// sipp's uas on `port` and a uac sending `calls` calls at `rate`/s through the relay; the
/// uac is returned running.
fn calls(relay: u16, uas: u16, uac: u16, calls: u64, rate: u64) -> (Server, Server) {
    let uas_proc = Server(
        sipp(&["-sn", "uas", "-p", &uas.to_string(), "-t", "u1"])
            .spawn()
            .expect("start sipp uas"),
    );
    std::thread::sleep(Duration::from_millis(300));
    let uac_proc = Server(
        sipp(&[
            "-sn",
            "uac",
            "-p",
            &uac.to_string(),
            "-t",
            "u1",
            &format!("127.0.0.1:{relay}"),
            "-m",
            &calls.to_string(),
            "-r",
            &rate.to_string(),
            "-timeout",
            &format!("{}s", calls / rate + 30),
            "-timeout_error",
        ])
        .spawn()
        .expect("start sipp uac"),
    );
    (uas_proc, uac_proc)
}

/// Waits for sipp's uac to end; its exit status says whether any call failed.
fn finish(mut uac: Server) -> std::process::ExitStatus {
    uac.0.wait().expect("wait for sipp uac")
}

#[test]
fn sighup_with_a_changed_script_under_load_loses_no_call() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !sipp_available() {
        return;
    }
    let (relay, uas, uac) = (28060, 28080, 28070);
    let dir = TempDir::new("load-reload");
    let cfg = dir.0.join("relay.cfg");
    std::fs::write(&cfg, relay_config("Version A")).expect("config");
    let server = start_relay(&cfg, relay, uas);
    let probe = UdpSocket::bind("127.0.0.1:0").expect("probe socket");
    wait_for_reason(&probe, relay, "Version A");
    // 1,500 calls at 300/s: five seconds of traffic, reloaded twice in the middle.
    let (_uas, uac_proc) = calls(relay, uas, uac, 1500, 300);
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::write(&cfg, relay_config("Version B")).expect("config");
    signal(server.pid(), "-HUP");
    let took = wait_for_reason(&probe, relay, "Version B");
    std::thread::sleep(Duration::from_millis(1000));
    std::fs::write(&cfg, relay_config("Version C")).expect("config");
    signal(server.pid(), "-HUP");
    wait_for_reason(&probe, relay, "Version C");
    let status = finish(uac_proc);
    println!("reload under load: the new script answered {took:?} after SIGHUP");
    assert!(status.success(), "sipp reported failed calls ({status})");
    assert!(server.stop().success());
}

/// The highest call rate (in steps of 500/s, 5 s each) that sipp completes through the relay
/// with zero failed calls.
fn highest_clean_rate(relay: u16, uas: u16, uac: u16) -> u64 {
    let mut best = 0;
    for rate in (1..=20).map(|i| i * 500) {
        let (uas_proc, uac_proc) = calls(relay, uas, uac, rate * 5, rate);
        let ok = finish(uac_proc).success();
        drop(uas_proc);
        std::thread::sleep(Duration::from_millis(500));
        println!(
            "soak: {rate} calls/s for 5 s: {}",
            if ok { "no failed call" } else { "calls failed" }
        );
        if !ok {
            break;
        }
        best = rate;
    }
    best
}

#[test]
fn soak_keeps_memory_and_descriptors_flat_with_no_failed_call() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !sipp_available() {
        return;
    }
    let seconds: u64 = std::env::var("SIPROUTER_SOAK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let rate_setting = std::env::var("SIPROUTER_SOAK_RATE").unwrap_or_default();
    let (relay, uas, uac) = (28160, 28180, 28170);
    let dir = TempDir::new("load-soak");
    let cfg = dir.0.join("relay.cfg");
    std::fs::write(&cfg, relay_config("Soak")).expect("config");
    let server = start_relay(&cfg, relay, uas);
    let probe = UdpSocket::bind("127.0.0.1:0").expect("probe socket");
    wait_for_reason(&probe, relay, "Soak");
    let pid = server.pid();
    let rate: u64 = if rate_setting == "half-max" {
        let max = highest_clean_rate(relay, uas, uac);
        println!("soak: the highest rate with zero failed calls is {max}/s; soaking at half");
        (max / 2).max(100)
    } else {
        rate_setting.parse().unwrap_or(1000)
    };
    let (_uas, uac_proc) = calls(relay, uas, uac, seconds * rate, rate);
    let baseline_at = Duration::from_secs((seconds / 5).clamp(1, 60));
    let started = Instant::now();
    std::thread::sleep(baseline_at);
    let (rss_start, fds_start) = (rss_kib(pid), open_fds(pid));
    let mut rss_peak = rss_start;
    let mut uac_proc = uac_proc;
    let status = loop {
        if let Some(s) = uac_proc.0.try_wait().expect("wait for sipp") {
            break s;
        }
        rss_peak = rss_peak.max(rss_kib(pid));
        std::thread::sleep(Duration::from_millis(200));
    };
    let (rss_end, fds_end) = (rss_kib(pid), open_fds(pid));
    println!(
        "soak: {} calls at {rate}/s in {:.0} s; RSS {rss_start} KiB after {baseline_at:?}, \
         peak {rss_peak} KiB, {rss_end} KiB at the end; open fds {fds_start} -> {fds_end}",
        seconds * rate,
        started.elapsed().as_secs_f64()
    );
    assert!(status.success(), "sipp reported failed calls ({status})");
    assert!(
        rss_end * 100 <= rss_start * 105,
        "RSS grew more than 5%: {rss_start} KiB -> {rss_end} KiB"
    );
    assert!(
        fds_end <= fds_start,
        "descriptors grew: {fds_start} -> {fds_end}"
    );
    assert!(server.stop().success());
}
