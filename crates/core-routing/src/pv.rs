//! Pseudo-variables, resolved once at compile time: `$ru`, `$var(x)`, `$hdr(Name)`,
//! `$(ru{s.len})`, `$(hdr(Via)[1])`. A name the engine does not know is a compile error.

/// What a pseudo-variable reads (and, for some, writes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PvName {
    /// `$ru`: the Request-URI (new one if rewritten).
    Ruri,
    /// `$rU`: its user part.
    RuriUser,
    /// `$rd`: its host.
    RuriDomain,
    /// `$rp`: its port (5060 when absent).
    RuriPort,
    /// `$rz`: its scheme.
    RuriScheme,
    /// `$ou`: the original Request-URI.
    OrigUri,
    /// `$oU`: its user part.
    OrigUser,
    /// `$du`: the destination URI (outbound proxy).
    DstUri,
    /// `$fu`, `$fU`, `$fd`, `$fn`, `$ft`: From URI, user, host, display name, tag.
    From(AddrPart),
    /// `$tu`, `$tU`, `$td`, `$tn`, `$tt`: the same of To.
    To(AddrPart),
    /// `$ci`: Call-ID.
    CallId,
    /// `$cs`: CSeq number.
    CSeqNum,
    /// `$rm`: the method (of the CSeq for replies).
    Method,
    /// `$rs`: the reply status code.
    Status,
    /// `$rr`: the reply reason phrase.
    Reason,
    /// `$rb` / `$mb`: body / whole message.
    Body,
    /// `$mb`: the whole message.
    Message,
    /// `$ml`: message length.
    MsgLen,
    /// `$si` / `$sp`: source address and port.
    SrcIp,
    /// `$sp`
    SrcPort,
    /// `$Ri` / `$Rp`: the local address and port the message came in on.
    RcvIp,
    /// `$Rp`
    RcvPort,
    /// `$RAi` / `$RAp`: the advertised address and port of that socket.
    RcvAdvIp,
    /// `$RAp`
    RcvAdvPort,
    /// `$pr` / `$proto`: the transport protocol, lower case.
    Proto,
    /// `$ua`: User-Agent.
    UserAgent,
    /// `$ct`: Contact header value.
    Contact,
    /// `$cl`: Content-Length.
    ContentLength,
    /// `$hdr(Name)`: a header's value (first, or by index).
    Hdr(String),
    /// `$hdrc(Name)`: how many headers of that name.
    HdrCount(String),
    /// `$var(x)`: a script variable (per message).
    Var(String),
    /// `$avp(x)` and `$x`: an AVP (per message).
    Avp(String),
    /// `$shv(x)`: a shared variable (per router).
    Shv(String),
    /// `$T_branch_idx`: always 0 without transactions.
    BranchIdx,
    /// `$rc` / `$retcode` / `$?`: the last return code.
    RetCode,
    /// `$null`
    Null,
    /// `$Ts`: the current Unix time.
    TimeSec,
    /// `$TV(s)`, `$TV(u)`, `$TV(sn)`, `$TV(un)`, `$TV(Sn)`, `$TV(Fn)`.
    TimeVal(TvPart),
    /// `$time(name)` (local time, `false`) and `$utime(name)` (UTC, `true`).
    Time(TimePart, bool),
    /// `$sel(path)`: a select (`$sel(via[1].host)`, the `@` optional).
    Sel(Box<crate::select::Select>),
    /// `$rP`: the Request-URI's transport (`udp` when it names none).
    RuriTransport,
    /// `$mt`: 1 for a request, 2 for a reply.
    MsgType,
    /// `$fs`: the forced send socket as `proto:address:port` (writable).
    ForceSocket,
    /// `$cfg(line)`, `$cfg(file)`, `$cfg(name)`: where in the config the PV is used (the
    /// compiler replaces it with a constant).
    CfgPos(CfgPos),
}

