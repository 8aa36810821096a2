//! Module functions and parameters beyond the relay basics: rr's full Record-Route and
//! loose-routing behaviour, textops' edits, siputils' URI checks, the core's socket
//! functions, and `modparam` checking.

mod common;

use common::*;
use core_routing::{Dest, Output, Router, RouterConfig, Transport};

const MODULES: &str = "loadmodule \"sl.so\"\nloadmodule \"rr.so\"\nloadmodule \"textops.so\"\nloadmodule \"siputils.so\"\nloadmodule \"xlog.so\"\nloadmodule \"maxfwd.so\"\n";

/// A config with the usual modules loaded, `params` before the route and `body` in it.
fn cfg(params: &str, body: &str) -> String {
    format!("{MODULES}{params}\nrequest_route {{\n{body}\n}}\n")
}

/// The one message a config sends for a request.
fn sent(config: &str, msg: &str) -> String {
    let r = router(config);
    let out = run(&r, msg);
    let s = sends(&out);
    assert_eq!(s.len(), 1, "{out:?}");
    text(s[0])
}

/// An in-dialog request (To tag `b2`) with the given Route lines.
fn in_dialog(ruri: &str, routes: &str) -> String {
    request("BYE", ruri, &format!("Route: {routes}\n")).replace(
        "To: <sip:bob@example.com>",
        "To: <sip:bob@example.com>;tag=b2",
    )
}

/// An INVITE with `extra` headers and an SDP body (its lines end in CRLF once sent).
fn with_body(extra: &str, body: &str) -> String {
    let lines = body.lines().count();
    request(
        "INVITE",
        "sip:bob@127.0.0.2",
        &format!("{extra}Content-Type: application/sdp\n"),
    )
    .replace(
        "Content-Length: 0\n\n",
        &format!("Content-Length: {}\n\n{body}", body.len() + lines),
    )
}

fn lines<'t>(t: &'t str, name: &str) -> Vec<&'t str> {
    t.lines().filter(|l| l.starts_with(name)).collect()
}

#[test]
fn modparams_are_checked_against_the_modules_tables() {
    let e = compile_error(&cfg("modparam(\"rr\", \"no_such\", 1)", "forward();"));
    assert!(e.starts_with("test.cfg:7:"), "{e}");
    assert!(e.contains("module `rr` has no parameter `no_such`"), "{e}");
    let e = compile_error(&cfg("modparam(\"rr\", \"append_fromtag\", \"yes\")", ""));
    assert!(
        e.contains("modparam `append_fromtag` takes a number"),
        "{e}"
    );
    let e = compile_error(&cfg("modparam(\"tm\", \"fr_timer\", 1000)", ""));
    assert!(e.contains("no loaded module matches `tm`"), "{e}");
    let e = compile_error(&cfg("modparam(\"rr\", \"enable_double_rr\", 3)", ""));
    assert!(e.contains("3 is not 0, 1 or 2"), "{e}");
    let e = compile_error(&cfg("modparam(\"maxfwd|rr\", \"max_limit\", 10)", ""));
    assert!(
        e.contains("module `rr` has no parameter `max_limit`"),
        "{e}"
    );
    let e = compile_error(&format!(
        "loadmodule \"pv.so\"\nmodparam(\"pv\", \"shvset\", \"x=3\")\n{}",
        "request_route { exit; }"
    ));
    assert!(e.contains("must start with i: or s:"), "{e}");
    let w = warnings(&cfg("modparam(\"xlog\", \"prefix\", \"x: \")", ""));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("test.cfg:7:") && w[0].contains("no xlog's line prefix"),
        "{w:?}"
    );
    // The module name is a case-insensitive regular expression.
    assert!(warnings(&cfg("modparam(\"RR|TM\", \"append_fromtag\", 0)", "")).is_empty());
}

