//! URIs: SIP/SIPS (RFC 3261 §19.1), TEL (RFC 3966) and opaque absolute URIs.

use std::borrow::Cow;

use crate::error::{ErrorKind, SyntaxError, SyntaxResult};
use crate::host_port::{parse_hostport, HostPort};
use crate::params::{parse_uri_params, Params};
use crate::scan::{is_unreserved, unexpected};

/// A parsed URI; all text is a slice of the original buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri<'a> {
    /// `sip:` or `sips:`.
    Sip(SipUri<'a>),
    /// `tel:`.
    Tel(TelUri<'a>),
    /// Any other scheme, kept opaque.
    Other {
        /// Scheme as written (e.g. `http`, `soap.beep`).
        scheme: &'a str,
        /// Everything after the first `:`.
        rest: &'a str,
    },
}

impl<'a> Uri<'a> {
    /// Parses a URI (the whole of `s`).
    pub fn parse(s: &'a str) -> SyntaxResult<Self> {
        let b = s.as_bytes();
        let colon =
            memchr::memchr(b':', b).ok_or(SyntaxError::new(0, ErrorKind::Uri("no scheme")))?;
        let scheme = &s[..colon];
        let sb = scheme.as_bytes();
        if sb.is_empty()
            || !sb[0].is_ascii_alphabetic()
            || !sb
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            return Err(SyntaxError::new(0, ErrorKind::Uri("bad scheme")));
        }
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            return parse_sip(s, colon + 1, scheme.len() == 4).map(Uri::Sip);
        }
        if scheme.eq_ignore_ascii_case("tel") {
            return parse_tel(s, colon + 1).map(Uri::Tel);
        }
        let rest = &s[colon + 1..];
        if rest.is_empty() {
            return Err(SyntaxError::new(colon + 1, ErrorKind::Uri("empty")));
        }
        if let Some(p) = rest
            .bytes()
            .position(|c| c <= b' ' || matches!(c, b'<' | b'>' | b'"' | 0x7f))
        {
            return Err(unexpected(b, colon + 1 + p));
        }
        Ok(Uri::Other { scheme, rest })
    }

    /// The scheme as written.
    pub fn scheme(&self) -> &'a str {
        match self {
            Uri::Sip(u) => u.scheme,
            Uri::Tel(_) => "tel",
            Uri::Other { scheme, .. } => scheme,
        }
    }

    /// The SIP URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri<'a>> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }
}

/// A `sip:` / `sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri<'a> {
    /// Scheme as written (`sip`, `SIP`, `sips`...).
    pub scheme: &'a str,
    /// True for `sips:`.
    pub secure: bool,
    /// User part, still escaped (see [`percent_decode`]).
    pub user: Option<&'a str>,
    /// Password, still escaped.
    pub password: Option<&'a str>,
    /// Host and port.
    pub host_port: HostPort<'a>,
    /// URI parameters (`;transport=tcp;lr`).
    pub params: Params<'a>,
    /// Headers after `?`, without the `?`, still escaped.
    pub headers: Option<&'a str>,
}

/// A `tel:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelUri<'a> {
    /// The telephone subscriber number as written.
    pub number: &'a str,
    /// Parameters (`;phone-context=...`).
    pub params: Params<'a>,
}

fn is_user_char(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'%' | b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/'
        )
}

fn is_password_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'%' | b'&' | b'=' | b'+' | b'$' | b',')
}

fn is_hnv_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'%' | b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
}

/// Checks that every `%` in `s` starts a `%HH` escape.
pub(crate) fn check_escapes(s: &str) -> SyntaxResult<()> {
    let b = s.as_bytes();
    for i in memchr::memchr_iter(b'%', b) {
        let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if !ok {
            return Err(SyntaxError::new(i, ErrorKind::Escape));
        }
    }
    Ok(())
}

