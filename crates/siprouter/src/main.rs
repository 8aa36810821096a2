//! # siprouter
//!
//! The thin binary of the pipeline (text → tokens → AST → socket records → transports →
//! router): it reads the configuration (the bundled one, or the file given with `-f`), parses
//! it, resolves its sockets (adding `-l` values after the config, as Kamailio does), compiles
//! the route script, prints Kamailio's `Listening on` listing with every diagnostic as
//! `file:line:col` and a source snippet, and then (without `-c`) binds the sockets and serves:
//! the transport hands each received message to the sans-IO router, whose outputs it sends.
//!
//! Dependencies: `clap` for Kamailio-compatible options with usage errors; `serde_json` for
//! `--dump-ast`; `tokio` for the runtime the transport runs on; `tracing-subscriber` for the
//! log (text or JSON, stderr or syslog, see [`logging`]) with `thiserror` for its errors;
//! `nix` (its `user` and `process` features only) for the safe setuid/setgid/initgroups
//! wrappers and NSS lookups behind `-u`/`-g`, and `getpgrp` for `-G` (the workspace forbids
//! `unsafe`); `mimalloc` as the global allocator (see [`GLOBAL`]); `thread-priority` to run
//! the serving threads as SCHED_BATCH without `unsafe` of our own (see [`sched`]).

