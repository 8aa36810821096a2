//! Unit tests per value parser, the framer, the editor and the validator.

use std::net::IpAddr;

use sip_message::framing::{frame, Frame, KeepAliveRole, StreamFramer};
use sip_message::validate::{validate_request, Policy};
use sip_message::{
    percent_decode, percent_encode_param, CSeq, Editor, ErrorKind, Host, HostPort, Limits,
    MediaType, Message, NameAddr, Rport, Uri, Via,
};

#[test]
fn uri_sip_full() {
    let Uri::Sip(u) =
        Uri::parse("sips:al%69ce:pw@[2001:db8::1]:5061;transport=tcp;lr?subject=hi&x=")
            .expect("uri")
    else {
        panic!("not sip")
    };
    assert!(u.secure);
    assert_eq!(u.user, Some("al%69ce"));
    assert_eq!(&*percent_decode(u.user.expect("user")), b"alice");
    assert_eq!(u.password, Some("pw"));
    assert_eq!(u.host_port.to_string(), "[2001:db8::1]:5061");
    assert_eq!(u.params.get("TRANSPORT"), Some(Some("tcp")));
    assert_eq!(u.params.get("lr"), Some(None));
    assert_eq!(u.headers, Some("subject=hi&x="));
}

#[test]
fn uri_edge_cases() {
    // User part with ';' (RFC 4475 semiuri) and NUL escape (escnull).
    let Uri::Sip(u) = Uri::parse("sip:user;par=u%40example.net@example.com").expect("uri") else {
        panic!()
    };
    assert_eq!(u.user, Some("user;par=u%40example.net"));
    assert_eq!(&*percent_decode("null-%00-null"), b"null-\0-null");
    assert_eq!(percent_encode_param("a`b%c d"), "a%60b%25c%20d");
    assert_eq!(
        &*percent_decode(&percent_encode_param("a`b%c d")),
        b"a`b%c d"
    );
    assert!(matches!(
        percent_encode_param("abc-1.x"),
        std::borrow::Cow::Borrowed(_)
    ));
    assert!(
        Uri::parse("sip:2001:db8::10").is_err(),
        "unbracketed IPv6 (RFC 5118 4.2)"
    );
    assert!(Uri::parse("sip:host:70000").is_err());
    assert!(Uri::parse("sip:us%zzer@host").is_err());
    assert!(Uri::parse("sip:host;;lr").is_err());
    assert!(Uri::parse("sip:host name").is_err());
    assert!(
        matches!(Uri::parse("tel:+1-201-555-0123;phone-context=x").expect("tel"), Uri::Tel(t) if t.number == "+1-201-555-0123")
    );
    assert!(matches!(
        Uri::parse("soap.beep://x").expect("other"),
        Uri::Other {
            scheme: "soap.beep",
            ..
        }
    ));
    assert!(Uri::parse("1abc:x").is_err());
    // Case-insensitive scheme.
    assert!(matches!(Uri::parse("SIP:host").expect("uri"), Uri::Sip(_)));
}

#[test]
fn host_port_renders_ipv6_bracketed() {
    let a: std::net::SocketAddr = "[2001:db8::1]:5060".parse().expect("sa");
    assert_eq!(HostPort::from(a).to_string(), "[2001:db8::1]:5060");
    assert_eq!(
        HostPort::from("192.0.2.1".parse::<IpAddr>().expect("ip")).to_string(),
        "192.0.2.1"
    );
    assert_eq!(
        HostPort::domain("example.com", Some(5)).to_string(),
        "example.com:5"
    );
    assert_eq!(
        HostPort::parse("[::1]").expect("hp").host,
        Host::V6("::1".parse().expect("ip"))
    );
    assert!(HostPort::parse("[::1").is_err());
    assert!(HostPort::parse("[zz::1]").is_err());
    assert!(HostPort::parse("a..b").is_err());
    assert_eq!(
        Host::V6("::1".parse().expect("ip"))
            .unbracketed()
            .to_string(),
        "::1"
    );
}

