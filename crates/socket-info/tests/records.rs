//! Record fields, workers, warnings, errors with spans, and the JSON view.

mod common;

use common::{config, net, run, run_with};
use socket_info::{build, dump_json, Error, Flags, Options, Origin, Proto, WarningKind};

fn line_of(sources: &cfg_parser::lexer::SourceMap, span: cfg_parser::ast::Span) -> u32 {
    socket_info::json::location(sources, span)
        .expect("span in map")
        .line
}

#[test]
fn socket_workers_is_one_shot_and_first_socket_only() {
    let s = run("socket_workers=4\nlisten=127.0.0.1\nlisten=udp:127.0.0.1:5070").expect("ok");
    let w: Vec<(Proto, u16, u32)> = s
        .sockets
        .iter()
        .map(|x| (x.proto, x.port, x.workers))
        .collect();
    assert_eq!(
        w,
        [
            (Proto::Udp, 5060, 4),
            (Proto::Udp, 5070, 0),
            (Proto::Tcp, 5060, 0)
        ]
    );
}

#[test]
fn socket_block_workers_reach_every_socket() {
    let s = run("socket={bind=127.0.0.1:6000-6001;workers=3}").expect("ok");
    assert_eq!(s.sockets.len(), 4);
    assert!(s.sockets.iter().all(|x| x.workers == 3));
}

#[test]
fn workers_survive_interface_expansion() {
    let s = run("socket_workers=2\nlisten=udp:lo:5060").expect("ok");
    assert_eq!(s.sockets[0].workers, 2);
}

#[test]
fn agname_vrf_land_on_the_last_protocol_with_a_warning() {
    let s = run("socket={bind=udp:127.0.0.1:5060;agname=\"ag1\";vrf=\"blue\"}").expect("ok");
    assert_eq!(s.sockets[0].agname.as_deref(), Some("ag1"));
    assert_eq!(s.sockets[0].vrf.as_deref(), Some("blue"));
    let s = run("socket={bind=127.0.0.1:5060;agname=\"ag1\"}").expect("ok");
    assert!(
        s.sockets.iter().all(|x| x.agname.is_none()),
        "sctp got it, sctp is off"
    );
    assert!(s.warnings.iter().any(|w| matches!(
        w.kind,
        WarningKind::AttributesOnLastProtoOnly { proto: Proto::Sctp }
    )));
    let long = format!(
        "socket={{bind=udp:127.0.0.1;agname=\"{}\"}}",
        "a".repeat(62)
    );
    assert!(matches!(
        run(&long),
        Err(Error::AgnameTooLong { len: 62, .. })
    ));
}

#[test]
fn record_fields() {
    let s = run(
        "mcast=eth0\nlisten=udp:localhost:5090 advertise tcp:example.com:7000 name \"s1\" virtual",
    )
    .expect("ok");
    let x = &s.sockets[0];
    assert_eq!(x.proto, Proto::Udp);
    assert_eq!(x.configured_name, "localhost");
    assert_eq!(x.name, "localhost");
    assert_eq!(x.address_str(), "127.0.0.1");
    assert_eq!(x.flags, Flags::LO.with(Flags::VIRTUAL));
    assert_eq!(x.socket_name.as_deref(), Some("s1"));
    assert_eq!(x.mcast.as_deref(), Some("eth0"));
    assert_eq!(x.index, Some(0));
    let a = x.advertise.as_ref().expect("advertise");
    assert_eq!(
        (a.proto, a.name.as_str(), a.port),
        (Proto::Tcp, "example.com", 7000)
    );
    assert_eq!(a.address, Some("198.51.100.7".parse().expect("ip")));
    assert!(matches!(x.origin, Origin::Config(_)));
}

#[test]
fn unresolvable_name_is_an_error_with_its_line() {
    let cfg = config("port=5060\nlisten=udp:nowhere.invalid:5060");
    let err = build(&cfg.items, &[], &Options::default(), &net()).expect_err("unresolvable");
    assert!(
        matches!(&err, Error::CouldNotResolve { name, proto: Proto::Udp, .. } if name == "nowhere.invalid")
    );
    assert_eq!(line_of(&cfg.sources, err.span().expect("span")), 2);
    assert_eq!(
        err.render(&cfg.sources),
        "test.cfg:2:1: error: could not resolve 'nowhere.invalid' (fix_socket_list udp failed)"
    );
}

