//! Running compiled routes on one message.

use rustc_hash::FxHashMap as HashMap;
use std::borrow::Cow;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cfg_parser::ast::{BinaryOp, ReturnKind, UnaryOp};
use cfg_parser::lexer::Span;
use sip_message::{HeaderName, HostPort, Message, Rport, Uri};

use crate::clock;
use crate::compile::{CaseLabel, CharClass, Expr, FmtPart, Func, HostArg, Legacy, Op, Scope};
use crate::pv::{AddrPart, Index, Pv, PvName, TimePart, TvPart};
use crate::select::{Env as SelectEnv, Select};
use crate::uri_edit::UriPart;
use crate::value::Value;
use crate::{Dest, Incoming, Output, Router, SendMsg, Transport};

/// How a block ended.
pub(crate) enum Flow {
    Next,
    Break,
    Return(i64),
    Exit,
    Drop,
}

/// The Record-Route the script asked for.
enum Rr {
    /// `record_route()`: built from the sockets when the request is sent.
    Sockets,
    /// `record_route_preset(a[, b])`: the addresses as the script wrote them.
    Preset(String, Option<String>),
}

/// Max-Forwards edit requested by the maxfwd module.
#[derive(Clone, Copy)]
enum MaxFwd {
    Add(u8),
    Set(u8),
}

/// The decimal text of `n`, written into `buf` (no allocation on the relay path).
fn decimal(n: u8, buf: &mut [u8; 3]) -> &str {
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + n % 10;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Always ASCII digits.
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

/// The state of one message going through the script.
pub(crate) struct Ctx<'r, 'm, 'a> {
    pub(crate) router: &'r Router,
    pub(crate) msg: &'m Message<'a>,
    pub(crate) inc: &'m Incoming<'m>,
    pub(crate) out: &'m mut Vec<Output>,
    new_ruri: Option<String>,
    dst_uri: Option<String>,
    vars: HashMap<String, Value>,
    avps: HashMap<String, Vec<Value>>,
    flags: u64,
    /// Branch flags of branch 0 (kex `setbflag`).
    bflags: u64,
    /// Script flags (kex `setsflag`), apart from the message flags.
    sflags: u64,
    retcode: i64,
    maxfwd: Option<MaxFwd>,
    add_headers: Vec<String>,
    /// `insert_hf`/`append_hf(…, after)`: (header line, neighbour header, above it?).
    placed_headers: Vec<(String, Option<String>, bool)>,
    remove_headers: Vec<String>,
    /// textops edits of the received text: (range in the message, new octets).
    raw_edits: Vec<(std::ops::Range<usize>, String)>,
    rr: Option<Rr>,
    rr_params: String,
    /// The parameters of our own Route entry that `loose_route` consumed (rr's hooks for
    /// `check_route_param` and `is_direction`).
    routed_params: Option<String>,
    /// The route set `loose_route` left, when it changed it (written as one Route line).
    route_set: Option<Vec<String>>,
    /// The Request-URI saved for a strict next hop: a Route line at the end of the headers.
    saved_ruri: Option<String>,
    /// `force_send_socket` / `$fs`.
    forced_socket: Option<usize>,
    /// `udp_mtu_try_proto()` for this message.
    mtu_try: Option<Transport>,
    /// While `onsend_route` runs: destination host, port, protocol and message length.
    sending: Option<(String, u16, Transport, usize)>,
    reply_headers: Vec<String>,
    force_rport: bool,
    /// `add_local_rport()` was called: our Via carries `;rport`.
    local_rport: bool,
    /// `set_advertised_address()`/`set_advertised_port()` for this message.
    advertised: (Option<String>, Option<u16>),
    depth: usize,
    /// How the script ends because a command used inside an expression returned 0 (exit)
    /// or dropped; taken by the statement that evaluated the expression.
    pending: Option<Flow>,
    /// `log_prefix` evaluated for this message, once, when the first line is logged.
    log_prefix: Option<String>,
    /// The message's time (`$TV(s)`, `$time(…)`), taken when first read.
    msg_time: Option<Duration>,
    /// Memory for the edits and the output, lent by the caller ([`crate::Scratch`]).
    pub(crate) scratch: crate::Scratch,
    /// The time the last `$TV(sn)` read, for `$TV(un)`.
    tv_sn: Option<Duration>,
}

const MAX_ROUTE_DEPTH: usize = 256;

impl<'r, 'm, 'a> Ctx<'r, 'm, 'a> {
    pub(crate) fn new(
        router: &'r Router,
        msg: &'m Message<'a>,
        inc: &'m Incoming<'m>,
        out: &'m mut Vec<Output>,
    ) -> Self {
        Ctx {
            router,
            msg,
            inc,
            out,
            new_ruri: None,
            dst_uri: None,
            // Most scripts set no `$var` before use: no map to build then.
            vars: if router.program.settings.var.is_empty() {
                HashMap::default()
            } else {
                router.program.settings.var.iter().cloned().collect()
            },
            avps: HashMap::default(),
            flags: 0,
            bflags: 0,
            sflags: 0,
            retcode: 1,
            maxfwd: None,
            add_headers: Vec::new(),
            placed_headers: Vec::new(),
            remove_headers: Vec::new(),
            raw_edits: Vec::new(),
            rr: None,
            rr_params: String::new(),
            routed_params: None,
            route_set: None,
            saved_ruri: None,
            forced_socket: None,
            mtu_try: None,
            sending: None,
            reply_headers: Vec::new(),
            force_rport: false,
            local_rport: false,
            advertised: (None, None),
            msg_time: None,
            scratch: crate::Scratch::default(),
            tv_sn: None,
            depth: 0,
            pending: None,
            log_prefix: None,
        }
    }

    /// Logs a line of the core (no config position).
    fn log(&mut self, level: i64, message: String) {
        self.log_at(level, message, None);
    }

    /// Logs a line, with `log_prefix` in front and the config position of the call, if any.
    fn log_at(&mut self, level: i64, mut message: String, span: Option<Span>) {
        if let Some(parts) = &self.router.program.log_prefix {
            if self.log_prefix.is_none() {
                let prefix = self.format(parts);
                self.log_prefix = Some(prefix);
            }
            if let Some(prefix) = &self.log_prefix {
                message.insert_str(0, prefix);
            }
        }
        self.out.push(Output::Log {
            level,
            message,
            span,
        });
    }

    pub(crate) fn run_route(&mut self, idx: usize) -> Flow {
        if self.depth >= MAX_ROUTE_DEPTH {
            self.log(-1, "route recursion too deep; stopping the script".into());
            return Flow::Exit;
        }
        self.depth += 1;
        let block = &self.router.program.routes[idx];
        let flow = self.block(block);
        self.depth -= 1;
        flow
    }

    /// A header line a textops function was given, without its line end.
    fn header_text(&mut self, e: &'r Expr) -> String {
        self.eval(e)
            .as_str()
            .trim_end_matches(['\r', '\n'])
            .to_string()
    }

    /// `route(X)` as a command: its return code (0 when it exited, `i64::MIN` when it
    /// dropped).
    fn call_route(&mut self, idx: usize) -> i64 {
        match self.run_route(idx) {
            Flow::Next | Flow::Break => 1,
            Flow::Return(n) => n,
            Flow::Exit => 0,
            Flow::Drop => i64::MIN,
        }
    }

    fn block(&mut self, ops: &'r [Op]) -> Flow {
        for op in ops {
            match self.op(op) {
                Flow::Next => {}
                other => return other,
            }
        }
        Flow::Next
    }

    fn op(&mut self, op: &'r Op) -> Flow {
        match op {
            Op::Call(f) => {
                let rc = self.call(f);
                self.retcode = rc;
                if let Some(flow) = self.pending.take() {
                    return flow;
                }
                match rc {
                    0 => Flow::Exit,
                    i64::MIN => Flow::Drop,
                    _ => Flow::Next,
                }
            }
            Op::Assign(pv, e) => {
                let v = self.eval(e);
                if let Some(flow) = self.pending.take() {
                    return flow;
                }
                self.assign(pv, v);
                Flow::Next
            }
            Op::If(c, then, otherwise) => {
                let v = self.cond(c);
                match v {
                    Err(flow) => flow,
                    Ok(true) => self.block(then),
                    Ok(false) => self.block(otherwise),
                }
            }
            Op::Switch(value, labels, body) => {
                let v = self.eval(value);
                if let Some(flow) = self.pending.take() {
                    return flow;
                }
                let start = labels
                    .iter()
                    .find(|(l, _)| match l {
                        CaseLabel::Value(c) => match c {
                            Value::Int(n) => v.as_int() == *n,
                            _ => v.as_str() == c.as_str(),
                        },
                        CaseLabel::Regex(re) => re.is_match(&v.as_str()),
                        CaseLabel::Default => false,
                    })
                    .or_else(|| labels.iter().find(|(l, _)| matches!(l, CaseLabel::Default)))
                    .map(|(_, i)| *i);
                match start {
                    Some(i) => match self.block(&body[i..]) {
                        Flow::Break => Flow::Next,
                        other => other,
                    },
                    None => Flow::Next,
                }
            }
            Op::While(c, body) => {
                let mut n = 0i64;
                loop {
                    match self.cond(c) {
                        Err(flow) => return flow,
                        Ok(false) => return Flow::Next,
                        Ok(true) => {}
                    }
                    n += 1;
                    if n > self.router.program.max_while_loops {
                        self.log(
                            0,
                            format!(
                                "while loop stopped after max_while_loops={}",
                                self.router.program.max_while_loops
                            ),
                        );
                        return Flow::Next;
                    }
                    match self.block(body) {
                        Flow::Next => {}
                        Flow::Break => return Flow::Next,
                        other => return other,
                    }
                }
            }
            Op::Return(kind, v) => {
                let n = v.as_ref().map_or(1, |e| self.eval_int(e));
                if let Some(flow) = self.pending.take() {
                    return flow;
                }
                match kind {
                    ReturnKind::Return => Flow::Return(n),
                    ReturnKind::Exit => Flow::Exit,
                    ReturnKind::Drop => Flow::Drop,
                }
            }
            Op::Break => Flow::Break,
            Op::Block(b) => self.block(b),
        }
    }

