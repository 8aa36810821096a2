//! Differential test against Debian's Kamailio (`.ci/run` installs the `kamailio` package):
//! `kamailio -c` and `siprouter -c` on the same listen configs
//! (`crates/socket-info/tests/listen-configs/*.cfg`) must print the same socket and alias
//! lines. Kamailio 5.6 omits the advertise protocol in its listing, so `advertise P:` is
//! compared without the protocol. Every remaining difference is listed in `KNOWN_DIFFERENCES`
//! with the reason (a documented improvement over Kamailio), and configs that Kamailio 5.6
//! cannot read (syntax of the 6.x spec) in `KAMAILIO_56_REJECTS`.
//! A second test runs failures through both: a bad command line and a broken config exit
//! with the same status.
//!
//! Both programs run in a throw-away network namespace with only loopback up (`unshare
//! --net`): the interfaces are the same for both, name lookups that would need a DNS server
//! fail at once, and nothing leaves the machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use siprouter_e2e::{kamailio_available, siprouter_bin, workspace_root};

/// `(config file, reason)`: configs whose listings differ on purpose.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

/// `(config file, reason)`: configs in the spec's 6.x syntax that Debian's 5.6.3 rejects.
const KAMAILIO_56_REJECTS: &[(&str, &str)] = &[
    (
        "04-advertise-proto.cfg",
        "`advertise udp:host:port` (protocol in advertise) is 6.x syntax; 5.6.3: syntax error",
    ),
    (
        "14-socket-range.cfg",
        "`socket = { … }` blocks are 6.x; 5.6.3: unknown config variable",
    ),
    (
        "15-socket-tls-rule.cfg",
        "`socket = { … }` blocks are 6.x; 5.6.3: unknown config variable",
    ),
    (
        "18-virtual-name-advertise.cfg",
        "`advertise tcp:[…]:port` (protocol in advertise) is 6.x syntax; 5.6.3: syntax error",
    ),
];

/// Runs `program args…` in a new network namespace with only `lo` up.
fn in_netns(program: &Path, args: &[&str]) -> std::process::Output {
    Command::new("unshare")
        .args([
            "--net",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ])
        .arg(program)
        .args(args)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run unshare")
}

/// Whether this process may create network namespaces (root with `unshare` and `ip`).
fn netns_available() -> bool {
    Command::new("unshare")
        .args(["--net", "sh", "-c", "ip link set lo up"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The listing lines (sockets and aliases), with `advertise <proto>:` reduced to `advertise `.
fn listing(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.starts_with("             "))
        .map(|l| {
            let l = l.trim().to_string();
            match l.split_once(" advertise ") {
                Some((head, adv)) => {
                    let adv = ["udp:", "tcp:", "tls:", "sctp:", "ws:", "wss:"]
                        .iter()
                        .find_map(|p| adv.strip_prefix(p))
                        .unwrap_or(adv);
                    format!("{head} advertise {adv}")
                }
                None => l,
            }
        })
        .collect()
}

#[test]
fn listings_match_kamailio() {
    let Some(kam) = kamailio_available() else {
        return;
    };
    if !netns_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "cannot create a network namespace (needs root, unshare and ip)"
        );
        println!("SKIPPED: cannot create a network namespace (needs root, unshare and ip)");
        return;
    }
    let dir = workspace_root().join("crates/socket-info/tests/listen-configs");
    let mut cfgs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("listen-configs folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cfg"))
        .collect();
    cfgs.sort();
    assert!(cfgs.len() >= 15, "only {} configs", cfgs.len());
    let mut failures = Vec::new();
    let mut compared = 0;
    for cfg in &cfgs {
        let name = cfg.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let theirs = in_netns(&kam, &["-c", "-f", path_str(cfg)]);
        if KAMAILIO_56_REJECTS.iter().any(|(f, _)| *f == name) {
            assert!(
                !theirs.status.success(),
                "{name} is listed as rejected by 5.6 but passes"
            );
            continue;
        }
        assert!(
            theirs.status.success(),
            "kamailio -c rejects {name}:\n{}",
            String::from_utf8_lossy(&theirs.stderr)
        );
        let ours = in_netns(siprouter_bin(), &["-c", "-f", path_str(cfg)]);
        assert!(
            ours.status.success(),
            "siprouter -c rejects {name}:\n{}",
            String::from_utf8_lossy(&ours.stderr)
        );
        let (k, s) = (
            listing(&String::from_utf8_lossy(&theirs.stdout)),
            listing(&String::from_utf8_lossy(&ours.stdout)),
        );
        assert!(!k.is_empty(), "{name}: kamailio printed no listing");
        compared += 1;
        let known = KNOWN_DIFFERENCES.iter().any(|(f, _)| *f == name);
        if (k != s) != known {
            failures.push(format!("{name}:\n  kamailio:  {k:?}\n  siprouter: {s:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "listings differ:\n{}",
        failures.join("\n")
    );
    assert!(compared >= 15, "only {compared} configs compared");
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Failures exit as Kamailio's do (status 255, `exit(-1)`): a bad command line and a config
/// that does not check, side by side. No network is needed for these.
#[test]
fn failures_exit_with_kamailios_status() {
    let Some(kam) = kamailio_available() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("siprouter-exit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let broken = dir.join("broken.cfg");
    std::fs::write(
        &broken,
        "listen=udp:127.0.0.1:5060\nrequest_route {\n  exit\n",
    )
    .expect("cfg");
    let broken = path_str(&broken);
    for args in [&["-Z"][..], &["-c", "-f"], &["-c", "-f", broken]] {
        let run = |program: &Path| {
            Command::new(program)
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("run")
                .status
                .code()
        };
        let (theirs, ours) = (run(&kam), run(siprouter_bin()));
        assert_eq!(theirs, Some(255), "kamailio {args:?}");
        assert_eq!(ours, theirs, "siprouter {args:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