#[test]
fn unresolvable_advertise_is_a_warning_and_the_socket_is_kept() {
    let cfg = config("listen=127.0.0.1:5060 advertise nowhere.invalid:5060");
    let s = build(&cfg.items, &[], &Options::default(), &net()).expect("kept");
    assert_eq!(s.sockets.len(), 2);
    let w: Vec<_> = s
        .warnings
        .iter()
        .filter(|w| matches!(w.kind, WarningKind::AdvertiseUnresolved { .. }))
        .collect();
    assert_eq!(w.len(), 1, "one warning per directive");
    assert_eq!(
        w[0].render(&cfg.sources),
        "test.cfg:1:1: warning: unable to resolve advertised name nowhere.invalid"
    );
}

#[test]
fn non_local_address_is_reported_with_its_line() {
    let cfg = config("listen=udp:127.0.0.1\nlisten=udp:203.0.113.9:5060");
    let s = build(&cfg.items, &[], &Options::default(), &net()).expect("ok");
    let w: Vec<_> = s
        .warnings
        .iter()
        .filter(|w| matches!(w.kind, WarningKind::NonLocalAddress { .. }))
        .collect();
    assert_eq!(w.len(), 1);
    assert_eq!(line_of(&cfg.sources, w[0].span.expect("span")), 2);
    for ok in [
        "listen=udp:203.0.113.9:5060 virtual",
        "ip_free_bind=1\nlisten=udp:203.0.113.9:5060",
        "listen=udp:0.0.0.0:5060",
    ] {
        let s = run(ok).expect("ok");
        assert!(
            !s.warnings
                .iter()
                .any(|w| matches!(w.kind, WarningKind::NonLocalAddress { .. })),
            "{ok}"
        );
    }
}

#[test]
fn duplicate_with_attributes_is_reported() {
    let cfg = config("listen=127.0.0.1\nlisten=udp:127.0.0.1:* virtual");
    let s = build(&cfg.items, &[], &Options::default(), &net()).expect("ok");
    let w = s
        .warnings
        .iter()
        .find(|w| matches!(w.kind, WarningKind::DuplicateRemoved { .. }))
        .expect("warned");
    assert_eq!(line_of(&cfg.sources, w.span.expect("span")), 2);
}

#[test]
fn fatal_errors() {
    // The parser reports a socket block without `bind`; socket-info refuses it as well.
    let cfg = common::config_unchecked("socket={name=\"x\"}");
    assert!(matches!(
        socket_info::build(&cfg.items, &[], &Options::default(), &net()),
        Err(Error::NoBindAddress { .. })
    ));
    // The parser cannot produce a `ws` listen; an AST built by other means is refused.
    let mut cfg = common::config("listen=udp:127.0.0.1");
    if let Some(cfg_parser::ast::Item::Listen(l)) = cfg.items.first_mut() {
        if let Some(p) = l.addrs[0].proto.as_mut() {
            p.value = cfg_parser::ast::Proto::Ws;
        }
    }
    assert!(matches!(
        socket_info::build(&cfg.items, &[], &Options::default(), &net()),
        Err(Error::NotAListenProto {
            proto: Proto::Ws,
            ..
        })
    ));
    assert!(matches!(
        run("enable_sctp=1\nlisten=udp:127.0.0.1"),
        Err(Error::SctpNotSupported { span: Some(_) })
    ));
    assert!(matches!(
        run("bind_ipv6_link_local=3"),
        Err(Error::IncompatibleLinkLocalModes { value: 3, .. })
    ));
    let empty = socket_info::StaticNetwork::new();
    assert!(matches!(
        run_with("", &[], &Options::default(), &empty),
        Err(Error::NoHostname)
    ));
}

#[test]
fn only_disabled_protocols_pass_with_a_warning() {
    let s = run("listen=tls:127.0.0.1").expect("passes, as in Kamailio");
    assert!(s.sockets.is_empty());
    assert!(s
        .warnings
        .iter()
        .any(|w| w.kind == WarningKind::OnlyDisabledProtocols));
}

#[test]
fn auto_bind_falls_back_to_the_host_name() {
    let net = net().failing_interfaces();
    let s = run_with("", &[], &Options::default(), &net).expect("fallback");
    assert_eq!(
        common::lines(&s),
        common::expect(
            &["udp: vm [127.0.0.1]:5060", "tcp: vm [127.0.0.1]:5060"],
            &[]
        )
    );
}

