//! Compiling the AST once into an executable form: routes resolved to indexes, variables to
//! accessors, calls bound to their implementation with their arguments checked, constant
//! regular expressions compiled, `xlog` formats split. Every problem is a [`CompileError`]
//! with the config span, so `siprouter -c` reports it, never the first message.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::net::IpAddr;

use cfg_parser::ast::{self, Arg, BinaryOp, Expr as AExpr, Item, RouteKind, Stmt, UnaryOp};
use cfg_parser::lexer::{SourceMap, Span};
use regex::RegexBuilder;

use crate::early::{EarlyBodies, EarlyBody, EarlyChecks, EarlyContext, Usable};
use crate::modparams::{self, ModSettings};
use crate::pv::{self, Pv, PvName};
use crate::select::{self, CfgVars, Select};
use crate::subst::Subst;
use crate::uri_edit::UriPart;
use crate::value::Value;
use crate::{LocalSocket, Transport};

/// A problem found while compiling the script.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    /// What is wrong.
    pub message: String,
    /// Where.
    pub span: Span,
}

fn err<T>(span: Span, message: impl Into<String>) -> Result<T, CompileError> {
    Err(CompileError {
        message: message.into(),
        span,
    })
}

/// The compiled script.
#[derive(Debug, Default)]
pub(crate) struct Program {
    pub(crate) routes: Vec<Block>,
    pub(crate) request: Option<usize>,
    pub(crate) reply: Option<usize>,
    /// `onsend_route`: runs before a forwarded request leaves.
    pub(crate) onsend: Option<usize>,
    pub(crate) worker_init: Option<usize>,
    pub(crate) max_while_loops: i64,
    /// `log_prefix`, evaluated for every line logged while a message is handled.
    pub(crate) log_prefix: Option<Vec<FmtPart>>,
    /// The modules' parameters (`modparam`), with Kamailio's defaults.
    pub(crate) settings: ModSettings,
    /// `udp_mtu`: a UDP request larger than this goes over `udp_mtu_try_proto` (0 = off).
    pub(crate) udp_mtu: usize,
    /// `udp_mtu_try_proto` (core parameter; the function sets it per message).
    pub(crate) udp_mtu_try_proto: Option<Transport>,
    /// Named routes, for `route(expression)`.
    pub(crate) route_names: HashMap<String, usize>,
    /// The script's cfg-framework variables (`group.var = value`), for `@cfg_get`.
    pub(crate) cfg_vars: CfgVars,
}

pub(crate) type Block = Vec<Op>;

/// A statement.
#[derive(Debug)]
pub(crate) enum Op {
    Call(Func),
    Assign(Pv, Expr),
    If(Expr, Block, Block),
    /// Cases in order with their start index into the flattened bodies (fall-through).
    Switch(Expr, Vec<(CaseLabel, usize)>, Vec<Op>),
    While(Expr, Block),
    Return(ast::ReturnKind, Option<Expr>),
    Break,
    Block(Block),
}

/// A compiled regular expression, shared by every place the script uses its pattern and by
/// the threads that run the script. (A `regex::Regex` clone shares the program but makes a
/// new cache pool, a handful of allocations; a check clones one stand-in per pattern.)
pub(crate) type Regex = std::sync::Arc<regex::Regex>;

#[derive(Debug)]
pub(crate) enum CaseLabel {
    Value(Value),
    Regex(Regex),
    Default,
}

/// An expression.
#[derive(Debug)]
pub(crate) enum Expr {
    Const(Value),
    /// Boxed, so that an expression is 32 bytes instead of 72 (an `Op` with its operands
    /// 104 instead of 216, the node of a binary operation 72 instead of 152 bytes).
    Pv(Box<Pv>),
    Legacy(Legacy),
    Unary(UnaryOp, Box<Expr>),
    /// Both operands in one allocation (a large script has tens of thousands).
    Binary(Box<(BinaryOp, Expr, Expr)>),
    /// `x =~ "constant"`: the regex compiled once.
    MatchConst(Box<Expr>, Regex),
    /// `src_ip == 10.0.0.0/8`
    InNet(Box<Expr>, IpAddr, u8),
    /// `uri == myself`, `src_ip == myself`
    Myself(Box<Expr>, bool),
    Call(Box<Func>),
    /// A string with pseudo-variables in it (a module function's argument).
    Format(Vec<FmtPart>),
    Select3(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `@ruri.user`, `@via[2].branch`, … (`@cfg_get` is compiled to a constant).
    Select(Box<Select>),
}

/// Legacy condition operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Legacy {
    Method,
    Uri,
    FromUri,
    ToUri,
    SrcIp,
    SrcPort,
    DstIp,
    DstPort,
    Proto,
    Af,
    MsgLen,
    /// `snd_ip`/`to_ip` in `onsend_route`: where the request goes.
    SndIp,
    /// `snd_port`/`to_port`.
    SndPort,
    /// `snd_proto`.
    SndProto,
    /// `snd_af`/`to_af`.
    SndAf,
    /// `uri:host` (forward's argument): the Request-URI's host.
    UriHost,
    /// `uri:port`: the Request-URI's port.
    UriPort,
}

/// `xlog` format parts.
#[derive(Debug)]
pub(crate) enum FmtPart {
    Lit(String),
    Pv(Pv),
}

/// The host of `forward(host, port)` and its siblings: an IP address the script names is
/// read once, here, so that running the route does not parse the script's text again; any
/// other host (a name, an expression) is evaluated and read for each message.
#[derive(Debug)]
pub(crate) enum HostArg {
    /// The script's text is this address.
    Addr(IpAddr),
    /// A name or an expression.
    Expr(Expr),
}

impl HostArg {
    /// The compiled host for `e`: [`HostArg::Addr`] when it is a constant that reads as
    /// an IP address (exactly when the run-time reading would give one).
    fn new(e: Expr) -> HostArg {
        match &e {
            Expr::Const(Value::Str(s)) => match s.parse::<IpAddr>() {
                Ok(ip) => HostArg::Addr(ip),
                Err(_) => HostArg::Expr(e),
            },
            _ => HostArg::Expr(e),
        }
    }
}

/// A bound function call.
#[derive(Debug)]
pub(crate) enum Func {
    SlSendReply(Expr, Expr),
    SlReplyError,
    Forward(Option<(HostArg, Option<Expr>)>),
    Route(usize),
    /// `route(expression)`: the route named by the value, looked up at run time.
    RouteByName(Expr),
    /// `forward_udp(host[, port])` and its TCP/TLS/SCTP siblings.
    ForwardProto(Transport, HostArg, Option<Expr>),
    /// `sethostport`, `sethostporttrans`, `setuserpass`.
    Rewrite(UriPart, Expr),
    /// kex `setbflag(flag[, branch])`, `resetbflag`, `isbflagset`: branch flags (only
    /// branch 0 exists without transactions).
    SetBFlag(u32, Option<Expr>),
    /// `resetbflag`.
    ResetBFlag(u32, Option<Expr>),
    /// `isbflagset`.
    IsBFlagSet(u32, Option<Expr>),
    /// kex `is_myself(uri)`.
    IsMyself(Expr),
    /// A call that does nothing at run time (`error()`, as in Kamailio).
    Nothing,
    /// textops `has_body([content-type])`.
    HasBody(Option<Expr>),
    /// textops `starts_with(text, prefix)`.
    StartsWith(Expr, Expr),
    /// textops `in_list(subject, list, separator)`.
    InList(Expr, Expr, Expr),
    /// textops `append_urihf(prefix, suffix)`: a header of prefix, Request-URI, suffix.
    AppendUriHf(Expr, Expr),
    /// siputils `is_first_hop()`.
    IsFirstHop,
    /// siputils `options_reply()`: 200 to an OPTIONS for us with the Accept headers.
    OptionsReply,
    /// siputils `is_numeric`, `is_alphanum`, `is_alphanumex`, `is_tel_number`.
    CharClass(Expr, CharClass),
    /// siputils `is_user(name)`: the user name of authorized credentials (there are none
    /// without the auth module; the argument is checked when compiled).
    IsUser,
    /// kex `isdsturiset()`.
    IsDstUriSet,
    /// kex `setdsturi(uri)` / `resetdsturi()`.
    SetDstUri(Option<Expr>),
    /// kex script flags, kept apart from the message flags: `setsflag` (`Some(true)`),
    /// `resetsflag` (`Some(false)`), `issflagset` (`None`).
    ScriptFlag(u32, Option<bool>),
    /// `log([level,] text)` with the call's place in the config.
    Log(i64, Expr, Span),
    /// The `xlog` family with the call's place in the config.
    Xlog(i64, Vec<FmtPart>, Span),
    /// `add_local_rport()`: our own Via asks for `rport` (RFC 3581).
    AddLocalRport,
    /// `set_advertised_address(addr)`: the host of our Via and Record-Route for this message.
    SetAdvertisedAddress(Expr),
    /// `set_advertised_port(port)`: the port of our Via and Record-Route for this message.
    SetAdvertisedPort(Expr),
    SetFlag(u32),
    ResetFlag(u32),
    IsFlagSet(u32),
    MaxFwdProcess(Expr),
    MaxFwdLt(Expr),
    IsMethod(Vec<String>),
    HasTotag,
    /// `record_route([params])`.
    RecordRoute(Option<Expr>),
    /// `record_route_preset(address[, address2])`.
    RecordRoutePreset(Expr, Option<Expr>),
    LooseRoute,
    /// `check_route_param(re)` against the parameters of our Route that loose_route used.
    CheckRouteParam(Regex),
    /// `is_direction("downstream")` (true) or `"upstream"` (false).
    IsDirection(bool),
    AppendHf(Expr),
    RemoveHf(Expr),
    IsPresentHf(Expr),
    SetUri(Expr),
    SetHost(Expr),
    SetUser(Expr),
    SetPort(Expr),
    Prefix(Expr),
    Strip(i64),
    StripTail(i64),
    RevertUri,
    ForceRport,
    PvIsset(Pv),
    PvUnset(Pv),
    SanityCheck,
    Search(Regex),
    IsRequest,
    IsReply,
    AppendToReply(Expr),
    AddRrParam(Expr),
    /// `subst`, `subst_body` (`/re/replacement/flags` on the message or the body).
    Subst(Box<Subst>, Scope),
    /// `subst_uri('/re/replacement/flags')` on the Request-URI.
    SubstUri(Box<Subst>),
    /// `search_body(re)`.
    SearchBody(Regex),
    /// `search_append(re, text)`: `text` after the first match.
    SearchAppend(Regex, Expr),
    /// `insert_hf(header[, before])`.
    InsertHf(Expr, Option<Expr>),
    /// `append_hf(header, after)`: after the first header of that name.
    AppendHfAfter(Expr, Expr),
    /// `replace(re, text)`, `replace_all`, `replace_body`, `replace_body_all`.
    Replace(Regex, Expr, Scope, bool),
    /// `uri_param(name[, value])` on the Request-URI.
    UriParam(Expr, Option<Expr>),
    /// `add_uri_param(param)` to the Request-URI.
    AddUriParam(Expr),
    /// `is_e164(value)`.
    IsE164(Expr),
    /// `is_uri_user_e164(uri)`.
    IsUriUserE164(Expr),
    /// `force_send_socket([proto:]address[:port])`, resolved to a local socket.
    ForceSendSocket(usize),
    /// `udp_mtu_try_proto(proto)`.
    UdpMtuTryProto(Transport),
    /// `force_tcp_alias([port])`.
    ForceTcpAlias(Option<Expr>),
}