fn check_chars(s: &str, base: usize, ok: fn(u8) -> bool) -> SyntaxResult<()> {
    if let Some(p) = s.bytes().position(|c| !ok(c)) {
        return Err(unexpected(s.as_bytes(), p))
            .map_err(|e| SyntaxError::new(base + e.pos, e.kind));
    }
    check_escapes(s).map_err(|e| SyntaxError::new(base + e.pos, e.kind))
}

fn parse_sip(s: &str, start: usize, secure: bool) -> SyntaxResult<SipUri<'_>> {
    let b = s.as_bytes();
    let mut user = None;
    let mut password = None;
    let mut hp_start = start;
    if let Some(at) = memchr::memchr(b'@', &b[start..]).map(|p| p + start) {
        let userinfo = &s[start..at];
        let (u, pw) = match memchr::memchr(b':', userinfo.as_bytes()) {
            Some(c) => (&userinfo[..c], Some((c + 1, &userinfo[c + 1..]))),
            None => (userinfo, None),
        };
        if u.is_empty() {
            return Err(SyntaxError::new(start, ErrorKind::Uri("empty user")));
        }
        check_chars(u, start, is_user_char)?;
        if let Some((off, p)) = pw {
            check_chars(p, start + off, is_password_char)?;
            password = Some(p);
        }
        user = Some(u);
        hp_start = at + 1;
    }
    let (host_port, mut i) = parse_hostport(s, hp_start)?;
    let (params, end) = parse_uri_params(s, i)?;
    i = end;
    let mut headers = None;
    if b.get(i) == Some(&b'?') {
        let h = &s[i + 1..];
        let mut off = i + 1;
        for pair in h.split('&') {
            let (name, value) = pair
                .split_once('=')
                .ok_or(SyntaxError::new(off, ErrorKind::Uri("header without '='")))?;
            if name.is_empty() {
                return Err(SyntaxError::new(off, ErrorKind::Empty));
            }
            check_chars(name, off, is_hnv_char)?;
            check_chars(value, off + name.len() + 1, is_hnv_char)?;
            off += pair.len() + 1;
        }
        headers = Some(h);
        i = s.len();
    }
    if i != s.len() {
        return Err(unexpected(b, i));
    }
    Ok(SipUri {
        scheme: &s[..start - 1],
        secure,
        user,
        password,
        host_port,
        params,
        headers,
    })
}

fn parse_tel(s: &str, start: usize) -> SyntaxResult<TelUri<'_>> {
    let b = s.as_bytes();
    let mut i = start;
    while i < b.len()
        && (b[i].is_ascii_hexdigit()
            || matches!(b[i], b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#'))
    {
        i += 1;
    }
    if i == start {
        return Err(SyntaxError::new(
            start,
            ErrorKind::Uri("empty telephone number"),
        ));
    }
    let (params, end) = parse_uri_params(s, i)?;
    if end != s.len() {
        return Err(unexpected(b, end));
    }
    Ok(TelUri {
        number: &s[start..i],
        params,
    })
}

/// Text made safe for a URI parameter value (RFC 3261 `pvalue`): every octet that is not a
/// `paramchar`, and `%` itself, becomes `%HH`. A From tag is a token and may hold `` ` ``,
/// which a URI may not: a proxy that puts the tag into its Record-Route (`ftag=`) escapes it.
/// Borrows when there is nothing to escape; [`percent_decode`] gives the text back.
pub fn percent_encode_param(s: &str) -> Cow<'_, str> {
    let ok = |b: u8| b != b'%' && crate::params::is_paramchar(b);
    if s.bytes().all(ok) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if ok(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Cow::Owned(out)
}

/// Decodes `%HH` escapes. Borrows when there is nothing to decode; the result may hold
/// any octet, NUL included (RFC 4475 `escnull`), so it is bytes, not text.
pub fn percent_decode(s: &str) -> Cow<'_, [u8]> {
    let b = s.as_bytes();
    if memchr::memchr(b'%', b).is_none() {
        return Cow::Borrowed(b);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(out)
}
