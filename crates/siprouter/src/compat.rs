//! Kamailio's command-line options that have no siprouter option of their own (see
//! `../shared/spec/cli-and-startup.md` §1): each is checked as Kamailio checks it, then it
//! either changes what it changes in Kamailio (`-T`, `-a`, `-N`, `-w`, `-t`, `-G`,
//! `--alias`, `--debug`, `--log-engine=json`, `--cfg-print`) or is accepted with a note on
//! stderr saying why it changes nothing here. A command line written for Kamailio starts
//! siprouter or fails with Kamailio's reason; it is never silently half-applied.

use std::path::PathBuf;

use socket_info::{ListenArg, Proto};

/// The Kamailio options, as clap reads them (flattened into the binary's options).
#[derive(Debug, Default, clap::Args)]
pub(crate) struct Compat {
    /// Set the debug level (overrides `debug=`; each `-d` raises it by one more).
    #[arg(long = "debug", value_name = "N", allow_negative_numbers = true)]
    pub(crate) debug_level: Option<i64>,
    /// Disable TCP and so TLS (overrides `disable_tcp`).
    #[arg(short = 'T')]
    pub(crate) disable_tcp: bool,
    /// Disable SCTP (siprouter has no SCTP: accepted).
    #[arg(short = 'S')]
    pub(crate) disable_sctp: bool,
    /// Accept loops per TCP/TLS socket (overrides `tcp_children`).
    #[arg(short = 'N', value_name = "N")]
    tcp_children: Option<String>,
    /// SCTP workers: refused, as Kamailio refuses it while SCTP is not enabled.
    #[arg(short = 'Q', value_name = "N")]
    sctp_children: Option<String>,
    /// TCP poll method (`poll`, `epoll_lt`, `epoll_et`, `sigio_rt`, `select`, `kqueue`,
    /// `/dev/poll`): checked, then ignored (the runtime polls with epoll).
    #[arg(short = 'W', value_name = "METHOD")]
    poll_method: Option<String>,
    /// `check_via=1`: accepted (siprouter always drops a reply whose top Via is not its own).
    #[arg(short = 'K')]
    check_via: bool,
    /// `dns=1`: accepted and ignored (`received=` is decided without DNS lookups).
    #[arg(short = 'r')]
    dns: bool,
    /// `rev_dns=1`: accepted and ignored (`received=` is decided without DNS lookups).
    #[arg(short = 'R')]
    rev_dns: bool,
    /// Auto aliases `on`, `yes`, `off` or `no` (overrides `auto_aliases`).
    #[arg(short = 'a', value_name = "MODE")]
    auto_aliases: Option<String>,
    /// Working directory, entered once the sockets are bound.
    #[arg(short = 'w', value_name = "DIR")]
    pub(crate) work_dir: Option<PathBuf>,
    /// Change root to this directory once the sockets are bound (then `-w` or `/`).
    #[arg(short = 't', value_name = "DIR")]
    pub(crate) chroot_dir: Option<PathBuf>,
    /// Write the process group id to this file (removed again at a clean exit).
    #[arg(short = 'G', value_name = "FILE")]
    pub(crate) pgid_file: Option<PathBuf>,
    /// Kamailio's script optimisation level: checked, then ignored (the script is compiled
    /// once).
    #[arg(short = 'O', value_name = "N")]
    opt_level: Option<String>,
    /// Print the build's internals (paths, limits, features) and exit.
    #[arg(short = 'I')]
    pub(crate) internals: bool,
    /// Add an alias, `[proto:]host[:port]` (repeatable; also `--domain`).
    #[arg(long = "alias", visible_alias = "domain", value_name = "ALIAS")]
    aliases: Vec<String>,
    /// Kamailio's server id: checked, then ignored (no siprouter module uses it).
    #[arg(long = "server-id", value_name = "N", allow_negative_numbers = true)]
    server_id: Option<String>,
    /// Kamailio's instance unique id: accepted and ignored (no siprouter module uses it).
    #[arg(long = "iuid", value_name = "ID")]
    iuid: Option<String>,
    /// Kamailio's `--cfg-print`: prints what `--print-expanded` prints (defines substituted).
    #[arg(long = "cfg-print")]
    pub(crate) cfg_print: bool,
    /// Run library atexit handlers (`y`/`yes`/`1`, `n`/`no`/`0`): checked, then ignored.
    #[arg(long = "atexit", value_name = "V")]
    atexit: Option<String>,
    /// Report every config error, not just the first (siprouter always does).
    #[arg(long = "all-errors")]
    all_errors: bool,
    /// Kamailio's structured log engine: `json[:FLAGS]` logs JSON lines (as
    /// `--log-format json`); the flags are ignored.
    #[arg(long = "log-engine", value_name = "NAME[:DATA]")]
    log_engine: Option<String>,
    /// Module path: accepted and ignored (siprouter's modules are built in).
    #[arg(short = 'L', value_name = "DIR")]
    module_path: Option<String>,
    /// Kamailio's private memory size (MB): accepted and ignored.
    #[arg(short = 'M', value_name = "MB")]
    pkg_mem: Option<String>,
    /// Kamailio's shared memory size (MB): accepted and ignored.
    #[arg(short = 'm', value_name = "MB")]
    shm_mem: Option<String>,
    /// Kamailio's shared memory manager: accepted and ignored.
    #[arg(short = 'x', value_name = "NAME")]
    mem_manager: Option<String>,
    /// Kamailio's private memory manager: accepted and ignored.
    #[arg(short = 'X', value_name = "NAME")]
    pkg_mem_manager: Option<String>,
    /// Kamailio's runtime directory: accepted and ignored.
    #[arg(short = 'Y', value_name = "DIR")]
    run_dir: Option<String>,
}