/// What `$cfg(…)` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CfgPos {
    /// `$cfg(line)`
    Line,
    /// `$cfg(file)`
    File,
    /// `$cfg(name)`: the name of the route block.
    Route,
}

/// What `$TV(…)` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TvPart {
    /// `s`: seconds of the message's time (taken once per message).
    Sec,
    /// `u`: microseconds of the message's time.
    Usec,
    /// `sn`: seconds of the current time, remembered for `un`.
    SecNow,
    /// `un`: microseconds of the time the last `$TV(sn)` read (0 before any).
    UsecOfSecNow,
    /// `Sn`: the current time as `seconds.microseconds` (six digits).
    Now,
    /// `Fn`: the current local time as `YYYY-MM-DD HH:MM:SS.microseconds`.
    NowFormatted,
}

/// A field of `$time(…)` / `$utime(…)`, of the message's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePart {
    /// `sec`: 0-60.
    Sec,
    /// `min`: 0-59.
    Min,
    /// `hour`: 0-23.
    Hour,
    /// `mday`: 1-31.
    Mday,
    /// `mon`: 1-12.
    Mon,
    /// `year`: the full year.
    Year,
    /// `wday`: 1-7, Sunday is 1.
    Wday,
    /// `yday`: 1-366.
    Yday,
    /// `isdst`: 1 in daylight saving time (always 0 for `$utime`).
    Isdst,
}

/// Parts of a From/To header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrPart {
    /// The URI.
    Uri,
    /// The user part of the URI.
    User,
    /// The host of the URI.
    Domain,
    /// The display name.
    Name,
    /// The `tag` parameter.
    Tag,
}

pub use crate::trans::{TArg, Trans};

/// A resolved pseudo-variable with its index and transformations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pv {
    /// What it reads.
    pub name: PvName,
    /// `[n]`, `[*]` or `[$var(i)]` (headers and AVPs: the n-th value; negative counts
    /// from the end).
    pub index: Option<Index>,
    /// Applied in order to the value.
    pub trans: Vec<Trans>,
}

impl Pv {
    /// A pseudo-variable without index or transformations.
    pub fn new(name: PvName) -> Self {
        Pv {
            name,
            index: None,
            trans: Vec::new(),
        }
    }

    /// Whether a script may assign to it.
    pub fn writable(&self) -> bool {
        self.trans.is_empty()
            && matches!(
                self.name,
                PvName::Ruri
                    | PvName::RuriUser
                    | PvName::RuriDomain
                    | PvName::RuriPort
                    | PvName::DstUri
                    | PvName::Var(_)
                    | PvName::Avp(_)
                    | PvName::Shv(_)
                    | PvName::ForceSocket
            )
    }
}

/// The index of a pseudo-variable with several values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Index {
    /// `[n]`
    At(i64),
    /// `[*]`: every value.
    All,
    /// `[$var(i)]`: the value of another pseudo-variable.
    Pv(Box<Pv>),
}

/// Parses the text of a PVAR/AVP token.
pub fn parse(text: &str) -> Result<Pv, String> {
    let body = text
        .strip_prefix('$')
        .or_else(|| text.strip_prefix('%'))
        .ok_or_else(|| format!("`{text}` is not a variable"))?;
    if let Some(inner) = body.strip_prefix('(').and_then(|b| b.strip_suffix(')')) {
        // $( name [index] {trans}… )
        let (name_part, trans_part) = match inner.find('{') {
            Some(i) => (&inner[..i], &inner[i..]),
            None => (inner, ""),
        };
        let (name_part, index) = split_index(name_part)?;
        let mut pv = simple(name_part)?;
        pv.index = index;
        pv.trans = crate::trans::parse_list(trans_part)?;
        return Ok(pv);
    }
    let (name_part, index) = split_index(body)?;
    let mut pv = simple(name_part)?;
    pv.index = index;
    Ok(pv)
}