    /// A condition: a function returning 0 stops the script.
    fn cond(&mut self, e: &'r Expr) -> Result<bool, Flow> {
        if let Expr::Call(f) = e {
            let rc = self.call(f);
            self.retcode = rc;
            return match rc {
                0 => Err(Flow::Exit),
                i64::MIN => Err(Flow::Drop),
                n => Ok(n > 0),
            };
        }
        let v = self.eval(e).truthy();
        match self.pending.take() {
            Some(flow) => Err(flow),
            None => Ok(v),
        }
    }

    /// [`Ctx::eval`] as an integer; a constant is read where it is, not copied.
    pub(crate) fn eval_int(&mut self, e: &'r Expr) -> i64 {
        match e {
            Expr::Const(v) => v.as_int(),
            _ => self.eval(e).as_int(),
        }
    }

    /// [`Ctx::eval`] as text; a constant string is borrowed from the program, not copied.
    pub(crate) fn eval_str(&mut self, e: &'r Expr) -> Cow<'r, str> {
        match e {
            Expr::Const(Value::Str(s)) => Cow::Borrowed(s),
            _ => match self.eval(e) {
                Value::Str(s) => Cow::Owned(s),
                v => Cow::Owned(v.into_string()),
            },
        }
    }

    pub(crate) fn eval(&mut self, e: &'r Expr) -> Value {
        match e {
            Expr::Const(v) => v.clone(),
            Expr::Pv(pv) => self.get(pv),
            Expr::Legacy(l) => self.legacy(*l),
            Expr::Unary(op, x) => {
                let v = self.eval(x);
                match op {
                    UnaryOp::Not => Value::Int(i64::from(!v.truthy())),
                    UnaryOp::Neg => Value::Int(-v.as_int()),
                    UnaryOp::BitNot => Value::Int(!v.as_int()),
                    UnaryOp::IntCast => Value::Int(v.as_int()),
                    UnaryOp::StrCast => Value::Str(v.into_string()),
                    UnaryOp::Defined => Value::Int(i64::from(v.is_defined())),
                    UnaryOp::Strlen => Value::Int(v.as_str().len() as i64),
                    UnaryOp::Strempty => Value::Int(i64::from(v.as_str().is_empty())),
                }
            }
            Expr::Binary(b) => self.binary(b.0, &b.1, &b.2),
            Expr::MatchConst(x, re) => {
                let v = self.eval(x);
                Value::Int(i64::from(re.is_match(&v.as_str())))
            }
            Expr::InNet(x, net, bits) => {
                let v = self.eval(x);
                let ip: Option<IpAddr> = v.as_str().trim_matches(['[', ']']).parse().ok();
                Value::Int(i64::from(ip.is_some_and(|ip| in_net(ip, *net, *bits))))
            }
            Expr::Myself(x, eq) => {
                let is = match x.as_ref() {
                    Expr::Legacy(Legacy::SrcIp) | Expr::Legacy(Legacy::DstIp) => {
                        let v = self.eval(x);
                        self.router.is_my_ip(&v.as_str())
                    }
                    _ => {
                        let v = self.eval(x);
                        self.router.is_my_uri(&v.as_str())
                    }
                };
                Value::Int(i64::from(is == *eq))
            }
            Expr::Call(f) => {
                // As in Kamailio, a command used as a value is 1 when it returned > 0 and 0
                // otherwise (so `!is_method("X")` works); `$rc` keeps the return code.
                let rc = self.call(f);
                self.retcode = rc;
                // A command returning 0 (or dropping) ends the script wherever it is used,
                // `if (!sanity_check())` included: the statement that evaluates this stops.
                match rc {
                    0 => self.pending = Some(Flow::Exit),
                    i64::MIN => self.pending = Some(Flow::Drop),
                    _ => {}
                }
                Value::Int(i64::from(rc > 0))
            }
            Expr::Format(parts) => Value::Str(self.format(parts)),
            Expr::Select3(c, a, b) => {
                if self.eval(c).truthy() {
                    self.eval(a)
                } else {
                    self.eval(b)
                }
            }
            Expr::Select(sel) => self.select(sel),
        }
    }

    /// Runs a select on this message (with the rewritten R-URI and the destination URI).
    fn select(&self, sel: &Select) -> Value {
        let ruri = self.current_ruri();
        let env = SelectEnv {
            ruri: &ruri,
            dst_uri: self.dst_uri.as_deref(),
            cfg: &self.router.program.cfg_vars,
        };
        sel.eval(self.msg, &env)
    }

    fn binary(&mut self, op: BinaryOp, l: &'r Expr, r: &'r Expr) -> Value {
        use BinaryOp::*;
        if op == And {
            return Value::Int(i64::from(self.eval(l).truthy() && self.eval(r).truthy()));
        }
        if op == Or {
            return Value::Int(i64::from(self.eval(l).truthy() || self.eval(r).truthy()));
        }
        let method_cmp = matches!(l, Expr::Legacy(Legacy::Method));
        let (a, b) = (self.eval(l), self.eval(r));
        let int = |f: fn(i64, i64) -> i64| Value::Int(f(a.as_int(), b.as_int()));
        let bool_v = |x: bool| Value::Int(i64::from(x));
        match op {
            Add => a.plus(&b),
            Sub => int(i64::wrapping_sub),
            Mul => int(i64::wrapping_mul),
            Div => int(|x, y| if y == 0 { 0 } else { x / y }),
            Mod => int(|x, y| if y == 0 { 0 } else { x % y }),
            BitAnd => int(|x, y| x & y),
            BitOr => int(|x, y| x | y),
            BitXor => int(|x, y| x ^ y),
            Shl => int(|x, y| x.wrapping_shl(y as u32)),
            Shr => int(|x, y| x.wrapping_shr(y as u32)),
            Eq if method_cmp => bool_v(a.as_str().eq_ignore_ascii_case(&b.as_str())),
            Ne if method_cmp => bool_v(!a.as_str().eq_ignore_ascii_case(&b.as_str())),
            Eq => bool_v(a.loose_eq(&b)),
            Ne => bool_v(!a.loose_eq(&b)),
            StrEq => bool_v(a.as_str() == b.as_str()),
            StrNe => bool_v(a.as_str() != b.as_str()),
            IntEq => bool_v(a.as_int() == b.as_int()),
            IntNe => bool_v(a.as_int() != b.as_int()),
            Gt => bool_v(a.as_int() > b.as_int()),
            Lt => bool_v(a.as_int() < b.as_int()),
            Ge => bool_v(a.as_int() >= b.as_int()),
            Le => bool_v(a.as_int() <= b.as_int()),
            Match => {
                // A regex only known at run time (constant ones are compiled once).
                let re = regex::RegexBuilder::new(&b.as_str()).build();
                bool_v(re.is_ok_and(|re| re.is_match(&a.as_str())))
            }
            And | Or => Value::Null,
        }
    }

    fn legacy(&mut self, l: Legacy) -> Value {
        match l {
            Legacy::Method => self.get_name(&PvName::Method),
            Legacy::Uri => self.get_name(&PvName::Ruri),
            Legacy::FromUri => self.get_name(&PvName::From(AddrPart::Uri)),
            Legacy::ToUri => self.get_name(&PvName::To(AddrPart::Uri)),
            Legacy::SrcIp => Value::Str(self.inc.source.ip().to_string()),
            Legacy::SrcPort => Value::Int(i64::from(self.inc.source.port())),
            Legacy::DstIp => Value::Str(self.router.local(self.inc.local).address.to_string()),
            Legacy::DstPort => Value::Int(i64::from(self.router.local(self.inc.local).port)),
            Legacy::Proto => Value::Str(self.inc.proto.as_str().into()),
            Legacy::Af => Value::Int(if self.inc.source.is_ipv6() { 10 } else { 2 }),
            // In onsend_route, the length of what is about to be sent.
            Legacy::MsgLen => Value::Int(
                self.sending
                    .as_ref()
                    .map_or(self.msg.as_bytes().len(), |s| s.3) as i64,
            ),
            Legacy::SndIp => self
                .sending
                .as_ref()
                .map_or(Value::Null, |s| Value::Str(s.0.clone())),
            Legacy::SndPort => self
                .sending
                .as_ref()
                .map_or(Value::Null, |s| Value::Int(i64::from(s.1))),
            Legacy::SndProto => self
                .sending
                .as_ref()
                .map_or(Value::Null, |s| Value::Str(s.2.as_str().into())),
            Legacy::SndAf => self.sending.as_ref().map_or(Value::Null, |s| {
                Value::Int(if s.0.contains(':') { 10 } else { 2 })
            }),
            Legacy::UriHost => self.get_name(&PvName::RuriDomain),
            Legacy::UriPort => self.get_name(&PvName::RuriPort),
        }
    }

    fn current_ruri(&self) -> String {
        self.new_ruri
            .clone()
            .unwrap_or_else(|| self.msg.request_uri_str().unwrap_or("").to_string())
    }

    /// An index as a position, `None` for `[*]`.
    fn index(&mut self, index: &Index) -> Option<i64> {
        match index {
            Index::At(i) => Some(*i),
            Index::All => None,
            Index::Pv(p) => Some(self.get(p).as_int()),
        }
    }

    fn get(&mut self, pv: &Pv) -> Value {
        let index = pv.index.as_ref().map(|i| self.index(i));
        let mut v = match (&pv.name, index) {
            (PvName::Hdr(name), Some(i)) => {
                let all: Vec<&str> = self.msg.headers_called(name).map(|h| h.value()).collect();
                match i {
                    // `[*]`: every value, as one comma-separated list.
                    None if all.is_empty() => Value::Null,
                    None => Value::Str(all.join(",")),
                    Some(i) => nth(&all, i).map_or(Value::Null, |s| Value::Str((*s).to_string())),
                }
            }
            (PvName::Avp(name), Some(Some(i))) => self
                .avps
                .get(name)
                .and_then(|stack| nth(stack, i))
                .cloned()
                .unwrap_or(Value::Null),
            (name, _) => self.get_name(name),
        };
        for t in &pv.trans {
            v = crate::trans::apply(t, v, &mut |p| self.get(p));
        }
        v
    }

    fn get_name(&mut self, name: &PvName) -> Value {
        let s = |x: &str| Value::Str(x.to_string());
        let msg = self.msg;
        match name {
            PvName::Ruri => s(&self.current_ruri()),
            PvName::RuriUser | PvName::RuriDomain | PvName::RuriPort | PvName::RuriScheme => {
                let ruri = self.current_ruri();
                uri_part(&ruri, name)
            }
            PvName::OrigUri => msg.request_uri_str().map_or(Value::Null, s),
            PvName::OrigUser => msg
                .request_uri_str()
                .map_or(Value::Null, |u| uri_part(u, &PvName::RuriUser)),
            PvName::DstUri => self.dst_uri.as_deref().map_or(Value::Null, s),
            PvName::From(part) | PvName::To(part) => {
                let na = if matches!(name, PvName::From(_)) {
                    msg.from()
                } else {
                    msg.to()
                };
                match na {
                    Ok(Some(na)) => match part {
                        AddrPart::Uri => s(na.uri_text),
                        AddrPart::User => uri_part(na.uri_text, &PvName::RuriUser),
                        AddrPart::Domain => uri_part(na.uri_text, &PvName::RuriDomain),
                        AddrPart::Name => na.display_name.map_or(Value::Null, s),
                        AddrPart::Tag => na.tag().map_or(Value::Null, s),
                    },
                    _ => Value::Null,
                }
            }
            PvName::CallId => msg.call_id().ok().flatten().map_or(Value::Null, s),
            PvName::CSeqNum => msg
                .cseq()
                .ok()
                .flatten()
                .map_or(Value::Null, |c| Value::Int(i64::from(c.seq))),
            PvName::Method => msg
                .method()
                .map(str::to_string)
                .or_else(|| msg.cseq().ok().flatten().map(|c| c.method.to_string()))
                .map_or(Value::Null, Value::Str),
            PvName::Status => msg
                .status_code()
                .map_or(Value::Null, |c| Value::Int(i64::from(c))),
            PvName::Reason => match msg.start_line() {
                sip_message::StartLine::Response { reason, .. } => s(reason),
                _ => Value::Null,
            },
            PvName::Body => Value::Str(String::from_utf8_lossy(msg.body()).into_owned()),
            PvName::Message => Value::Str(String::from_utf8_lossy(msg.as_bytes()).into_owned()),
            PvName::MsgLen => Value::Int(msg.as_bytes().len() as i64),
            PvName::SrcIp => s(&self.inc.source.ip().to_string()),
            PvName::SrcPort => Value::Int(i64::from(self.inc.source.port())),
            PvName::RcvIp => s(&self.router.local(self.inc.local).address.to_string()),
            PvName::RcvPort => Value::Int(i64::from(self.router.local(self.inc.local).port)),
            PvName::RcvAdvIp => {
                let l = self.router.local(self.inc.local);
                s(&l.advertise
                    .as_ref()
                    .map_or_else(|| l.address.to_string(), |a| a.0.clone()))
            }
            PvName::RcvAdvPort => {
                let l = self.router.local(self.inc.local);
                Value::Int(i64::from(l.advertise.as_ref().map_or(l.port, |a| a.1)))
            }
            PvName::Proto => s(self.inc.proto.as_str()),
            PvName::UserAgent => msg
                .header_str("User-Agent")
                .map_or(Value::Null, |h| s(h.value())),
            PvName::Contact => msg
                .header(HeaderName::Contact)
                .map_or(Value::Null, |h| s(h.value())),
            PvName::ContentLength => msg
                .content_length()
                .map_or(Value::Null, |n| Value::Int(n as i64)),
            PvName::Hdr(h) => msg.header_str(h).map_or(Value::Null, |h| s(h.value())),
            PvName::HdrCount(h) => Value::Int(msg.headers_called(h).count() as i64),
            PvName::Var(n) => self.vars.get(n).cloned().unwrap_or(Value::Int(0)),
            PvName::Avp(n) => self
                .avps
                .get(n)
                .and_then(|stack| stack.first())
                .cloned()
                .unwrap_or(Value::Null),
            PvName::Shv(n) => self.router.shv_get(n),
            PvName::BranchIdx => Value::Int(0),
            PvName::RetCode => Value::Int(self.retcode),
            PvName::Null => Value::Null,
            PvName::Sel(sel) => self.select(sel),
            PvName::RuriTransport => {
                let ruri = self.current_ruri();
                match Uri::parse(&ruri) {
                    Ok(Uri::Sip(u)) => Value::Str(
                        u.params
                            .get("transport")
                            .flatten()
                            .map_or_else(|| "udp".to_string(), str::to_ascii_lowercase),
                    ),
                    _ => Value::Null,
                }
            }
            PvName::MsgType => Value::Int(if msg.is_request() { 1 } else { 2 }),
            PvName::ForceSocket => self.forced_socket.map_or(Value::Null, |i| {
                let l = self.router.local(i);
                let hp = HostPort::from(std::net::SocketAddr::new(l.address, l.port));
                Value::Str(format!("{}:{hp}", l.proto.as_str()))
            }),
            // Replaced by a constant when the script is compiled.
            PvName::CfgPos(_) => Value::Null,
            PvName::TimeSec => Value::Int(now().as_secs() as i64),
            PvName::TimeVal(part) => self.time_val(*part),
            PvName::Time(part, utc) => {
                let secs = self.msg_time().as_secs() as i64;
                let tm = if *utc {
                    clock::utc(secs)
                } else {
                    clock::local(secs)
                };
                Value::Int(time_field(&tm, *part))
            }
        }
    }

    /// The message's time, taken on first use.
    fn msg_time(&mut self) -> Duration {
        *self.msg_time.get_or_insert_with(now)
    }

    fn time_val(&mut self, part: TvPart) -> Value {
        match part {
            TvPart::Sec => Value::Int(self.msg_time().as_secs() as i64),
            TvPart::Usec => Value::Int(i64::from(self.msg_time().subsec_micros())),
            TvPart::SecNow => Value::Int(self.tv_sn.insert(now()).as_secs() as i64),
            TvPart::UsecOfSecNow => {
                Value::Int(i64::from(self.tv_sn.map_or(0, |d| d.subsec_micros())))
            }
            TvPart::Now => {
                let t = now();
                Value::Str(format!("{}.{:06}", t.as_secs(), t.subsec_micros()))
            }
            TvPart::NowFormatted => {
                let t = now();
                let tm = clock::local(t.as_secs() as i64);
                Value::Str(format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
                    tm.year,
                    tm.mon,
                    tm.mday,
                    tm.hour,
                    tm.min,
                    tm.sec,
                    t.subsec_micros()
                ))
            }
        }
    }

