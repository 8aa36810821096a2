//! Transformations of pseudo-variable values: the `{…}` parts of `$(ru{uri.user}{s.len})`.
//!
//! Parsed once at compile time into [`Trans`]; applied with [`apply`], which reads the
//! pseudo-variables used as arguments (`{s.rm,$avp(prefix)}`) through a callback. A
//! transformation that fails (wrong input, an argument that cannot be read) gives `$null`,
//! as a failing transformation makes the whole variable undefined in Kamailio.

use sip_message::{NameAddr, Uri};

use crate::pv::{self, Pv};
use crate::subst::{self, Subst};
use crate::value::Value;

/// A transformation argument: a constant, or a pseudo-variable read when applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TArg {
    /// A constant as written.
    Lit(String),
    /// A pseudo-variable (`$var(x)`).
    Pv(Box<Pv>),
}

/// One transformation as written (`s.substr,1,2`) and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trans {
    text: String,
    op: Op,
}

impl Trans {
    /// The transformation as written, without the braces.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Its name (`s.substr`).
    pub fn name(&self) -> &str {
        self.text.split(',').next().unwrap_or("")
    }
}

/// What a transformation does.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Len,
    Int,
    ToLower,
    ToUpper,
    Substr(TArg, TArg),
    Select(TArg, char),
    Strip(TArg),
    StripTail(TArg),
    Prefixes(Option<TArg>, bool),
    EncodeHexa,
    DecodeHexa,
    Md5,
    EscapeCommon,
    UnescapeCommon,
    EscapeUser,
    UnescapeUser,
    EscapeParam,
    UnescapeParam,
    Rm(TArg),
    Replace(TArg, TArg),
    Trim,
    RTrim,
    LTrim,
    Numeric,
    Uri(UriPart<'static>),
    UriParam(TArg),
    /// `param.value` (false) / `param.in` (true): by name.
    ParamByName(TArg, char, bool),
    /// `param.valueat` (false) / `param.name` (true): by index.
    ParamAt(TArg, char, bool),
    /// `param.count`: the separator, a pseudo-variable's first character or a constant.
    ParamCount(Option<TArg>),
    NameAddr(NaPart),
    ToBody(ToPart),
    /// `re.subst`: compiled once, or compiled from a pseudo-variable's value when applied.
    ReSubst(SubstArg),
}

/// The expression of `re.subst`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SubstArg {
    Fixed(Subst),
    Pv(Box<Pv>),
}

/// What `nameaddr.*` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NaPart {
    Name,
    Uri,
    Len,
}

/// What `tobody.*` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ToPart {
    Uri,
    Display,
    Tag,
    User,
    Host,
    Params,
}

/// The parts `uri.*` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UriPart<'n> {
    User,
    Host,
    Passwd,
    Port,
    Params,
    Headers,
    Scheme,
    /// A parameter with a name of its own (`uri.transport` is `uri.param,transport`).
    Named(&'n str),
}

/// Parses the transformations following a pseudo-variable's name: `{s.len}{uri.user}`.
pub(crate) fn parse_list(s: &str) -> Result<Vec<Trans>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(r) = rest.strip_prefix('{') {
        let end = closing_brace(r).ok_or_else(|| format!("unterminated transformation `{{{r}`"))?;
        let text = r.get(..end).unwrap_or("");
        out.push(parse_one(text)?);
        rest = r.get(end + 1..).unwrap_or("");
    }
    if !rest.is_empty() {
        return Err(format!("unexpected `{rest}` after transformations"));
    }
    Ok(out)
}

/// The byte offset of the `}` closing a transformation whose `{` was just before `s`.
fn closing_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Parses one transformation (the text between its braces).
pub(crate) fn parse_one(text: &str) -> Result<Trans, String> {
    let (name, args) = match text.split_once(',') {
        Some((n, a)) => (n.trim(), Some(a)),
        None => (text.trim(), None),
    };
    let bad = |why: &str| format!("{why} in transformation `{{{text}}}`");
    // The class (`s`, `uri`) is case-sensitive, the name after it is not (as in Kamailio).
    let lowered = name
        .split_once('.')
        .map(|(class, sub)| (class, sub.to_ascii_lowercase()));
    let op = match lowered.as_ref().map(|(c, s)| (*c, s.as_str())) {
        Some(("s", sub)) => parse_string(sub, args).map_err(|e| bad(&e))?,
        Some(("uri", sub)) => parse_uri(sub, args).map_err(|e| bad(&e))?,
        Some(("param", sub)) => parse_param(sub, args).map_err(|e| bad(&e))?,
        Some(("nameaddr", sub)) => parse_nameaddr(sub, args).map_err(|e| bad(&e))?,
        Some(("tobody", sub)) => parse_tobody(sub, args).map_err(|e| bad(&e))?,
        Some(("re", "subst")) => parse_re_subst(args).map_err(|e| bad(&e))?,
        _ => return Err(format!("unsupported transformation `{{{text}}}`")),
    };
    Ok(Trans {
        text: text.to_string(),
        op,
    })
}

/// Splits arguments at the commas that are not inside parentheses or braces.
fn split_args(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '{' => depth += 1,
            ')' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(s.get(start..i).unwrap_or(""));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s.get(start..).unwrap_or(""));
    out
}

/// The arguments, exactly `n` of them (none when `n` is 0).
fn args_n(args: Option<&str>, n: usize) -> Result<Vec<&str>, String> {
    let v = args.map(split_args).unwrap_or_default();
    if v.len() == n {
        Ok(v)
    } else {
        Err(format!("{} argument(s) where {n} expected", v.len()))
    }
}

/// Skips the blanks Kamailio skips before an argument (space, tab, newline).
fn skip_blanks(s: &str) -> &str {
    s.trim_start_matches([' ', '\t', '\n'])
}

