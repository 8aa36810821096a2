//! The fuzz harness, shared by the libFuzzer target (`fuzz/`) and the property tests: any
//! bytes go through a compiled route script that exercises most of what the router offers.
//!
//! [`route`] panics only when it finds a bug: the router itself panicked, a request it sends
//! fails the full syntax check (the script runs `sanity_check()` first), or a reply it sends
//! does not parse (a relay must never put a broken message on the wire).

use std::net::SocketAddr;
use std::sync::OnceLock;

use sip_message::Message;

use crate::{Incoming, LocalSocket, Output, Router, RouterConfig, Transport};

/// A script that touches every family of functions: checks, header edits, variables with
/// transformations, control flow, rewriting, record-routing and forwarding.
const SCRIPT: &str = r#"
loadmodule "sl.so"
loadmodule "maxfwd.so"
loadmodule "sanity.so"
loadmodule "rr.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "xlog.so"
loadmodule "pv.so"
log_prefix="{$rm $ci} "
request_route {
    if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
    if (!sanity_check()) { exit; }
    $var(n) = 0;
    while ($var(n) < 3) { $var(n) = $var(n) + 1; }
    $var(user) = $(ru{uri.user}{s.tolower});
    xlog("L_INFO", "$var(user) $fu $tu $(hdr(Via)[0]) $si:$sp $proto\n");
    switch ($rm) {
        case "OPTIONS":
            if (uri == myself) { append_to_reply("X-Seen: $ci\r\n"); sl_send_reply("200", "OK"); exit; }
            break;
        case "REGISTER":
            sl_send_reply("403", "No registrar");
            exit;
        default:
            if (search("^Subject: .*fuzz")) { append_hf("X-Fuzz: 1\r\n"); }
    }
    if (is_present_hf("X-Strip")) { remove_hf("X-Strip"); }
    if (has_totag()) {
        if (loose_route()) { forward(); exit; }
        sl_send_reply("404", "Not here");
        exit;
    }
    if ($rU =~ "^00") { strip(2); prefix("+"); }
    $avp(v) = $(hdr(Via)[*]{s.select,0,;});
    $avp(v) = $sel(via[1].host) + $(fu{uri.host}{s.toupper}) + @from.tag;
    if ($(avp(v)[1]) != $null) { $(avp(v)[*]) = $null; }
    $var(t) = $(ct{nameaddr.uri}{param.value,transport}{re.subst,/[^a-z]//g});
    insert_hf("X-Ins: $var(t)\r\n", "CSeq");
    search_append("^Subject: [^\r\n]*", " +");
    subst('/^Subject: (.*)$/Subject: [fz] \1/');
    subst_body('/a=([a-z]+)/a=\1/g');
    replace_all("example\.com", "example.net");
    if (uri_param("user", "phone")) { add_uri_param("fz=1"); }
    if (is_method("INVITE|SUBSCRIBE")) { record_route(); add_rr_param(";fz=1"); }
    force_rport();
    if ($rd == "127.0.0.3") { sethost("127.0.0.4"); setport("5090"); }
    forward();
}
reply_route {
    xlog("L_DBG", "reply $rs $rr\n");
}
onsend_route {
    if (snd_port == 9) { drop; }
}
"#;

fn router() -> &'static Router {
    static ROUTER: OnceLock<Router> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let parsed = cfg_parser::parse_str("fuzz.cfg", SCRIPT, &Default::default());
        assert!(!parsed.has_errors(), "the fuzz script must parse");
        let socket = |proto| LocalSocket {
            proto,
            address: [127, 0, 0, 1].into(),
            port: 5060,
            advertise: None,
        };
        let rc = RouterConfig {
            sockets: vec![socket(Transport::Udp), socket(Transport::Tcp)],
            aliases: vec![("proxy.example.org".into(), None)],
            modules: Vec::new(),
        };
        match Router::new(&parsed.config, rc) {
            Ok((r, _)) => r,
            Err(e) => panic!("the fuzz script must compile: {e}"),
        }
    })
}

/// What [`route`] saw, so tests can check that it exercised something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Report {
    /// Messages sent (forwards and replies).
    pub sent: usize,
    /// Lines logged.
    pub logged: usize,
}

/// Runs `data` through the script as received over UDP and over TCP and checks every
/// message the router sends.
///
/// # Panics
/// When a sent message does not parse as SIP: that is the finding.
pub fn route(data: &[u8]) -> Report {
    let mut report = Report::default();
    let source: SocketAddr = ([127, 0, 0, 2], 5070).into();
    for (local, proto) in [(0, Transport::Udp), (1, Transport::Tcp)] {
        let mut out = Vec::new();
        router().handle(
            &Incoming {
                data,
                source,
                proto,
                local,
                conn: None,
            },
            &mut out,
        );
        for o in &out {
            match o {
                Output::Send(s) => {
                    report.sent += 1;
                    // Requests went through sanity_check(), so what is forwarded must pass the
                    // full syntax check; replies must at least parse.
                    let checked = Message::parse(&s.data).and_then(|m| {
                        if m.is_request() {
                            m.check_syntax()
                        } else {
                            Ok(())
                        }
                    });
                    if let Err(e) = checked {
                        panic!(
                            "the router sent a message that does not parse ({e}):\n{}\n--- from input:\n{}",
                            String::from_utf8_lossy(&s.data),
                            String::from_utf8_lossy(data)
                        );
                    }
                }
                Output::Log { .. } => report.logged += 1,
                Output::TcpAlias { .. } => {}
            }
        }
    }
    report
}