/// What the checked options change.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Effects {
    /// `-a`.
    pub(crate) auto_aliases: Option<bool>,
    /// `-N`.
    pub(crate) tcp_children: Option<u32>,
    /// `--log-engine=json`.
    pub(crate) log_json: bool,
    /// `--alias` / `--domain` values.
    pub(crate) aliases: Vec<ListenArg>,
    /// Notes for stderr: options accepted that change nothing here, and why.
    pub(crate) notes: Vec<String>,
}

/// Kamailio's `-W` names.
const POLL_METHODS: [&str; 7] = [
    "poll",
    "epoll_lt",
    "epoll_et",
    "sigio_rt",
    "select",
    "kqueue",
    "/dev/poll",
];

impl Compat {
    /// Checks every option as Kamailio does (its messages, where it has one) and says what
    /// they change. `Err` is the message to print before exiting.
    pub(crate) fn check(&self) -> Result<Effects, String> {
        let mut fx = Effects::default();
        if let Some(n) = &self.tcp_children {
            let n: u32 = n
                .parse()
                .map_err(|_| format!("bad process number: -N {n}"))?;
            if self.disable_tcp {
                return Err(format!(
                    "could not configure TCP children: -N {n}\nTCP support disabled"
                ));
            }
            fx.tcp_children = Some(n);
        }
        if let Some(n) = &self.sctp_children {
            return Err(format!(
                "could not configure SCTP children: -Q {n}\nSCTP support disabled"
            ));
        }
        if let Some(m) = &self.poll_method {
            if !POLL_METHODS.contains(&m.as_str()) {
                return Err(format!(
                    "bad poll method name: -W {m}\ntry one of {}.",
                    POLL_METHODS.join(", ")
                ));
            }
            fx.notes.push(format!(
                "-W {m} is accepted and ignored (connections are polled with epoll)"
            ));
        }
        if let Some(a) = &self.auto_aliases {
            fx.auto_aliases = Some(match a.as_str() {
                "on" | "yes" => true,
                "off" | "no" => false,
                _ => {
                    return Err(format!(
                        "bad auto aliases parameter: {a} (valid on, off, yes, no)"
                    ))
                }
            });
        }
        if let Some(o) = &self.opt_level {
            o.parse::<i64>()
                .map_err(|_| format!("bad optimization level: -O {o}"))?;
            fx.notes.push(format!(
                "-O {o} is accepted and ignored (the route script is compiled once)"
            ));
        }
        if let Some(id) = &self.server_id {
            id.parse::<i64>()
                .map_err(|_| format!("bad server id: --server-id={id}"))?;
            fx.notes.push(format!(
                "--server-id={id} is accepted and ignored (no siprouter module uses it)"
            ));
        }
        if let Some(v) = &self.atexit {
            if !matches!(v.as_str(), "y" | "yes" | "1" | "n" | "no" | "0") {
                return Err(format!("bad atexit value: {v}"));
            }
        }
        if let Some(engine) = &self.log_engine {
            match engine.split_once(':').map_or(engine.as_str(), |(n, _)| n) {
                "json" => fx.log_json = true,
                other => return Err(format!("unknown log engine: {other} (siprouter has json)")),
            }
        }
        for a in &self.aliases {
            fx.aliases.push(alias(a)?);
        }
        let ignored = [
            (
                "-K",
                self.check_via,
                "siprouter always drops a reply whose top Via is not its own",
            ),
            ("-r", self.dns, "received= is decided without DNS lookups"),
            (
                "-R",
                self.rev_dns,
                "received= is decided without DNS lookups",
            ),
            ("--iuid", self.iuid.is_some(), "no siprouter module uses it"),
            ("-L", self.module_path.is_some(), "modules are built in"),
            ("-M", self.pkg_mem.is_some(), "memory is managed by Rust"),
            ("-m", self.shm_mem.is_some(), "memory is managed by Rust"),
            (
                "-x",
                self.mem_manager.is_some(),
                "memory is managed by Rust",
            ),
            (
                "-X",
                self.pkg_mem_manager.is_some(),
                "memory is managed by Rust",
            ),
            ("-Y", self.run_dir.is_some(), "no runtime directory is used"),
        ];
        for (opt, given, why) in ignored {
            if given {
                fx.notes.push(format!(
                    "{opt} is accepted for Kamailio compatibility and ignored ({why})"
                ));
            }
        }
        // `-S` and `--all-errors` are what siprouter does anyway: no note.
        let _ = (self.disable_sctp, self.all_errors);
        Ok(fx)
    }
}