fn split_index(s: &str) -> Result<(&str, Option<Index>), String> {
    // An index follows the name's closing parenthesis: `hdr(Via)[1]`, `avp(x)[*]`.
    // (The cheap test first: most names have no index.)
    if let Some(open) = s.ends_with(']').then(|| s.rfind('[')).flatten() {
        let idx = &s[open + 1..s.len() - 1];
        let index = if idx == "*" {
            Index::All
        } else if idx.starts_with('$') {
            Index::Pv(Box::new(parse(idx)?))
        } else {
            Index::At(idx.parse().map_err(|_| format!("bad index `[{idx}]`"))?)
        };
        return Ok((&s[..open], Some(index)));
    }
    Ok((s, None))
}

/// `s` without any number of `prefix`es at its start: `trim_start_matches` with a two-byte
/// text, without the general substring searcher it sets up (a tenth of a route-script check's
/// pseudo-variable work went there).
fn strip_all<'a>(mut s: &'a str, prefix: &str) -> &'a str {
    while let Some(rest) = s.strip_prefix(prefix) {
        s = rest;
    }
    s
}

fn simple(s: &str) -> Result<Pv, String> {
    use PvName::*;
    // `prefix(…)`'s argument, borrowed (`inner`) or copied (`arg`).
    let inner = |prefix: &str| -> Option<&str> {
        s.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'))
    };
    let arg = |prefix: &str| inner(prefix).map(str::to_string);
    let name = match s {
        "ru" => Ruri,
        "rU" => RuriUser,
        "rd" => RuriDomain,
        "rp" => RuriPort,
        "rz" => RuriScheme,
        "ou" => OrigUri,
        "oU" => OrigUser,
        "du" => DstUri,
        "fu" => From(AddrPart::Uri),
        "fU" => From(AddrPart::User),
        "fd" => From(AddrPart::Domain),
        "fn" => From(AddrPart::Name),
        "ft" => From(AddrPart::Tag),
        "tu" => To(AddrPart::Uri),
        "tU" => To(AddrPart::User),
        "td" => To(AddrPart::Domain),
        "tn" => To(AddrPart::Name),
        "tt" => To(AddrPart::Tag),
        "ci" => CallId,
        "cs" => CSeqNum,
        "rm" => Method,
        "rs" => Status,
        "rr" => Reason,
        "rb" => Body,
        "mb" => Message,
        "ml" => MsgLen,
        "si" => SrcIp,
        "sp" => SrcPort,
        "Ri" => RcvIp,
        "Rp" => RcvPort,
        "RAi" => RcvAdvIp,
        "RAp" => RcvAdvPort,
        "pr" | "proto" => Proto,
        "ua" => UserAgent,
        "ct" => Contact,
        "cl" => ContentLength,
        "T_branch_idx" => BranchIdx,
        "rc" | "retcode" | "?" => RetCode,
        "null" => Null,
        "Ts" => TimeSec,
        "rP" => RuriTransport,
        "mt" => MsgType,
        "fs" => ForceSocket,
        _ => {
            if let Some(h) = arg("hdr") {
                Hdr(h)
            } else if let Some(h) = arg("hdrc") {
                HdrCount(h)
            } else if let Some(v) = arg("var") {
                Var(v)
            } else if let Some(v) = inner("avp") {
                Avp(strip_all(strip_all(v, "s:"), "i:").to_string())
            } else if let Some(v) = arg("shv") {
                Shv(v)
            } else if let Some(v) = arg("TV") {
                TimeVal(tv_part(&v)?)
            } else if let Some(v) = arg("time") {
                Time(time_part(&v)?, false)
            } else if let Some(v) = arg("utime") {
                Time(time_part(&v)?, true)
            } else if let Some(k) = arg("cfg") {
                CfgPos(match k.as_str() {
                    "line" => self::CfgPos::Line,
                    "file" => self::CfgPos::File,
                    "name" | "route" => self::CfgPos::Route,
                    other => return Err(format!("`$cfg({other})`: line, file or name expected")),
                })
            } else if let Some(p) = arg("sel") {
                Sel(Box::new(
                    crate::select::parse(&p).map_err(|e| format!("`$sel({p})`: {e}"))?,
                ))
            } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                // `$name` that is no pseudo-variable is an AVP (max-compat mode).
                Avp(s.to_string())
            } else {
                return Err(format!("unknown pseudo-variable `${s}`"));
            }
        }
    };
    Ok(Pv {
        name,
        index: None,
        trans: Vec::new(),
    })
}