    fn assign(&mut self, pv: &Pv, v: Value) {
        match &pv.name {
            PvName::Ruri => self.new_ruri = Some(v.into_string()),
            PvName::RuriUser | PvName::RuriDomain | PvName::RuriPort => {
                let cur = self.current_ruri();
                if let Some(u) = set_uri_part(&cur, &pv.name, &v.as_str()) {
                    self.new_ruri = Some(u);
                }
            }
            PvName::DstUri => {
                self.dst_uri = v.is_defined().then(|| v.into_string());
            }
            PvName::Var(n) => {
                let v = if v.is_defined() { v } else { Value::Int(0) };
                self.vars.insert(n.clone(), v);
            }
            PvName::Avp(n) => {
                let index = pv.index.as_ref().map(|i| self.index(i));
                self.assign_avp(n, index, v);
            }
            PvName::Shv(n) => self.router.shv_set(n, v),
            PvName::ForceSocket => {
                if !v.is_defined() {
                    self.forced_socket = None;
                    return;
                }
                let text = v.as_str();
                let found = crate::parse_socket_text(&text).and_then(|(proto, host, port)| {
                    crate::find_socket(self.router.sockets(), proto.as_deref(), &host, port)
                });
                match found {
                    Some(i) => self.forced_socket = Some(i),
                    None => self.log(-1, format!("$fs: siprouter does not listen on `{text}`")),
                }
            }
            _ => {}
        }
    }

