//! `-l` parsing (spec §1.6): accepted forms and typed errors.

mod common;

use socket_info::cmdline::{ArgErrorKind, ArgField};
use socket_info::{parse_listen_arg, Error, Options, Proto};

#[test]
fn accepted_forms() {
    // (value, proto, hosts, multihomed, port, advertise (proto, host, port), name)
    type Adv = Option<(Option<Proto>, &'static str, u16)>;
    type Row = (
        &'static str,
        Option<Proto>,
        &'static [&'static str],
        bool,
        u16,
        Adv,
        Option<&'static str>,
    );
    let table: &[Row] = &[
        ("localhost", None, &["localhost"], false, 0, None, None),
        (
            "udp:127.0.0.1:5080",
            Some(Proto::Udp),
            &["127.0.0.1"],
            false,
            5080,
            None,
            None,
        ),
        (
            "UDP:127.0.0.1",
            Some(Proto::Udp),
            &["127.0.0.1"],
            false,
            0,
            None,
            None,
        ),
        ("eth0:5062", None, &["eth0"], false, 5062, None, None),
        ("[::1]:5070", None, &["[::1]"], false, 5070, None, None),
        (
            "tcp:[2001:db8::1]",
            Some(Proto::Tcp),
            &["[2001:db8::1]"],
            false,
            0,
            None,
            None,
        ),
        (
            "udp:127.0.0.1:5080/1.2.3.4:5060",
            Some(Proto::Udp),
            &["127.0.0.1"],
            false,
            5080,
            Some((None, "1.2.3.4", 5060)),
            None,
        ),
        (
            "udp:127.0.0.1:5080//local",
            Some(Proto::Udp),
            &["127.0.0.1"],
            false,
            5080,
            None,
            Some("local"),
        ),
        (
            "udp:127.0.0.1:5080/tcp:[::1]:5060/local/ignored",
            Some(Proto::Udp),
            &["127.0.0.1"],
            false,
            5080,
            Some((Some(Proto::Tcp), "[::1]", 5060)),
            Some("local"),
        ),
        (
            "sctp:(eth0)",
            Some(Proto::Sctp),
            &["eth0"],
            true,
            0,
            None,
            None,
        ),
        (
            "(eth0, eth1, 127.0.0.1):5065",
            None,
            &["eth0", "eth1", "127.0.0.1"],
            true,
            5065,
            None,
            None,
        ),
        (
            "(a;b\tc  d)",
            None,
            &["a", "b", "c", "d"],
            true,
            0,
            None,
            None,
        ),
    ];
    for (text, proto, hosts, mh, port, adv, name) in table {
        let a = parse_listen_arg(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(a.proto, *proto, "{text}");
        assert_eq!(a.hosts, *hosts, "{text}");
        assert_eq!(a.multihomed, *mh, "{text}");
        assert_eq!(a.port, *port, "{text}");
        let got_adv = a
            .advertise
            .as_ref()
            .map(|x| (x.proto, x.host.as_str(), x.port));
        assert_eq!(got_adv, *adv, "{text}");
        assert_eq!(a.name.as_deref(), *name, "{text}");
    }
}

#[test]
fn errors() {
    use ArgErrorKind::*;
    let table: &[(&str, ArgField, ArgErrorKind)] = &[
        ("", ArgField::Address, Empty),
        ("udp:1.2.3.4:5060:1", ArgField::Address, TooManyColons),
        ("udp:", ArgField::Address, TooManyColons),
        ("::1", ArgField::Address, BadProtocol("".into())),
        (":::1", ArgField::Address, TooManyColons),
        ("[[::1]]:5060", ArgField::Address, TooManyBrackets),
        ("::1]", ArgField::Address, TooManyBrackets),
        ("ws:1.2.3.4", ArgField::Address, BadProtocol("ws".into())),
        (
            "foo:1.2.3.4:5060",
            ArgField::Address,
            BadProtocol("foo".into()),
        ),
        ("udp:1.2.3.4:50x", ArgField::Address, BadPort("50x".into())),
        ("1.2.3.4:99999", ArgField::Address, BadPort("99999".into())),
        ("()", ArgField::Address, BadAddressList),
        ("( , )", ArgField::Address, BadAddressList),
        ("(a, b", ArgField::Address, BadAddressList),
        ("1.2.3.4/", ArgField::Advertise, EmptyField),
        ("1.2.3.4/a:b:c:d", ArgField::Advertise, TooManyColons),
        ("1.2.3.4/1.2.3.4:5060/", ArgField::SocketName, EmptyField),
    ];
    for (text, field, kind) in table {
        let e = parse_listen_arg(text).expect_err(text);
        assert_eq!((&e.field, &e.kind), (field, kind), "{text}");
        assert_eq!(e.arg, *text);
    }
    let e = parse_listen_arg("1.2.3.4/").expect_err("bad");
    assert_eq!(
        e.to_string(),
        "listen value with invalid advertise: 1.2.3.4/ (empty field)"
    );
}

#[test]
fn disabled_protocols_are_rejected_at_build_time() {
    let cases: &[(&str, &str, Proto, ArgField)] = &[
        ("", "tls:127.0.0.1", Proto::Tls, ArgField::Address),
        (
            "disable_tcp=1",
            "tcp:127.0.0.1",
            Proto::Tcp,
            ArgField::Address,
        ),
        (
            "disable_tcp=1\nenable_tls=1",
            "tls:127.0.0.1",
            Proto::Tls,
            ArgField::Address,
        ),
        // SCTP "auto" counts as disabled for -l.
        ("", "sctp:127.0.0.1", Proto::Sctp, ArgField::Address),
        (
            "",
            "udp:127.0.0.1/tls:1.2.3.4:5061",
            Proto::Tls,
            ArgField::Advertise,
        ),
    ];
    for (cfg, arg, proto, field) in cases {
        let err =
            common::run_with(cfg, &[arg], &Options::default(), &common::net()).expect_err(arg);
        match err {
            Error::CommandLine(e) => {
                assert_eq!(e.kind, ArgErrorKind::DisabledProtocol(*proto), "{arg}");
                assert_eq!(e.field, *field, "{arg}");
            }
            other => panic!("{arg}: unexpected {other:?}"),
        }
    }
    // Enabled explicitly: accepted.
    let opts = Options {
        sctp_supported: true,
        ..Options::default()
    };
    let s = common::run_with("enable_sctp=1", &["sctp:127.0.0.1"], &opts, &common::net())
        .expect("sctp enabled");
    assert_eq!(s.sockets.len(), 1);
}