/// `eprintln!` that never panics: a closed or full stderr loses the line, where
/// `eprintln!` would end the process with a panic (exit 101) instead of its own status.
macro_rules! stderr_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// [`stderr_line!`] without the line end (for text that brings its own).
macro_rules! stderr_text {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

mod compat;
mod inline;
mod logging;
mod privileges;
mod sched;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use cfg_lexer::{FsLoader, LexOptions};
use cfg_parser::Parsed;
use clap::{CommandFactory, FromArgMatches, Parser};
use socket_info::{Options, SystemNetwork};

/// The config compiled into the binary, used when the default path does not exist.
const BUNDLED_CONFIG: &str = include_str!("../../../configs/siprouter.cfg");
/// Where siprouter looks for its config when `-f` is not given.
const DEFAULT_CONFIG_PATH: &str = "/etc/siprouter/siprouter.cfg";

/// A SIP server that reads Kamailio's configuration language.
#[derive(Debug, Parser)]
#[command(name = "siprouter", about, disable_version_flag = true)]
struct Cli {
    /// Configuration file (default: /etc/siprouter/siprouter.cfg, else the bundled config).
    #[arg(short = 'f', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check the configuration, print the socket listing and exit (0 when usable).
    #[arg(short = 'c')]
    check: bool,
    /// Define a preprocessor name, as `#!define NAME VALUE` would (repeatable).
    #[arg(short = 'A', value_name = "NAME[=VALUE]")]
    defines: Vec<String>,
    /// Listen on `[proto:]addr[:port][/advaddr][/name]`, added after the config (repeatable).
    #[arg(short = 'l', value_name = "ADDRESS")]
    listen: Vec<String>,
    /// Print the parsed configuration as JSON and exit (no socket checks).
    #[arg(long)]
    dump_ast: bool,
    /// Print the resolved sockets as JSON and exit.
    #[arg(long)]
    dump_sockets: bool,
    /// Print the config after includes, defines and substitutions, each line annotated with
    /// the file and line it came from, and exit.
    #[arg(long)]
    print_expanded: bool,
    /// How log lines are written.
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    log_format: logging::LogFormat,
    /// The serving threads' scheduling: `batch` runs them as SCHED_BATCH (less CPU a
    /// message, see docs/performance.md), `keep` keeps the policy the process started with.
    #[arg(long, value_name = "POLICY", default_value = "batch")]
    sched: sched::Sched,
    /// Write the process id to this file (removed again at a clean exit).
    #[arg(short = 'P', value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Run as this user (name or uid) once the sockets are bound; overrides `user=`.
    #[arg(short = 'u', value_name = "USER")]
    user: Option<String>,
    /// Run as this group (name or gid) once the sockets are bound; overrides `group=`.
    #[arg(short = 'g', value_name = "GROUP")]
    group: Option<String>,
    /// Workers per socket (overrides `children`; 0 or less: Kamailio's default, 8).
    #[arg(short = 'n', value_name = "N", allow_negative_numbers = true)]
    children: Option<String>,
    /// Size UDP receive buffers are grown to (overrides `maxbuffer`; 0: the system's size,
    /// -1: as large as the system allows).
    #[arg(short = 'b', value_name = "BYTES", allow_negative_numbers = true)]
    udp_recv_buffer: Option<String>,
    /// Size UDP send buffers are grown to (overrides `maxsndbuffer`; 0: the system's size,
    /// -1: as large as the system allows).
    #[arg(short = 'B', value_name = "BYTES", allow_negative_numbers = true)]
    udp_send_buffer: Option<String>,
    /// Log level one higher (repeatable; from 0, or from `--debug`): wins over `debug=`.
    #[arg(short = 'd', action = clap::ArgAction::Count)]
    debug: u8,
    /// Accepted for Kamailio compatibility: siprouter always stays in the foreground.
    #[arg(short = 'D', action = clap::ArgAction::Count)]
    foreground: u8,
    /// Log to stderr (overrides `log_stderror`; without either, the log goes to syslog).
    #[arg(short = 'E')]
    log_stderr: bool,
    /// Colour the stderr log (overrides `log_color`).
    #[arg(short = 'e')]
    log_color: bool,
    /// Print the version and the built-in features, then exit.
    #[arg(short = 'V', long = "version", visible_short_alias = 'v')]
    version: bool,
    /// Kamailio's other options.
    #[command(flatten)]
    compat: compat::Compat,
}

/// What `-V`/`-v` prints after the version line.
const FEATURES: &str = "transports: udp tcp tls quic
\
modules: sl maxfwd sanity rr siputils textops xlog pv (ctl jsonrpcs kex corex cfg_rpc accepted)
\
tls: rustls (ring)";

/// The options as Kamailio's `getopt_long` reads them: an option given again overrides
/// its earlier value (options that collect values, such as `-l` and `-A`, still collect),
/// and an option's argument is the next word even when it starts with `-` (`-f -`,
/// `-P -pid`); a long option may be shortened to any prefix that names only it (`--vers`).
/// Words that are no option keep refusing a leading `-`, so that `-Z` is an unknown option
/// and not a word.
fn command() -> clap::Command {
    Cli::command()
        .args_override_self(true)
        .infer_long_args(true)
        .mut_args(|a| {
            if a.is_positional() || !a.get_action().takes_values() {
                a
            } else {
                a.allow_hyphen_values(true)
            }
        })
}

/// Writes to stdout. A closed or full stdout (`-c > /dev/full`) loses the text but does not
/// change the command's outcome (`print!` would panic instead: Rust ignores SIGPIPE, which
/// would end Kamailio at that point).
fn out(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().write_all(text.as_bytes());
}

/// The exit status of every failure, Kamailio's (`exit(-1)`): a bad command line, a config
/// that does not check, sockets that cannot be set up or bound.
pub(crate) fn failure() -> ExitCode {
    ExitCode::from(255)
}

/// The allocator: mimalloc (its version 2, without transparent huge pages) instead of
/// glibc's malloc. A config check builds and frees a syntax tree and a compiled script of
/// over 100,000 small blocks on three threads, and glibc's slow paths (consolidating the
/// freed blocks before every request of 1 KiB or more, its per-thread cache of seven blocks
/// a size) were a tenth of it: with mimalloc the check of a 20,000-line config takes 15%
/// less time and 18% less CPU (`docs/performance.md`, `-c` lever 66). The relay costs the
/// same CPU per message and about 1 MB more memory. Its default version 3, or huge pages,
/// made the check's peak memory 30 MB instead of 10.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let first = std::env::args_os().nth(1);
    if let Some(refusal) = compat::refused_first(first.as_ref().and_then(|a| a.to_str())) {
        stderr_line!("siprouter: {refusal}");
        return failure();
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if compat::asks_for_help(&args) {
        return print_help();
    }
    let matches = match command().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => match compat::usage_error(&e) {
            Some(message) => {
                stderr_line!("{message}");
                return failure();
            }
            // `--help` (or a prefix of it) prints what `-h` prints.
            None if e.kind() == clap::error::ErrorKind::DisplayHelp => return print_help(),
            None => e.exit(),
        },
    };
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if cli.version {
        out(&format!("{}\n{FEATURES}\n", version_line()));
        return ExitCode::SUCCESS;
    }
    if cli.compat.internals {
        out(&internals());
        return ExitCode::SUCCESS;
    }
    let effects = match cli.compat.check() {
        Ok(fx) => fx,
        Err(e) => {
            stderr_line!("siprouter: {e}");
            return failure();
        }
    };
    for note in &effects.notes {
        stderr_line!("siprouter: note: {note}");
    }
    let mut opts = LexOptions {
        modules: effects.modules.clone(),
        substs: cli.compat.substs(&matches),
        prelude: effects.prelude.clone(),
        ..LexOptions::default()
    };
    match compat::defines(&cli.defines) {
        Ok(defines) => opts.defines.extend(defines),
        Err(e) => {
            stderr_line!("{e}");
            return failure();
        }
    }
    if cli.print_expanded || cli.compat.cfg_print {
        return print_expanded(&cli, &opts);
    }
    // The machine's interfaces are read meanwhile, for the sockets.
    let network = socket_info::Prefetched::start(SystemNetwork);
    let (mut parsed, name, early) = if cli.check {
        load_for_check(&cli, &opts)
    } else {
        let (parsed, name) = load(&cli, &opts);
        (parsed, name, None)
    };
    for d in &parsed.diagnostics {
        stderr_text!("{}", d.render_pretty(parsed.sources()));
    }
    // Nothing reads the tokens after parsing: a file's went as each part was parsed (see
    // `parse_file_without_tokens`), the bundled config's go back now.
    parsed.lexed.tokens = Vec::new();
    let errors = parsed.errors().count();
    if errors > 0 {
        stderr_line!("siprouter: {name}: {errors} error(s); the configuration is not valid");
        return failure();
    }
    if cli.dump_ast {
        return match serde_json::to_string_pretty(&parsed.config) {
            Ok(json) => {
                out(&format!("{json}\n"));
                ExitCode::SUCCESS
            }
            Err(e) => {
                stderr_line!("siprouter: cannot serialise the AST: {e}");
                failure()
            }
        };
    }
    let listen_args = match socket_info::parse_listen_args(&cli.listen) {
        Ok(a) => a,
        Err(e) => {
            stderr_line!("siprouter: bad -l address specifier: {e}");
            return failure();
        }
    };
    let children = match cli
        .children
        .as_deref()
        .map(compat::udp_children)
        .transpose()
    {
        Ok(n) => n,
        Err(e) => {
            stderr_line!("siprouter: {e}");
            return failure();
        }
    };
    let buffer = |opt, arg: &Option<String>| {
        arg.as_deref()
            .map(|a| compat::udp_buffer(opt, a))
            .transpose()
    };
    let (maxbuffer, maxsndbuffer) = match (
        buffer("-b", &cli.udp_recv_buffer),
        buffer("-B", &cli.udp_send_buffer),
    ) {
        (Ok(b), Ok(s)) => (b, s),
        (Err(e), _) | (_, Err(e)) => {
            stderr_line!("siprouter: {e}");
            return failure();
        }
    };
    let socket_opts = Options {
        sctp_supported: SystemNetwork::sctp_supported(),
        children,
        auto_aliases: effects.auto_aliases,
        disable_tcp: cli.compat.disable_tcp,
        disable_sctp: cli.compat.disable_sctp,
        aliases: effects.aliases.clone(),
        ..Options::default()
    };
    let sockets =
        match socket_info::build(&parsed.config.items, &listen_args, &socket_opts, &network) {
            Ok(s) => s,
            Err(e) => {
                stderr_line!("{}", e.render(parsed.sources()));
                stderr_line!("siprouter: {name}: the sockets cannot be set up");
                return failure();
            }
        };
    for w in &sockets.warnings {
        stderr_line!("{}", w.render(parsed.sources()));
    }
    let tcp_children = match effects
        .tcp_children
        .as_deref()
        .map(|n| compat::tcp_children(n, sockets.enabled.tcp))
        .transpose()
    {
        Ok(n) => n,
        Err(e) => {
            stderr_line!("siprouter: {e}");
            return failure();
        }
    };
    // The route script is checked now, so that its errors are check-time errors (the
    // router itself is built when serving starts).
    let rc = router_config(&sockets, None, &opts.modules);
    let early_verdict = early.as_ref().and_then(|early| {
        core_routing::early::check_with_early(&parsed.config, &rc, Some(parsed.sources()), early)
    });
    let checked = match early_verdict {
        Some(verdict) => verdict,
        None => {
            if early.is_some() {
                // Checked bodies were freed, and an early outcome did not hold (a flag
                // declared after the routes, say): the config is parsed again in full. (From
                // the same text it parses the same; should it not, it says why.)
                parsed = parse_again(&parsed, &opts);
                if parsed.has_errors() {
                    for d in parsed.errors() {
                        stderr_text!("{}", d.render_pretty(parsed.sources()));
                    }
                    stderr_line!("siprouter: {name}: the configuration could not be read again");
                    return failure();
                }
            }
            core_routing::check(&parsed.config, &rc, Some(parsed.sources()))
        }
    };
    match checked {
        Ok(warnings) => {
            for w in &warnings {
                // One write per line: stderr is unbuffered, and the pieces of a format
                // were a system call each.
                let line = format!(
                    "{}: warning: {}\n",
                    parsed.sources().location(w.span),
                    w.message
                );
                stderr_text!("{line}");
            }
        }
        Err(e) => {
            stderr_line!(
                "{}: error: {}",
                parsed.sources().location(e.span),
                e.message
            );
            stderr_line!("siprouter: {name}: the route script cannot be compiled");
            return failure();
        }
    };
    // Like Kamailio, a bad log facility or user/group fails the check as well.
    let debug = debug_override(effects.debug_level, cli.debug);
    let settings = match log_settings(&cli, (debug, effects.log_json), &parsed) {
        Ok(s) => s,
        Err(e) => {
            stderr_line!("{e}");
            return failure();
        }
    };
    let user = cli
        .user
        .as_deref()
        .or_else(|| text_param(&parsed.config, "user"));
    let group = cli
        .group
        .as_deref()
        .or_else(|| text_param(&parsed.config, "group"));
    let run_as = match privileges::RunAs::resolve(user, group) {
        Ok(r) => r,
        Err(e) => {
            // A name from the config is shown with its place; one from `-u`/`-g` without.
            let (given, param) = match e {
                privileges::PrivilegeError::Group(_) => (&cli.group, "group"),
                _ => (&cli.user, "user"),
            };
            match parsed.config.param_item(param).filter(|_| given.is_none()) {
                Some(p) => stderr_line!("{}: error: {e}", parsed.sources().location(p.value.span)),
                None => stderr_line!("siprouter: {e}"),
            }
            return failure();
        }
    };
    if cli.dump_sockets {
        out(&format!(
            "{}\n",
            socket_info::dump_json(&sockets, parsed.sources())
        ));
        return ExitCode::SUCCESS;
    }
    out(&socket_info::listing(&sockets));
    if cli.check {
        stderr_line!("config file ok, exiting...");
        // The AST, the sources and the compiled script are freed by the exit itself: tearing
        // them down one allocation at a time is a tenth of a large config's check time.
        use std::io::Write;
        let _ = std::io::stdout().flush();
        std::process::exit(0);
    }
    let logger = match logging::Logger::init(&settings) {
        Ok(l) => std::sync::Arc::new(l),
        Err(e) => {
            stderr_line!("siprouter: {e}");
            return failure();
        }
    };
    let reload = serve::Reload {
        // Absolute, as Kamailio makes it: `-w` changes the directory before a reload.
        path: cli.config.as_deref().map(|p| match p.to_str() {
            Some(STDIN_PATH) => p.to_path_buf(),
            _ => privileges::absolute(p),
        }),
        opts,
        debug_override: debug,
        listen_args,
        socket_opts,
    };
    let overrides = serve::Overrides {
        maxbuffer,
        maxsndbuffer,
        tcp_children,
    };
    let confine = privileges::Confine {
        chroot: cli.compat.chroot_dir.clone(),
        work_dir: cli.compat.work_dir.clone(),
        pid_file: cli.pid_file.clone(),
        pgid_file: cli.compat.pgid_file.clone(),
    };
    serve::run(
        parsed,
        &sockets,
        reload,
        (overrides, cli.sched),
        &logger,
        (&confine, run_as.as_ref()),
    )
}

