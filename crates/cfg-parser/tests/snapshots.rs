//! Snapshot tests of the parser: ASTs (printed canonically, which shows the structure — every
//! binary expression is parenthesised — or as JSON for the listen family) and the rendered
//! diagnostics of broken configs.

use cfg_lexer::{LexOptions, MemoryLoader};
use cfg_parser::{parse_file, printer, Parsed};

fn parse(src: &str) -> Parsed {
    let mut loader = MemoryLoader::new();
    loader.insert("test.cfg", src);
    parse_file("test.cfg".as_ref(), &LexOptions::default(), &loader)
}

fn printed(src: &str) -> String {
    let p = parse(src);
    let errors: Vec<String> = p.errors().map(|d| d.render(p.sources())).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    printer::print(&p.config)
}

fn diagnostics(src: &str) -> String {
    let p = parse(src);
    let mut out = String::new();
    for d in &p.diagnostics {
        out.push_str(&d.render_pretty(p.sources()));
        out.push('\n');
    }
    out
}

#[test]
fn expression_precedence() {
    // Kamailio's table differs from C: `^` binds tighter than `&`, shifts looser than
    // comparisons, `>>` tighter than `<<`.
    let src = "route[P] {\n\
        $var(a) = 1 + 2 * 3 - 4 / 2 mod 3;\n\
        $var(b) = 1 & 2 ^ 3 | 4;\n\
        $var(c) = 1 << 2 >> 3;\n\
        $var(d) = $var(x) == 1 << 2;\n\
        $var(e) = !$var(x) && $var(y) || $var(z) and not $var(w) or 0;\n\
        $var(f) = 1 < 2 == 3 > 4;\n\
        $var(g) = -5 + -$var(x) - ~3;\n\
        $var(h) = (int)\"12\" + (str)3 + \"s\";\n\
        $var(i) = defined $avp(x) && strlen($var(s)) > 2 && !strempty($var(t));\n\
        $var(j) = selval($var(x) == 1, \"a\", \"b\");\n\
        $var(k) = $var(s) eq \"x\" || $var(n) ieq 3 || $var(s) ne \"y\" || $var(n) ine 4;\n\
    }\n";
    insta::assert_snapshot!(printed(src));
}

#[test]
fn every_precedence_level_in_one_chain() {
    // Ascending: each operator binds tighter than the one before, so all eleven wait.
    let up = "route[P] { $var(u) = 1 || 2 && 3 | 4 & 5 ^ 6 << 7 >> 8 == 9 > 10 + 11 * 12; }\n";
    assert!(
        printed(up).contains(
            "(1 || (2 && (3 | (4 & (5 ^ (6 << (7 >> (8 == (9 > (10 + (11 * 12)))))))))))"
        ),
        "{}",
        printed(up)
    );
    // Descending, then ascending again: every operator folds what came before it.
    let down =
        "route[P] { $var(d) = 1 * 2 + 3 > 4 == 5 >> 6 << 7 ^ 8 & 9 | 10 && 11 || 12 * 13 - 14; }\n";
    assert!(
        printed(down).contains(
            "(((((((((((1 * 2) + 3) > 4) == 5) >> 6) << 7) ^ 8) & 9) | 10) && 11) || ((12 * 13) - 14))"
        ),
        "{}",
        printed(down)
    );
}

#[test]
fn statements() {
    let src = "#!KAMAILIO\n\
        request_route {\n\
          if (is_method(\"INVITE\")) { route(R); } else if method==\"BYE\" drop; else { exit; }\n\
          while ($var(i) < 3) $var(i) = $var(i) + 1;\n\
          switch ($rm) { case \"INVITE\": xlog(\"inv\"); break; case /\"^B.*\": ; default: return(-1); }\n\
          switch ($var(n)) { case 1: case 2: return; default: }\n\
          if (!mf_process_maxfwd_header(\"10\")) { sl_send_reply(\"483\", \"Too Many Hops\"); exit; }\n\
          force_rport; revert_uri(); add_local_rport;\n\
          { $var(x) = $(ru{s.len}); $avp(s:y) = @via[1].branch; %z = $T_branch_idx; }\n\
          return 1;\n\
        }\n\
        route[R] { drop(); }\n";
    insta::assert_snapshot!(printed(src));
}

