//! The stateless relay of `cargo xtask bench relay`, for the relay benchmark
//! (`benches/relay.rs`) and the allocation test (`tests/allocations.rs`): the request route
//! of `../shared/bench/kamailio-relay.cfg` and the messages sipp exchanges through it.

use core_routing::{Incoming, LocalSocket, Output, Router, RouterConfig, Scratch, Transport};

/// The request route of `kamailio-relay.cfg` (Max-Forwards check, stateless forward).
pub(crate) const CFG: &str = r#"
loadmodule "sl.so"
loadmodule "maxfwd.so"
request_route {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	forward("127.0.0.1", 5080);
	exit;
}
"#;

/// The request route `cargo xtask bench relay --proto tcp` runs (`configs/bench-relay.cfg`
/// with `WITH_TCP`): the next hop is set in `$du` and `forward()` reads it.
pub(crate) const CFG_DU: &str = r#"
loadmodule "sl.so"
loadmodule "maxfwd.so"
loadmodule "pv.so"
request_route {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	$du = "sip:127.0.0.1:5080;transport=tcp";
	forward();
}
"#;

/// The SDP body sipp's uac and uas send, with its Content-Type and Content-Length lines.
macro_rules! sdp_body {
    () => {
        "Content-Type: application/sdp\r\n\
Content-Length:   129\r\n\
\r\n\
v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n"
    };
}

/// sipp's built-in uac INVITE (`-sn uac`), as it reaches the relay.
pub(crate) const INVITE: &str = concat!(
    "INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1234-1-0\r\n\
From: sipp <sip:sipp@127.0.0.1:5061>;tag=1234SIPpTag001\r\n\
To: service <sip:service@127.0.0.1:5060>\r\n\
Call-ID: 1-1234@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: sip:sipp@127.0.0.1:5061\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
",
    sdp_body!()
);

/// sipp uas's 200 OK to it, with the relay's Via on top.
pub(crate) const OK: &str = concat!(
    "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKcydzigwkX\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1234-1-0;received=127.0.0.1;rport=5061\r\n\
From: sipp <sip:sipp@127.0.0.1:5061>;tag=1234SIPpTag001\r\n\
To: service <sip:service@127.0.0.1:5060>;tag=5678SIPpTag011\r\n\
Call-ID: 1-1234@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:127.0.0.1:5080;transport=UDP>\r\n\
",
    sdp_body!()
);

/// A router for [`CFG`] on a UDP and a TCP socket, both 127.0.0.1:5060.
pub(crate) fn router() -> Router {
    router_for(CFG)
}

/// A router for `cfg` on a UDP and a TCP socket, both 127.0.0.1:5060.
pub(crate) fn router_for(cfg: &str) -> Router {
    let parsed = cfg_parser::parse_str("relay.cfg", cfg, &Default::default());
    assert!(!parsed.has_errors(), "the relay config parses");
    let socket = |proto| LocalSocket {
        proto,
        address: "127.0.0.1".parse().expect("address"),
        port: 5060,
        advertise: None,
    };
    let rc = RouterConfig {
        sockets: vec![socket(Transport::Udp), socket(Transport::Tcp)],
        aliases: Vec::new(),
        modules: Vec::new(),
    };
    Router::with_sources(&parsed.config, rc, Some(parsed.sources()))
        .expect("the relay config compiles")
        .0
}

/// Routes `data` from `source`; returns the octets sent (0: nothing was relayed).
pub(crate) fn relay(r: &Router, data: &[u8], source: &str, out: &mut Vec<Output>) -> usize {
    r.handle(&incoming(data, source), out);
    let sent = out
        .iter()
        .map(|o| match o {
            Output::Send(s) => s.data.len(),
            _ => 0,
        })
        .sum();
    out.clear();
    sent
}

/// [`relay`] as siprouter's UDP threads do it: in `scratch`'s memory, each sent message's
/// buffer given back to it.
#[allow(dead_code)] // not every user of the fixture relays this way
pub(crate) fn relay_reusing(
    r: &Router,
    data: &[u8],
    source: &str,
    out: &mut Vec<Output>,
    scratch: &mut Scratch,
) -> usize {
    r.handle_reusing(&incoming(data, source), out, scratch);
    let mut sent = 0;
    for o in out.drain(..) {
        if let Output::Send(s) = o {
            sent += s.data.len();
            scratch.recycle(s.data);
        }
    }
    sent
}

/// A datagram from `source` on the first socket.
fn incoming<'a>(data: &'a [u8], source: &str) -> Incoming<'a> {
    Incoming {
        data,
        source: source.parse().expect("address"),
        proto: Transport::Udp,
        local: 0,
        conn: None,
    }
}