/// A string-valued core parameter (`user=`, `log_name=`), quoted or not.
fn text_param<'c>(config: &'c cfg_parser::ast::Config, name: &str) -> Option<&'c str> {
    match config.param(name)? {
        cfg_parser::ast::Value::Str(s) | cfg_parser::ast::Value::Ident(s) => Some(s),
        _ => None,
    }
}

/// The logging settings: the config's `debug`, `log_stderror`, `log_color`, `log_name` and
/// `log_facility`, overridden by `-d`/`--debug`, `-E`, `-e` and `--log-format` (or
/// `--log-engine=json`, `json`).
fn log_settings(
    cli: &Cli,
    (debug, json): (Option<i64>, bool),
    parsed: &Parsed,
) -> Result<logging::Settings, String> {
    let config = &parsed.config;
    let flag = |name| config.int_param(name).is_some_and(|n| n != 0);
    let facility = match config.param_item("log_facility") {
        None => 3,
        Some(p) => match &p.value.value {
            cfg_parser::ast::Value::Str(f) | cfg_parser::ast::Value::Ident(f) => {
                logging::facility(f).map_err(|e| {
                    format!("{}: error: {e}", parsed.sources().location(p.value.span))
                })?
            }
            _ => {
                return Err(format!(
                    "{}: error: log_facility takes a name such as LOG_LOCAL0",
                    parsed.sources().location(p.value.span)
                ))
            }
        },
    };
    Ok(logging::Settings {
        level: debug.unwrap_or_else(|| serve::debug_level(parsed)),
        stderr: cli.log_stderr || flag("log_stderror"),
        color: cli.log_color || flag("log_color"),
        format: if json {
            logging::LogFormat::Json
        } else {
            cli.log_format
        },
        name: text_param(config, "log_name")
            .unwrap_or("siprouter")
            .to_string(),
        facility,
    })
}