/// The character classes of siputils' checks.
#[derive(Debug)]
pub(crate) enum CharClass {
    /// `is_numeric`: decimal digits.
    Digits,
    /// `is_alphanum`: ASCII letters and digits.
    AlphaNum,
    /// `is_alphanumex(text, extra)`: letters, digits and the characters of `extra`.
    AlphaNumEx(Expr),
    /// `is_tel_number`: an optional `+` and a non-zero digit, then digits.
    Tel,
}

/// What a textops edit looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The whole message (start line, headers, body).
    Message,
    /// The body only.
    Body,
}

/// Module functions: `(module, name, accepted argument counts)`.
const MODULE_FUNCS: &[(&str, &str, &[usize])] = &[
    ("sl", "sl_send_reply", &[2]),
    ("sl", "send_reply", &[2]),
    ("sl", "sl_reply_error", &[0]),
    ("maxfwd", "mf_process_maxfwd_header", &[1]),
    ("maxfwd", "is_maxfwd_lt", &[1]),
    ("textops", "is_method", &[1]),
    ("textops", "append_hf", &[1, 2]),
    ("textops", "insert_hf", &[1, 2]),
    ("textops", "search_body", &[1]),
    ("textops", "subst", &[1]),
    ("textops", "subst_uri", &[1]),
    ("textops", "subst_body", &[1]),
    ("textops", "search_append", &[2]),
    ("textops", "replace", &[2]),
    ("textops", "replace_all", &[2]),
    ("textops", "replace_body", &[2]),
    ("textops", "replace_body_all", &[2]),
    ("siputils", "uri_param", &[1, 2]),
    ("siputils", "add_uri_param", &[1]),
    ("siputils", "is_e164", &[1]),
    ("siputils", "is_uri_user_e164", &[1]),
    ("rr", "record_route_preset", &[1, 2]),
    ("rr", "check_route_param", &[1]),
    ("rr", "is_direction", &[1]),
    ("textops", "remove_hf", &[1]),
    ("textops", "is_present_hf", &[1]),
    ("siputils", "has_totag", &[0]),
    ("rr", "record_route", &[0, 1]),
    ("rr", "loose_route", &[0]),
    ("xlog", "xlog", &[1, 2]),
    ("xlog", "xdbg", &[1]),
    ("xlog", "xinfo", &[1]),
    ("xlog", "xnotice", &[1]),
    ("xlog", "xwarn", &[1]),
    ("xlog", "xerr", &[1]),
    ("pv", "pv_isset", &[1]),
    ("pv", "pv_unset", &[1]),
    ("sanity", "sanity_check", &[0, 1, 2]),
    ("textops", "search", &[1]),
    ("textops", "append_to_reply", &[1]),
    ("siputils", "is_request", &[0]),
    ("siputils", "is_reply", &[0]),
    ("rr", "add_rr_param", &[1]),
    ("sl", "sl_reply", &[2]),
    ("sl", "send_reply_error", &[0]),
    ("textops", "has_body", &[0, 1]),
    ("textops", "starts_with", &[2]),
    ("textops", "in_list", &[3]),
    ("textops", "append_urihf", &[2]),
    ("siputils", "is_first_hop", &[0]),
    ("siputils", "options_reply", &[0]),
    ("siputils", "is_numeric", &[1]),
    ("siputils", "is_alphanum", &[1]),
    ("siputils", "is_alphanumex", &[2]),
    ("siputils", "is_tel_number", &[1]),
    ("siputils", "is_user", &[1]),
    ("xlog", "xalert", &[1]),
    ("xlog", "xcrit", &[1]),
    ("xlog", "xbug", &[1]),
    ("kex", "isdsturiset", &[0]),
    ("kex", "setdsturi", &[1]),
    ("kex", "resetdsturi", &[0]),
    ("kex", "setsflag", &[1]),
    ("kex", "resetsflag", &[1]),
    ("kex", "issflagset", &[1]),
    ("kex", "setbflag", &[1, 2]),
    ("kex", "resetbflag", &[1, 2]),
    ("kex", "isbflagset", &[1, 2]),
    ("kex", "is_myself", &[1]),
];

/// The core actions Kamailio allows in `onsend_route` (module functions are allowed too).
const ONSEND_ACTIONS: &[&str] = &["log", "setflag", "resetflag", "isflagset", "route"];

/// Modules that only provide management interfaces: accepted with a warning.
pub(crate) const MANAGEMENT_MODULES: &[&str] = &["ctl", "jsonrpcs", "kex", "corex", "cfg_rpc"];

/// Modules whose work the transport does (`tls`: its `modparam`s configure TLS sockets);
/// loading them is what a Kamailio config does, so they are accepted without a word.
const TRANSPORT_MODULES: &[&str] = &["tls"];

/// Modules that provide script functions we implement.
const SCRIPT_MODULES: &[&str] = &[
    "sl", "maxfwd", "textops", "siputils", "rr", "xlog", "pv", "sanity",
    // Only its selects (`@hf_value…`); its functions are not implemented.
    "textopsx",
];

struct Compiler<'s> {
    mode: Mode,
    /// Compiled regular expressions by (pattern, case-insensitive, multi-line): a pattern
    /// repeated across the script is compiled once.
    regexes: HashMap<(String, bool, bool), Regex>,
    /// A check's one matcher for every pattern, made at the first (see `stand_in`).
    stand_in: Option<Regex>,
    modules: HashSet<String>,
    flags: HashMap<String, u32>,
    /// Shared with the forks that compile parts of the script (read-only once they exist).
    route_names: std::sync::Arc<HashMap<String, usize>>,
    /// The server's sockets, for `force_send_socket`.
    sockets: Vec<LocalSocket>,
    /// Arguments are being compiled for a module function: strings expand variables.
    expand: bool,
    /// The statements being compiled are `onsend_route`'s.
    in_onsend: bool,
    /// The config's sources, for `$cfg(line)` and `$cfg(file)`.
    sources: Option<&'s SourceMap>,
    /// The route block being compiled, for `$cfg(name)`.
    route_name: String,
    /// The first pseudo-variable the script uses that Kamailio's core does not provide (all
    /// but `$rc`, `$retcode`, `$?` come from the pv module), for a warning.
    first_pv_use: std::cell::Cell<Option<Span>>,
    program: Program,
    warnings: Vec<CompileError>,
    /// Set while a body is checked early, before the whole config is known (see
    /// [`crate::early`]): what the check had to assume.
    speculation: Option<Speculation>,
}

/// What a route body checked early had to assume about the rest of the config.
#[derive(Debug, Default)]
pub(crate) struct Speculation {
    /// The route names it calls that the context did not have (they must exist in the end).
    pub(crate) routes: Vec<String>,
}

/// What compiling is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A program to run.
    Build,
    /// Errors and warnings only (`-c`): regular expressions are parsed, not built, and the
    /// compiled route bodies are dropped as soon as they compile (the program has none).
    Check,
}

/// Compiles a parsed config. Returns the program and the warnings.
pub(crate) fn compile(
    config: &ast::Config,
    rc: &crate::RouterConfig,
    sources: Option<&SourceMap>,
    mode: Mode,
) -> Result<(Program, Vec<CompileError>), CompileError> {
    let script = Script {
        config,
        preloaded: &rc.modules,
    };
    compile_in_parts(script, &rc.sockets, sources, mode, None)
}

/// [`compile`] in check mode, taking each route body's outcome from `early` where it holds
/// (see [`crate::early`]).
pub(crate) fn check_with_early(
    config: &ast::Config,
    rc: &crate::RouterConfig,
    sources: Option<&SourceMap>,
    early: &crate::early::EarlyChecks,
) -> Option<Result<Vec<CompileError>, CompileError>> {
    let script = Script {
        config,
        preloaded: &rc.modules,
    };
    let (mut c, bodies) = match prepare(script, &rc.sockets, sources, Mode::Check) {
        Ok(prepared) => prepared,
        Err(e) => return Some(Err(e)),
    };
    let usable = usable(early, &c, &bodies);
    // A body whose statements were freed after its early check has nothing left to compile.
    if early.released && usable.bodies.len() < early.bodies.len() {
        return None;
    }
    Some(finish(&mut c, bodies, None, &usable).map(|()| c.warnings))
}

/// A config and the modules loaded before it (`--loadmodule`).
#[derive(Clone, Copy)]
struct Script<'c> {
    config: &'c ast::Config,
    preloaded: &'c [String],
}

/// Whether siprouter has the module `name`.
pub(crate) fn module_available(name: &str) -> bool {
    [MANAGEMENT_MODULES, TRANSPORT_MODULES, SCRIPT_MODULES]
        .iter()
        .any(|list| list.contains(&name))
}

/// [`compile`], with the route bodies split into `parts` runs (when given) whatever the
/// script's size: for the tests that prove the result does not depend on it.
fn compile_in_parts(
    script: Script<'_>,
    sockets: &[LocalSocket],
    sources: Option<&SourceMap>,
    mode: Mode,
    parts: Option<usize>,
) -> Result<(Program, Vec<CompileError>), CompileError> {
    let (mut c, bodies) = prepare(script, sockets, sources, mode)?;
    finish(&mut c, bodies, parts, &Usable::default())?;
    Ok((c.program, c.warnings))
}

/// The first steps of a compile: the compiler for the config, pass 1 (the route bodies to
/// compile) and the log prefix's check.
fn prepare<'s>(
    script: Script<'s>,
    sockets: &[LocalSocket],
    sources: Option<&'s SourceMap>,
    mode: Mode,
) -> Result<(Compiler<'s>, Vec<Body<'s>>), CompileError> {
    let config = script.config;
    let mut c = Compiler::for_config(config, sockets, sources, mode)?;
    let bodies = c.pass_one(&config.items, script.preloaded)?;
    if let (Some(parts), Some(p)) = (&c.program.log_prefix, config.param_item("log_prefix")) {
        c.check_format(parts, p.value.span)?;
    }
    Ok((c, bodies))
}

/// The rest of a compile after [`prepare`]: the route bodies (each one's outcome taken from
/// `early` where it is there), then what needs them all.
fn finish(
    c: &mut Compiler<'_>,
    bodies: Vec<Body<'_>>,
    parts: Option<usize>,
    early: &Usable<'_>,
) -> Result<(), CompileError> {
    c.compile_bodies(bodies, parts, early)?;
    // The forks are gone: the map is this compiler's alone again and moves without a copy.
    c.program.route_names = std::sync::Arc::unwrap_or_clone(std::mem::take(&mut c.route_names));
    if let (Some(span), false) = (c.first_pv_use.get(), c.modules.contains("pv")) {
        c.warnings.push(CompileError {
            message: "this pseudo-variable (and every other one but $rc/$retcode) comes from the pv module: Kamailio refuses the config without loadmodule \"pv.so\"".into(),
            span,
        });
    }
    Ok(())
}

