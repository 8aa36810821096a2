//! Property tests: `parse(build(edits(msg)))` succeeds and reflects the edits, and the
//! fuzz harness holds on generated and arbitrary input.

use proptest::prelude::*;
use sip_message::fuzzing::roundtrip;
use sip_message::{EditBuffers, Editor, HeaderIndex, HostPort, Message};

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,8}(\\.[a-z]{1,8}){0,2}",
        (0u8..=255, 0u8..=255).prop_map(|(a, b)| format!("192.0.{a}.{b}")),
        (0u16.., 1u16..).prop_map(|(a, b)| format!("[2001:db8::{a:x}:{b:x}]")),
    ]
}

prop_compose! {
    fn message()(
        method in "(INVITE|OPTIONS|REGISTER|BYE|[A-Z]{3,9})",
        user in "[a-z0-9%]{0,3}[a-z0-9]{1,6}".prop_filter("escapes", |u| !u.contains('%')),
        rhost in host(),
        vhosts in proptest::collection::vec((host(), proptest::option::of(1u16..)), 1..4),
        compact in any::<bool>(),
        mf in 1u8..=70,
        with_subject in any::<bool>(),
        with_route in any::<bool>(),
        body in "[a-z=\r\n ]{0,40}",
        cseq in 0u32..,
        sel in any::<u8>(),
    ) -> (Vec<u8>, u8) {
        let mut s = format!("{method} sip:{user}@{rhost} SIP/2.0\r\n");
        for (i, (h, p)) in vhosts.iter().enumerate() {
            let name = if compact && i % 2 == 0 { "v" } else { "Via" };
            let port = p.map(|p| format!(":{p}")).unwrap_or_default();
            s.push_str(&format!("{name}: SIP/2.0/UDP {h}{port};branch=z9hG4bK{i};rport\r\n"));
        }
        s.push_str(&format!("Max-Forwards: {mf}\r\n"));
        s.push_str(&format!("{}: <sip:a@{rhost}>;tag=1\r\n", if compact { "f" } else { "From" }));
        s.push_str("To: \"Bob, Jr\" <sip:b@example.com>\r\n");
        s.push_str(&format!("Call-ID: abc@{rhost}\r\nCSeq: {cseq} {method}\r\n"));
        if with_subject {
            s.push_str("s: hello, world\r\n");
        }
        if with_route {
            s.push_str("Route: <sip:p1.example.com;lr>, <sip:[2001:db8::5];lr>\r\n");
        }
        s.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        let mut b = s.into_bytes();
        b.push(sel);
        // The selector byte is the last byte of the harness input; it is not part of the
        // message as the Content-Length leaves it out.
        (b, sel)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn edits_are_reflected((bytes, sel) in message()) {
        let msg = Message::parse(&bytes).expect("generated message parses");
        msg.check_syntax().expect("generated message is well-formed");
        let report = roundtrip(&bytes);
        prop_assert!(report.parsed);
        // Every selected edit applies to these messages (Subject/Route may be absent).
        let expected = [1u8, 2, 4, 8, 16, 32, 128].iter().filter(|b| sel & **b != 0).count();
        prop_assert!(report.edits >= expected, "{report:?} sel={sel:#x}");
    }

    /// Parsing and editing in memory kept from earlier messages (a header index, an
    /// editor's buffers, an output sent before) gives what parsing and editing afresh gives,
    /// message after message, messages that do not parse included.
    #[test]
    fn recycled_memory_changes_nothing(
        msgs in proptest::collection::vec(
            (message(), any::<prop::sample::Index>(), any::<u8>(), any::<bool>()),
            1..6,
        )
    ) {
        let (mut index, mut bufs, mut spare) = (HeaderIndex::default(), EditBuffers::default(), Vec::new());
        let hp = HostPort::parse("192.0.2.1:5060").expect("host and port");
        for ((mut bytes, sel), pos, byte, mutate) in msgs {
            if mutate {
                let i = pos.index(bytes.len());
                bytes[i] = byte;
            }
            let edit = |ed: &mut Editor<'_, '_>| {
                let _ = ed.insert_via("UDP", &hp, "z9hG4bKrecycled", ";rport");
                if sel & 1 != 0 {
                    let _ = ed.remove_top_via();
                }
                if sel & 2 != 0 {
                    let _ = ed.replace_header("Max-Forwards", "69");
                }
                if sel & 4 != 0 {
                    ed.append_body(b"x");
                }
            };
            match (Message::parse(&bytes), Message::parse_reusing(&bytes, &mut index)) {
                (Ok(fresh), Ok(reused)) => {
                    prop_assert_eq!(format!("{fresh:?}"), format!("{reused:?}"));
                    let mut a = Editor::new(&fresh);
                    edit(&mut a);
                    let mut b = Editor::reusing(&reused, &mut bufs);
                    edit(&mut b);
                    let out = b.finish_reusing(&mut bufs, std::mem::take(&mut spare));
                    prop_assert_eq!(a.finish(), out.clone());
                    spare = out;
                    reused.recycle(&mut index);
                }
                (Err(fresh), Err(reused)) => prop_assert_eq!(fresh.to_string(), reused.to_string()),
                (fresh, reused) => prop_assert!(false, "{:?} against {:?}", fresh.err(), reused.err()),
            }
        }
    }

    #[test]
    fn host_port_write_to_is_its_display(
        text in host(),
        v4 in any::<[u8; 4]>(),
        port in proptest::option::of(any::<u16>()),
    ) {
        let parsed = HostPort::parse(&text).expect("generated host parses");
        let ip = HostPort::from(std::net::IpAddr::from(v4));
        for hp in [HostPort::new(parsed.host, port), HostPort::new(ip.host, port)] {
            let mut out = b"x".to_vec();
            hp.write_to(&mut out);
            prop_assert_eq!(String::from_utf8(out).expect("UTF-8"), format!("x{hp}"));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        roundtrip(&data);
    }

    #[test]
    fn mutated_messages_never_panic((bytes, _) in message(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut b = bytes;
        let i = pos.index(b.len());
        b[i] = byte;
        roundtrip(&b);
    }
}

#[test]
fn corpus_messages_through_harness() {
    for dir in ["rfc4475", "rfc5118"] {
        let d = format!(
            "{}/../../../shared/corpus/{dir}",
            env!("CARGO_MANIFEST_DIR")
        );
        for e in std::fs::read_dir(&d).expect("dir") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "sip") {
                let mut b = std::fs::read(&p).expect("read");
                for sel in [0xffu8, 0x55, 0xaa] {
                    b.push(sel);
                    roundtrip(&b);
                    b.pop();
                }
            }
        }
    }
}

/// Inputs the fuzzer once failed on (`tests/fuzz_regressions/`), replayed through the harness.
#[test]
fn fuzz_regressions() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz_regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("fuzz_regressions folder") {
        let path = entry.expect("dir entry").path();
        let data = std::fs::read(&path).expect("regression input");
        let _ = sip_message::fuzzing::roundtrip(&data);
        n += 1;
    }
    assert!(n >= 1, "no regression inputs found in {dir}");
}
