//! The typed AST of a `kamailio.cfg`: plain data, every node with its [`Span`].
//!
//! Items are kept in file order (Kamailio applies them in that order: a `port=` after a
//! `listen=` matters, `socket_workers=` is one-shot for the next socket, …).

use std::net::IpAddr;

use serde::Serialize;

pub use cfg_lexer::Span;

/// A value with the span it was written at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Wraps a value.
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

/// A whole configuration (main file with its includes spliced in).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// Top-level items in file order.
    pub items: Vec<Item>,
}

impl Config {
    /// The value of a core parameter (canonical name) as it stands after the whole file:
    /// the last assignment wins, as Kamailio applies them in order.
    pub fn param(&self, canonical: &str) -> Option<&Value> {
        self.param_item(canonical).map(|p| &p.value.value)
    }

    /// The last assignment of a core parameter (canonical name), with its spans.
    pub fn param_item(&self, canonical: &str) -> Option<&Param> {
        self.items.iter().rev().find_map(|i| match i {
            Item::Param(p) if p.name.value == canonical => Some(p),
            _ => None,
        })
    }

    /// A core parameter's integer value, if it is set to one.
    pub fn int_param(&self, canonical: &str) -> Option<i64> {
        match self.param(canonical) {
            Some(Value::Int(n)) => Some(*n),
            _ => None,
        }
    }
}

/// One top-level statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "item")]
pub enum Item {
    /// A core global parameter: `debug=3`, `children=4`, `port=5060`.
    Param(Param),
    /// `listen = …` (boxed, as `socket` and the cfg variables: items are kept in long
    /// lists, and these three would make every item twice the size of the others).
    Listen(Box<Listen>),
    /// `socket = { … }`
    Socket(Box<SocketBlock>),
    /// `alias = …` / `domain = …`
    Alias(Alias),
    /// A custom cfg-framework variable: `group.var = value [descr "…"]`.
    CfgVar(Box<CfgVar>),
    /// `kemi.<callback> = "…"`
    Kemi(Kemi),
    /// `coreparam[name] = value`
    CoreParam(CoreParam),
    /// `loadmodule "x.so"` / `loadmodulex`
    LoadModule(LoadModule),
    /// `loadpath "…"` / `mpath "…"`
    LoadPath(Spanned<String>),
    /// `modparam("mod", "param", value)` / `modparamx`
    ModParam(ModParam),
    /// `cfgengine "native"`
    CfgEngine(Spanned<String>),
    /// `flags NAME[:N], …` / `bool …`
    Flags(FlagsDecl),
    /// `avpflags NAME, …`
    AvpFlags(FlagsDecl),
    /// `#!subst`, `#!substdef`, `#!substdefs` (already applied by the lexer).
    Subst(Subst),
    /// A route block of any type.
    Route(RouteBlock),
}

// ---------------------------------------------------------------- global parameters

/// `name = value` for a core parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Param {
    /// The canonical parameter name (`tls_log` is written as `tls_port_no`).
    pub name: Spanned<String>,
    /// The spelling used in the file.
    pub spelling: String,
    /// The value, typed by the parameter's declared type.
    pub value: Spanned<Value>,
    /// The whole statement.
    pub span: Span,
}

/// A typed parameter value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "value")]
pub enum Value {
    /// A number (booleans and `inet`/`inet6` words are numbers, as in Kamailio).
    Int(i64),
    /// A string.
    Str(String),
    /// A bare identifier (`log_facility=LOG_LOCAL0`).
    Ident(String),
    /// An IP address literal.
    Ip(IpAddr),
    /// A protocol word (`udp_mtu_try_proto=tcp`).
    Proto(Proto),
    /// A host or interface name (`advertised_address=sip.example.com`).
    Host(HostSpec),
}

/// Transport protocols as written in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// `udp`
    Udp,
    /// `tcp`
    Tcp,
    /// `tls`
    Tls,
    /// `sctp`
    Sctp,
    /// `ws` (advertise and conditions only)
    Ws,
    /// `wss` (advertise and conditions only)
    Wss,
    /// `quic` (siprouter extension, listen and socket-block addresses only; Kamailio has
    /// no QUIC transport)
    Quic,
    /// `*`: every enabled protocol
    Any,
}

impl Proto {
    /// The lower-case protocol word.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
            Proto::Tls => "tls",
            Proto::Sctp => "sctp",
            Proto::Ws => "ws",
            Proto::Wss => "wss",
            Proto::Quic => "quic",
            Proto::Any => "*",
        }
    }
}