    /// AVPs are stacks, newest first, as in Kamailio: `$avp(x) = v` adds a value on top,
    /// `$avp(x) = $null` removes the top one, `$(avp(x)[*]) = …` replaces (or with `$null`
    /// removes) them all, `$(avp(x)[n]) = …` replaces (or removes) the n-th.
    fn assign_avp(&mut self, name: &str, index: Option<Option<i64>>, v: Value) {
        let stack = self.avps.entry(name.to_string()).or_default();
        match (index, v.is_defined()) {
            (None, true) => stack.insert(0, v),
            (None, false) => {
                if !stack.is_empty() {
                    stack.remove(0);
                }
            }
            (Some(None), defined) => {
                stack.clear();
                if defined {
                    stack.push(v);
                }
            }
            (Some(Some(i)), defined) => {
                let len = stack.len() as i64;
                let at = if i < 0 { len + i } else { i };
                if let Some(at) = usize::try_from(at).ok().filter(|a| *a < stack.len()) {
                    if defined {
                        stack[at] = v;
                    } else {
                        stack.remove(at);
                    }
                }
            }
        }
        if stack.is_empty() {
            self.avps.remove(name);
        }
    }

    fn format(&mut self, parts: &'r [FmtPart]) -> String {
        let mut s = String::new();
        for p in parts {
            match p {
                FmtPart::Lit(l) => s.push_str(l),
                FmtPart::Pv(pv) => s.push_str(&self.get(pv).to_string()),
            }
        }
        s
    }