impl<'s> Compiler<'s> {
    /// A compiler that knows nothing yet: no module, flag, route, socket or setting.
    fn blank(mode: Mode, sources: Option<&'s SourceMap>) -> Self {
        Compiler {
            mode,
            regexes: HashMap::default(),
            stand_in: None,
            modules: HashSet::default(),
            flags: HashMap::default(),
            route_names: Default::default(),
            sockets: Vec::new(),
            expand: false,
            in_onsend: false,
            sources,
            route_name: String::new(),
            first_pv_use: std::cell::Cell::new(None),
            program: Program::default(),
            warnings: Vec::new(),
            speculation: None,
        }
    }

    /// A compiler for `config`, with its global parameters read, before pass 1.
    pub(crate) fn for_config(
        config: &ast::Config,
        sockets: &[LocalSocket],
        sources: Option<&'s SourceMap>,
        mode: Mode,
    ) -> Result<Self, CompileError> {
        let mut c = Compiler {
            sockets: sockets.to_vec(),
            program: Program {
                max_while_loops: config.int_param("max_while_loops").unwrap_or(100),
                udp_mtu: config
                    .int_param("udp_mtu")
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(0),
                udp_mtu_try_proto: udp_mtu_try_proto(config)?,
                cfg_vars: cfg_vars(config),
                ..Program::default()
            },
            ..Compiler::blank(mode, sources)
        };
        c.program.log_prefix = log_prefix(config)?;
        Ok(c)
    }

    /// Pass 1 over `items`: modules in order (after `preloaded`, the `--loadmodule` ones),
    /// module parameters, flags, route slots (so that calls can point at any route), with
    /// their warnings. Returns the route bodies pass 2 compiles, in order.
    pub(crate) fn pass_one<'i>(
        &mut self,
        items: &'i [Item],
        preloaded: &[String],
    ) -> Result<Vec<Body<'i>>, CompileError> {
        let c = self;
        // Modules loaded before the config come first, as Kamailio loads `--loadmodule` ones.
        let mut loaded: Vec<String> = preloaded.to_vec();
        c.modules.extend(loaded.iter().cloned());
        let mut bodies: Vec<Body<'i>> = Vec::new();
        for item in items {
            match item {
                Item::LoadModule(m) => {
                    let name = m.module_name().to_string();
                    if MANAGEMENT_MODULES.contains(&name.as_str()) {
                        let rest = if name == "kex" {
                            "; its script functions setbflag, resetbflag, isbflagset and is_myself are available"
                        } else {
                            "; ignored"
                        };
                        c.warnings.push(CompileError {
                        message: format!(
                            "module `{name}` provides management interfaces (RPC, MI) that siprouter does not offer{rest}"
                        ),
                        span: m.span,
                    });
                    } else if !module_available(&name) {
                        return err(
                            m.path.span,
                            format!("module `{name}` is not available in siprouter"),
                        );
                    }
                    if loaded.contains(&name) {
                        // As Kamailio: a module is loaded once; the `o` option makes a second
                        // `loadmodule` of it a no-op instead of an error.
                        let optional = m
                            .options
                            .as_ref()
                            .is_some_and(|o| o.value.contains(['o', 'O']));
                        if optional {
                            continue;
                        }
                        let before = if preloaded.contains(&name) {
                            "with --loadmodule"
                        } else {
                            "above"
                        };
                        return err(
                        m.path.span,
                        format!("module `{name}` is loaded already ({before}); Kamailio refuses to load a module twice"),
                    );
                    }
                    loaded.push(name.clone());
                    c.modules.insert(name);
                }
                Item::ModParam(p) => {
                    let skip: Vec<&str> = MANAGEMENT_MODULES
                        .iter()
                        .chain(TRANSPORT_MODULES)
                        .copied()
                        .collect();
                    let warnings = modparams::apply(p, &loaded, &skip, &mut c.program.settings)?;
                    c.warnings.extend(warnings);
                }
                Item::Flags(f) => {
                    for (i, d) in f.flags.iter().enumerate() {
                        let pos = d.position.as_ref().map_or(i as i64, |p| p.value);
                        c.flags
                            .insert(d.name.value.clone(), u32::try_from(pos).unwrap_or(0));
                    }
                }
                Item::Route(r) => {
                    if !pass_two_compiles(r) {
                        // Failure and branch routes are valid without tm, as in Kamailio, but
                        // only tm's t_on_failure/t_on_branch arm them, so they never run.
                        let why = if matches!(
                            r.kind,
                            RouteKind::Failure | RouteKind::Branch | RouteKind::Reply
                        ) {
                            "never runs: only transactions (the tm module, which siprouter does not have yet) arm it"
                        } else {
                            "block is not run by siprouter yet"
                        };
                        c.warnings.push(CompileError {
                            message: format!("`{}` {why}; ignored", r.keyword),
                            span: r.span,
                        });
                        continue;
                    }
                    let idx = match (&r.kind, &r.name) {
                        (RouteKind::Request, None) => *c.program.request.get_or_insert_with(|| {
                            c.program.routes.push(Vec::new());
                            c.program.routes.len() - 1
                        }),
                        (RouteKind::Request, Some(n)) => {
                            c.program.routes.push(Vec::new());
                            let idx = c.program.routes.len() - 1;
                            std::sync::Arc::make_mut(&mut c.route_names)
                                .insert(n.value.clone(), idx);
                            idx
                        }
                        (RouteKind::Reply, None) => *c.program.reply.get_or_insert_with(|| {
                            c.program.routes.push(Vec::new());
                            c.program.routes.len() - 1
                        }),
                        (RouteKind::Send, _) => *c.program.onsend.get_or_insert_with(|| {
                            c.program.routes.push(Vec::new());
                            c.program.routes.len() - 1
                        }),
                        (RouteKind::Event, Some(n)) if n.value == "core:worker-one-init" => {
                            c.program.routes.push(Vec::new());
                            let idx = c.program.routes.len() - 1;
                            c.program.worker_init = Some(idx);
                            idx
                        }
                        // `pass_two_compiles` lets only the blocks above through.
                        _ => continue,
                    };
                    bodies.push((idx, &r.body, route_label(r)));
                }
                _ => {}
            }
        }
        Ok(bodies)
    }
}

/// The context pass 1 gives for the items of a config's first piece (see
/// [`crate::early::EarlyContext::from_first_piece`]).
pub(crate) fn early_context(items: &[Item], preloaded: &[String]) -> Option<EarlyContext> {
    let header = ast::Config {
        items: items
            .iter()
            .filter(|item| !matches!(item, Item::Route(_)))
            .cloned()
            .collect(),
    };
    let mut c = Compiler::for_config(&header, &[], None, Mode::Check).ok()?;
    c.pass_one(&header.items, preloaded).ok()?;
    Some(EarlyContext {
        modules: c.modules,
        flags: c.flags,
        settings: c.program.settings,
        cfg_vars: c.program.cfg_vars,
        // Made once for every piece (each piece's compiler would make its own).
        stand_in: regex::Regex::new("").ok().map(std::sync::Arc::new),
    })
}

/// Checks the route bodies among `items` in context `cx` (see [`crate::early`]): those
/// pass 2 would compile, each with what it had to assume; a body with an error is left out.
pub(crate) fn check_early(cx: &EarlyContext, items: &[Item], sources: &SourceMap) -> EarlyBodies {
    let mut c = Compiler {
        stand_in: cx.stand_in.clone(),
        modules: cx.modules.clone(),
        flags: cx.flags.clone(),
        program: Program {
            settings: cx.settings.clone(),
            cfg_vars: cx.cfg_vars.clone(),
            ..Program::default()
        },
        ..Compiler::blank(Mode::Check, Some(sources))
    };
    let mut bodies = Vec::new();
    for item in items {
        let Item::Route(r) = item else {
            continue;
        };
        if !pass_two_compiles(r) {
            continue;
        }
        c.route_name = route_label(r);
        // Pass 1 gives the `onsend_route` slot to every `onsend_route` block, and only to them.
        c.in_onsend = r.kind == RouteKind::Send;
        c.first_pv_use.set(None);
        c.speculation = Some(Speculation::default());
        let checked = c.block(&r.body);
        let warnings = std::mem::take(&mut c.warnings);
        let routes = c.speculation.take().map(|s| s.routes).unwrap_or_default();
        if checked.is_ok() {
            bodies.push(EarlyBody {
                span: r.body.span,
                warnings,
                pv_use: c.first_pv_use.get(),
                routes,
            });
        }
    }
    EarlyBodies {
        bodies,
        released: false,
    }
}

/// How many route bodies of `config` would take their outcome from `early`.
pub(crate) fn usable_count(
    config: &ast::Config,
    rc: &crate::RouterConfig,
    early: &EarlyChecks,
) -> usize {
    let Ok(mut c) = Compiler::for_config(config, &rc.sockets, None, Mode::Check) else {
        return 0;
    };
    let Ok(bodies) = c.pass_one(&config.items, &rc.modules) else {
        return 0;
    };
    let usable = usable(early, &c, &bodies);
    bodies
        .iter()
        .filter(|(_, body, _)| usable.outcome(body.span).is_some())
        .count()
}

/// The early outcomes of `early` that hold for compiler `c` after pass 1 over the whole
/// config, which gave `bodies`: none unless the whole config gives the early context, and of
/// the bodies only those whose called routes all exist. A body is known by its span, and the
/// bodies a define expands to share theirs (`request_route BODY`, `onsend_route BODY`, which
/// are checked differently): no span that names two bodies is used.
fn usable<'e>(early: &'e EarlyChecks, c: &Compiler<'_>, bodies: &[Body<'_>]) -> Usable<'e> {
    let cx = &early.context;
    let same = cx.modules == c.modules
        && cx.flags == c.flags
        && cx.settings == c.program.settings
        && cx.cfg_vars == c.program.cfg_vars;
    if !same {
        return Usable::default();
    }
    // How many bodies of the config, and how many early ones, each span names.
    let mut spans: HashMap<Span, (usize, usize)> =
        HashMap::with_capacity_and_hasher(bodies.len(), Default::default());
    for (_, body, _) in bodies {
        spans.entry(body.span).or_default().0 += 1;
    }
    for b in &early.bodies {
        spans.entry(b.span).or_default().1 += 1;
    }
    // Each usable span is then one body of the config and one early body, the same block.
    Usable {
        bodies: early
            .bodies
            .iter()
            .filter(|b| spans.get(&b.span) == Some(&(1, 1)))
            .filter(|b| b.routes.iter().all(|r| c.route_names.contains_key(r)))
            .map(|b| (b.span, b))
            .collect(),
    }
}

/// What a route block is called while its body compiles (for `$cfg(name)`): its
/// name, or its keyword for a block without one.
fn route_label(r: &ast::RouteBlock) -> String {
    r.name
        .as_ref()
        .map_or_else(|| r.keyword.clone(), |n| n.value.clone())
}

/// Whether pass 2 compiles the body of route block `r` (pass 1 gives it a slot): request
/// routes, the default reply route, `onsend_route`, `event_route[core:worker-one-init]`.
/// The others are accepted with a warning and never run.
pub(crate) fn pass_two_compiles(r: &ast::RouteBlock) -> bool {
    match (&r.kind, &r.name) {
        (RouteKind::Request, _) | (RouteKind::Reply, None) | (RouteKind::Send, _) => true,
        (RouteKind::Event, Some(n)) => n.value == "core:worker-one-init",
        _ => false,
    }
}

/// Route bodies are compiled on several threads when they hold at least this many
/// statements (top level) in all: below, spawning costs more than it buys.
const MIN_STATEMENTS_TO_SPLIT: usize = 2048;

