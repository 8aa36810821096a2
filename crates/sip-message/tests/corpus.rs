//! RFC 4475 and RFC 5118 torture tests, driven by each corpus's `index.tsv`.

use sip_message::validate::{validate_request, validate_response, Policy, ResponseVerdict};
use sip_message::{Editor, Host, Message, Uri};

const RFC4475: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpus/rfc4475"
);
const RFC5118: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpus/rfc5118"
);

/// The one exception table. Messages whose datagram holds octets after the message;
/// the unedited output is the message itself, not the whole file.
const TRAILING_OCTETS: &[(&str, &str)] = &[(
    "dblreq",
    "RFC 4475 §3.1.1.8: one datagram, a REGISTER with Content-Length 0 followed by \
     INVITE-like octets that must be ignored",
)];

/// Expected proxy verdict for the `semantic` messages. `Some(code)`: the code must also
/// appear in the RFC's note. `None`: forward (a proxy "processes normally"; the note's
/// codes, if any, are for endpoints/registrars) or, for responses, drop.
#[derive(Debug, PartialEq)]
enum Expect {
    Reject(u16),
    Forward,
    DropResponse,
}

fn semantic_expectation(name: &str) -> Expect {
    match name {
        "badbranch" | "insuf" | "multi01" | "mcl01" => Expect::Reject(400),
        "unkscm" | "novelsc" => Expect::Reject(416),
        "bext01" => Expect::Reject(420),
        "zeromf" => Expect::Reject(483),
        // Proxy role: the 400/415/401/405/406 in the notes are registrar or endpoint answers.
        "unksm2" | "invut" | "regaut01" | "cparam01" | "cparam02" | "regescrt" | "sdp01" => {
            Expect::Forward
        }
        "bcast" => Expect::DropResponse,
        // RFC 5118 §4.3: parses; 5070 is part of the address.
        "port-ambiguous" => Expect::Forward,
        other => panic!("no expectation for semantic message {other}"),
    }
}

struct Row {
    name: String,
    expectation: String,
    note: String,
    bytes: Vec<u8>,
}

fn load(dir: &str) -> Vec<Row> {
    let index = std::fs::read_to_string(format!("{dir}/index.tsv")).expect("index.tsv");
    let mut rows = Vec::new();
    for line in index.lines().skip(1).filter(|l| !l.is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 5, "bad index row {line}");
        let bytes = std::fs::read(format!("{dir}/{}.sip", cols[0])).expect("message file");
        assert_eq!(bytes.len().to_string(), cols[3], "size of {}", cols[0]);
        rows.push(Row {
            name: cols[0].to_string(),
            expectation: cols[2].to_string(),
            note: cols[4].to_string(),
            bytes,
        });
    }
    rows
}

fn codes_in(note: &str) -> Vec<u16> {
    note.split(|c: char| !c.is_ascii_digit())
        .filter(|t| t.len() == 3)
        .filter_map(|t| t.parse().ok())
        .filter(|c| (400..700).contains(c))
        .collect()
}

fn check_valid(r: &Row) {
    let m = Message::parse(&r.bytes).unwrap_or_else(|e| panic!("{}: {e}", r.name));
    m.check_syntax()
        .unwrap_or_else(|e| panic!("{}: {e}", r.name));
    // Unedited output is byte-for-byte the input.
    let out = Editor::new(&m).finish();
    let whole = !TRAILING_OCTETS.iter().any(|(n, _)| *n == r.name);
    if whole {
        assert_eq!(out, r.bytes, "{}: unedited output differs", r.name);
    } else {
        assert_eq!(out, &r.bytes[..m.consumed()], "{}", r.name);
        assert!(
            m.consumed() < r.bytes.len(),
            "{}: expected trailing octets",
            r.name
        );
    }
    // Every structured accessor works on valid messages.
    let vias: Vec<_> = m
        .vias()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", r.name));
    assert!(!vias.is_empty(), "{}", r.name);
    m.from().unwrap_or_else(|e| panic!("{}: {e}", r.name));
    m.contacts().unwrap_or_else(|e| panic!("{}: {e}", r.name));
    if m.is_request() {
        assert_eq!(
            validate_request(&m, &Policy::default()),
            Ok(()),
            "{}",
            r.name
        );
    } else {
        assert_eq!(
            validate_response(&m),
            ResponseVerdict::Forward,
            "{}",
            r.name
        );
    }
}

fn check_invalid(r: &Row) {
    match Message::parse(&r.bytes) {
        Err(e) => {
            // Typed error with a position inside the message.
            assert!(e.offset <= r.bytes.len(), "{}: {e}", r.name);
        }
        Ok(m) => {
            let e = m.check_syntax().expect_err(&r.name);
            assert!(e.offset <= r.bytes.len() && e.line >= 1, "{}: {e}", r.name);
            if m.is_request() {
                let rej = validate_request(&m, &Policy::default()).expect_err(&r.name);
                let mut allowed = codes_in(&r.note);
                if allowed.is_empty() {
                    allowed.push(400);
                }
                assert!(
                    allowed.contains(&rej.code),
                    "{}: got {} not in {allowed:?}",
                    r.name,
                    rej.code
                );
                assert!(rej.cause.is_some(), "{}", r.name);
            } else {
                assert!(
                    matches!(validate_response(&m), ResponseVerdict::Drop(_)),
                    "{}",
                    r.name
                );
            }
        }
    }
}

