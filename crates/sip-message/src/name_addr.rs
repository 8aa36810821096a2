//! name-addr / addr-spec values: From, To, Contact, Route, Record-Route (RFC 3261 §20).

use crate::error::{ErrorKind, SyntaxError, SyntaxResult};
use crate::params::{parse_header_params, Params};
use crate::scan::{is_token, scan_quoted, scan_token, skip_lws, split_commas, unexpected};
use crate::uri::Uri;

/// One name-addr or addr-spec value with its header parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// Display name as written: a quoted string keeps its quotes, tokens keep inner LWS.
    pub display_name: Option<&'a str>,
    /// The URI text (between `<` `>` when bracketed).
    pub uri_text: &'a str,
    /// The parsed URI.
    pub uri: Uri<'a>,
    /// True when the URI was written in `<` `>`.
    pub bracketed: bool,
    /// Header parameters after the address (`;tag=...;expires=...`).
    pub params: Params<'a>,
}

impl<'a> NameAddr<'a> {
    /// Parses one value (the whole of `s`).
    pub fn parse(s: &'a str) -> SyntaxResult<Self> {
        let b = s.as_bytes();
        let i = skip_lws(b, 0);
        let mut display_name = None;
        let mut lt = None;
        if b.get(i) == Some(&b'"') {
            let q = scan_quoted(b, i)?;
            display_name = Some(&s[i..q]);
            let j = skip_lws(b, q);
            if b.get(j) != Some(&b'<') {
                return Err(unexpected(b, j));
            }
            lt = Some(j);
        } else {
            let mut j = i;
            let mut last = i;
            while j < b.len() && is_token(b[j]) {
                j = scan_token(b, j);
                last = j;
                j = skip_lws(b, j);
            }
            if b.get(j) == Some(&b'<') {
                if last > i {
                    display_name = Some(&s[i..last]);
                }
                lt = Some(j);
            }
        }
        let (uri_text, bracketed, pend) = match lt {
            Some(lt) => {
                let gt = memchr::memchr(b'>', &b[lt..])
                    .map(|p| p + lt)
                    .ok_or(SyntaxError::new(lt, ErrorKind::UnterminatedAngle))?;
                (&s[lt + 1..gt], true, gt + 1)
            }
            None => {
                let mut e = i;
                while e < b.len() && !matches!(b[e], b';' | b' ' | b'\t' | b'\r' | b'\n') {
                    e += 1;
                }
                let t = &s[i..e];
                if let Some(p) = t.bytes().position(|c| c == b'?' || c == b',') {
                    return Err(SyntaxError::new(
                        i + p,
                        ErrorKind::Uri("'?' or ',' in addr-spec outside <>"),
                    ));
                }
                (t, false, e)
            }
        };
        let base = crate::scan::offset_in(s, uri_text);
        let uri = Uri::parse(uri_text).map_err(|e| SyntaxError::new(base + e.pos, e.kind))?;
        let params =
            parse_header_params(s, pend).map_err(|e| SyntaxError::new(pend + e.pos, e.kind))?;
        Ok(NameAddr {
            display_name,
            uri_text,
            uri,
            bracketed,
            params,
        })
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&'a str> {
        self.params.get("tag").flatten()
    }
}

/// Parses a comma-separated list of name-addr values (Contact, Route, Record-Route).
pub(crate) fn parse_list<'a>(s: &'a str, out: &mut Vec<NameAddr<'a>>) -> SyntaxResult<()> {
    for el in split_commas(s) {
        let (off, el) = el?;
        if el.is_empty() {
            return Err(SyntaxError::new(off, ErrorKind::Empty));
        }
        out.push(NameAddr::parse(el).map_err(|e| SyntaxError::new(off + e.pos, e.kind))?);
    }
    Ok(())
}

/// A Contact header value: `*` or a list of addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact<'a> {
    /// `Contact: *` (REGISTER removing all bindings).
    Star,
    /// One address.
    Addr(NameAddr<'a>),
}