    /// Runs a function; its return code (>0 true, <0 false, 0 stop). `i64::MIN` means drop.
    fn call(&mut self, f: &'r Func) -> i64 {
        match f {
            Func::SlSendReply(code, reason) => {
                let code = u16::try_from(self.eval_int(code)).unwrap_or(500);
                let reason = self.eval(reason).into_string();
                self.reply(code, &reason)
            }
            Func::SlReplyError => self.reply(500, "Server Internal Error"),
            Func::Forward(target) => {
                let dest = match target {
                    None => None,
                    Some((host, port)) => {
                        let h = self.target(host);
                        let p = port.as_ref().map(|p| self.eval_int(p));
                        Some((h, p.and_then(|p| u16::try_from(p).ok())))
                    }
                };
                self.forward(dest)
            }
            Func::Route(idx) => self.call_route(*idx),
            Func::RouteByName(e) => {
                let name = self.eval(e).into_string();
                match self.router.program.route_names.get(&name) {
                    Some(idx) => self.call_route(*idx),
                    None => {
                        self.log(-1, format!("route `{name}` is not defined"));
                        -1
                    }
                }
            }
            Func::ForwardProto(proto, host, port) => {
                let h = self.target(host);
                let p = port
                    .as_ref()
                    .map(|p| self.eval_int(p))
                    .and_then(|p| u16::try_from(p).ok());
                self.forward_to(h, p, *proto)
            }
            Func::Rewrite(part, e) => {
                let v = self.eval(e).into_string();
                match crate::uri_edit::rewrite(&self.current_ruri(), *part, &v) {
                    Some(u) => {
                        self.new_ruri = Some(u);
                        1
                    }
                    None => -1,
                }
            }
            Func::SetBFlag(n, branch)
            | Func::ResetBFlag(n, branch)
            | Func::IsBFlagSet(n, branch) => {
                let b = branch.as_ref().map_or(0, |b| self.eval_int(b));
                if b != 0 {
                    // Only branch 0 exists without transactions.
                    return -1;
                }
                match f {
                    Func::SetBFlag(..) => {
                        self.bflags |= 1 << n;
                        1
                    }
                    Func::ResetBFlag(..) => {
                        self.bflags &= !(1 << n);
                        1
                    }
                    _ if self.bflags & (1 << n) != 0 => 1,
                    _ => -1,
                }
            }
            Func::IsMyself(e) => {
                let uri = self.eval(e).into_string();
                truth(self.router.is_my_uri(&uri))
            }
            Func::Nothing => 1,
            Func::HasBody(ctype) => {
                let want = ctype.as_ref().map(|c| self.eval(c).into_string());
                truth(!self.msg.body().is_empty() && want.is_none_or(|w| self.content_type_is(&w)))
            }
            Func::StartsWith(text, prefix) => {
                let (t, p) = (self.eval(text), self.eval(prefix));
                truth(t.as_str().starts_with(p.as_str().as_ref()))
            }
            Func::InList(subject, list, sep) => {
                let (subject, list) = (self.eval(subject), self.eval(list));
                let sep = self.eval(sep).as_str().chars().next().unwrap_or(',');
                let subject = subject.as_str();
                truth(
                    list.as_str()
                        .split(sep)
                        .any(|x| x.trim() == subject.as_ref()),
                )
            }
            Func::AppendUriHf(prefix, suffix) => {
                let line = format!(
                    "{}{}{}",
                    self.eval(prefix).as_str(),
                    self.current_ruri(),
                    self.eval(suffix).as_str()
                );
                let line = line.trim_end_matches(['\r', '\n']).to_string();
                if line.contains(':') && !line.contains(['\r', '\n']) {
                    self.add_headers.push(line);
                    1
                } else {
                    -1
                }
            }
            Func::IsFirstHop => self.is_first_hop(),
            Func::OptionsReply => self.options_reply(),
            Func::CharClass(text, class) => {
                let t = self.eval(text).into_string();
                let extra = match class {
                    CharClass::AlphaNumEx(e) => self.eval(e).into_string(),
                    _ => String::new(),
                };
                truth(char_class(&t, class, &extra))
            }
            // No authorized credentials exist without the auth module.
            Func::IsUser => -1,
            Func::IsDstUriSet => truth(self.dst_uri.is_some()),
            Func::SetDstUri(uri) => {
                let v = uri.as_ref().map_or(Value::Null, |u| self.eval(u));
                self.assign(&Pv::new(PvName::DstUri), v);
                1
            }
            Func::ScriptFlag(n, set) => match set {
                Some(true) => {
                    self.sflags |= 1 << n;
                    1
                }
                Some(false) => {
                    self.sflags &= !(1 << n);
                    1
                }
                None => truth(self.sflags & (1 << n) != 0),
            },
            Func::Log(level, e, span) => {
                let m = self.eval(e).into_string();
                self.log_at(*level, m, Some(*span));
                1
            }
            Func::AddLocalRport => {
                self.local_rport = true;
                1
            }
            Func::SetAdvertisedAddress(e) => {
                let host = self.eval(e).into_string();
                self.advertised.0 = (!host.is_empty()).then_some(host);
                1
            }
            Func::SetAdvertisedPort(e) => match u16::try_from(self.eval_int(e)) {
                Ok(p) if p > 0 => {
                    self.advertised.1 = Some(p);
                    1
                }
                _ => -1,
            },
            Func::Xlog(level, fmt, span) => {
                let m = self.format(fmt);
                self.log_at(*level, m, Some(*span));
                1
            }
            Func::SetFlag(n) => {
                self.flags |= 1 << n;
                1
            }
            Func::ResetFlag(n) => {
                self.flags &= !(1 << n);
                1
            }
            Func::IsFlagSet(n) => truth(self.flags & (1 << n) != 0),
            Func::MaxFwdProcess(initial) => {
                // maxfwd: a missing header is added with the script's value; a present one is
                // decremented and capped at the `max_limit` module parameter.
                let initial = u8::try_from(self.eval_int(initial).clamp(0, 255)).unwrap_or(70);
                let cap = u8::try_from(self.router.program.settings.max_limit).unwrap_or(70);
                match self.msg.max_forwards() {
                    Ok(None) => {
                        self.maxfwd = Some(MaxFwd::Add(initial));
                        2
                    }
                    Ok(Some(0)) => -1,
                    Ok(Some(n)) => {
                        self.maxfwd = Some(MaxFwd::Set((n - 1).min(cap)));
                        1
                    }
                    Err(_) => -2,
                }
            }
            Func::MaxFwdLt(n) => {
                let n = self.eval_int(n);
                match self.msg.max_forwards() {
                    Ok(Some(v)) if i64::from(v) < n => 1,
                    _ => -1,
                }
            }
            Func::IsMethod(list) => {
                let m = self.get_name(&PvName::Method).as_str().to_ascii_uppercase();
                truth(list.contains(&m))
            }
            Func::HasTotag => match self.msg.to() {
                Ok(Some(to)) if to.tag().is_some() => 1,
                _ => -1,
            },
            Func::RecordRoute(params) => {
                if let Some(p) = params {
                    let p = self.eval(p).into_string();
                    self.add_rr_param(&p);
                }
                self.set_rr(Rr::Sockets)
            }
            Func::RecordRoutePreset(a, b) => {
                let a = self.eval(a).into_string();
                let b = b
                    .as_ref()
                    .map(|b| self.eval(b).into_string())
                    .filter(|b| !b.is_empty());
                self.set_rr(Rr::Preset(a, b))
            }
            Func::CheckRouteParam(re) => match &self.routed_params {
                Some(p) if re.is_match(p) => 1,
                _ => -1,
            },
            Func::IsDirection(downstream) => truth(self.is_downstream() == *downstream),
            Func::SearchBody(re) => {
                let body = String::from_utf8_lossy(self.msg.body());
                truth(re.is_match(&body))
            }
            Func::SearchAppend(re, text) => {
                let text = self.eval(text).into_string();
                let found = self
                    .scope_text(Scope::Message)
                    .and_then(|(offset, hay)| re.find(hay).map(|m| offset + m.end()));
                match found {
                    Some(end) => {
                        self.raw_edits.push((end..end, text));
                        1
                    }
                    None => -1,
                }
            }
            Func::InsertHf(line, before) => {
                let line = self.header_text(line);
                let before = before.as_ref().map(|b| self.eval(b).into_string());
                self.place_header(line, before, true)
            }
            Func::AppendHfAfter(line, after) => {
                let line = self.header_text(line);
                let after = self.eval(after).into_string();
                self.place_header(line, Some(after), false)
            }
            Func::Subst(sub, scope) => self.subst(sub, *scope),
            Func::SubstUri(sub) => {
                let ruri = self.current_ruri();
                match sub.apply_with(&ruri, &mut |p| self.get(p)) {
                    Ok(Some(new)) if Uri::parse(&new).is_ok() => {
                        self.new_ruri = Some(new);
                        1
                    }
                    Ok(Some(new)) => {
                        self.log(-1, format!("subst_uri: `{new}` is not a URI; not changed"));
                        -1
                    }
                    Ok(None) => -1,
                    Err(e) => {
                        self.log(-1, format!("subst_uri: {e}"));
                        -1
                    }
                }
            }
            Func::Replace(re, text, scope, all) => {
                let text = self.eval(text).into_string();
                self.replace(re, &text, *scope, *all)
            }
            Func::UriParam(name, value) => {
                let name = self.eval(name).into_string();
                let value = value.as_ref().map(|v| self.eval(v).into_string());
                let ruri = self.current_ruri();
                let found = match Uri::parse(&ruri) {
                    Ok(Uri::Sip(u)) => u
                        .params
                        .iter()
                        .find(|p| p.name.eq_ignore_ascii_case(&name))
                        .is_some_and(|p| match (&value, p.value) {
                            (None, _) => true,
                            (Some(want), Some(have)) => want == have,
                            (Some(_), None) => false,
                        }),
                    _ => false,
                };
                truth(found)
            }
            Func::AddUriParam(param) => {
                let param = self.eval(param).into_string();
                self.add_uri_param(&param)
            }
            Func::IsE164(v) => {
                let v = self.eval(v).into_string();
                self.e164(&v)
            }
            Func::IsUriUserE164(v) => {
                let uri = self.eval(v).into_string();
                match uri_part(&uri, &PvName::RuriUser) {
                    Value::Str(user) => self.e164(&user),
                    _ => -1,
                }
            }
            Func::ForceSendSocket(idx) => {
                self.forced_socket = Some(*idx);
                1
            }
            Func::UdpMtuTryProto(p) => {
                self.mtu_try = Some(*p);
                1
            }
            Func::ForceTcpAlias(port) => {
                let port = port.as_ref().map(|p| self.eval_int(p));
                self.tcp_alias(port)
            }
            Func::LooseRoute => self.loose_route(),
            Func::AppendHf(e) => {
                let h = self.header_text(e);
                if h.contains(':') {
                    self.add_headers.push(h);
                    1
                } else {
                    -1
                }
            }
            Func::RemoveHf(e) => {
                let name = self.eval(e).into_string();
                let n = self.msg.headers_called(&name).count();
                self.remove_headers.push(name);
                if n > 0 {
                    n as i64
                } else {
                    -1
                }
            }
            Func::IsPresentHf(e) => {
                let name = self.eval(e).into_string();
                let present = self.msg.headers_called(&name).next().is_some();
                truth(present)
            }
            Func::SetUri(e) => {
                self.new_ruri = Some(self.eval(e).into_string());
                1
            }
            Func::SetHost(e) | Func::SetUser(e) | Func::SetPort(e) => {
                let part = match f {
                    Func::SetHost(_) => PvName::RuriDomain,
                    Func::SetUser(_) => PvName::RuriUser,
                    _ => PvName::RuriPort,
                };
                let v = self.eval(e).into_string();
                match set_uri_part(&self.current_ruri(), &part, &v) {
                    Some(u) => {
                        self.new_ruri = Some(u);
                        1
                    }
                    None => -1,
                }
            }
            Func::Prefix(e) => {
                let p = self.eval(e).into_string();
                let user = uri_part(&self.current_ruri(), &PvName::RuriUser)
                    .as_str()
                    .into_owned();
                self.set_user(&format!("{p}{user}"))
            }
            Func::Strip(n) | Func::StripTail(n) => {
                let user = uri_part(&self.current_ruri(), &PvName::RuriUser)
                    .as_str()
                    .into_owned();
                let n = usize::try_from(*n).unwrap_or(0).min(user.len());
                let new = if matches!(f, Func::Strip(_)) {
                    user.get(n..).unwrap_or("").to_string()
                } else {
                    user.get(..user.len() - n).unwrap_or("").to_string()
                };
                self.set_user(&new)
            }
            Func::RevertUri => {
                self.new_ruri = None;
                1
            }
            Func::ForceRport => {
                self.force_rport = true;
                1
            }
            Func::PvIsset(pv) => truth(self.get(pv).is_defined()),
            Func::PvUnset(pv) => {
                self.assign(pv, Value::Null);
                1
            }
            Func::SanityCheck => self.sanity_check(),
            Func::Search(re) => {
                let text = String::from_utf8_lossy(self.msg.as_bytes());
                truth(re.is_match(&text))
            }
            Func::IsRequest => truth(self.msg.is_request()),
            Func::IsReply => truth(!self.msg.is_request()),
            Func::AppendToReply(e) => {
                let h = self.header_text(e);
                self.reply_headers.push(h);
                1
            }
            Func::AddRrParam(e) => {
                let p = self.eval(e).into_string();
                self.add_rr_param(&p);
                1
            }
        }
    }

    /// `sanity_check()`: the checks a proxy must make before forwarding (RFC 3261 §16.3);
    /// a failing request is answered with the code the check names, as the sanity module does.
    fn sanity_check(&mut self) -> i64 {
        if !self.msg.is_request() {
            return 1;
        }
        match sip_message::validate::validate_request(
            self.msg,
            &sip_message::validate::Policy::default(),
        ) {
            Ok(()) => 1,
            Err(rej) => {
                let settings = &self.router.program.settings;
                let (noreply, autodrop) = (settings.sanity_noreply, settings.sanity_autodrop);
                if self.msg.method() != Some("ACK") && !noreply {
                    if !rej.unsupported.is_empty() {
                        // RFC 3261 §8.2.2.3: a 420 lists what is not supported.
                        let tags = rej.unsupported.join(", ");
                        self.reply_headers.push(format!("Unsupported: {tags}"));
                    }
                    let reason = rej.reason;
                    self.reply(rej.code, reason);
                }
                // sanity's `autodrop` (default on) ends the script; off, the check is false.
                if autodrop {
                    0
                } else {
                    -1
                }
            }
        }
    }

    fn set_user(&mut self, user: &str) -> i64 {
        match set_uri_part(&self.current_ruri(), &PvName::RuriUser, user) {
            Some(u) => {
                self.new_ruri = Some(u);
                1
            }
            None => -1,
        }
    }