#[test]
fn modparams_change_what_the_modules_do() {
    let t = sent(
        &cfg(
            "modparam(\"rr\", \"append_fromtag\", 0)\nmodparam(\"maxfwd\", \"max_limit\", 16)",
            "mf_process_maxfwd_header(\"10\"); record_route(); forward();",
        ),
        &request("INVITE", "sip:bob@127.0.0.2", ""),
    );
    assert!(
        t.contains("Record-Route: <sip:127.0.0.1:5060;lr>\r\n"),
        "{t}"
    );
    assert!(t.contains("Max-Forwards: 16\r\n"), "{t}");

    let r = router(
        "loadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nmodparam(\"pv\", \"shvset\", \"gw=s:10.0.0.9\")\nmodparam(\"pv\", \"varset\", \"n=i:5\")\nrequest_route { xlog(\"$shv(gw) $var(n)\"); $var(n) = $var(n) + 1; xlog(\"$var(n)\"); }",
    );
    for _ in 0..2 {
        let out = run(&r, &request("INVITE", "sip:bob@127.0.0.2", ""));
        assert_eq!(logs(&out), ["10.0.0.9 5", "6"]);
    }

    // sanity: noreply and no autodrop leave the decision to the script.
    let bad = request("INVITE", "sip:bob@127.0.0.2", "").replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
    let quiet = cfg(
        "loadmodule \"sanity.so\"\nmodparam(\"sanity\", \"noreply\", 1)\nmodparam(\"sanity\", \"autodrop\", 0)",
        "if (!sanity_check()) { xlog(\"insane $rc\"); exit; } forward();",
    );
    let out = run(&router(&quiet), &bad);
    assert!(sends(&out).is_empty(), "{out:?}");
    assert_eq!(logs(&out), ["insane -1"]);
    let loud = cfg(
        "loadmodule \"sanity.so\"",
        "if (!sanity_check()) { xlog(\"not reached\"); } forward();",
    );
    let out = run(&router(&loud), &bad);
    assert!(logs(&out).is_empty(), "{out:?}");
    assert!(text(sends(&out)[0]).starts_with("SIP/2.0 400"), "{out:?}");
}

#[test]
fn record_route_preset_and_double_record_route() {
    let invite = request("INVITE", "sip:bob@127.0.0.2", "");
    // In over UDP and out over TCP the sockets differ: one entry per side, the sending
    // socket's on top.
    let to_tcp = request("INVITE", "sip:bob@127.0.0.2;transport=tcp", "");
    let cases: [(&str, &str, &str, &[&str]); 6] = [
        (
            "modparam(\"rr\", \"enable_full_lr\", 1)",
            "record_route();",
            &invite,
            &["<sip:127.0.0.1:5060;lr=on;ftag=a1>"],
        ),
        (
            "",
            "add_rr_param(\"x=1\"); record_route_preset(\"10.0.0.1:5090;transport=tcp\");",
            &invite,
            &["<sip:10.0.0.1:5090;transport=tcp;ftag=a1;x=1;lr>"],
        ),
        (
            "",
            "record_route_preset(\"a.example\", \"b.example\");",
            &invite,
            &["<sip:a.example;ftag=a1;lr>", "<sip:b.example;ftag=a1;lr>"],
        ),
        (
            "",
            "record_route();",
            &to_tcp,
            &[
                "<sip:127.0.0.1:5060;transport=tcp;r2=on;lr;ftag=a1>",
                "<sip:127.0.0.1:5060;r2=on;lr;ftag=a1>",
            ],
        ),
        (
            "modparam(\"rr\", \"enable_double_rr\", 0)",
            "record_route();",
            &to_tcp,
            &["<sip:127.0.0.1:5060;transport=tcp;lr;ftag=a1>"],
        ),
        (
            "modparam(\"rr\", \"enable_double_rr\", 2)",
            "record_route();",
            &invite,
            &[
                "<sip:127.0.0.1:5060;r2=on;lr;ftag=a1>",
                "<sip:127.0.0.1:5060;r2=on;lr;ftag=a1>",
            ],
        ),
    ];
    for (params, body, msg, want) in cases {
        let t = sent(&cfg(params, &format!("{body} forward();")), msg);
        let want: Vec<String> = want.iter().map(|v| format!("Record-Route: {v}")).collect();
        assert_eq!(lines(&t, "Record-Route:"), want, "{params} {body}");
    }
    let e = compile_error(&cfg(
        "modparam(\"rr\", \"enable_double_rr\", 0)",
        "record_route_preset(\"a\", \"b\");",
    ));
    assert!(e.contains("needs rr's enable_double_rr"), "{e}");
    // A second Record-Route request fails.
    let r = router(&cfg(
        "",
        "record_route(); if (!record_route()) { xlog(\"again $rc\"); }",
    ));
    let out = run(&r, &invite);
    assert_eq!(logs(&out), ["double attempt to record-route", "again -1"]);
}

#[test]
fn loose_route_strips_both_double_record_route_entries() {
    let t = sent(
        &cfg("", "if (loose_route()) { forward(); }"),
        &in_dialog(
            "sip:bob@10.0.0.5",
            "<sip:127.0.0.1:5060;transport=tcp;r2=on;lr;ftag=a1>, <sip:127.0.0.1:5060;r2=on;lr;ftag=a1>, <sip:next.example;lr>",
        ),
    );
    assert_eq!(lines(&t, "Route:"), ["Route: <sip:next.example;lr>"]);
    assert!(t.starts_with("BYE sip:bob@10.0.0.5 SIP/2.0\r\n"), "{t}");
    let r = router(&cfg("", "if (loose_route()) { forward(); }"));
    let out = run(
        &r,
        &in_dialog(
            "sip:bob@10.0.0.5",
            "<sip:127.0.0.1:5060;lr>, <sip:next.example;lr>",
        ),
    );
    assert_eq!(
        sends(&out)[0].dest,
        Dest::Host {
            host: "next.example".into(),
            port: 5060
        }
    );
}

