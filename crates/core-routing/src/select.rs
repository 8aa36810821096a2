//! Kamailio's select framework: `@ruri.user`, `@via[2].branch`, `@hf_value["contact"].uri`,
//! `@cfg_get.group.var`, and the same paths inside `$sel(…)`.
//!
//! A select path is parsed once, at compile time, into a [`Select`]; an unknown part is a
//! compile error naming it, as Kamailio refuses to start on it. Evaluation reads the message
//! and returns the text Kamailio's select would, or `$null` when Kamailio's select answers
//! "not found". Select values are strings, as in Kamailio.

use std::collections::HashMap;

use sip_message::{Contact, Message, NameAddr, StartLine, Uri, Via};

use crate::clock::{self, Tm};
use crate::value::Value;

/// The custom cfg-framework variables of the script (`group.var = value`), by group and name.
pub type CfgVars = HashMap<(String, String), Value>;

/// A parsed select path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Select {
    /// `@ruri`, `@request_uri`: the Request-URI (the rewritten one, if any).
    Ruri(UriSel),
    /// `@dst_uri`: the destination URI set by the script.
    DstUri(UriSel),
    /// `@from`, `@to`, `@contact`, `@record_route` and their parts.
    Addr(AddrHeader, AddrSel),
    /// `@via` / `@via[n]` (n counts Via values from 1, across header lines) and its parts.
    Via(i64, ViaSel),
    /// `@cseq` and its parts.
    CSeq(CSeqSel),
    /// `@call_id`, `@user_agent`, … : the first header of that name, its whole value.
    Plain(&'static str),
    /// `@event`: the event package of the Event header (without its parameters).
    Event,
    /// `@method`, `@status`, `@msg.request.uri`, … : parts of the start line.
    Line(LineSel),
    /// `@msg` and its parts.
    Msg(MsgSel),
    /// `@hf_value.NAME…` (textopsx).
    HfValue(HfValue),
    /// `@cfg_get.group.var`.
    CfgGet(String, String),
    /// `@sys.…`
    Sys(SysSel),
}

/// A part of a URI (`select_any_uri`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriSel {
    /// The whole URI.
    Whole,
    /// `.type`: `sip`, `sips`, `tel`, `urn`.
    Type,
    /// `.user`
    User,
    /// `.pwd`
    Pwd,
    /// `.host`
    Host,
    /// `.port` as written (empty when absent).
    Port,
    /// `.hostport`, with the scheme's default port when absent.
    HostPort,
    /// `.params` (all of them) or `.params.NAME`.
    Params(Option<String>),
    /// `.transport`: the `transport` parameter, or the scheme's default.
    Transport,
}

/// Headers holding name-addr values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrHeader {
    /// From
    From,
    /// To
    To,
    /// Contact (the first value)
    Contact,
    /// Record-Route (the first value)
    RecordRoute,
}

/// A part of a name-addr header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrSel {
    /// The header's whole value.
    Whole,
    /// `.uri` and its parts.
    Uri(UriSel),
    /// `.tag`
    Tag,
    /// `.name`: the display name as written.
    Name,
    /// `.params.NAME`, `.q`, `.expires`, …: a header parameter.
    Param(String),
}

/// A part of a Via value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViaSel {
    /// The whole value.
    Whole,
    /// `.name`: the protocol name (`SIP`).
    Name,
    /// `.version`
    Version,
    /// `.transport`
    Transport,
    /// `.host`
    Host,
    /// `.port` (empty when absent).
    Port,
    /// `.branch`, `.received`, `.rport`, `.i`, `.alias`, `.params.NAME`.
    Param(String),
}

/// A part of the CSeq header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CSeqSel {
    /// The whole value.
    Whole,
    /// `.num`
    Num,
    /// `.method`
    Method,
}

/// Parts of the start line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineSel {
    /// The method of a request.
    Method,
    /// The Request-URI as received (not the rewritten one) and its parts.
    ReqUri(UriSel),
    /// The SIP version of a request.
    ReqVersion,
    /// The SIP version of a reply.
    ResVersion,
    /// The SIP version of either.
    Version,
    /// The status code of a reply.
    Status,
    /// The reason phrase of a reply.
    Reason,
}

/// Parts of `@msg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MsgSel {
    /// The whole message.
    Whole,
    /// `.len`
    Len,
    /// `.type`: 1 for a request, 2 for a reply.
    Type,
    /// `.first_line`
    FirstLine,
    /// `.body` / `.content`
    Body,
    /// `.header` alone: every header line.
    Headers,
    /// `.header.NAME[n]` (n from 1; 0 or negative: the last) or `.NAME`: the value.
    Header(String, i64),
    /// `.request`: the whole message when it is a request.
    Request,
    /// `.response`: the whole message when it is a reply.
    Response,
}

/// `@hf_value.NAME[IDX].part`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfValue {
    /// The header name (underscores read as dashes).
    pub name: String,
    /// The value index (from 1; negative counts from the last); `None`: every value.
    pub index: Option<i64>,
    /// What to take of the value.
    pub part: HfPart,
}

/// What `@hf_value` takes of a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HfPart {
    /// The value itself (all values joined by `,` without an index).
    Value,
    /// `.uri` (without `<>`) and its parts.
    Uri(UriSel),
    /// `.name`: the display name without quotes.
    Name,
    /// `.PARAM`, `.p.PARAM`, `.param.PARAM`: a parameter of the value.
    Param(String),
}

/// Parts of `@sys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysSel {
    /// `.now`: the Unix time.
    Now,
    /// `.now.gmt` / `.now.utc`: the UTC time in `asctime` form.
    NowUtc,
    /// `.now.local`: the local time in `asctime` form.
    NowLocal,
    /// `.pid`: the process id.
    Pid,
}

/// One element of a select path: a name (`.user`, `["contact"]`) or an index (`[2]`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Name(String),
    Int(i64),
}

impl Tok {
    fn show(&self) -> String {
        match self {
            Tok::Name(n) => n.clone(),
            Tok::Int(i) => format!("[{i}]"),
        }
    }
}

/// Parses a select path (with or without the leading `@`).
pub fn parse(path: &str) -> Result<Select, String> {
    let toks = tokens(path.strip_prefix('@').unwrap_or(path))?;
    top(&toks)
}