    /// `loose_route()` as the rr module does it (RFC 3261 §16.4, §16.12): false without a
    /// Route; an in-dialog request whose Request-URI is ours came through a strict router
    /// and gets its Request-URI back from the route set; otherwise our own entries (two
    /// with `r2`) are stripped and the next hop is the next Route, written into the
    /// Request-URI when that hop is a strict router. A preloaded route set that only named
    /// us is "preloaded" (-3).
    fn loose_route(&mut self) -> i64 {
        let Ok(routes) = self.msg.routes() else {
            return -1;
        };
        if routes.is_empty() {
            return -1;
        }
        let preloaded = !matches!(self.msg.to(), Ok(Some(to)) if to.tag().is_some());
        let settings = &self.router.program.settings;
        if !preloaded && !settings.loose_only && self.router.is_my_uri(&self.current_ruri()) {
            return self.after_strict(&routes);
        }
        let mut next = 0;
        if self.router.is_my_uri(routes[0].uri_text) {
            self.routed_params = Some(sip_params(&routes[0].uri));
            next = 1;
            if settings.double_rr != 0 && has_param(&routes[0].uri, "r2") {
                next = 2;
            }
        }
        let Some(hop) = routes.get(next) else {
            self.route_set = Some(Vec::new());
            return if preloaded { -3 } else { 1 };
        };
        if has_param(&hop.uri, "lr") {
            self.dst_uri = Some(hop.uri_text.to_string());
            if next > 0 {
                self.route_set = Some(route_texts(&routes[next..]));
            }
        } else {
            // The next hop is a strict router: it gets the request in its Request-URI and
            // the Request-URI we had goes to the end of the route set (§16.12), as a Route
            // line of its own at the end of the headers, where rr writes it.
            let ruri = self.current_ruri();
            self.saved_ruri = Some(format!("<{ruri}>"));
            self.new_ruri = Some(hop.uri_text.to_string());
            self.route_set = Some(route_texts(&routes[next + 1..]));
        }
        1
    }

