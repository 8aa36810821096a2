//! Checks a proxy makes before forwarding (RFC 3261 §16.3, RFC 4475).

use crate::error::{ErrorKind, ParseError};
use crate::headers::HeaderName;
use crate::host_port::Host;
use crate::message::Message;
use crate::via::BRANCH_COOKIE;

/// What the proxy supports.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'p> {
    /// Request-URI schemes the proxy can route (compared case-insensitively).
    pub schemes: &'p [&'p str],
    /// Option tags the proxy supports (checked against Proxy-Require).
    pub proxy_extensions: &'p [&'p str],
}

impl Default for Policy<'static> {
    fn default() -> Self {
        Policy {
            schemes: &["sip", "sips", "tel"],
            proxy_extensions: &[],
        }
    }
}

/// Why a request must not be forwarded, and the response to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection<'a> {
    /// Status code (400, 416, 420, 483, 505...).
    pub code: u16,
    /// Reason phrase to send.
    pub reason: &'static str,
    /// The parse error behind a 400/505, if any.
    pub cause: Option<ParseError>,
    /// For 420: the option tags to list in `Unsupported`.
    pub unsupported: Vec<&'a str>,
}

impl Rejection<'_> {
    fn new(code: u16, reason: &'static str) -> Self {
        Rejection {
            code,
            reason,
            cause: None,
            unsupported: Vec::new(),
        }
    }
}

/// What to do with a response a proxy received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseVerdict {
    /// Process it (remove the top Via and forward).
    Forward,
    /// Silently drop it, for this reason.
    Drop(&'static str),
}

fn malformed(e: ParseError) -> Rejection<'static> {
    let (code, reason) = match e.kind {
        ErrorKind::UnsupportedVersion => (505, "Version Not Supported"),
        ErrorKind::CSeqMethodMismatch => (400, "CSeq Method Mismatch"),
        _ => (400, "Bad Request"),
    };
    Rejection {
        code,
        reason,
        cause: Some(e),
        unsupported: Vec::new(),
    }
}

/// Validates a request before forwarding. `Ok(())` means forward; otherwise answer with
/// the returned code. Order of checks: syntax (400/505), mandatory and single-valued
/// headers (400), framing (400), branch (400), URI scheme (416), Max-Forwards (483),
/// Proxy-Require (420).
pub fn validate_request<'a>(msg: &Message<'a>, policy: &Policy<'_>) -> Result<(), Rejection<'a>> {
    if !msg.is_request() {
        return Err(Rejection::new(400, "Not A Request"));
    }
    msg.check_syntax().map_err(malformed)?;
    for (name, reason) in [
        (HeaderName::CallId, "Missing Call-ID"),
        (HeaderName::From, "Missing From"),
        (HeaderName::To, "Missing To"),
        (HeaderName::CSeq, "Missing CSeq"),
        (HeaderName::Via, "Missing Via"),
    ] {
        if msg.header(name).is_none() {
            return Err(Rejection::new(400, reason));
        }
    }
    for (name, reason) in [
        (HeaderName::CallId, "Duplicate Call-ID"),
        (HeaderName::From, "Duplicate From"),
        (HeaderName::To, "Duplicate To"),
        (HeaderName::CSeq, "Duplicate CSeq"),
        (HeaderName::MaxForwards, "Duplicate Max-Forwards"),
        (HeaderName::ContentLength, "Duplicate Content-Length"),
    ] {
        if msg.headers_named(name).nth(1).is_some() {
            let conflicting =
                name == HeaderName::ContentLength && msg.has_conflicting_content_length();
            return Err(Rejection::new(
                400,
                if conflicting {
                    "Conflicting Content-Length"
                } else {
                    reason
                },
            ));
        }
    }
    if let Some(via) = msg.top_via().map_err(malformed)? {
        if via.branch == Some(BRANCH_COOKIE) {
            return Err(Rejection::new(400, "Bad Branch"));
        }
    }
    if let Some(uri) = msg.request_uri().map_err(malformed)? {
        let scheme = uri.scheme();
        if !policy
            .schemes
            .iter()
            .any(|s| s.eq_ignore_ascii_case(scheme))
        {
            return Err(Rejection::new(416, "Unsupported URI Scheme"));
        }
    }
    if msg.max_forwards().map_err(malformed)? == Some(0) {
        return Err(Rejection::new(483, "Too Many Hops"));
    }
    let required = msg
        .token_list(HeaderName::ProxyRequire)
        .map_err(malformed)?;
    let unsupported: Vec<&'a str> = required
        .into_iter()
        .filter(|t| {
            !policy
                .proxy_extensions
                .iter()
                .any(|s| s.eq_ignore_ascii_case(t))
        })
        .collect();
    if !unsupported.is_empty() {
        return Err(Rejection {
            code: 420,
            reason: "Bad Extension",
            cause: None,
            unsupported,
        });
    }
    Ok(())
}

/// Validates a response a proxy received: malformed responses, and responses whose next
/// hop (the second Via) is a broadcast or multicast address (RFC 4475 `bcast`), are
/// dropped.
pub fn validate_response(msg: &Message<'_>) -> ResponseVerdict {
    if msg.is_request() || msg.check_syntax().is_err() {
        return ResponseVerdict::Drop("malformed response");
    }
    let mut vias = msg.vias();
    if !matches!(vias.next(), Some(Ok(_))) {
        return ResponseVerdict::Drop("no Via");
    }
    if let Some(Ok(next)) = vias.next() {
        let bad = match next.received.as_ref().unwrap_or(&next.sent_by.host) {
            Host::V4(a) => a.is_broadcast() || a.is_multicast() || a.is_unspecified(),
            Host::V6(a) => a.is_multicast() || a.is_unspecified(),
            _ => false,
        };
        if bad {
            return ResponseVerdict::Drop("next hop is a broadcast or multicast address");
        }
    }
    ResponseVerdict::Forward
}
