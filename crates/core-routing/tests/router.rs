//! The router without sockets: messages in, outputs checked.

use std::net::SocketAddr;

use core_routing::{Dest, Incoming, Output, Router, RouterConfig, Transport};

const RELAY: &str = r#"
loadmodule "sl.so"
loadmodule "maxfwd.so"
loadmodule "rr.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"

request_route {
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    if (is_method("OPTIONS") && uri == myself) {
        sl_send_reply("200", "OK");
        exit;
    }
    if (has_totag()) {
        if (loose_route()) { forward(); exit; }
    }
    record_route();
    forward();
}
"#;

mod common;

use common::*;

#[test]
fn options_to_myself_is_answered_200_from_the_script() {
    let r = router(RELAY);
    let out = run(&r, &request("OPTIONS", "sip:127.0.0.1:5060", ""));
    let s = sends(&out);
    assert_eq!(s.len(), 1, "{out:?}");
    let t = text(s[0]);
    assert!(t.starts_with("SIP/2.0 200 OK\r\n"), "{t}");
    assert!(
        t.contains("Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-abc\r\n"),
        "{t}"
    );
    assert!(t.contains("To: <sip:bob@example.com>;tag="), "{t}");
    assert!(t.contains("Call-ID: call-1@example.com\r\n") && t.contains("CSeq: 1 OPTIONS\r\n"));
    assert!(t.ends_with("Content-Length: 0\r\n\r\n"));
    assert_eq!(s[0].dest, Dest::Addr(SRC.parse().unwrap()));
    // An alias counts as myself too.
    let out = run(&r, &request("OPTIONS", "sip:proxy.example.org", ""));
    assert!(text(sends(&out)[0]).starts_with("SIP/2.0 200 OK"));
}

#[test]
fn max_forwards_zero_is_answered_483() {
    let r = router(RELAY);
    let msg = request("INVITE", "sip:bob@127.0.0.2:5080", "")
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    let out = run(&r, &msg);
    let s = sends(&out);
    assert_eq!(s.len(), 1);
    assert!(
        text(s[0]).starts_with("SIP/2.0 483 Too Many Hops\r\n"),
        "{}",
        text(s[0])
    );
}

#[test]
fn requests_are_relayed_with_our_via_record_route_and_max_forwards() {
    let r = router(RELAY);
    let out = run(&r, &request("INVITE", "sip:bob@127.0.0.2:5080", ""));
    let s = sends(&out);
    assert_eq!(s.len(), 1, "{out:?}");
    assert_eq!(s[0].dest, Dest::Addr("127.0.0.2:5080".parse().unwrap()));
    assert_eq!(s[0].local, Some(0));
    let t = text(s[0]);
    let vias: Vec<&str> = t.lines().filter(|l| l.starts_with("Via:")).collect();
    assert_eq!(vias.len(), 2, "{t}");
    assert!(
        vias[0].starts_with("Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK"),
        "{t}"
    );
    assert_eq!(
        vias[1],
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-abc"
    );
    // maxfwd decrements and caps at its `max_limit` (70); the script's 10 is only the value
    // of a header it adds.
    assert!(t.contains("Max-Forwards: 69\r\n"), "{t}");
    // rr's default append_fromtag=1 puts the From tag in.
    assert!(
        t.contains("Record-Route: <sip:127.0.0.1:5060;lr;ftag=a1>\r\n"),
        "{t}"
    );
    // A retransmission gets the same branch; another request another one.
    let our_via = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("Via: SIP/2.0/UDP 127.0.0.1:5060;"))
            .map(str::to_string)
    };
    let again = run(&r, &request("INVITE", "sip:bob@127.0.0.2:5080", ""));
    assert_eq!(our_via(&text(sends(&again)[0])), our_via(&t));
    let bye = run(&r, &request("BYE", "sip:bob@127.0.0.2:5080", ""));
    assert_ne!(our_via(&text(sends(&bye)[0])), our_via(&t));
}

