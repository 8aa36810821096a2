//! UDP socket buffers of the running server, read back with `ss` (iproute2): grown at start
//! to `maxbuffer`/`maxsndbuffer` as Kamailio's probe grows them (default 256 KiB), with `-b`
//! and `-B` winning over the config, 0 keeping the system's size and -1 asking for the
//! kernel's limit.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use siprouter_e2e::{siprouter_bin, Server, TempDir};

const PORT: u16 = 29171;

/// Kamailio's default `maxbuffer`/`maxsndbuffer`.
const KAMAILIO_DEFAULT: u64 = 256 * 1024;

fn sysctl(name: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/sys/net/core/{name}"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("cannot read net.core.{name}"))
}

/// The receive and send buffer sizes (`rb`, `tb` of `ss -m`) of the first UDP socket bound
/// to `PORT`, once there is one.
fn buffers() -> Option<(u64, u64)> {
    let out = Command::new("ss")
        .args(["-uamn", &format!("sport = :{PORT}")])
        .output()
        .expect("ss (iproute2) is needed for this test");
    let text = String::from_utf8_lossy(&out.stdout);
    let skmem = text.split("skmem:(").nth(1)?;
    let field = |name: &str| {
        skmem
            .split([',', ')'])
            .find_map(|f| f.strip_prefix(name)?.parse().ok())
    };
    Some((field("rb")?, field("tb")?))
}

/// Starts siprouter on `cfg` with `args`, reads its buffers once its socket is bound, stops it.
fn served_buffers(cfg: &std::path::Path, args: &[&str]) -> (u64, u64) {
    let server = Server::start(
        Command::new(siprouter_bin())
            .args(["-f", cfg.to_str().expect("UTF-8 path")])
            .args(args)
            .stderr(Stdio::null()),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let found = loop {
        if let Some(b) = buffers() {
            break b;
        }
        assert!(
            Instant::now() < deadline,
            "no UDP socket on port {PORT} within 5 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // Stopped (SIGTERM, waited for) before the next run binds the port. The socket shows
    // before the server has installed its signal handlers, so how it exits is no concern of
    // this test: the lifecycle tests check a clean stop.
    drop(server);
    found
}

/// What Linux gives for a request of `asked` bytes over a default of `default`: the request
/// capped at `max` and doubled (its bookkeeping), unless the default is already as large.
fn grown(default: u64, asked: u64, max: u64) -> u64 {
    if default < asked {
        2 * asked.min(max)
    } else {
        default
    }
}

#[test]
fn udp_buffers_grow_as_kamailio_grows_them_and_b_wins_over_the_config() {
    let (rdef, wdef) = (sysctl("rmem_default"), sysctl("wmem_default"));
    let (rmax, wmax) = (sysctl("rmem_max"), sysctl("wmem_max"));
    let dir = TempDir::new("socket-buffers");
    let route = "request_route {\n  drop;\n}\n";
    let plain = dir.file(
        "plain.cfg",
        &format!("children=1\nlisten=udp:127.0.0.1:{PORT}\n{route}"),
    );
    let kept = dir.file(
        "kept.cfg",
        &format!("children=1\nmaxbuffer=0\nmaxsndbuffer=0\nlisten=udp:127.0.0.1:{PORT}\n{route}"),
    );
    // No setting: Kamailio's 256 KiB.
    assert_eq!(
        served_buffers(&plain, &[]),
        (
            grown(rdef, KAMAILIO_DEFAULT, rmax),
            grown(wdef, KAMAILIO_DEFAULT, wmax)
        )
    );
    // `maxbuffer=0`: the system's sizes.
    assert_eq!(served_buffers(&kept, &[]), (rdef, wdef));
    // `-b`/`-B` win over the config, in both directions.
    assert_eq!(
        served_buffers(&kept, &["-b", "300000", "-B", "280000"]),
        (grown(rdef, 300_000, rmax), grown(wdef, 280_000, wmax))
    );
    assert_eq!(
        served_buffers(&plain, &["-b", "0", "-B", "0"]),
        (rdef, wdef)
    );
    // `-1` (Kamailio's `unsigned int` made of it, 2^32 - 1): as large as the kernel allows.
    let largest = u64::from(u32::MAX);
    assert_eq!(
        served_buffers(&kept, &["-b", "-1", "-B", "-1"]),
        (grown(rdef, largest, rmax), grown(wdef, largest, wmax))
    );
}