// ---------------------------------------------------------------- listen family

/// A host as written in a listen-like directive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value")]
pub enum HostSpec {
    /// An IPv4 or IPv6 literal (`127.0.0.1`, `[::1]`, `::1`); stored without brackets.
    Ip(IpAddr),
    /// An unquoted host or interface name (`eth0`, `sip.example.com`, `eth0.100`).
    Name(String),
    /// A quoted name, taken verbatim (`"eth0"`, `"[::1]"`, `"mail.domain.com"`).
    Quoted(String),
}

/// A port as written: a number or `*` (the default port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value")]
pub enum PortSpec {
    /// An explicit port (0 is written as 0 and means "default" to Kamailio).
    Number(u16),
    /// `*`: the default port.
    Default,
}

/// `[proto:]host[:port]`, or `[proto:](h1, h2, …)[:port]`; in a socket block `bind` may carry
/// a port range `port-port`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListenAddr {
    /// The protocol, if written (`*` is [`Proto::Any`]).
    pub proto: Option<Spanned<Proto>>,
    /// One host, or several for a parenthesised (multi-homed) list.
    pub hosts: Vec<Spanned<HostSpec>>,
    /// The hosts were written as a parenthesised list.
    pub multihomed: bool,
    /// The port, if written.
    pub port: Option<Spanned<PortSpec>>,
    /// The end of a port range (`bind = udp:1.2.3.4:6000-6002`), socket blocks only.
    pub port_end: Option<Spanned<u16>>,
    /// The whole address.
    pub span: Span,
}

/// `advertise` information.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Advertise {
    /// The advertised protocol, if written.
    pub proto: Option<Spanned<Proto>>,
    /// The advertised host.
    pub host: Spanned<HostSpec>,
    /// The advertised port, if written.
    pub port: Option<Spanned<u16>>,
    /// The whole advertise clause.
    pub span: Span,
}

/// `listen = addr … [advertise …] [name "…"] [virtual]`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Listen {
    /// The addresses (whitespace separated in the config).
    pub addrs: Vec<ListenAddr>,
    /// `advertise …`, applied to every socket of this directive.
    pub advertise: Option<Advertise>,
    /// `name "…"`
    pub name: Option<Spanned<String>>,
    /// `virtual`
    pub is_virtual: bool,
    /// The whole directive.
    pub span: Span,
}

/// `socket = { bind = …; advertise = …; name = …; … }`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SocketBlock {
    /// `bind = [proto:]host[:port[-port]]` (required; last one wins).
    pub bind: Option<ListenAddr>,
    /// `advertise = [proto:]host:port`
    pub advertise: Option<Advertise>,
    /// `name = "…"`
    pub name: Option<Spanned<String>>,
    /// `agname = "…"`
    pub agname: Option<Spanned<String>>,
    /// `virtual = N` (non-zero: virtual)
    pub is_virtual: Option<Spanned<bool>>,
    /// `vrf = "…"`
    pub vrf: Option<Spanned<String>>,
    /// `workers = N` (Kamailio's lexer cannot read it; we do and carry it to the socket).
    pub workers: Option<Spanned<u32>>,
    /// The whole block.
    pub span: Span,
}

/// `alias = …` / `domain = …`: names that count as "myself".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alias {
    /// The addresses (protocol and port optional).
    pub addrs: Vec<ListenAddr>,
    /// The whole directive.
    pub span: Span,
}

// ---------------------------------------------------------------- other top-level items

/// A value of a custom cfg variable, `modparam` or `coreparam`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "value")]
pub enum Scalar {
    /// A number.
    Int(i64),
    /// A string.
    Str(String),
    /// A pseudo-variable (`modparamx` only).
    Pvar(String),
}

/// `group.var = value [descr "…"]` or `group[N].var = value`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CfgVar {
    /// The group name.
    pub group: Spanned<String>,
    /// The group instance, for `group[N].var`.
    pub instance: Option<Spanned<i64>>,
    /// The variable name.
    pub var: Spanned<String>,
    /// The value.
    pub value: Spanned<Scalar>,
    /// The description, if given.
    pub descr: Option<Spanned<String>>,
    /// The whole statement.
    pub span: Span,
}

/// `kemi.<callback> = "…"`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kemi {
    /// The callback key (`request_route_callback`, …).
    pub key: Spanned<String>,
    /// The route function name.
    pub value: Spanned<String>,
    /// The whole statement.
    pub span: Span,
}