#[test]
fn received_and_rport_are_added_to_the_senders_via() {
    let r = router(RELAY);
    let msg = request("INVITE", "sip:bob@127.0.0.2:5080", "").replace(
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-abc",
        "Via: SIP/2.0/UDP 10.1.1.1:5999;rport;branch=z9hG4bK-abc",
    );
    let t = text(sends(&run(&r, &msg))[0]);
    assert!(
        t.contains(
            "Via: SIP/2.0/UDP 10.1.1.1:5999;rport=5070;branch=z9hG4bK-abc;received=127.0.0.1\r\n"
        ) || t.contains("received=127.0.0.1") && t.contains("rport=5070"),
        "{t}"
    );
}

#[test]
fn in_dialog_requests_follow_the_route_set() {
    let r = router(RELAY);
    let msg = request(
        "BYE",
        "sip:bob@127.0.0.9:5090",
        "Route: <sip:127.0.0.1:5060;lr>, <sip:127.0.0.3:5077;lr>\n",
    )
    .replace(
        "To: <sip:bob@example.com>",
        "To: <sip:bob@example.com>;tag=b2",
    );
    let s = sends(&run(&r, &msg))
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].dest, Dest::Addr("127.0.0.3:5077".parse().unwrap()));
    let t = text(&s[0]);
    assert!(
        t.contains("Route: <sip:127.0.0.3:5077;lr>") && !t.contains("<sip:127.0.0.1:5060;lr>"),
        "{t}"
    );
}

fn reply(top_via: &str) -> String {
    format!(
        "SIP/2.0 200 OK\n\
         Via: {top_via}\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-abc;received=127.0.0.7;rport=5071\n\
         From: <sip:alice@example.com>;tag=a1\n\
         To: <sip:bob@example.com>;tag=b2\n\
         Call-ID: call-1@example.com\n\
         CSeq: 1 INVITE\n\
         Content-Length: 0\n\n"
    )
}

#[test]
fn replies_go_back_along_the_vias() {
    let r = router(RELAY);
    let out = run(
        &r,
        &reply("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKsr0123"),
    );
    let s = sends(&out);
    assert_eq!(s.len(), 1, "{out:?}");
    assert_eq!(s[0].dest, Dest::Addr("127.0.0.7:5071".parse().unwrap()));
    let t = text(s[0]);
    assert_eq!(t.matches("Via:").count(), 1, "{t}");
    assert!(!t.contains("z9hG4bKsr0123"));
}

#[test]
fn a_reply_with_a_foreign_top_via_is_dropped_and_logged() {
    let r = router(RELAY);
    let out = run(
        &r,
        &reply("SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bKother"),
    );
    assert!(sends(&out).is_empty(), "{out:?}");
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Log { message, .. } if message.contains("not ours"))));
}