/// Splits `name[idx].name["str"]…` into elements, as Kamailio's select parser does.
fn tokens(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        if !b.get(i).is_some_and(u8::is_ascii_alphabetic) {
            return Err(format!("a name expected at `{}`", s.get(i..).unwrap_or("")));
        }
        let start = i;
        while b
            .get(i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            i += 1;
        }
        out.push(Tok::Name(s[start..i].to_string()));
        if b.get(i) == Some(&b'[') {
            let (tok, next) = index(s, i + 1)?;
            out.push(tok);
            i = next;
        }
        match b.get(i) {
            None => return Ok(out),
            Some(b'.') => i += 1,
            Some(_) => return Err(format!("unexpected `{}`", s.get(i..).unwrap_or(""))),
        }
    }
}

/// The `[…]` content starting at `i` (after `[`): a quoted name or an integer.
fn index(s: &str, i: usize) -> Result<(Tok, usize), String> {
    let rest = s.get(i..).unwrap_or("");
    let rest = rest.strip_prefix('\\').unwrap_or(rest);
    let skipped = s.len() - i - rest.len();
    if let Some(q) = rest.strip_prefix('"') {
        let end = q
            .find('"')
            .ok_or_else(|| format!("unterminated string in `[{rest}`"))?;
        let name = q[..end].trim_end_matches('\\');
        if !q[end + 1..].starts_with(']') {
            return Err(format!("`]` expected after `[{}`", &rest[..end + 2]));
        }
        return Ok((Tok::Name(name.to_string()), i + skipped + end + 3));
    }
    let end = rest
        .find(']')
        .ok_or_else(|| format!("`]` missing in `[{rest}`"))?;
    let n = rest[..end]
        .parse()
        .map_err(|_| format!("bad index `[{}]`", &rest[..end]))?;
    Ok((Tok::Int(n), i + skipped + end + 1))
}

/// The name of a token, lower-cased for matching keywords (select names ignore case).
fn key(t: &Tok) -> Option<String> {
    match t {
        Tok::Name(n) => Some(n.to_ascii_lowercase()),
        Tok::Int(_) => None,
    }
}

fn unknown(t: &Tok, after: &str) -> String {
    format!("`{}` is not known after `@{after}`", t.show())
}

/// Requires that nothing follows.
fn end<T>(rest: &[Tok], after: &str, v: T) -> Result<T, String> {
    match rest.first() {
        None => Ok(v),
        Some(t) => Err(unknown(t, after)),
    }
}

/// A name, read as a header or parameter name: `_` stands for `-` (not as first character).
fn dashed(n: &str) -> String {
    let mut out = String::with_capacity(n.len());
    for (i, c) in n.chars().enumerate() {
        out.push(if c == '_' && i > 0 { '-' } else { c });
    }
    out
}

/// The one name that must follow (`.params.NAME`).
fn one_name(rest: &[Tok], after: &str) -> Result<String, String> {
    match rest {
        [Tok::Name(n)] => Ok(n.clone()),
        [] => Err(format!("a name is expected after `@{after}`")),
        [Tok::Name(_), t, ..] | [t, ..] => Err(unknown(t, after)),
    }
}

fn top(toks: &[Tok]) -> Result<Select, String> {
    let Some((first, rest)) = toks.split_first() else {
        return Err("empty select".into());
    };
    let name = key(first).unwrap_or_default();
    Ok(match name.as_str() {
        "ruri" | "request_uri" => Select::Ruri(uri_sel(rest, &name)?),
        "dst_uri" => Select::DstUri(uri_sel(rest, &name)?),
        "from" | "f" => Select::Addr(AddrHeader::From, addr_sel(rest, &name, false)?),
        "to" | "t" => Select::Addr(AddrHeader::To, addr_sel(rest, &name, false)?),
        "contact" | "m" => Select::Addr(AddrHeader::Contact, addr_sel(rest, &name, true)?),
        "record_route" | "rr" => {
            Select::Addr(AddrHeader::RecordRoute, addr_sel(rest, &name, false)?)
        }
        "via" | "v" => via(rest)?,
        "cseq" => Select::CSeq(cseq(rest)?),
        "event" => end(rest, &name, Select::Event)?,
        "method" => end(rest, &name, Select::Line(LineSel::Method))?,
        "version" => end(rest, &name, Select::Line(LineSel::Version))?,
        "status" | "code" => end(rest, &name, Select::Line(LineSel::Status))?,
        "reason" => end(rest, &name, Select::Line(LineSel::Reason))?,
        "msg" | "message" => msg(rest)?,
        "hf_value" => Select::HfValue(hf_value(rest)?),
        "cfg_get" => cfg_get(rest)?,
        "sys" => Select::Sys(sys(rest)?),
        other => match plain_header(other) {
            Some(h) => end(rest, &name, Select::Plain(h))?,
            None => return Err(format!("`@{}` is not a known select", first.show())),
        },
    })
}

/// Selects that are a header's whole value.
fn plain_header(name: &str) -> Option<&'static str> {
    Some(match name {
        "call_id" => "Call-ID",
        "expires" => "Expires",
        "max_forwards" => "Max-Forwards",
        "content_type" => "Content-Type",
        "content_length" => "Content-Length",
        "subject" => "Subject",
        "organization" => "Organization",
        "priority" => "Priority",
        "session_expires" => "Session-Expires",
        "min_se" => "Min-SE",
        "user_agent" => "User-Agent",
        "sip_if_match" => "SIP-If-Match",
        "date" => "Date",
        "identity" => "Identity",
        "identity_info" => "Identity-Info",
        _ => return None,
    })
}

fn uri_sel(rest: &[Tok], after: &str) -> Result<UriSel, String> {
    let Some((first, tail)) = rest.split_first() else {
        return Ok(UriSel::Whole);
    };
    let name = key(first).ok_or_else(|| unknown(first, after))?;
    let part = match name.as_str() {
        "type" => UriSel::Type,
        "user" => UriSel::User,
        "pwd" => UriSel::Pwd,
        "host" => UriSel::Host,
        "port" => UriSel::Port,
        "hostport" => UriSel::HostPort,
        "transport" => UriSel::Transport,
        "params" => {
            return match tail {
                [] => Ok(UriSel::Params(None)),
                _ => Ok(UriSel::Params(Some(
                    one_name(tail, &format!("{after}.params"))?.replace('_', "-"),
                ))),
            }
        }
        _ => return Err(unknown(first, after)),
    };
    end(tail, &format!("{after}.{name}"), part)
}