/// `coreparam[name] = value`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoreParam {
    /// The parameter name.
    pub name: Spanned<String>,
    /// The value.
    pub value: Spanned<Scalar>,
    /// The whole statement.
    pub span: Span,
}

/// `loadmodule "name"` / `loadmodule("name", "opts")` / `loadmodulex …`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadModule {
    /// The module path or name as written.
    pub path: Spanned<String>,
    /// The option letters (`g`, `o`), if given.
    pub options: Option<Spanned<String>>,
    /// `loadmodulex` (the path may contain pseudo-variables).
    pub expand: bool,
    /// The whole statement.
    pub span: Span,
}

impl LoadModule {
    /// The module name: the file name without directory and `.so`.
    pub fn module_name(&self) -> &str {
        let p = self.path.value.as_str();
        let base = p.rsplit('/').next().unwrap_or(p);
        base.strip_suffix(".so").unwrap_or(base)
    }
}

/// `modparam("module", "param", value)` / `modparamx`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModParam {
    /// The module name (a regular expression matched against loaded modules).
    pub module: Spanned<String>,
    /// The parameter name.
    pub param: Spanned<String>,
    /// The value.
    pub value: Spanned<Scalar>,
    /// `modparamx` (PVs are evaluated).
    pub expand: bool,
    /// The whole statement.
    pub span: Span,
}

/// `flags a, b:3` / `avpflags x, y`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlagsDecl {
    /// The declared flags, with explicit positions where given.
    pub flags: Vec<FlagDecl>,
    /// The whole statement.
    pub span: Span,
}

/// One declared flag.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlagDecl {
    /// The flag name.
    pub name: Spanned<String>,
    /// The explicit flag number (`name:N`).
    pub position: Option<Spanned<i64>>,
}

/// A subst directive, kept so that tools see it (the lexer has applied it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subst {
    /// Which directive.
    pub kind: cfg_lexer::SubstKind,
    /// The rule text.
    pub rule: Spanned<String>,
    /// The whole directive.
    pub span: Span,
}

// ---------------------------------------------------------------- routes

/// The type of a route block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    /// `request_route`, `route`, `route[NAME]`
    Request,
    /// `failure_route`
    Failure,
    /// `reply_route`, `onreply_route`, `onreply_route[NAME]`
    Reply,
    /// `branch_route`
    Branch,
    /// `onsend_route`
    Send,
    /// `event_route[module:event]`
    Event,
}

impl RouteKind {
    /// The keyword of the block type (for messages).
    pub fn keyword(self) -> &'static str {
        match self {
            RouteKind::Request => "route",
            RouteKind::Failure => "failure_route",
            RouteKind::Reply => "onreply_route",
            RouteKind::Branch => "branch_route",
            RouteKind::Send => "onsend_route",
            RouteKind::Event => "event_route",
        }
    }
}

/// A route block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteBlock {
    /// The block type.
    pub kind: RouteKind,
    /// The keyword as written (`request_route`, `route`, `reply_route`, …).
    pub keyword: String,
    /// The name; `None` for the default block of its type (`route[0]` is the default too).
    pub name: Option<Spanned<String>>,
    /// The statements.
    pub body: Block,
    /// The whole block.
    pub span: Span,
}

/// `{ statements }`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Block {
    /// The statements in order.
    pub stmts: Vec<Stmt>,
    /// From `{` to `}`.
    pub span: Span,
}

/// A statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "stmt")]
pub enum Stmt {
    /// A function call or core action: `sl_send_reply("404", "Not here");`
    Call(Call),
    /// `lhs = expr;`
    Assign {
        /// The variable assigned to.
        target: Spanned<String>,
        /// The value.
        value: Expr,
        /// The whole statement.
        span: Span,
    },
    /// `if cond stmt [else stmt]`
    If {
        /// The condition.
        cond: Expr,
        /// The branch taken when true.
        then: Box<Stmt>,
        /// The branch taken when false.
        otherwise: Option<Box<Stmt>>,
        /// The whole statement.
        span: Span,
    },
    /// `switch (expr) { case …: … default: … }`
    Switch {
        /// The value switched on.
        value: Expr,
        /// The cases in order.
        cases: Vec<Case>,
        /// The whole statement.
        span: Span,
    },
    /// `while cond stmt`
    While {
        /// The condition.
        cond: Expr,
        /// The body.
        body: Box<Stmt>,
        /// The whole statement.
        span: Span,
    },
    /// `return [expr]`, `exit [expr]`, `drop [expr]`
    Return {
        /// Which keyword.
        kind: ReturnKind,
        /// The value, if given.
        value: Option<Expr>,
        /// The whole statement.
        span: Span,
    },
    /// `break`
    Break {
        /// Where.
        span: Span,
    },
    /// `{ … }`
    Block(Block),
    /// A lone `;` (also what a statement with a syntax error is replaced by).
    Empty {
        /// Where.
        span: Span,
    },
}