#[test]
fn script_semantics() {
    let cfg = r#"
        loadmodule "xlog.so"
        flags FLT_A:3
        request_route {
            $var(n) = 1 + 2 * 3;
            $var(s) = "a" + $var(n);
            $var(i) = 0;
            while ($var(i) < 5) { $var(i) = $var(i) + 1; }
            switch ($rm) {
                case "INVITE": $var(c) = "inv";
                case "BYE": $var(c) = $var(c) + "+fall"; break;
                default: $var(c) = "other";
            }
            setflag(FLT_A);
            if (isflagset(FLT_A) && $(rU{s.len}) == 3 && $fU == "alice" && $ft == "a1") {
                $var(f) = "yes";
            }
            route(SUB);
            xlog("L_INFO", "n=$var(n) s=$var(s) i=$var(i) c=$var(c) f=$var(f) rc=$rc ru=$ru si=$si:$sp $(ci{s.substr,0,4})\n");
            if (src_ip == 127.0.0.0/8 && proto == udp && af == 2 && method == "invite") { log(1, "legacy ok\n"); }
            exit;
            log(1, "not reached\n");
        }
        route[SUB] { return(-7); }
    "#;
    let r = router(cfg);
    let out = run(&r, &request("INVITE", "sip:bob@127.0.0.2:5080", ""));
    let logs: Vec<&str> = out
        .iter()
        .filter_map(|o| match o {
            Output::Log { message, .. } => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        logs,
        [
            "n=7 s=a7 i=5 c=inv+fall f=yes rc=-7 ru=sip:bob@127.0.0.2:5080 si=127.0.0.1:5070 call\n",
            "legacy ok\n"
        ]
    );
}

#[test]
fn while_loops_are_bounded() {
    let r = router("max_while_loops=10\nrequest_route { $var(i) = 0; while (1) { $var(i) = $var(i) + 1; } log(1, \"$var(i)\"); }");
    let out = run(&r, &request("INVITE", "sip:bob@127.0.0.2", ""));
    assert!(out.iter().any(
        |o| matches!(o, Output::Log { message, .. } if message.contains("max_while_loops=10"))
    ));
}

#[test]
fn uri_rewriting_functions() {
    let cfg = r#"
        request_route {
            strip(2); prefix("00"); sethost("127.0.0.3"); setport("5099");
            $var(x) = $ru;
            forward();
        }
    "#;
    let r = router(cfg);
    let s = run(
        &r,
        &request("INVITE", "sip:4912345@127.0.0.2:5080;user=phone", ""),
    );
    let send = sends(&s)[0];
    assert_eq!(send.dest, Dest::Addr("127.0.0.3:5099".parse().unwrap()));
    assert!(
        text(send).starts_with("INVITE sip:0012345@127.0.0.3:5099;user=phone SIP/2.0\r\n"),
        "{}",
        text(send)
    );
}

#[test]
fn compile_errors_name_the_line() {
    assert_eq!(
        compile_error("request_route {\n  sl_send_reply(\"200\", \"OK\");\n}"),
        "test.cfg:2:3: `sl_send_reply` needs `loadmodule \"sl.so\"` before it is used"
    );
    assert_eq!(
        compile_error("request_route {\n  t_relay();\n}"),
        "test.cfg:2:3: unknown function `t_relay` (missing loadmodule, or not implemented in siprouter)"
    );
    assert_eq!(
        compile_error("loadmodule \"tm.so\"\nrequest_route { drop; }"),
        "test.cfg:1:12: module `tm` is not available in siprouter"
    );
    // The transport does tls's work: loading it is fine, its functions are not offered.
    assert!(compile_error(
        "loadmodule \"tls.so\"\nrequest_route { tls_set_connect_server_id(\"x\"); }"
    )
    .contains("unknown function `tls_set_connect_server_id`"));
    // Without tm, failure and branch routes are valid but never run (a warning).
    let parsed = cfg_parser::parse_str(
        "test.cfg",
        "failure_route[F] { drop; }\nrequest_route { drop; }",
        &Default::default(),
    );
    let (_, warnings) = Router::new(&parsed.config, RouterConfig::default()).expect("compiles");
    assert!(
        warnings.iter().any(|w| w.message.contains("never runs")),
        "{warnings:?}"
    );
    assert!(compile_error("request_route { $var(x) = $nosuch(1); }")
        .contains("unknown pseudo-variable"));
    assert!(compile_error("request_route { $si = 1; }").contains("cannot be assigned"));
    assert!(
        compile_error("loadmodule \"xlog.so\"\nrequest_route { xlog(\"$bad(\"); }")
            .contains("unterminated")
    );
    assert!(compile_error("request_route { if ($ru =~ \"(\") drop; }")
        .contains("bad regular expression"));
}

#[test]
fn rfc4475_messages_never_panic_the_router() {
    let r = router(RELAY);
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/rfc4475");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("rfc4475 corpus") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "sip") {
            let data = std::fs::read(&p).expect("message");
            let mut out = Vec::new();
            r.handle(
                &Incoming {
                    data: &data,
                    source: SocketAddr::from(([127, 0, 0, 1], 5070)),
                    proto: Transport::Udp,
                    local: 0,
                    conn: None,
                },
                &mut out,
            );
            n += 1;
        }
    }
    assert!(n >= 40, "only {n} messages");
}