fn tv_part(name: &str) -> Result<TvPart, String> {
    Ok(match name {
        "s" => TvPart::Sec,
        "u" => TvPart::Usec,
        "sn" => TvPart::SecNow,
        "un" => TvPart::UsecOfSecNow,
        "Sn" => TvPart::Now,
        "Fn" => TvPart::NowFormatted,
        _ => return Err(format!("unknown `$TV({name})`")),
    })
}

fn time_part(name: &str) -> Result<TimePart, String> {
    Ok(match name {
        "sec" => TimePart::Sec,
        "min" => TimePart::Min,
        "hour" => TimePart::Hour,
        "mday" => TimePart::Mday,
        "mon" => TimePart::Mon,
        "year" => TimePart::Year,
        "wday" => TimePart::Wday,
        "yday" => TimePart::Yday,
        "isdst" => TimePart::Isdst,
        _ => return Err(format!("unknown time field `{name}`")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(parse("$ru").unwrap().name, PvName::Ruri);
        assert_eq!(parse("$var(x)").unwrap().name, PvName::Var("x".into()));
        assert_eq!(parse("$avp(s:x)").unwrap().name, PvName::Avp("x".into()));
        // Every `s:`, then every `i:`, as `trim_start_matches` did.
        assert_eq!(
            parse("$avp(s:s:i:i:x)").unwrap().name,
            PvName::Avp("x".into())
        );
        assert_eq!(
            parse("$avp(i:s:x)").unwrap().name,
            PvName::Avp("s:x".into())
        );
        assert_eq!(parse("$avp(x:s)").unwrap().name, PvName::Avp("x:s".into()));
        let p = parse("$(hdr(Via)[1])").unwrap();
        assert_eq!(
            (p.name, p.index),
            (PvName::Hdr("Via".into()), Some(Index::At(1)))
        );
        let p = parse("$(avp(x)[$var(i)])").unwrap();
        assert_eq!(
            p.index,
            Some(Index::Pv(Box::new(parse("$var(i)").unwrap())))
        );
        assert_eq!(parse("$(avp(x)[*])").unwrap().index, Some(Index::All));
        let p = parse("$(ru{s.len})").unwrap();
        assert_eq!(p.trans[0].name(), "s.len");
        let p = parse("$(fu{s.substr,1,2}{s.toupper})").unwrap();
        let names: Vec<&str> = p.trans.iter().map(Trans::name).collect();
        assert_eq!(names, ["s.substr", "s.toupper"]);
        let p = parse("$(var(x){s.select,$var(i), })").unwrap();
        assert_eq!(p.trans[0].text(), "s.select,$var(i), ");
        assert!(parse("$(ru{s.nope})").is_err());
        assert_eq!(parse("$TV(Sn)").unwrap().name, PvName::TimeVal(TvPart::Now));
        assert_eq!(
            parse("$utime(wday)").unwrap().name,
            PvName::Time(TimePart::Wday, true)
        );
        assert_eq!(
            parse("$time(isdst)").unwrap().name,
            PvName::Time(TimePart::Isdst, false)
        );
        assert!(parse("$TV(x)").is_err());
        assert!(parse("$time(week)").is_err());
        assert!(parse("$foo").unwrap().writable());
        assert!(!parse("$si").unwrap().writable());
    }
}
