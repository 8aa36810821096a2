//! Logging on tracing-subscriber, configured as Kamailio users expect:
//!
//! - `debug=` (-5 … 3; `-d`/`--debug` set it instead) sets the threshold; Kamailio's levels map onto
//!   tracing's (alert … err → ERROR, warn → WARN, notice and info → INFO, dbg → DEBUG, the
//!   `log()` level 4 → TRACE). Script lines (`xlog`, `log`) are also held to Kamailio's exact
//!   threshold, so `debug=1` shows notices but not infos, as Kamailio does.
//! - `log_stderror=yes` or `-E` logs to stderr; otherwise lines go to syslog (`/dev/log`) with
//!   `log_facility` and `log_name` as the ident. `log_color=yes` or `-e` colours stderr.
//! - `RUST_LOG` (`level` or `target=level,…`) replaces the threshold for every target.
//! - `--log-format json` writes one JSON object per line instead of text.
//!
//! Script lines carry the config position of their `xlog`/`log` call as the `cfg` field.

use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, Registry};

/// Where syslog listens, unless `SIPROUTER_SYSLOG_SOCKET` names another socket (tests do).
const SYSLOG_SOCKET: &str = "/dev/log";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event.
    Json,
}

/// The logging settings of a config plus the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    /// Kamailio's level threshold (`debug=`, or the level `-d`/`--debug` set).
    pub(crate) level: i64,
    /// Log to stderr (`log_stderror=yes`, `-E`) instead of syslog.
    pub(crate) stderr: bool,
    /// Colour the stderr log (`log_color=yes`, `-e`).
    pub(crate) color: bool,
    /// Text or JSON.
    pub(crate) format: LogFormat,
    /// The syslog ident (`log_name`, default `siprouter`).
    pub(crate) name: String,
    /// The syslog facility number (`log_facility`, default `LOG_DAEMON`).
    pub(crate) facility: u8,
}

/// A config value that cannot be used for logging.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingsError {
    /// `log_facility` names no syslog facility.
    #[error("unknown log_facility `{0}` (LOG_DAEMON, LOG_LOCAL0 … LOG_LOCAL7, LOG_USER, …)")]
    Facility(String),
    /// `RUST_LOG` does not parse as `level` or `target=level,…`.
    #[error("RUST_LOG: {0}")]
    RustLog(String),
}

/// Syslog facilities by their `LOG_*` names.
const FACILITIES: [(&str, u8); 20] = [
    ("LOG_KERN", 0),
    ("LOG_USER", 1),
    ("LOG_MAIL", 2),
    ("LOG_DAEMON", 3),
    ("LOG_AUTH", 4),
    ("LOG_SYSLOG", 5),
    ("LOG_LPR", 6),
    ("LOG_NEWS", 7),
    ("LOG_UUCP", 8),
    ("LOG_CRON", 9),
    ("LOG_AUTHPRIV", 10),
    ("LOG_FTP", 11),
    ("LOG_LOCAL0", 16),
    ("LOG_LOCAL1", 17),
    ("LOG_LOCAL2", 18),
    ("LOG_LOCAL3", 19),
    ("LOG_LOCAL4", 20),
    ("LOG_LOCAL5", 21),
    ("LOG_LOCAL6", 22),
    ("LOG_LOCAL7", 23),
];

/// A `LOG_*` facility name (any case) to its number.
pub(crate) fn facility(name: &str) -> Result<u8, SettingsError> {
    FACILITIES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, f)| *f)
        .ok_or_else(|| SettingsError::Facility(name.into()))
}