/// The level `--debug=N` and `-d` set (each `-d` adds one, from 0 without `--debug`):
/// `None` when neither was given and the config's `debug=` holds.
fn debug_override(base: Option<i64>, raise: u8) -> Option<i64> {
    match (base, raise) {
        (None, 0) => None,
        (base, raise) => Some(base.unwrap_or(0).saturating_add(i64::from(raise))),
    }
}

/// `-h` (and `--help`, and `-h` as an option's argument): the version line, then the
/// options.
fn print_help() -> ExitCode {
    out(&format!("{}\n{}", version_line(), command().render_help()));
    ExitCode::SUCCESS
}

/// The first line of `-v` and `-h`, shaped as Kamailio's (`version: NAME VERSION
/// (ARCH/OS) `, with its trailing space).
fn version_line() -> String {
    format!(
        "version: siprouter {} ({}/{}) ",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}

/// What `-I` prints: where siprouter looks for things and the limits it was built with.
fn internals() -> String {
    let limits = transport::TransportConfig::default().limits;
    format!(
        "siprouter {}\n\
         default config: {DEFAULT_CONFIG_PATH} (else the bundled config)\n\
         modules: built in (no module path)\n\
         runtime directory: none\n\
         max SIP message size: {} bytes\n\
         max header section: {} bytes, {} header fields\n\
         {FEATURES}\n",
        env!("CARGO_PKG_VERSION"),
        limits.max_message_size,
        limits.max_header_size,
        limits.max_headers,
    )
}

/// What the router needs to know about the sockets: each socket in the order the transport
/// numbers them (the bound sockets when serving, the resolved records for `-c`), how it names
/// itself, and the names that count as "myself"; and the `--loadmodule` modules.
pub(crate) fn router_config(
    sockets: &socket_info::Sockets,
    bound: Option<&[std::sync::Arc<transport::LocalSocket>]>,
    modules: &[String],
) -> core_routing::RouterConfig {
    use core_routing::Transport;
    let mut rc = core_routing::RouterConfig {
        modules: modules.to_vec(),
        ..core_routing::RouterConfig::default()
    };
    match bound {
        Some(bound) => {
            for s in bound {
                let proto = serve::to_router_proto(s.proto);
                rc.sockets
                    .push(local_socket(sockets, proto, s.addr, s.advertise.as_ref()));
            }
        }
        None => {
            for s in &sockets.sockets {
                let proto = match s.proto {
                    socket_info::Proto::Tcp => Transport::Tcp,
                    socket_info::Proto::Tls => Transport::Tls,
                    socket_info::Proto::Sctp => Transport::Sctp,
                    _ => Transport::Udp,
                };
                let addr = std::net::SocketAddr::new(s.address, s.port);
                rc.sockets
                    .push(local_socket(sockets, proto, addr, s.advertise.as_ref()));
            }
        }
    }
    for s in &sockets.sockets {
        if s.name.parse::<std::net::IpAddr>().is_err() {
            rc.aliases.push((s.name.clone(), Some(s.port)));
        }
    }
    for a in sockets.aliases.iter() {
        rc.aliases
            .push((a.name.clone(), (a.port != 0).then_some(a.port)));
    }
    rc
}

/// One socket as the router sees it: its own advertise, else the global
/// `advertised_address`/`advertised_port`.
fn local_socket(
    sockets: &socket_info::Sockets,
    proto: core_routing::Transport,
    addr: std::net::SocketAddr,
    advertise: Option<&socket_info::Advertise>,
) -> core_routing::LocalSocket {
    let advertise = advertise.map(|a| (a.name.clone(), a.port)).or_else(|| {
        sockets
            .advertised_address
            .clone()
            .map(|a| (a, sockets.advertised_port.unwrap_or(addr.port())))
    });
    core_routing::LocalSocket {
        proto,
        address: addr.ip(),
        port: addr.port(),
        advertise,
    }
}

/// Where the config comes from: `-f`, else the default path if it exists, else the bundled
/// config.
enum Source {
    File(PathBuf),
    /// `-f -`: the config on standard input.
    Stdin,
    Bundled,
}

/// The `-f` value that means standard input, as in Kamailio.
const STDIN_PATH: &str = "-";

/// Reads `-f -`'s standard input (once: every later load gets the same text or error),
/// and include files from the file system, relative to the current directory.
#[derive(Default)]
struct StdinLoader {
    text: std::sync::OnceLock<Result<String, (std::io::ErrorKind, String)>>,
}

impl cfg_lexer::SourceLoader for StdinLoader {
    fn load(&self, path: &std::path::Path) -> std::io::Result<String> {
        if path != std::path::Path::new(STDIN_PATH) {
            return FsLoader.load(path);
        }
        let read = || -> std::io::Result<String> {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)?;
            cfg_lexer::text_from_bytes(bytes)
        };
        self.text
            .get_or_init(|| read().map_err(|e| (e.kind(), e.to_string())))
            .clone()
            .map_err(|(kind, message)| std::io::Error::new(kind, message))
    }

    fn exists(&self, path: &std::path::Path) -> bool {
        FsLoader.exists(path)
    }

    fn identity(&self, path: &std::path::Path) -> PathBuf {
        if path == std::path::Path::new(STDIN_PATH) {
            return path.to_path_buf();
        }
        FsLoader.identity(path)
    }
}