/// A pseudo-variable argument, when the argument starts with `$`.
fn pv_arg(s: &str) -> Option<Result<TArg, String>> {
    s.starts_with('$')
        .then(|| pv::parse(s.trim_end()).map(|p| TArg::Pv(Box::new(p))))
}

/// A numeric argument: an integer or a pseudo-variable.
fn num_arg(s: &str) -> Result<TArg, String> {
    let s = skip_blanks(s);
    if let Some(p) = pv_arg(s) {
        return p;
    }
    let t = s.trim_end();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let digits = skip_blanks(digits);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{s}` is not a number"));
    }
    let n: i64 = digits.parse().map_err(|_| format!("`{s}` is too large"))?;
    Ok(TArg::Lit((if neg { -n } else { n }).to_string()))
}

/// A string argument: leading blanks skipped (as Kamailio does), the rest kept as written.
fn str_arg(s: &str) -> Result<TArg, String> {
    let s = skip_blanks(s);
    pv_arg(s).unwrap_or_else(|| Ok(TArg::Lit(s.to_string())))
}

fn parse_string(sub: &str, args: Option<&str>) -> Result<Op, String> {
    let no_args = |op: Op| args_n(args, 0).map(|_| op);
    match sub {
        "len" => no_args(Op::Len),
        "int" => no_args(Op::Int),
        "tolower" => no_args(Op::ToLower),
        "toupper" => no_args(Op::ToUpper),
        "encode.hexa" => no_args(Op::EncodeHexa),
        "decode.hexa" => no_args(Op::DecodeHexa),
        "md5" => no_args(Op::Md5),
        "escape.common" => no_args(Op::EscapeCommon),
        "unescape.common" => no_args(Op::UnescapeCommon),
        "escape.user" => no_args(Op::EscapeUser),
        "unescape.user" => no_args(Op::UnescapeUser),
        "escape.param" => no_args(Op::EscapeParam),
        "unescape.param" => no_args(Op::UnescapeParam),
        "trim" => no_args(Op::Trim),
        "rtrim" => no_args(Op::RTrim),
        "ltrim" => no_args(Op::LTrim),
        "numeric" => no_args(Op::Numeric),
        "substr" => {
            let a = args_n(args, 2)?;
            let len = num_arg(a[1])?;
            if matches!(&len, TArg::Lit(l) if l.starts_with('-')) {
                return Err("negative length".into());
            }
            Ok(Op::Substr(num_arg(a[0])?, len))
        }
        "select" => parse_select(args),
        "strip" => Ok(Op::Strip(num_arg(args_n(args, 1)?[0])?)),
        "striptail" => Ok(Op::StripTail(num_arg(args_n(args, 1)?[0])?)),
        "prefixes" | "prefixes.quoted" => {
            let max = match args {
                None => None,
                Some(_) => Some(num_arg(args_n(args, 1)?[0])?),
            };
            Ok(Op::Prefixes(max, sub == "prefixes.quoted"))
        }
        "rm" => Ok(Op::Rm(str_arg(args_n(args, 1)?[0])?)),
        "replace" => {
            let a = args_n(args, 2)?;
            Ok(Op::Replace(str_arg(a[0])?, str_arg(a[1])?))
        }
        _ => Err("unknown name".into()),
    }
}

fn parse_uri(sub: &str, args: Option<&str>) -> Result<Op, String> {
    let part = match sub {
        "user" => UriPart::User,
        "host" | "domain" => UriPart::Host,
        "passwd" => UriPart::Passwd,
        "port" => UriPart::Port,
        "params" => UriPart::Params,
        "headers" => UriPart::Headers,
        "scheme" => UriPart::Scheme,
        "transport" => UriPart::Named("transport"),
        "ttl" => UriPart::Named("ttl"),
        "uparam" => UriPart::Named("user"),
        "maddr" => UriPart::Named("maddr"),
        "method" => UriPart::Named("method"),
        "lr" => UriPart::Named("lr"),
        "r2" => UriPart::Named("r2"),
        "param" => return Ok(Op::UriParam(str_arg(args_n(args, 1)?[0])?)),
        _ => return Err("unknown name".into()),
    };
    args_n(args, 0).map(|_| Op::Uri(part))
}

fn parse_param(sub: &str, args: Option<&str>) -> Result<Op, String> {
    if sub == "count" {
        let sep = match args {
            None => None,
            Some(_) => Some(sep_arg(args_n(args, 1)?[0])?),
        };
        return Ok(Op::ParamCount(sep));
    }
    let a = args.map(split_args).unwrap_or_default();
    let sep = match a.get(1) {
        None => ';',
        Some(s) => single_char(s)?,
    };
    if a.is_empty() || a.len() > 2 {
        return Err(format!("{} argument(s) where 1 or 2 expected", a.len()));
    }
    Ok(match sub {
        "value" => Op::ParamByName(str_arg(a[0])?, sep, false),
        "in" => Op::ParamByName(str_arg(a[0])?, sep, true),
        "valueat" => Op::ParamAt(num_arg(a[0])?, sep, false),
        "name" => Op::ParamAt(num_arg(a[0])?, sep, true),
        _ => return Err("unknown name".into()),
    })
}

/// The separator of `param.count`: one constant character or a pseudo-variable.
fn sep_arg(s: &str) -> Result<TArg, String> {
    match pv_arg(s) {
        Some(p) => p,
        None => single_char(s).map(|c| TArg::Lit(c.to_string())),
    }
}

/// A separator given as a constant: exactly one character.
fn single_char(s: &str) -> Result<char, String> {
    let mut it = s.chars();
    match (it.next(), it.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(format!("separator `{s}` is not one character")),
    }
}

fn parse_nameaddr(sub: &str, args: Option<&str>) -> Result<Op, String> {
    let part = match sub {
        "name" => NaPart::Name,
        "uri" => NaPart::Uri,
        "len" => NaPart::Len,
        _ => return Err("unknown name".into()),
    };
    args_n(args, 0).map(|_| Op::NameAddr(part))
}

fn parse_tobody(sub: &str, args: Option<&str>) -> Result<Op, String> {
    let part = match sub {
        "uri" => ToPart::Uri,
        "display" => ToPart::Display,
        "tag" => ToPart::Tag,
        "user" => ToPart::User,
        "host" => ToPart::Host,
        "params" => ToPart::Params,
        _ => return Err("unknown name".into()),
    };
    args_n(args, 0).map(|_| Op::ToBody(part))
}

/// `re.subst,/re/repl/flags` (everything after the comma, commas included) or
/// `re.subst,$var(expr)`.
fn parse_re_subst(args: Option<&str>) -> Result<Op, String> {
    let expr = args.ok_or("no expression")?;
    let arg = match pv_arg(expr) {
        Some(p) => match p? {
            TArg::Pv(p) => SubstArg::Pv(p),
            TArg::Lit(l) => SubstArg::Fixed(subst::parse(&l)?),
        },
        None => SubstArg::Fixed(subst::parse(expr)?),
    };
    Ok(Op::ReSubst(arg))
}

/// `s.select,index,sep`: the separator is exactly one character (or `\\`, `\n`, `\r`,
/// `\t`), so `{s.select,0,,}` and `{s.select,-1, }` work.
fn parse_select(args: Option<&str>) -> Result<Op, String> {
    let args = args.ok_or("2 arguments expected")?;
    let (index, sep) = match split_args(args).first() {
        Some(first) => (*first, args.get(first.len() + 1..)),
        None => (args, None),
    };
    let sep = sep.ok_or("no separator")?;
    let mut chars = sep.chars();
    let c = match (chars.next(), chars.next(), chars.next()) {
        (Some('\\'), Some(e), None) => match e {
            '\\' => '\\',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            _ => return Err(format!("unknown separator escape `\\{e}`")),
        },
        (Some(c), None, _) => c,
        _ => return Err(format!("separator `{sep}` is not one character")),
    };
    Ok(Op::Select(num_arg(index)?, c))
}

/// Applies one transformation; `get` reads the pseudo-variables used as arguments.
pub(crate) fn apply(t: &Trans, v: Value, get: &mut dyn FnMut(&Pv) -> Value) -> Value {
    eval(&t.op, v, get).unwrap_or(Value::Null)
}

/// An integer argument (a pseudo-variable must hold an integer, as in Kamailio).
fn arg_int(a: &TArg, get: &mut dyn FnMut(&Pv) -> Value) -> Option<i64> {
    match a {
        TArg::Lit(s) => s.parse().ok(),
        TArg::Pv(p) => match get(p) {
            Value::Int(n) => Some(n),
            _ => None,
        },
    }
}

/// A string argument (a pseudo-variable must not be `$null` or empty, as in Kamailio).
fn arg_str(a: &TArg, get: &mut dyn FnMut(&Pv) -> Value) -> Option<String> {
    match a {
        TArg::Lit(s) => Some(s.clone()),
        TArg::Pv(p) => match get(p) {
            Value::Null => None,
            v => Some(v.as_str().into_owned()).filter(|s| !s.is_empty()),
        },
    }
}

fn eval(op: &Op, v: Value, get: &mut dyn FnMut(&Pv) -> Value) -> Option<Value> {
    if !v.is_defined() {
        return None;
    }
    let s = v.as_str();
    let st = |x: String| Some(Value::Str(x));
    match op {
        Op::Len => Some(Value::Int(s.len() as i64)),
        Op::Int => match &v {
            Value::Int(n) => Some(Value::Int(*n)),
            _ => str_to_int(&s).map(Value::Int),
        },
        Op::ToLower => st(s.to_ascii_lowercase()),
        Op::ToUpper => st(s.to_ascii_uppercase()),
        Op::Substr(off, len) => {
            let (off, len) = (arg_int(off, get)?, arg_int(len, get)?);
            substr(&s, off, len).map(str::to_string).and_then(st)
        }
        Op::Select(idx, sep) => st(select(&s, arg_int(idx, get)?, *sep).to_string()),
        Op::Strip(n) => st(strip(&s, arg_int(n, get)?, false).to_string()),
        Op::StripTail(n) => st(strip(&s, arg_int(n, get)?, true).to_string()),
        Op::Prefixes(max, quoted) => {
            let max = match max {
                Some(m) => Some(arg_int(m, get)?),
                None => None,
            };
            prefixes(&s, max, *quoted).and_then(st)
        }
        Op::EncodeHexa => st(s.bytes().map(|b| format!("{b:02x}")).collect()),
        Op::DecodeHexa => decode_hexa(&s).and_then(st),
        Op::Md5 => st(md5_hex(s.as_bytes())),
        Op::EscapeCommon => st(escape_common(&s)),
        Op::UnescapeCommon => st(unescape_common(&s)),
        Op::EscapeUser => percent_escape(&s, b"-_.!~*'()&=+$,;?").and_then(st),
        Op::EscapeParam => percent_escape(&s, b"-_.!~*'()[]/:&+$").and_then(st),
        Op::UnescapeUser | Op::UnescapeParam => percent_unescape(&s).and_then(st),
        Op::Rm(what) => {
            let what = match what {
                TArg::Lit(l) => unescape_rm(l),
                p => arg_str(p, get)?,
            };
            st(replace_all(&s, &what, ""))
        }
        Op::Replace(from, to) => {
            let (from, to) = (arg_str(from, get)?, arg_str(to, get)?);
            st(replace_all(&s, &from, &to))
        }
        Op::Trim => st(s.trim_matches(BLANKS).to_string()),
        Op::RTrim => st(s.trim_end_matches(BLANKS).to_string()),
        Op::LTrim => st(s.trim_start_matches(BLANKS).to_string()),
        Op::Numeric => st(s.chars().filter(char::is_ascii_digit).collect()),
        Op::Uri(part) => uri_part(&s, *part),
        Op::UriParam(name) => {
            let name = arg_str(name, get)?;
            uri_part(&s, UriPart::Named(&name))
        }
        Op::ParamByName(name, sep, presence) => {
            let name = arg_str(name, get)?;
            let list = param_list(&s, *sep)?;
            let found = list.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name));
            Some(if *presence {
                Value::Int(i64::from(found.is_some()))
            } else {
                Value::Str(found.map_or("", |(_, v)| v).to_string())
            })
        }
        Op::ParamAt(idx, sep, want_name) => {
            let idx = arg_int(idx, get)?;
            let list = param_list(&s, *sep)?;
            let at = if idx >= 0 {
                usize::try_from(idx).ok()
            } else {
                idx.checked_neg()
                    .and_then(|k| usize::try_from(k).ok())
                    .and_then(|k| list.len().checked_sub(k))
            };
            let (n, v) = at.and_then(|i| list.get(i)).copied().unwrap_or(("", ""));
            st(if *want_name { n } else { v }.to_string())
        }
        Op::ParamCount(sep) => {
            let sep = match sep {
                None => ';',
                Some(TArg::Lit(l)) => l.chars().next()?,
                Some(p) => arg_str(p, get)?.chars().next()?,
            };
            Some(Value::Int(param_list(&s, sep)?.len() as i64))
        }
        Op::NameAddr(part) => nameaddr(&s, *part),
        Op::ToBody(part) => tobody(&s, *part),
        Op::ReSubst(arg) => re_subst(&s, arg, get),
    }
}

/// `re.subst`: the value with the substitution made, unchanged when nothing matched;
/// an empty input, an expression that does not compile or an empty match fails.
fn re_subst(s: &str, arg: &SubstArg, get: &mut dyn FnMut(&Pv) -> Value) -> Option<Value> {
    if s.is_empty() {
        return None;
    }
    let compiled;
    let subst = match arg {
        SubstArg::Fixed(f) => f,
        SubstArg::Pv(p) => {
            compiled = subst::parse(&arg_str(&TArg::Pv(p.clone()), get)?).ok()?;
            &compiled
        }
    };
    let out = subst.apply_with(s, get).ok()?;
    Some(Value::Str(out.unwrap_or_else(|| s.to_string())))
}

/// A parameter list (`a=1;b;c="x y"`) split at `sep` outside quotes into names and
/// values (quotes removed, blanks around trimmed); a trailing separator is ignored. An
/// empty value or a list without any parameter fails, as in Kamailio.
fn param_list(s: &str, sep: char) -> Option<Vec<(&str, &str)>> {
    let mut out = Vec::new();
    for part in split_unquoted(s, sep) {
        let part = part.trim_matches(BLANKS);
        if part.is_empty() {
            continue;
        }
        let (name, value) = match part.split_once('=') {
            Some((n, v)) => (n.trim_matches(BLANKS), v.trim_matches(BLANKS)),
            None => (part, ""),
        };
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        out.push((name, value));
    }
    (!out.is_empty()).then_some(out)
}

/// `s` split at `sep` where it is not inside double quotes.
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    let mut prev = '\0';
    for (i, c) in s.char_indices() {
        if c == '"' && prev != '\\' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            out.push(s.get(start..i).unwrap_or(""));
            start = i + c.len_utf8();
        }
        prev = c;
    }
    out.push(s.get(start..).unwrap_or(""));
    out
}

/// The byte offset of the first `c` outside double quotes.
fn find_unquoted(s: &str, c: char) -> Option<usize> {
    let mut quoted = false;
    let mut prev = '\0';
    for (i, ch) in s.char_indices() {
        if ch == '"' && prev != '\\' {
            quoted = !quoted;
        } else if ch == c && !quoted {
            return Some(i);
        }
        prev = ch;
    }
    None
}

/// `nameaddr.*` as Kamailio splits a name-addr: the name is everything before `<` as
/// written (quotes and blanks kept), the URI what is between `<` and `>`, the length runs
/// to the `>`. Without `<` the whole value is the URI and the name is empty.
fn nameaddr(s: &str, part: NaPart) -> Option<Value> {
    if s.is_empty() {
        return None;
    }
    let (name, uri, len) = match find_unquoted(s, '<') {
        None => ("", s, s.len()),
        Some(lt) => {
            let after = s.get(lt + 1..)?;
            let gt = find_unquoted(after, '>')?;
            (s.get(..lt)?, after.get(..gt)?, lt + 1 + gt + 1)
        }
    };
    Some(match part {
        NaPart::Name => Value::Str(name.to_string()),
        NaPart::Uri => Value::Str(uri.to_string()),
        NaPart::Len => Value::Int(len as i64),
    })
}

/// `tobody.*`: a From/To header value parsed with the message parser; a value that does
/// not parse fails, a missing part is the empty string. The display name keeps its
/// quotes, as `$fn` does.
fn tobody(s: &str, part: ToPart) -> Option<Value> {
    let na = NameAddr::parse(s).ok()?;
    let sip = na.uri.as_sip();
    let text = match part {
        ToPart::Uri => na.uri_text.to_string(),
        ToPart::Display => na.display_name.unwrap_or("").to_string(),
        ToPart::Tag => na.tag().unwrap_or("").to_string(),
        ToPart::User => match &na.uri {
            Uri::Tel(t) => t.number.to_string(),
            _ => sip.and_then(|u| u.user).unwrap_or("").to_string(),
        },
        ToPart::Host => sip
            .map(|u| u.host_port.host.to_string())
            .unwrap_or_default(),
        ToPart::Params => na
            .params
            .as_str()
            .trim_start_matches(BLANKS)
            .trim_start_matches(';')
            .trim_start_matches(BLANKS)
            .to_string(),
    };
    Some(Value::Str(text))
}

/// `uri.*`: a part of a SIP (or tel) URI, the empty string when the URI has no such part;
/// a value that is not a URI fails. A trailing `;` is ignored as Kamailio does.
fn uri_part(s: &str, part: UriPart<'_>) -> Option<Value> {
    let text = match s.strip_suffix(';') {
        Some(t) if s.len() > 4 => t,
        _ => s,
    };
    if text.is_empty() {
        return None;
    }
    let uri = Uri::parse(text).ok()?;
    let (user, params) = match &uri {
        Uri::Sip(u) => (u.user, u.params),
        Uri::Tel(t) => (Some(t.number), t.params),
        Uri::Other { .. } => return None,
    };
    let sip = uri.as_sip();
    let params_text = params.as_str().strip_prefix(';').unwrap_or(params.as_str());
    let owned = |x: Option<&str>| Some(Value::Str(x.unwrap_or("").to_string()));
    match part {
        UriPart::User => owned(user),
        UriPart::Host => Some(Value::Str(
            sip.map(|u| u.host_port.host.to_string())
                .unwrap_or_default(),
        )),
        UriPart::Passwd => owned(sip.and_then(|u| u.password)),
        UriPart::Port => Some(
            sip.and_then(|u| u.host_port.port)
                .map_or(Value::Str(String::new()), |p| Value::Int(i64::from(p))),
        ),
        UriPart::Params => owned(Some(params_text)),
        UriPart::Headers => owned(sip.and_then(|u| u.headers)),
        UriPart::Scheme => owned(Some(uri.scheme())),
        UriPart::Named(name) => owned(params.get(name).flatten()),
    }
}

/// What `s.trim` removes.
const BLANKS: [char; 4] = [' ', '\t', '\r', '\n'];

/// A whole string as a signed integer: an optional sign and digits only (`""` is 0).
fn str_to_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits.is_empty() {
        return Some(0);
    }
    let text = if neg {
        format!("-{digits}")
    } else {
        digits.into()
    };
    text.parse().ok()
}

/// `s.substr`: a negative offset counts from the end; length 0 (or past the end) means
/// to the end; an offset outside the string fails.
fn substr(s: &str, off: i64, len: i64) -> Option<&str> {
    let n = s.len() as i64;
    if len < 0 {
        return None;
    }
    let (start, mut len) = if off >= 0 {
        if off >= n {
            return None;
        }
        (off, if off.saturating_add(len) >= n { 0 } else { len })
    } else {
        let back = off.checked_neg().filter(|&b| b <= n)?;
        (n - back, if back < len { 0 } else { len })
    };
    if len == 0 {
        len = n - start;
    }
    s.get(usize::try_from(start).ok()?..usize::try_from(start + len).ok()?)
}

/// `s.select`: the `idx`-th field separated by `sep` (negative counts from the end); an
/// index past the fields gives the empty string.
fn select(s: &str, idx: i64, sep: char) -> &str {
    let fields = s.split(sep);
    let pick = if idx >= 0 {
        usize::try_from(idx)
            .ok()
            .and_then(|i| fields.clone().nth(i))
    } else {
        usize::try_from(-(idx + 1))
            .ok()
            .and_then(|i| s.rsplit(sep).nth(i))
    };
    pick.unwrap_or("")
}

/// `s.strip` / `s.striptail`: drops `n` bytes from the start or end.
fn strip(s: &str, n: i64, tail: bool) -> &str {
    let Ok(n) = usize::try_from(n) else {
        return s;
    };
    if n >= s.len() {
        return "";
    }
    let cut = if tail { s.len() - n } else { n };
    // A cut inside a UTF-8 character moves to the next boundary rather than panicking.
    let cut = (cut..=s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    if tail {
        s.get(..cut).unwrap_or("")
    } else {
        s.get(cut..).unwrap_or("")
    }
}

/// The most `s.prefixes` writes (Kamailio's transformation buffer).
const PREFIXES_MAX: usize = 65_535;

/// `s.prefixes`: `1,12,123` (quoted: `'1','12','123'`), up to `max` long when `max` > 0;
/// fails when the list would be longer than Kamailio's buffer.
fn prefixes(s: &str, max: Option<i64>, quoted: bool) -> Option<String> {
    let limit = match max.and_then(|m| usize::try_from(m).ok()) {
        Some(m) if m > 0 && m < s.len() => m,
        _ => s.len(),
    };
    let extra = if quoted { 3 } else { 1 };
    if limit.saturating_mul(limit / 2 + extra) > PREFIXES_MAX {
        return None;
    }
    let q = if quoted { "'" } else { "" };
    (1..=limit)
        .filter_map(|i| s.get(..i))
        .map(|p| format!("{q}{p}{q}"))
        .collect::<Vec<_>>()
        .join(",")
        .into()
}

/// `s.decode.hexa`: pairs of hex digits to bytes (an odd last digit is ignored); a
/// non-hex digit fails.
fn decode_hexa(s: &str) -> Option<String> {
    let bytes = s
        .as_bytes()
        .chunks_exact(2)
        .map(|p| Some(hex_val(p[0])? << 4 | hex_val(p[1])?))
        .collect::<Option<Vec<u8>>>()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn hex_val(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// The MD5 digest in lower-case hex.
fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `s.escape.common`: a backslash before `'`, `"` and `\`; NUL becomes `\0`.
fn escape_common(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\'' | '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\0' => out.push_str("\\0"),
            _ => out.push(c),
        }
    }
    out
}