fn addr_sel(rest: &[Tok], after: &str, contact: bool) -> Result<AddrSel, String> {
    let Some((first, tail)) = rest.split_first() else {
        return Ok(AddrSel::Whole);
    };
    let name = key(first).ok_or_else(|| unknown(first, after))?;
    let here = format!("{after}.{name}");
    let contact_param = |p: &str| end(tail, &here, AddrSel::Param(p.to_string()));
    match name.as_str() {
        "uri" => Ok(AddrSel::Uri(uri_sel(tail, &here)?)),
        "name" => end(tail, &here, AddrSel::Name),
        "params" => Ok(AddrSel::Param(one_name(tail, &here)?)),
        "tag" if !contact => end(tail, &here, AddrSel::Tag),
        "q" | "expires" | "methods" | "received" if contact => contact_param(&name),
        "instance" if contact => contact_param("+sip.instance"),
        _ => Err(unknown(first, after)),
    }
}

fn via(rest: &[Tok]) -> Result<Select, String> {
    let (n, rest) = match rest.split_first() {
        Some((Tok::Int(n), tail)) => (*n, tail),
        _ => (1, rest),
    };
    let Some((first, tail)) = rest.split_first() else {
        return Ok(Select::Via(n, ViaSel::Whole));
    };
    let name = key(first).ok_or_else(|| unknown(first, "via"))?;
    let here = format!("via.{name}");
    let part = match name.as_str() {
        "name" => ViaSel::Name,
        "version" => ViaSel::Version,
        "transport" => ViaSel::Transport,
        "host" => ViaSel::Host,
        "port" => ViaSel::Port,
        "branch" | "received" | "rport" | "i" | "alias" => ViaSel::Param(name.clone()),
        "params" => return Ok(Select::Via(n, ViaSel::Param(one_name(tail, &here)?))),
        _ => return Err(unknown(first, "via")),
    };
    end(tail, &here, Select::Via(n, part))
}

fn cseq(rest: &[Tok]) -> Result<CSeqSel, String> {
    let Some((first, tail)) = rest.split_first() else {
        return Ok(CSeqSel::Whole);
    };
    let part = match key(first).as_deref() {
        Some("num") => CSeqSel::Num,
        Some("method") => CSeqSel::Method,
        _ => return Err(unknown(first, "cseq")),
    };
    end(tail, "cseq", part)
}

fn msg(rest: &[Tok]) -> Result<Select, String> {
    let Some((first, tail)) = rest.split_first() else {
        return Ok(Select::Msg(MsgSel::Whole));
    };
    let name = key(first).ok_or_else(|| unknown(first, "msg"))?;
    let here = format!("msg.{name}");
    let sel = |m| end(tail, &here, Select::Msg(m));
    match name.as_str() {
        "len" => sel(MsgSel::Len),
        "type" => sel(MsgSel::Type),
        "first_line" => sel(MsgSel::FirstLine),
        "body" | "content" => sel(MsgSel::Body),
        "header" | "h" => msg_header(tail, &here),
        "request" | "req" => msg_request(tail, &here),
        "response" | "res" => msg_response(tail, &here),
        // `@msg.NAME`: the header's value, as old (SER) configs write it.
        _ => match (first, tail) {
            (Tok::Name(n), []) => Ok(Select::Msg(MsgSel::Header(dashed(n), 1))),
            (_, [t, ..]) => Err(unknown(t, &here)),
            _ => Err(unknown(first, "msg")),
        },
    }
}

fn msg_header(rest: &[Tok], after: &str) -> Result<Select, String> {
    match rest {
        [] => Ok(Select::Msg(MsgSel::Headers)),
        [Tok::Name(n)] => Ok(Select::Msg(MsgSel::Header(dashed(n), 1))),
        [Tok::Name(n), Tok::Int(i)] => Ok(Select::Msg(MsgSel::Header(dashed(n), *i))),
        [Tok::Name(n), Tok::Int(_), t, ..] | [Tok::Name(n), t, ..] => {
            Err(unknown(t, &format!("{after}.{n}")))
        }
        [t, ..] => Err(unknown(t, after)),
    }
}

fn msg_request(rest: &[Tok], after: &str) -> Result<Select, String> {
    let Some((first, tail)) = rest.split_first() else {
        return Ok(Select::Msg(MsgSel::Request));
    };
    let name = key(first).ok_or_else(|| unknown(first, after))?;
    let here = format!("{after}.{name}");
    match name.as_str() {
        "method" => end(tail, &here, Select::Line(LineSel::Method)),
        "version" => end(tail, &here, Select::Line(LineSel::ReqVersion)),
        "uri" => Ok(Select::Line(LineSel::ReqUri(uri_sel(tail, &here)?))),
        _ => Err(unknown(first, after)),
    }
}

fn msg_response(rest: &[Tok], after: &str) -> Result<Select, String> {
    let Some((first, tail)) = rest.split_first() else {
        return Ok(Select::Msg(MsgSel::Response));
    };
    let name = key(first).ok_or_else(|| unknown(first, after))?;
    let part = match name.as_str() {
        "version" => LineSel::ResVersion,
        "status" | "code" => LineSel::Status,
        "reason" => LineSel::Reason,
        _ => return Err(unknown(first, after)),
    };
    end(tail, &format!("{after}.{name}"), Select::Line(part))
}

fn hf_value(rest: &[Tok]) -> Result<HfValue, String> {
    let Some((Tok::Name(name), rest)) = rest.split_first() else {
        return Err("a header name is expected after `@hf_value`".into());
    };
    let (index, rest) = match rest.split_first() {
        Some((Tok::Int(n), tail)) => (Some(if *n == 0 { 1 } else { *n }), tail),
        _ => (None, rest),
    };
    let here = format!("hf_value.{name}");
    let part = match rest.split_first() {
        None => HfPart::Value,
        Some((first, tail)) => match key(first).as_deref() {
            Some("uri") => HfPart::Uri(uri_sel(tail, &format!("{here}.uri"))?),
            Some("name") => end(tail, &here, HfPart::Name)?,
            Some("p" | "param") => HfPart::Param(dashed(&one_name(tail, &here)?)),
            Some(n @ ("params" | "nameaddr")) => {
                return Err(format!("`@{here}.{n}` is not supported"))
            }
            Some(_) => match (first, tail) {
                (Tok::Name(p), []) => HfPart::Param(dashed(p)),
                (_, [t, ..]) => return Err(unknown(t, &here)),
                _ => return Err(unknown(first, &here)),
            },
            None => return Err(unknown(first, &here)),
        },
    };
    Ok(HfValue {
        name: dashed(name),
        index,
        part,
    })
}

