//! Fuzz harness shared by `fuzz/fuzz_targets/parse_edit.rs` and the proptests.
//!
//! [`roundtrip`] must never panic on any input unless it found a bug: every check in it
//! is an invariant of the crate.

use std::net::{IpAddr, Ipv6Addr};

use crate::edit::Editor;
use crate::framing::{Frame, KeepAliveRole, StreamFramer};
use crate::host_port::{Host, HostPort};
use crate::message::{Limits, Message};

/// What [`roundtrip`] did, so tests can check that it exercised something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Report {
    /// The input parsed as a datagram.
    pub parsed: bool,
    /// Number of edits accepted by the editor.
    pub edits: usize,
    /// Number of frames the stream framer produced.
    pub frames: usize,
}

fn frames_of(data: &[u8], chunk: usize) -> (Vec<(u8, usize)>, bool) {
    let limits = Limits {
        max_header_size: 4096,
        max_message_size: 8192,
        max_headers: 64,
    };
    let mut f = StreamFramer::new(limits, KeepAliveRole::Server);
    let mut out = Vec::new();
    for part in data.chunks(chunk.max(1)) {
        f.push(part);
        loop {
            match f.next_frame() {
                Ok(Some(fr)) => {
                    let kind = match &fr {
                        Frame::Message(m) => {
                            assert!(m.as_bytes().len() <= limits.max_message_size);
                            0
                        }
                        Frame::Ping => 1,
                        Frame::Pong { .. } => 2,
                        Frame::Incomplete => 3,
                        Frame::Malformed { len, .. } => {
                            assert!(*len <= limits.max_message_size);
                            4
                        }
                    };
                    out.push((kind, fr.len()));
                }
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
        assert!(f.buffered() <= limits.max_message_size + chunk);
    }
    (out, false)
}

/// Parses `data` as a datagram and as a stream (in one read and in small reads), applies
/// edits chosen from the input, rebuilds, re-parses the output and checks that the edits
/// are reflected. Panics on any broken invariant.
pub fn roundtrip(data: &[u8]) -> Report {
    let mut report = Report::default();
    let sel = data.last().copied().unwrap_or(0);

    // Framing does not depend on read boundaries.
    let whole = frames_of(data, data.len());
    let chunked = frames_of(data, usize::from(sel % 13) + 1);
    assert_eq!(whole, chunked, "framing depends on read boundaries");
    report.frames = whole.0.len();

    let Ok(msg) = Message::parse(data) else {
        return report;
    };
    report.parsed = true;
    // Lazy accessors never panic; their results are not needed here.
    let _ = msg.check_syntax();
    let _ = msg.vias().count();
    let _ = (
        msg.from(),
        msg.to(),
        msg.cseq(),
        msg.call_id(),
        msg.contacts(),
        msg.routes(),
    );
    let _ = (
        msg.request_uri(),
        msg.content_type(),
        msg.expires(),
        msg.record_routes(),
    );
    assert_eq!(
        Editor::new(&msg).finish(),
        msg.as_bytes(),
        "unedited output differs"
    );

    let mut ed = Editor::new(&msg);
    let v6 = HostPort::new(
        Host::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        Some(5060),
    );
    let v4 = HostPort::new(Host::V4([192, 0, 2, 1].into()), Some(5060));
    let via_ok = sel & 1 != 0 && ed.insert_via("UDP", &v6, "z9hG4bKfuzz", ";rport").is_ok();
    let rr_ok = sel & 2 != 0 && ed.prepend_record_route(&v4, "lr").is_ok();
    let hdr_ok = sel & 4 != 0 && ed.add_header("X-Fuzz", "yes").is_ok();
    let body_ok = sel & 8 != 0;
    if body_ok {
        ed.append_body(b"xyz");
    }
    let mf = if sel & 16 != 0 {
        ed.decrement_max_forwards(70).ok()
    } else {
        None
    };
    let ruri_ok = sel & 32 != 0 && ed.set_request_uri("sip:fuzz@[2001:db8::2]:5080").is_ok();
    let removed = if sel & 64 != 0 {
        ed.remove_headers("Subject")
    } else {
        0
    };
    let received = sel & 128 != 0 && ed.set_via_received(IpAddr::V6(Ipv6Addr::LOCALHOST)).is_ok();
    report.edits = [
        via_ok,
        rr_ok,
        hdr_ok,
        body_ok,
        mf.is_some(),
        ruri_ok,
        removed > 0,
        received,
    ]
    .iter()
    .filter(|b| **b)
    .count();
    let out = ed.finish();

    let re = match Message::parse(&out) {
        Ok(m) => m,
        Err(e) => panic!(
            "edited output does not parse: {e}\n{}",
            String::from_utf8_lossy(&out)
        ),
    };
    if via_ok {
        let top = re.top_via().ok().flatten().expect("inserted Via parses");
        assert_eq!(top.branch, Some("z9hG4bKfuzz"));
        assert_eq!(top.sent_by.to_string(), "[2001:db8::1]:5060");
    }
    if rr_ok {
        // Only the inserted header is ours to check: the input may carry malformed
        // Record-Route headers of its own, which make the full list fail to parse.
        let first = re.headers().iter().find(|h| h.is("Record-Route"));
        assert_eq!(first.map(|h| h.value()), Some("<sip:192.0.2.1:5060;lr>"));
    }
    if hdr_ok {
        assert!(re
            .headers()
            .iter()
            .any(|h| h.is("X-Fuzz") && h.value() == "yes"));
    }
    if body_ok {
        assert!(re.body().ends_with(b"xyz"));
        assert_eq!(re.body().len(), msg.body().len() + 3);
        if !re.has_conflicting_content_length() {
            assert_eq!(re.content_length(), Some(re.body().len()));
        }
    }
    if let Some(n) = mf {
        assert_eq!(re.max_forwards().ok().flatten(), Some(n));
    }
    if ruri_ok {
        assert_eq!(re.request_uri_str(), Some("sip:fuzz@[2001:db8::2]:5080"));
    }
    if removed > 0 {
        assert!(re.header_str("Subject").is_none());
    }
    if received && !via_ok {
        let top = re.top_via().ok().flatten().expect("edited Via parses");
        assert_eq!(top.received, Some(Host::V6(Ipv6Addr::LOCALHOST)));
    }
    report
}