fn check_semantic(r: &Row) {
    let m = Message::parse(&r.bytes).unwrap_or_else(|e| panic!("{}: {e}", r.name));
    let expect = semantic_expectation(&r.name);
    match expect {
        Expect::Reject(code) => {
            assert!(
                codes_in(&r.note).contains(&code) || r.name == "mcl01",
                "{}: note lacks {code}",
                r.name
            );
            let rej = validate_request(&m, &Policy::default()).expect_err(&r.name);
            assert_eq!(rej.code, code, "{}: {rej:?}", r.name);
            if code == 420 {
                assert_eq!(
                    rej.unsupported,
                    ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]
                );
            }
        }
        Expect::Forward => {
            assert_eq!(
                validate_request(&m, &Policy::default()),
                Ok(()),
                "{}",
                r.name
            );
        }
        Expect::DropResponse => {
            assert!(
                matches!(validate_response(&m), ResponseVerdict::Drop(_)),
                "{}",
                r.name
            );
        }
    }
    assert_eq!(Editor::new(&m).finish(), r.bytes, "{}", r.name);
}

fn run(dir: &str, expected_total: usize) -> Vec<Row> {
    let rows = load(dir);
    assert_eq!(rows.len(), expected_total);
    for r in &rows {
        match r.expectation.as_str() {
            "valid" => check_valid(r),
            "invalid" => check_invalid(r),
            "semantic" => check_semantic(r),
            other => panic!("{}: unknown expectation {other}", r.name),
        }
    }
    rows
}

#[test]
fn rfc4475_all_49() {
    let rows = run(RFC4475, 49);
    let count = |e: &str| rows.iter().filter(|r| r.expectation == e).count();
    assert_eq!(
        (count("valid"), count("invalid"), count("semantic")),
        (14, 19, 16)
    );
}

#[test]
fn rfc5118_all_12() {
    run(RFC5118, 12);
}

#[test]
fn rfc4475_mcl01_note_says_error() {
    let rows = load(RFC4475);
    let r = rows.iter().find(|r| r.name == "mcl01").expect("mcl01");
    assert!(r.note.contains("respond with error"));
}

fn read(dir: &str, name: &str) -> Vec<u8> {
    std::fs::read(format!("{dir}/{name}.sip")).expect("file")
}

#[test]
fn rfc5118_port_ambiguous_has_no_port() {
    let b = read(RFC5118, "port-ambiguous");
    let m = Message::parse(&b).expect("parse");
    let Some(Uri::Sip(u)) = m.request_uri().expect("uri") else {
        panic!("not sip")
    };
    assert_eq!(u.host_port.port, None);
    assert_eq!(
        u.host_port.host,
        Host::V6("2001:db8::10:5070".parse().expect("ip"))
    );
}

#[test]
fn rfc5118_port_unambiguous() {
    let b = read(RFC5118, "port-unambiguous");
    let m = Message::parse(&b).expect("parse");
    let Some(Uri::Sip(u)) = m.request_uri().expect("uri") else {
        panic!("not sip")
    };
    assert_eq!(u.host_port.port, Some(5070));
    assert_eq!(u.host_port.to_string(), "[2001:db8::10]:5070");
}

#[test]
fn rfc5118_three_colons_tolerated() {
    let b = read(RFC5118, "ipv6-bug-abnf-3-colons");
    let m = Message::parse(&b).expect("parse");
    let Some(Uri::Sip(u)) = m.request_uri().expect("uri") else {
        panic!("not sip")
    };
    assert!(u.host_port.host.is_ipv6());
    assert_eq!(u.host_port.to_string(), "[2001:db8:::192.0.2.1]");
}

#[test]
fn rfc5118_received_with_and_without_brackets() {
    for name in [
        "via-received-param-with-delim",
        "via-received-param-no-delim",
    ] {
        let b = read(RFC5118, name);
        let m = Message::parse(&b).expect("parse");
        let via = m.top_via().expect("via").expect("some");
        assert_eq!(
            via.received,
            Some(Host::V6("2001:db8::9:255".parse().expect("ip"))),
            "{name}"
        );
    }
}

#[test]
fn rfc5118_ipv4_mapped_vias() {
    let b = read(RFC5118, "ipv4-mapped-ipv6");
    let m = Message::parse(&b).expect("parse");
    let v: Vec<_> = m
        .vias()
        .map(|v| v.expect("via").sent_by.to_string())
        .collect();
    assert_eq!(v, ["[::ffff:192.0.2.10]:19823", "[::ffff:192.0.2.2]"]);
}

#[test]
fn rfc4475_dblreq_ignores_trailing_invite() {
    let b = read(RFC4475, "dblreq");
    let m = Message::parse(&b).expect("parse");
    assert_eq!(m.method(), Some("REGISTER"));
    assert!(m.body().is_empty());
}

#[test]
fn rfc4475_longreq_has_34_vias_and_wsinv_folding() {
    let b = read(RFC4475, "longreq");
    let m = Message::parse(&b).expect("parse");
    assert_eq!(m.vias().count(), 34);
    let b = read(RFC4475, "wsinv");
    let m = Message::parse(&b).expect("parse");
    assert_eq!(m.max_forwards().expect("mf"), Some(68));
    assert_eq!(
        m.cseq().expect("cseq").map(|c| (c.seq, c.method)),
        Some((9, "INVITE"))
    );
    let vias: Vec<_> = m.vias().map(|v| v.expect("via")).collect();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[1].transport, "TCP");
    assert_eq!(vias[2].branch, Some("z9hG4bK30239"));
    assert_eq!(
        m.to().expect("to").and_then(|t| t.tag()),
        Some("1918181833n")
    );
    assert_eq!(
        m.from().expect("from").and_then(|t| t.display_name),
        Some("\"J Rosenberg \\\\\\\"\"")
    );
}