fn cfg_get(rest: &[Tok]) -> Result<Select, String> {
    match rest {
        [Tok::Name(g), Tok::Name(v)] => Ok(Select::CfgGet(g.clone(), v.clone())),
        [Tok::Name(g), Tok::Name(v), t, ..] => Err(format!(
            "`{}` after `@cfg_get.{g}.{v}` is not supported",
            t.show()
        )),
        _ => Err("`@cfg_get` takes a group and a variable name: `@cfg_get.group.var`".into()),
    }
}

fn sys(rest: &[Tok]) -> Result<SysSel, String> {
    let names: Vec<Option<String>> = rest.iter().map(key).collect();
    let names: Vec<Option<&str>> = names.iter().map(Option::as_deref).collect();
    match names.as_slice() {
        [Some("now")] => Ok(SysSel::Now),
        [Some("now"), Some("gmt" | "utc")] => Ok(SysSel::NowUtc),
        [Some("now"), Some("local")] => Ok(SysSel::NowLocal),
        [Some("pid")] => Ok(SysSel::Pid),
        [] => Err("a name is expected after `@sys`".into()),
        _ => Err(format!(
            "`@sys.{}` is not supported",
            rest.iter().map(Tok::show).collect::<Vec<_>>().join(".")
        )),
    }
}

// ------------------------------------------------------------------------------- evaluation

/// What a select reads besides the message.
pub(crate) struct Env<'e> {
    /// The current Request-URI (rewritten or received).
    pub(crate) ruri: &'e str,
    /// The destination URI, if set.
    pub(crate) dst_uri: Option<&'e str>,
    /// The cfg-framework variables.
    pub(crate) cfg: &'e CfgVars,
}

fn text(s: &str) -> Value {
    Value::Str(s.to_string())
}

impl Select {
    /// Evaluates the select on a message: its text, or `$null` when Kamailio finds nothing.
    pub(crate) fn eval(&self, msg: &Message<'_>, env: &Env<'_>) -> Value {
        match self {
            Select::Ruri(u) if msg.is_request() => uri_value(env.ruri, u),
            Select::Ruri(_) => Value::Null,
            // Unset, it is empty (and has no parts), as in Kamailio.
            Select::DstUri(u) if msg.is_request() => uri_value(env.dst_uri.unwrap_or(""), u),
            Select::DstUri(_) => Value::Null,
            Select::Addr(h, part) => addr_value(msg, *h, part),
            Select::Via(n, part) => via_value(msg, *n, part),
            Select::CSeq(part) => cseq_value(msg, *part),
            Select::Plain(name) => msg
                .header_str(name)
                .map_or(Value::Null, |h| text(h.value())),
            Select::Event => msg.header_str("Event").map_or(Value::Null, |h| {
                text(h.value().split(';').next().unwrap_or("").trim())
            }),
            Select::Line(l) => line_value(msg, l),
            Select::Msg(m) => msg_value(msg, m),
            Select::HfValue(h) => hf_value_eval(msg, h),
            Select::CfgGet(g, v) => env
                .cfg
                .get(&(g.clone(), v.clone()))
                .map_or(Value::Null, |v| Value::Str(v.as_str().into_owned())),
            Select::Sys(s) => sys_value(*s),
        }
    }
}

/// A part of a URI given as text; `$null` when it does not parse.
fn uri_value(uri: &str, part: &UriSel) -> Value {
    if *part == UriSel::Whole {
        return text(uri);
    }
    let Ok(u) = Uri::parse(uri.trim()) else {
        return Value::Null;
    };
    match u {
        Uri::Sip(s) => sip_uri_part(&s, part),
        Uri::Tel(t) => match part {
            UriSel::Type => text("tel"),
            UriSel::User => text(t.number),
            UriSel::Pwd | UriSel::Host | UriSel::Port => text(""),
            UriSel::HostPort => Value::Null,
            UriSel::Params(name) => params_value(t.params, name.as_deref()),
            UriSel::Transport => text("udp"),
            UriSel::Whole => text(uri),
        },
        Uri::Other { scheme, .. } if scheme.eq_ignore_ascii_case("urn") => match part {
            UriSel::Type => text("urn"),
            _ => Value::Null,
        },
        Uri::Other { .. } => Value::Null,
    }
}

fn sip_uri_part(u: &sip_message::SipUri<'_>, part: &UriSel) -> Value {
    let default_port = if u.secure { 5061 } else { 5060 };
    match part {
        UriSel::Whole => Value::Null,
        UriSel::Type => text(if u.secure { "sips" } else { "sip" }),
        UriSel::User => text(u.user.unwrap_or("")),
        UriSel::Pwd => text(u.password.unwrap_or("")),
        UriSel::Host => Value::Str(u.host_port.host.to_string()),
        UriSel::Port => Value::Str(u.host_port.port.map_or(String::new(), |p| p.to_string())),
        UriSel::HostPort => Value::Str(format!(
            "{}:{}",
            u.host_port.host,
            u.host_port.port.unwrap_or(default_port)
        )),
        UriSel::Params(name) => params_value(u.params, name.as_deref()),
        UriSel::Transport => match u.params.get("transport") {
            Some(Some(t)) => Value::Str(t.to_ascii_lowercase()),
            _ => text(if u.secure { "tls" } else { "udp" }),
        },
    }
}

/// URI parameters: all of them (without the leading `;`), or one; a parameter without a
/// value is "not found", as in Kamailio.
fn params_value(params: sip_message::Params<'_>, name: Option<&str>) -> Value {
    match name {
        None => text(params.as_str().strip_prefix(';').unwrap_or(params.as_str())),
        Some(n) => match params.get(n) {
            Some(Some(v)) if !v.is_empty() => text(v),
            _ => Value::Null,
        },
    }
}

/// A header parameter: its value, empty when it has none, `$null` when absent.
fn header_param(params: &sip_message::Params<'_>, name: &str) -> Value {
    params
        .get(name)
        .map_or(Value::Null, |v| text(v.unwrap_or("")))
}

