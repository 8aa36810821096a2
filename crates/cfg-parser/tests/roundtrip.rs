//! The printer's property: for every corpus file that parses cleanly,
//! `parse(print(parse(file))) == parse(file)`, spans aside.

mod common;

use cfg_lexer::{FsLoader, LexOptions};
use cfg_parser::{parse_file, parse_str, printer};

/// The AST as JSON with every `span` removed.
fn without_spans(config: &cfg_parser::ast::Config) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.remove("span");
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(config).expect("AST serialises");
    strip(&mut v);
    v
}

/// The path and both values of the first difference between two JSON values.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value::*;
    match (a, b) {
        (Object(x), Object(y)) => x
            .iter()
            .find_map(|(k, v)| match y.get(k) {
                Some(w) => first_difference(v, w, &format!("{path}/{k}")),
                None => Some(format!("{path}/{k}: missing on the right")),
            })
            .or_else(|| (x.len() != y.len()).then(|| format!("{path}: keys differ"))),
        (Array(x), Array(y)) => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, &format!("{path}/{i}")))
            .or_else(|| {
                (x.len() != y.len()).then(|| format!("{path}: {} vs {} elements", x.len(), y.len()))
            }),
        _ => (a != b).then(|| format!("{path}: {a} vs {b}")),
    }
}

#[test]
fn printing_then_parsing_gives_the_same_ast() {
    let mut checked = 0;
    for (name, path) in common::corpus_configs() {
        let first = parse_file(&path, &LexOptions::default(), &FsLoader);
        if first.has_errors() {
            continue;
        }
        let text = printer::print(&first.config);
        let second = parse_str("printed.cfg", &text, &LexOptions::default());
        let errors: Vec<String> = second
            .errors()
            .map(|d| d.render(second.sources()))
            .collect();
        assert!(
            errors.is_empty(),
            "{name}: printed text does not parse: {errors:#?}\n{text}"
        );
        let (a, b) = (without_spans(&first.config), without_spans(&second.config));
        if let Some(diff) = first_difference(&a, &b, "") {
            panic!("{name}: AST differs after printing at {diff}\n{text}");
        }
        checked += 1;
    }
    assert!(checked > 100, "only {checked} files checked");
}

#[test]
fn a_config_of_null_statements_prints_to_a_valid_config() {
    let parsed = parse_str("semi.cfg", ";", &LexOptions::default());
    assert!(!parsed.has_errors());
    let printed = printer::print(&parsed.config);
    assert!(
        !parse_str("printed.cfg", &printed, &LexOptions::default()).has_errors(),
        "{printed:?}"
    );
}

/// The first address of the first `listen=` of `text` (or the `bind` of the first socket
/// block).
fn first_addr(text: &str) -> cfg_parser::ast::ListenAddr {
    let parsed = parse_str("quic.cfg", text, &LexOptions::default());
    assert!(!parsed.has_errors(), "{text}: {:?}", parsed.diagnostics);
    match parsed.config.items.first() {
        Some(cfg_parser::ast::Item::Listen(l)) => l.addrs[0].clone(),
        Some(cfg_parser::ast::Item::Socket(s)) => s.bind.clone().expect("bind"),
        other => panic!("{text}: unexpected {other:?}"),
    }
}

#[test]
fn quic_is_a_listen_protocol_and_round_trips() {
    use cfg_parser::ast::{HostSpec, PortSpec, Proto};
    for (text, host, port) in [
        ("listen=quic:127.0.0.1:5063\n", "127.0.0.1", Some(5063)),
        ("listen=QUIC:127.0.0.1\n", "127.0.0.1", None),
        ("listen=quic:[::1]\n", "::1", None),
        (
            "listen=quic:sip.example.org:5063\n",
            "sip.example.org",
            Some(5063),
        ),
        (
            "socket={bind=quic:127.0.0.1:5063;}\n",
            "127.0.0.1",
            Some(5063),
        ),
    ] {
        let a = first_addr(text);
        assert_eq!(a.proto.map(|p| p.value), Some(Proto::Quic), "{text}");
        let h = match &a.hosts[0].value {
            HostSpec::Ip(ip) => ip.to_string(),
            HostSpec::Name(n) | HostSpec::Quoted(n) => n.clone(),
        };
        assert_eq!(h, host, "{text}");
        let p = a.port.map(|p| match p.value {
            PortSpec::Number(n) => n,
            PortSpec::Default => 0,
        });
        assert_eq!(p, port, "{text}");
        let parsed = parse_str("quic.cfg", text, &LexOptions::default());
        let printed = printer::print(&parsed.config);
        assert!(printed.contains("quic:"), "{printed}");
        let again = parse_str("printed.cfg", &printed, &LexOptions::default());
        assert_eq!(
            without_spans(&parsed.config),
            without_spans(&again.config),
            "{printed}"
        );
    }
}

#[test]
fn quic_colon_port_keeps_the_kamailio_meaning() {
    // `quic` is not a Kamailio keyword: `quic:5060` is host `quic`, port 5060.
    let a = first_addr("listen=quic:5060\n");
    assert_eq!(a.proto, None);
    assert_eq!(
        a.hosts[0].value,
        cfg_parser::ast::HostSpec::Name("quic".into())
    );
    // QUIC is not an advertise protocol and not a parameter value.
    for bad in [
        "listen=udp:127.0.0.1:5060 advertise quic:1.2.3.4:5060\n",
        "udp_mtu_try_proto=quic\n",
    ] {
        let parsed = parse_str("quic.cfg", bad, &LexOptions::default());
        let is_quic_adv = matches!(
            parsed.config.items.first(),
            Some(cfg_parser::ast::Item::Listen(l))
                if l.advertise.as_ref().is_some_and(|a| a.proto.is_some())
        );
        assert!(!is_quic_adv, "{bad}");
    }
}

/// Control characters and DEL in a string are printed as `\x` escapes (the lexer's own
/// quoting) and read back as the same characters.
#[test]
fn control_characters_and_del_round_trip_as_escapes() {
    let text = "request_route {\n  $var(s) = \"a\\x01b\\x7fc\\td\";\n}\n";
    let parsed = parse_str("ctl.cfg", text, &LexOptions::default());
    assert!(!parsed.has_errors(), "{:?}", parsed.errors().next());
    let printed = printer::print(&parsed.config);
    assert!(printed.contains(r#""a\x01b\x7fc\td""#), "{printed}");
    let again = parse_str("ctl-printed.cfg", &printed, &LexOptions::default());
    assert_eq!(without_spans(&parsed.config), without_spans(&again.config));
}