#[test]
fn sanity_search_and_reply_headers() {
    let cfg = r#"
        loadmodule "sl.so"
        loadmodule "sanity.so"
        loadmodule "textops.so"
        loadmodule "siputils.so"
        loadmodule "rr.so"
        request_route {
            if (!sanity_check()) { exit; }
            if (is_request() && !is_reply() && search("^Call-ID: call-1")) {
                append_to_reply("X-Seen: yes\r\n");
                sl_send_reply("404", "Not Here");
                exit;
            }
            add_rr_param("x=1");
            record_route();
            forward();
        }
    "#;
    let r = router(cfg);
    let t = text(sends(&run(&r, &request("INVITE", "sip:bob@127.0.0.2", "")))[0]);
    assert!(
        t.starts_with("SIP/2.0 404 Not Here\r\n") && t.contains("X-Seen: yes\r\n"),
        "{t}"
    );
    let other = request("INVITE", "sip:bob@127.0.0.2", "").replace("call-1@", "call-2@");
    let t = text(sends(&run(&r, &other))[0]);
    assert!(
        t.contains("Record-Route: <sip:127.0.0.1:5060;lr;ftag=a1;x=1>"),
        "{t}"
    );
    // A request the sanity checks refuse is answered with their code and goes no further.
    let bad = request("INVITE", "sip:bob@127.0.0.2", "").replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
    let out = run(&r, &bad);
    let s = sends(&out);
    assert_eq!(s.len(), 1, "{out:?}");
    assert!(text(s[0]).starts_with("SIP/2.0 400 "), "{}", text(s[0]));
    // 420 lists the unsupported extensions.
    let ext = request("INVITE", "sip:bob@127.0.0.2", "Proxy-Require: foo, bar\n")
        .replace("call-1@", "call-3@");
    let t = text(sends(&run(&r, &ext))[0]);
    assert!(
        t.starts_with("SIP/2.0 420 ") && t.contains("Unsupported: foo, bar\r\n"),
        "{t}"
    );
}

#[test]
fn unparsable_requests_are_answered_400_from_their_raw_headers() {
    let r = router(RELAY);
    let bad = request("INVITE", "sip:bob@127.0.0.2", "")
        .replace("Content-Length: 0", "Content-Length: 99");
    let out = run(&r, &bad);
    let s = sends(&out);
    assert_eq!(s.len(), 1, "{out:?}");
    let t = text(s[0]);
    assert!(
        t.starts_with(
            "SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-abc\r\n"
        ),
        "{t}"
    );
    assert!(
        t.contains("Warning: 399 siprouter \"") && t.contains("Content-Length"),
        "{t}"
    );
    assert_eq!(s[0].dest, Dest::Addr(SRC.parse().expect("address")));
}

#[test]
fn log_lines_carry_the_prefix_and_their_config_position() {
    let cfg = "loadmodule \"xlog.so\"\nlog_prefix=\"{$rm $ci} \"\nrequest_route {\n    xinfo(\"seen $ru\");\n    xlog(\"L_ERR\", \"bad\");\n}\n";
    let parsed = cfg_parser::parse_str("test.cfg", cfg, &Default::default());
    let r = router(cfg);
    let out = run(&r, &request("INVITE", "sip:bob@127.0.0.2", ""));
    let logs: Vec<(i64, &str, String)> = out
        .iter()
        .filter_map(|o| match o {
            Output::Log {
                level,
                message,
                span: Some(span),
            } => Some((
                *level,
                message.as_str(),
                parsed.sources().location(*span).to_string(),
            )),
            _ => None,
        })
        .collect();
    let ci = "{INVITE call-1@example.com} ";
    assert_eq!(
        logs,
        [
            (
                2,
                &*format!("{ci}seen sip:bob@127.0.0.2"),
                "test.cfg:4:5".into()
            ),
            (-1, &*format!("{ci}bad"), "test.cfg:5:5".into()),
        ]
    );
}

#[test]
fn unknown_xlog_level_is_a_compile_error() {
    let e = compile_error("loadmodule \"xlog.so\"\nrequest_route { xlog(\"L_LOUD\", \"x\"); }");
    assert!(e.contains("unknown log level `L_LOUD`"), "{e}");
}

