//! Local replies (`sl_send_reply`): built from the request as RFC 3261 §8.2.6 asks, and sent
//! back as §18.2.2 says.

use std::fmt::Write;
use std::net::SocketAddr;

use sip_message::{HeaderName, Message, Rport};

use crate::Incoming;

/// The reply bytes: status line; the request's Via, From, To (with our tag when it has
/// none), Call-ID and CSeq lines in the request's order, the top Via with `received` and
/// `rport` filled in (as Kamailio's sl writes them); the headers added with
/// `append_to_reply`; Server; `Content-Length: 0`.
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
    let has_tag = msg.to().ok().flatten().is_some_and(|t| t.tag().is_some());
    for h in msg.headers() {
        match h.name {
            HeaderName::Via if first_via => {
                first_via = false;
                let _ = write!(out, "Via: {}\r\n", top_via_value(h.value(), msg, inc));
            }
            HeaderName::To if !has_tag && code != 100 => {
                let _ = write!(out, "{}: {};tag={to_tag}\r\n", h.name_str(), h.value());
            }
            HeaderName::Via
            | HeaderName::From
            | HeaderName::To
            | HeaderName::CallId
            | HeaderName::CSeq => {
                let _ = write!(out, "{}: {}\r\n", h.name_str(), h.value());
            }
            _ => {}
        }
    }
    for h in extra_headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("Server: siprouter\r\nContent-Length: 0\r\n\r\n");
    out.into_bytes()
}

/// The top Via of the request with `received` (when the sent-by is not the source address,
/// or the sender asked for `rport`: RFC 3581 §4) and the value of an empty `rport` filled in.
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
    let asked_rport = !matches!(via.rport, Rport::Absent);
    if (asked_rport || via.sent_by.host.ip() != Some(inc.source.ip())) && via.received.is_none() {
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

/// Where a reply to the request goes: the source address, with the port from `rport` (the
/// source port), else the sent-by port, else 5060. `force_rport()` makes every reply go to
/// the source port, as if the Via had `rport`.
pub(crate) fn reply_destination(
    msg: &Message<'_>,
    inc: &Incoming<'_>,
    force_rport: bool,
) -> SocketAddr {
    let ip = inc.source.ip();
    let port = match msg.top_via() {
        Ok(Some(via)) => match via.rport {
            Rport::Absent if !force_rport => via.sent_by.port.unwrap_or(5060),
            _ => inc.source.port(),
        },
        _ => inc.source.port(),
    };
    if inc.conn.is_some() {
        return inc.source;
    }
    SocketAddr::new(ip, port)
}

/// A `400 Bad Request` for a request that does not parse (RFC 4475 §3.1.2: a Content-Length
/// past the end of the datagram, a negative one, …), built from the raw header lines: the
/// request line must look like one (not a response, not ACK, which is never answered) and the
/// Via, From, To, Call-ID and CSeq lines are copied as they are (folded lines included).
/// `None` when there is no Via to answer along, or when the copied lines would make a reply
/// that does not parse either. The parse error goes into a `Warning`.
pub(crate) fn salvage_bad_request(data: &[u8], why: &str) -> Option<Vec<u8>> {
    let head_end = memchr::memmem::find(data, b"\r\n\r\n").map_or(data.len(), |i| i + 2);
    let head = std::str::from_utf8(&data[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?;
    let mut words = request_line.split(' ');
    let method = words.next()?;
    if method.is_empty()
        || method.starts_with("SIP/")
        || method == "ACK"
        || !method.bytes().all(|b| b.is_ascii_graphic())
    {
        return None;
    }
    let mut copied = String::with_capacity(head.len());
    let mut keep = false;
    let mut has_via = false;
    for line in lines {
        if line.starts_with([' ', '\t']) {
            if keep {
                copied.push_str(line);
            }
            continue;
        }
        if keep {
            copied.push_str("\r\n");
        }
        let name = line.split(':').next().unwrap_or("").trim();
        keep = ["via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"]
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name));
        if keep {
            has_via |= name.eq_ignore_ascii_case("via") || name.eq_ignore_ascii_case("v");
            copied.push_str(line);
        }
    }
    if keep {
        copied.push_str("\r\n");
    }
    if !has_via {
        return None;
    }
    let warning: String = why
        .chars()
        .map(|c| if c == '"' || c.is_control() { '\'' } else { c })
        .collect();
    let mut out = String::with_capacity(copied.len() + 128);
    out.push_str("SIP/2.0 400 Bad Request\r\n");
    out.push_str(&copied);
    let _ = write!(
        out,
        "Warning: 399 siprouter \"{warning}\"\r\nServer: siprouter\r\nContent-Length: 0\r\n\r\n"
    );
    // Copied lines may hold what broke the request (a bare LF, a control byte): a reply
    // that would not parse itself is not sent.
    Message::parse(out.as_bytes()).ok()?;
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::salvage_bad_request;

    #[test]
    fn an_unparsable_request_is_answered_from_its_raw_headers() {
        let req = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n ;folded=1\r\n\
                    Max-Forwards: 70\r\nf: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\ni: c1\r\n\
                    CSeq: 1 INVITE\r\nContent-Length: 9999\r\n\r\nshort";
        let reply = salvage_bad_request(req, "body \"short\"").expect("a reply");
        assert_eq!(
            String::from_utf8_lossy(&reply),
            "SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1 ;folded=1\r\n\
             f: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\ni: c1\r\nCSeq: 1 INVITE\r\n\
             Warning: 399 siprouter \"body 'short'\"\r\nServer: siprouter\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn responses_acks_and_requests_without_via_are_not_answered() {
        assert!(salvage_bad_request(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n", "e").is_none());
        assert!(salvage_bad_request(b"ACK sip:a SIP/2.0\r\nVia: x\r\n\r\n", "e").is_none());
        assert!(salvage_bad_request(b"BYE sip:a SIP/2.0\r\nTo: x\r\n\r\n", "e").is_none());
        assert!(salvage_bad_request(b"\xff\xfe", "e").is_none());
    }
}
