//! [`Host`] and [`HostPort`]: the one type that renders addresses, so IPv6 brackets cannot
//! be forgotten (RFC 3261 §19.1.1, RFC 5118).

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::{ErrorKind, SyntaxError, SyntaxResult};

/// A host: a domain name, an IPv4 address or an IPv6 address.
///
/// `Display` writes IPv6 addresses inside `[` `]`, as SIP requires wherever a host appears
/// in a URI, Via sent-by or Record-Route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host<'a> {
    /// A domain name (or any non-IP host text), as written.
    Domain(Cow<'a, str>),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address (written bracketed).
    V6(Ipv6Addr),
    /// Text between `[` `]` that follows the RFC 3261 ABNF but is not an RFC 4291 address,
    /// e.g. `2001:db8:::192.0.2.1` (RFC 5118 §4.10); kept verbatim, without the brackets.
    V6Lenient(Cow<'a, str>),
}

impl Host<'_> {
    /// The IP address, if the host is one.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::V4(a) => Some(IpAddr::V4(*a)),
            Host::V6(a) => Some(IpAddr::V6(*a)),
            _ => None,
        }
    }

    /// True for IPv6 hosts (including lenient ones).
    pub fn is_ipv6(&self) -> bool {
        matches!(self, Host::V6(_) | Host::V6Lenient(_))
    }

    /// Copies borrowed text so the host outlives the parsed buffer.
    pub fn into_owned(self) -> Host<'static> {
        match self {
            Host::Domain(d) => Host::Domain(Cow::Owned(d.into_owned())),
            Host::V4(a) => Host::V4(a),
            Host::V6(a) => Host::V6(a),
            Host::V6Lenient(t) => Host::V6Lenient(Cow::Owned(t.into_owned())),
        }
    }

    /// Writes the host without IPv6 brackets (the form of the Via `received` parameter).
    pub fn unbracketed(&self) -> impl fmt::Display + '_ {
        Unbracketed(self)
    }
}

struct Unbracketed<'h, 'a>(&'h Host<'a>);

impl fmt::Display for Unbracketed<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "{a}"),
            Host::V6Lenient(t) => f.write_str(t),
        }
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
            Host::V6Lenient(t) => write!(f, "[{t}]"),
        }
    }
}

impl From<IpAddr> for Host<'static> {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(a) => Host::V4(a),
            IpAddr::V6(a) => Host::V6(a),
        }
    }
}

/// A host with an optional port: `example.com`, `192.0.2.1:5060`, `[2001:db8::1]:5061`.
///
/// This is the type every crate uses to render an address into SIP text; its `Display`
/// brackets IPv6 hosts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort<'a> {
    /// The host.
    pub host: Host<'a>,
    /// The port, when written.
    pub port: Option<u16>,
}

impl<'a> HostPort<'a> {
    /// A host with an optional port.
    pub fn new(host: Host<'a>, port: Option<u16>) -> Self {
        HostPort { host, port }
    }

    /// A domain name with an optional port.
    pub fn domain(name: impl Into<Cow<'a, str>>, port: Option<u16>) -> Self {
        HostPort {
            host: Host::Domain(name.into()),
            port,
        }
    }

    /// Parses `host[:port]` (RFC 3261 `hostport`), IPv6 references in brackets.
    pub fn parse(s: &'a str) -> SyntaxResult<Self> {
        let (hp, end) = parse_hostport(s, 0)?;
        if end != s.len() {
            return Err(crate::scan::unexpected(s.as_bytes(), end));
        }
        Ok(hp)
    }

    /// Copies borrowed text so the value outlives the parsed buffer.
    pub fn into_owned(self) -> HostPort<'static> {
        HostPort {
            host: self.host.into_owned(),
            port: self.port,
        }
    }

    /// Appends the text of [`fmt::Display`] (IPv6 bracketed) to `out`; an IPv4 address and
    /// the port are written without the formatting machinery (a proxy writes its own
    /// sent-by into every request it forwards).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match &self.host {
            Host::Domain(d) => out.extend_from_slice(d.as_bytes()),
            Host::V4(a) => {
                for (i, octet) in a.octets().into_iter().enumerate() {
                    if i > 0 {
                        out.push(b'.');
                    }
                    push_decimal(out, u32::from(octet));
                }
            }
            host @ (Host::V6(_) | Host::V6Lenient(_)) => {
                use std::io::Write;
                let _ = write!(out, "{host}");
            }
        }
        if let Some(p) = self.port {
            out.push(b':');
            push_decimal(out, u32::from(p));
        }
    }
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut Vec<u8>, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

