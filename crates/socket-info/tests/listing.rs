//! Table-driven tests: config (+ `-l`) → exact listing lines (spec §1.2–§1.6, §2, §3, §5).

mod common;

use common::{expect, lines, net, run_with};
use socket_info::{Options, StaticNetwork};

struct Case {
    name: &'static str,
    cfg: &'static str,
    largs: &'static [&'static str],
    sctp: bool,
    sockets: &'static [&'static str],
    aliases: &'static [&'static str],
}

const fn case(
    name: &'static str,
    cfg: &'static str,
    sockets: &'static [&'static str],
    aliases: &'static [&'static str],
) -> Case {
    Case {
        name,
        cfg,
        largs: &[],
        sctp: false,
        sockets,
        aliases,
    }
}

const LOCAL: &[&str] = &["tcp: localhost:5060", "udp: localhost:5060"];

const CASES: &[Case] = &[
    // ---- §1.2 listen forms
    case(
        "ip only: udp and tcp (tls disabled, sctp unsupported)",
        "listen=127.0.0.1",
        &["udp: 127.0.0.1:5060", "tcp: 127.0.0.1:5060"],
        LOCAL,
    ),
    case(
        "two addresses on one line",
        "listen=udp:127.0.0.1:5070 tcp:127.0.0.1:5071",
        &["udp: 127.0.0.1:5070", "tcp: 127.0.0.1:5071"],
        &["tcp: localhost:5071", "udp: localhost:5070"],
    ),
    case(
        "interface name: one socket per IPv4 address",
        "listen=eth0:5080",
        &["udp: 192.0.2.2:5080", "tcp: 192.0.2.2:5080"],
        &[],
    ),
    case(
        "host name with advertise and name",
        "listen=udp:localhost:5090 advertise 1.2.3.4:5555 name \"s1\"",
        &["udp: localhost [127.0.0.1]:5090 name s1 advertise udp:1.2.3.4:5555"],
        &[],
    ),
    case(
        "advertise with another protocol",
        "listen=tcp:127.0.0.1:6000 advertise udp:example.com:7000",
        &["tcp: 127.0.0.1:6000 advertise udp:example.com:7000"],
        &["tcp: localhost:6000"],
    ),
    case(
        "bracketed IPv6 with name",
        "listen=udp:[::1]:5060 name \"v6\"",
        &["udp: ::1:5060 name v6"],
        &[],
    ),
    case(
        "bare IPv6 without protocol and port",
        "listen=::1",
        &["udp: ::1:5060", "tcp: ::1:5060"],
        &[],
    ),
    case(
        "parenthesised list: separate sockets for udp",
        "listen=udp:(127.0.0.1, 127.0.0.2):5100",
        &["udp: 127.0.0.1:5100", "udp: 127.0.0.2:5100"],
        &["udp: localhost:5100"],
    ),
    case(
        "default port and virtual",
        "listen=udp:127.0.0.1:* virtual",
        &["udp: 127.0.0.1:5060 virtual"],
        &["udp: localhost:5060"],
    ),
    case(
        "star protocol: every enabled protocol",
        "listen=*:127.0.0.1:5065",
        &["udp: 127.0.0.1:5065", "tcp: 127.0.0.1:5065"],
        &["tcp: localhost:5065", "udp: localhost:5065"],
    ),
    case(
        "interface lo with default port: IPv4 only",
        "listen=udp:lo:*",
        &["udp: 127.0.0.1:5060"],
        &["udp: localhost:5060"],
    ),
    case(
        "interface lo with auto_bind_ipv6",
        "auto_bind_ipv6=1\nlisten=udp:lo:*",
        &["udp: 127.0.0.1:5060", "udp: ::1:5060"],
        &["udp: localhost:5060"],
    ),
    case(
        "interface eth0 with auto_bind_ipv6 keeps link-local",
        "auto_bind_ipv6=1\nlisten=udp:eth0",
        &["udp: 192.0.2.2:5060", "udp: fd00::2:5060", "udp: fe80::fc:ff:fe00:1:5060"],
        &[],
    ),
    case(
        "bind_ipv6_link_local=2 skips link-local",
        "auto_bind_ipv6=1\nbind_ipv6_link_local=2\nlisten=udp:eth0",
        &["udp: 192.0.2.2:5060", "udp: fd00::2:5060"],
        &[],
    ),
    case(
        "quoted advertise keeps brackets",
        "listen=udp:127.0.0.1:5060 advertise \"[2001:db8::1]\":5070",
        &["udp: 127.0.0.1:5060 advertise udp:[2001:db8::1]:5070"],
        &["udp: localhost:5060"],
    ),
    case(
        "unquoted advertise loses brackets",
        "listen=udp:127.0.0.1:5060 advertise [2001:db8::1]:5070",
        &["udp: 127.0.0.1:5060 advertise udp:2001:db8::1:5070"],
        &["udp: localhost:5060"],
    ),
    case(
        "virtual with name and advertise",
        "listen=tcp:127.0.0.1:5060 advertise tcp:\"[2001:db8::1]\":5070 name \"x\" virtual",
        &["tcp: 127.0.0.1:5060 virtual name x advertise tcp:[2001:db8::1]:5070"],
        &["tcp: localhost:5060"],
    ),
    case(
        "advertise without port uses the socket port (better than Kamailio's :0)",
        "listen=udp:127.0.0.1:5070 advertise 1.2.3.4",
        &["udp: 127.0.0.1:5070 advertise udp:1.2.3.4:5070"],
        &["udp: localhost:5070"],
    ),
    case(
        "quoted reserved-word host",
        "listen=udp:\"localhost\":5060",
        &["udp: localhost [127.0.0.1]:5060"],
        &[],
    ),
    // ---- §2.3 / §3.3 ports
    case(
        "TLS port rule: protocol-less listen with port → tls port+1",
        "enable_tls=yes\nlisten=127.0.0.1:5070",
        &["udp: 127.0.0.1:5070", "tcp: 127.0.0.1:5070", "tls: 127.0.0.1:5071"],
        &["tls: localhost:5071", "tcp: localhost:5070", "udp: localhost:5070"],
    ),
    case(
        "TLS default port without port",
        "enable_tls=1\nlisten=127.0.0.1",
        &["udp: 127.0.0.1:5060", "tcp: 127.0.0.1:5060", "tls: 127.0.0.1:5061"],
        &["tls: localhost:5061", "tcp: localhost:5060", "udp: localhost:5060"],
    ),
    case(
        "explicit tls keeps its port",
        "enable_tls=1\nlisten=tls:127.0.0.1:5070",
        &["tls: 127.0.0.1:5070"],
        &["tls: localhost:5070"],
    ),
    case(
        "port= before listen applies; tls_port_no too",
        "port=5062\ntls_port_no=5063\nenable_tls=1\nlisten=127.0.0.1",
        &["udp: 127.0.0.1:5062", "tcp: 127.0.0.1:5062", "tls: 127.0.0.1:5063"],
        &["tls: localhost:5063", "tcp: localhost:5062", "udp: localhost:5062"],
    ),
    case(
        "port= after listen still fills port 0 at fix time",
        "listen=udp:127.0.0.1\nport=5070",
        &["udp: 127.0.0.1:5070"],
        &["udp: localhost:5070"],
    ),
    case(
        "port= between two listens: the first keeps the earlier value",
        "port=5062\nlisten=udp:127.0.0.1\nport=5070\nlisten=udp:127.0.0.2",
        &["udp: 127.0.0.1:5062", "udp: 127.0.0.2:5070"],
        &["udp: localhost:5062"],
    ),
    case(
        "tls listen without enable_tls: empty listing (Kamailio quirk, we warn)",
        "listen=tls:127.0.0.1:5061",
        &[],
        &[],
    ),
    case(
        "disable_tcp removes tcp (and tls)",
        "disable_tcp=yes\nenable_tls=yes\nlisten=127.0.0.1",
        &["udp: 127.0.0.1:5060"],
        &["udp: localhost:5060"],
    ),
    // ---- §3.2 resolution, auto_aliases
    case(
        "auto_aliases=no prints ip [ip]",
        "auto_aliases=no\nenable_tls=yes\nlisten=127.0.0.1:5070",
        &[
            "udp: 127.0.0.1 [127.0.0.1]:5070",
            "tcp: 127.0.0.1 [127.0.0.1]:5070",
            "tls: 127.0.0.1 [127.0.0.1]:5071",
        ],
        &[],
    ),
    case(
        "auto_aliases=no with a range and advertise (spec §5)",
        "auto_aliases=no\nsocket={bind=udp:127.0.0.1:6000-6001;advertise=1.2.3.4:7000;name=\"rng\"}",
        &[
            "udp: 127.0.0.1 [127.0.0.1]:6000 name rng6000 advertise udp:1.2.3.4:7000",
            "udp: 127.0.0.1 [127.0.0.1]:6001 name rng6001 advertise udp:1.2.3.4:7001",
        ],
        &[],
    ),
    case(
        "host name with another official name: name replaced, alias added",
        "listen=udp:sip:5060",
        &["udp: sip.example.org [198.51.100.20]:5060"],
        &["udp: pbx.example.org:5060", "udp: sip:5060"],
    ),
    case(
        "0.0.0.0 is any",
        "listen=udp:0.0.0.0:5060",
        &["udp: 0.0.0.0:5060"],
        &[],
    ),
    case(
        "multicast on udp kept, on tcp removed",
        "listen=239.1.1.1:5060",
        &["udp: 239.1.1.1:5060 mcast"],
        &[],
    ),
    // ---- §3.2 step 5 duplicates and aliases
    case(
        "duplicate: later virtual listen is lost",
        "listen=127.0.0.1\nlisten=udp:127.0.0.1:* virtual",
        &["udp: 127.0.0.1:5060", "tcp: 127.0.0.1:5060"],
        LOCAL,
    ),
    case(
        "duplicate by resolution: name becomes an alias",
        "auto_aliases=no\nlisten=udp:127.0.0.1:5060\nlisten=udp:localhost:5060",
        &["udp: 127.0.0.1 [127.0.0.1]:5060"],
        &["udp: localhost:5060"],
    ),
    case(
        "duplicate interface and address",
        "listen=udp:eth0:5060\nlisten=udp:192.0.2.2:5060 name \"lost\"",
        &["udp: 192.0.2.2:5060"],
        &[],
    ),
    case(
        "same address, different ports: no duplicate",
        "listen=udp:127.0.0.1:5060\nlisten=udp:127.0.0.1:5062",
        &["udp: 127.0.0.1:5060", "udp: 127.0.0.1:5062"],
        &["udp: localhost:5062", "udp: localhost:5060"],
    ),
    // ---- §1.4 socket blocks
    case(
        "socket block without protocol: tls port+1",
        "enable_tls=yes\nsocket={bind=127.0.0.1:6100}",
        &["udp: 127.0.0.1:6100", "tcp: 127.0.0.1:6100", "tls: 127.0.0.1:6101"],
        &["tls: localhost:6101", "tcp: localhost:6100", "udp: localhost:6100"],
    ),
    case(
        "socket block range with name and advertise",
        "socket={bind=udp:127.0.0.1:6000-6002;advertise=1.2.3.4:7000;name=\"rng\"}",
        &[
            "udp: 127.0.0.1:6000 name rng6000 advertise udp:1.2.3.4:7000",
            "udp: 127.0.0.1:6001 name rng6001 advertise udp:1.2.3.4:7001",
            "udp: 127.0.0.1:6002 name rng6002 advertise udp:1.2.3.4:7002",
        ],
        &["udp: localhost:6002", "udp: localhost:6001", "udp: localhost:6000"],
    ),
    case(
        "socket block range without advertise",
        "socket={bind=udp:127.0.0.1:6000-6001}",
        &["udp: 127.0.0.1:6000", "udp: 127.0.0.1:6001"],
        &["udp: localhost:6001", "udp: localhost:6000"],
    ),
    case(
        "socket block range whose end is not above the start: one port",
        "socket={bind=udp:127.0.0.1:6000-5000;name=\"one\"}",
        &["udp: 127.0.0.1:6000 name one"],
        &["udp: localhost:6000"],
    ),
    case(
        "socket block virtual and advertise protocol",
        "socket={bind=tcp:127.0.0.1:5080;virtual=1;advertise=udp:example.com:7000}",
        &["tcp: 127.0.0.1:5080 virtual advertise udp:example.com:7000"],
        &["tcp: localhost:5080"],
    ),
    // ---- §7 alias directives
    case(
        "alias directives: most recent first, * and port *",
        "listen=udp:127.0.0.1:5062\nalias=example.org:5060\nalias=udp:other.org\nalias=tcp:localhost:5062",
        &["udp: 127.0.0.1:5062"],
        &[
            "udp: localhost:5062",
            "tcp: localhost:5062",
            "udp: other.org:*",
            "*: example.org:5060",
        ],
    ),
    case(
        "alias list in parentheses adds every name",
        "listen=udp:127.0.0.1\nalias=(a.example, b.example):5060",
        &["udp: 127.0.0.1:5060"],
        &["udp: localhost:5060", "*: b.example:5060", "*: a.example:5060"],
    ),
    // ---- §5 the verified listing example, assembled
    case(
        "spec §5 listing",
        "port=5062\nlisten=127.0.0.1\nlisten=udp:localhost:5090 advertise 1.2.3.4:5555 name \"s1\"\nlisten=udp:[::1]:5060 name \"v6\"\nlisten=tcp:127.0.0.1:6000 advertise udp:example.com:7000",
        &[
            "udp: 127.0.0.1:5062",
            "udp: localhost [127.0.0.1]:5090 name s1 advertise udp:1.2.3.4:5555",
            "udp: ::1:5060 name v6",
            "tcp: 127.0.0.1:5062",
            "tcp: 127.0.0.1:6000 advertise udp:example.com:7000",
        ],
        &["tcp: localhost:6000", "tcp: localhost:5062", "udp: localhost:5062"],
    ),
    // ---- §3.1 auto-bind
    case(
        "nothing configured: auto-bind every IPv4 address (spec default config)",
        "",
        &[
            "udp: 127.0.0.1:5060",
            "udp: 192.0.2.2:5060",
            "tcp: 127.0.0.1:5060",
            "tcp: 192.0.2.2:5060",
        ],
        LOCAL,
    ),
    case(
        "auto-bind with IPv6 skips link-local",
        "auto_bind_ipv6=1\ndisable_tcp=1",
        &["udp: 127.0.0.1:5060", "udp: 192.0.2.2:5060", "udp: ::1:5060", "udp: fd00::2:5060"],
        &["udp: localhost:5060"],
    ),
    // ---- §1.6 -l
    Case {
        largs: &["udp:127.0.0.1:5080/1.2.3.4:5060/local"],
        ..case(
            "-l with advertise and name",
            "",
            &["udp: 127.0.0.1:5080 name local advertise udp:1.2.3.4:5060"],
            &["udp: localhost:5080"],
        )
    },
    Case {
        largs: &["udp:127.0.0.1:5080//local", "udp:127.0.0.1:5081"],
        ..case(
            "-l name is not inherited by the next -l",
            "",
            &["udp: 127.0.0.1:5080 name local", "udp: 127.0.0.1:5081"],
            &["udp: localhost:5081", "udp: localhost:5080"],
        )
    },
    Case {
        largs: &["udp:[::1]:5070"],
        ..case(
            "-l bracketed IPv6 keeps brackets in the name",
            "",
            &["udp: [::1] [::1]:5070"],
            &[],
        )
    },
    Case {
        largs: &["localhost"],
        ..case(
            "-l host name: every protocol",
            "",
            &["udp: localhost [127.0.0.1]:5060", "tcp: localhost [127.0.0.1]:5060"],
            &[],
        )
    },
    Case {
        largs: &["eth0:5062"],
        ..case(
            "-l interface with port",
            "",
            &["udp: 192.0.2.2:5062", "tcp: 192.0.2.2:5062"],
            &[],
        )
    },
    Case {
        largs: &["(eth0, 127.0.0.1):5065"],
        ..case(
            "-l list: separate sockets for udp/tcp",
            "",
            &[
                "udp: 192.0.2.2:5065",
                "udp: 127.0.0.1:5065",
                "tcp: 192.0.2.2:5065",
                "tcp: 127.0.0.1:5065",
            ],
            &["tcp: localhost:5065", "udp: localhost:5065"],
        )
    },
    Case {
        largs: &["udp:127.0.0.1:5080"],
        ..case(
            "-l sockets come after config sockets",
            "listen=udp:127.0.0.1:5070",
            &["udp: 127.0.0.1:5070", "udp: 127.0.0.1:5080"],
            &["udp: localhost:5080", "udp: localhost:5070"],
        )
    },
    Case {
        largs: &["tls:127.0.0.1:5071"],
        ..case(
            "-l tls with enable_tls",
            "enable_tls=yes\nlisten=udp:127.0.0.1",
            &["udp: 127.0.0.1:5060", "tls: 127.0.0.1:5071"],
            &["tls: localhost:5071", "udp: localhost:5060"],
        )
    },
    // ---- SCTP multi-homing
    Case {
        sctp: true,
        ..case(
            "sctp multi-homed list: one socket with extra addresses",
            "listen=sctp:(127.0.0.1, 192.0.2.2):5060",
            &["sctp: (127.0.0.1, 192.0.2.2):5060 mhomed"],
            &["sctp: localhost:5060"],
        )
    },
    Case {
        sctp: true,
        ..case(
            "sctp multi-homed interface list",
            "listen=sctp:(eth0, 127.0.0.1)",
            &["sctp: (192.0.2.2, 127.0.0.1):5060 mhomed"],
            &["sctp: localhost:5060"],
        )
    },
    Case {
        sctp: true,
        ..case(
            "protocol-less list with sctp enabled",
            "listen=(127.0.0.1, 192.0.2.2):5070",
            &[
                "udp: 127.0.0.1:5070",
                "udp: 192.0.2.2:5070",
                "tcp: 127.0.0.1:5070",
                "tcp: 192.0.2.2:5070",
                "sctp: (127.0.0.1, 192.0.2.2):5070 mhomed",
            ],
            &["sctp: localhost:5070", "tcp: localhost:5070", "udp: localhost:5070"],
        )
    },
    Case {
        sctp: true,
        ..case(
            "sctp single address",
            "listen=sctp:127.0.0.1:5090",
            &["sctp: 127.0.0.1:5090"],
            &["sctp: localhost:5090"],
        )
    },
    // ---- QUIC (our extension): explicit only, TLS default port, listed after the others
    case(
        "quic with IPv4 address and port",
        "listen=quic:127.0.0.1:5063",
        &["quic: 127.0.0.1:5063"],
        &["quic: localhost:5063"],
    ),
    case(
        "quic on bracketed IPv6 without port takes the TLS port",
        "listen=quic:[::1]",
        &["quic: ::1:5061"],
        &[],
    ),
    case(
        "quic follows tls_port_no",
        "tls_port_no=5071\nlisten=quic:127.0.0.1",
        &["quic: 127.0.0.1:5071"],
        &["quic: localhost:5071"],
    ),
    case(
        "quic is listed after udp and tcp, protocol-less listen creates no quic socket",
        "listen=quic:127.0.0.1:5063\nlisten=127.0.0.1:5080",
        &[
            "udp: 127.0.0.1:5080",
            "tcp: 127.0.0.1:5080",
            "quic: 127.0.0.1:5063",
        ],
        &["quic: localhost:5063", "tcp: localhost:5080", "udp: localhost:5080"],
    ),
    case(
        "quic in a socket block with name and workers",
        "socket={bind=quic:127.0.0.1:5064;name=\"q1\";workers=2}",
        &["quic: 127.0.0.1:5064 name q1"],
        &["quic: localhost:5064"],
    ),
    case(
        "quic:port is still host quic with a port (Kamailio meaning)",
        "listen=udp:127.0.0.1:5060\nalias=quic:5099",
        &["udp: 127.0.0.1:5060"],
        &["udp: localhost:5060", "*: quic:5099"],
    ),
];