/// `s.unescape.common`: the reverse of [`escape_common`]; other backslashes are kept.
fn unescape_common(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        let un = match (c, it.peek()) {
            ('\\', Some(&n @ ('\'' | '"' | '\\'))) => Some(n),
            ('\\', Some('0')) => Some('\0'),
            _ => None,
        };
        match un {
            Some(u) => {
                out.push(u);
                it.next();
            }
            None => out.push(c),
        }
    }
    out
}

/// `%hh` (lower-case hex) for every printable ASCII character that is neither
/// alphanumeric nor in `keep`; a control or non-ASCII character fails.
fn percent_escape(s: &str, keep: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if !(32..=126).contains(&b) {
            return None;
        }
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    Some(out)
}

/// `%hh` to the character; fails on a bad or truncated escape or one that is not
/// printable ASCII.
fn percent_unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = hex_val(*b.get(i + 1)?)?;
            let lo = hex_val(*b.get(i + 2)?)?;
            let c = hi << 4 | lo;
            if !(32..=126).contains(&c) {
                return None;
            }
            out.push(c);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The constant of `s.rm` with `\n`, `\r`, `\t` and `\\` (any other `\x` is `x`).
fn unescape_rm(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

/// Every occurrence of `from` replaced, left to right, without overlap; an empty `from`
/// changes nothing.
fn replace_all(s: &str, from: &str, to: &str) -> String {
    if from.is_empty() {
        s.to_string()
    } else {
        s.replace(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(t: &str, v: Value) -> Value {
        let list = parse_list(t).unwrap();
        let mut get = |p: &Pv| match &p.name {
            crate::pv::PvName::Var(n) if n == "i" => Value::Int(-1),
            crate::pv::PvName::Var(n) if n == "s" => Value::Str("bc".into()),
            _ => Value::Null,
        };
        list.iter().fold(v, |v, t| apply(t, v, &mut get))
    }

    fn s(t: &str, input: &str) -> Value {
        run(t, Value::Str(input.into()))
    }

    fn st(x: &str) -> Value {
        Value::Str(x.into())
    }

    #[test]
    fn parse_errors_name_the_transformation() {
        let e = parse_list("{s.nope}").unwrap_err();
        assert!(e.contains("s.nope"), "{e}");
        let e = parse_list("{s.substr,1}").unwrap_err();
        assert!(e.contains("s.substr"), "{e}");
        assert!(parse_list("{s.len,1}").is_err());
        assert!(parse_list("{s.select,1,ab}").is_err());
        assert!(parse_list("{s.substr,x,1}").is_err());
        assert!(parse_list("{s.len").is_err());
        assert!(parse_list("{s.len}x").is_err());
        assert_eq!(parse_list("{s.len}{s.int}").unwrap()[1].name(), "s.int");
        assert!(parse_list("{s.ToUpper}").is_ok());
        assert!(parse_list("{S.len}").is_err());
    }

    #[test]
    fn arguments_split_outside_parentheses() {
        assert_eq!(split_args("$var(a,b),2"), vec!["$var(a,b)", "2"]);
        assert_eq!(
            split_args("$(var(a){s.select,1,,}),x"),
            vec!["$(var(a){s.select,1,,})", "x"]
        );
        let t = parse_one("s.select,$var(i), ").unwrap();
        assert!(matches!(&t.op, Op::Select(TArg::Pv(_), ' ')));
    }

    #[test]
    fn length_case_and_int() {
        assert_eq!(s("{s.len}", "héllo"), Value::Int(6));
        assert_eq!(run("{s.len}", Value::Int(-12)), Value::Int(3));
        assert_eq!(run("{s.len}", Value::Null), Value::Null);
        assert_eq!(s("{s.toupper}", "abC-é"), st("ABC-é"));
        assert_eq!(s("{s.tolower}", "AbC"), st("abc"));
        assert_eq!(s("{s.int}", "-42"), Value::Int(-42));
        assert_eq!(s("{s.int}", "42x"), Value::Null);
        assert_eq!(run("{s.int}", Value::Int(7)), Value::Int(7));
    }

    #[test]
    fn substr() {
        assert_eq!(s("{s.substr,1,3}", "abcdef"), st("bcd"));
        assert_eq!(s("{s.substr,1,0}", "abcdef"), st("bcdef"));
        assert_eq!(s("{s.substr,-2,0}", "abcdef"), st("ef"));
        assert_eq!(s("{s.substr,-3,1}", "abcdef"), st("d"));
        assert_eq!(s("{s.substr,2,100}", "abcdef"), st("cdef"));
        assert_eq!(s("{s.substr,6,1}", "abcdef"), Value::Null);
        assert_eq!(s("{s.substr,-7,1}", "abcdef"), Value::Null);
        assert_eq!(s("{s.substr,1,1}", "é"), Value::Null);
        assert_eq!(
            s(&format!("{{s.substr,{},{}}}", i64::MAX, i64::MAX), "ab"),
            Value::Null
        );
        let mut get = |_: &Pv| Value::Int(i64::MIN);
        let t = parse_one("s.substr,$var(x),1").unwrap();
        assert_eq!(apply(&t, st("ab"), &mut get), Value::Null);
        let t = parse_one("param.valueat,$var(x)").unwrap();
        assert_eq!(apply(&t, st("a=1"), &mut get), st(""));
        assert!(parse_list("{s.substr,1,-1}").is_err());
    }

    #[test]
    fn select() {
        assert_eq!(s("{s.select,1,,}", "a,b,c"), st("b"));
        assert_eq!(s("{s.select,-1,,}", "a,b,c"), st("c"));
        assert_eq!(s("{s.select,-3,,}", "a,b,c"), st("a"));
        assert_eq!(s("{s.select,5,,}", "a,b,c"), st(""));
        assert_eq!(s("{s.select,$var(i), }", "x y z"), st("z"));
        assert_eq!(s("{s.select,0,;}", "a;b"), st("a"));
        assert_eq!(s("{s.select,1,\\t}", "a\tb"), st("b"));
        assert_eq!(s("{s.select,$var(none),;}", "a;b"), Value::Null);
    }

    #[test]
    fn strip_and_prefixes() {
        assert_eq!(s("{s.strip,2}", "+4912"), st("912"));
        assert_eq!(s("{s.strip,9}", "+4912"), st(""));
        assert_eq!(s("{s.strip,0}", "+49"), st("+49"));
        assert_eq!(s("{s.striptail,2}", "12345"), st("123"));
        assert_eq!(s("{s.prefixes}", "123"), st("1,12,123"));
        assert_eq!(s("{s.prefixes,2}", "123"), st("1,12"));
        assert_eq!(s("{s.prefixes.quoted}", "12"), st("'1','12'"));
        assert_eq!(s("{s.prefixes.quoted,0}", "12"), st("'1','12'"));
        assert_eq!(s("{s.prefixes}", &"9".repeat(2000)), Value::Null);
    }

    #[test]
    fn hexa_and_md5() {
        assert_eq!(s("{s.encode.hexa}", "a:Z"), st("613a5a"));
        assert_eq!(s("{s.decode.hexa}", "613A5a"), st("a:Z"));
        assert_eq!(s("{s.decode.hexa}", "61x0"), Value::Null);
        assert_eq!(s("{s.decode.hexa}", "616"), st("a"));
        assert_eq!(s("{s.md5}", ""), st("d41d8cd98f00b204e9800998ecf8427e"));
        assert_eq!(s("{s.md5}", "abc"), st("900150983cd24fb0d6963f7d28e17f72"));
        assert_eq!(
            run("{s.md5}", Value::Int(1)),
            st("c4ca4238a0b923820dcc509a6f75849b")
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(s("{s.escape.common}", "a'b\"c\\"), st("a\\'b\\\"c\\\\"));
        assert_eq!(
            s("{s.unescape.common}", "a\\'b\\\"c\\\\d\\x"),
            st("a'b\"c\\d\\x")
        );
        assert_eq!(s("{s.escape.user}", "a b@c/d;e"), st("a%20b%40c%2fd;e"));
        assert_eq!(s("{s.escape.param}", "a;b=c/d"), st("a%3bb%3dc/d"));
        assert_eq!(s("{s.escape.user}", "é"), Value::Null);
        assert_eq!(s("{s.unescape.user}", "a%20b%3B"), st("a b;"));
        assert_eq!(s("{s.unescape.param}", "a%3d"), st("a="));
        assert_eq!(s("{s.unescape.user}", "a%2"), Value::Null);
        assert_eq!(s("{s.unescape.user}", "a%0a"), Value::Null);
    }

    #[test]
    fn uri_parts() {
        let u = "sips:alice:pw@[2001:db8::1]:5071;transport=TCP;user=phone;lr;ttl=5;maddr=10.0.0.1;method=INVITE;r2=on;X=1?subject=hi";
        assert_eq!(s("{uri.user}", u), st("alice"));
        assert_eq!(s("{uri.passwd}", u), st("pw"));
        assert_eq!(s("{uri.host}", u), st("[2001:db8::1]"));
        assert_eq!(s("{uri.port}", u), Value::Int(5071));
        assert_eq!(s("{uri.scheme}", u), st("sips"));
        assert_eq!(s("{uri.headers}", u), st("subject=hi"));
        assert_eq!(s("{uri.transport}", u), st("TCP"));
        assert_eq!(s("{uri.uparam}", u), st("phone"));
        assert_eq!(s("{uri.ttl}", u), st("5"));
        assert_eq!(s("{uri.maddr}", u), st("10.0.0.1"));
        assert_eq!(s("{uri.method}", u), st("INVITE"));
        assert_eq!(s("{uri.r2}", u), st("on"));
        assert_eq!(s("{uri.lr}", u), st(""));
        assert_eq!(s("{uri.param,x}", u), st("1"));
        assert_eq!(s("{uri.param,nope}", u), st(""));
        assert!(s("{uri.params}", u)
            .as_str()
            .starts_with("transport=TCP;user=phone;lr"));
        let plain = "sip:example.com;";
        assert_eq!(s("{uri.user}", plain), st(""));
        assert_eq!(s("{uri.port}", plain), st(""));
        assert_eq!(s("{uri.params}", plain), st(""));
        assert_eq!(s("{uri.host}", plain), st("example.com"));
        assert_eq!(
            s("{uri.user}", "tel:+4930123;phone-context=x"),
            st("+4930123")
        );
        assert_eq!(s("{uri.user}", "not a uri"), Value::Null);
        assert_eq!(s("{uri.user}", ""), Value::Null);
        assert_eq!(s("{uri.user}{s.toupper}", "sip:bob@h"), st("BOB"));
    }

    #[test]
    fn param_lists() {
        let p = "a=1;B=two; c ;d=\"x;y\";";
        assert_eq!(s("{param.value,b}", p), st("two"));
        assert_eq!(s("{param.value,d}", p), st("x;y"));
        assert_eq!(s("{param.value,c}", p), st(""));
        assert_eq!(s("{param.value,zz}", p), st(""));
        assert_eq!(s("{param.in,c}", p), Value::Int(1));
        assert_eq!(s("{param.in,zz}", p), Value::Int(0));
        assert_eq!(s("{param.count}", p), Value::Int(4));
        assert_eq!(s("{param.valueat,1}", p), st("two"));
        assert_eq!(s("{param.valueat,-1}", p), st("x;y"));
        assert_eq!(s("{param.valueat,9}", p), st(""));
        assert_eq!(s("{param.name,0}", p), st("a"));
        assert_eq!(s("{param.name,-2}", p), st("c"));
        assert_eq!(s("{param.value,y,&}", "x=1&y=2"), st("2"));
        assert_eq!(s("{param.name,1,&}", "x=1&y=2"), st("y"));
        assert_eq!(s("{param.count,&}", "x=1&y=2"), Value::Int(2));
        assert_eq!(s("{param.count,$var(none)}", "x=1"), Value::Null);
        assert_eq!(s("{param.value,a}", ""), Value::Null);
        assert!(parse_list("{param.value,a,;;}").is_err());
        assert!(parse_list("{param.value}").is_err());
    }

    #[test]
    fn nameaddr_and_tobody() {
        let na = "\"Alice <A>\" <sip:alice@example.com;x=1>;tag=abc";
        assert_eq!(s("{nameaddr.name}", na), st("\"Alice <A>\" "));
        assert_eq!(s("{nameaddr.uri}", na), st("sip:alice@example.com;x=1"));
        assert_eq!(s("{nameaddr.len}", na), Value::Int(39));
        assert_eq!(s("{nameaddr.uri}", "sip:bob@h"), st("sip:bob@h"));
        assert_eq!(s("{nameaddr.name}", "sip:bob@h"), st(""));
        assert_eq!(s("{nameaddr.uri}", "<sip:bob@h"), Value::Null);
        assert_eq!(s("{tobody.display}", na), st("\"Alice <A>\""));
        assert_eq!(s("{tobody.uri}", na), st("sip:alice@example.com;x=1"));
        assert_eq!(s("{tobody.tag}", na), st("abc"));
        assert_eq!(s("{tobody.user}", na), st("alice"));
        assert_eq!(s("{tobody.host}", na), st("example.com"));
        assert_eq!(s("{tobody.params}", na), st("tag=abc"));
        let bare = "<sip:h>";
        assert_eq!(s("{tobody.tag}", bare), st(""));
        assert_eq!(s("{tobody.user}", bare), st(""));
        assert_eq!(s("{tobody.display}", bare), st(""));
        assert_eq!(s("{tobody.params}", bare), st(""));
        assert_eq!(s("{tobody.uri}", "<<<"), Value::Null);
    }

    #[test]
    fn re_subst() {
        let t = "{re.subst,/.*port-s=([0-9]*).*$/\\1/s}";
        assert_eq!(s(t, "a;port-s=5064;b"), st("5064"));
        assert_eq!(s("{re.subst,/[, ]*sec-agree//gi}", "a, Sec-Agree"), st("a"));
        assert_eq!(s("{re.subst,/x,y/z/}", "ax,yb"), st("azb"));
        assert_eq!(s("{re.subst,/[0-9]{2}/N/g}", "a123b45"), st("aN3bN"));
        assert_eq!(s("{re.subst,/nomatch//}", "abc"), st("abc"));
        assert_eq!(s("{re.subst,/b*//}", "abc"), Value::Null);
        assert_eq!(s("{re.subst,/b/$var(s)/}", "abc"), st("abcc"));
        assert_eq!(s("{re.subst,$var(re)}", "abc"), Value::Null);
        assert!(parse_list("{re.subst,/a/b/z}").is_err());
        assert!(parse_list("{re.nope,/a/b/}").is_err());
    }

    #[test]
    fn rm_replace_trim_numeric() {
        assert_eq!(s("{s.rm,ab}", "xabyabz"), st("xyz"));
        assert_eq!(s("{s.rm,\\n}", "a\nb\n"), st("ab"));
        assert_eq!(s("{s.rm,$var(s)}", "abcbcd"), st("ad"));
        assert_eq!(s("{s.rm,$var(none)}", "abc"), Value::Null);
        assert_eq!(s("{s.replace,a,xy}", "banana"), st("bxynxynxy"));
        assert_eq!(s("{s.replace,$var(s),-}", "abcd"), st("a-d"));
        assert_eq!(s("{s.trim}", " \t a b\r\n"), st("a b"));
        assert_eq!(s("{s.rtrim}", " a "), st(" a"));
        assert_eq!(s("{s.ltrim}", " a "), st("a "));
        assert_eq!(s("{s.numeric}", "+49 (30) 123-4"), st("49301234"));
        assert_eq!(run("{s.numeric}", Value::Int(-12)), st("12"));
    }

    proptest::proptest! {
        #[test]
        fn no_input_panics(input in "\\PC{0,40}", n in proptest::num::i64::ANY) {
            let texts = [
                "s.len", "s.int", "s.tolower", "s.substr,$var(n),0", "s.substr,2,3",
                "s.select,$var(n),,", "s.strip,$var(n)", "s.striptail,$var(n)",
                "s.prefixes,$var(n)", "s.prefixes.quoted", "s.encode.hexa", "s.decode.hexa",
                "s.md5", "s.escape.common", "s.unescape.common", "s.escape.user",
                "s.unescape.user", "s.escape.param", "s.unescape.param", "s.rm,a",
                "s.replace,a,b", "s.trim", "s.numeric", "uri.user", "uri.host", "uri.port",
                "uri.params", "uri.param,x", "uri.headers", "uri.scheme", "param.value,a",
                "param.valueat,$var(n)", "param.name,$var(n),&", "param.count", "param.in,a",
                "nameaddr.name", "nameaddr.uri", "nameaddr.len", "tobody.uri", "tobody.display",
                "tobody.tag", "tobody.user", "tobody.host", "tobody.params",
                "re.subst,/(.)(.)/\\2\\1/g",
            ];
            let mut get = |_: &Pv| Value::Int(n);
            for t in texts {
                let t = parse_one(t).unwrap();
                let _ = apply(&t, Value::Str(input.clone()), &mut get);
            }
        }
    }
}