impl fmt::Display for HostPort<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

impl From<SocketAddr> for HostPort<'static> {
    fn from(sa: SocketAddr) -> Self {
        HostPort {
            host: sa.ip().into(),
            port: Some(sa.port()),
        }
    }
}

impl From<IpAddr> for HostPort<'static> {
    fn from(ip: IpAddr) -> Self {
        HostPort {
            host: ip.into(),
            port: None,
        }
    }
}

fn is_host_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_'
}

/// Parses a host at `i` of `s` (no port); returns it and the end index.
pub(crate) fn parse_host(s: &str, i: usize) -> SyntaxResult<(Host<'_>, usize)> {
    let b = s.as_bytes();
    if b.get(i) == Some(&b'[') {
        let close = memchr::memchr(b']', &b[i..])
            .map(|p| p + i)
            .ok_or(SyntaxError::new(i, ErrorKind::Host))?;
        let inner = &s[i + 1..close];
        return Ok((
            parse_ipv6_text(inner).map_err(|_| SyntaxError::new(i, ErrorKind::Host))?,
            close + 1,
        ));
    }
    // An IPv4 address, the common case, read as it is scanned; anything else (`1.2.3.4a`
    // is a domain name, `01.2.3.4` an error) goes the general way.
    if let Some((a, end)) = ipv4_at(b, i) {
        return Ok((Host::V4(a), end));
    }
    parse_host_name(s, i)
}

/// The dotted quad at `i` and its end, when the byte after it is not a host character:
/// four decimal octets up to 255 without leading zeros, read in the one pass that finds
/// where they end.
fn ipv4_at(b: &[u8], i: usize) -> Option<(Ipv4Addr, usize)> {
    let mut octets = [0u8; 4];
    let mut done = 0; // octets stored
    let (mut value, mut digits) = (0u16, 0u8);
    let mut k = i;
    while let Some(&c) = b.get(k) {
        match c {
            b'0'..=b'9' => {
                // A digit after a leading `0` is a leading zero; four digits are too many.
                if (digits > 0 && value == 0) || digits == 3 {
                    return None;
                }
                value = value * 10 + u16::from(c - b'0');
                digits += 1;
            }
            b'.' if digits > 0 && done < 3 => {
                octets[done] = u8::try_from(value).ok()?;
                done += 1;
                (value, digits) = (0, 0);
            }
            // The end; a `.` here (a fourth, or after no digit) is a host character,
            // which fails the test below.
            _ => break,
        }
        k += 1;
    }
    if done != 3 || digits == 0 || b.get(k).is_some_and(|&c| is_host_char(c)) {
        return None;
    }
    octets[3] = u8::try_from(value).ok()?;
    Some((Ipv4Addr::from(octets), k))
}

/// [`parse_host`] without its IPv4 shortcut: a run of host characters, classified.
fn parse_host_name(s: &str, i: usize) -> SyntaxResult<(Host<'_>, usize)> {
    let b = s.as_bytes();
    let mut j = i;
    while j < b.len() && is_host_char(b[j]) {
        j += 1;
    }
    if j == i {
        return Err(crate::scan::unexpected(b, i));
    }
    Ok((
        classify_name(&s[i..j]).map_err(|e| SyntaxError::new(i + e.pos, e.kind))?,
        j,
    ))
}

/// Classifies host text without brackets: IPv4 address or domain name.
fn classify_name(t: &str) -> SyntaxResult<Host<'_>> {
    let b = t.as_bytes();
    if b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
        if let Some(a) = dotted_quad(b) {
            return Ok(Host::V4(a));
        }
    }
    if b.first() == Some(&b'.') || b.first() == Some(&b'-') || t.contains("..") {
        return Err(SyntaxError::new(0, ErrorKind::Host));
    }
    Ok(Host::Domain(Cow::Borrowed(t)))
}

/// An IPv4 address in dotted-quad form, as `Ipv4Addr::from_str` reads it (four decimal
/// octets up to 255, no leading zeros), in one pass without its general parser: every
/// relayed message has two or three of them (Via sent-by, `received`, the next hop).
pub(crate) fn dotted_quad(b: &[u8]) -> Option<Ipv4Addr> {
    ipv4_at(b, 0)
        .filter(|&(_, end)| end == b.len())
        .map(|(a, _)| a)
}

