//! The Via header field (RFC 3261 §20.42, RFC 3581 `rport`).

use crate::error::{ErrorKind, SyntaxError, SyntaxResult};
use crate::host_port::{parse_host, parse_port, parse_received, Host, HostPort};
use crate::params::{scan_header_params, Param, Params};
use crate::scan::{expect_token, is_wsp, skip_lws, unexpected};

/// The RFC 3261 magic cookie that starts a compliant branch.
pub const BRANCH_COOKIE: &str = "z9hG4bK";

/// The `rport` parameter (RFC 3581).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rport {
    /// No `rport` parameter.
    #[default]
    Absent,
    /// `;rport` without value: the client asks for the source port.
    Requested,
    /// `;rport=N`.
    Value(u16),
}

/// One Via value (`via-parm`); text fields are slices of the original buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via<'a> {
    /// Protocol name, normally `SIP`.
    pub protocol: &'a str,
    /// Protocol version, normally `2.0`.
    pub version: &'a str,
    /// Transport token (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`...), as written.
    pub transport: &'a str,
    /// The sent-by host and port.
    pub sent_by: HostPort<'a>,
    /// All parameters, as written.
    pub params: Params<'a>,
    /// `branch` value.
    pub branch: Option<&'a str>,
    /// `received` value (IPv6 accepted with or without brackets, RFC 5118 §4.5).
    pub received: Option<Host<'a>>,
    /// `rport` parameter.
    pub rport: Rport,
    /// `maddr` value.
    pub maddr: Option<Host<'a>>,
    /// `ttl` value.
    pub ttl: Option<u8>,
}

fn slash(b: &[u8], i: usize) -> SyntaxResult<usize> {
    let j = skip_lws(b, i);
    if b.get(j) != Some(&b'/') {
        return Err(unexpected(b, j));
    }
    Ok(skip_lws(b, j + 1))
}

impl<'a> Via<'a> {
    /// Parses one `via-parm` (the whole of `s`, trimmed of LWS).
    pub fn parse(s: &'a str) -> SyntaxResult<Self> {
        let b = s.as_bytes();
        let pe = expect_token(b, 0)?;
        let vs = slash(b, pe)?;
        let ve = expect_token(b, vs)?;
        let ts = slash(b, ve)?;
        let te = expect_token(b, ts)?;
        if !b
            .get(te)
            .is_some_and(|&c| is_wsp(c) || c == b'\r' || c == b'\n')
        {
            return Err(unexpected(b, te));
        }
        let hs = skip_lws(b, te);
        let (host, he) = parse_host(s, hs)?;
        let mut i = skip_lws(b, he);
        let mut port = None;
        if b.get(i) == Some(&b':') {
            let ps = skip_lws(b, i + 1);
            let mut pe2 = ps;
            while pe2 < b.len() && b[pe2].is_ascii_digit() {
                pe2 += 1;
            }
            port = Some(parse_port(&s[ps..pe2]).map_err(|e| SyntaxError::new(ps, e.kind))?);
            i = pe2;
        } else {
            i = he;
        }
        let mut via = Via {
            protocol: &s[..pe],
            version: &s[vs..ve],
            transport: &s[ts..te],
            sent_by: HostPort { host, port },
            params: Params::default(),
            branch: None,
            received: None,
            rport: Rport::Absent,
            maddr: None,
            ttl: None,
        };
        // One pass validates the parameters and reads the known ones: a bad parameter list
        // is reported first, a bad known value after it.
        let mut value_error = None;
        via.params = scan_header_params(s, i, |p| {
            if value_error.is_none() {
                value_error = via.read_param(p, i).err();
            }
        })
        .map_err(|e| SyntaxError::new(e.pos + i, e.kind))?;
        if let Some(e) = value_error {
            return Err(e);
        }
        Ok(via)
    }

    /// Reads `p` into the field it sets, if it is one of the known parameters; `at` is
    /// where the parameters start (the position of a bad value's error).
    fn read_param(&mut self, p: Param<'a>, at: usize) -> SyntaxResult<()> {
        let bad = |name: &'static str| SyntaxError::new(at, ErrorKind::HeaderValue(name));
        let n = p.name;
        if n.eq_ignore_ascii_case("branch") {
            self.branch = Some(p.value.ok_or(bad("Via branch"))?);
        } else if n.eq_ignore_ascii_case("received") {
            let v = p.value.ok_or(bad("Via received"))?;
            self.received = Some(parse_received(v).map_err(|_| bad("Via received"))?);
        } else if n.eq_ignore_ascii_case("rport") {
            self.rport = match p.value {
                None => Rport::Requested,
                Some(v) => Rport::Value(parse_port(v).map_err(|_| bad("Via rport"))?),
            };
        } else if n.eq_ignore_ascii_case("maddr") {
            let v = p.value.ok_or(bad("Via maddr"))?;
            let (h, end) = parse_host(v, 0).map_err(|_| bad("Via maddr"))?;
            if end != v.len() {
                return Err(bad("Via maddr"));
            }
            self.maddr = Some(h);
        } else if n.eq_ignore_ascii_case("ttl") {
            let v = p.value.ok_or(bad("Via ttl"))?;
            let t = crate::scan::parse_decimal(v, 255).map_err(|_| bad("Via ttl"))?;
            self.ttl = Some(t as u8);
        }
        Ok(())
    }

    /// True when the branch starts with the RFC 3261 magic cookie.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch.is_some_and(|b| b.starts_with(BRANCH_COOKIE))
    }
}
