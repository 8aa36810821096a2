//! Interface expansion against the real OS: a throw-away network namespace with a dummy
//! interface (a port-less bridge where the kernel has no dummy driver) carrying two IPv4 and one IPv6 address (documentation ranges, inside the
//! namespace only; no traffic is sent). The parent test sets the namespace up with
//! `ip netns`, then re-runs this test binary inside it (`ip netns exec NS <self> --exact
//! netns_child_listing --ignored`) so that `getifaddrs` sees the namespace's interfaces.
//!
//! Skips, printing the reason, when not root or when `ip netns` is unavailable.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use socket_info::{build, listing, Options, SystemNetwork};

const CHILD_ENV: &str = "SOCKET_INFO_NETNS_CHILD";
const CASES: &[&str] = &[
    "auto_aliases=no\nlisten=udp:dummy0:5060",
    "auto_aliases=no\nauto_bind_ipv6=1\nlisten=udp:dummy0:5060",
];

/// Runs a command with a deadline; `None` on spawn failure or timeout (the child is killed).
fn run_bounded(cmd: &mut Command, limit: Duration) -> Option<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().ok(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    match run_bounded(Command::new("ip").args(args), Duration::from_secs(10)) {
        Some(o) if o.status.success() => Ok(()),
        Some(o) => Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        None => Err(format!("ip {}: could not run or timed out", args.join(" "))),
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

struct Namespace(String);

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.0]);
    }
}

fn skip(reason: &str) {
    eprintln!("SKIPPED netns_interface_expansion: {reason}");
    println!("SKIPPED netns_interface_expansion: {reason}");
}

#[test]
fn netns_interface_expansion() {
    if !is_root() {
        return skip("not running as root");
    }
    if run_bounded(Command::new("ip").arg("-V"), Duration::from_secs(5)).is_none() {
        return skip("iproute2 `ip` not found (apt-get install -y iproute2)");
    }
    let name = format!("sockinfo-{}", std::process::id());
    if let Err(e) = ip(&["netns", "add", &name]) {
        return skip(&format!("`ip netns add` unavailable: {e}"));
    }
    let ns = Namespace(name);
    let n = ns.0.as_str();
    // A `dummy` device; kernels built without the dummy driver get a port-less bridge (just
    // as isolated: no lower device, no traffic), still named dummy0.
    if let Err(e) = ip(&["-n", n, "link", "add", "dummy0", "type", "dummy"]) {
        eprintln!("note: {e}; using a port-less bridge named dummy0 instead");
        if let Err(e) = ip(&["-n", n, "link", "add", "dummy0", "type", "bridge"]) {
            panic!("namespace setup failed: {e}");
        }
    }
    let setup: &[&[&str]] = &[
        &["-n", n, "link", "set", "dummy0", "addrgenmode", "none"],
        &["-n", n, "addr", "add", "192.0.2.10/24", "dev", "dummy0"],
        &["-n", n, "addr", "add", "198.51.100.10/24", "dev", "dummy0"],
        &[
            "-n",
            n,
            "-6",
            "addr",
            "add",
            "2001:db8::10/64",
            "dev",
            "dummy0",
            "nodad",
        ],
        &["-n", n, "link", "set", "dummy0", "up"],
    ];
    for args in setup {
        if let Err(e) = ip(args) {
            panic!("namespace setup failed: {e}");
        }
    }
    let exe = std::env::current_exe().expect("test binary path");
    let exe = exe.to_str().expect("utf-8 path");
    let out = run_bounded(
        Command::new("ip")
            .args(["netns", "exec", n, exe])
            .args(["--exact", "netns_child_listing", "--ignored", "--nocapture"])
            .args(["--test-threads=1"])
            .env(CHILD_ENV, "1"),
        Duration::from_secs(30),
    )
    .expect("child finished in time");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let blocks: Vec<&str> = stdout
        .split("<<<LISTING\n")
        .skip(1)
        .filter_map(|b| b.split_once("LISTING>>>").map(|(l, _)| l))
        .collect();
    let ind = "             ";
    let want_v4 = format!(
        "Listening on \n{ind}udp: 192.0.2.10 [192.0.2.10]:5060\n{ind}udp: 198.51.100.10 [198.51.100.10]:5060\nAliases: \n\n"
    );
    let want_v6 = format!(
        "Listening on \n{ind}udp: 192.0.2.10 [192.0.2.10]:5060\n{ind}udp: 198.51.100.10 [198.51.100.10]:5060\n{ind}udp: 2001:db8::10 [2001:db8::10]:5060\nAliases: \n\n"
    );
    assert_eq!(
        blocks,
        [want_v4.as_str(), want_v6.as_str()],
        "child output: {stdout}"
    );
}

#[test]
#[ignore = "helper: run inside a network namespace by netns_interface_expansion"]
fn netns_child_listing() {
    if std::env::var_os(CHILD_ENV).is_none() {
        println!("netns_child_listing only runs inside the namespace set up by netns_interface_expansion");
        return;
    }
    for text in CASES {
        let items = common::config(text).items;
        let s = build(&items, &[], &Options::default(), &SystemNetwork).expect("resolves");
        print!("<<<LISTING\n{}LISTING>>>\n", listing(&s));
    }
}

mod common;