    /// The previous hop was a strict router: our Record-Route came back as the Request-URI
    /// and the real one is the last Route entry (RFC 3261 §16.4).
    fn after_strict(&mut self, routes: &[sip_message::NameAddr<'_>]) -> i64 {
        let ruri = self.current_ruri();
        self.routed_params = Uri::parse(&ruri).ok().map(|u| sip_params(&u));
        let mut next = 0;
        if self.router.program.settings.double_rr != 0
            && has_param(&routes[0].uri, "r2")
            && self.router.is_my_uri(routes[0].uri_text)
        {
            next = 1;
        }
        let Some(hop) = routes.get(next) else {
            self.route_set = Some(Vec::new());
            return -1;
        };
        if has_param(&hop.uri, "lr") {
            let last = routes.len() - 1;
            self.dst_uri = Some(hop.uri_text.to_string());
            self.new_ruri = Some(routes[last].uri_text.to_string());
            self.route_set = Some(route_texts(&routes[next..last.max(next)]));
        } else {
            self.new_ruri = Some(hop.uri_text.to_string());
            self.route_set = Some(route_texts(&routes[next + 1..]));
        }
        1
    }

    /// rr's direction of an in-dialog request: upstream when the `ftag` of our Route is not
    /// the From tag (the callee is sending); downstream otherwise, also when unknown.
    fn is_downstream(&self) -> bool {
        let ftag = self
            .routed_params
            .as_deref()
            .and_then(|p| param_value(p, "ftag"))
            .map(|f| String::from_utf8_lossy(&sip_message::percent_decode(&f)).into_owned());
        let from_tag = match self.msg.from() {
            Ok(Some(f)) => f.tag().map(str::to_string),
            _ => None,
        };
        match (ftag, from_tag) {
            (Some(f), Some(t)) if !f.is_empty() && !t.is_empty() => f == t,
            _ => true,
        }
    }

    /// Records the Record-Route request; a second one is refused, as rr does.
    fn set_rr(&mut self, rr: Rr) -> i64 {
        if self.rr.is_some() {
            self.log(-1, "double attempt to record-route".into());
            return -1;
        }
        self.rr = Some(rr);
        1
    }

    fn add_rr_param(&mut self, p: &str) {
        for part in p.split(';').filter(|x| !x.is_empty()) {
            self.rr_params.push(';');
            self.rr_params.push_str(part);
        }
    }

    /// `insert_hf` (`above`) or `append_hf(…, after)`: a header line next to another.
    fn place_header(&mut self, line: String, neighbour: Option<String>, above: bool) -> i64 {
        if !line.contains(':') || line.contains(['\r', '\n']) {
            return -1;
        }
        self.placed_headers.push((line, neighbour, above));
        1
    }

    /// The text a textops edit searches and where it starts in the message: the headers and
    /// the body (textops starts after the first line, so that the Request-URI is left to
    /// the URI functions), or the body; `None` when it is not UTF-8.
    fn scope_text(&self, scope: Scope) -> Option<(usize, &'a str)> {
        let bytes: &'a [u8] = self.msg.as_bytes();
        let offset = match scope {
            Scope::Message => memchr::memchr(b'\n', bytes).map_or(bytes.len(), |i| i + 1),
            Scope::Body => bytes.len() - self.msg.body().len(),
        };
        std::str::from_utf8(&bytes[offset..])
            .ok()
            .map(|t| (offset, t))
    }

    /// textops `replace*`: the first (or every) match in the message or the body.
    fn replace(&mut self, re: &regex::Regex, text: &str, scope: Scope, all: bool) -> i64 {
        let Some((offset, hay)) = self.scope_text(scope) else {
            return -1;
        };
        let mut n = 0;
        for m in re.find_iter(hay) {
            self.raw_edits
                .push((offset + m.start()..offset + m.end(), text.to_string()));
            n += 1;
            if !all {
                break;
            }
        }
        truth(n > 0)
    }

    /// textops `subst`/`subst_body`: the expression's matches in the message (or body)
    /// become edits of the forwarded message.
    fn subst(&mut self, sub: &crate::subst::Subst, scope: Scope) -> i64 {
        let Some((offset, hay)) = self.scope_text(scope) else {
            return -1;
        };
        match sub.edits_with(hay, &mut |p| self.get(p)) {
            Ok(edits) if !edits.is_empty() => {
                for (range, text) in edits {
                    self.raw_edits
                        .push((offset + range.start..offset + range.end, text));
                }
                1
            }
            Ok(_) => -1,
            Err(e) => {
                self.log(-1, format!("{}: {e}", sub.source()));
                -1
            }
        }
    }

    /// Whether the Content-Type's media type is `want` (any case, parameters aside).
    fn content_type_is(&self, want: &str) -> bool {
        self.msg
            .header(HeaderName::ContentType)
            .map(|h| h.value().split(';').next().unwrap_or("").trim())
            .is_some_and(|t| t.eq_ignore_ascii_case(want.trim()))
    }

    /// siputils `is_first_hop`: a request with one Via; a reply whose top Record-Route is
    /// ours and did not come from ourselves (or that has no Record-Route).
    fn is_first_hop(&mut self) -> i64 {
        if self.msg.is_request() {
            return truth(self.msg.vias().nth(1).is_none());
        }
        let Ok(rrs) = self.msg.record_routes() else {
            return -1;
        };
        let Some(top) = rrs.first() else {
            return 1;
        };
        let Ok(Uri::Sip(u)) = Uri::parse(top.uri_text) else {
            return -1;
        };
        let Some(ip) = u.host_port.host.ip() else {
            return -1;
        };
        if !self.router.is_my_uri(top.uri_text) {
            return -1;
        }
        let from_self = ip == self.inc.source.ip()
            && u.host_port.port.unwrap_or(5060) == self.inc.source.port();
        truth(!from_self)
    }

    /// siputils `options_reply`: a 200 with Accept, Accept-Encoding, Accept-Language and
    /// Supported to an OPTIONS whose Request-URI has no user.
    fn options_reply(&mut self) -> i64 {
        if self.msg.method() != Some("OPTIONS")
            || !matches!(
                uri_part(&self.current_ruri(), &PvName::RuriUser),
                Value::Null
            )
        {
            return -1;
        }
        let names = ["Accept", "Accept-Encoding", "Accept-Language", "Supported"];
        for (name, value) in names.iter().zip(&self.router.program.settings.options) {
            self.reply_headers.push(format!("{name}: {value}"));
        }
        self.reply(200, "OK")
    }

    /// siputils `add_uri_param`: `;param` at the end of the Request-URI's parameters.
    fn add_uri_param(&mut self, param: &str) -> i64 {
        let param = param.trim_start_matches(';');
        if param.is_empty() || param.contains(['\r', '\n', ' ', '?', '>']) {
            return -1;
        }
        let ruri = self.current_ruri();
        let (base, headers) = match ruri.split_once('?') {
            Some((b, h)) => (b, Some(h)),
            None => (ruri.as_str(), None),
        };
        let new = match headers {
            Some(h) => format!("{base};{param}?{h}"),
            None => format!("{base};{param}"),
        };
        if Uri::parse(&new).is_err() {
            return -1;
        }
        self.new_ruri = Some(new);
        1
    }

    /// siputils `is_e164`: `+` and 2 to `e164_max_len` digits, the first not 0.
    fn e164(&self, v: &str) -> i64 {
        let max = self.router.program.settings.e164_max_len;
        let ok = v.strip_prefix('+').is_some_and(|d| {
            (2..=max).contains(&d.len())
                && d.bytes().all(|c| c.is_ascii_digit())
                && !d.starts_with('0')
        });
        truth(ok)
    }

    /// `force_tcp_alias([port])`: later sends to the peer's address with that port (the top
    /// Via's port when absent) reuse this connection.
    fn tcp_alias(&mut self, port: Option<i64>) -> i64 {
        let Some(conn) = self.inc.conn.filter(|_| self.inc.proto != Transport::Udp) else {
            return -1;
        };
        let port = match port {
            Some(p) => u16::try_from(p).ok().filter(|p| *p > 0),
            None => match self.msg.top_via() {
                Ok(Some(v)) => Some(v.sent_by.port.unwrap_or(5060)),
                _ => None,
            },
        };
        let Some(port) = port else {
            return -1;
        };
        self.out.push(Output::TcpAlias {
            conn,
            alias: std::net::SocketAddr::new(self.inc.source.ip(), port),
        });
        1
    }

    /// A local reply to the request (`sl_send_reply`).
    fn reply(&mut self, code: u16, reason: &str) -> i64 {
        if !self.msg.is_request() || self.msg.method() == Some("ACK") {
            return -1;
        }
        let to_tag = self.router.to_tag(self.msg);
        let data = crate::reply::build_reply(
            self.msg,
            self.inc,
            code,
            reason,
            &to_tag,
            &self.reply_headers,
        );
        let dest = crate::reply::reply_destination(self.msg, self.inc, self.force_rport);
        self.out.push(Output::Send(SendMsg {
            data,
            dest: Dest::Addr(dest),
            proto: self.inc.proto,
            local: Some(self.inc.local),
            conn: self.inc.conn,
        }));
        1
    }

    /// Stateless forwarding of the request.
    fn forward(&mut self, target: Option<(Target<'r>, Option<u16>)>) -> i64 {
        if !self.msg.is_request() {
            return -1;
        }
        match target {
            Some((h, p)) => self.forward_to(h, p, self.inc.proto),
            None => match self.next_hop() {
                Ok((target, port, proto)) => self.forward_to(target, port, proto),
                Err(uri) => {
                    self.log(-1, format!("forward: cannot route to `{uri}`"));
                    -1
                }
            },
        }
    }

    /// The target a forward's compiled host names (an expression is evaluated now).
    fn target(&mut self, host: &'r HostArg) -> Target<'r> {
        match host {
            HostArg::Addr(ip) => Target::Addr(*ip),
            HostArg::Expr(e) => Target::from_text(self.eval_str(e)),
        }
    }

    /// Where `forward()` without arguments sends: `$du`, else the R-URI. Read in place
    /// (neither is copied, and an IP host is taken as parsed, not written out and parsed
    /// again); `Err` with the URI's text when it is not a SIP URI.
    fn next_hop(&self) -> Result<(Target<'r>, Option<u16>, Transport), String> {
        let uri = match (&self.dst_uri, &self.new_ruri) {
            (Some(u), _) | (None, Some(u)) => u.as_str(),
            (None, None) => self.msg.request_uri_str().unwrap_or(""),
        };
        let Ok(Uri::Sip(u)) = Uri::parse(uri) else {
            return Err(uri.to_string());
        };
        let named = u.params.get("transport").flatten();
        let proto = match named.and_then(Transport::from_name) {
            Some(t) => t,
            None if u.secure => Transport::Tls,
            None => self.inc.proto,
        };
        let host = &u.host_port.host;
        let target = match host.ip() {
            Some(ip) => Target::Addr(ip),
            None => Target::Name(Cow::Owned(host.unbracketed().to_string())),
        };
        Ok((target, u.host_port.port, proto))
    }

    /// Forwards the request to `target` (`port`, or the protocol's default) over `proto`.
    fn forward_to(&mut self, target: Target<'r>, port: Option<u16>, proto: Transport) -> i64 {
        if !self.msg.is_request() {
            return -1;
        }
        let ip = target.ip();
        let Some(local) = self.send_socket(proto, ip) else {
            return -1;
        };
        let mut built = self.build_forward(local);
        let mut proto = proto;
        // udp_mtu: a UDP request that has grown past the MTU goes over the other protocol.
        let mtu = self.router.program.udp_mtu;
        let try_proto = self.mtu_try.or(self.router.program.udp_mtu_try_proto);
        if let (Ok(data), Some(other)) = (&built, try_proto) {
            if proto == Transport::Udp && other != Transport::Udp && mtu > 0 && data.len() > mtu {
                if let Some(l) = self.router.pick_socket(other, ip) {
                    proto = other;
                    built = self.build_forward(l);
                    return self.send_built(built, target, port, proto, l);
                }
            }
        }
        self.send_built(built, target, port, proto, local)
    }

    /// The socket a request of `proto` to `host` leaves from: the forced one when its
    /// protocol matches (rr and Kamailio's core ignore a forced socket of another protocol,
    /// with a warning), else the router's choice.
    fn send_socket(&mut self, proto: Transport, ip: Option<IpAddr>) -> Option<usize> {
        if let Some(i) = self.forced_socket {
            if self.router.local(i).proto == proto {
                return Some(i);
            }
            self.log(
                0,
                format!(
                    "forward: the forced socket is {}, the destination needs {}; not used",
                    self.router.local(i).proto.as_str(),
                    proto.as_str()
                ),
            );
        }
        let local = self.router.pick_socket(proto, ip);
        if local.is_none() {
            self.log(
                -1,
                format!("forward: no {} socket to send from", proto.as_str()),
            );
        }
        local
    }

    /// Sends a built request, or answers 513 when it grew too large.
    fn send_built(
        &mut self,
        built: Result<Vec<u8>, sip_message::EditError>,
        target: Target<'r>,
        port: Option<u16>,
        proto: Transport,
        local: usize,
    ) -> i64 {
        let port = port.unwrap_or(if proto == Transport::Tls { 5061 } else { 5060 });
        // What we add (Via, Record-Route, Max-Forwards, append_hf) must not push the message
        // past what a SIP parser accepts (ours included): 513 instead of a broken forward.
        let limits = sip_message::Limits::default();
        let most_headers =
            self.msg.headers().len() + 4 + self.add_headers.len() + self.placed_headers.len();
        match built {
            Ok(data)
                if data.len() > limits.max_message_size || most_headers > limits.max_headers =>
            {
                self.log(
                    0,
                    format!(
                        "forward: the message would be too large ({} bytes, up to {most_headers} header fields); answering 513",
                        data.len()
                    ),
                );
                self.reply(513, "Message Too Large");
                -1
            }
            Ok(data) => {
                if let Some(idx) = self.router.program.onsend {
                    self.sending = Some((target.to_string(), port, proto, data.len()));
                    let flow = self.run_route(idx);
                    self.sending = None;
                    if matches!(flow, Flow::Drop) {
                        self.log(3, "onsend_route dropped the request".into());
                        return -1;
                    }
                }
                self.out.push(Output::Send(SendMsg {
                    data,
                    dest: match target {
                        Target::Addr(ip) => Dest::Addr(std::net::SocketAddr::new(ip, port)),
                        Target::Name(host) => Dest::Host {
                            host: host.into_owned(),
                            port,
                        },
                    },
                    proto,
                    local: Some(local),
                    conn: None,
                }));
                1
            }
            Err(e) => {
                self.log(-1, format!("forward: {e}"));
                -1
            }
        }
    }

    fn build_forward(&mut self, local: usize) -> Result<Vec<u8>, sip_message::EditError> {
        let sock = self.router.local(local);
        let mut ed = sip_message::Editor::reusing(self.msg, &mut self.scratch.edit);
        // RFC 3261 §18.2.1 / RFC 3581 on the Via we received.
        if let Ok(Some(via)) = self.msg.top_via() {
            let src = self.inc.source;
            let sent_by_ip = via.sent_by.host.ip();
            let wants_rport = !matches!(via.rport, Rport::Absent) || self.force_rport;
            if sent_by_ip != Some(src.ip()) || wants_rport {
                ed.set_via_received(src.ip())?;
            }
            if wants_rport {
                ed.set_via_rport(src.port())?;
            }
        }
        let branch = self.router.branch(self.msg, local);
        let sent_by = match &self.advertised {
            (None, None) => sock.host_port(),
            (host, port) => {
                let own = sock.host_port();
                let port = port.or(own.port);
                match host {
                    Some(h) => HostPort::parse(h)
                        .map(|hp| HostPort::new(hp.host.into_owned(), port))
                        .unwrap_or_else(|_| HostPort::domain(h.clone(), port)),
                    None => HostPort::new(own.host.clone(), port),
                }
            }
        };
        ed.insert_via(
            sock.proto.via_name(),
            &sent_by,
            branch.as_str(),
            if self.local_rport { ";rport" } else { "" },
        )?;
        if let Some(MaxFwd::Set(n)) = self.maxfwd {
            ed.replace_header("Max-Forwards", decimal(n, &mut [0; 3]))?;
        }
        if let Some(ruri) = &self.new_ruri {
            ed.set_request_uri(ruri)?;
        }
        if let Some(set) = &self.route_set {
            ed.replace_routes(set)?;
        }
        if let Some(uri) = &self.saved_ruri {
            ed.add_header("Route", uri)?;
        }
        if let Some(rr) = &self.rr {
            for uri in self.record_route_uris(rr, local, &sent_by) {
                ed.prepend_record_route_uri(&uri)?;
            }
        }
        // maxfwd adds a missing Max-Forwards as the very first header line (above
        // Record-Route), as Kamailio does.
        if let Some(MaxFwd::Add(n)) = self.maxfwd {
            ed.prepend_header("Max-Forwards", decimal(n, &mut [0; 3]))?;
        }
        for name in &self.remove_headers {
            ed.remove_headers(name);
        }
        for h in &self.add_headers {
            if let Some((name, value)) = h.split_once(':') {
                ed.add_header(name.trim(), value.trim())?;
            }
        }
        for (line, neighbour, above) in &self.placed_headers {
            if let Some((name, value)) = line.split_once(':') {
                let (name, value) = (name.trim(), value.trim());
                match (neighbour, above) {
                    (before, true) => ed.insert_header(name, value, before.as_deref())?,
                    (Some(after), false) => ed.insert_header_after(name, value, after)?,
                    (None, false) => ed.add_header(name, value)?,
                }
            }
        }
        for (range, text) in &self.raw_edits {
            ed.replace_range(range.clone(), text.as_bytes())?;
        }
        let out = self.scratch.spare_output();
        Ok(ed.finish_reusing(&mut self.scratch.edit, out))
    }

    /// The Record-Route URIs to prepend, bottom first: rr's
    /// `sip:<address>[;transport=…][;r2=on];lr[;ftag=…][params]`, two of them (the receiving
    /// socket's below the sending one's) when the sockets differ and `enable_double_rr` is on.
    fn record_route_uris(&self, rr: &Rr, local: usize, sent_by: &HostPort<'_>) -> Vec<String> {
        let settings = &self.router.program.settings;
        let sips = !settings.ignore_sips
            && self
                .current_ruri()
                .get(..5)
                .is_some_and(|s| s.eq_ignore_ascii_case("sips:"));
        let scheme = if sips { "sips" } else { "sip" };
        let lr = if settings.full_lr { ";lr=on" } else { ";lr" };
        let tag = if !settings.append_fromtag {
            None
        } else if matches!(rr, Rr::Sockets) && !self.is_downstream() {
            self.msg
                .to()
                .ok()
                .flatten()
                .and_then(|t| t.tag().map(str::to_string))
        } else {
            self.msg
                .from()
                .ok()
                .flatten()
                .and_then(|f| f.tag().map(str::to_string))
        };
        // A tag is a token and may hold octets a URI may not (`` ` ``): escaped.
        let ftag = tag
            .map(|t| format!(";ftag={}", sip_message::percent_encode_param(&t)))
            .unwrap_or_default();
        let params = &self.rr_params;
        match rr {
            Rr::Preset(a, b) => {
                let one = |addr: &str| format!("{scheme}:{addr}{ftag}{params}{lr}");
                // rr inserts the first address above the second.
                let mut uris: Vec<String> = b.iter().map(|b| one(b)).collect();
                uris.push(one(a));
                uris
            }
            Rr::Sockets => {
                let transport = |p: Transport| match p {
                    Transport::Udp => String::new(),
                    p => format!(";transport={}", p.as_str()),
                };
                let out_sock = self.router.local(local);
                let in_sock = self.router.local(self.inc.local);
                let differ = local != self.inc.local && in_sock.host_port() != out_sock.host_port()
                    || in_sock.proto != out_sock.proto;
                let double = settings.double_rr == 2 || (settings.double_rr == 1 && differ);
                let r2 = if double { ";r2=on" } else { "" };
                let one = |hp: &HostPort<'_>, p: Transport| {
                    format!("{scheme}:{hp}{}{r2}{lr}{ftag}{params}", transport(p))
                };
                let mut uris = Vec::with_capacity(2);
                if double {
                    uris.push(one(&in_sock.host_port(), in_sock.proto));
                }
                uris.push(one(sent_by, out_sock.proto));
                uris
            }
        }
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let bits = u32::from(bits.min(32));
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let bits = u32::from(bits.min(128));
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// The time since the Unix epoch (zero if the clock is before it).
fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn time_field(tm: &clock::Tm, part: TimePart) -> i64 {
    match part {
        TimePart::Sec => i64::from(tm.sec),
        TimePart::Min => i64::from(tm.min),
        TimePart::Hour => i64::from(tm.hour),
        TimePart::Mday => i64::from(tm.mday),
        TimePart::Mon => i64::from(tm.mon),
        TimePart::Year => tm.year,
        TimePart::Wday => i64::from(tm.wday),
        TimePart::Yday => i64::from(tm.yday),
        TimePart::Isdst => i64::from(tm.isdst),
    }
}

fn uri_part(uri: &str, part: &PvName) -> Value {
    match Uri::parse(uri) {
        Ok(Uri::Sip(u)) => match part {
            PvName::RuriUser => u.user.map_or(Value::Null, |x| Value::Str(x.to_string())),
            PvName::RuriDomain => Value::Str(u.host_port.host.unbracketed().to_string()),
            PvName::RuriPort => Value::Int(i64::from(u.host_port.port.unwrap_or(if u.secure {
                5061
            } else {
                5060
            }))),
            PvName::RuriScheme => Value::Str(u.scheme.to_string()),
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

/// The URI with its user, host or port replaced (parameters and headers kept).
fn set_uri_part(uri: &str, part: &PvName, value: &str) -> Option<String> {
    let part = match part {
        PvName::RuriUser => UriPart::User,
        PvName::RuriDomain => UriPart::Host,
        PvName::RuriPort => UriPart::Port,
        _ => return None,
    };
    crate::uri_edit::rewrite(uri, part, value)
}

/// The parameters of a SIP URI as written (from the first `;`, without the headers).
fn sip_params(uri: &Uri<'_>) -> String {
    match uri {
        Uri::Sip(u) => u.params.as_str().to_string(),
        _ => String::new(),
    }
}

/// Whether a SIP URI has the parameter `name` (any case).
fn has_param(uri: &Uri<'_>, name: &str) -> bool {
    matches!(uri, Uri::Sip(u) if u.params.contains(name))
}

/// The value of `name` in a `;a=1;b=2` parameter text.
fn param_value(params: &str, name: &str) -> Option<String> {
    params.split(';').find_map(|p| {
        let (n, v) = p.split_once('=').unwrap_or((p, ""));
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// Route values written back, in order.
fn route_texts(routes: &[sip_message::NameAddr<'_>]) -> Vec<String> {
    routes.iter().map(route_text).collect()
}

/// A Route value written back: `[display ]<uri>;params`.
fn route_text(n: &sip_message::NameAddr<'_>) -> String {
    let mut s = String::new();
    if let Some(d) = n.display_name {
        s.push_str(d);
        s.push(' ');
    }
    s.push('<');
    s.push_str(n.uri_text);
    s.push('>');
    s.push_str(n.params.as_str());
    s
}

/// The `i`-th of `items` (negative counts from the end).
fn nth<T>(items: &[T], i: i64) -> Option<&T> {
    let at = if i < 0 { items.len() as i64 + i } else { i };
    usize::try_from(at).ok().and_then(|a| items.get(a))
}

/// A test's return code: 1 true, -1 false.
fn truth(b: bool) -> i64 {
    if b {
        1
    } else {
        -1
    }
}

/// siputils' character-class checks (an empty text is never in the class).
fn char_class(t: &str, class: &CharClass, extra: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && match class {
            CharClass::Digits => b.iter().all(u8::is_ascii_digit),
            CharClass::AlphaNum => b.iter().all(u8::is_ascii_alphanumeric),
            CharClass::AlphaNumEx(_) => t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || extra.contains(c)),
            CharClass::Tel => {
                let digits = match t.strip_prefix('+') {
                    Some(rest) => match rest.as_bytes().first() {
                        Some(b'1'..=b'9') => rest,
                        _ => return false,
                    },
                    None => t,
                };
                digits.bytes().all(|c| c.is_ascii_digit())
            }
        }
}

/// Where a forward goes: an address as it is, or a name to resolve.
enum Target<'r> {
    /// An IP address (from the URI's parsed host, or text that is one).
    Addr(IpAddr),
    /// A host name, resolved by the transport.
    Name(Cow<'r, str>),
}

impl<'r> Target<'r> {
    /// The target `forward("host", port)` names: an address when the text is one.
    fn from_text(host: Cow<'r, str>) -> Target<'r> {
        match host.parse::<IpAddr>() {
            Ok(ip) => Target::Addr(ip),
            Err(_) => Target::Name(host),
        }
    }

    /// The address, when the target is one.
    fn ip(&self) -> Option<IpAddr> {
        match self {
            Target::Addr(ip) => Some(*ip),
            Target::Name(_) => None,
        }
    }
}

/// The host as `$snd(ip)` shows it: an address without IPv6 brackets, or the name.
impl std::fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Addr(ip) => ip.fmt(f),
            Target::Name(n) => f.write_str(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn decimal_writes_every_u8() {
        for n in 0..=u8::MAX {
            assert_eq!(decimal(n, &mut [0; 3]), n.to_string());
        }
    }
}