#[test]
fn children_default_and_override() {
    assert_eq!(run("listen=udp:127.0.0.1").expect("ok").children, 8);
    assert_eq!(
        run("children=4\nlisten=udp:127.0.0.1")
            .expect("ok")
            .children,
        4
    );
    let opts = Options {
        children: Some(2),
        ..Options::default()
    };
    assert_eq!(
        run_with("children=4\nlisten=udp:127.0.0.1", &[], &opts, &net())
            .expect("ok")
            .children,
        2
    );
}

#[test]
fn json_dump_is_exact() {
    let cfg = config(
        "port=5060\n  listen=udp:[::1]:5062 advertise 1.2.3.4 name \"v6\"\nsocket={bind=tcp:127.0.0.1:5070;workers=2;virtual=1}",
    );
    let largs = socket_info::parse_listen_args(&["udp:127.0.0.1:5080"]).expect("ok");
    let s = build(&cfg.items, &largs, &Options::default(), &net()).expect("ok");
    let want = r#"[
  {
    "proto": "udp",
    "name": "::1",
    "configured_name": "::1",
    "address": "::1",
    "port": 5062,
    "flags": [
      "ip",
      "lo"
    ],
    "socket_name": "v6",
    "advertise": {
      "proto": "udp",
      "name": "1.2.3.4",
      "port": 5062,
      "address": "1.2.3.4"
    },
    "workers": 0,
    "extra_addresses": [],
    "agname": null,
    "vrf": null,
    "mcast": null,
    "origin": "config",
    "span": {
      "file": "test.cfg",
      "line": 2,
      "column": 3
    }
  },
  {
    "proto": "udp",
    "name": "127.0.0.1",
    "configured_name": "127.0.0.1",
    "address": "127.0.0.1",
    "port": 5080,
    "flags": [
      "ip",
      "lo"
    ],
    "socket_name": null,
    "advertise": null,
    "workers": 0,
    "extra_addresses": [],
    "agname": null,
    "vrf": null,
    "mcast": null,
    "origin": "cmdline",
    "span": null
  },
  {
    "proto": "tcp",
    "name": "127.0.0.1",
    "configured_name": "127.0.0.1",
    "address": "127.0.0.1",
    "port": 5070,
    "flags": [
      "ip",
      "lo",
      "virtual"
    ],
    "socket_name": null,
    "advertise": null,
    "workers": 2,
    "extra_addresses": [],
    "agname": null,
    "vrf": null,
    "mcast": null,
    "origin": "config",
    "span": {
      "file": "test.cfg",
      "line": 3,
      "column": 1
    }
  }
]
"#;
    assert_eq!(dump_json(&s, &cfg.sources), want);
}

#[test]
fn quic_sockets_in_records_and_json() {
    let cfg = config("listen=quic:127.0.0.1:5063\nlisten=quic:[::1] name \"q6\"");
    let s = build(&cfg.items, &[], &Options::default(), &net()).expect("ok");
    let got: Vec<(Proto, String, u16)> = s
        .sockets
        .iter()
        .map(|x| (x.proto, x.address.to_string(), x.port))
        .collect();
    assert_eq!(
        got,
        vec![
            (Proto::Quic, "127.0.0.1".to_owned(), 5063),
            (Proto::Quic, "::1".to_owned(), 5061),
        ]
    );
    assert_eq!(Proto::from_word("QUIC"), Some(Proto::Quic));
    let views = socket_info::json::socket_views(&s, &cfg.sources);
    assert_eq!(views[0].proto, "quic");
    assert_eq!(views[1].socket_name.as_deref(), Some("q6"));
    let json = dump_json(&s, &cfg.sources);
    assert!(
        json.contains("\"proto\": \"quic\",\n    \"name\": \"127.0.0.1\""),
        "{json}"
    );
    assert!(
        json.contains("\"proto\": \"quic\",\n    \"name\": \"::1\""),
        "{json}"
    );
}

#[test]
fn protocol_less_listen_and_auto_bind_create_no_quic_socket() {
    let cfg = config("enable_tls=1\nlisten=127.0.0.1:5090");
    let s = build(&cfg.items, &[], &Options::default(), &net()).expect("ok");
    assert!(s.sockets.iter().all(|x| x.proto != Proto::Quic));
    assert_eq!(s.sockets.len(), 3, "udp, tcp, tls");
    let cfg = config("enable_tls=1");
    let s = build(&cfg.items, &[], &Options::default(), &net()).expect("ok");
    assert!(!s.sockets.is_empty());
    assert!(s.sockets.iter().all(|x| x.proto != Proto::Quic));
}
