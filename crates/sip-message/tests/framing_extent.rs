//! `frame_extent` (which measures a well-shaped message without parsing it) gives the same
//! verdict as `frame` (which parses): incomplete, a message of the same length, the same
//! keep-alive, or an error. Over the RFC 4475/5118 torture messages, every prefix of them,
//! two of them back to back, tight limits, and generated streams. And `frame_reusing`
//! (the same in a kept header index) frames all of them as `frame` does.

use proptest::prelude::*;
use sip_message::framing::{frame, frame_extent, frame_reusing, Extent, Frame, KeepAliveRole};
use sip_message::{HeaderIndex, Limits};

const CORPORA: [&str; 2] = [
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus/rfc4475"
    ),
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus/rfc5118"
    ),
];

/// The verdict, by kind and length: messages (well-formed or not) by their length.
#[derive(Debug, PartialEq)]
enum Verdict {
    Message(usize),
    Ping,
    Pong(usize),
    Incomplete,
    Error,
}

fn by_frame(buf: &[u8], limits: &Limits, role: KeepAliveRole) -> Verdict {
    match frame(buf, limits, role) {
        Ok(f @ Frame::Message(_)) => Verdict::Message(f.len()),
        Ok(Frame::Malformed { len, .. }) => Verdict::Message(len),
        Ok(Frame::Ping) => Verdict::Ping,
        Ok(Frame::Pong { len }) => Verdict::Pong(len),
        Ok(Frame::Incomplete) => Verdict::Incomplete,
        Err(_) => Verdict::Error,
    }
}

fn by_extent(buf: &[u8], limits: &Limits, role: KeepAliveRole) -> Verdict {
    match frame_extent(buf, limits, role) {
        Ok(Extent::Message(len) | Extent::Malformed { len, .. }) => Verdict::Message(len),
        Ok(Extent::Ping) => Verdict::Ping,
        Ok(Extent::Pong(len)) => Verdict::Pong(len),
        Ok(Extent::Incomplete) => Verdict::Incomplete,
        Err(_) => Verdict::Error,
    }
}

fn tight() -> Limits {
    Limits {
        max_header_size: 300,
        max_message_size: 400,
        max_headers: 8,
    }
}

fn assert_same(buf: &[u8]) {
    for limits in [Limits::default(), tight()] {
        for role in [KeepAliveRole::Server, KeepAliveRole::Client] {
            assert_eq!(
                by_extent(buf, &limits, role),
                by_frame(buf, &limits, role),
                "{limits:?} {role:?} {:?}",
                String::from_utf8_lossy(buf)
            );
        }
    }
}

fn corpus() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for dir in CORPORA {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir}: {e}"));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.extension().is_some_and(|x| x == "sip") {
                out.push(std::fs::read(&path).expect("corpus file"));
            }
        }
    }
    assert!(
        out.len() > 40,
        "the torture corpora are beside the repository"
    );
    out
}

#[test]
fn the_torture_messages_and_all_their_prefixes_frame_alike() {
    let messages = corpus();
    let mut fast = 0;
    for m in &messages {
        for end in 0..=m.len() {
            assert_same(&m[..end]);
        }
        let mut two = m.clone();
        two.extend_from_slice(b"\r\n");
        two.extend_from_slice(m);
        assert_same(&two);
        if matches!(
            frame_extent(m, &Limits::default(), KeepAliveRole::Server),
            Ok(Extent::Message(_))
        ) {
            fast += 1;
        }
    }
    // Most of them are measured without a parse (else the fast path is not being tested).
    assert!(fast > messages.len() / 2, "{fast} of {}", messages.len());
}

#[test]
fn framing_in_a_kept_index_frames_as_framing_afresh() {
    let mut index = HeaderIndex::default();
    for m in corpus() {
        for end in (0..=m.len()).step_by(7).chain([m.len()]) {
            let buf = &m[..end];
            for limits in [Limits::default(), tight()] {
                let role = KeepAliveRole::Server;
                let fresh = frame(buf, &limits, role);
                let reused = frame_reusing(buf, &limits, role, &mut index);
                assert_eq!(
                    format!("{fresh:?}"),
                    format!("{reused:?}"),
                    "{:?}",
                    String::from_utf8_lossy(buf)
                );
                if let Ok(Frame::Message(m)) = reused {
                    m.recycle(&mut index);
                }
            }
        }
    }
}

#[test]
fn a_bare_lf_blank_line_ends_the_header_section_first() {
    // The header section ends at the LF LF; the CRLFCRLF further on is in the body.
    for buf in [
        &b"INVITE sip:a SIP/2.0\r\nContent-Length: 5\r\n\nhello\r\n\r\n"[..],
        b"INVITE sip:a SIP/2.0\nContent-Length: 12\n\nabc\r\n\r\nmore octets",
        b"SIP/2.0 200 OK\nl: 3\n\nabc\r\n\r\n",
        b"A sip:a SIP/2.0\nl: 0\n\nB\r\n\r\n",
        b"A sip:a SIP/2.0\nl: 5\n\nB\r\n\r\n",
        // Pipelined: the OPTIONS must not be swallowed into the INVITE's frame.
        b"INVITE sip:a SIP/2.0\r\nl: 0\r\n\nOPTIONS sip:b SIP/2.0\r\n\r\n",
    ] {
        assert_same(buf);
        for end in 0..=buf.len() {
            assert_same(&buf[..end]);
        }
    }
}

fn piece() -> impl Strategy<Value = &'static [u8]> {
    prop::sample::select(vec![
        &b"INVITE sip:a@example.com SIP/2.0\r\n"[..],
        b"SIP/2.0 200 OK\r\n",
        b"Via: SIP/2.0/TCP h;branch=z9hG4bK1\r\n",
        b"Content-Length: 5\r\n",
        b"content-length : 0\r\n",
        b"l: 3\r\n",
        b"Content-Length: +5\r\n",
        b"Content-Length: 99999999999999999999999\r\n",
        b"Content-Length: 500\r\n",
        b"Content-Length:\r\n 5\r\n",
        b"Content-Length: 5\n",
        b"\n\n",
        b"abc\r\n\r\n",
        b"Bad Header: x\r\n",
        b"NoColon\r\n",
        b" folded\r\n",
        b"\r\n",
        b"\n",
        b"\r",
        b"hello",
        b"\x01",
        "\u{e9}".as_bytes(),
        b"\xff",
        b"x",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn generated_streams_frame_alike(pieces in prop::collection::vec(piece(), 0..16)) {
        let buf = pieces.concat();
        assert_same(&buf);
    }

    /// Shaped like a message: a start line, header lines, a line end, then anything.
    #[test]
    fn generated_messages_frame_alike(
        start in prop::sample::select(vec![
            &b"INVITE sip:a@example.com SIP/2.0"[..],
            b"SIP/2.0 180 Ringing",
        ]),
        headers in prop::collection::vec(piece(), 0..6),
        end in prop::sample::select(vec![&b"\r\n"[..], b"\n", b"\r\n\r\n", b"\n\n"]),
        tail in prop::collection::vec(piece(), 0..6),
    ) {
        let buf = [&[start, &b"\r\n"[..]][..], &headers, &[end], &tail].concat().concat();
        assert_same(&buf);
    }
}