fn addr_value(msg: &Message<'_>, h: AddrHeader, part: &AddrSel) -> Value {
    let name = match h {
        AddrHeader::From => "From",
        AddrHeader::To => "To",
        AddrHeader::Contact => "Contact",
        AddrHeader::RecordRoute => "Record-Route",
    };
    match (msg.header_str(name), part) {
        (None, _) => Value::Null,
        (Some(header), AddrSel::Whole) => text(header.value()),
        (Some(_), _) => first_name_addr(msg, h).map_or(Value::Null, |na| addr_part(&na, part)),
    }
}

/// A part of a parsed name-addr (not the whole header).
fn addr_part(na: &NameAddr<'_>, part: &AddrSel) -> Value {
    match part {
        AddrSel::Whole => Value::Null,
        AddrSel::Uri(u) => uri_value(na.uri_text, u),
        // Kamailio answers an empty tag, not "not found", when there is none.
        AddrSel::Tag => text(na.tag().unwrap_or("")),
        AddrSel::Name => text(na.display_name.unwrap_or("")),
        AddrSel::Param(p) => header_param(&na.params, p),
    }
}

/// The first value of a name-addr header, parsed.
fn first_name_addr<'a>(msg: &Message<'a>, h: AddrHeader) -> Option<NameAddr<'a>> {
    match h {
        AddrHeader::From => msg.from().ok().flatten(),
        AddrHeader::To => msg.to().ok().flatten(),
        AddrHeader::Contact => match msg.contacts().ok()?.into_iter().next()? {
            Contact::Addr(a) => Some(a),
            Contact::Star => None,
        },
        AddrHeader::RecordRoute => msg.record_routes().ok()?.into_iter().next(),
    }
}

/// Splits a header value into its comma-separated values (commas inside quotes or `<>` do
/// not count), each trimmed.
fn split_values(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut angle, mut escaped) = (0, false, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out
}

/// Every value of the headers named `name`, top first.
fn values<'a>(msg: &Message<'a>, name: &str) -> Vec<&'a str> {
    msg.headers_called(name)
        .flat_map(|h| split_values(h.value()))
        .collect()
}

fn via_value(msg: &Message<'_>, n: i64, part: &ViaSel) -> Value {
    let all = values(msg, "Via");
    let Some(raw) = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| all.get(i))
    else {
        return Value::Null;
    };
    match part {
        ViaSel::Whole => text(raw),
        _ => Via::parse(raw).map_or(Value::Null, |v| via_part(&v, part)),
    }
}

/// A part of a parsed Via value (not the whole of it).
fn via_part(v: &Via<'_>, part: &ViaSel) -> Value {
    match part {
        ViaSel::Whole => Value::Null,
        ViaSel::Name => text(v.protocol),
        ViaSel::Version => text(v.version),
        ViaSel::Transport => text(v.transport),
        ViaSel::Host => Value::Str(v.sent_by.host.to_string()),
        ViaSel::Port => Value::Str(v.sent_by.port.map_or(String::new(), |p| p.to_string())),
        ViaSel::Param(p) => header_param(&v.params, p),
    }
}

fn cseq_value(msg: &Message<'_>, part: CSeqSel) -> Value {
    let Some(h) = msg.header_str("CSeq") else {
        return Value::Null;
    };
    if part == CSeqSel::Whole {
        return text(h.value());
    }
    match (msg.cseq(), part) {
        (Ok(Some(c)), CSeqSel::Num) => Value::Str(c.seq.to_string()),
        (Ok(Some(c)), _) => text(c.method),
        _ => Value::Null,
    }
}

fn line_value(msg: &Message<'_>, part: &LineSel) -> Value {
    match (msg.start_line(), part) {
        (StartLine::Request { method, .. }, LineSel::Method) => text(method),
        (StartLine::Request { .. }, LineSel::ReqUri(u)) => msg
            .request_uri_str()
            .map_or(Value::Null, |r| uri_value(r, u)),
        (StartLine::Request { .. }, LineSel::ReqVersion | LineSel::Version)
        | (StartLine::Response { .. }, LineSel::ResVersion | LineSel::Version) => {
            text(msg.version())
        }
        (StartLine::Response { code, .. }, LineSel::Status) => Value::Str(code.to_string()),
        (StartLine::Response { reason, .. }, LineSel::Reason) => text(reason),
        _ => Value::Null,
    }
}

fn lossy(b: &[u8]) -> Value {
    Value::Str(String::from_utf8_lossy(b).into_owned())
}

fn msg_value(msg: &Message<'_>, part: &MsgSel) -> Value {
    let all = msg.as_bytes();
    match part {
        MsgSel::Whole => lossy(all),
        MsgSel::Len => Value::Str(all.len().to_string()),
        MsgSel::Type => text(if msg.is_request() { "1" } else { "2" }),
        MsgSel::FirstLine => {
            let end = memchr::memchr(b'\n', all).unwrap_or(all.len());
            lossy(all.get(..end).unwrap_or(all).trim_ascii_end())
        }
        MsgSel::Body => lossy(msg.body()),
        MsgSel::Headers => {
            let start = memchr::memchr(b'\n', all).map_or(all.len(), |i| i + 1);
            let end = all.len().saturating_sub(msg.body().len());
            lossy(all.get(start..end).unwrap_or(b""))
        }
        MsgSel::Header(name, n) => header_at(msg, name, *n),
        MsgSel::Request if msg.is_request() => lossy(all),
        MsgSel::Response if !msg.is_request() => lossy(all),
        MsgSel::Request | MsgSel::Response => Value::Null,
    }
}

/// The n-th header line named `name` (from 1; 0 or negative: the last one).
fn header_at(msg: &Message<'_>, name: &str, n: i64) -> Value {
    let mut matching = msg.headers_called(name);
    let found = match usize::try_from(n).ok().and_then(|n| n.checked_sub(1)) {
        Some(i) => matching.nth(i),
        None => matching.next_back(),
    };
    found.map_or(Value::Null, |h| text(h.value()))
}