/// The name the bundled config is shown under.
const BUNDLED_NAME: &str = "<bundled siprouter.cfg>";

impl Source {
    fn pick(path: Option<&std::path::Path>) -> Source {
        match path {
            Some(p) if p == std::path::Path::new(STDIN_PATH) => Source::Stdin,
            Some(p) => Source::File(p.to_path_buf()),
            None if std::path::Path::new(DEFAULT_CONFIG_PATH).is_file() => {
                Source::File(DEFAULT_CONFIG_PATH.into())
            }
            None => Source::Bundled,
        }
    }

    fn name(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Stdin => STDIN_PATH.into(),
            Source::Bundled => BUNDLED_NAME.into(),
        }
    }

    fn parse(&self, opts: &LexOptions) -> Parsed {
        match self {
            Source::File(p) => cfg_parser::parse_file_without_tokens(p, opts, &FsLoader),
            Source::Stdin => cfg_parser::parse_file_without_tokens(
                std::path::Path::new(STDIN_PATH),
                opts,
                &StdinLoader::default(),
            ),
            Source::Bundled => cfg_parser::parse_str(BUNDLED_NAME, BUNDLED_CONFIG, opts),
        }
    }

    fn lex(&self, opts: &LexOptions) -> cfg_lexer::Lexed {
        match self {
            Source::File(p) => cfg_lexer::lex_file(p, opts, &FsLoader),
            Source::Stdin => cfg_lexer::lex_file(
                std::path::Path::new(STDIN_PATH),
                opts,
                &StdinLoader::default(),
            ),
            Source::Bundled => cfg_lexer::lex_str(BUNDLED_NAME, BUNDLED_CONFIG, opts),
        }
    }
}