fn test_net() -> StaticNetwork {
    net().host_entry(
        "sip",
        "sip.example.org",
        &["pbx.example.org"],
        &["198.51.100.20"],
    )
}

#[test]
fn listing_table() {
    let mut failures = Vec::new();
    for c in CASES {
        let opts = Options {
            sctp_supported: c.sctp,
            ..Options::default()
        };
        let got = match run_with(c.cfg, c.largs, &opts, &test_net()) {
            Ok(s) => lines(&s),
            Err(e) => vec![format!("ERROR: {e}")],
        };
        let want = expect(c.sockets, c.aliases);
        if got != want {
            failures.push(format!(
                "case '{}':\n  cfg: {:?} -l {:?}\n  want: {:#?}\n  got:  {:#?}",
                c.name, c.cfg, c.largs, want, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn listing_header_format_is_exact() {
    let s = run_with(
        "listen=udp:127.0.0.1:5060",
        &[],
        &Options::default(),
        &test_net(),
    )
    .expect("resolves");
    assert_eq!(
        socket_info::listing(&s),
        "Listening on \n             udp: 127.0.0.1:5060\nAliases: \n             udp: localhost:5060\n\n"
    );
}

/// `--alias`/`--domain` values go in before the config's `alias=` lines, as Kamailio adds
/// them before reading the config: they are listed after the config's, a config alias they
/// already cover (same name, any port or protocol) is not added again, and an IPv6 address
/// is stored without brackets so that it matches.
#[test]
fn command_line_aliases_come_before_the_configs() {
    let opts = Options {
        aliases: socket_info::parse_listen_args(&["sip.example.org", "tcp:[::1]:5070"])
            .expect("aliases"),
        ..Options::default()
    };
    let s = run_with(
        "auto_aliases=no\nlisten=udp:127.0.0.1:5060\nalias=udp:sip.example.org:5060\nalias=other.example.org",
        &[],
        &opts,
        &test_net(),
    )
    .expect("resolves");
    let listing = lines(&s);
    assert_eq!(
        listing,
        expect(
            &["udp: 127.0.0.1 [127.0.0.1]:5060"],
            &[
                "*: other.example.org:*",
                "tcp: ::1:5070",
                "*: sip.example.org:*"
            ],
        ),
        "{listing:#?}"
    );
    assert!(s.aliases.matches("[::1]", 5070, None));
}