fn hf_value_eval(msg: &Message<'_>, h: &HfValue) -> Value {
    let all = values(msg, &h.name);
    let picked = match h.index {
        None => None,
        Some(i) if i > 0 => usize::try_from(i - 1).ok().and_then(|i| all.get(i)),
        Some(i) => usize::try_from(i.unsigned_abs())
            .ok()
            .and_then(|back| all.len().checked_sub(back))
            .and_then(|i| all.get(i)),
    };
    if (h.index.is_some() && picked.is_none()) || all.is_empty() {
        return Value::Null;
    }
    let one = picked.or(all.first()).copied().unwrap_or("");
    match &h.part {
        HfPart::Value if picked.is_none() => Value::Str(all.join(",")),
        HfPart::Value => text(one),
        HfPart::Uri(UriSel::Whole) if picked.is_none() => Value::Str(
            all.iter()
                .map(|v| value_uri(v))
                .collect::<Vec<_>>()
                .join(","),
        ),
        HfPart::Uri(u) => uri_value(value_uri(one), u),
        HfPart::Name => text(value_name(one)),
        HfPart::Param(p) => value_param(one, p),
    }
}

/// The URI of a header value: between `<>`, or up to the first `;`.
fn value_uri(v: &str) -> &str {
    if let Some((_, after)) = v.split_once('<') {
        return after.split_once('>').map_or(after, |(u, _)| u);
    }
    v.split(';').next().unwrap_or("").trim()
}

/// The display name of a header value, without quotes.
fn value_name(v: &str) -> &str {
    let Some((name, _)) = v.split_once('<') else {
        return "";
    };
    let name = name.trim();
    name.strip_prefix('"')
        .and_then(|n| n.strip_suffix('"'))
        .unwrap_or(name)
}

/// A parameter of a header value (after the URI).
fn value_param(v: &str, name: &str) -> Value {
    let params = match v.split_once('<') {
        Some((_, after)) => after.split_once('>').map_or("", |(_, p)| p),
        None => v.split_once(';').map_or("", |(_, p)| p),
    };
    params
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .find_map(|p| {
            let (n, val) = p.split_once('=').unwrap_or((p, ""));
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| text(val.trim()))
        })
        .unwrap_or(Value::Null)
}

fn sys_value(s: SysSel) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    match s {
        SysSel::Now => Value::Str(now.to_string()),
        SysSel::NowUtc => Value::Str(asctime(&clock::utc(now))),
        SysSel::NowLocal => Value::Str(asctime(&clock::local(now))),
        SysSel::Pid => Value::Str(std::process::id().to_string()),
    }
}