/// A route body to compile: its slot in [`Program::routes`], the body, the route's name.
type Body<'a> = (usize, &'a ast::Block, String);

impl<'s> Compiler<'s> {
    /// Pass 2: compiles the route bodies into their slots; on several threads for a large
    /// script (contiguous runs of bodies), and only those without an outcome in `early`
    /// (checked while the config was parsed). The outcomes are merged in body order, so that
    /// the first error and the warnings are those of a compile in one piece.
    fn compile_bodies(
        &mut self,
        bodies: Vec<Body<'_>>,
        parts: Option<usize>,
        early: &crate::early::Usable<'_>,
    ) -> Result<(), CompileError> {
        let mut outcomes: Vec<Outcome> = Vec::new();
        let mut todo: Vec<(usize, Body<'_>)> = Vec::with_capacity(bodies.len());
        for (at, body) in bodies.into_iter().enumerate() {
            match early.outcome(body.1.span) {
                Some((warnings, pv_use)) => outcomes.push(Outcome {
                    at,
                    slot: body.0,
                    block: Vec::new(),
                    warnings,
                    pv_use,
                }),
                None => todo.push((at, body)),
            }
        }
        let statements: usize = todo.iter().map(|(_, (_, b, _))| b.stmts.len()).sum();
        let parts = match parts {
            Some(p) => p.max(1),
            None if statements < MIN_STATEMENTS_TO_SPLIT => 1,
            None => cfg_parser::lexer::cores().map_or(1, |n| n.min(4)),
        };
        if parts == 1 {
            let mut fork = self.fork();
            outcomes.extend(fork.compile_run(todo)?);
        } else {
            outcomes.extend(self.compile_runs(todo, parts, statements)?);
        }
        outcomes.sort_by_key(|o| o.at);
        for o in outcomes {
            if let Some(slot) = self.program.routes.get_mut(o.slot) {
                slot.extend(o.block);
            }
            self.warnings.extend(o.warnings);
            if self.first_pv_use.get().is_none() {
                self.first_pv_use.set(o.pv_use);
            }
        }
        Ok(())
    }

    /// Compiles `bodies` in `parts` contiguous runs of about equal statement counts, one
    /// per thread; the first error in body order.
    fn compile_runs(
        &self,
        bodies: Vec<(usize, Body<'_>)>,
        parts: usize,
        statements: usize,
    ) -> Result<Vec<Outcome>, CompileError> {
        let mut runs: Vec<Vec<(usize, Body<'_>)>> = vec![Vec::new()];
        let mut in_run = 0;
        for body in bodies {
            let n = body.1 .1.stmts.len();
            if in_run >= statements.div_ceil(parts) && runs.len() < parts {
                runs.push(Vec::new());
                in_run = 0;
            }
            in_run += n;
            if let Some(run) = runs.last_mut() {
                run.push(body);
            }
        }
        let forks: Vec<Compiler<'s>> = runs.iter().map(|_| self.fork()).collect();
        let sources = self.sources;
        let results = std::thread::scope(|s| {
            let handles: Vec<_> = forks
                .into_iter()
                .zip(runs)
                .map(|(mut fork, run)| s.spawn(move || fork.compile_run(run)))
                .collect();
            // This thread only waits for those: meanwhile it indexes the sources' lines,
            // which the locations of the warnings (and of an error) need next.
            if let Some(sources) = sources {
                sources.index_lines();
            }
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect::<Vec<Result<_, CompileError>>>()
        });
        let mut outcomes = Vec::new();
        for result in results {
            outcomes.extend(result?);
        }
        Ok(outcomes)
    }

    /// Compiles `bodies` (each with its place among all bodies) in order, stopping at the
    /// first error; each body's outcome on its own.
    fn compile_run(
        &mut self,
        bodies: Vec<(usize, Body<'_>)>,
    ) -> Result<Vec<Outcome>, CompileError> {
        let mut out = Vec::with_capacity(bodies.len());
        for (at, (slot, body, name)) in bodies {
            self.route_name = name;
            self.in_onsend = Some(slot) == self.program.onsend;
            self.first_pv_use.set(None);
            let block = self.block(body)?;
            out.push(Outcome {
                at,
                slot,
                // A check keeps nothing (`block` has already dropped each op).
                block,
                warnings: std::mem::take(&mut self.warnings),
                pv_use: self.first_pv_use.get(),
            });
        }
        self.in_onsend = false;
        Ok(out)
    }

    /// A compiler for a run of route bodies on another thread: what pass 1 gathered, its own
    /// warnings, regex cache and first pseudo-variable use. Pass 2 reads only the module
    /// settings, the cfg variables and the onsend slot of the program.
    fn fork(&self) -> Compiler<'s> {
        Compiler {
            regexes: self.regexes.clone(),
            stand_in: self.stand_in.clone(),
            modules: self.modules.clone(),
            flags: self.flags.clone(),
            route_names: self.route_names.clone(),
            sockets: self.sockets.clone(),
            program: Program {
                onsend: self.program.onsend,
                settings: self.program.settings.clone(),
                cfg_vars: self.program.cfg_vars.clone(),
                ..Program::default()
            },
            ..Compiler::blank(self.mode, self.sources)
        }
    }
}

/// One route body compiled in pass 2.
struct Outcome {
    /// Its place among the bodies.
    at: usize,
    /// Its slot in [`Program::routes`].
    slot: usize,
    /// Its ops (none in a check).
    block: Block,
    /// The warnings it gave.
    warnings: Vec<CompileError>,
    /// Its first pseudo-variable use (see [`Compiler::first_pv_use`]).
    pv_use: Option<Span>,
}

/// Checks a pattern with the regex crate's own parser, without building its matcher: the
/// error is the text building it would give.
///
/// The parser reads a pattern in two steps: its syntax, then a translation into the form
/// the matcher is built from. The translation can only fail on a Unicode class (`\p…`,
/// `\P…`) or where a flag group (`(?-u)`) turns Unicode off, so patterns with neither take
/// the first step alone. Case-insensitivity is left out of the translation: the one error
/// case folding has, "Unicode case folding unavailable", needs the regex crates built
/// without `unicode-case`, and ours have it. Translating every pattern, with every letter
/// folded into a class, was four fifths of the work: together a tenth of a large config's
/// check, most of it `uri =~ "…"`, which matches without case.
fn check_pattern(pattern: &str, multi_line: bool) -> Result<(), String> {
    if plainly_valid(pattern) {
        return Ok(());
    }
    let checked = if pattern.contains("(?") || pattern.contains("\\p") || pattern.contains("\\P") {
        regex_syntax::ParserBuilder::new()
            .multi_line(multi_line)
            .build()
            .parse(pattern)
            .map(drop)
    } else {
        regex_syntax::ast::parse::Parser::new()
            .parse(pattern)
            .map(drop)
            .map_err(regex_syntax::Error::from)
    };
    checked.map_err(|e| e.to_string())
}

/// Whether `pattern` parses, known without the parser (and quicker than a cache lookup):
/// it is made only of pieces that always parse: literal characters, anchors,
/// `.`, escaped punctuation (`\.`, `\+`), one of the repetitions `*` `+` `?` (lazy or not)
/// after something to repeat, and bracket classes of plain characters and ascending ranges
/// (`[0-9]`, `[^a-z_]`). `false` means "parse it": groups, alternations, counted or stacked
/// repetitions, escapes such as `\d`, and every class with more in it are left to the
/// regex parser. Most patterns of a script are of this kind: about half are literal text
/// and anchors (`^sip:alice@`), most others like `^sip:\+?[0-9]+@`; the parser costs
/// about ten thousand instructions for each.
fn plainly_valid(pattern: &str) -> bool {
    let mut chars = pattern.chars().peekable();
    // Whether the pattern so far ends in a piece a repetition may follow.
    let mut repeatable = false;
    // Whether it ends in a repetition, which a `?` makes lazy.
    let mut repeated = false;
    while let Some(c) = chars.next() {
        match c {
            '*' | '+' | '?' if repeatable => {
                repeatable = false;
                repeated = true;
                continue;
            }
            '?' if repeated => {
                repeated = false;
                continue;
            }
            // Nothing to repeat, or a repetition of a repetition: each such nests one
            // level deeper, and the parser refuses more than 250 levels.
            '*' | '+' | '?' => return false,
            _ => repeated = false,
        }
        match c {
            '\\' => match chars.next() {
                Some(e) if regex_syntax::is_meta_character(e) => repeatable = true,
                _ => return false,
            },
            '[' => {
                if !plain_class(&mut chars) {
                    return false;
                }
                repeatable = true;
            }
            '(' | ')' | '{' | '}' | '|' | ']' => return false,
            _ => repeatable = true,
        }
    }
    true
}

/// Reads a bracket class after its `[` up to and with its `]`: `true` if it holds only
/// letters, digits and `_ @ : . / * + ? $ space` (which are literal in a class), each
/// alone or as a range from a lower to a higher letter or digit, after an optional `^`.
fn plain_class(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@:./*+?$ ".contains(c);
    chars.next_if_eq(&'^');
    let mut items = 0;
    loop {
        match chars.next() {
            Some(']') => return items > 0,
            Some(lo) if plain(lo) => {
                items += 1;
                if chars.next_if_eq(&'-').is_some() {
                    match chars.next() {
                        Some(hi)
                            if hi.is_ascii_alphanumeric()
                                && lo.is_ascii_alphanumeric()
                                && lo <= hi => {}
                        _ => return false,
                    }
                }
            }
            _ => return false,
        }
    }
}

impl Compiler<'_> {
    /// A constant regular expression, compiled once per pattern and flags.
    fn regex(
        &mut self,
        pattern: &str,
        icase: bool,
        multi_line: bool,
        span: Span,
    ) -> Result<Regex, CompileError> {
        if self.mode == Mode::Check && plainly_valid(pattern) {
            // Nothing to check, and nothing worth remembering.
            return self.stand_in(span);
        }
        let key = (pattern.to_string(), icase, multi_line);
        if let Some(re) = self.regexes.get(&key) {
            return Ok(re.clone());
        }
        let re = match self.mode {
            Mode::Build => RegexBuilder::new(pattern)
                .case_insensitive(icase)
                .multi_line(multi_line)
                .build()
                .map(std::sync::Arc::new)
                .or_else(|e| err(span, format!("bad regular expression: {e}")))?,
            Mode::Check => {
                // The program is never run, so every pattern shares one stand-in matcher.
                check_pattern(pattern, multi_line).or_else(|e| {
                    let e = regex::Error::Syntax(e);
                    err(span, format!("bad regular expression: {e}"))
                })?;
                self.stand_in(span)?
            }
        };
        self.regexes.insert(key, re.clone());
        Ok(re)
    }

    /// The one matcher a checked program holds for every pattern (it is never run).
    fn stand_in(&mut self, span: Span) -> Result<Regex, CompileError> {
        if let Some(re) = &self.stand_in {
            return Ok(re.clone());
        }
        let re = regex::Regex::new("")
            .map(std::sync::Arc::new)
            .or_else(|e| err(span, e.to_string()))?;
        self.stand_in = Some(re.clone());
        Ok(re)
    }

    /// A select: parsed now; `@cfg_get.group.var` becomes its constant value.
    fn select(&self, path: &str, span: Span) -> Result<Expr, CompileError> {
        let sel = select::parse(path).or_else(|e| err(span, format!("select `{path}`: {e}")))?;
        self.check_select(&sel, path, span)?;
        if let Select::CfgGet(group, var) = &sel {
            return self.cfg_value(group, var, path, span).map(Expr::Const);
        }
        Ok(Expr::Select(Box::new(sel)))
    }

    /// What Kamailio checks when it starts: the cfg variable is declared, the module that
    /// provides the select is loaded.
    fn check_select(&self, sel: &Select, path: &str, span: Span) -> Result<(), CompileError> {
        match sel {
            Select::CfgGet(g, v) => self.cfg_value(g, v, path, span).map(|_| ()),
            Select::HfValue(_) if !self.modules.contains("textopsx") => err(
                span,
                format!("select `{path}` needs `loadmodule \"textopsx.so\"` before it is used"),
            ),
            _ => Ok(()),
        }
    }

    /// The value of a cfg-framework variable; an undeclared one stops the start, as in
    /// Kamailio.
    fn cfg_value(
        &self,
        group: &str,
        var: &str,
        path: &str,
        span: Span,
    ) -> Result<Value, CompileError> {
        match self.program.cfg_vars.get(&(group.to_string(), var.to_string())) {
            Some(v) => Ok(Value::Str(v.as_str().into_owned())),
            None => err(
                span,
                format!("select `{path}`: unknown cfg variable `{group}.{var}` (declare it with `{group}.{var} = value`)"),
            ),
        }
    }

    /// A `$sel(…)` passes the same start-up checks as the select.
    fn check_pv(&self, pv: &Pv, span: Span) -> Result<(), CompileError> {
        if !matches!(pv.name, PvName::RetCode) && self.first_pv_use.get().is_none() {
            self.first_pv_use.set(Some(span));
        }
        match &pv.name {
            PvName::Sel(sel) => {
                let label = match sel.as_ref() {
                    Select::CfgGet(g, v) => format!("$sel(cfg_get.{g}.{v})"),
                    _ => "$sel(hf_value…)".to_string(),
                };
                self.check_select(sel, &label, span)
            }
            _ => Ok(()),
        }
    }

    fn check_format(&self, parts: &[FmtPart], span: Span) -> Result<(), CompileError> {
        parts.iter().try_for_each(|p| match p {
            FmtPart::Pv(pv) => self.check_pv(pv, span),
            FmtPart::Lit(_) => Ok(()),
        })
    }

    /// `$cfg(line)`, `$cfg(file)`, `$cfg(name)` used at `span`: the constant they read.
    fn cfg_pos(&self, pv: &Pv, span: Span) -> Option<Value> {
        let PvName::CfgPos(kind) = pv.name else {
            return None;
        };
        let at = self.sources.map(|s| s.location(span));
        Some(match kind {
            pv::CfgPos::Line => Value::Int(at.map_or(0, |l| i64::from(l.start.line))),
            pv::CfgPos::File => Value::Str(at.map(|l| l.file).unwrap_or_default()),
            pv::CfgPos::Route => Value::Str(self.route_name.clone()),
        })
    }

    /// A format string used at `span` (`xlog`, a module function's argument): split once,
    /// its variables checked, its `$cfg(…)` parts turned into text.
    fn format(&self, text: &str, span: Span) -> Result<Vec<FmtPart>, CompileError> {
        let parts = parse_format(text).or_else(|e| err(span, e))?;
        self.check_format(&parts, span)?;
        Ok(parts
            .into_iter()
            .map(|p| match p {
                FmtPart::Pv(pv) => match self.cfg_pos(&pv, span) {
                    Some(v) => FmtPart::Lit(v.as_str().into_owned()),
                    None => FmtPart::Pv(pv),
                },
                lit => lit,
            })
            .collect())
    }

    fn block(&mut self, b: &ast::Block) -> Result<Block, CompileError> {
        if self.mode == Mode::Check {
            // A check keeps nothing, and no op is looked at once built: each is dropped
            // at once, and the next one takes its memory while it is still in the cache.
            for s in &b.stmts {
                self.stmt(s)?;
            }
            return Ok(Vec::new());
        }
        // Sized once: an op is large (a call's is inline), and a list grown by doubling
        // copied every op at each step (a tenth of a config check's time).
        let mut ops = Vec::with_capacity(b.stmts.len());
        for s in &b.stmts {
            ops.extend(self.stmt(s)?);
        }
        Ok(ops)
    }

    fn nested(&mut self, s: &Stmt) -> Result<Block, CompileError> {
        match s {
            Stmt::Block(b) => self.block(b),
            other => {
                let op = self.stmt(other)?;
                Ok(match self.mode {
                    Mode::Build => op.into_iter().collect(),
                    Mode::Check => Vec::new(),
                })
            }
        }
    }

    fn stmt(&mut self, s: &Stmt) -> Result<Option<Op>, CompileError> {
        Ok(Some(match s {
            Stmt::Call(c) => Op::Call(self.call(c)?),
            Stmt::Assign { target, value, .. } => {
                let pv = pv::parse(&target.value).or_else(|e| err(target.span, e))?;
                self.check_pv(&pv, target.span)?;
                if !pv.writable() {
                    return err(
                        target.span,
                        format!("`{}` cannot be assigned", target.value),
                    );
                }
                Op::Assign(pv, self.expr(value)?)
            }
            Stmt::If {
                cond,
                then,
                otherwise,
                ..
            } => Op::If(
                self.expr(cond)?,
                self.nested(then)?,
                match otherwise {
                    Some(o) => self.nested(o)?,
                    None => Vec::new(),
                },
            ),
            Stmt::Switch { value, cases, .. } => {
                let mut labels = Vec::with_capacity(cases.len());
                let mut body = match self.mode {
                    Mode::Build => Vec::with_capacity(cases.iter().map(|c| c.body.len()).sum()),
                    Mode::Check => Vec::new(),
                };
                for case in cases {
                    let label = match &case.label {
                        None => CaseLabel::Default,
                        Some(l) => match self.expr(l)? {
                            Expr::Const(v) if case.regex => {
                                CaseLabel::Regex(self.regex(&v.as_str(), false, false, l.span())?)
                            }
                            Expr::Const(v) => CaseLabel::Value(v),
                            _ => return err(l.span(), "non constant expression in case"),
                        },
                    };
                    labels.push((label, body.len()));
                    for s in &case.body {
                        if let Some(op) = self.stmt(s)? {
                            if self.mode == Mode::Build {
                                body.push(op);
                            }
                        }
                    }
                }
                Op::Switch(self.expr(value)?, labels, body)
            }
            Stmt::While { cond, body, .. } => Op::While(self.expr(cond)?, self.nested(body)?),
            Stmt::Return { kind, value, .. } => {
                Op::Return(*kind, value.as_ref().map(|v| self.expr(v)).transpose()?)
            }
            Stmt::Break { .. } => Op::Break,
            Stmt::Block(b) => Op::Block(self.block(b)?),
            Stmt::Empty { .. } => return Ok(None),
        }))
    }

    fn expr(&mut self, e: &AExpr) -> Result<Expr, CompileError> {
        Ok(match e {
            AExpr::Int { value, .. } => Expr::Const(Value::Int(*value)),
            AExpr::Str { value, .. } => Expr::Const(Value::Str(String::from(&**value))),
            AExpr::Word { word, .. } => Expr::Const(Value::Str(String::from(&**word))),
            AExpr::Var { name, span } => {
                let pv = pv::parse(name).or_else(|e| err(*span, e))?;
                self.check_pv(&pv, *span)?;
                match self.cfg_pos(&pv, *span) {
                    Some(v) => Expr::Const(v),
                    None => Expr::Pv(Box::new(pv)),
                }
            }
            AExpr::Select { path, span } => self.select(path, *span)?,
            AExpr::Net { addr, span, .. } => {
                let _ = span;
                Expr::Const(Value::Str(addr.to_string()))
            }
            AExpr::Call(c) => Expr::Call(Box::new(self.call(c)?)),
            AExpr::Unary { op, operand, .. } => Expr::Unary(*op, Box::new(self.expr(operand)?)),
            AExpr::Select3(s) => Expr::Select3(
                Box::new(self.expr(&s.cond)?),
                Box::new(self.expr(&s.then)?),
                Box::new(self.expr(&s.otherwise)?),
            ),
            AExpr::Legacy { operand, span } => Expr::Legacy(match *operand {
                "method" => Legacy::Method,
                "uri" => Legacy::Uri,
                "from_uri" => Legacy::FromUri,
                "to_uri" => Legacy::ToUri,
                "src_ip" => Legacy::SrcIp,
                "src_port" => Legacy::SrcPort,
                "dst_ip" => Legacy::DstIp,
                "dst_port" => Legacy::DstPort,
                "proto" => Legacy::Proto,
                "af" => Legacy::Af,
                "msg:len" => Legacy::MsgLen,
                "snd_ip" | "to_ip" => Legacy::SndIp,
                "snd_port" | "to_port" => Legacy::SndPort,
                "snd_proto" => Legacy::SndProto,
                "snd_af" | "to_af" => Legacy::SndAf,
                "uri:host" => Legacy::UriHost,
                "uri:port" => Legacy::UriPort,
                other => return err(*span, format!("`{other}` is not supported yet")),
            }),
            AExpr::Block(b) => return err(b.span, "blocks as values are not supported"),
            AExpr::Binary(b) => {
                let ast::Binary {
                    op, left, right, ..
                } = b.as_ref();
                let l = self.expr(left)?;
                match (op, right) {
                    (BinaryOp::Eq | BinaryOp::Ne, AExpr::Word { word, .. })
                        if &**word == "myself" =>
                    {
                        return Ok(Expr::Myself(Box::new(l), *op == BinaryOp::Eq));
                    }
                    (BinaryOp::Eq | BinaryOp::Ne, AExpr::Net { addr, prefix, .. }) => {
                        let bits = prefix.unwrap_or(if addr.is_ipv4() { 32 } else { 128 });
                        let m = Expr::InNet(Box::new(l), *addr, bits);
                        return Ok(if *op == BinaryOp::Eq {
                            m
                        } else {
                            Expr::Unary(UnaryOp::Not, Box::new(m))
                        });
                    }
                    (BinaryOp::Match, AExpr::Str { value, span }) => {
                        let icase = matches!(l, Expr::Legacy(_));
                        let re = self.regex(value, icase, false, *span)?;
                        return Ok(Expr::MatchConst(Box::new(l), re));
                    }
                    _ => {}
                }
                Expr::Binary(Box::new((*op, l, self.expr(right)?)))
            }
        })
    }

    /// Argument `i`. A module function's string argument with pseudo-variables in it is a
    /// format, expanded for each message, as Kamailio's `spve` fixups do
    /// (`append_hf("X-Src: $si\r\n")`).
    fn arg_expr(&mut self, c: &ast::Call, i: usize) -> Result<Expr, CompileError> {
        match c.args.get(i) {
            Some(Arg::Expr(AExpr::Str { value, span })) if self.expand && value.contains('$') => {
                Ok(Expr::Format(self.format(value, *span)?))
            }
            _ => self.raw_arg(c, i),
        }
    }

    /// Argument `i` as written (a string stays a constant even with a `$` in it).
    fn raw_arg(&mut self, c: &ast::Call, i: usize) -> Result<Expr, CompileError> {
        match c.args.get(i) {
            Some(Arg::Expr(e)) => self.expr(e),
            Some(Arg::Address(a)) => err(a.span, "an address is not expected here"),
            None => err(c.span, format!("`{}` needs more arguments", c.name.value)),
        }
    }

    fn const_int(&mut self, c: &ast::Call, i: usize) -> Result<i64, CompileError> {
        match self.arg_expr(c, i)? {
            Expr::Const(v) => Ok(v.as_int()),
            _ => err(
                c.span,
                format!("`{}` takes a constant number", c.name.value),
            ),
        }
    }

    /// Argument `i` as a constant POSIX-extended regular expression (textops, rr): case
    /// sensitive, `^`/`$` at line ends as Kamailio compiles them with `REG_NEWLINE`.
    fn const_regex(&mut self, c: &ast::Call, i: usize) -> Result<Regex, CompileError> {
        match self.raw_arg(c, i)? {
            Expr::Const(v) => self.regex(&v.as_str(), false, true, c.span),
            _ => err(
                c.span,
                format!("`{}` takes a constant regular expression", c.name.value),
            ),
        }
    }

    /// `force_send_socket([proto:]address[:port])`: the local socket it names. One the server
    /// does not listen on is an error, as in Kamailio.
    fn socket_arg(&mut self, c: &ast::Call) -> Result<usize, CompileError> {
        let (proto, host, port) = match c.args.first() {
            Some(Arg::Address(a)) => (
                a.proto.as_ref().map(|p| format!("{:?}", p.value)),
                crate::fmt_listen_host(a),
                a.port.as_ref().and_then(|p| match p.value {
                    ast::PortSpec::Number(n) => Some(n),
                    _ => None,
                }),
            ),
            Some(Arg::Expr(AExpr::Str { value, .. })) => match crate::parse_socket_text(value) {
                Some(t) => t,
                None => return err(c.span, format!("`{value}` is not [proto:]address[:port]")),
            },
            _ => return err(c.span, "force_send_socket() takes [proto:]address[:port]"),
        };
        if self.speculation.is_some() {
            // The sockets are not known before the whole config is: this body is checked
            // with the rest (an early check that fails is never used).
            return err(
                c.span,
                "force_send_socket() is checked with the whole config",
            );
        }
        crate::find_socket(&self.sockets, proto.as_deref(), &host, port).map_or_else(
            || {
                err(
                    c.span,
                    format!(
                        "force_send_socket: siprouter does not listen on {}{host}{}",
                        proto
                            .map(|p| format!("{}:", p.to_ascii_lowercase()))
                            .unwrap_or_default(),
                        port.map(|p| format!(":{p}")).unwrap_or_default()
                    ),
                )
            },
            Ok,
        )
    }

    fn flag(&mut self, c: &ast::Call) -> Result<u32, CompileError> {
        match c.args.first() {
            Some(Arg::Expr(AExpr::Int { value, span })) => u32::try_from(*value)
                .ok()
                .filter(|v| *v < 64)
                .map_or_else(|| err(*span, "bad flag value"), Ok),
            Some(Arg::Expr(AExpr::Word { word, span })) => self
                .flags
                .get(&**word)
                .copied()
                .map_or_else(|| err(*span, format!("flag `{word}` is not declared")), Ok),
            _ => err(c.span, "a flag number or name expected"),
        }
    }

    fn call(&mut self, c: &ast::Call) -> Result<Func, CompileError> {
        let name: &str = &c.name.value;
        let n = c.args.len();
        // Core actions (always available).
        let core = match name {
            "forward" => Some(match n {
                0 => Func::Forward(None),
                _ => {
                    let host = match &c.args[0] {
                        Arg::Expr(e) => self.expr(e)?,
                        Arg::Address(a) => Expr::Const(Value::Str(crate::fmt_listen_host(a))),
                    };
                    let port = if n > 1 {
                        Some(self.arg_expr(c, 1)?)
                    } else {
                        None
                    };
                    Func::Forward(Some((HostArg::new(host), port)))
                }
            }),
            "route" => {
                let target = match c.args.first() {
                    Some(Arg::Expr(AExpr::Word { word, .. })) => String::from(&**word),
                    Some(Arg::Expr(AExpr::Str { value, .. })) => String::from(&**value),
                    Some(Arg::Expr(AExpr::Int { value, .. })) => value.to_string(),
                    // route($var(r)), route("a" + $x): the name is looked up when it runs.
                    Some(Arg::Expr(e)) => return Ok(Func::RouteByName(self.expr(e)?)),
                    _ => return err(c.span, "route() takes a route name"),
                };
                let idx = match (self.route_names.get(&target), &mut self.speculation) {
                    (Some(&idx), _) => idx,
                    // Checked early: the route must exist once the whole config is read.
                    (None, Some(speculation)) => {
                        speculation.routes.push(target);
                        0
                    }
                    (None, None) => return err(c.span, format!("route `{target}` is not defined")),
                };
                Some(Func::Route(idx))
            }
            "log" => Some(if n == 2 {
                Func::Log(self.const_int(c, 0)?, self.arg_expr(c, 1)?, c.span)
            } else {
                Func::Log(4, self.arg_expr(c, 0)?, c.span)
            }),
            "setflag" => Some(Func::SetFlag(self.flag(c)?)),
            "resetflag" => Some(Func::ResetFlag(self.flag(c)?)),
            "isflagset" => Some(Func::IsFlagSet(self.flag(c)?)),
            "rewriteuri" | "seturi" => Some(Func::SetUri(self.arg_expr(c, 0)?)),
            "rewritehost" | "sethost" | "seth" => Some(Func::SetHost(self.arg_expr(c, 0)?)),
            "rewritehostport" | "sethostport" | "sethp" => {
                Some(Func::Rewrite(UriPart::HostPort, self.arg_expr(c, 0)?))
            }
            "rewritehostporttrans" | "sethostporttrans" | "sethpt" => {
                Some(Func::Rewrite(UriPart::HostPortTrans, self.arg_expr(c, 0)?))
            }
            "rewriteuserpass" | "setuserpass" | "setup" => {
                Some(Func::Rewrite(UriPart::UserPass, self.arg_expr(c, 0)?))
            }
            "forward_udp" | "forward_tcp" | "forward_tls" | "forward_sctp" => {
                let proto = Transport::from_name(name.trim_start_matches("forward_"));
                let host = match c.args.first() {
                    Some(Arg::Expr(e)) => self.expr(e)?,
                    Some(Arg::Address(a)) => Expr::Const(Value::Str(crate::fmt_listen_host(a))),
                    None => return err(c.span, format!("`{name}` needs a destination")),
                };
                let port = if n > 1 {
                    Some(self.arg_expr(c, 1)?)
                } else {
                    None
                };
                Some(Func::ForwardProto(
                    proto.unwrap_or(Transport::Udp),
                    HostArg::new(host),
                    port,
                ))
            }
            "error" => {
                // Kamailio parses error(class, text) and does nothing with it at run time.
                self.warnings.push(CompileError {
                    message: "error() does nothing at run time (as in Kamailio)".into(),
                    span: c.span,
                });
                Some(Func::Nothing)
            }
            "rewriteuser" | "setuser" | "setu" => Some(Func::SetUser(self.arg_expr(c, 0)?)),
            "rewriteport" | "setport" | "setp" => Some(Func::SetPort(self.arg_expr(c, 0)?)),
            "prefix" => Some(Func::Prefix(self.arg_expr(c, 0)?)),
            "strip" => Some(Func::Strip(self.const_int(c, 0)?)),
            "strip_tail" => Some(Func::StripTail(self.const_int(c, 0)?)),
            "revert_uri" => Some(Func::RevertUri),
            "force_rport" | "add_rport" => Some(Func::ForceRport),
            "add_local_rport" => Some(Func::AddLocalRport),
            "set_advertised_address" => Some(Func::SetAdvertisedAddress(self.arg_expr(c, 0)?)),
            "set_advertised_port" => Some(Func::SetAdvertisedPort(self.arg_expr(c, 0)?)),
            "force_send_socket" => Some(Func::ForceSendSocket(self.socket_arg(c)?)),
            "udp_mtu_try_proto" => {
                let proto = match c.args.first() {
                    Some(Arg::Expr(AExpr::Word { word, .. } | AExpr::Str { value: word, .. })) => {
                        Transport::from_name(word)
                    }
                    _ => None,
                };
                Some(Func::UdpMtuTryProto(proto.map_or_else(
                    || err(c.span, "udp_mtu_try_proto() takes UDP, TCP, TLS or SCTP"),
                    Ok,
                )?))
            }
            "force_tcp_alias" | "add_tcp_alias" => Some(Func::ForceTcpAlias(if n > 0 {
                Some(self.arg_expr(c, 0)?)
            } else {
                None
            })),
            _ => None,
        };
        if let Some(f) = core {
            if self.in_onsend && !ONSEND_ACTIONS.contains(&name) {
                return err(
                    c.name.span,
                    format!("`{name}`: command not allowed in onsend_route"),
                );
            }
            return Ok(f);
        }
        let Some((module, _, counts)) = MODULE_FUNCS.iter().find(|(_, f, _)| *f == name) else {
            return err(c.name.span, format!("unknown function `{name}` (missing loadmodule, or not implemented in siprouter)"));
        };
        if !self.modules.contains(*module) {
            return err(
                c.name.span,
                format!("`{name}` needs `loadmodule \"{module}.so\"` before it is used"),
            );
        }
        if !counts.contains(&n) {
            return err(
                c.span,
                format!("`{name}` takes {counts:?} argument(s), not {n}"),
            );
        }
        self.expand = true;
        let f = self.module_call(c, name, n);
        self.expand = false;
        f
    }

    /// A module function with its arguments checked and compiled.
    fn module_call(&mut self, c: &ast::Call, name: &str, n: usize) -> Result<Func, CompileError> {
        Ok(match name {
            "sl_send_reply" | "send_reply" | "sl_reply" => {
                Func::SlSendReply(self.arg_expr(c, 0)?, self.arg_expr(c, 1)?)
            }
            "sl_reply_error" | "send_reply_error" => Func::SlReplyError,
            "has_body" => Func::HasBody(if n == 1 {
                Some(self.arg_expr(c, 0)?)
            } else {
                None
            }),
            "starts_with" => Func::StartsWith(self.arg_expr(c, 0)?, self.arg_expr(c, 1)?),
            "in_list" => Func::InList(
                self.arg_expr(c, 0)?,
                self.arg_expr(c, 1)?,
                self.arg_expr(c, 2)?,
            ),
            "append_urihf" => Func::AppendUriHf(self.arg_expr(c, 0)?, self.arg_expr(c, 1)?),
            "is_first_hop" => Func::IsFirstHop,
            "options_reply" => Func::OptionsReply,
            "is_numeric" => Func::CharClass(self.arg_expr(c, 0)?, CharClass::Digits),
            "is_alphanum" => Func::CharClass(self.arg_expr(c, 0)?, CharClass::AlphaNum),
            "is_alphanumex" => Func::CharClass(
                self.arg_expr(c, 0)?,
                CharClass::AlphaNumEx(self.arg_expr(c, 1)?),
            ),
            "is_tel_number" => Func::CharClass(self.arg_expr(c, 0)?, CharClass::Tel),
            "is_user" => {
                // siputils compares with credentials the auth module marked as authorized.
                self.warnings.push(CompileError {
                    message: "is_user() compares with credentials authorized by the auth module, which siprouter does not have: it is always false".into(),
                    span: c.span,
                });
                self.arg_expr(c, 0)?;
                Func::IsUser
            }
            "isdsturiset" => Func::IsDstUriSet,
            "setdsturi" => Func::SetDstUri(Some(self.arg_expr(c, 0)?)),
            "resetdsturi" => Func::SetDstUri(None),
            "setsflag" => Func::ScriptFlag(self.flag(c)?, Some(true)),
            "resetsflag" => Func::ScriptFlag(self.flag(c)?, Some(false)),
            "issflagset" => Func::ScriptFlag(self.flag(c)?, None),
            "mf_process_maxfwd_header" => Func::MaxFwdProcess(self.arg_expr(c, 0)?),
            "is_maxfwd_lt" => Func::MaxFwdLt(self.arg_expr(c, 0)?),
            "is_method" => match self.arg_expr(c, 0)? {
                Expr::Const(v) => Func::IsMethod(
                    v.as_str()
                        .split('|')
                        .map(|m| m.trim().to_ascii_uppercase())
                        .collect(),
                ),
                _ => return err(c.span, "is_method() takes a constant string"),
            },
            "append_hf" if n == 2 => {
                Func::AppendHfAfter(self.arg_expr(c, 0)?, self.arg_expr(c, 1)?)
            }
            "append_hf" => Func::AppendHf(self.arg_expr(c, 0)?),
            "insert_hf" => Func::InsertHf(
                self.arg_expr(c, 0)?,
                if n == 2 {
                    Some(self.arg_expr(c, 1)?)
                } else {
                    None
                },
            ),
            "search_body" => Func::SearchBody(self.const_regex(c, 0)?),
            "subst" | "subst_uri" | "subst_body" => {
                let text = match c.args.first() {
                    Some(Arg::Expr(AExpr::Str { value, .. })) => value.clone(),
                    _ => {
                        return err(
                            c.span,
                            format!("`{name}` takes a constant '/re/repl/flags'"),
                        )
                    }
                };
                let sub = Box::new(crate::subst::parse(&text).or_else(|e| err(c.span, e))?);
                match name {
                    "subst_uri" => Func::SubstUri(sub),
                    "subst_body" => Func::Subst(sub, Scope::Body),
                    _ => Func::Subst(sub, Scope::Message),
                }
            }
            "search_append" => Func::SearchAppend(self.const_regex(c, 0)?, self.arg_expr(c, 1)?),
            "replace" | "replace_all" | "replace_body" | "replace_body_all" => Func::Replace(
                self.const_regex(c, 0)?,
                self.arg_expr(c, 1)?,
                if name.starts_with("replace_body") {
                    Scope::Body
                } else {
                    Scope::Message
                },
                name.ends_with("_all"),
            ),
            "uri_param" => Func::UriParam(
                self.arg_expr(c, 0)?,
                if n == 2 {
                    Some(self.arg_expr(c, 1)?)
                } else {
                    None
                },
            ),
            "add_uri_param" => Func::AddUriParam(self.arg_expr(c, 0)?),
            "is_e164" => Func::IsE164(self.arg_expr(c, 0)?),
            "is_uri_user_e164" => Func::IsUriUserE164(self.arg_expr(c, 0)?),
            "record_route_preset" => {
                let second = if n == 2 {
                    Some(self.arg_expr(c, 1)?)
                } else {
                    None
                };
                if second.is_some() && self.program.settings.double_rr == 0 {
                    return err(
                        c.span,
                        "record_route_preset() with two addresses needs rr's enable_double_rr",
                    );
                }
                Func::RecordRoutePreset(self.arg_expr(c, 0)?, second)
            }
            "check_route_param" => Func::CheckRouteParam(self.const_regex(c, 0)?),
            "is_direction" => {
                if !self.program.settings.append_fromtag {
                    return err(
                        c.span,
                        "is_direction() needs rr's append_fromtag (it compares the ftag Route parameter)",
                    );
                }
                match self.arg_expr(c, 0)? {
                    Expr::Const(v) if v.as_str().eq_ignore_ascii_case("downstream") => {
                        Func::IsDirection(true)
                    }
                    Expr::Const(v) if v.as_str().eq_ignore_ascii_case("upstream") => {
                        Func::IsDirection(false)
                    }
                    _ => {
                        return err(
                            c.span,
                            "is_direction() takes \"downstream\" or \"upstream\"",
                        )
                    }
                }
            }
            "remove_hf" => Func::RemoveHf(self.arg_expr(c, 0)?),
            "is_present_hf" => Func::IsPresentHf(self.arg_expr(c, 0)?),
            "has_totag" => Func::HasTotag,
            "sanity_check" => Func::SanityCheck,
            "is_request" => Func::IsRequest,
            "is_reply" => Func::IsReply,
            "append_to_reply" => Func::AppendToReply(self.arg_expr(c, 0)?),
            "add_rr_param" => Func::AddRrParam(self.arg_expr(c, 0)?),
            "search" => match self.raw_arg(c, 0)? {
                Expr::Const(v) => Func::Search(self.regex(&v.as_str(), true, true, c.span)?),
                _ => return err(c.span, "search() takes a constant regular expression"),
            },
            "setbflag" | "resetbflag" | "isbflagset" => {
                let flag = self.flag(c)?;
                let branch = if n == 2 {
                    Some(self.arg_expr(c, 1)?)
                } else {
                    None
                };
                match name {
                    "setbflag" => Func::SetBFlag(flag, branch),
                    "resetbflag" => Func::ResetBFlag(flag, branch),
                    _ => Func::IsBFlagSet(flag, branch),
                }
            }
            "is_myself" => Func::IsMyself(self.arg_expr(c, 0)?),
            "record_route" => Func::RecordRoute(if n == 1 {
                Some(self.arg_expr(c, 0)?)
            } else {
                None
            }),
            "loose_route" => Func::LooseRoute,
            "pv_isset" | "pv_unset" => {
                let pv = match c.args.first() {
                    Some(Arg::Expr(AExpr::Str { value, span })) => {
                        pv::parse(value).or_else(|e| err(*span, e))?
                    }
                    Some(Arg::Expr(AExpr::Var { name, span })) => {
                        pv::parse(name).or_else(|e| err(*span, e))?
                    }
                    _ => return err(c.span, format!("`{name}` takes a variable name")),
                };
                if name == "pv_isset" {
                    Func::PvIsset(pv)
                } else {
                    Func::PvUnset(pv)
                }
            }
            _ => {
                // xlog family: [level,] format
                let (level, fmt_idx) = match (name, n) {
                    ("xlog", 2) => (level_of(&self.arg_expr(c, 0)?, c.span)?, 1),
                    ("xdbg", _) => (3, 0),
                    ("xinfo", _) => (2, 0),
                    ("xnotice", _) => (1, 0),
                    ("xwarn", _) => (0, 0),
                    ("xerr", _) => (-1, 0),
                    ("xcrit", _) => (-3, 0),
                    ("xbug", _) => (-4, 0),
                    ("xalert", _) => (-5, 0),
                    _ => (-1, 0),
                };
                match self.raw_arg(c, fmt_idx)? {
                    Expr::Const(v) => Func::Xlog(level, self.format(&v.as_str(), c.span)?, c.span),
                    _ => return err(c.span, "the xlog format must be a constant string"),
                }
            }
        })
    }
}

/// The custom cfg-framework variables the script declares (`group.var = value`); the last
/// declaration of a name wins. Instance values (`group[N].var`) are not read by `@cfg_get`.
fn cfg_vars(config: &ast::Config) -> CfgVars {
    let mut vars = CfgVars::new();
    for item in &config.items {
        let Item::CfgVar(v) = item else { continue };
        if v.instance.is_some() {
            continue;
        }
        let value = match &v.value.value {
            ast::Scalar::Int(n) => Value::Int(*n),
            ast::Scalar::Str(s) => Value::Str(s.clone()),
            ast::Scalar::Pvar(_) => continue,
        };
        vars.insert((v.group.value.clone(), v.var.value.clone()), value);
    }
    vars
}

/// The `udp_mtu_try_proto` core parameter (`TCP`, `TLS`, `SCTP` or `UDP`).
fn udp_mtu_try_proto(config: &ast::Config) -> Result<Option<Transport>, CompileError> {
    let Some(p) = config.param_item("udp_mtu_try_proto") else {
        return Ok(None);
    };
    let text = match &p.value.value {
        ast::Value::Str(s) | ast::Value::Ident(s) => s.clone(),
        ast::Value::Proto(proto) => format!("{proto:?}"),
        _ => String::new(),
    };
    Transport::from_name(&text)
        .map(Some)
        .ok_or_else(|| CompileError {
            message: format!("udp_mtu_try_proto: `{text}` is not UDP, TCP, TLS or SCTP"),
            span: p.value.span,
        })
}

/// `L_INFO` and friends (or a number) to Kamailio's numeric levels.
fn level_of(e: &Expr, span: Span) -> Result<i64, CompileError> {
    let Expr::Const(v) = e else {
        return err(
            span,
            "the xlog level must be a constant (L_DBG … L_ALERT or a number)",
        );
    };
    Ok(match v.as_str().as_ref() {
        "L_ALERT" => -5,
        "L_BUG" => -4,
        "L_CRIT" => -3,
        "L_ERR" => -1,
        "L_WARN" => 0,
        "L_NOTICE" => 1,
        "L_INFO" => 2,
        "L_DBG" => 3,
        other => match other.parse() {
            Ok(n) => n,
            Err(_) => {
                return err(
                    span,
                    format!("unknown log level `{other}` (L_ALERT, L_BUG, L_CRIT, L_ERR, L_WARN, L_NOTICE, L_INFO, L_DBG or a number)"),
                )
            }
        },
    })
}

/// The `log_prefix` core parameter as a format (the last assignment wins).
fn log_prefix(config: &ast::Config) -> Result<Option<Vec<FmtPart>>, CompileError> {
    match config
        .param_item("log_prefix")
        .map(|p| (&p.value.value, p.value.span))
    {
        None => Ok(None),
        Some((ast::Value::Str(s), span)) => parse_format(s).map(Some).or_else(|e| err(span, e)),
        Some((_, span)) => err(span, "log_prefix takes a string"),
    }
}

/// Splits an `xlog` format into literal text and pseudo-variables (each resolved now).
pub(crate) fn parse_format(s: &str) -> Result<Vec<FmtPart>, String> {
    let b = s.as_bytes();
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
            lit.push(ch);
            i += ch.len_utf8();
            continue;
        }
        let start = i;
        let mut j = i + 1;
        if b.get(j) == Some(&b'(') {
            j = match_paren(b, j).ok_or_else(|| format!("unterminated `{}`", &s[start..]))?;
        } else if b.get(j) == Some(&b'?') {
            // `$?`: the last return code.
            j += 1;
        } else {
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if j == i + 1 {
                lit.push('$');
                i += 1;
                continue;
            }
            if b.get(j) == Some(&b'(') {
                j = match_paren(b, j).ok_or_else(|| format!("unterminated `{}`", &s[start..]))?;
            }
        }
        if !lit.is_empty() {
            parts.push(FmtPart::Lit(std::mem::take(&mut lit)));
        }
        parts.push(FmtPart::Pv(pv::parse(&s[start..j])?));
        i = j;
    }
    if !lit.is_empty() {
        parts.push(FmtPart::Lit(lit));
    }
    Ok(parts)
}

fn match_paren(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (k, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(k + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod in_parts_tests {
    use super::*;

    /// Many routes with regexes, module calls, pseudo-variables, warnings; `broken` puts an
    /// unknown function into one of them.
    fn script(routes: usize, broken: Option<usize>) -> String {
        let mut text = String::from(
            "loadmodule \"sl.so\"\nloadmodule \"textops.so\"\nflags F1;\nrequest_route {\n  route(R0);\n}\n",
        );
        for i in 0..routes {
            let call = if broken == Some(i) {
                "nosuch_fn();"
            } else {
                "sl_send_reply(\"404\", \"Not here\");"
            };
            text.push_str(&format!(
                "route[R{i}] {{\n  if ($ru =~ \"^sip:{i}[0-9]*@\" && method == \"INVITE\") {{\n    setflag(F1);\n    {call}\n  }}\n  $var(x) = $var(x) + {i};\n  if (search(\"^To:.*{i}\")) {{ append_hf(\"X-R: {i}\\r\\n\"); }}\n  route(R{next});\n}}\nfailure_route[F{i}] {{ drop; }}\n",
                next = (i + 1) % routes
            ));
        }
        text
    }

    /// The compiled routes and the warnings, or the error (the route-name map is left out:
    /// its Debug order is a hash map's).
    fn outcome(text: &str, mode: Mode, parts: Option<usize>) -> String {
        let parsed = cfg_parser::parse_str("t.cfg", text, &Default::default());
        assert!(!parsed.has_errors(), "{:?}", parsed.errors().next());
        let script = Script {
            config: &parsed.config,
            preloaded: &[],
        };
        match compile_in_parts(script, &[], Some(parsed.sources()), mode, parts) {
            Ok((program, warnings)) => format!("{:?}\n{warnings:?}", program.routes),
            Err(e) => format!("Err {e:?}"),
        }
    }

    /// A check drops each op as soon as it is built, and keeps no nested body: it must
    /// still reach every statement a build reaches, with the same first error.
    #[test]
    fn a_check_finds_the_errors_of_every_nested_body() {
        let wrap = [
            "if ($rU == \"1\") { BAD }",
            "if ($rU == \"1\") { xlog(\"a\\n\"); } else { BAD }",
            "if ($rU == \"1\") BAD",
            "while ($var(i) < 3) { $var(i) = $var(i) + 1; BAD }",
            "switch ($rU) { case \"1\": xlog(\"a\\n\"); break; default: BAD }",
            "{ { BAD } }",
            "if ($rU == \"1\") { switch ($rU) { case \"2\": { BAD } } }",
        ];
        let bad = [
            "nosuch_fn();",
            "if ($ru =~ \"(unclosed\") { drop; }",
            "$ru(x) = 1;",
        ];
        for w in wrap {
            for b in bad {
                let text = format!(
                    "loadmodule \"sl.so\"\nrequest_route {{\n  {}\n}}\n",
                    w.replace("BAD", b)
                );
                let built = outcome(&text, Mode::Build, Some(1));
                assert!(built.starts_with("Err"), "{text}");
                assert_eq!(built, outcome(&text, Mode::Check, Some(1)), "{text}");
            }
        }
    }

    #[test]
    fn the_program_does_not_depend_on_the_number_of_parts() {
        for broken in [None, Some(3), Some(47)] {
            let text = script(60, broken);
            for mode in [Mode::Build, Mode::Check] {
                let one = outcome(&text, mode, Some(1));
                assert_eq!(broken.is_some(), one.starts_with("Err"), "{broken:?}");
                for parts in [2, 3, 7] {
                    assert_eq!(
                        one,
                        outcome(&text, mode, Some(parts)),
                        "{broken:?} {mode:?} {parts}"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod pattern_check_tests {
    use super::*;

    proptest::proptest! {
        /// Random patterns from regex syntax's own characters: the check and the build
        /// agree on each (a pattern too big to build is no syntax error, and the check
        /// does not look at sizes).
        #[test]
        fn check_agrees_with_build_on_random_patterns(
            pattern in "[a-cA-C0-9\\\\(){}\\[\\]*+?|^$.:,<>&~=!#PpdDwWsSbBxuk-]{0,14}",
            icase: bool,
        ) {
            let built = RegexBuilder::new(&pattern).case_insensitive(icase).build();
            let checked = check_pattern(&pattern, false);
            if !matches!(built, Err(regex::Error::CompiledTooBig(_))) {
                proptest::prop_assert_eq!(checked.is_ok(), built.is_ok(), "{:?}", pattern);
            }
        }

        /// The same from the characters of the quick path (plain pieces, classes, ranges,
        /// escapes, repetitions), where random patterns often pass it.
        #[test]
        fn check_agrees_with_build_on_plain_looking_patterns(
            pattern in "[ac09\\[\\]^$.*+?\\\\_@: -]{0,12}",
        ) {
            let built = RegexBuilder::new(&pattern).build();
            let checked = check_pattern(&pattern, false);
            if !matches!(built, Err(regex::Error::CompiledTooBig(_))) {
                proptest::prop_assert_eq!(checked.is_ok(), built.is_ok(), "{:?}", pattern);
            }
        }
    }

    /// The shapes most scripts use take the quick path (it is not dead code), and what
    /// it cannot vouch for goes to the parser.
    #[test]
    fn plain_patterns_skip_the_parser() {
        for p in [
            "^sip:\\+?[0-9]+@",
            "^sip:0[0-9]*@",
            "\\.example\\.com$",
            "^[^a-z_]+.*$",
            "a*?b",
            "^sip:alice@",
            "",
        ] {
            assert!(plainly_valid(p), "{p}");
        }
        for p in [
            "(a|b)",
            "a{2}",
            "\\d",
            "[[:alpha:]]",
            "[a-]",
            "[z-a]",
            "*",
            "[a&&b]",
            "a**",
            "a*??",
        ] {
            assert!(!plainly_valid(p), "{p}");
        }
    }

    /// Each repetition of a repetition nests one level deeper, and the regex parser stops
    /// at 250 levels: the check must refuse what the build refuses.
    #[test]
    fn stacked_repetitions_past_the_nest_limit_are_refused() {
        // (`??` is one lazy repetition: 600 of `?` nest 300 levels.)
        for op in ["*", "+", "?"] {
            let pattern = format!("a{}", op.repeat(600));
            assert!(RegexBuilder::new(&pattern).build().is_err(), "{op}");
            assert!(check_pattern(&pattern, false).is_err(), "{op}");
        }
    }

    /// The check accepts exactly the patterns the server would build, with and without case
    /// (which the check leaves out) and across the error kinds that come from translating
    /// the pattern rather than from its syntax: Unicode classes, bytes, case-folded ranges.
    #[test]
    fn check_agrees_with_build_with_and_without_case() {
        let patterns = [
            "^sip:0[0-9]*@",
            "^SIP:[a-z]+@example\\.ORG$",
            "[z-a]",
            "(unclosed",
            "a{2,1}",
            "\\p{Greek}+",
            "\\p{NoSuchScript}",
            "\\pZ",
            "(?-u)\\xFF",
            "(?-u:[\\x80-\\xFF])",
            "(?i)straße",
            "[[:alpha:]]",
            "[[:nosuch:]]",
            "\\w+\\b\\d",
            "K",
            "*",
            "",
            "a**",
            "[a-\\d]",
            "\\W+",
            "[^\\x00-\\x{10FFFF}]",
            "\\x{110000}",
            "(?P<n>a)(?P<n>b)",
            "(a)\\1",
            "\\b{start}x",
            "\\u{1F600}",
            "[[:^alpha:]]",
            "[a&&b]",
            "[\\d--5]",
            "^sip:alice7@",
            "a$b^c",
            "ß-&~# <>,=!:/\"'%",
            "^*",
            "$+a",
            "?a",
            "[0-9]*x",
            "[a-]",
            "[]",
            "[^]",
            "[ab",
            "\\.+\\*?",
            "\\/",
            "\\&\\-\\~\\#",
            "[0-z]",
            "x[^a-z_]?",
            "^sip:\\+?[0-9]+@",
            "[.*+?$ /]+",
            "[:alpha:]",
            "a]",
            "[a-c-e]",
        ];
        for pattern in patterns {
            for icase in [false, true] {
                for multi_line in [false, true] {
                    let built = RegexBuilder::new(pattern)
                        .case_insensitive(icase)
                        .multi_line(multi_line)
                        .build();
                    let checked = check_pattern(pattern, multi_line);
                    assert_eq!(
                        checked.is_ok(),
                        built.is_ok(),
                        "{pattern:?} icase={icase} multi_line={multi_line}: {checked:?} / {built:?}"
                    );
                    if let (Err(c), Err(regex::Error::Syntax(b))) = (&checked, &built) {
                        assert_eq!(c, b, "{pattern:?}");
                    }
                }
            }
        }
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod sizes {
    /// A large script compiles to tens of thousands of these, allocated one by one: a size
    /// past glibc's fast bins (128 bytes) for a binary operation's node made a check's
    /// compile measurably slower (`docs/performance.md`, `-c` lever 61).
    #[test]
    fn compiled_nodes_stay_small() {
        assert_eq!(std::mem::size_of::<super::Expr>(), 32);
        assert_eq!(
            std::mem::size_of::<(super::BinaryOp, super::Expr, super::Expr)>(),
            72
        );
        assert!(std::mem::size_of::<super::Op>() <= 104);
    }
}

#[cfg(test)]
mod tests {
    use super::{compile, Func, HostArg, Mode, Op};
    use std::net::IpAddr;

    /// The hosts of a config's `forward*` calls, in order, as compiled.
    fn forward_hosts(script: &str) -> Vec<String> {
        let cfg = format!("loadmodule \"pv.so\"\nrequest_route {{\n{script}\n}}\n");
        let parsed = cfg_parser::parse_str("t.cfg", &cfg, &Default::default());
        assert!(!parsed.has_errors(), "{script} parses");
        let rc = crate::RouterConfig::default();
        let (program, _) = compile(&parsed.config, &rc, None, Mode::Build).expect("compiles");
        let host = |h: &HostArg| match h {
            HostArg::Addr(ip) => format!("addr {ip}"),
            HostArg::Expr(_) => "expr".to_string(),
        };
        program.routes[program.request.expect("a request route")]
            .iter()
            .filter_map(|op| match op {
                Op::Call(Func::Forward(Some((h, _)))) | Op::Call(Func::ForwardProto(_, h, _)) => {
                    Some(host(h))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_forward_to_an_address_is_read_when_compiled_and_anything_else_when_run() {
        let hosts = forward_hosts(
            r#"forward("127.0.0.1", 5080);
            forward_tcp("::1", 5080);
            forward("[::1]", 5080);
            forward("proxy.example.com");
            forward($var(next));
            forward_udp("10.0.0." + "1");"#,
        );
        let v6: IpAddr = "::1".parse().expect("address");
        assert_eq!(
            hosts,
            [
                "addr 127.0.0.1".to_string(),
                format!("addr {v6}"),
                // Read at run time as now: `[::1]` is not an address for `forward`.
                "expr".into(),
                "expr".into(),
                "expr".into(),
                "expr".into(),
            ]
        );
    }
}