#[test]
fn via_params() {
    let v = Via::parse("SIP / 2.0 / udp [2001:db8::9:1] : 6050 ;branch=z9hG4bKx;rport;received=[2001:db8::9:255];maddr=224.2.0.1;ttl=16;foo")
        .expect("via");
    assert_eq!((v.protocol, v.version, v.transport), ("SIP", "2.0", "udp"));
    assert_eq!(v.sent_by.to_string(), "[2001:db8::9:1]:6050");
    assert_eq!(v.branch, Some("z9hG4bKx"));
    assert_eq!(v.rport, Rport::Requested);
    assert_eq!(
        v.received,
        Some(Host::V6("2001:db8::9:255".parse().expect("ip")))
    );
    assert_eq!(v.maddr, Some(Host::V4("224.2.0.1".parse().expect("ip"))));
    assert_eq!(v.ttl, Some(16));
    assert!(v.params.contains("FOO"));
    assert_eq!(
        Via::parse("SIP/2.0/TCP h;rport=5070").expect("via").rport,
        Rport::Value(5070)
    );
    assert!(Via::parse("SIP/2.0/UDP h;ttl=300").is_err());
    assert!(Via::parse("SIP/2.0/UDP h;;").is_err());
    assert!(Via::parse("SIP/2.0/UDP h;branch").is_err());
    assert!(Via::parse("SIP/2.0/UDPh").is_err());
    assert!(Via::parse("SIP/2.0/UDP h;received=example.com").is_err());
}

#[test]
fn name_addr_forms() {
    let n = NameAddr::parse("\"Bob, \\\"the\\\" <Builder>\" <sip:bob@h>;tag=a;x").expect("na");
    assert_eq!(n.display_name, Some("\"Bob, \\\"the\\\" <Builder>\""));
    assert_eq!(n.tag(), Some("a"));
    assert!(n.bracketed);
    let n = NameAddr::parse("caller<sip:c@h>;TAG=9").expect("lwsdisp");
    assert_eq!((n.display_name, n.tag()), (Some("caller"), Some("9")));
    let n = NameAddr::parse("sip:c@h;tag=1").expect("addr-spec");
    assert!(!n.bracketed);
    assert_eq!((n.uri_text, n.tag()), ("sip:c@h", Some("1")));
    assert!(NameAddr::parse("\"unterminated <sip:a@b>").is_err());
    assert!(NameAddr::parse("Bell, Alexander <sip:a@b>").is_err());
    assert!(NameAddr::parse("< sip:a@b >").is_err());
    assert!(NameAddr::parse("sip:a@b?Route=x").is_err());
    assert!(NameAddr::parse("<sip:a@b>;;").is_err());
    assert!(NameAddr::parse("<sip:a@b").is_err());
}

#[test]
fn simple_headers() {
    assert_eq!(
        CSeq::parse("0009\r\n  INVITE").expect("cseq"),
        CSeq {
            seq: 9,
            method: "INVITE"
        }
    );
    assert!(CSeq::parse("4294967296 INVITE").is_err());
    assert!(CSeq::parse("1INVITE").is_err());
    let ct = MediaType::parse("multipart/mixed ; boundary=\"a,b\"").expect("ct");
    assert_eq!(
        (ct.type_, ct.subtype, ct.params.get("boundary")),
        ("multipart", "mixed", Some(Some("\"a,b\"")))
    );
    assert_eq!(
        sip_message::headers::parse_max_forwards("0068").expect("mf"),
        68
    );
    assert!(sip_message::headers::parse_max_forwards("256").is_err());
    assert!(sip_message::headers::parse_expires("4294967296").is_err());
    assert!(sip_message::headers::parse_call_id("a@b@c").is_err());
    assert!(
        sip_message::headers::parse_call_id("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{").is_ok()
    );
    let mut l = Vec::new();
    sip_message::headers::parse_token_list("INVITE, ACK ,BYE", &mut l).expect("list");
    assert_eq!(l, ["INVITE", "ACK", "BYE"]);
    assert!(sip_message::headers::parse_token_list("a,,b", &mut l).is_err());
    assert!(sip_message::headers::parse_date("Fri, 01 Jan 2010 16:00:00 GMT").is_ok());
    assert!(sip_message::headers::parse_date("Fri, 01 Jan 2010 16:00:00 EST").is_err());
}

const REQ: &[u8] = b"INVITE sip:b@example.com SIP/2.0\r\nv: SIP/2.0/UDP a.example.com;branch=z9hG4bK1;rport, SIP/2.0/TCP [2001:db8::2]\r\nMax-Forwards: 10\r\nf: <sip:a@example.com>;tag=1\r\nt: sip:b@example.com\r\ni: c1\r\nCSeq: 1 INVITE\r\nRoute: <sip:p1;lr>, <sip:p2;lr>\r\nSubject: x\r\nl: 4\r\n\r\nbodyTRAILING";