/// Parses the config again for a reload (quietly: no "bundled" notice).
pub(crate) fn load_for_reload(
    path: Option<&std::path::Path>,
    opts: &LexOptions,
) -> (Parsed, String) {
    let source = Source::pick(path);
    (source.parse(opts), source.name())
}

/// Parses the config named by `-f`, the default path, or the bundled config.
fn load(cli: &Cli, opts: &LexOptions) -> (Parsed, String) {
    let source = Source::pick(cli.config.as_deref());
    if matches!(source, Source::Bundled) {
        stderr_line!(
            "siprouter: {DEFAULT_CONFIG_PATH} does not exist; using the bundled configuration"
        );
    }
    (source.parse(opts), source.name())
}

/// [`load`] for `-c`: the route bodies of a large file are checked early, each piece's on
/// the thread that parsed it while the rest is parsed (see `core_routing::early`), in the
/// context the first piece gives, and their statements freed there (but for `--dump-ast`).
/// The whole check afterwards uses what held, or parses the file again when a freed body's
/// outcome did not.
fn load_for_check(
    cli: &Cli,
    opts: &LexOptions,
) -> (Parsed, String, Option<core_routing::early::EarlyChecks>) {
    use core_routing::early::{check_early, EarlyChecks, EarlyContext};
    let source = Source::pick(cli.config.as_deref());
    let Source::File(path) = &source else {
        let (parsed, name) = load(cli, opts);
        return (parsed, name, None);
    };
    // `--dump-ast` prints the whole tree; a check alone needs no body it checked early.
    let release = !cli.dump_ast;
    // The header (in the first piece) gives what every piece's bodies are checked in.
    let first =
        |items: &[cfg_parser::ast::Item]| EarlyContext::from_first_piece(items, &opts.modules);
    let each = |piece: cfg_parser::PieceItems<'_>, cx: &Option<EarlyContext>| {
        let mut checked = check_early(cx.as_ref()?, piece.items, piece.sources);
        if release {
            checked.release(piece.items);
        }
        Some(checked)
    };
    let (parsed, pieces) = cfg_parser::parse_file_with(path, opts, &FsLoader, &first, &each);
    // A piece `each` did not see keeps its bodies: the whole check compiles them.
    let early = pieces.and_then(|(cx, pieces)| {
        Some(EarlyChecks::new(
            cx?,
            pieces.into_iter().flatten().flatten(),
        ))
    });
    (parsed, source.name(), early)
}

