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
//! `--dump-ast`; `tokio` for the runtime the transport runs on.

mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use cfg_lexer::{FsLoader, LexOptions};
use cfg_parser::Parsed;
use clap::Parser;
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
    /// Workers per socket (overrides `children`).
    #[arg(short = 'n', value_name = "N")]
    children: Option<u32>,
    /// Raise the log level by one (repeatable).
    #[arg(short = 'd', action = clap::ArgAction::Count)]
    debug: u8,
    /// Accepted for Kamailio compatibility: siprouter always stays in the foreground.
    #[arg(short = 'D', action = clap::ArgAction::Count)]
    foreground: u8,
    /// Log to stderr (siprouter always does; accepted for Kamailio compatibility).
    #[arg(short = 'E')]
    log_stderr: bool,
    /// Colour the log (accepted; the log is plain text).
    #[arg(short = 'e')]
    log_color: bool,
    /// Module path: accepted and ignored (siprouter's modules are built in).
    #[arg(short = 'L', value_name = "DIR")]
    module_path: Option<String>,
    /// Kamailio's private memory size (MB): accepted and ignored.
    #[arg(short = 'M', value_name = "MB")]
    pkg_mem: Option<String>,
    /// Kamailio's shared memory size (MB): accepted and ignored.
    #[arg(short = 'm', value_name = "MB")]
    shm_mem: Option<String>,
    /// Kamailio's memory manager: accepted and ignored.
    #[arg(short = 'x', value_name = "NAME")]
    mem_manager: Option<String>,
    /// Kamailio's runtime directory: accepted and ignored.
    #[arg(short = 'Y', value_name = "DIR")]
    run_dir: Option<String>,
    /// Print the version and the built-in features, then exit.
    #[arg(short = 'V', visible_short_alias = 'v')]
    version: bool,
}

/// What `-V`/`-v` prints after the version line.
const FEATURES: &str = "transports: udp tcp tls quic
\
modules: sl maxfwd sanity rr siputils textops xlog pv (ctl jsonrpcs kex corex cfg_rpc accepted)
\
tls: rustls (ring)";

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!("siprouter {}\n{FEATURES}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let ignored = [
        ("-L", cli.module_path.is_some(), "modules are built in"),
        ("-M", cli.pkg_mem.is_some(), "memory is managed by Rust"),
        ("-m", cli.shm_mem.is_some(), "memory is managed by Rust"),
        ("-x", cli.mem_manager.is_some(), "memory is managed by Rust"),
        ("-Y", cli.run_dir.is_some(), "no runtime directory is used"),
    ];
    for (opt, given, why) in ignored {
        if given {
            eprintln!(
                "siprouter: note: {opt} is accepted for Kamailio compatibility and ignored ({why})"
            );
        }
    }
    let mut opts = LexOptions::default();
    for d in &cli.defines {
        let (name, value) = match d.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (d.clone(), None),
        };
        opts.defines.push((name, value));
    }
    let (parsed, name) = load(&cli, &opts);
    for d in &parsed.diagnostics {
        eprint!("{}", d.render_pretty(parsed.sources()));
    }
    let errors = parsed.errors().count();
    if errors > 0 {
        eprintln!("siprouter: {name}: {errors} error(s); the configuration is not valid");
        return ExitCode::FAILURE;
    }
    if cli.dump_ast {
        return match serde_json::to_string_pretty(&parsed.config) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("siprouter: cannot serialise the AST: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let listen_args = match socket_info::parse_listen_args(&cli.listen) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("siprouter: bad -l address specifier: {e}");
            return ExitCode::FAILURE;
        }
    };
    let socket_opts = Options {
        sctp_supported: SystemNetwork::sctp_supported(),
        children: cli.children,
        ..Options::default()
    };
    let sockets = match socket_info::build(
        &parsed.config.items,
        &listen_args,
        &socket_opts,
        &SystemNetwork,
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}", e.render(parsed.sources()));
            eprintln!("siprouter: {name}: the sockets cannot be set up");
            return ExitCode::FAILURE;
        }
    };
    for w in &sockets.warnings {
        eprintln!("{}", w.render(parsed.sources()));
    }
    // The route script is compiled once, now: its errors are check-time errors.
    let _router = match core_routing::Router::new(&parsed.config, router_config(&sockets, None)) {
        Ok((router, warnings)) => {
            for w in &warnings {
                eprintln!(
                    "{}: warning: {}",
                    parsed.sources().location(w.span),
                    w.message
                );
            }
            router
        }
        Err(e) => {
            eprintln!(
                "{}: error: {}",
                parsed.sources().location(e.span),
                e.message
            );
            eprintln!("siprouter: {name}: the route script cannot be compiled");
            return ExitCode::FAILURE;
        }
    };
    if cli.dump_sockets {
        println!("{}", socket_info::dump_json(&sockets, parsed.sources()));
        return ExitCode::SUCCESS;
    }
    print!("{}", socket_info::listing(&sockets));
    if cli.check {
        eprintln!("config file ok, exiting...");
        return ExitCode::SUCCESS;
    }
    let reload = serve::Reload {
        path: cli.config.clone(),
        opts,
        debug_raise: i64::from(cli.debug),
        listen_args,
        socket_opts,
    };
    serve::run(&parsed, &sockets, reload)
}

/// What the router needs to know about the sockets: each socket in the order the transport
/// numbers them (the bound sockets when serving, the resolved records for `-c`), how it names
/// itself, and the names that count as "myself".
pub(crate) fn router_config(
    sockets: &socket_info::Sockets,
    bound: Option<&[std::sync::Arc<transport::LocalSocket>]>,
) -> core_routing::RouterConfig {
    use core_routing::Transport;
    let mut rc = core_routing::RouterConfig::default();
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

/// Parses the config again for a reload (quietly: no "bundled" notice).
pub(crate) fn load_for_reload(
    path: Option<&std::path::Path>,
    opts: &LexOptions,
) -> (Parsed, String) {
    match path {
        Some(p) => (
            cfg_parser::parse_file(p, opts, &FsLoader),
            p.display().to_string(),
        ),
        None if std::path::Path::new(DEFAULT_CONFIG_PATH).is_file() => (
            cfg_parser::parse_file(DEFAULT_CONFIG_PATH.as_ref(), opts, &FsLoader),
            DEFAULT_CONFIG_PATH.into(),
        ),
        None => {
            let name = "<bundled siprouter.cfg>";
            (
                cfg_parser::parse_str(name, BUNDLED_CONFIG, opts),
                name.into(),
            )
        }
    }
}

/// Parses the config named by `-f`, the default path, or the bundled config.
fn load(cli: &Cli, opts: &LexOptions) -> (Parsed, String) {
    if let Some(path) = &cli.config {
        return (
            cfg_parser::parse_file(path, opts, &FsLoader),
            path.display().to_string(),
        );
    }
    let default = PathBuf::from(DEFAULT_CONFIG_PATH);
    if default.is_file() {
        return (
            cfg_parser::parse_file(&default, opts, &FsLoader),
            DEFAULT_CONFIG_PATH.into(),
        );
    }
    eprintln!("siprouter: {DEFAULT_CONFIG_PATH} does not exist; using the bundled configuration");
    let name = "<bundled siprouter.cfg>";
    (
        cfg_parser::parse_str(name, BUNDLED_CONFIG, opts),
        name.into(),
    )
}
