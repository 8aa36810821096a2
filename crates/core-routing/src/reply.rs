//! Local replies (`sl_send_reply`): built from the request as RFC 3261 §8.2.6 asks, and sent
//! back as §18.2.2 says.

use std::fmt::Write;
use std::net::SocketAddr;

use sip_message::{HeaderName, Message, Rport};

use crate::Incoming;

/// The reply bytes: status line, the request's Via headers (the top one with `received` and
/// `rport` filled in), From, To (with our tag when it has none), Call-ID, CSeq, the headers
/// added with `append_to_reply`, Server, `Content-Length: 0`.
pub(crate) fn build_reply(
    msg: &Message<'_>,
    inc: &Incoming<'_>,
    code: u16,
    reason: &str,
    to_tag: &str,
    extra_headers: &[String],
) -> Vec<u8> {
    let mut out = String::with_capacity(512);
    let _ = write!(out, "SIP/2.0 {code} {reason}\r\n");
    let mut first_via = true;
    for h in msg.headers() {
        if h.is("Via") {
            if first_via {
                first_via = false;
                let _ = write!(out, "Via: {}\r\n", top_via_value(h.value(), msg, inc));
            } else {
                let _ = write!(out, "Via: {}\r\n", h.value());
            }
        }
    }
    for name in [HeaderName::From, HeaderName::CallId, HeaderName::CSeq] {
        if let Some(h) = msg.header(name) {
            let _ = write!(out, "{}: {}\r\n", h.name_str(), h.value());
        }
    }
    if let Some(h) = msg.header(HeaderName::To) {
        let has_tag = msg.to().ok().flatten().is_some_and(|t| t.tag().is_some());
        if has_tag || code == 100 {
            let _ = write!(out, "{}: {}\r\n", h.name_str(), h.value());
        } else {
            let _ = write!(out, "{}: {};tag={to_tag}\r\n", h.name_str(), h.value());
        }
    }
    for h in extra_headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("Server: siprouter\r\nContent-Length: 0\r\n\r\n");
    out.into_bytes()
}

/// The top Via of the request with `received` (when the sent-by is not the source address)
/// and the value of an empty `rport` filled in.
fn top_via_value(value: &str, msg: &Message<'_>, inc: &Incoming<'_>) -> String {
    let Ok(Some(via)) = msg.top_via() else {
        return value.to_string();
    };
    let mut v = value.trim_end().to_string();
    if matches!(via.rport, Rport::Requested) {
        if let Some(pos) = find_param(&v, "rport") {
            let end = pos + ";rport".len();
            v.replace_range(pos..end, &format!(";rport={}", inc.source.port()));
        }
    }
    if via.sent_by.host.ip() != Some(inc.source.ip()) && via.received.is_none() {
        let _ = write!(v, ";received={}", inc.source.ip());
    }
    v
}

/// The position of `;name` as a whole parameter (followed by `;`, `=`, `,` or the end).
fn find_param(v: &str, name: &str) -> Option<usize> {
    let pat = format!(";{name}");
    v.match_indices(&pat).map(|(i, _)| i).find(|&i| {
        matches!(
            v.as_bytes().get(i + pat.len()),
            None | Some(b';' | b'=' | b',' | b' ')
        )
    })
}

/// Where a reply to the request goes: the source address, with the port from `rport`
/// (the source port), else the sent-by port, else 5060.
pub(crate) fn reply_destination(msg: &Message<'_>, inc: &Incoming<'_>) -> SocketAddr {
    let ip = inc.source.ip();
    let port = match msg.top_via() {
        Ok(Some(via)) => match via.rport {
            Rport::Absent => via.sent_by.port.unwrap_or(5060),
            _ => inc.source.port(),
        },
        _ => inc.source.port(),
    };
    if inc.conn.is_some() {
        return inc.source;
    }
    SocketAddr::new(ip, port)
}