/// `Thu Nov 27 20:14:45 2026`: the C `asctime` form of a broken-down time.
fn asctime(tm: &Tm) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let day = DAYS
        .get((tm.wday as usize).wrapping_sub(1))
        .unwrap_or(&"???");
    let month = MONTHS
        .get((tm.mon as usize).wrapping_sub(1))
        .unwrap_or(&"???");
    format!(
        "{day} {month} {:2} {:02}:{:02}:{:02} {}",
        tm.mday, tm.hour, tm.min, tm.sec, tm.year
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob:pw@Example.com:5070;transport=TCP;lr;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1;rport=5061;received=192.0.2.9;node=n1, SIP/2.0/TCP proxy.example.org;branch=z9hG4bK-2\r\n\
v: SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK-3;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Alice A\" <sips:alice@atlanta.example.com>;tag=f1;x-p=v\r\n\
To: <sip:bob@example.com>\r\n\
Contact: <sip:alice@10.0.0.1:5062;maddr=10.1.1.1;ob>;expires=60;+sip.instance=\"<urn:x>\", <sip:other@h>\r\n\
Record-Route: <sip:p1.example.org;lr>;foo=bar\r\n\
Record-Route: <sip:p2.example.org;lr>\r\n\
Call-ID: abc@host\r\n\
CSeq: 42 INVITE\r\n\
Supported: path, gruu\r\n\
P-Asserted-Identity: \"Pai\" <sip:pai@example.com>;x=1\r\n\
P-Asserted-Identity: <tel:+15551234>\r\n\
Event: presence;id=7\r\n\
User-Agent: test ua\r\n\
Content-Length: 4\r\n\
\r\n\
body";

    const REPLY: &str = "SIP/2.0 486 Busy Here\r\n\
Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-1\r\n\
From: <sip:a@b>;tag=1\r\n\
To: <sip:c@d>\r\n\
Call-ID: x\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n";

    fn cfg() -> CfgVars {
        let mut c = CfgVars::new();
        c.insert(
            ("pstn".into(), "gw_ip".into()),
            Value::Str("10.0.0.1".into()),
        );
        c.insert(("pstn".into(), "port".into()), Value::Int(5080));
        c
    }

    /// Evaluates `path` on `raw`, the R-URI possibly rewritten to `ruri`.
    fn eval_with(path: &str, raw: &str, ruri: Option<&str>) -> Value {
        let msg = Message::parse(raw.as_bytes()).unwrap();
        let sel = parse(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let cfg = cfg();
        let env = Env {
            ruri: ruri.or(msg.request_uri_str()).unwrap_or(""),
            dst_uri: Some("sip:10.9.9.9:5090;transport=udp"),
            cfg: &cfg,
        };
        sel.eval(&msg, &env)
    }

    fn eval(path: &str) -> Value {
        eval_with(path, INVITE, None)
    }

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn paths_parse_into_elements() {
        assert_eq!(
            tokens("via[2].params[\"node\"]").unwrap(),
            vec![
                Tok::Name("via".into()),
                Tok::Int(2),
                Tok::Name("params".into()),
                Tok::Name("node".into())
            ]
        );
        assert_eq!(tokens("hf_value[-1]").unwrap()[1], Tok::Int(-1));
        for bad in [
            "", "1x", "via[", "via[x]", "via[\"a]", "via.", "a..b", "a b", "é",
        ] {
            assert!(tokens(bad).is_err(), "{bad}");
        }
        assert_eq!(parse("@RURI.User"), parse("ruri.user"));
        assert_eq!(parse("@hf_value[\"contact\"]"), parse("@hf_value.contact"));
        // One index per name, as in Kamailio.
        assert!(parse("@hf_value[\"contact\"][2]").is_err());
    }

    #[test]
    fn unknown_parts_are_named() {
        let e = |p: &str| parse(p).unwrap_err();
        assert_eq!(e("@nope"), "`@nope` is not a known select");
        assert_eq!(e("@ruri.nope"), "`nope` is not known after `@ruri`");
        assert_eq!(
            e("@from.uri.user.x"),
            "`x` is not known after `@from.uri.user`"
        );
        assert_eq!(e("@via[1].nope"), "`nope` is not known after `@via`");
        assert_eq!(e("@to.q"), "`q` is not known after `@to`");
        assert!(e("@cfg_get.a").contains("group and a variable"));
        assert!(e("@cfg_get.a.b.uri").contains("`uri` after `@cfg_get.a.b`"));
        assert!(e("@sys.now.local.x").contains("not supported"));
        assert!(e("@msg.header.x.params.y").contains("`params`"));
        assert!(e("@from.params").contains("a name is expected"));
        assert!(e("@hf_value.contact.nameaddr.uri").contains("not supported"));
    }

    #[test]
    fn request_uri() {
        assert_eq!(
            eval("@ruri"),
            s("sip:bob:pw@Example.com:5070;transport=TCP;lr;user=phone")
        );
        assert_eq!(eval("@ruri.user"), s("bob"));
        assert_eq!(eval("@ruri.pwd"), s("pw"));
        assert_eq!(eval("@ruri.host"), s("Example.com"));
        assert_eq!(eval("@ruri.port"), s("5070"));
        assert_eq!(eval("@ruri.hostport"), s("Example.com:5070"));
        assert_eq!(eval("@ruri.type"), s("sip"));
        assert_eq!(eval("@ruri.transport"), s("tcp"));
        assert_eq!(eval("@ruri.params"), s("transport=TCP;lr;user=phone"));
        assert_eq!(eval("@ruri.params.user"), s("phone"));
        assert_eq!(eval("@ruri.params.lr"), Value::Null);
        assert_eq!(eval("@ruri.params.nope"), Value::Null);
        assert_eq!(eval("@request_uri.user"), s("bob"));
        // The rewritten R-URI; `@msg.request.uri` stays the received one.
        let new = Some("sip:carol@192.0.2.1");
        assert_eq!(eval_with("@ruri.user", INVITE, new), s("carol"));
        assert_eq!(eval_with("@ruri.port", INVITE, new), s(""));
        assert_eq!(
            eval_with("@ruri.hostport", INVITE, new),
            s("192.0.2.1:5060")
        );
        assert_eq!(eval_with("@ruri.transport", INVITE, new), s("udp"));
        assert_eq!(eval_with("@msg.request.uri.user", INVITE, new), s("bob"));
        assert_eq!(
            eval_with("@ruri.user", INVITE, Some("not a uri")),
            Value::Null
        );
        assert_eq!(eval_with("@ruri", REPLY, None), Value::Null);
        assert_eq!(eval("@dst_uri.port"), s("5090"));
        let msg = Message::parse(INVITE.as_bytes()).unwrap();
        let cfg = cfg();
        let unset = Env {
            ruri: "",
            dst_uri: None,
            cfg: &cfg,
        };
        assert_eq!(parse("@dst_uri").unwrap().eval(&msg, &unset), s(""));
        assert_eq!(
            parse("@dst_uri.host").unwrap().eval(&msg, &unset),
            Value::Null
        );
    }

    #[test]
    fn from_to() {
        assert_eq!(
            eval("@from"),
            s("\"Alice A\" <sips:alice@atlanta.example.com>;tag=f1;x-p=v")
        );
        assert_eq!(eval("@from.uri"), s("sips:alice@atlanta.example.com"));
        assert_eq!(eval("@from.uri.user"), s("alice"));
        assert_eq!(eval("@from.uri.host"), s("atlanta.example.com"));
        assert_eq!(eval("@from.uri.port"), s(""));
        assert_eq!(eval("@from.uri.type"), s("sips"));
        assert_eq!(eval("@from.uri.hostport"), s("atlanta.example.com:5061"));
        assert_eq!(eval("@from.tag"), s("f1"));
        assert_eq!(eval("@f.name"), s("\"Alice A\""));
        assert_eq!(eval("@from.params[\"x-p\"]"), s("v"));
        assert_eq!(eval("@from.params.nope"), Value::Null);
        assert_eq!(eval("@to.uri"), s("sip:bob@example.com"));
        assert_eq!(eval("@t.tag"), s(""));
        assert_eq!(eval("@to.name"), s(""));
    }

    #[test]
    fn contact_and_record_route() {
        assert_eq!(
            eval("@contact.uri"),
            s("sip:alice@10.0.0.1:5062;maddr=10.1.1.1;ob")
        );
        assert_eq!(eval("@contact.uri.host"), s("10.0.0.1"));
        assert_eq!(eval("@contact.uri.port"), s("5062"));
        assert_eq!(eval("@contact.uri.params.maddr"), s("10.1.1.1"));
        assert_eq!(eval("@contact.uri.params.ob"), Value::Null);
        assert_eq!(eval("@m.expires"), s("60"));
        assert_eq!(eval("@contact.instance"), s("\"<urn:x>\""));
        assert_eq!(eval("@contact.params.expires"), s("60"));
        assert_eq!(eval("@contact.q"), Value::Null);
        assert_eq!(eval("@contact.name"), s(""));
        assert_eq!(eval("@rr.uri.host"), s("p1.example.org"));
        assert_eq!(eval("@record_route.params.foo"), s("bar"));
        assert_eq!(eval_with("@contact.uri", REPLY, None), Value::Null);
    }

    #[test]
    fn vias_count_across_lines_and_commas() {
        assert_eq!(eval("@via"), eval("@via[1]"));
        assert_eq!(eval("@via[1].host"), s("10.0.0.1"));
        assert_eq!(eval("@via.port"), s("5060"));
        assert_eq!(eval("@via[1].branch"), s("z9hG4bK-1"));
        assert_eq!(eval("@via[1].rport"), s("5061"));
        assert_eq!(eval("@via[1].received"), s("192.0.2.9"));
        assert_eq!(eval("@via[1].params.node"), s("n1"));
        assert_eq!(eval("@via[1].params[\"node\"]"), s("n1"));
        assert_eq!(
            eval("@v[2]"),
            s("SIP/2.0/TCP proxy.example.org;branch=z9hG4bK-2")
        );
        assert_eq!(eval("@via[2].transport"), s("TCP"));
        assert_eq!(eval("@via[2].port"), s(""));
        assert_eq!(eval("@via[2].received"), Value::Null);
        assert_eq!(eval("@via[3].host"), s("[2001:db8::1]"));
        assert_eq!(eval("@via[3].rport"), s(""));
        assert_eq!(eval("@via[3].name"), s("SIP"));
        assert_eq!(eval("@via[3].version"), s("2.0"));
        for missing in ["@via[4].host", "@via[0]", "@via[-1].host"] {
            assert_eq!(eval(missing), Value::Null, "{missing}");
        }
    }

    #[test]
    fn plain_headers_cseq_and_start_line() {
        assert_eq!(eval("@call_id"), s("abc@host"));
        assert_eq!(eval("@cseq"), s("42 INVITE"));
        assert_eq!(eval("@cseq.num"), s("42"));
        assert_eq!(eval("@cseq.method"), s("INVITE"));
        assert_eq!(eval("@user_agent"), s("test ua"));
        assert_eq!(eval("@max_forwards"), s("70"));
        assert_eq!(eval("@subject"), Value::Null);
        assert_eq!(eval("@event"), s("presence"));
        assert_eq!(eval("@method"), s("INVITE"));
        assert_eq!(eval("@version"), s("SIP/2.0"));
        assert_eq!(eval("@status"), Value::Null);
        assert_eq!(eval_with("@status", REPLY, None), s("486"));
        assert_eq!(
            eval_with("@msg.response.reason", REPLY, None),
            s("Busy Here")
        );
        assert_eq!(eval_with("@msg.request.method", REPLY, None), Value::Null);
        assert_eq!(eval_with("@cseq.method", REPLY, None), s("INVITE"));
    }

    #[test]
    fn msg_parts_and_headers() {
        assert_eq!(eval("@msg"), s(INVITE));
        assert_eq!(eval("@msg.len"), s(&INVITE.len().to_string()));
        assert_eq!(eval("@msg.type"), s("1"));
        assert_eq!(eval_with("@msg.type", REPLY, None), s("2"));
        assert_eq!(eval("@msg.body"), s("body"));
        assert_eq!(
            eval("@msg.first_line"),
            s(INVITE.split("\r\n").next().unwrap())
        );
        assert!(eval("@msg.header").as_str().starts_with("Via: "));
        assert_eq!(eval("@msg.supported"), s("path, gruu"));
        assert_eq!(eval("@msg.event"), s("presence;id=7"));
        assert_eq!(
            eval("@msg.header.record_route"),
            s("<sip:p1.example.org;lr>;foo=bar")
        );
        assert_eq!(eval("@msg.h.Record_Route[2]"), s("<sip:p2.example.org;lr>"));
        assert_eq!(
            eval("@msg.header.record_route[-1]"),
            s("<sip:p2.example.org;lr>")
        );
        assert_eq!(eval("@msg.header.record_route[3]"), Value::Null);
        assert_eq!(
            eval("@msg.header.via[2]"),
            s("SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK-3;rport")
        );
        assert_eq!(eval("@msg.nope"), Value::Null);
        assert_eq!(eval_with("@msg.request", REPLY, None), Value::Null);
    }

    #[test]
    fn hf_value_splits_values_across_headers() {
        assert_eq!(
            eval("@hf_value.p_asserted_identity"),
            s("\"Pai\" <sip:pai@example.com>;x=1,<tel:+15551234>")
        );
        assert_eq!(
            eval("@hf_value.p_asserted_identity[2]"),
            s("<tel:+15551234>")
        );
        assert_eq!(
            eval("@hf_value.p_asserted_identity[-1].uri"),
            s("tel:+15551234")
        );
        assert_eq!(
            eval("@hf_value.p_asserted_identity.uri"),
            s("sip:pai@example.com,tel:+15551234")
        );
        assert_eq!(eval("@hf_value.p_asserted_identity[1].uri.user"), s("pai"));
        assert_eq!(eval("@hf_value.p_asserted_identity[1].name"), s("Pai"));
        assert_eq!(eval("@hf_value.p_asserted_identity[1].x"), s("1"));
        assert_eq!(eval("@hf_value.p_asserted_identity.p.x"), s("1"));
        assert_eq!(
            eval("@hf_value.p_asserted_identity[1].param.y"),
            Value::Null
        );
        assert_eq!(eval("@hf_value.contact[2].uri"), s("sip:other@h"));
        assert_eq!(eval("@hf_value.contact[1].expires"), s("60"));
        assert_eq!(
            eval("@hf_value.via[-1]"),
            s("SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK-3;rport")
        );
        assert_eq!(eval("@hf_value.supported[2]"), s("gruu"));
        assert_eq!(eval("@hf_value.supported[3]"), Value::Null);
        assert_eq!(eval("@hf_value.nope"), Value::Null);
        assert_eq!(eval("@hf_value.from.tag"), s("f1"));
        assert_eq!(eval("@hf_value.supported[-9]"), Value::Null);
    }

    #[test]
    fn cfg_get_and_sys() {
        assert_eq!(eval("@cfg_get.pstn.gw_ip"), s("10.0.0.1"));
        assert_eq!(eval("@cfg_get.pstn.port"), s("5080"));
        assert_eq!(eval("@cfg_get.pstn.nope"), Value::Null);
        assert!(eval("@sys.now").as_int() > 1_600_000_000);
        assert_eq!(eval("@sys.pid"), s(&std::process::id().to_string()));
        assert_eq!(eval("@sys.now.utc").as_str().len(), 24);
        assert_eq!(eval("@sys.now.local").as_str().len(), 24);
        assert_eq!(asctime(&clock::utc(0)), "Thu Jan  1 00:00:00 1970");
        assert_eq!(
            asctime(&clock::utc(1_709_210_096)),
            "Thu Feb 29 12:34:56 2024"
        );
        assert_eq!(
            asctime(&clock::utc(1_795_810_485)),
            "Fri Nov 27 20:14:45 2026"
        );
    }

    #[test]
    fn no_path_panics() {
        let parts = [
            "via", "[1]", "[-1]", "[\"x\"]", ".", "uri", "params", "é", "[", "\"", "_",
        ];
        for a in parts {
            for b in parts {
                for c in parts {
                    if let Ok(sel) = parse(&format!("@{a}{b}{c}")) {
                        let msg = Message::parse(INVITE.as_bytes()).unwrap();
                        let cfg = cfg();
                        let env = Env {
                            ruri: "x",
                            dst_uri: None,
                            cfg: &cfg,
                        };
                        let _ = sel.eval(&msg, &env);
                    }
                }
            }
        }
    }
}