#[test]
fn message_compact_multi_value_and_case() {
    let m = Message::parse(REQ).expect("parse");
    assert_eq!(m.body(), b"body");
    assert_eq!(m.vias().count(), 2);
    assert_eq!(m.header_str("CONTENT-LENGTH").map(|h| h.value()), Some("4"));
    assert_eq!(m.header_str("call-id").map(|h| h.value()), Some("c1"));
    assert_eq!(m.routes().expect("routes").len(), 2);
    let e =
        Message::parse(b"INVITE sip:a SIP/2.0\r\nVia SIP/2.0/UDP h\r\n\r\n").expect_err("no colon");
    assert_eq!((e.kind, e.line), (ErrorKind::HeaderLine, 2));
    let e = Message::parse(b"INVITE sip:a SIP/2.0\r\nl: 10\r\n\r\nabc").expect_err("short");
    assert!(matches!(
        e.kind,
        ErrorKind::BodyTruncated {
            declared: 10,
            available: 3
        }
    ));
}

#[test]
fn limits_are_typed_errors() {
    let lim = Limits {
        max_header_size: 64,
        max_message_size: 128,
        max_headers: 2,
    };
    let e = Message::parse_with(REQ, &lim).expect_err("too big");
    assert!(matches!(e.kind, ErrorKind::HeadersTooLarge(64)), "{e}");
    let lim = Limits {
        max_headers: 2,
        ..Limits::default()
    };
    assert!(matches!(
        Message::parse_with(REQ, &lim).expect_err("count").kind,
        ErrorKind::TooManyHeaders(2)
    ));
}

#[test]
fn framing_many_in_one_and_one_in_many() {
    let one = &REQ[..REQ.len() - "TRAILING".len()];
    let mut stream = Vec::new();
    stream.extend_from_slice(b"\r\n\r\n");
    stream.extend_from_slice(one);
    stream.extend_from_slice(b"\r\n");
    stream.extend_from_slice(one);
    for chunk in [1, 3, 7, stream.len()] {
        let mut f = StreamFramer::new(Limits::default(), KeepAliveRole::Server);
        let mut kinds = Vec::new();
        for part in stream.chunks(chunk) {
            f.push(part);
            while let Some(fr) = f.next_frame().expect("frame") {
                kinds.push(match fr {
                    Frame::Message(m) => {
                        assert_eq!(m.as_bytes(), one);
                        "msg"
                    }
                    Frame::Ping => "ping",
                    Frame::Pong { .. } => "pong",
                    Frame::Incomplete => "incomplete",
                    Frame::Malformed { .. } => "malformed",
                });
            }
        }
        assert_eq!(kinds, ["ping", "msg", "pong", "msg"], "chunk {chunk}");
        assert_eq!(f.buffered(), 0);
    }
    assert!(matches!(
        frame(b"\r\n", &Limits::default(), KeepAliveRole::Client),
        Ok(Frame::Pong { len: 2 })
    ));
    assert!(matches!(
        frame(b"\r\n", &Limits::default(), KeepAliveRole::Server),
        Ok(Frame::Incomplete)
    ));
}

#[test]
fn framing_errors() {
    let d = Limits::default();
    let e = frame(
        b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n",
        &d,
        KeepAliveRole::Server,
    )
    .expect_err("no CL");
    assert_eq!(e.kind, ErrorKind::MissingContentLength);
    let e = frame(
        b"OPTIONS sip:a SIP/2.0\r\nl: 1\r\nl: 2\r\n\r\nab",
        &d,
        KeepAliveRole::Server,
    )
    .expect_err("conflict");
    assert_eq!(e.kind, ErrorKind::ConflictingContentLength);
    let lim = Limits {
        max_header_size: 64,
        max_message_size: 64,
        max_headers: 8,
    };
    let e = frame(&[b'A'; 100], &lim, KeepAliveRole::Server).expect_err("unbounded");
    assert!(matches!(
        e.kind,
        ErrorKind::HeadersTooLarge(_) | ErrorKind::MessageTooLarge(_)
    ));
    let e = frame(
        b"OPTIONS sip:a SIP/2.0\r\nl: 1000\r\n\r\n",
        &lim,
        KeepAliveRole::Server,
    )
    .expect_err("big");
    assert_eq!(e.kind, ErrorKind::MessageTooLarge(64));
}