#[test]
fn strict_routers_on_either_side() {
    let relay = cfg("", "if (loose_route()) { forward(); }");
    // The next hop is a strict router: it goes into the Request-URI, ours to the end.
    let t = sent(
        &relay,
        &in_dialog(
            "sip:bob@10.0.0.5",
            "<sip:127.0.0.1:5060;lr>, <sip:strict.example>, <sip:after.example;lr>",
        ),
    );
    assert!(t.starts_with("BYE sip:strict.example SIP/2.0\r\n"), "{t}");
    // The saved Request-URI is a Route line of its own at the end of the headers, as rr
    // writes it.
    assert_eq!(
        lines(&t, "Route:"),
        ["Route: <sip:after.example;lr>", "Route: <sip:bob@10.0.0.5>"]
    );
    // The previous hop was a strict router: our URI is the Request-URI and the real one is
    // the last Route.
    let t = sent(
        &relay,
        &in_dialog(
            "sip:127.0.0.1:5060;lr;ftag=a1",
            "<sip:next.example;lr>, <sip:bob@10.0.0.5>",
        ),
    );
    assert!(t.starts_with("BYE sip:bob@10.0.0.5 SIP/2.0\r\n"), "{t}");
    assert_eq!(lines(&t, "Route:"), ["Route: <sip:next.example;lr>"]);
    // A preloaded route set that only named us: false (-3), the Route is gone.
    let r = router(&cfg(
        "",
        "if (!loose_route()) { xlog(\"rc=$rc\"); } forward();",
    ));
    let out = run(
        &r,
        &request(
            "INVITE",
            "sip:bob@127.0.0.2",
            "Route: <sip:127.0.0.1:5060;lr>\n",
        ),
    );
    assert_eq!(logs(&out), ["rc=-3"]);
    assert!(lines(&text(sends(&out)[0]), "Route:").is_empty());
}

#[test]
fn route_parameters_and_direction() {
    let config = cfg(
        "",
        "if (loose_route()) { if (check_route_param(\"ftag=a1\")) { xlog(\"ftag\"); } if (check_route_param(\"nat=yes\")) { xlog(\"nat\"); } if (is_direction(\"downstream\")) { xlog(\"down\"); } if (is_direction(\"upstream\")) { xlog(\"up\"); } }",
    );
    let r = router(&config);
    let down = in_dialog("sip:bob@10.0.0.5", "<sip:127.0.0.1:5060;lr;ftag=a1>");
    assert_eq!(logs(&run(&r, &down)), ["ftag", "down"]);
    // The callee's request: From carries the callee's tag.
    let up = down
        .replace(
            "From: <sip:alice@example.com>;tag=a1",
            "From: <sip:bob@example.com>;tag=b2",
        )
        .replace(
            "To: <sip:bob@example.com>;tag=b2",
            "To: <sip:alice@example.com>;tag=a1",
        );
    assert_eq!(logs(&run(&r, &up)), ["ftag", "up"]);
    let e = compile_error(&cfg(
        "modparam(\"rr\", \"append_fromtag\", 0)",
        "is_direction(\"upstream\");",
    ));
    assert!(e.contains("needs rr's append_fromtag"), "{e}");
    let e = compile_error(&cfg("", "is_direction(\"sideways\");"));
    assert!(e.contains("\"downstream\" or \"upstream\""), "{e}");
}

