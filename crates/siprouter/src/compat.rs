//! Kamailio's command-line options that have no siprouter option of their own (see
//! `../shared/spec/cli-and-startup.md` §1): each is checked as Kamailio checks it, then it
//! either changes what it changes in Kamailio (`-T`, `-a`, `-N`, `-w`, `-t`, `-G`,
//! `--alias`, `--debug`, `--log-engine=json`, `--cfg-print`) or is accepted with a note on
//! stderr saying why it changes nothing here. A command line written for Kamailio starts
//! siprouter or fails with Kamailio's reason; it is never silently half-applied.

use std::path::PathBuf;

use cfg_lexer::SubstKind;
use socket_info::{ListenArg, Proto};

/// The Kamailio options, as clap reads them (flattened into the binary's options).
#[derive(Debug, Default, clap::Args)]
pub(crate) struct Compat {
    /// Set the debug level (overrides `debug=`; each `-d` raises it by one more, whatever
    /// their order: Kamailio applies the two in command-line order).
    #[arg(long = "debug", value_name = "N", allow_negative_numbers = true)]
    debug_level: Option<String>,
    /// Disable TCP and so TLS (overrides `disable_tcp`).
    #[arg(short = 'T')]
    pub(crate) disable_tcp: bool,
    /// Disable SCTP (siprouter has no SCTP: accepted).
    #[arg(short = 'S')]
    pub(crate) disable_sctp: bool,
    /// Accept loops per TCP/TLS socket (overrides `tcp_children`; refused when TCP is
    /// disabled, by the config or `-T`).
    #[arg(short = 'N', value_name = "N", allow_negative_numbers = true)]
    tcp_children: Option<String>,
    /// SCTP workers: refused, as Kamailio refuses it while SCTP is not enabled.
    #[arg(short = 'Q', value_name = "N")]
    sctp_children: Option<String>,
    /// TCP poll method (`poll`, `epoll_lt`, `epoll_et`, `sigio_rt`, `select`, in any case):
    /// checked, then ignored (the runtime polls with epoll).
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
    #[arg(short = 'O', value_name = "N", allow_negative_numbers = true)]
    opt_level: Option<String>,
    /// Print the build's internals (paths, limits, features) and exit.
    #[arg(short = 'I')]
    pub(crate) internals: bool,
    /// Add an alias, `[proto:]host[:port]` (repeatable; also `--domain`).
    #[arg(long = "alias", visible_alias = "domain", value_name = "ALIAS")]
    aliases: Vec<String>,
    /// A substitution rule applied before the config's `#!subst` rules (repeatable).
    #[arg(long = "subst", value_name = "EXP")]
    subst: Vec<String>,
    /// A `#!substdef` rule given before the config (repeatable).
    #[arg(long = "substdef", value_name = "EXP")]
    substdef: Vec<String>,
    /// A `#!substdefs` rule given before the config (repeatable).
    #[arg(long = "substdefs", value_name = "EXP")]
    substdefs: Vec<String>,
    /// Load a module before the config (repeatable): `MOD_<name>` is defined and its
    /// functions and `modparam`s work without a `loadmodule` line.
    #[arg(long = "loadmodule", value_name = "NAME")]
    loadmodules: Vec<String>,
    /// Set a module parameter before the config, `MOD:PARAM:TYPE:VALUE` (TYPE `s` for a
    /// string, `i` for an integer; MOD a regular expression, as in `modparam`): read as a
    /// `modparam(...)` line before the config's first, for modules given with `--loadmodule`.
    #[arg(long = "modparam", value_name = "MOD:PARAM:TYPE:VALUE")]
    modparams: Vec<String>,
    /// Kamailio's server id: checked, then ignored (no siprouter module uses it).
    #[arg(long = "server-id", value_name = "N", allow_negative_numbers = true)]
    server_id: Option<String>,
    /// Kamailio's instance unique id: accepted and ignored (no siprouter module uses it).
    #[arg(long = "iuid", value_name = "ID")]
    iuid: Option<String>,
    /// Kamailio's `--cfg-print`: prints what `--print-expanded` prints (defines substituted).
    #[arg(long = "cfg-print")]
    pub(crate) cfg_print: bool,
    /// Run library atexit handlers (a value starting with `y`, `1`, `n` or `0`): checked,
    /// then ignored.
    #[arg(long = "atexit", value_name = "V")]
    atexit: Option<String>,
    /// Report every config error, not just the first (siprouter always does).
    #[arg(long = "all-errors")]
    all_errors: bool,
    /// Kamailio's structured log engine: `json[:FLAGS]` logs JSON lines (as
    /// `--log-format json`); the flags, and other engines, are ignored with a note.
    #[arg(long = "log-engine", value_name = "NAME[:DATA]")]
    log_engine: Option<String>,
    /// Module path: accepted and ignored (siprouter's modules are built in).
    #[arg(short = 'L', value_name = "DIR")]
    module_path: Option<String>,
    /// Kamailio's private memory size (MB, 1 to 1048576): checked, then ignored.
    #[arg(short = 'M', value_name = "MB")]
    pkg_mem: Option<String>,
    /// Kamailio's shared memory size (MB, 1 to 16777216): checked, then ignored.
    #[arg(short = 'm', value_name = "MB")]
    shm_mem: Option<String>,
    /// Kamailio's shared memory manager (fm, qm, tlsf): checked, then ignored.
    #[arg(short = 'x', value_name = "NAME")]
    mem_manager: Option<String>,
    /// Kamailio's private memory manager (fm, qm, tlsf): checked, then ignored.
    #[arg(short = 'X', value_name = "NAME")]
    pkg_mem_manager: Option<String>,
    /// Kamailio's runtime directory: accepted and ignored.
    #[arg(short = 'Y', value_name = "DIR")]
    run_dir: Option<String>,
    /// Words that are no option: ignored with a note, as Kamailio ignores them (a first
    /// argument `start`, `stop` or `restart` is refused before, see [`refused_first`]).
    #[arg(hide = true, value_name = "WORD")]
    words: Vec<String>,
}

