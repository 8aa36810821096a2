//! "myself" matching (spec §7).

mod common;

use socket_info::{Options, Proto, StaticNetwork};

const CFG: &str = "\
listen=udp:127.0.0.1:5060 advertise 1.2.3.4:5555
listen=udp:[::1]:5062 name \"v6\"
listen=tcp:192.0.2.2:5070
listen=udp:203.0.113.5:5080 virtual
socket={bind=tls:127.0.0.1:5061}
enable_tls=yes
alias=other.org
alias=udp:\"only-udp.org\":5090
listen=udp:localhost:5100
";

#[test]
fn myself_table() {
    let net = common::net();
    let s = common::run_with(CFG, &[], &Options::default(), &net).expect("resolves");
    let p = Some;
    let table: &[(&str, u16, Option<Proto>, bool)] = &[
        ("127.0.0.1", 5060, p(Proto::Udp), true),
        ("127.0.0.1", 5060, None, true),
        ("127.0.0.1", 0, None, true),
        ("127.0.0.1", 5099, p(Proto::Udp), false),
        ("127.0.0.1", 5060, p(Proto::Tcp), false),
        // The advertised name and port count.
        ("1.2.3.4", 5555, p(Proto::Udp), true),
        ("1.2.3.4", 0, None, true),
        ("127.0.0.1", 5555, p(Proto::Udp), true),
        // IPv6 with and without brackets, any spelling.
        ("::1", 5062, p(Proto::Udp), true),
        ("[::1]", 5062, p(Proto::Udp), true),
        ("[0:0:0:0:0:0:0:1]", 5062, p(Proto::Udp), true),
        ("[::2]", 5062, p(Proto::Udp), false),
        // WS searches the TCP then TLS lists; WSS the TLS list.
        ("192.0.2.2", 5070, p(Proto::Ws), true),
        ("127.0.0.1", 5061, p(Proto::Ws), true),
        ("127.0.0.1", 5061, p(Proto::Wss), true),
        ("192.0.2.2", 5070, p(Proto::Wss), false),
        // Virtual: its address is not on a local interface of `net`.
        ("203.0.113.5", 5080, p(Proto::Udp), false),
        // Names: case-insensitive socket names and aliases.
        ("LOCALHOST", 5100, p(Proto::Udp), true),
        ("other.org", 1234, p(Proto::Tcp), true),
        ("OTHER.ORG", 0, None, true),
        ("only-udp.org", 5090, p(Proto::Udp), true),
        ("only-udp.org", 5091, p(Proto::Udp), false),
        ("only-udp.org", 5090, p(Proto::Tcp), false),
        ("example.com", 5060, None, false),
    ];
    for (host, port, proto, want) in table {
        assert_eq!(
            s.is_myself(host, *port, *proto, &net),
            *want,
            "{host}:{port} {proto:?}"
        );
    }
}

#[test]
fn virtual_socket_counts_while_its_address_is_local() {
    let away = common::net();
    let here = common::net().interface("eth0", "203.0.113.5", false);
    let s = common::run_with(CFG, &[], &Options::default(), &away).expect("resolves");
    assert!(!s.is_myself("203.0.113.5", 5080, Some(Proto::Udp), &away));
    assert!(s.is_myself("203.0.113.5", 5080, Some(Proto::Udp), &here));
    let failing = StaticNetwork::new().failing_interfaces();
    assert!(!s.is_myself("203.0.113.5", 5080, Some(Proto::Udp), &failing));
    let sock = s
        .grep_socket("203.0.113.5", 0, None, &here)
        .expect("virtual socket found");
    assert_eq!(sock.sock_str(), "udp:203.0.113.5:5080");
}

#[test]
fn host_port_brackets_ipv6() {
    let s = common::run("listen=udp:[::1]:5062 advertise \"[2001:db8::1]\":5070").expect("ok");
    let sock = &s.sockets[0];
    assert_eq!(sock.host_port().to_string(), "[::1]:5062");
    assert_eq!(sock.sock_str(), "udp:[::1]:5062");
    let adv = sock.advertise.as_ref().expect("advertised");
    assert_eq!(adv.host_port().to_string(), "[2001:db8::1]:5070");
    let s = common::run("listen=udp:[::1]:5062 advertise [2001:db8::1]:5070").expect("ok");
    let adv = s.sockets[0].advertise.as_ref().expect("advertised");
    assert_eq!(adv.name, "2001:db8::1");
    assert_eq!(adv.host_port().to_string(), "[2001:db8::1]:5070");
}