/// `return`, `exit`, `drop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReturnKind {
    /// `return`: leave the current route.
    Return,
    /// `exit`: stop the script.
    Exit,
    /// `drop`: stop and drop the message.
    Drop,
}

/// One `case` (or `default`) of a switch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    /// The label; `None` for `default`.
    pub label: Option<Expr>,
    /// `case /"regex":` form.
    pub regex: bool,
    /// The statements up to the next case.
    pub body: Vec<Stmt>,
    /// The whole case.
    pub span: Span,
}

/// A binary operation: `left op right`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Binary {
    /// The operator.
    pub op: BinaryOp,
    /// Left operand.
    pub left: Expr,
    /// Right operand.
    pub right: Expr,
    /// Where.
    pub span: Span,
}

/// A call: a core action or a module function, with its arguments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    /// The name as written (keywords keep their spelling; borrowed from the keyword table,
    /// so that core actions cost no allocation).
    pub name: Spanned<std::borrow::Cow<'static, str>>,
    /// The arguments.
    pub args: Vec<Arg>,
    /// The call was written with parentheses (`force_rport` vs `force_rport()`).
    pub parens: bool,
    /// The whole call.
    pub span: Span,
}

/// A call argument.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "arg")]
pub enum Arg {
    /// An expression.
    Expr(Expr),
    /// A socket-like argument: `udp:1.2.3.4:5060`, `sip.example.com`, `uri:host` (boxed:
    /// rare, and large next to an expression).
    Address(Box<ListenAddr>),
}

/// An expression.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "expr")]
pub enum Expr {
    /// A number.
    Int {
        /// The value.
        value: i64,
        /// Where.
        span: Span,
    },
    /// A string. (The texts of expressions are boxed slices, not `String`s: 16 bytes
    /// instead of 24 keep every expression at 32 bytes.)
    Str {
        /// The value.
        value: Box<str>,
        /// Where.
        span: Span,
    },
    /// A pseudo-variable or AVP (`$ru`, `$var(x)`, `$(ru{s.len})`, `%x`, `$x[1]`).
    Var {
        /// The text as written (after subst rules).
        name: Box<str>,
        /// Where.
        span: Span,
    },
    /// A select (`@via[1].branch`).
    Select {
        /// The text as written.
        path: Box<str>,
        /// Where.
        span: Span,
    },
    /// A bare word where one is allowed (`method == INVITE`, `proto == udp`, `myself`,
    /// a host name in an `src_ip ==` comparison).
    Word {
        /// The word.
        word: Box<str>,
        /// Where.
        span: Span,
    },
    /// An IP address or network (`10.0.0.0/8`, `::1`).
    Net {
        /// The address.
        addr: IpAddr,
        /// The prefix length (`/N` or `/mask`), if given.
        prefix: Option<u8>,
        /// Where.
        span: Span,
    },
    /// A function call used as a value (boxed, so that every other expression stays small).
    Call(Box<Call>),
    /// A unary operator.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        operand: Box<Expr>,
        /// Where.
        span: Span,
    },
    /// A binary operator (both operands in one allocation).
    Binary(Box<Binary>),
    /// `selval(cond, a, b)` (its three operands in one allocation).
    Select3(Box<Select3>),
    /// A legacy condition operand keyword (`method`, `uri`, `src_ip`, `proto`, …).
    Legacy {
        /// The operand keyword, canonical spelling.
        operand: &'static str,
        /// Where.
        span: Span,
    },
    /// `{ actions }` used as a value (boxed: rare, and large next to the 32 bytes an
    /// expression takes).
    Block(Box<Block>),
}