/// The config of `parsed` (a file's) parsed again, whole, from the texts already read: the
/// same text as the first parse, whose diagnostics and sockets were reported already, even
/// if a file changed on disk since (see `cfg_lexer::ReadLoader`).
fn parse_again(parsed: &Parsed, opts: &LexOptions) -> Parsed {
    let main = parsed.sources().file(cfg_lexer::FileId(0)).origin().clone();
    let path = match &main {
        cfg_lexer::SourceOrigin::File(path) => path.as_path(),
        cfg_lexer::SourceOrigin::Virtual(name) => std::path::Path::new(name),
    };
    let loader = cfg_lexer::ReadLoader::new(parsed.sources());
    cfg_parser::parse_file_without_tokens(path, opts, &loader)
}

/// `--print-expanded`: the config after includes, defines and substitutions, each line with
/// its origin; exit 255 (with the lexer's diagnostics) when it cannot be read.
fn print_expanded(cli: &Cli, opts: &LexOptions) -> ExitCode {
    let lexed = Source::pick(cli.config.as_deref()).lex(opts);
    for d in &lexed.diagnostics {
        stderr_line!("{}", d.render(&lexed.sources));
    }
    if lexed.has_errors() {
        return failure();
    }
    out(&lexed.expanded());
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        let m = command()
            .try_get_matches_from(std::iter::once("siprouter").chain(args.iter().copied()))
            .expect("valid options");
        Cli::from_arg_matches(&m).expect("valid options")
    }

    #[test]
    fn options_are_read_as_getopt_reads_them() {
        // Given again, the last value wins (Kamailio's `getopt_long` loop simply sets it
        // again); a flag may repeat.
        assert_eq!(
            cli(&["-f", "a.cfg", "-c", "-f", "b.cfg"]).config,
            Some("b.cfg".into())
        );
        assert_eq!(cli(&["-n", "1", "-n", "2"]).children.as_deref(), Some("2"));
        assert!(cli(&["-E", "-E", "-c", "-c"]).log_stderr);
        // Options that collect values still collect them, and `-d` still counts.
        assert_eq!(cli(&["-A", "X", "-A", "Y=1"]).defines, ["X", "Y=1"]);
        assert_eq!(cli(&["-dd", "-d"]).debug, 3);
        // An option's argument is the next word, whatever its first character.
        assert_eq!(cli(&["-f", "-"]).config, Some("-".into()));
        assert_eq!(cli(&["-P", "-pid"]).pid_file, Some("-pid".into()));
    }

    fn usage_error_of(args: &[&str]) -> Option<String> {
        let e = command()
            .try_get_matches_from(std::iter::once("siprouter").chain(args.iter().copied()))
            .expect_err("a usage error");
        compat::usage_error(&e)
    }

    #[test]
    fn usage_errors_are_worded_as_kamailio_words_them() {
        assert_eq!(
            usage_error_of(&["-Z"]).as_deref(),
            Some("Unknown option '-Z'. Use -h for help.")
        );
        // A long option is named too, where Kamailio prints an option code (`Unknown
        // option code '0x0' (0)`), which says less.
        assert_eq!(
            usage_error_of(&["--no-such-option"]).as_deref(),
            Some("Unknown option '--no-such-option'. Use -h for help.")
        );
        assert_eq!(
            usage_error_of(&["-c", "-f"]).as_deref(),
            Some("Option '-f' requires an argument. Use -h for help.")
        );
        assert_eq!(
            usage_error_of(&["--alias"]).as_deref(),
            Some("Option '--alias' requires an argument. Use -h for help.")
        );
        // A value that does not parse keeps clap's message, which names option and value.
        let bad = usage_error_of(&["--log-format", "many"]).unwrap_or_default();
        assert!(
            bad.contains("'many'") && bad.contains("--log-format"),
            "{bad}"
        );
        // Help and version requests are no errors.
        assert_eq!(usage_error_of(&["--help"]), None);
    }

    #[test]
    fn an_option_argument_of_minus_h_asks_for_help() {
        let args = |a: &[&str]| -> Vec<std::ffi::OsString> {
            std::iter::once("siprouter")
                .chain(a.iter().copied())
                .map(Into::into)
                .collect()
        };
        assert!(compat::asks_for_help(&args(&["-f", "-h"])));
        assert!(compat::asks_for_help(&args(&["-c", "-h"])));
        assert!(!compat::asks_for_help(&args(&["-f", "x.cfg", "-c"])));
        // Attached to its option.
        assert!(compat::asks_for_help(&args(&["-A-h"])));
        assert!(compat::asks_for_help(&args(&["-c", "--alias=-h"])));
        // Other words that merely contain it, and anything after `--`.
        assert!(!compat::asks_for_help(&args(&["-A-hx", "--alias=x-h"])));
        assert!(!compat::asks_for_help(&args(&["-c", "--", "-h"])));
        // The program's own name is no argument.
        assert!(!compat::asks_for_help(&["-h".into()]));
    }

    #[test]
    fn debug_options_win_over_the_config() {
        let level = |args: &[&str]| {
            let c = cli(args);
            let fx = c.compat.check().expect("valid");
            debug_override(fx.debug_level, c.debug)
        };
        assert_eq!(level(&[]), None);
        assert_eq!(level(&["-dd"]), Some(2));
        assert_eq!(level(&["--debug=-1"]), Some(-1));
        assert_eq!(level(&["--debug", "2", "-d"]), Some(3));
        assert_eq!(
            level(&["--debug=9223372036854775807", "-d"]),
            Some(i64::MAX)
        );
    }

    /// A check that freed its bodies and must parse the config again reads it from the text
    /// it read the first time: a file changed in between makes no difference.
    #[test]
    fn a_config_parsed_again_is_the_text_first_read() {
        let mut text = String::from("loadmodule \"pv.so\"\nrequest_route { route(R0); }\n");
        for i in 0..2000 {
            text.push_str(&format!("route[R{i}] {{ $var(x) = {i} + $var(x); }}\n"));
        }
        // A flag after the routes: the early checks' context is not the whole config's.
        text.push_str("flags LATE;\n");
        let path = std::env::temp_dir().join(format!("siprouter-again-{}.cfg", std::process::id()));
        std::fs::write(&path, &text).expect("temp file");
        let opts = LexOptions::default();
        let cli = cli(&["-c", "-f", &path.to_string_lossy()]);
        let (parsed, _, early) = load_for_check(&cli, &opts);
        // On two cores or more (one core parses in one piece, with nothing checked early).
        assert_eq!(
            early.is_some(),
            cfg_lexer::cores().is_some_and(|n| n >= 2),
            "checked early"
        );
        if let Some(early) = early {
            let rc = core_routing::RouterConfig {
                sockets: Vec::new(),
                aliases: Vec::new(),
                modules: Vec::new(),
            };
            let verdict = core_routing::early::check_with_early(
                &parsed.config,
                &rc,
                Some(parsed.sources()),
                &early,
            );
            assert!(verdict.is_none(), "the freed bodies are needed");
        }
        std::fs::write(&path, "request_route {").expect("temp file");
        let again = parse_again(&parsed, &opts);
        let _ = std::fs::remove_file(&path);
        assert!(!again.has_errors(), "{:?}", again.errors().next());
        let whole = cfg_parser::parse_str(&path.to_string_lossy(), &text, &opts);
        assert_eq!(again.config, whole.config);
    }
}