#[test]
fn a_malformed_message_with_a_certain_end_keeps_the_stream_in_sync() {
    let d = Limits::default();
    // Two spaces in the request line: not SIP, but the end is known from `l: 2`.
    let bad = b"OPTIONS  sip:a SIP/2.0\r\nVia: x\r\nl: 2\r\n\r\nab";
    let mut stream = bad.to_vec();
    stream.extend_from_slice(b"OPTIONS sip:a SIP/2.0\r\nl: 0\r\n\r\n");
    match frame(&stream, &d, KeepAliveRole::Server) {
        Ok(Frame::Malformed { len, .. }) => assert_eq!(len, bad.len()),
        other => panic!("{other:?}"),
    }
    // Not all of the body yet: wait for it.
    assert!(matches!(
        frame(&bad[..bad.len() - 1], &d, KeepAliveRole::Server),
        Ok(Frame::Incomplete)
    ));
    // Without a single numeric Content-Length the end is unknown: an error.
    for broken in [
        &b"OPTIONS  sip:a SIP/2.0\r\nl: 2\r\nl: 2\r\n\r\nab"[..],
        b"OPTIONS  sip:a SIP/2.0\r\nl: -2\r\n\r\nab",
        b"OPTIONS  sip:a SIP/2.0\r\nVia: x\r\n\r\n",
    ] {
        assert!(frame(broken, &d, KeepAliveRole::Server).is_err());
    }
}

#[test]
fn editor_proxy_edits() {
    let m = Message::parse(REQ).expect("parse");
    let mut ed = Editor::new(&m);
    let me = HostPort::from(
        "[2001:db8::7]:5060"
            .parse::<std::net::SocketAddr>()
            .expect("sa"),
    );
    ed.insert_via("TCP", &me, "z9hG4bKme", "").expect("via");
    ed.set_via_received("192.0.2.9".parse().expect("ip"))
        .expect("received");
    ed.set_via_rport(40000).expect("rport");
    ed.prepend_record_route(&me, "transport=tcp;lr")
        .expect("rr");
    ed.remove_top_route().expect("route");
    ed.set_request_uri("sip:b@[2001:db8::3]:5070")
        .expect("ruri");
    assert_eq!(ed.decrement_max_forwards(70).expect("mf"), 9);
    ed.replace_header("Subject", "y").expect("subject");
    ed.add_header("X-A", "1").expect("add");
    ed.append_body(b"++");
    assert!(ed.add_header("X-B", "1\r\nInjected: 1").is_err());
    let out = ed.finish();
    let r = Message::parse(&out).expect("reparse");
    assert_eq!(r.request_uri_str(), Some("sip:b@[2001:db8::3]:5070"));
    let vias: Vec<_> = r.vias().map(|v| v.expect("via")).collect();
    assert_eq!(vias[0].sent_by.to_string(), "[2001:db8::7]:5060");
    assert_eq!(
        vias[1].received,
        Some(Host::V4("192.0.2.9".parse().expect("ip")))
    );
    assert_eq!(vias[1].rport, Rport::Value(40000));
    assert_eq!(
        r.record_routes().expect("rr")[0].uri_text,
        "sip:[2001:db8::7]:5060;transport=tcp;lr"
    );
    assert_eq!(r.routes().expect("routes").len(), 1);
    assert_eq!(r.max_forwards().expect("mf"), Some(9));
    assert_eq!(r.header_str("subject").map(|h| h.value()), Some("y"));
    assert_eq!(r.body(), b"body++");
    assert_eq!(r.content_length(), Some(6));
    r.check_syntax().expect("valid output");

    // Response: remove our Via (first value of a two-value line).
    let resp = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP me;branch=z9hG4bKa, SIP/2.0/UDP them;branch=z9hG4bKb\r\nl: 0\r\n\r\n";
    let m = Message::parse(resp).expect("resp");
    let mut ed = Editor::new(&m);
    ed.remove_top_via().expect("remove");
    let out = ed.finish();
    assert_eq!(
        out,
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP them;branch=z9hG4bKb\r\nl: 0\r\n\r\n"
    );
}