#[test]
fn common_selects_read_like_their_pseudo_variables() {
    let cfg = "loadmodule \"xlog.so\"\nrequest_route {\n  if (@ruri.user == \"bob\" && @from.tag == \"a1\" && @call_id == $ci) { xlog(\"L_INFO\", \"sel ok\"); }\n}\n";
    let r = router(cfg);
    let out = run(&r, &request("INVITE", "sip:bob@127.0.0.2", ""));
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Log { message, .. } if message == "sel ok")),
        "{out:?}"
    );
    let e = compile_error("request_route { if (@via[1].nope == \"x\") { drop; } }");
    assert!(
        e.contains("test.cfg:1:21: select `@via[1].nope`: `nope` is not known after `@via`"),
        "{e}"
    );
}

fn logs(out: &[Output]) -> Vec<&str> {
    out.iter()
        .filter_map(|o| match o {
            Output::Log { message, .. } => Some(message.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn selects_read_vias_headers_and_uris() {
    let cfg = r#"
loadmodule "xlog.so"
loadmodule "textopsx.so"
request_route {
    xlog("L_INFO", "via=$sel(via[1].host):$sel(@via[1].port) branch=$sel(via.branch)");
    $var(c) = @contact.uri.params.maddr;
    xlog("L_INFO", "contact=$var(c) sup=$sel(msg.supported) hf=$sel(hf_value[\"contact\"].uri)");
    if (@ruri.host == "127.0.0.2" && @cseq.method == "INVITE" && @to.uri.user == "bob") {
        xlog("L_INFO", "ruri ok");
    }
    if (@via[2].host == $null) { xlog("L_INFO", "no second via"); }
}
"#;
    let r = router(cfg);
    let extra =
        "Contact: \"A\" <sip:alice@10.0.0.9;maddr=10.1.1.1>;expires=60\nSupported: path, gruu\n";
    let out = run(&r, &request("INVITE", "sip:bob@127.0.0.2", extra));
    assert_eq!(
        logs(&out),
        vec![
            "via=127.0.0.1:5070 branch=z9hG4bK-abc",
            "contact=10.1.1.1 sup=path, gruu hf=sip:alice@10.0.0.9;maddr=10.1.1.1",
            "ruri ok",
            "no second via",
        ]
    );
}

#[test]
fn cfg_get_reads_the_scripts_cfg_variables() {
    let cfg = r#"
loadmodule "xlog.so"
pstn.gw_ip = "10.0.0.1" desc "the PSTN gateway"
pstn.gw_port = 5080
request_route {
    if (@cfg_get.pstn.gw_ip == "10.0.0.1") {
        xlog("L_INFO", "gw $sel(cfg_get.pstn.gw_ip):$sel(cfg_get.pstn.gw_port)");
    }
    if (@cfg_get.pstn.gw_port == 5080) { xlog("L_INFO", "port ok"); }
}
"#;
    let r = router(cfg);
    let out = run(&r, &request("INVITE", "sip:bob@127.0.0.2", ""));
    assert_eq!(logs(&out), vec!["gw 10.0.0.1:5080", "port ok"]);
    // An undeclared variable stops the start, as in Kamailio.
    let e = compile_error("request_route { if (@cfg_get.pstn.nope == \"x\") { drop; } }");
    assert!(e.contains("unknown cfg variable `pstn.nope`"), "{e}");
    let e = compile_error(
        "loadmodule \"xlog.so\"\nrequest_route { xlog(\"L_INFO\", \"$sel(cfg_get.a.b)\"); }",
    );
    assert!(e.contains("unknown cfg variable `a.b`"), "{e}");
}

#[test]
fn unknown_selects_and_missing_modules_are_compile_errors() {
    let e = compile_error("request_route { $var(x) = @nosuch.thing; }");
    assert!(e.contains("`@nosuch` is not a known select"), "{e}");
    let e = compile_error("request_route { $var(x) = @hf_value.contact; }");
    assert!(e.contains("needs `loadmodule \"textopsx.so\"`"), "{e}");
    let e = compile_error("request_route { $var(x) = @from.uri.nope; }");
    assert!(e.contains("`nope` is not known after `@from.uri`"), "{e}");
}

#[test]
fn add_local_rport_asks_for_rport_in_our_via() {
    let r = router("request_route { add_local_rport(); forward(\"127.0.0.3\", 5090); }");
    let t = text(sends(&run(&r, &request("INVITE", "sip:bob@127.0.0.2", "")))[0]);
    let our_via = t
        .lines()
        .find(|l| l.starts_with("Via: SIP/2.0/UDP 127.0.0.1:5060;"))
        .unwrap_or("");
    assert!(our_via.ends_with(";rport"), "{t}");
}

#[test]
fn set_advertised_address_and_port_change_our_via_and_record_route() {
    let cfg = "loadmodule \"rr.so\"\nrequest_route { set_advertised_address(\"sip.example.net\"); set_advertised_port(5099); record_route(); forward(\"127.0.0.3\", 5090); }";
    let r = router(cfg);
    let t = text(sends(&run(&r, &request("INVITE", "sip:bob@127.0.0.2", "")))[0]);
    // rr puts its line first, above our Via (as Kamailio does).
    assert!(
        t.starts_with(
            "INVITE sip:bob@127.0.0.2 SIP/2.0\r\nRecord-Route: <sip:sip.example.net:5099;lr;ftag=a1>\r\nVia: SIP/2.0/UDP sip.example.net:5099;branch="
        ),
        "{t}"
    );
    assert!(
        t.contains("Record-Route: <sip:sip.example.net:5099;lr;ftag=a1>"),
        "{t}"
    );
}

#[test]
fn transformations_in_xlog() {
    let cfg = r#"
        loadmodule "xlog.so"
        request_route {
            $var(sep) = ",";
            $var(i) = -1;
            $var(list) = "a,b,c";
            $avp(prefix) = "+49";
            $var(num) = "+4930123";
            xlog("L_INFO", "sel=$(var(list){s.select,$var(i),,}) rm=$(var(num){s.rm,$avp(prefix)}) md5=$(rU{s.md5}) hex=$(rU{s.encode.hexa})\n");
            xlog("L_INFO", "port=$(ru{uri.port}) tr=$(ru{uri.transport}) p=$(ru{uri.param,x}) host=$(ru{uri.host}{s.toupper})\n");
            xlog("L_INFO", "tag=$(hdr(From){tobody.tag}) fu=$(hdr(From){tobody.user}) na=$(hdr(To){nameaddr.uri}) pv=$(hdr(X-Params){param.value,b}) n=$(hdr(X-Params){param.count})\n");
            xlog("L_INFO", "subst=$(hdr(Supported){re.subst,/[, ]*sec-agree//gi}) none=$(hdr(X-Missing){s.len}) pre=$(rU{s.prefixes,2})\n");
            exit;
        }
    "#;
    let r = router(cfg);
    let extra = "X-Params: a=1;b=two;c\nSupported: 100rel, sec-agree, timer\n";
    let out = run(
        &r,
        &request(
            "INVITE",
            "sip:bob@example.net:5080;transport=tcp;x=y",
            extra,
        ),
    );
    assert_eq!(
        logs(&out),
        [
            "sel=c rm=30123 md5=9f9d51bc70ef21ca5c14f307980a29d8 hex=626f62\n",
            "port=5080 tr=tcp p=y host=EXAMPLE.NET\n",
            "tag=a1 fu=alice na=sip:bob@example.com pv=two n=3\n",
            "subst=100rel, timer none=<null> pre=b,bo\n",
        ]
    );
}

#[test]
fn transformed_values_in_an_added_header() {
    let cfg = r#"
        loadmodule "textops.so"
        request_route {
            $var(user) = $(fU{s.toupper}{s.substr,0,3});
            $var(id) = $(ci{re.subst,/^call-([0-9]+)@.*$/n\1/});
            append_hf("X-Caller: " + $var(user) + " " + $(ci{s.select,0,@}) + " " + $var(id) + "\r\n");
            forward();
        }
    "#;
    let r = router(cfg);
    let out = run(&r, &request("INVITE", "sip:bob@127.0.0.2:5080", ""));
    let t = text(sends(&out)[0]);
    assert!(t.contains("X-Caller: ALI call-1 n1\r\n"), "{t}");
}

#[test]
fn time_pseudo_variables_and_bad_transformations() {
    let cfg = r#"
        loadmodule "xlog.so"
        request_route {
            if ($utime(year) >= 2024 && $utime(mon) >= 1 && $utime(mon) <= 12 && $utime(wday) >= 1
                && $utime(isdst) == 0 && $TV(s) > 1700000000 && $TV(u) < 1000000
                && $(TV(Sn){s.select,0,.}) >= $TV(s) && $(TV(Sn){s.select,1,.}{s.len}) == 6) {
                xlog("L_INFO", "time ok $time(hour):$time(min) $TV(sn).$TV(un)\n");
            }
            exit;
        }
    "#;
    let r = router(cfg);
    let out = run(&r, &request("INVITE", "sip:bob@127.0.0.2", ""));
    let l = logs(&out);
    assert_eq!(l.len(), 1, "{out:?}");
    assert!(l[0].starts_with("time ok "), "{l:?}");
    let e = compile_error("loadmodule \"xlog.so\"\nrequest_route {\n  xlog(\"$(ru{s.nope})\");\n}");
    assert!(e.contains("test.cfg:3") && e.contains("s.nope"), "{e}");
    let e = compile_error("request_route {\n  $var(x) = $(ru{s.substr,1});\n}");
    assert!(e.contains("test.cfg:2") && e.contains("s.substr"), "{e}");
}

/// `check` (for `-c`) and building a router report the same errors and warnings.
fn assert_check_matches_build(name: &str, parsed: &cfg_parser::Parsed) {
    let rc = RouterConfig::default();
    let built = Router::with_sources(&parsed.config, rc.clone(), Some(parsed.sources()))
        .map(|(_, warnings)| warnings);
    let checked = core_routing::check(&parsed.config, &rc, Some(parsed.sources()));
    assert_eq!(built, checked, "{name}");
}

#[test]
fn check_reports_what_building_reports() {
    for (i, cfg) in [
        "request_route { if ($ru =~ \"(\") drop; }",
        "request_route { if ($ru =~ \"[z-a]\") drop; }",
        "request_route { if ($ru =~ \"a{3,1}\") drop; }",
        "request_route { if ($ru =~ \"^sip:[0-9]+@\" && $rU =~ \"^(alice|bob)$\") drop; }",
        "request_route { if ($ru =~ \"^sip:[0-9]+@\") drop; if (uri =~ \"^sip:[0-9]+@\") drop; }",
        "request_route { switch ($rU) { case /\"^1[0-9]\": drop; default: exit; } }",
        "request_route { switch ($rU) { case /\"(\": drop; } }",
        "loadmodule \"textops.so\"\nrequest_route { if (search(\"^To:.*bob\")) drop; }",
        "loadmodule \"textops.so\"\nrequest_route { if (search(\"*x\")) drop; }",
        "failure_route[F] { drop; }\nrequest_route { drop; }",
    ]
    .iter()
    .enumerate()
    {
        let parsed = cfg_parser::parse_str("test.cfg", cfg, &Default::default());
        assert!(!parsed.has_errors(), "{cfg}");
        assert_check_matches_build(&format!("case {i}: {cfg}"), &parsed);
    }
    // The stand-in matcher of `check` is not what a bad pattern gets: the error stays.
    let parsed = cfg_parser::parse_str(
        "test.cfg",
        "request_route { if ($ru =~ \"^a\") drop; if ($ru =~ \"(\") drop; }",
        &Default::default(),
    );
    let e = core_routing::check(&parsed.config, &RouterConfig::default(), None)
        .expect_err("the second pattern is bad");
    assert!(e.message.contains("bad regular expression"), "{e}");
}

#[test]
fn check_reports_what_building_reports_for_the_corpus() {
    let configs = clean_corpus_configs();
    for (name, parsed) in &configs {
        assert_check_matches_build(name, parsed);
    }
    assert!(
        configs.len() > 90,
        "only {} configs compared",
        configs.len()
    );
}