/// What the checked options change.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Effects {
    /// `-a`.
    pub(crate) auto_aliases: Option<bool>,
    /// `--debug`.
    pub(crate) debug_level: Option<i64>,
    /// `--log-engine=json`.
    pub(crate) log_json: bool,
    /// `--alias` / `--domain` values.
    pub(crate) aliases: Vec<ListenArg>,
    /// `--loadmodule` names (`sl` for `sl.so` or a path to it), each available.
    pub(crate) modules: Vec<String>,
    /// `--modparam` values as config lines, each with its option as its source's name.
    pub(crate) prelude: Vec<(String, String)>,
    /// `-N` as given: checked by [`tcp_children`] once the config is read.
    pub(crate) tcp_children: Option<String>,
    /// Notes for stderr: options accepted that change nothing here, and why.
    pub(crate) notes: Vec<String>,
}

/// Kamailio's `-W` names on Linux.
const POLL_METHODS: [&str; 5] = ["poll", "epoll_lt", "epoll_et", "sigio_rt", "select"];

impl Compat {
    /// Checks every option as Kamailio does (its messages, where it has one) and says what
    /// they change. `Err` is the message to print before exiting.
    pub(crate) fn check(&self) -> Result<Effects, String> {
        let mut fx = Effects {
            tcp_children: self.tcp_children.clone(),
            ..Effects::default()
        };
        if !self.words.is_empty() {
            fx.notes.push(format!(
                "ignoring arguments that are no option: {}",
                self.words.join(" ")
            ));
        }
        if let Some(d) = &self.debug_level {
            fx.debug_level = Some(strtol(d).ok_or_else(|| format!("bad debug level value: {d}"))?);
        }
        if let Some(n) = &self.sctp_children {
            return Err(format!(
                "could not configure SCTP children: -Q {n}\nSCTP support disabled"
            ));
        }
        if let Some(m) = &self.poll_method {
            if !POLL_METHODS.iter().any(|p| p.eq_ignore_ascii_case(m)) {
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
                .map_err(|_| format!("bad server_id value: {id}"))?;
            fx.notes.push(format!(
                "--server-id={id} is accepted and ignored (no siprouter module uses it)"
            ));
        }
        if let Some(v) = &self.atexit {
            if !matches!(v.bytes().next(), Some(b'y' | b'1' | b'n' | b'0')) {
                return Err(format!("bad atexit value: {v}"));
            }
        }
        if let Some(engine) = &self.log_engine {
            let (name, data) = engine.split_once(':').unwrap_or((engine, ""));
            if name.eq_ignore_ascii_case("json") {
                fx.log_json = true;
                if !data.is_empty() {
                    fx.notes.push(format!(
                        "--log-engine flags `{data}` are ignored (siprouter's JSON lines have one layout)"
                    ));
                }
            } else {
                fx.notes.push(format!(
                    "--log-engine={engine} is ignored (siprouter has the json engine only)"
                ));
            }
        }
        for a in &self.aliases {
            fx.aliases.push(alias(a)?);
        }
        for p in &self.modparams {
            fx.prelude
                .push((format!("--modparam={p}"), modparam_line(p)?));
        }
        for m in &self.loadmodules {
            let base = m.rsplit('/').next().unwrap_or(m);
            let name = base.strip_suffix(".so").unwrap_or(base);
            if !core_routing::module_available(name) {
                return Err(format!(
                    "--loadmodule={m}: module `{name}` is not available in siprouter"
                ));
            }
            if fx.modules.iter().any(|n| n == name) {
                return Err(format!(
                    "--loadmodule={m}: module `{name}` is loaded already; Kamailio refuses to load a module twice"
                ));
            }
            if core_routing::management_module(name) {
                fx.notes.push(format!(
                    "--loadmodule={m}: module `{name}` provides management interfaces (RPC, MI) that siprouter does not offer"
                ));
            }
            fx.modules.push(name.to_string());
        }
        if let Some(m) = &self.shm_mem {
            mem_size("-m", "shmem size", m, 16_777_216)?;
        }
        if let Some(m) = &self.pkg_mem {
            mem_size("-M", "private mem size", m, 1_048_576)?;
        }
        for (opt, manager) in [("-x", &self.mem_manager), ("-X", &self.pkg_mem_manager)] {
            if let Some(m) = manager.as_deref().filter(|m| !MEM_MANAGERS.contains(m)) {
                return Err(format!(
                    "bad memory manager: {opt} {m} (Kamailio has fm, qm and tlsf)"
                ));
            }
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
            (
                "--atexit",
                self.atexit.is_some(),
                "siprouter runs no library exit handlers of its own",
            ),
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
        // `--all-errors` is what siprouter does anyway: no note (`-S` goes to the sockets).
        let _ = self.all_errors;
        Ok(fx)
    }
}

impl Compat {
    /// The `--subst`, `--substdef` and `--substdefs` rules in command-line order (the order
    /// Kamailio applies them in), from the values and their positions in `matches`.
    pub(crate) fn substs(&self, matches: &clap::ArgMatches) -> Vec<(SubstKind, String)> {
        let mut rules: Vec<(usize, SubstKind, String)> = Vec::new();
        for (id, kind, values) in [
            ("subst", SubstKind::Subst, &self.subst),
            ("substdef", SubstKind::SubstDef, &self.substdef),
            ("substdefs", SubstKind::SubstDefs, &self.substdefs),
        ] {
            // Without positions (no such argument in `matches`) they go last, in order.
            let positions = matches
                .try_get_raw(id)
                .ok()
                .flatten()
                .and_then(|_| matches.indices_of(id))
                .map(Iterator::collect::<Vec<_>>)
                .unwrap_or_default();
            for (i, rule) in values.iter().enumerate() {
                let at = positions.get(i).copied().unwrap_or(usize::MAX);
                rules.push((at, kind, rule.clone()));
            }
        }
        rules.sort_by_key(|(at, ..)| *at);
        rules.into_iter().map(|(_, k, r)| (k, r)).collect()
    }
}

/// A `--modparam` value as the `modparam(...)` line it stands for. Kamailio allows 255
/// bytes; the value keeps its `:`s. An `i` value must be a whole integer (Kamailio takes
/// the leading digits of `12x` and 0 for ` 5`).
fn modparam_line(arg: &str) -> Result<String, String> {
    let bad = |why: &str| format!("bad --modparam value '{arg}': {why}");
    if arg.len() > 255 {
        return Err(bad("longer than 255 bytes"));
    }
    let mut parts = arg.splitn(4, ':');
    let (Some(module), Some(param), Some(kind), Some(value)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("expected MOD:PARAM:TYPE:VALUE"));
    };
    if module.is_empty() || param.is_empty() {
        return Err(bad("empty module or parameter name"));
    }
    let value = match kind {
        "i" | "I" => value
            .trim()
            .parse::<i64>()
            .map_err(|_| bad("TYPE i needs an integer"))?
            .to_string(),
        "s" | "S" => cfg_lexer::quoted(value),
        _ => return Err(bad("TYPE is s (string) or i (integer)")),
    };
    Ok(format!(
        "modparam({}, {}, {value})\n",
        cfg_lexer::quoted(module),
        cfg_lexer::quoted(param)
    ))
}

/// Kamailio's first check of all: a first argument `start`, `stop` or `restart` (any case)
/// is refused, before any option is read. The message, when refused.
pub(crate) fn refused_first(first: Option<&str>) -> Option<String> {
    let first = first?;
    ["start", "stop", "restart"]
        .iter()
        .any(|w| w.eq_ignore_ascii_case(first))
        .then(|| format!("'{first}' is not a supported argument"))
}

/// Kamailio's memory managers (`-x`, `-X`), with the longer names it takes for them.
const MEM_MANAGERS: [&str; 8] = [
    "fm",
    "qm",
    "tlsf",
    "f_malloc",
    "fmalloc",
    "q_malloc",
    "qmalloc",
    "tlsf_malloc",
];

/// `-m` or `-M`: a number of megabytes, `1..=max`, in Kamailio's words when it is not.
fn mem_size(opt: &str, what: &str, value: &str, max: i64) -> Result<(), String> {
    let n = strtol(value).ok_or_else(|| format!("bad {what} number: {opt} {value}"))?;
    if !(1..=max).contains(&n) {
        return Err(format!("out of limits {what} number: {opt} {value}"));
    }
    Ok(())
}

/// The `-A NAME[=VALUE]` defines in order; Kamailio refuses an empty name and a name given
/// twice (`error at define param: -A X`).
pub(crate) fn defines(args: &[String]) -> Result<Vec<(String, Option<String>)>, String> {
    let mut out: Vec<(String, Option<String>)> = Vec::with_capacity(args.len());
    for d in args {
        let (name, value) = match d.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (d.clone(), None),
        };
        if name.is_empty() || out.iter().any(|(n, _)| *n == name) {
            return Err(format!("error at define param: -A {d}"));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// Kamailio prints its help when any option's argument is literally `-h`, not only for `-h`
/// itself: whether the command line (program name first) asks for the help text. The
/// argument may be a word of its own (`-f -h`) or attached (`-A-h`, `--alias=-h`); after
/// `--` every word is a plain word.
pub(crate) fn asks_for_help(args: &[std::ffi::OsString]) -> bool {
    for word in args.iter().skip(1).filter_map(|a| a.to_str()) {
        if word == "--" {
            return false;
        }
        let attached = match word.strip_prefix("--") {
            Some(long) => long.split_once('=').is_some_and(|(_, v)| v == "-h"),
            None => word.len() == 4 && word.starts_with('-') && word.ends_with("-h"),
        };
        if word == "-h" || attached {
            return true;
        }
    }
    false
}

/// What a command line clap cannot read gets, as Kamailio words it where it has words for
/// it (an unknown option, an option without its argument), clap's own message otherwise.
/// Kamailio exits with status 255 for each of them; `None` for the help and version
/// requests, which are no errors.
pub(crate) fn usage_error(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    // clap names the option with its value's placeholder (`-f <FILE>`): the option alone.
    let option = || match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.split(' ').next().map(str::to_string),
        _ => None,
    };
    let missing_value = matches!(
        e.get(ContextKind::InvalidValue),
        Some(ContextValue::String(v)) if v.is_empty()
    );
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => None,
        ErrorKind::UnknownArgument => Some(match option() {
            Some(o) => format!("Unknown option '{o}'. Use -h for help."),
            None => e.to_string(),
        }),
        ErrorKind::InvalidValue if missing_value => Some(match option() {
            Some(o) => format!("Option '{o}' requires an argument. Use -h for help."),
            None => e.to_string(),
        }),
        _ => Some(e.to_string()),
    }
}

/// A numeric option's value as Kamailio reads it with C's `strtol(arg, &end, 10)` and then
/// refuses anything left over (`*end != 0`): C's blanks (space, `\t`, `\n`, `\v`, `\f`,
/// `\r`) and one sign may come first, then at least one digit and nothing else; an empty
/// word is 0 (`strtol` reads no digit and leaves `end` on the terminating NUL), and a value
/// past `long`'s range is clamped to it, as `strtol` clamps.
fn strtol(arg: &str) -> Option<i64> {
    if arg.is_empty() {
        return Some(0);
    }
    let word = arg.trim_start_matches([' ', '\t', '\n', '\u{b}', '\u{c}', '\r']);
    let (negative, digits) = match word.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, word.strip_prefix('+').unwrap_or(word)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let clamp = if negative { i64::MIN } else { i64::MAX };
    Some(digits.bytes().fold(0i64, |n, b| {
        let d = i64::from(b - b'0');
        let next = n.checked_mul(10);
        let next = if negative {
            next.and_then(|n| n.checked_sub(d))
        } else {
            next.and_then(|n| n.checked_add(d))
        };
        next.unwrap_or(clamp)
    }))
}

/// `-b` or `-B` (`opt`), checked once the config is read (as Kamailio does): the size UDP
/// receive or send buffers are grown to, 0 keeping the system's size. Read by [`strtol`];
/// Kamailio then stores it in an `unsigned int`, so a negative number counts modulo 2^32
/// (`-1` is the largest size: the kernel's limit). Above 2^32 - 1 Kamailio's store wraps too
/// (2^32 would be 0, the system's size); siprouter takes the largest size instead.
pub(crate) fn udp_buffer(opt: &str, arg: &str) -> Result<usize, String> {
    let n = strtol(arg).ok_or_else(|| format!("bad max buffer size number: {opt} {arg}"))?;
    let size = if n < 0 {
        // C's conversion of a negative `long` to `unsigned int`: the value modulo 2^32.
        n.rem_euclid(1 << 32)
    } else {
        n.min(i64::from(u32::MAX))
    };
    // At most 2^32 - 1 by now, which every `usize` of a supported target holds.
    Ok(usize::try_from(size).unwrap_or(usize::MAX))
}

/// `-n`, checked once the config is read (as Kamailio does): a whole number ([`strtol`]).
/// Zero or less means Kamailio's default of [`socket_info::CHILD_NO`] workers per socket,
/// not the config's `children`.
pub(crate) fn udp_children(arg: &str) -> Result<u32, String> {
    let bad = || format!("bad process number: -n {arg}");
    let n = strtol(arg).ok_or_else(bad)?;
    if n <= 0 {
        return Ok(socket_info::CHILD_NO);
    }
    u32::try_from(n).map_err(|_| bad())
}

/// `-N`, checked once the config is read (as Kamailio does it, after the config): refused
/// while TCP is disabled (by `disable_tcp=yes` or `-T`), else the number of accept loops
/// ([`strtol`]; 0 for zero or less, which means as many as `children`).
pub(crate) fn tcp_children(arg: &str, tcp_enabled: bool) -> Result<u32, String> {
    if !tcp_enabled {
        return Err(format!(
            "could not configure TCP children: -N {arg}\nTCP support disabled"
        ));
    }
    // Zero or less: as many as `children` (Kamailio's `tcp_children` of 0 or less).
    let bad = || format!("bad process number: -N {arg}");
    let n = strtol(arg).ok_or_else(bad)?;
    u32::try_from(n.max(0)).map_err(|_| bad())
}

/// An `--alias` value: `[proto:]host[:port]`, read as the address part of `-l` is. Kamailio
/// reads it whole (no `/` fields, no `(a, b)` list, `sctp:` allowed); siprouter refuses
/// those, which could never match a request here.
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
            "--log-engine=JSON",
            "--debug= 2",
            "--domain=tcp:x.example:5070",
        ])
        .expect("valid");
        assert_eq!(fx.auto_aliases, Some(false));
        assert_eq!(fx.tcp_children.as_deref(), Some("3"));
        assert_eq!(fx.debug_level, Some(2));
        assert!(fx.log_json);
        assert_eq!(fx.aliases.len(), 1);
        assert_eq!(fx.aliases[0].hosts, ["x.example"]);
        assert_eq!(fx.aliases[0].port, 5070);
        assert_eq!(fx.aliases[0].proto, Some(Proto::Tcp));
        assert!(fx.notes.is_empty(), "{:?}", fx.notes);
        assert_eq!(check(&["-a", "on"]).map(|f| f.auto_aliases), Ok(Some(true)));
        assert_eq!(tcp_children("4", true), Ok(4));
    }

    #[test]
    fn kamailio_errors() {
        for (args, want) in [
            (
                &["-a", "maybe"][..],
                "bad auto aliases parameter: maybe (valid on, off, yes, no)",
            ),
            (&["--debug=high"], "bad debug level value: high"),
            (&["-Q", "2"], "could not configure SCTP children: -Q 2"),
            (&["-W", "kqueue"], "bad poll method name: -W kqueue"),
            (&["-O", "fast"], "bad optimization level: -O fast"),
            (&["--server-id=x"], "bad server_id value: x"),
            (&["--atexit=maybe"], "bad atexit value: maybe"),
            (&["--alias=udp:a:b:c"], "Invalid alias value 'udp:a:b:c'"),
            (&["--alias=a.example/b.example"], "Invalid alias value"),
            (&["-m", "x"], "bad shmem size number: -m x"),
            (&["-m", "12abc"], "bad shmem size number: -m 12abc"),
            (&["-m", "0"], "out of limits shmem size number: -m 0"),
            (
                &["-m", "16777217"],
                "out of limits shmem size number: -m 16777217",
            ),
            (&["-M", "x"], "bad private mem size number: -M x"),
            (&["-M-8"], "out of limits private mem size number: -M -8"),
            (
                &["-M", "1048577"],
                "out of limits private mem size number: -M 1048577",
            ),
            (&["-x", "foo"], "bad memory manager: -x foo"),
            (&["-X", "TLSF"], "bad memory manager: -X TLSF"),
            (&["-x", "sm"], "bad memory manager: -x sm"),
        ] {
            let e = check(args).expect_err(want);
            assert!(e.contains(want), "{args:?}: {e}");
        }
        // Their largest values and the three managers pass.
        for args in [
            &["-m", "16777216", "-M", "1048576"][..],
            &["-x", "fm", "-X", "qm"],
            &["-x", "tlsf"],
            &["-x", "q_malloc", "-X", "tlsf_malloc"],
        ] {
            assert!(check(args).is_ok(), "{args:?}");
        }
        let e = tcp_children("02", false).expect_err("TCP disabled");
        assert!(
            e.starts_with("could not configure TCP children: -N 02\n"),
            "{e}"
        );
        assert_eq!(
            tcp_children("x", true),
            Err("bad process number: -N x".into())
        );
        assert_eq!(tcp_children(" +3", true), Ok(3));
        assert_eq!(tcp_children("-1", true), Ok(0));
        assert_eq!(
            tcp_children("99999999999", true),
            Err("bad process number: -N 99999999999".into())
        );
        assert_eq!(udp_children("4"), Ok(4));
        assert_eq!(udp_children(" +4"), Ok(4));
        assert_eq!(udp_children("0"), Ok(socket_info::CHILD_NO));
        assert_eq!(udp_children("-1"), Ok(socket_info::CHILD_NO));
        assert_eq!(udp_children(""), Ok(socket_info::CHILD_NO));
        for bad in ["many", "4x", " ", "-", "4 ", "99999999999"] {
            assert_eq!(
                udp_children(bad),
                Err(format!("bad process number: -n {bad}"))
            );
        }
    }

    #[test]
    fn numbers_are_read_as_c_strtol_reads_them() {
        for (word, n) in [
            ("42", 42),
            ("+42", 42),
            ("-42", -42),
            (" \t\n\u{b}\u{c}\r7", 7),
            ("007", 7),
            ("", 0),
            ("99999999999999999999", i64::MAX),
            ("-99999999999999999999", i64::MIN),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
        ] {
            assert_eq!(strtol(word), Some(n), "{word:?}");
        }
        // No digit, something after the digits, a blank C does not skip, a second sign.
        for word in [
            " ", "-", "+", "x", "4x", "4 ", "\u{a0}4", "+-4", "0x10", "4.0",
        ] {
            assert_eq!(strtol(word), None, "{word:?}");
        }
    }

    #[test]
    fn udp_buffer_sizes_as_kamailio_stores_them() {
        assert_eq!(udp_buffer("-b", "300000"), Ok(300_000));
        assert_eq!(udp_buffer("-b", " 300000"), Ok(300_000));
        assert_eq!(udp_buffer("-b", "0"), Ok(0));
        assert_eq!(udp_buffer("-b", ""), Ok(0));
        // An `unsigned int`: -1 is the largest size, other negatives count modulo 2^32.
        assert_eq!(udp_buffer("-b", "-1"), Ok(4_294_967_295));
        assert_eq!(udp_buffer("-B", "-4294967295"), Ok(1));
        // Past 2^32 - 1 the largest size, where Kamailio's store would wrap.
        assert_eq!(udp_buffer("-b", "4294967296"), Ok(4_294_967_295));
        assert_eq!(udp_buffer("-b", "99999999999999999999"), Ok(4_294_967_295));
        for (opt, bad) in [("-b", "many"), ("-B", "1k"), ("-b", " "), ("-B", "-")] {
            assert_eq!(
                udp_buffer(opt, bad),
                Err(format!("bad max buffer size number: {opt} {bad}"))
            );
        }
    }

    #[test]
    fn defines_from_the_command_line() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            defines(&args(&["A", "B=1", "C="])),
            Ok(vec![
                ("A".into(), None),
                ("B".into(), Some("1".into())),
                ("C".into(), Some(String::new())),
            ])
        );
        for (given, bad) in [
            (&["A", "A"][..], "A"),
            (&["A=1", "A=2"], "A=2"),
            (&["A", "A=2"], "A=2"),
            (&[""], ""),
            (&["=1"], "=1"),
        ] {
            assert_eq!(
                defines(&args(given)),
                Err(format!("error at define param: -A {bad}")),
                "{given:?}"
            );
        }
    }

    #[test]
    fn accepted_options_say_why_they_change_nothing() {
        let fx = check(&[
            "-K",
            "-rR",
            "-W",
            "EPOLL_ET",
            "-O",
            "-1",
            "-m",
            "64",
            "-X",
            "tlsf",
            "-S",
            "--all-errors",
            "--atexit=nope",
            "--log-engine=syslog",
        ])
        .expect("valid");
        let notes = fx.notes.join("\n");
        for opt in [
            "-K ",
            "-r ",
            "-R ",
            "-W EPOLL_ET",
            "-O -1",
            "-m ",
            "-X ",
            "--atexit",
            "--log-engine=syslog",
        ] {
            assert!(notes.contains(opt), "no note for {opt}: {notes}");
        }
        assert_eq!(fx.notes.len(), 9, "{notes}");
        assert!(!fx.log_json);
    }

    #[test]
    fn substitution_rules_keep_their_command_line_order() {
        use clap::{CommandFactory, FromArgMatches};
        let m = Cli::command()
            .try_get_matches_from([
                "siprouter",
                "--substdef=!A!1!",
                "--subst=/x/y/",
                "--substdefs",
                "!B!2!",
                "--subst=/y/z/",
            ])
            .expect("valid");
        let cli = Cli::from_arg_matches(&m).expect("valid");
        assert_eq!(
            cli.compat.substs(&m),
            [
                (SubstKind::SubstDef, "!A!1!".to_string()),
                (SubstKind::Subst, "/x/y/".to_string()),
                (SubstKind::SubstDefs, "!B!2!".to_string()),
                (SubstKind::Subst, "/y/z/".to_string()),
            ]
        );
    }

    #[test]
    fn modparam_values_become_modparam_lines() {
        assert_eq!(
            modparam_line("sl:bind_tm:i: 0"),
            Ok("modparam(\"sl\", \"bind_tm\", 0)\n".into())
        );
        assert_eq!(
            modparam_line("tls:config:s:/etc/a \"b\"\\c:d"),
            Ok("modparam(\"tls\", \"config\", \"/etc/a \\\"b\\\"\\\\c:d\")\n".into())
        );
        for (arg, why) in [
            ("sl:bind_tm", "expected MOD:PARAM:TYPE:VALUE"),
            ("sl:bind_tm:x:1", "TYPE is s (string) or i (integer)"),
            ("sl:bind_tm:i:one", "TYPE i needs an integer"),
            (":bind_tm:i:1", "empty module or parameter name"),
        ] {
            let e = modparam_line(arg).expect_err(arg);
            assert!(
                e.starts_with(&format!("bad --modparam value '{arg}'")) && e.ends_with(why),
                "{e}"
            );
        }
        let long = format!("sl:p:s:{}", "x".repeat(250));
        assert!(modparam_line(&long).is_err());
    }

    #[test]
    fn words_that_are_no_option() {
        assert_eq!(
            refused_first(Some("Restart")),
            Some("'Restart' is not a supported argument".into())
        );
        assert_eq!(refused_first(Some("-c")), None);
        assert_eq!(refused_first(None), None);
        let fx = check(&["now", "-a", "no", "start"]).expect("ignored");
        assert_eq!(fx.auto_aliases, Some(false));
        assert_eq!(
            fx.notes,
            ["ignoring arguments that are no option: now start"]
        );
    }
}