#[test]
fn editor_script_edits() {
    let m = Message::parse(REQ).expect("parse");
    let text = m.as_bytes();
    let body_at = text.len() - 4;
    let subject = text
        .windows(10)
        .position(|w| w == b"Subject: x")
        .expect("subject");
    let mut ed = Editor::new(&m);
    // A header-section edit keeps Content-Length; a body edit changes it.
    ed.replace_range(subject + 9..subject + 10, b"changed")
        .expect("header range");
    ed.replace_range(body_at..body_at + 2, b"BO-DY")
        .expect("body range");
    assert!(ed.replace_range(body_at - 3..body_at + 1, b"").is_err());
    assert!(ed.replace_range(0..text.len() + 1, b"").is_err());
    ed.insert_header("X-Top", "1", None).expect("top");
    ed.insert_header("X-Before-Cseq", "2", Some("cseq"))
        .expect("before");
    ed.replace_routes(&["<sip:p2;lr>".into(), "<sip:b@example.com>".into()])
        .expect("routes");
    ed.prepend_record_route_uri("sip:in.example;r2=on;lr")
        .expect("rr in");
    ed.prepend_record_route_uri("sip:out.example;r2=on;lr")
        .expect("rr out");
    assert!(ed.prepend_record_route_uri("sip:x>, <sip:y").is_err());
    let out = ed.finish();
    let r = Message::parse(&out).expect("reparse");
    r.check_syntax().expect("valid output");
    assert_eq!(r.header_str("subject").map(|h| h.value()), Some("changed"));
    assert_eq!(r.body(), b"BO-DYdy");
    assert_eq!(r.content_length(), Some(7));
    // Record-Route lines go first, then what was inserted above the first header.
    assert_eq!(r.headers()[0].name_str(), "Record-Route");
    assert_eq!(r.headers()[2].name_str(), "X-Top");
    let names: Vec<_> = r.headers().iter().map(|h| h.name_str()).collect();
    let cseq = names.iter().position(|n| *n == "CSeq").expect("cseq");
    assert_eq!(names[cseq - 1], "X-Before-Cseq");
    let routes: Vec<_> = r
        .routes()
        .expect("routes")
        .into_iter()
        .map(|n| n.uri_text)
        .collect();
    assert_eq!(routes, ["sip:p2;lr", "sip:b@example.com"]);
    let rr: Vec<_> = r
        .record_routes()
        .expect("rr")
        .into_iter()
        .map(|n| n.uri_text)
        .collect();
    assert_eq!(rr, ["sip:out.example;r2=on;lr", "sip:in.example;r2=on;lr"]);
}

#[test]
fn validation_codes() {
    let p = Policy::default();
    let ok = Message::parse(REQ).expect("parse");
    assert_eq!(validate_request(&ok, &p), Ok(()));
    let ext = Policy {
        proxy_extensions: &["foo"],
        ..Policy::default()
    };
    let m = Message::parse(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:a@b>;tag=1\r\nt: <sip:a@b>\r\ni: x\r\nCSeq: 1 OPTIONS\r\nProxy-Require: foo\r\nl: 0\r\n\r\n").expect("m");
    assert_eq!(validate_request(&m, &ext), Ok(()));
    assert_eq!(validate_request(&m, &p).expect_err("420").code, 420);
    let m = Message::parse(b"OPTIONS sip:a@b SIP/3.0\r\nl: 0\r\n\r\n").expect("m");
    assert_eq!(validate_request(&m, &p).expect_err("505").code, 505);
}

#[test]
fn baddn_rejected_for_its_display_names_too() {
    let d = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus/rfc4475/baddn.sip"
    );
    let mut b = std::fs::read(d).expect("baddn");
    b.extend_from_slice(b"\r\n");
    let m = Message::parse(&b).expect("terminated baddn parses structurally");
    let e = m.check_syntax().expect_err("unquoted display name");
    assert_eq!(e.line, 4, "{e}");
}

#[test]
fn prepended_header_goes_above_everything_inserted_before_it() {
    let m = Message::parse(REQ).expect("parse");
    let mut ed = Editor::new(&m);
    ed.prepend_record_route_uri("sip:rr.example;lr")
        .expect("rr");
    ed.prepend_header("X-First", "1").expect("prepend");
    assert!(ed.prepend_header("X-Bad", "1\r\nInjected: 1").is_err());
    let out = ed.finish();
    let r = Message::parse(&out).expect("reparse");
    let names: Vec<_> = r.headers().iter().map(|h| h.name_str()).collect();
    assert_eq!(names[..3], ["X-First", "Record-Route", "v"]);
}

#[test]
fn a_parsed_message_can_be_shared_between_threads() {
    // Fails to compile if a field (such as the top-Via cache) makes `Message` !Send/!Sync.
    fn shareable<T: Send + Sync>() {}
    shareable::<sip_message::Message<'static>>();
}

#[test]
fn a_header_index_entry_stays_at_48_bytes() {
    // `Message::parse` sizes its first index allocation for 20 of these under 1 KiB.
    assert!(std::mem::size_of::<sip_message::Header<'static>>() <= 48);
}