/// Parses the text of an IPv6 reference without brackets. Accepts RFC 4291 addresses and,
/// leniently, the RFC 3261 ABNF forms RFC 5118 §4.10 asks to tolerate.
pub(crate) fn parse_ipv6_text(t: &str) -> SyntaxResult<Host<'_>> {
    if let Ok(a) = t.parse::<Ipv6Addr>() {
        return Ok(Host::V6(a));
    }
    let ok = t.len() >= 2
        && t.len() <= 64
        && t.contains(':')
        && t.bytes()
            .all(|c| c.is_ascii_hexdigit() || c == b':' || c == b'.');
    if ok {
        Ok(Host::V6Lenient(Cow::Borrowed(t)))
    } else {
        Err(SyntaxError::new(0, ErrorKind::Host))
    }
}

/// Parses a port (1*DIGIT, at most 65535).
pub(crate) fn parse_port(s: &str) -> SyntaxResult<u16> {
    crate::scan::parse_decimal(s, u64::from(u16::MAX))
        .map(|p| p as u16)
        .map_err(|e| SyntaxError::new(e.pos, ErrorKind::Port))
}

/// Parses `host [":" port]` at `i`; returns the value and the end index.
pub(crate) fn parse_hostport(s: &str, i: usize) -> SyntaxResult<(HostPort<'_>, usize)> {
    let (host, mut j) = parse_host(s, i)?;
    let b = s.as_bytes();
    let mut port = None;
    if b.get(j) == Some(&b':') {
        let start = j + 1;
        let mut k = start;
        while k < b.len() && b[k].is_ascii_digit() {
            k += 1;
        }
        if k == start
            || b.get(k)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b':')
        {
            return Err(SyntaxError::new(start, ErrorKind::Port));
        }
        port = Some(parse_port(&s[start..k]).map_err(|e| SyntaxError::new(start, e.kind))?);
        j = k;
    }
    Ok((HostPort { host, port }, j))
}

/// Parses a Via `received` value: an IPv4 or IPv6 address, the latter with or without
/// brackets (RFC 5118 §4.5 asks receivers to accept both).
pub(crate) fn parse_received(t: &str) -> SyntaxResult<Host<'_>> {
    let inner = t.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
    if let Some(inner) = inner {
        return parse_ipv6_text(inner);
    }
    if t.contains(':') {
        return parse_ipv6_text(t);
    }
    dotted_quad(t.as_bytes())
        .map(Host::V4)
        .ok_or(SyntaxError::new(0, ErrorKind::Host))
}

#[cfg(test)]
mod tests {
    use super::{dotted_quad, parse_host, parse_host_name};
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    #[test]
    fn dotted_quad_reads_what_the_standard_parser_reads() {
        for t in [
            "127.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "256.0.0.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            ".1.2.3",
            "1.2.3.",
            "1.2.3.0000",
            "",
            "999.1.1.1",
            "1.2.3.4 ",
            " 1.2.3.4",
            "+1.2.3.4",
            "1.2.3.04",
            "1.2.3.-4",
            "1.2.3.\u{663}",
            "1.2.3.4\n",
        ] {
            assert_eq!(dotted_quad(t.as_bytes()), t.parse().ok(), "{t:?}");
        }
    }

    proptest! {
        #[test]
        fn dotted_quad_agrees_with_the_standard_parser(t in "[0-9.]{0,17}") {
            prop_assert_eq!(dotted_quad(t.as_bytes()), t.parse::<Ipv4Addr>().ok());
        }

        #[test]
        fn dotted_quad_agrees_on_other_text(t in "[0-9.+ a-f\u{660}-\u{669}-]{0,17}") {
            prop_assert_eq!(dotted_quad(t.as_bytes()), t.parse::<Ipv4Addr>().ok());
        }

        #[test]
        fn the_ipv4_shortcut_reads_a_host_as_the_general_path_does(
            t in "[0-9.]{0,16}[0-9.a-z_:;>-]{0,4}"
        ) {
            prop_assert_eq!(parse_host(&t, 0), parse_host_name(&t, 0));
        }

        #[test]
        fn the_ipv4_shortcut_reads_an_address_and_what_follows_as_the_general_path_does(
            a in any::<u32>(),
            tail in "[0-9.a-z_:;>-]{0,3}"
        ) {
            let t = format!("{}{tail}", Ipv4Addr::from(a));
            prop_assert_eq!(parse_host(&t, 0), parse_host_name(&t, 0));
        }

        #[test]
        fn dotted_quad_reads_every_address(a in any::<u32>()) {
            let ip = Ipv4Addr::from(a);
            prop_assert_eq!(dotted_quad(ip.to_string().as_bytes()), Some(ip));
        }
    }
}