#[test]
fn legacy_conditions_and_core_actions() {
    let src = "flags FLT_ACC:1, \"quoted-flag\"\n\
        route[L] {\n\
          if (method==INVITE && uri=~\"^sip:\" && src_ip==10.0.0.0/8 && dst_port==5060) log(1, \"a\");\n\
          if (proto==udp || af==inet6 || msg:len > 1500 || uri==myself || myself==from_uri) log(\"b\");\n\
          if (src_ip==192.168.1.1/255.255.255.0 || src_ip==::1 || src_ip==[2001:db8::1]/64) log(\"c\");\n\
          if (status==\"200\" || to_uri=~\"x\" || snd_proto==tcp) log(\"d\");\n\
          setflag(FLT_ACC); resetflag(3); if (isflagset(FLT_ACC)) log(\"e\");\n\
          forward(); forward(10.0.0.1, 5060); forward(\"sip.example.com\"); forward(uri:host, uri:port);\n\
          forward_tcp(sip.example.com, 5060); force_send_socket(udp:127.0.0.1:5060);\n\
          force_send_socket(tls:[::1]:5061); set_advertised_address(1.2.3.4); set_advertised_port(5080);\n\
          rewritehost(\"h\"); seth(\"h\"); sethostport(\"h:1\"); strip(2); prefix(\"00\"); strip_tail(1);\n\
          udp_mtu_try_proto(tcp); remove_branch(-1); append_branch(); t_relay();\n\
        }\n";
    insta::assert_snapshot!(printed(src));
}

#[test]
fn top_level_items() {
    let src = "#!define PORT 5070\n\
        debug=3 log_stderror=yes log_facility=LOG_LOCAL0 children=4 port=PORT\n\
        tcp_connection_lifetime=-1 tls_log=5071 user=\"kamailio\" group=kamailio\n\
        advertised_address=sip.example.com advertised_port=5060 udp_mtu_try_proto=tcp\n\
        tcp_source_ipv4=10.0.0.1 tcp_source_ipv6=[::1] tls_method=TLSv1 dns=off\n\
        mpath=\"/usr/lib/kamailio/modules/\"\n\
        loadmodule \"tm.so\" loadmodule(\"sl\", \"g\") loadmodulex \"$env(X)\"\n\
        modparam(\"tm\", \"fr_timer\", 30000) modparam(\"usrloc|registrar\", \"x\", -1)\n\
        modparamx(\"tm\", \"y\", $env(Y)) cfgengine \"native\"\n\
        avpflags dialog_cookie\n\
        mygroup.myvar = 1 descr \"a custom variable\"\n\
        mygroup[2].myvar = \"two\"\n\
        kemi.request_route_callback = \"ksr_request_route\"\n\
        coreparam[random_engine] = \"fastrand\"\n\
        #!substdef \"!DOMAIN!example.org!g\"\n\
        route[0] { drop; } onreply_route { drop; } onreply_route[R1] { drop; } reply_route { drop; }\n\
        failure_route[F1] { drop; } branch_route[B1] { drop; } onsend_route { drop; }\n\
        event_route[core:worker-one-init] { log(\"up\"); } route[\"quoted name\"] { drop; }\n";
    insta::assert_snapshot!(printed(src));
}

