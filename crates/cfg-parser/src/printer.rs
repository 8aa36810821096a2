//! Prints an AST back as canonical config text: one item per line, blocks indented with a tab,
//! binary expressions fully parenthesised, strings double-quoted. Parsing the output gives the
//! same AST (spans aside); defines and includes are already expanded in the AST, so the output
//! has none.

use std::fmt::Write;
use std::net::IpAddr;

use cfg_lexer::quoted;

use crate::ast::*;

/// Prints a whole config.
pub fn print(config: &Config) -> String {
    let mut p = Printer::default();
    for item in &config.items {
        p.item(item);
    }
    if config.items.is_empty() {
        // A config of null statements only (`;`) is valid; an empty file is not.
        p.out.push_str(";\n");
    }
    p.out
}

#[derive(Default)]
struct Printer {
    out: String,
    indent: usize,
}

fn ip(a: &IpAddr) -> String {
    match a {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

fn host(h: &HostSpec) -> String {
    match h {
        HostSpec::Ip(a) => ip(a),
        HostSpec::Name(n) => n.clone(),
        HostSpec::Quoted(q) => quoted(q),
    }
}

fn listen_addr(a: &ListenAddr) -> String {
    let mut s = String::new();
    if let Some(p) = &a.proto {
        s.push_str(p.value.as_str());
        s.push(':');
    }
    if a.multihomed {
        let hosts: Vec<String> = a.hosts.iter().map(|h| host(&h.value)).collect();
        let _ = write!(s, "({})", hosts.join(", "));
    } else if let Some(h) = a.hosts.first() {
        s.push_str(&host(&h.value));
    }
    if let Some(p) = &a.port {
        match p.value {
            PortSpec::Number(n) => {
                let _ = write!(s, ":{n}");
            }
            PortSpec::Default => s.push_str(":*"),
        }
    }
    if let Some(e) = &a.port_end {
        let _ = write!(s, "-{}", e.value);
    }
    s
}

fn advertise(a: &Advertise) -> String {
    let mut s = String::new();
    if let Some(p) = &a.proto {
        let _ = write!(s, "{}:", p.value.as_str());
    }
    s.push_str(&host(&a.host.value));
    if let Some(p) = &a.port {
        let _ = write!(s, ":{}", p.value);
    }
    s
}

fn value(v: &Value) -> String {
    match v {
        Value::Int(n) => n.to_string(),
        Value::Str(s) => quoted(s),
        Value::Ident(i) => i.clone(),
        Value::Ip(a) => ip(a),
        Value::Proto(p) => p.as_str().to_string(),
        Value::Host(h) => host(h),
    }
}

fn scalar(v: &Scalar) -> String {
    match v {
        Scalar::Int(n) => n.to_string(),
        Scalar::Str(s) => quoted(s),
        Scalar::Pvar(p) => p.clone(),
    }
}

/// A name that reads back as the same name: bare when it is a plain identifier, else quoted.
fn name(n: &str) -> String {
    let plain = n
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !cfg_lexer::is_reserved(n);
    if plain {
        n.to_string()
    } else {
        quoted(n)
    }
}

fn unary_op(op: UnaryOp) -> &'static str {
    match op {
        UnaryOp::Not => "!",
        UnaryOp::Neg => "-",
        UnaryOp::BitNot => "~",
        UnaryOp::IntCast => "(int)",
        UnaryOp::StrCast => "(str)",
        UnaryOp::Defined => "defined ",
        UnaryOp::Strlen => "strlen",
        UnaryOp::Strempty => "strempty",
    }
}

fn expr(e: &Expr) -> String {
    match e {
        Expr::Int { value, .. } => value.to_string(),
        Expr::Str { value, .. } => quoted(value),
        Expr::Var { name, .. } => name.to_string(),
        Expr::Select { path, .. } => path.to_string(),
        Expr::Word { word, .. } => word.to_string(),
        Expr::Net { addr, prefix, .. } => match prefix {
            Some(p) => format!("{}/{p}", ip(addr)),
            None => ip(addr),
        },
        Expr::Call(c) => call(c),
        Expr::Unary { op, operand, .. } => format!("{}({})", unary_op(*op), expr(operand)),
        Expr::Binary(b) => format!("({} {} {})", expr(&b.left), b.op.text(), expr(&b.right)),
        Expr::Select3(s) => format!(
            "selval({}, {}, {})",
            expr(&s.cond),
            expr(&s.then),
            expr(&s.otherwise)
        ),
        Expr::Legacy { operand, .. } => operand.to_string(),
        Expr::Block(_) => "0".to_string(),
    }
}

fn call(c: &Call) -> String {
    if !c.parens {
        return c.name.value.to_string();
    }
    let args: Vec<String> = c
        .args
        .iter()
        .map(|a| match a {
            Arg::Expr(e) => expr(e),
            Arg::Address(a) => listen_addr(a),
        })
        .collect();
    format!("{}({})", c.name.value, args.join(", "))
}

impl Printer {
    fn line(&mut self, s: &str) {
        for _ in 0..self.indent {
            self.out.push('\t');
        }
        self.out.push_str(s);
        self.out.push('\n');
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Param(p) => self.line(&format!("{} = {};", p.spelling, value(&p.value.value))),
            Item::Listen(l) => {
                let mut s = String::from("listen =");
                for a in &l.addrs {
                    s.push(' ');
                    s.push_str(&listen_addr(a));
                }
                if let Some(a) = &l.advertise {
                    let _ = write!(s, " advertise {}", advertise(a));
                }
                if let Some(n) = &l.name {
                    let _ = write!(s, " name {}", quoted(&n.value));
                }
                if l.is_virtual {
                    s.push_str(" virtual");
                }
                s.push(';');
                self.line(&s);
            }
            Item::Socket(b) => {
                let mut s = String::from("socket = {");
                if let Some(a) = &b.bind {
                    let _ = write!(s, " bind = {};", listen_addr(a));
                }
                if let Some(a) = &b.advertise {
                    let _ = write!(s, " advertise = {};", advertise(a));
                }
                if let Some(n) = &b.name {
                    let _ = write!(s, " name = {};", quoted(&n.value));
                }
                if let Some(n) = &b.agname {
                    let _ = write!(s, " agname = {};", quoted(&n.value));
                }
                if let Some(v) = &b.is_virtual {
                    let _ = write!(s, " virtual = {};", u8::from(v.value));
                }
                if let Some(n) = &b.vrf {
                    let _ = write!(s, " vrf = {};", quoted(&n.value));
                }
                if let Some(w) = &b.workers {
                    let _ = write!(s, " workers = {};", w.value);
                }
                s.push_str(" }");
                self.line(&s);
            }
            Item::Alias(a) => {
                let addrs: Vec<String> = a.addrs.iter().map(listen_addr).collect();
                self.line(&format!("alias = {};", addrs.join(" ")));
            }
            Item::CfgVar(v) => {
                let mut s = v.group.value.clone();
                if let Some(i) = &v.instance {
                    let _ = write!(s, "[{}]", i.value);
                }
                let _ = write!(s, ".{} = {}", v.var.value, scalar(&v.value.value));
                if let Some(d) = &v.descr {
                    let _ = write!(s, " descr {}", quoted(&d.value));
                }
                s.push(';');
                self.line(&s);
            }
            Item::Kemi(k) => self.line(&format!(
                "kemi.{} = {};",
                k.key.value,
                quoted(&k.value.value)
            )),
            Item::CoreParam(c) => self.line(&format!(
                "coreparam[{}] = {};",
                quoted(&c.name.value),
                scalar(&c.value.value)
            )),
            Item::LoadModule(m) => {
                let kw = if m.expand {
                    "loadmodulex"
                } else {
                    "loadmodule"
                };
                match &m.options {
                    Some(o) => self.line(&format!(
                        "{kw}({}, {})",
                        quoted(&m.path.value),
                        quoted(&o.value)
                    )),
                    None => self.line(&format!("{kw} {}", quoted(&m.path.value))),
                }
            }
            Item::LoadPath(p) => self.line(&format!("loadpath {}", quoted(&p.value))),
            Item::CfgEngine(e) => self.line(&format!("cfgengine {}", quoted(&e.value))),
            Item::ModParam(m) => {
                let kw = if m.expand { "modparamx" } else { "modparam" };
                self.line(&format!(
                    "{kw}({}, {}, {})",
                    quoted(&m.module.value),
                    quoted(&m.param.value),
                    scalar(&m.value.value)
                ));
            }
            Item::Flags(f) | Item::AvpFlags(f) => {
                let kw = if matches!(item, Item::Flags(_)) {
                    "flags"
                } else {
                    "avpflags"
                };
                let list: Vec<String> = f
                    .flags
                    .iter()
                    .map(|d| match &d.position {
                        Some(p) => format!("{}:{}", name(&d.name.value), p.value),
                        None => name(&d.name.value),
                    })
                    .collect();
                self.line(&format!("{kw} {};", list.join(", ")));
            }
            Item::Subst(s) => self.line(&format!(
                "#!{} {}",
                s.kind.directive(),
                quoted(&s.rule.value)
            )),
            Item::Route(r) => {
                let head = match (&r.name, r.kind) {
                    (Some(n), RouteKind::Event) => format!("{}[{}]", r.keyword, n.value),
                    (Some(n), _) => format!("{}[{}]", r.keyword, quoted(&n.value)),
                    (None, _) => r.keyword.clone(),
                };
                self.block(&head, &r.body);
                self.out.push('\n');
            }
        }
    }

    fn block(&mut self, head: &str, b: &Block) {
        self.line(&format!("{head} {{"));
        self.indent += 1;
        for s in &b.stmts {
            self.stmt(s);
        }
        self.indent -= 1;
        self.line("}");
    }

    fn stmt(&mut self, s: &Stmt) {
        match s {
            Stmt::Call(c) => self.line(&format!("{};", call(c))),
            Stmt::Assign { target, value, .. } => {
                self.line(&format!("{} = {};", target.value, expr(value)))
            }
            Stmt::If {
                cond,
                then,
                otherwise,
                ..
            } => {
                self.nested(&format!("if ({})", expr(cond)), then);
                if let Some(o) = otherwise {
                    self.nested("else", o);
                }
            }
            Stmt::Switch { value, cases, .. } => {
                self.line(&format!("switch ({}) {{", expr(value)));
                for c in cases {
                    match &c.label {
                        Some(l) if c.regex => self.line(&format!("case /{}:", expr(l))),
                        Some(l) => self.line(&format!("case {}:", expr(l))),
                        None => self.line("default:"),
                    }
                    self.indent += 1;
                    for s in &c.body {
                        self.stmt(s);
                    }
                    self.indent -= 1;
                }
                self.line("}");
            }
            Stmt::While { cond, body, .. } => self.nested(&format!("while ({})", expr(cond)), body),
            Stmt::Return { kind, value, .. } => {
                let kw = match kind {
                    ReturnKind::Return => "return",
                    ReturnKind::Exit => "exit",
                    ReturnKind::Drop => "drop",
                };
                match value {
                    Some(v) => self.line(&format!("{kw} ({});", expr(v))),
                    None => self.line(&format!("{kw};")),
                }
            }
            Stmt::Break { .. } => self.line("break;"),
            Stmt::Block(b) => self.block("", b),
            Stmt::Empty { .. } => self.line(";"),
        }
    }

    /// The body of `if`/`else`/`while`: a block on the same line, a single statement indented.
    fn nested(&mut self, head: &str, s: &Stmt) {
        match s {
            Stmt::Block(b) => self.block(head, b),
            other => {
                self.line(head);
                self.indent += 1;
                self.stmt(other);
                self.indent -= 1;
            }
        }
    }
}