/// An `--alias` value: `[proto:]host[:port]`, read as the address part of `-l` is (Kamailio
/// uses the same parser for both).
fn alias(value: &str) -> Result<ListenArg, String> {
    let bad = || format!("Invalid alias value '{value}'");
    let a = socket_info::parse_listen_arg(value).map_err(|_| bad())?;
    if a.multihomed || a.advertise.is_some() || a.name.is_some() {
        return Err(bad());
    }
    if a.proto == Some(Proto::Sctp) {
        return Err(bad());
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        compat: Compat,
    }

    fn check(args: &[&str]) -> Result<Effects, String> {
        let cli = Cli::try_parse_from(std::iter::once("siprouter").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.compat.check()
    }

    #[test]
    fn options_that_change_something() {
        let fx = check(&[
            "-a",
            "no",
            "-N",
            "3",
            "--log-engine=json:M",
            "--domain=tcp:x.example:5070",
        ])
        .expect("valid");
        assert_eq!(fx.auto_aliases, Some(false));
        assert_eq!(fx.tcp_children, Some(3));
        assert!(fx.log_json);
        assert_eq!(fx.aliases.len(), 1);
        assert_eq!(fx.aliases[0].hosts, ["x.example"]);
        assert_eq!(fx.aliases[0].port, 5070);
        assert_eq!(fx.aliases[0].proto, Some(Proto::Tcp));
        assert!(fx.notes.is_empty(), "{:?}", fx.notes);
        assert_eq!(check(&["-a", "on"]).map(|f| f.auto_aliases), Ok(Some(true)));
    }

    #[test]
    fn kamailio_errors() {
        for (args, want) in [
            (
                &["-a", "maybe"][..],
                "bad auto aliases parameter: maybe (valid on, off, yes, no)",
            ),
            (&["-N", "x"], "bad process number: -N x"),
            (&["-T", "-N", "2"], "could not configure TCP children: -N 2"),
            (&["-Q", "2"], "could not configure SCTP children: -Q 2"),
            (&["-W", "kqueue2"], "bad poll method name: -W kqueue2"),
            (&["-O", "fast"], "bad optimization level: -O fast"),
            (&["--atexit=maybe"], "bad atexit value: maybe"),
            (&["--alias=udp:a:b:c"], "Invalid alias value 'udp:a:b:c'"),
            (&["--alias=a.example/b.example"], "Invalid alias value"),
            (&["--log-engine=xml"], "unknown log engine: xml"),
        ] {
            let e = check(args).expect_err(want);
            assert!(e.contains(want), "{args:?}: {e}");
        }
    }

    #[test]
    fn accepted_options_say_why_they_change_nothing() {
        let fx = check(&[
            "-K",
            "-rR",
            "-W",
            "epoll_et",
            "-O",
            "2",
            "-m",
            "64",
            "-X",
            "tlsf",
            "-S",
            "--all-errors",
        ])
        .expect("valid");
        let notes = fx.notes.join("\n");
        for opt in ["-K ", "-r ", "-R ", "-W epoll_et", "-O 2", "-m ", "-X "] {
            assert!(notes.contains(opt), "no note for {opt}: {notes}");
        }
        assert_eq!(fx.notes.len(), 7, "{notes}");
    }
}
