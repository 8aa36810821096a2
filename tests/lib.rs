//! Helpers for siprouter's end-to-end tests: they drive the real, built `siprouter` binary
//! (and, as the server grows, sipp and Kamailio on loopback).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .to_path_buf()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The shared test corpora (`../shared/corpus` beside the workspace).
pub fn corpus_dir() -> PathBuf {
    workspace_root().join("../shared/corpus")
}

/// Builds the `siprouter` binary once per test run and returns its path; `SIPROUTER_BIN`
/// names another binary to test instead (`cargo xtask` points it at the release build).
///
/// # Panics
/// When the build fails: the tests cannot run without the binary.
pub fn siprouter_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("SIPROUTER_BIN") {
            return PathBuf::from(bin);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "siprouter"])
            .current_dir(workspace_root())
            .status()
            .expect("cannot run cargo to build siprouter");
        assert!(status.success(), "building siprouter failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target"));
        target.join("debug").join("siprouter")
    })
}

/// Runs siprouter with `args` (no standard input) and returns its output.
///
/// # Panics
/// When the binary cannot be started.
pub fn run_siprouter(args: &[&str]) -> Output {
    Command::new(siprouter_bin())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("cannot start siprouter")
}

/// A running siprouter (or any child) that is killed when dropped, so a failing test never
/// leaves a server behind.
pub struct Server(pub std::process::Child);

impl Server {
    /// Starts `cmd` with no standard input or output (stderr as the caller set it).
    ///
    /// # Panics
    /// When the program cannot be started.
    pub fn start(cmd: &mut Command) -> Server {
        Server(
            cmd.stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("cannot start the server"),
        )
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Sends SIGTERM and waits (5 s at most) for the exit status.
    ///
    /// # Panics
    /// When the process does not exit in time.
    pub fn stop(mut self) -> std::process::ExitStatus {
        signal(self.0.id(), "-TERM");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            if let Some(s) = self.0.try_wait().expect("wait") {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no exit within 5 s of SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    /// SIGTERM first, SIGKILL after 2 s: Kamailio takes its worker processes down with it
    /// only on SIGTERM (killed outright, it left them running after the test).
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.0.id().to_string()])
                .status();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            self.0.kill().ok();
            self.0.wait().ok();
        }
    }
}

/// Sends a signal (`-HUP`, `-TERM`, …) with `kill`.
///
/// # Panics
/// When `kill` fails.
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig} {pid}");
}

/// A process's resident set size in KiB (`VmRSS` of /proc/PID/status), 0 if unknown.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// How many file descriptors a process has open (entries of /proc/PID/fd).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Whether `sipp` can run here. In CI (`CI` set) a missing sipp is an error, since `.ci/run`
/// installs it; elsewhere the caller skips its test and says so.
///
/// # Panics
/// In CI, when sipp is missing.
pub fn sipp_available() -> bool {
    let found = Command::new("sipp").arg("-v").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "sipp is missing; .ci/run must install sip-tester"
        );
        println!("SKIPPED: sipp is not installed (apt-get install sip-tester)");
    }
    found
}

/// Debian's Kamailio, for the side-by-side tests. When it is missing the test is skipped with
/// a line saying so, except under CI (`CI` set), where `.ci/run` must have installed it.
///
/// # Panics
/// Under CI when Kamailio is not installed.
pub fn kamailio_available() -> Option<PathBuf> {
    let found = ["/usr/sbin/kamailio", "/usr/local/sbin/kamailio"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "kamailio is not installed; .ci/run must install the kamailio package"
        );
        println!("SKIPPED: kamailio is not installed (apt-get install kamailio)");
    }
    found
}

/// A sipp command on 127.0.0.1 with no terminal input and no output. Its socket buffers are
/// 1 MB, as in the reference relay benchmark: with sipp's default (64 KB) a scheduling hiccup
/// of the two shared cores overflows sipp's own receive buffer at a few thousand calls/s.
pub fn sipp(args: &[&str]) -> Command {
    let mut c = Command::new("sipp");
    c.args(args)
        .args(["-nostdin", "-i", "127.0.0.1", "-buff_size", "1048576"])
        .current_dir(std::env::temp_dir())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c
}

/// A fresh temporary folder named for the test and this process, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `siprouter-<name>-<pid>` in the system's temporary folder.
    ///
    /// # Panics
    /// When the folder cannot be created.
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("siprouter-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary folder");
        TempDir(dir)
    }

    /// Writes `text` to `name` inside the folder and returns its path.
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("temporary file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}
