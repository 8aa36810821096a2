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
        match Self::parse_plain(s) {
            Some(via) => Ok(via),
            None => Self::parse_general(s),
        }
    }

    /// The shape nearly every Via has, read in one pass: `SIP/2.0/` and a transport, one
    /// space, the host, an optional `:port`, then `;name[=value]` parameters with plain
    /// values, no blanks anywhere else. `None` for anything else, and for a parameter
    /// value the Via cannot hold, which [`Via::parse_general`] then reads and reports as it
    /// always does: where this returns a Via, it is the one that would return. (Two of
    /// every three Vias a relayed message parses: a fifth of its instructions before.)
    fn parse_plain(s: &'a str) -> Option<Self> {
        const PREFIX: &[u8] = b"SIP/2.0/";
        let b = s.as_bytes();
        if !b.starts_with(PREFIX) {
            return None;
        }
        let te = crate::scan::scan_token(b, PREFIX.len());
        if te == PREFIX.len() || b.get(te) != Some(&b' ') {
            return None;
        }
        let (host, mut i) = parse_host(s, te + 1).ok()?;
        let mut port = None;
        if b.get(i) == Some(&b':') {
            let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            port = Some(parse_port(&s[i + 1..i + 1 + digits]).ok()?);
            i += 1 + digits;
        }
        let mut via = Via::bare(
            &s[..3],
            &s[4..7],
            &s[PREFIX.len()..te],
            HostPort { host, port },
        );
        via.params = Params::header(&s[i..]);
        let at = i;
        while i < b.len() {
            if b[i] != b';' {
                return None;
            }
            let (p, end) = crate::params::plain_param(s, i + 1)?;
            via.read_param(p, at).ok()?;
            i = end;
        }
        Some(via)
    }

    /// [`Via::parse`] for every shape the grammar allows: blanks and folds around the
    /// separators, quoted parameter values, and the errors.
    fn parse_general(s: &'a str) -> SyntaxResult<Self> {
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
        let mut via = Via::bare(&s[..pe], &s[vs..ve], &s[ts..te], HostPort { host, port });
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

    /// A Via of these parts with no parameters yet (both parsers read them into it).
    fn bare(
        protocol: &'a str,
        version: &'a str,
        transport: &'a str,
        sent_by: HostPort<'a>,
    ) -> Self {
        Via {
            protocol,
            version,
            transport,
            sent_by,
            params: Params::default(),
            branch: None,
            received: None,
            rport: Rport::Absent,
            maddr: None,
            ttl: None,
        }
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

#[cfg(test)]
mod tests {
    use super::Via;
    use proptest::prelude::*;

    #[test]
    fn the_usual_vias_take_the_one_pass_reading() {
        for s in [
            "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-3413-1-0",
            "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKf3a.1;rport=5070;received=10.0.0.2",
            "SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bKx;rport",
            "SIP/2.0/TLS proxy.example.com;branch=z9hG4bK1;maddr=224.2.0.1;ttl=16",
        ] {
            let plain = Via::parse_plain(s);
            assert!(plain.is_some(), "{s}");
            assert_eq!(plain.map(Ok), Some(Via::parse_general(s)), "{s}");
        }
        // Blanks, lower case, a quoted value, a bad known value: the general reading.
        for s in [
            "SIP / 2.0 / UDP h",
            "sip/2.0/UDP h",
            "SIP/2.0/UDP h ;branch=x",
            "SIP/2.0/UDP h;x=\"q\"",
            "SIP/2.0/UDP h;ttl=300",
        ] {
            assert!(Via::parse_plain(s).is_none(), "{s}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        /// Where the one-pass reading gives a Via, it is the general parser's, field for
        /// field (parameters and their known values included).
        #[test]
        fn the_one_pass_reading_is_the_general_one(
            prefix in prop::sample::select(vec!["SIP/2.0/", "SIP/2.0/", "SIP/2.0/", "sip/2.0/", "SIP / 2.0 / ", "SIP/2.1/", "SIP/2.0"]),
            transport in prop::sample::select(vec!["UDP", "tcp", "TLS", "WS", "", "U@P"]),
            blank in prop::sample::select(vec![" ", " ", " ", "  ", "\t", " \r\n ", ""]),
            host in prop::sample::select(vec!["127.0.0.1", "10.0.0.255", "[::1]", "[2001:db8::9:1]", "example.com", "1.2.3.4a", "", "a..b", "256.1.1.1", "-a.b", "[::1"]),
            port in prop::sample::select(vec!["", "", ":5060", ":", ": 5060", ":99999", ":0", ":65535", " :5060"]),
            params in prop::collection::vec(prop::sample::select(vec![
                ";branch=z9hG4bK-1", ";rport", ";rport=5070", ";rport=", ";received=10.0.0.1", ";received=[::1]",
                ";received=::1", ";received=h", ";maddr=1.2.3.4", ";maddr=[::1]", ";ttl=16", ";ttl=300", ";x",
                ";x=\"q\"", "; branch=a", ";branch", ";=a", ";a=", ";a=b c", ";BRANCH=Z", ";a=[b]:c", ";a =b",
            ]), 0..5),
            tail in prop::sample::select(vec!["", "", "", " ", ";", "x"]),
        ) {
            let s = format!("{prefix}{transport}{blank}{host}{port}{}{tail}", params.concat());
            if let Some(v) = Via::parse_plain(&s) {
                prop_assert_eq!(Ok(v), Via::parse_general(&s), "{:?}", s);
            }
        }
    }
}