impl Expr {
    /// The expression's span.
    pub fn span(&self) -> Span {
        match self {
            Expr::Int { span, .. }
            | Expr::Str { span, .. }
            | Expr::Var { span, .. }
            | Expr::Select { span, .. }
            | Expr::Word { span, .. }
            | Expr::Net { span, .. }
            | Expr::Unary { span, .. }
            | Expr::Legacy { span, .. } => *span,
            Expr::Call(c) => c.span,
            Expr::Binary(b) => b.span,
            Expr::Select3(s) => s.span,
            Expr::Block(b) => b.span,
        }
    }
}

/// `selval(cond, then, otherwise)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Select3 {
    /// The condition.
    pub cond: Expr,
    /// Value when true.
    pub then: Expr,
    /// Value when false.
    pub otherwise: Expr,
    /// Where.
    pub span: Span,
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnaryOp {
    /// `!` / `not`
    Not,
    /// `-`
    Neg,
    /// `~`
    BitNot,
    /// `(int)`
    IntCast,
    /// `(str)`
    StrCast,
    /// `defined`
    Defined,
    /// `strlen(…)`
    Strlen,
    /// `strempty(…)`
    Strempty,
}

/// Binary operators, with Kamailio's precedence (see [`BinaryOp::precedence`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BinaryOp {
    /// `||` / `or`
    Or,
    /// `&&` / `and`
    And,
    /// `|`
    BitOr,
    /// `&`
    BitAnd,
    /// `^`
    BitXor,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `=~`
    Match,
    /// `eq`
    StrEq,
    /// `ne`
    StrNe,
    /// `ieq`
    IntEq,
    /// `ine`
    IntNe,
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `<=`
    Le,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `mod`
    Mod,
}

impl BinaryOp {
    /// Kamailio's precedence level (higher binds tighter), from its grammar: `||` 2, `&&` 3,
    /// `|` 4, `&` 5, `^` 6, `<<` 7, `>>` 8, equality 9, relational 10, `+ -` 11, `* / mod` 12.
    /// Note the differences from C: `^` binds tighter than `&`, and the shifts bind looser
    /// than comparisons.
    pub fn precedence(self) -> u8 {
        use BinaryOp::*;
        match self {
            Or => 2,
            And => 3,
            BitOr => 4,
            BitAnd => 5,
            BitXor => 6,
            Shl => 7,
            Shr => 8,
            Eq | Ne | Match | StrEq | StrNe | IntEq | IntNe => 9,
            Gt | Lt | Ge | Le => 10,
            Add | Sub => 11,
            Mul | Div | Mod => 12,
        }
    }

    /// The operator as written canonically.
    pub fn text(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Or => "||",
            And => "&&",
            BitOr => "|",
            BitAnd => "&",
            BitXor => "^",
            Shl => "<<",
            Shr => ">>",
            Eq => "==",
            Ne => "!=",
            Match => "=~",
            StrEq => "eq",
            StrNe => "ne",
            IntEq => "ieq",
            IntNe => "ine",
            Gt => ">",
            Lt => "<",
            Ge => ">=",
            Le => "<=",
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Mod => "mod",
        }
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// A large config has hundreds of thousands of expressions and statements: their size
    /// is most of the parser's memory (calls and address arguments are boxed for it).
    #[test]
    fn expressions_and_statements_stay_small() {
        assert!(std::mem::size_of::<Expr>() <= 32);
        assert!(std::mem::size_of::<Arg>() <= 32);
        assert!(std::mem::size_of::<Binary>() <= 80);
        assert!(std::mem::size_of::<Stmt>() <= 88);
    }

    /// `selval`'s operands share one box, but its JSON is the flat object it always was.
    #[test]
    fn selval_keeps_its_json_shape() {
        let span = Span::new(cfg_lexer::FileId(0), 0, 1);
        let int = |value| Expr::Int { value, span };
        let e = Expr::Select3(Box::new(Select3 {
            cond: int(1),
            then: int(2),
            otherwise: int(3),
            span,
        }));
        let json = serde_json::to_value(&e).expect("serialisable");
        assert_eq!(json["expr"], "Select3");
        assert_eq!(json["cond"]["value"], 1);
        assert_eq!(json["then"]["value"], 2);
        assert_eq!(json["otherwise"]["value"], 3);
        assert!(json["span"].is_object());
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod sizes {
    /// A large config's items are copied into one list at the end of a parse in pieces (and
    /// lie in lists per piece before): the few large kinds are boxed, so that an item is
    /// 152 bytes instead of 360 (`docs/performance.md`, `-c` lever 65).
    #[test]
    fn an_item_stays_small() {
        assert!(std::mem::size_of::<super::Item>() <= 152);
    }
}