/// The tracing threshold for a Kamailio level threshold.
fn level_filter(kamailio: i64) -> LevelFilter {
    match kamailio {
        i64::MIN..=-1 => LevelFilter::ERROR,
        0 => LevelFilter::WARN,
        1 | 2 => LevelFilter::INFO,
        3 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

/// A tracing event at the tracing level of a Kamailio level (levels are compile-time
/// constants in tracing's macros, hence one arm each).
macro_rules! at_level {
    ($level:expr, $($event:tt)+) => {
        match $level {
            i64::MIN..=-1 => tracing::error!($($event)+),
            0 => tracing::warn!($($event)+),
            1 | 2 => tracing::info!($($event)+),
            3 => tracing::debug!($($event)+),
            _ => tracing::trace!($($event)+),
        }
    };
}

/// The running logger: changes its threshold on reload and writes the script's lines.
pub(crate) struct Logger {
    filter: reload::Handle<Targets, Registry>,
    /// `RUST_LOG` was given: it decides alone, config levels are not applied.
    rust_log: bool,
    level: AtomicI64,
}

impl Logger {
    /// Installs the global subscriber. `RUST_LOG` is read here.
    pub(crate) fn init(settings: &Settings) -> Result<Logger, SettingsError> {
        let rust_log = std::env::var("RUST_LOG")
            .ok()
            .filter(|v| !v.trim().is_empty());
        let targets = match &rust_log {
            Some(spec) => {
                Targets::from_str(spec).map_err(|e| SettingsError::RustLog(e.to_string()))?
            }
            None => Targets::new().with_default(level_filter(settings.level)),
        };
        let (filter, handle) = reload::Layer::new(targets);
        let sink = if settings.stderr {
            Sink::Stderr
        } else {
            match Syslog::connect(&settings.name, settings.facility) {
                Ok(s) => Sink::Syslog(s),
                Err(e) => {
                    stderr_line!("siprouter: cannot reach syslog ({e}); logging to stderr");
                    Sink::Stderr
                }
            }
        };
        let to_syslog = matches!(sink, Sink::Syslog(_));
        let fmt = tracing_subscriber::fmt::layer()
            .with_ansi(settings.color && !to_syslog)
            .with_writer(sink);
        let registry = tracing_subscriber::registry().with(filter);
        // Each arm is its own subscriber type; syslog stamps the time itself.
        let installed = match (settings.format, to_syslog) {
            (LogFormat::Json, _) => registry.with(fmt.json()).try_init(),
            (LogFormat::Text, true) => registry.with(fmt.without_time()).try_init(),
            (LogFormat::Text, false) => registry.with(fmt).try_init(),
        };
        if let Err(e) = installed {
            stderr_line!("siprouter: the logger is already installed: {e}");
        }
        Ok(Logger {
            filter: handle,
            rust_log: rust_log.is_some(),
            level: AtomicI64::new(settings.level),
        })
    }

    /// Applies a reloaded config's threshold (unless `RUST_LOG` rules).
    pub(crate) fn set_level(&self, level: i64) {
        self.level.store(level, Ordering::Relaxed);
        if !self.rust_log {
            let targets = Targets::new().with_default(level_filter(level));
            if let Err(e) = self.filter.reload(targets) {
                tracing::warn!("cannot change the log level: {e}");
            }
        }
    }

    /// Writes one line of the script at a Kamailio level, with its config position, which
    /// is only worked out (`cfg`) when the line passes the threshold.
    pub(crate) fn script(&self, level: i64, message: &str, cfg: impl FnOnce() -> Option<String>) {
        if !self.rust_log && level > self.level.load(Ordering::Relaxed) {
            return;
        }
        let message = message.strip_suffix('\n').unwrap_or(message);
        match cfg() {
            Some(cfg) => at_level!(level, target: "script", cfg, "{message}"),
            None => at_level!(level, target: "core", "{message}"),
        }
    }
}

/// Where formatted lines go.
enum Sink {
    Stderr,
    Syslog(Syslog),
}

/// A connected syslog datagram socket with the ident and facility of every line.
struct Syslog {
    socket: UnixDatagram,
    path: PathBuf,
    name: String,
    facility: u8,
    pid: u32,
}

impl Syslog {
    fn connect(name: &str, facility: u8) -> io::Result<Syslog> {
        let path = std::env::var_os("SIPROUTER_SYSLOG_SOCKET")
            .map_or_else(|| PathBuf::from(SYSLOG_SOCKET), PathBuf::from);
        let socket = UnixDatagram::unbound()?;
        socket.connect(&path)?;
        Ok(Syslog {
            socket,
            path,
            name: name.into(),
            facility,
            pid: std::process::id(),
        })
    }

    /// Sends one line; reconnects once when syslog was restarted.
    fn send(&self, line: &[u8]) {
        if self.socket.send(line).is_err() {
            let _ = self.socket.connect(&self.path);
            if let Err(e) = self.socket.send(line) {
                stderr_line!(
                    "siprouter: syslog lost a line ({e}): {}",
                    String::from_utf8_lossy(line)
                );
            }
        }
    }
}

/// One event's text, sent as one datagram (or written to stderr) when the event is done.
enum LineWriter<'a> {
    /// Straight to stderr.
    Stderr(io::Stderr),
    /// Collected, then sent with its syslog header.
    Syslog {
        /// The syslog connection.
        to: &'a Syslog,
        /// `<PRI>ident[pid]: ` followed by the event's text.
        buf: Vec<u8>,
    },
}

impl Write for LineWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            LineWriter::Stderr(e) => e.write(data),
            LineWriter::Syslog { buf, .. } => {
                buf.extend_from_slice(data);
                Ok(data.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            LineWriter::Stderr(e) => e.flush(),
            LineWriter::Syslog { .. } => Ok(()),
        }
    }
}

impl Drop for LineWriter<'_> {
    fn drop(&mut self) {
        if let LineWriter::Syslog { to, buf } = self {
            while buf.last() == Some(&b'\n') {
                buf.pop();
            }
            to.send(buf);
        }
    }
}

/// The syslog severity of a tracing level.
fn severity(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> LineWriter<'a> {
        self.line(&Level::INFO)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> LineWriter<'a> {
        self.line(meta.level())
    }
}

impl Sink {
    fn line(&self, level: &Level) -> LineWriter<'_> {
        match self {
            Sink::Stderr => LineWriter::Stderr(io::stderr()),
            Sink::Syslog(s) => {
                let pri = u32::from(s.facility) * 8 + u32::from(severity(level));
                let buf = format!("<{pri}>{}[{}]: ", s.name, s.pid).into_bytes();
                LineWriter::Syslog { to: s, buf }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kamailio_levels_map_onto_tracing_levels() {
        assert_eq!(level_filter(-5), LevelFilter::ERROR);
        assert_eq!(level_filter(-1), LevelFilter::ERROR);
        assert_eq!(level_filter(0), LevelFilter::WARN);
        assert_eq!(level_filter(1), LevelFilter::INFO);
        assert_eq!(level_filter(2), LevelFilter::INFO);
        assert_eq!(level_filter(3), LevelFilter::DEBUG);
        assert_eq!(level_filter(4), LevelFilter::TRACE);
    }

    #[test]
    fn facilities_by_name() {
        assert_eq!(facility("LOG_DAEMON").ok(), Some(3));
        assert_eq!(facility("log_local0").ok(), Some(16));
        assert_eq!(facility("LOG_LOCAL7").ok(), Some(23));
        assert!(matches!(
            facility("LOG_NOPE"),
            Err(SettingsError::Facility(_))
        ));
    }
}