#[test]
fn textops_edits_the_forwarded_message() {
    let msg = with_body("Subject: x\n", "v=0\nhello world\n");
    let t = sent(
        &cfg(
            "",
            "if (search_body(\"^hello\")) { insert_hf(\"X-Body: hello\\r\\n\"); }
             if (search_body(\"^goodbye\")) { insert_hf(\"X-Body: goodbye\\r\\n\"); }
             search_append(\"Subject: x\", \" appended\");
             insert_hf(\"X-Before: 1\\r\\n\", \"CSeq\");
             append_hf(\"X-After: 1\\r\\n\", \"From\");
             replace(\"bob@example.com\", \"carol@example.com\");
             replace_all(\"example\\.com\", \"example.net\");
             replace_body(\"hello\", \"goodbye, cruel\");
             forward();",
        ),
        &msg,
    );
    let heads: Vec<&str> = t.lines().take_while(|l| !l.is_empty()).collect();
    // Above the first header: below our own Via, above the sender's.
    assert_eq!(heads[2], "X-Body: hello", "{t}");
    assert!(t.contains("Subject: x appended\r\n"), "{t}");
    let cseq = heads
        .iter()
        .position(|l| l.starts_with("CSeq:"))
        .unwrap_or(0);
    assert_eq!(heads[cseq - 1], "X-Before: 1", "{t}");
    let from = heads
        .iter()
        .position(|l| l.starts_with("From:"))
        .unwrap_or(0);
    assert_eq!(heads[from + 1], "X-After: 1", "{t}");
    // replace() took the first match (To), replace_all() every other one; edits of the
    // same octets do not stack (the first wins), as Kamailio's lumps.
    assert!(t.contains("To: <sip:carol@example.com>\r\n"), "{t}");
    assert!(
        t.contains("From: <sip:alice@example.net>;tag=a1\r\n"),
        "{t}"
    );
    assert!(t.contains("Call-ID: call-1@example.net\r\n"), "{t}");
    assert!(
        t.ends_with("\r\n\r\nv=0\r\ngoodbye, cruel world\r\n"),
        "{t}"
    );
    let len = "v=0\r\ngoodbye, cruel world\r\n".len();
    assert!(t.contains(&format!("Content-Length: {len}\r\n")), "{t}");
    let e = compile_error(&cfg("", "replace(\"(\", \"x\");"));
    assert!(e.contains("bad regular expression"), "{e}");
}

#[test]
fn siputils_uri_checks() {
    let r = router(&cfg(
        "",
        "if (uri_param(\"transport\", \"tcp\")) { xlog(\"tcp\"); }
         if (uri_param(\"lr\")) { xlog(\"lr\"); }
         if (is_e164(\"+4930123456\")) { xlog(\"e164\"); }
         if (is_e164(\"4930123456\") || is_e164(\"+0123\") || is_e164(\"+1234567890123456\")) { xlog(\"wrong\"); }
         if (is_uri_user_e164(\"sip:+4930123@example.com\")) { xlog(\"user e164\"); }
         if (is_uri_user_e164(\"$fu\")) { xlog(\"wrong\"); }
         add_uri_param(\"user=phone\");
         forward(\"127.0.0.3\", 5060);",
    ));
    let out = run(
        &r,
        &request("INVITE", "sip:bob@127.0.0.2;transport=tcp", ""),
    );
    assert_eq!(logs(&out), ["tcp", "e164", "user e164"]);
    assert!(
        text(sends(&out)[0])
            .starts_with("INVITE sip:bob@127.0.0.2;transport=tcp;user=phone SIP/2.0"),
        "{out:?}"
    );
    let r = router(&cfg(
        "modparam(\"siputils\", \"e164_max_len\", 5)",
        "if (is_e164(\"+123456\")) { xlog(\"long\"); }",
    ));
    assert!(logs(&run(&r, &request("INVITE", "sip:bob@127.0.0.2", ""))).is_empty());
}

#[test]
fn force_send_socket_picks_the_local_socket() {
    let to_tcp = request("INVITE", "sip:bob@127.0.0.2;transport=tcp", "");
    let r = router(&cfg(
        "",
        "force_send_socket(tcp:127.0.0.1:5060); forward();",
    ));
    let out = run(&r, &to_tcp);
    assert_eq!(sends(&out)[0].local, Some(1));
    // A forced socket of another protocol is not used, with a warning.
    let r = router(&cfg(
        "",
        "force_send_socket(udp:127.0.0.1:5060); forward();",
    ));
    let out = run(&r, &to_tcp);
    assert_eq!(sends(&out)[0].proto, Transport::Tcp);
    assert!(
        logs(&out)[0].contains("the forced socket is udp"),
        "{out:?}"
    );
    let e = compile_error(&cfg("", "force_send_socket(udp:10.9.9.9:5060);"));
    assert!(
        e.contains("siprouter does not listen on udp:10.9.9.9:5060"),
        "{e}"
    );
}

#[test]
fn udp_mtu_moves_large_requests_to_another_protocol() {
    let big = request(
        "INVITE",
        "sip:bob@127.0.0.2",
        &format!("X-Pad: {}\n", "p".repeat(300)),
    );
    let small = request("INVITE", "sip:bob@127.0.0.2", "");
    let global = cfg("udp_mtu=400\nudp_mtu_try_proto=TCP", "forward();");
    let r = router(&global);
    let out = run(&r, &big);
    let s = sends(&out)[0];
    assert_eq!((s.proto, s.local), (Transport::Tcp, Some(1)));
    assert!(
        text(s).contains("\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;"),
        "{out:?}"
    );
    assert_eq!(sends(&run(&r, &small))[0].proto, Transport::Udp);
    let per_message = cfg("udp_mtu=400", "udp_mtu_try_proto(TCP); forward();");
    assert_eq!(
        sends(&run(&router(&per_message), &big))[0].proto,
        Transport::Tcp
    );
    let off = cfg("udp_mtu=400", "forward();");
    assert_eq!(sends(&run(&router(&off), &big))[0].proto, Transport::Udp);
}

#[test]
fn force_tcp_alias_names_the_connection() {
    let r = router(&cfg(
        "",
        "if (!force_tcp_alias()) { xlog(\"no alias\"); } force_tcp_alias(5090); exit;",
    ));
    let out = run_on(
        &r,
        &request("INVITE", "sip:bob@127.0.0.2", ""),
        Transport::Tcp,
        Some(7),
    );
    let aliases: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::TcpAlias { conn, alias } => Some((*conn, alias.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(
        aliases,
        [
            (7, "127.0.0.1:5070".to_string()),
            (7, "127.0.0.1:5090".to_string())
        ]
    );
    let out = run(&r, &request("INVITE", "sip:bob@127.0.0.2", ""));
    assert_eq!(logs(&out), ["no alias"]);
}

#[test]
fn subst_family_edits_message_uri_and_body() {
    let msg = with_body("", "v=0\no=- 1 1 IN IP4 10.0.0.1\n");
    let t = sent(
        &cfg(
            "",
            r#"subst('/^From: <sip:([a-z]+)@example\.com>/From: <sip:\1@example.org>/');
             subst_body('/IP4 10\.0\.0\.1/IP4 192.0.2.1/g');
             if (subst_uri('/^sip:bob@/sip:robert@/')) { xlog("uri $ru"); }
             if (!subst('/^X-Missing: .*$//')) { xlog("no match"); }
             append_hf("X-Src: $si:$sp\r\n");
             forward();"#,
        ),
        &msg,
    );
    assert!(
        t.starts_with("INVITE sip:robert@127.0.0.2 SIP/2.0\r\n"),
        "{t}"
    );
    assert!(
        t.contains("\r\nFrom: <sip:alice@example.org>;tag=a1\r\n"),
        "{t}"
    );
    assert!(t.contains("\r\nX-Src: 127.0.0.1:5070\r\n"), "{t}");
    assert!(t.ends_with("o=- 1 1 IN IP4 192.0.2.1\r\n"), "{t}");
    let len = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n".len();
    assert!(t.contains(&format!("Content-Length: {len}\r\n")), "{t}");
    let r = router(&cfg(
        "",
        r#"subst_uri('/^sip:bob@/sip:robert@/'); if (!subst('/^X-Missing: .*$//')) { xlog("no match $ru"); }"#,
    ));
    assert_eq!(logs(&run(&r, &msg)), ["no match sip:robert@127.0.0.2"]);
    let e = compile_error(&cfg("", "subst('/unterminated');"));
    assert!(e.contains("bad subst expression"), "{e}");
}

#[test]
fn onsend_route_sees_the_destination_and_can_drop() {
    let config = format!(
        "{MODULES}request_route {{ if (!forward()) {{ xlog(\"not sent\"); }} }}
         onsend_route {{
             if (snd_port == 5080 && snd_proto == \"udp\" && msg:len > 300) {{ xlog(\"onsend\"); }}
             if (snd_ip == 127.0.0.3) {{ drop; }}
         }}"
    );
    let r = router(&config);
    let out = run(&r, &request("INVITE", "sip:bob@127.0.0.2:5080", ""));
    assert_eq!(logs(&out), ["onsend"]);
    assert_eq!(sends(&out).len(), 1);
    let out = run(&r, &request("INVITE", "sip:bob@127.0.0.3", ""));
    assert!(sends(&out).is_empty(), "{out:?}");
    assert_eq!(logs(&out).last(), Some(&"not sent"));
    let e = compile_error(&format!(
        "{MODULES}request_route {{ forward(); }} onsend_route {{ sethost(\"x\"); }}"
    ));
    assert!(
        e.contains("`sethost`: command not allowed in onsend_route"),
        "{e}"
    );
}

#[test]
fn socket_uri_and_position_pseudo_variables() {
    let config = cfg(
        "",
        "route(SHOW);
         $fs = \"tcp:127.0.0.1:5060\";
         xlog(\"fs=$fs mt=$mt rP=$rP\");
         $fs = \"udp:10.9.9.9:5060\";
         $fs = $null;
         if ($fs == $null) { xlog(\"unset\"); }
    }
    route[SHOW] {
         xlog(\"$cfg(file):$cfg(line) in $cfg(name)\");
         $var(l) = $cfg(line);
         xlog(\"$var(l)\");",
    );
    let r = router(&config);
    let out = run(
        &r,
        &request("INVITE", "sip:bob@127.0.0.2;transport=TCP", ""),
    );
    assert_eq!(
        logs(&out),
        [
            "test.cfg:17 in SHOW",
            "18",
            "fs=tcp:127.0.0.1:5060 mt=1 rP=tcp",
            "$fs: siprouter does not listen on `udp:10.9.9.9:5060`",
            "unset"
        ]
    );
    let e = compile_error(&cfg("", "xlog(\"$cfg(colour)\");"));
    assert!(e.contains("line, file or name expected"), "{e}");
}

#[test]
fn avps_are_stacks_and_indexes_may_be_variables() {
    let r = router(&cfg(
        "",
        "$avp(x) = \"a\"; $avp(x) = \"b\"; $avp(x) = \"c\";
         $var(i) = 0;
         while ($(avp(x)[$var(i)]) != $null) { xlog(\"$var(i)=$(avp(x)[$var(i)])\"); $var(i) = $var(i) + 1; }
         xlog(\"top $avp(x) last $(avp(x)[-1])\");
         $avp(x) = $null; xlog(\"after pop $avp(x)\");
         $(avp(x)[1]) = \"z\"; xlog(\"replaced $(avp(x)[1])\");
         $(avp(x)[*]) = $null; if (!pv_isset(\"$avp(x)\")) { xlog(\"gone\"); }
         xlog(\"vias $(hdr(Via)[*])\");",
    ).replace("loadmodule \"sl.so\"", "loadmodule \"sl.so\"\nloadmodule \"pv.so\""));
    let msg = request(
        "INVITE",
        "sip:bob@127.0.0.2",
        "Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-2\n",
    );
    assert_eq!(
        logs(&run(&r, &msg)),
        [
            "0=c",
            "1=b",
            "2=a",
            "top c last a",
            "after pop b",
            "replaced z",
            "gone",
            "vias SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-abc,SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-2"
        ]
    );
}

#[test]
fn more_textops_siputils_and_kex_checks() {
    let r = router(&cfg(
        "loadmodule \"kex.so\"\nmodparam(\"siputils\", \"options_support\", \"100rel\")",
        "if (has_body()) { xlog(\"body\"); }
         if (has_body(\"application/sdp\")) { xlog(\"sdp\"); }
         if (starts_with(\"$ru\", \"sip:bob\")) { xlog(\"bob\"); }
         if (in_list(\"$rm\", \"REGISTER, INVITE ,BYE\", \",\")) { xlog(\"listed\"); }
         if (is_first_hop()) { xlog(\"first\"); }
         if (is_numeric(\"0123\") && !is_numeric(\"12a\") && is_alphanum(\"a1\") && !is_alphanum(\"a-1\")
             && is_alphanumex(\"a-1\", \"-\") && is_tel_number(\"+4930\") && !is_tel_number(\"+030\")
             && is_tel_number(\"030\")) { xlog(\"classes\"); }
         if (!isdsturiset()) { $du = \"sip:127.0.0.9\"; }
         if (isdsturiset()) { xlog(\"du\"); }
         if (is_myself(\"sip:127.0.0.1:5060\") && !is_myself(\"sip:10.1.1.1\")) { xlog(\"me\"); }
         setbflag(3); if (isbflagset(3) && !isbflagset(3, 1)) { xlog(\"bflag\"); } resetbflag(3);
         if (!isbflagset(3)) { xlog(\"reset\"); }
         append_urihf(\"X-Uri: <\", \">\r\n\");
         if (is_method(\"OPTIONS\")) { options_reply(); exit; }
         forward();",
    ));
    let body = "v=0\n";
    let invite = request(
        "INVITE",
        "sip:bob@127.0.0.2",
        "Content-Type: Application/SDP;x=1\n",
    )
    .replace(
        "Content-Length: 0\n\n",
        &format!("Content-Length: 5\n\n{body}"),
    );
    let out = run(&r, &invite);
    assert_eq!(
        logs(&out),
        ["body", "sdp", "bob", "listed", "first", "classes", "du", "me", "bflag", "reset"]
    );
    let t = text(sends(&out)[0]);
    assert!(t.contains("\r\nX-Uri: <sip:bob@127.0.0.2>\r\n"), "{t}");
    assert_eq!(
        sends(&out)[0].dest,
        Dest::Addr("127.0.0.9:5060".parse().unwrap())
    );
    let out = run(&r, &request("OPTIONS", "sip:127.0.0.1", ""));
    let t = text(sends(&out)[0]);
    assert!(t.starts_with("SIP/2.0 200 OK\r\n"), "{t}");
    for h in [
        "Accept: */*\r\n",
        "Accept-Encoding: \r\n",
        "Accept-Language: en\r\n",
        "Supported: 100rel\r\n",
    ] {
        assert!(t.contains(h), "{h} in {t}");
    }
    let w = warnings(&cfg("", "if (is_user(\"alice\")) { exit; }"));
    assert!(w.iter().any(|w| w.contains("always false")), "{w:?}");
}

#[test]
fn every_message_pseudo_variable_reads_its_field() {
    let r = router(&cfg(
        "",
        "xlog(\"ru=$ru rU=$rU rd=$rd rp=$rp rP=$rP rz=$rz ou=$ou oU=$oU du=$du\");
         xlog(\"fu=$fu fU=$fU fd=$fd fn=$fn ft=$ft tu=$tu tU=$tU td=$td tn=$tn tt=$tt\");
         xlog(\"ci=$ci cs=$cs rm=$rm si=$si sp=$sp Ri=$Ri Rp=$Rp RAi=$RAi RAp=$RAp pr=$pr proto=$proto\");
         xlog(\"ua=$ua ct=$ct cl=$cl ml=$ml mt=$mt hdrc=$hdrc(Via) hdr=$hdr(Subject) bi=$T_branch_idx\");
         xlog(\"rb=$rb|\");
         $shv(n) = $shv(n) + 1; xlog(\"shv=$shv(n) null=$null\");
         if ($Ts > 1700000000) { xlog(\"Ts\"); }
         sethost(\"10.0.0.7\"); xlog(\"new ru=$ru ou=$ou\");
         route(R); xlog(\"rc=$rc retcode=$retcode ?=$?\");
     }
     route[R] { return(-4);",
    ));
    let msg = request(
        "INVITE",
        "sips:bob@example.net:5071;transport=tcp",
        "User-Agent: t/1\nContact: <sip:alice@10.0.0.1>\nSubject: hi\nContent-Type: text/plain\n",
    )
    .replace(
        "From: <sip:alice@example.com>",
        "From: \"Alice\" <sip:alice@example.com>",
    )
    .replace(
        "To: <sip:bob@example.com>",
        "To: Bob <sip:bob@example.com>;tag=b2",
    )
    .replace("Content-Length: 0\n\n", "Content-Length: 5\n\nhey\n");
    let len = msg.replace('\n', "\r\n").len();
    let out = run(&r, &msg);
    assert_eq!(
        logs(&out),
        [
            "ru=sips:bob@example.net:5071;transport=tcp rU=bob rd=example.net rp=5071 rP=tcp rz=sips ou=sips:bob@example.net:5071;transport=tcp oU=bob du=<null>".to_string(),
            "fu=sip:alice@example.com fU=alice fd=example.com fn=\"Alice\" ft=a1 tu=sip:bob@example.com tU=bob td=example.com tn=Bob tt=b2".into(),
            "ci=call-1@example.com cs=1 rm=INVITE si=127.0.0.1 sp=5070 Ri=127.0.0.1 Rp=5060 RAi=127.0.0.1 RAp=5060 pr=udp proto=udp".into(),
            format!("ua=t/1 ct=<sip:alice@10.0.0.1> cl=5 ml={len} mt=1 hdrc=1 hdr=hi bi=0"),
            "rb=hey\r\n|".into(),
            "shv=1 null=<null>".into(),
            "Ts".into(),
            "new ru=sips:bob@10.0.0.7:5071;transport=tcp ou=sips:bob@example.net:5071;transport=tcp".into(),
            "rc=-4 retcode=-4 ?=-4".into(),
        ]
    );
    // $shv is shared by every message the router handles.
    assert!(logs(&run(&r, &msg)).contains(&"shv=2 null=<null>"));
    // A reply's status and reason.
    let reply = "SIP/2.0 486 Busy Here\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-x\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-y\nFrom: <sip:a@x>;tag=1\nTo: <sip:b@y>;tag=2\nCall-ID: c\nCSeq: 7 INVITE\nContent-Length: 0\n\n";
    let r = router(&format!("{MODULES}request_route {{ exit; }} reply_route {{ xlog(\"rs=$rs rr=$rr rm=$rm cs=$cs mt=$mt\"); }}"));
    assert_eq!(
        logs(&run(&r, reply))[0],
        "rs=486 rr=Busy Here rm=INVITE cs=7 mt=2"
    );
}

#[test]
fn script_flags_are_apart_from_message_flags() {
    let r = router(&cfg(
        "loadmodule \"kex.so\"\nflags FLT_NAT:4;",
        "setsflag(FLT_NAT);
         if (issflagset(FLT_NAT) && !isflagset(FLT_NAT)) { xlog(\"script only\"); }
         setflag(FLT_NAT); resetsflag(FLT_NAT);
         if (isflagset(FLT_NAT) && !issflagset(FLT_NAT)) { xlog(\"message only\"); }
         setdsturi(\"sip:127.0.0.8:5099\"); xlog(\"$du\"); resetdsturi();
         if (!isdsturiset()) { xlog(\"no du\"); }",
    ));
    assert_eq!(
        logs(&run(&r, &request("INVITE", "sip:bob@127.0.0.2", ""))),
        ["script only", "message only", "sip:127.0.0.8:5099", "no du"]
    );
}

#[test]
fn a_from_tag_with_octets_a_uri_may_not_hold_is_escaped_in_ftag() {
    let invite = request("INVITE", "sip:bob@127.0.0.2", "").replace("tag=a1", "tag=a`1%");
    let t = sent(&cfg("", "record_route(); forward();"), &invite);
    assert!(
        t.contains("Record-Route: <sip:127.0.0.1:5060;lr;ftag=a%601%25>\r\n"),
        "{t}"
    );
    sip_message::Message::parse(t.as_bytes())
        .and_then(|m| m.check_syntax())
        .expect("the forwarded request parses");
    // The escaped tag still tells the direction.
    let r = router(&cfg(
        "",
        "if (loose_route() && is_direction(\"downstream\")) { xlog(\"down\"); }",
    ));
    let bye = in_dialog("sip:bob@10.0.0.5", "<sip:127.0.0.1:5060;lr;ftag=a%601%25>")
        .replace("tag=a1", "tag=a`1%");
    assert_eq!(logs(&run(&r, &bye)), ["down"]);
}

#[test]
fn pseudo_variables_without_the_pv_module_are_flagged() {
    let without = "loadmodule \"xlog.so\"\nrequest_route {\n  $var(x) = 1;\n  xlog(\"$ru\");\n}\n";
    let w = warnings(without);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("test.cfg:3:") && w[0].contains("loadmodule \"pv.so\""),
        "{w:?}"
    );
    let with = without.replace(
        "loadmodule \"xlog.so\"",
        "loadmodule \"xlog.so\"\nloadmodule \"pv.so\"",
    );
    assert!(warnings(&with).is_empty());
    // $rc is the core's own.
    assert!(warnings("loadmodule \"xlog.so\"\nrequest_route { xlog(\"$rc\"); }").is_empty());
}

/// Modules loaded before the config (`RouterConfig::modules`, Kamailio's `--loadmodule`):
/// their functions and `modparam`s work without a `loadmodule` line, as if the config had
/// loaded them first.
#[test]
fn modules_loaded_before_the_config() {
    let config = "modparam(\"sl\", \"bind_tm\", 0)\nrequest_route {\n  sl_send_reply(\"200\", \"Preloaded\");\n}\n";
    let e = compile_error(config);
    assert!(e.contains("sl"), "without the module: {e}");
    let parsed = cfg_parser::parse_str("test.cfg", config, &Default::default());
    let rc = RouterConfig {
        modules: vec!["sl".into()],
        ..RouterConfig::default()
    };
    let (r, _) = Router::with_sources(&parsed.config, rc, Some(parsed.sources()))
        .expect("compiles with sl loaded before the config");
    let out = run(&r, &request("OPTIONS", "sip:bob@127.0.0.1", ""));
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Send(s) if String::from_utf8_lossy(&s.data).starts_with("SIP/2.0 200 Preloaded"))),
        "{out:?}"
    );
    assert!(core_routing::module_available("sl"));
    assert!(!core_routing::module_available("tm"));
}

/// A module is loaded once, as in Kamailio: a second `loadmodule` of it is an error at its
/// place (also after `--loadmodule`), unless it has the `o` (optional) option.
#[test]
fn a_module_is_loaded_once() {
    let e = compile_error(
        "loadmodule \"sl.so\"\nloadmodule \"sl\"\nrequest_route {\n  sl_send_reply(\"200\", \"OK\");\n}\n",
    );
    assert!(
        e.starts_with("test.cfg:2:12: module `sl` is loaded already (above)"),
        "{e}"
    );
    let ok = "loadmodule \"sl.so\"\nloadmodule(\"sl.so\", \"o\")\nrequest_route {\n  sl_send_reply(\"200\", \"OK\");\n}\n";
    let parsed = cfg_parser::parse_str("test.cfg", ok, &Default::default());
    assert!(Router::new(&parsed.config, RouterConfig::default()).is_ok());

    let parsed = cfg_parser::parse_str("test.cfg", "loadmodule \"sl.so\"\n", &Default::default());
    let rc = RouterConfig {
        modules: vec!["sl".into()],
        ..RouterConfig::default()
    };
    let e = match Router::new(&parsed.config, rc) {
        Ok(_) => panic!("sl loaded twice"),
        Err(e) => e.message,
    };
    assert!(e.contains("loaded already (with --loadmodule)"), "{e}");
}