#[test]
fn listen_family_as_structured_values() {
    let src = "listen=127.0.0.1\n\
        listen=udp:127.0.0.1:5070 tcp:127.0.0.1:5071\n\
        listen=eth0:5080\n\
        listen=udp:localhost:5090 advertise 1.2.3.4:5555 name \"s1\"\n\
        listen=tcp:127.0.0.1:6000 advertise udp:example.com:7000\n\
        listen=udp:[::1]:5060 name \"v6\"\n\
        listen=udp:(127.0.0.1, 127.0.0.2):5100\n\
        listen=udp:127.0.0.1:* virtual\n\
        listen=*:127.0.0.1:5065\n\
        listen=udp:\"mail.domain.com\":5060 advertise \"[2001:db8::1]\":5070\n\
        listen=udp:eth0.100:5060 advertise [2001:db8::1]:5070;\n\
        socket = { bind = udp:1.2.3.4:6000-6002; name = \"rng\"; advertise = 5.6.7.8:7000; workers = 4; }\n\
        socket = { bind = 127.0.0.1:6100 agname = \"grp\" vrf = \"vrf0\" virtual = 1 }\n\
        alias=sip.example.org alias=\"example.net\":5060 domain=udp:example.com\n\
        socket_workers=2\n";
    let p = parse(src);
    let errors: Vec<String> = p.errors().map(|d| d.render(p.sources())).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    insta::assert_snapshot!("listen_family_printed", printer::print(&p.config));
    insta::assert_json_snapshot!("listen_family_ast", p.config.items[..3]);
}

/// Broken configs: each entry of `MISTAKES` is one config with one mistake (empty blocks are
/// warnings, everything else errors); the snapshot holds the rendered diagnostics of all.
const MISTAKES: &[&str] = &[
    "request_route { sl_send_reply(\"200\", \"OK\") }",
    "request_route { if (a) { drop; }",
    "request_route { drop; } }",
    "listen=udp:127.0.0.1:99999",
    "listen=udp:127.0.0.1:abc",
    "listen=udp:300.1.2.3:5060",
    "listen=ws:127.0.0.1:5060",
    "listen=",
    "listen=udp:127.0.0.1:5060 advertise",
    "listen=udp:127.0.0.1 name s1",
    "socket = { name = \"x\" }",
    "socket = { bind = udp:1.2.3.4:5060; advertise = 1.2.3.4 }",
    "chidlren=4",
    "fifo=\"/tmp/ser_fifo\"",
    "debug=\"verbose\"",
    "children=-1",
    "log_facility=\"LOG_LOCAL0\"",
    "tcp_source_ipv4=::1",
    "udp_mtu_try_proto=ws",
    "request_route { route(NOWHERE); }",
    "route[A] { drop; } route[A] { exit; } request_route { route(A); }",
    "request_route { setflag(UNDECLARED); }",
    "request_route { }",
    "request_route { if (a) { } }",
    "request_route { $var(x) = ; }",
    "request_route { $var(x) += 1; }",
    "request_route { if (a) drop; else }",
    "request_route { switch ($rm) { case: drop; } }",
    "request_route { xlog(\"a\" \"b\", ); }",
    "request_route { f(1,, 2); }",
    "modparam(\"tm\", \"fr_timer\")",
    "modparam(\"tm\", \"x\", $var(y))",
    "loadmodule",
    "event_route { drop; }",
    "request_route[named] { drop; }",
    "route[udp] { drop; }",
    "mygroup.var = -1",
    "request_route { if ($var(a) == 1 { drop; } }",
    "request_route { drop; }\nroute[R] { 1 + 2; }\nroute[S] { exit }",
    "kemi.request_route_callback = 5",
    "",
];

#[test]
fn rendered_diagnostics_of_broken_configs() {
    let mut out = String::new();
    for (i, src) in MISTAKES.iter().enumerate() {
        let p = parse(src);
        assert!(
            !p.diagnostics.is_empty(),
            "mistake {i} is not reported: {src:?}"
        );
        out.push_str(&format!("===== {i}: {src:?}\n"));
        out.push_str(&diagnostics(src));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn independent_mistakes_are_all_reported_on_their_lines() {
    let src = "debug=3\n\
        chidlren=4\n\
        request_route {\n\
          sl_send_reply(\"200\", \"OK\")\n\
          drop;\n\
          $var(x) = ;\n\
          route(NOWHERE);\n\
          exit;\n\
        }\n\
        port=\"5060\"\n";
    let p = parse(src);
    let lines: Vec<u32> = p
        .errors()
        .map(|d| p.sources().location(d.span).start.line)
        .collect();
    assert_eq!(lines, [2, 5, 6, 7, 10], "{:#?}", p.diagnostics);
}
