//! Parameter lists: header parameters (`;name=value` with LWS, RFC 3261 `generic-param`)
//! and URI parameters (`;pname=pvalue`, no LWS).

use crate::error::{ErrorKind, SyntaxError, SyntaxResult};
use crate::scan::{is_token, is_unreserved, scan_quoted, skip_lws, unexpected};

/// One parameter: a name and an optional value, both slices of the original text.
/// Quoted values keep their quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    /// Parameter name as written.
    pub name: &'a str,
    /// Value as written, if any (`None` for `;lr`).
    pub value: Option<&'a str>,
}

/// A validated parameter list (header or URI flavour); iterate with [`Params::iter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a> {
    raw: &'a str,
    uri: bool,
}

impl<'a> Params<'a> {
    /// Header parameters already validated, `raw` from the first `;`.
    pub(crate) fn header(raw: &'a str) -> Self {
        Params { raw, uri: false }
    }

    /// The raw text, starting at the first `;` (empty when there are no parameters).
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// True when there is no parameter.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Iterates over the parameters in order.
    pub fn iter(&self) -> ParamIter<'a> {
        ParamIter {
            s: self.raw,
            pos: 0,
            uri: self.uri,
        }
    }

    /// The first parameter named `name` (case-insensitive): `Some(None)` when present
    /// without value.
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value)
    }

    /// True if a parameter named `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Iterator over a validated [`Params`].
#[derive(Debug, Clone)]
pub struct ParamIter<'a> {
    s: &'a str,
    pos: usize,
    uri: bool,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        let b = self.s.as_bytes();
        let step = if self.uri {
            scan_uri_param(self.s, self.pos)
        } else {
            scan_header_param(self.s, self.pos)
        };
        match step {
            Ok(Some((p, end))) => {
                self.pos = end;
                Some(p)
            }
            _ => {
                self.pos = b.len();
                None
            }
        }
    }
}

fn is_gen_value(b: u8) -> bool {
    is_token(b) || matches!(b, b'[' | b']' | b':')
}

/// Scans one header parameter starting at `i` (which must point at SWS `;`).
fn scan_header_param(s: &str, i: usize) -> SyntaxResult<Option<(Param<'_>, usize)>> {
    let b = s.as_bytes();
    let mut j = skip_lws(b, i);
    if j >= b.len() || b[j] != b';' {
        return Ok(None);
    }
    j = skip_lws(b, j + 1);
    let ns = j;
    while j < b.len() && is_token(b[j]) {
        j += 1;
    }
    if j == ns {
        return Err(SyntaxError::new(ns, ErrorKind::Empty));
    }
    let name = &s[ns..j];
    let k = skip_lws(b, j);
    if b.get(k) != Some(&b'=') {
        return Ok(Some((Param { name, value: None }, j)));
    }
    let vs = skip_lws(b, k + 1);
    let ve = if b.get(vs) == Some(&b'"') {
        scan_quoted(b, vs)?
    } else {
        nonempty_run(b, vs, is_gen_value)?
    };
    Ok(Some((
        Param {
            name,
            value: Some(&s[vs..ve]),
        },
        ve,
    )))
}

/// A header parameter without blanks and without a quoted value, from its name at `i`:
/// `name[=value]` and where it ends; `None` when it is not that plain (the general scan
/// reads it then).
pub(crate) fn plain_param(s: &str, i: usize) -> Option<(Param<'_>, usize)> {
    let b = s.as_bytes();
    let ne = crate::scan::scan_token(b, i);
    if ne == i {
        return None;
    }
    let name = &s[i..ne];
    if b.get(ne) != Some(&b'=') {
        return Some((Param { name, value: None }, ne));
    }
    let ve = nonempty_run(b, ne + 1, is_gen_value).ok()?;
    let value = Some(&s[ne + 1..ve]);
    Some((Param { name, value }, ve))
}

/// Validates header parameters from `i` to the end of `s` (`*(SEMI generic-param)`).
pub(crate) fn parse_header_params(s: &str, i: usize) -> SyntaxResult<Params<'_>> {
    scan_header_params(s, i, |_| {})
}

/// [`parse_header_params`], handing each parameter to `each` as it is read (one pass for a
/// caller that reads some of them).
pub(crate) fn scan_header_params<'s>(
    s: &'s str,
    i: usize,
    mut each: impl FnMut(Param<'s>),
) -> SyntaxResult<Params<'s>> {
    let b = s.as_bytes();
    let mut pos = i;
    while let Some((p, end)) = scan_header_param(s, pos)? {
        each(p);
        pos = end;
    }
    let end = skip_lws(b, pos);
    if end != b.len() {
        return Err(unexpected(b, end));
    }
    Ok(Params {
        raw: &s[i..],
        uri: false,
    })
}

/// The end of the run of bytes from `start` that satisfy `class`; an empty run is an error
/// at `start`.
/// (`class` is generic rather than a function pointer so that it is inlined into the loop:
/// a Via's branch is 20 to 40 bytes.)
fn nonempty_run(b: &[u8], start: usize, class: impl Fn(u8) -> bool) -> SyntaxResult<usize> {
    let len = b[start.min(b.len())..]
        .iter()
        .take_while(|&&c| class(c))
        .count();
    if len == 0 {
        return Err(unexpected(b, start));
    }
    Ok(start + len)
}

pub(crate) fn is_paramchar(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$' | b'%')
}

fn scan_uri_param(s: &str, i: usize) -> SyntaxResult<Option<(Param<'_>, usize)>> {
    let b = s.as_bytes();
    if b.get(i) != Some(&b';') {
        return Ok(None);
    }
    let ns = i + 1;
    let mut j = ns;
    while j < b.len() && is_paramchar(b[j]) {
        j += 1;
    }
    if j == ns {
        return Err(SyntaxError::new(ns, ErrorKind::Empty));
    }
    let name = &s[ns..j];
    if b.get(j) != Some(&b'=') {
        return Ok(Some((Param { name, value: None }, j)));
    }
    let vs = j + 1;
    let e = nonempty_run(b, vs, is_paramchar)?;
    Ok(Some((
        Param {
            name,
            value: Some(&s[vs..e]),
        },
        e,
    )))
}

/// Validates URI parameters starting at `i`; stops at the first byte that cannot continue
/// them and returns the list and that index.
pub(crate) fn parse_uri_params(s: &str, i: usize) -> SyntaxResult<(Params<'_>, usize)> {
    let mut pos = i;
    while let Some((p, end)) = scan_uri_param(s, pos)? {
        crate::uri::check_escapes(p.name).map_err(|e| SyntaxError::new(pos + 1 + e.pos, e.kind))?;
        if let Some(v) = p.value {
            crate::uri::check_escapes(v).map_err(|e| SyntaxError::new(pos, e.kind))?;
        }
        pos = end;
    }
    Ok((
        Params {
            raw: &s[i..pos],
            uri: true,
        },
        pos,
    ))
}
