//! The hand-written route-body reader (`descent`) against the grammar: the same items on the
//! whole corpus and on every form the reader knows, the forms it leaves to the grammar, and
//! the fast path actually taken.

mod common;

use cfg_lexer::{FsLoader, LexOptions, Lexed};

fn lex(text: &str) -> Lexed {
    cfg_lexer::lex_str_with("descent.cfg", text, &LexOptions::default(), &FsLoader)
}

/// The fast parse's items with the reader, checked equal to those without it.
fn fast_items(lexed: &Lexed) -> Option<Vec<cfg_parser::ast::Item>> {
    let (with, _, _) = cfg_parser::fast_and_rich_items(lexed);
    assert_eq!(
        with,
        cfg_parser::fast_items_without_descent(lexed),
        "the reader and the grammar disagree"
    );
    with
}

/// With and without the reader, the fast parse gives the same items (or fails alike) on
/// every corpus file, and in the files that parse the reader reads nearly every route body
/// itself.
#[test]
fn the_reader_builds_the_grammars_items_on_the_corpus_and_reads_most_bodies() {
    let (mut read, mut all) = (0, 0);
    for (name, path) in common::corpus_configs() {
        let lexed = cfg_lexer::lex_file(&path, &LexOptions::default(), &FsLoader);
        let items = std::panic::catch_unwind(|| fast_items(&lexed));
        assert!(items.is_ok(), "{name}");
        if matches!(items, Ok(Some(_))) {
            let (r, a) = cfg_parser::route_bodies_read_by_descent(&lexed);
            read += r;
            all += a;
        }
    }
    assert!(
        all > 400,
        "only {all} route bodies in the clean corpus files"
    );
    // One body in the corpus passes an address to a call (`force_send_socket(udp:…)`).
    assert!(read + 1 >= all, "the reader read {read} of {all} bodies");
}

/// Every statement and operand form the reader knows, in one body: read by the reader, with
/// the grammar's items.
#[test]
fn every_form_the_reader_knows_gives_the_grammars_items() {
    let text = r#"
request_route {
    $var(a) = 1 + 2 * 3 - 4 / 2 mod 3;
    $avp(s:x) = "v" + $var(a) + $(ru{s.len});
    $var(b) = ($var(a) | 4) & 255 ^ 4 + (1 << 4) + (68 >> 2) + ~1 + -5 + - (6) + -$var(a);
    $var(c) = (int)"5" + (str)5;
    $var(d) = strlen($ru) + strempty($fu) + selval($var(a) == 1, "y", "n");
    $var(e) = @ruri.user;
    ;
    {
        setflag(1);
    }
    force_rport;
    force_rport();
    add_local_rport;
    xlog("L_INFO", "x $ru\n");
    f();
    if (method == "INVITE" && !isflagset(5) || (src_ip == 10.0.0.1 and dst_port != 5060)) {
        exit;
    } else if (src_ip == 10.0.0.0/8 || src_ip == 192.168.0.0/255.255.0.0 || dst_ip == ::1) {
        drop;
    } else if (src_ip == fe80::/64 || src_ip == 10.1.0.0/ffff:ffff::) {
        return(1);
    } else if (defined $var(x) && uri == myself && proto == udp && af == inet) {
        return -1;
    } else if (to_uri =~ "^sip:" || from_uri != "x" || $rU eq "a" || $rU ne "b"
               || $var(a) ieq 3 || $var(a) ine 4 || msg:len >= 100 || msg:len < 5) {
        return ();
    } else if (uri == sip.example-host.net || uri == a-b.c || uri == 3com.example) {
        return;
    } else {
        route(NEXT);
    }
    switch ($rU) {
        case "a":
            setflag(1);
            break;
        case /"^b":
        case "c":
            break;
        default:
            $var(z) = 0;
    }
    switch ($var(a)) {
        case 1:
        default:
    }
    while ($var(n) < 2) $var(n) = $var(n) + 1;
    while ($var(n) < 4) {
        $var(n) = $var(n) + 1;
        if (isflagset(1)) break;
    }
    exit;
}
route[NEXT] { drop(); }
"#;
    let lexed = lex(text);
    assert!(lexed.diagnostics.is_empty(), "{:?}", lexed.diagnostics);
    let items = fast_items(&lexed);
    let parsed = cfg_parser::parse_str("descent.cfg", text, &LexOptions::default());
    let errors: Vec<_> = parsed
        .errors()
        .map(|d| d.render(parsed.sources()))
        .collect();
    assert!(items.is_some(), "the fast parse failed: {errors:?}");
    assert_eq!(cfg_parser::route_bodies_read_by_descent(&lexed), (2, 2));
}

/// Forms the grammar reads by trying another alternative are left to it: the body is not
/// read by the reader, and the fast parse still gives the grammar's items.
#[test]
fn forms_the_reader_leaves_to_the_grammar_still_parse() {
    let deep = format!("$var(a) = {}1{};", "(".repeat(200), ")".repeat(200));
    for body in [
        "force_send_socket(udp:127.0.0.1:5060);",
        "force_send_socket(tcp:[::1]:5060);",
        "if (src_ip == [::1]) drop;",
        "$var(a) = 10.0.0.0 / 200;",
        deep.as_str(),
    ] {
        let lexed = lex(&format!("request_route {{\n{body}\n}}\n"));
        let items = fast_items(&lexed);
        assert!(items.is_some(), "{body}: the fast parse failed");
        assert_eq!(
            cfg_parser::route_bodies_read_by_descent(&lexed),
            (0, 1),
            "{body}"
        );
    }
}

/// Every route block header the reader knows: names of every kind, and `route[0]`.
#[test]
fn route_headers_give_the_grammars_items() {
    let text = r#"
request_route { exit; }
route { drop; }
route[0] { drop; }
route[7] { drop; }
route[NEXT_HOP] { drop; }
route["quoted name"] { drop; }
failure_route[F] { drop; }
onreply_route { drop; }
onreply_route[R] { drop; }
reply_route { drop; }
branch_route[B] { drop; }
onsend_route { drop; }
event_route[htable:mod-init] { drop; }
event_route[xhttp:request] { drop; }
"#;
    let lexed = lex(text);
    assert!(fast_items(&lexed).is_some(), "the fast parse failed");
    assert_eq!(cfg_parser::route_bodies_read_by_descent(&lexed), (14, 14));
}

/// Headers the grammar reports are left to it: the fast parse fails, as without the reader.
#[test]
fn route_headers_the_grammar_reports_are_left_to_it() {
    for text in [
        "event_route { drop; }",
        "request_route[A] { drop; }",
        "reply_route[A] { drop; }",
        "route[if] { drop; }",
        "route[A { drop; }",
        "route[] { drop; }",
        "route[A] drop;",
    ] {
        let lexed = lex(text);
        assert!(
            fast_items(&lexed).is_none(),
            "{text}: the fast parse accepted it"
        );
        assert_eq!(
            cfg_parser::route_bodies_read_by_descent(&lexed),
            (0, 1),
            "{text}"
        );
    }
}

/// Broken bodies are not read by the reader, and fail the fast parse (the rich parse then
/// reports them) as they did without it.
#[test]
fn broken_bodies_are_left_to_the_grammar() {
    for body in [
        "$var(a) += 1;",
        "$var(a) = 1",
        "if (1) else drop;",
        "$var(a) = 1.2.3.400;",
        "$var(a) = 1.2;",
        "xlog(\"a\",);",
        "switch ($rU) { drop; }",
        "case 1: drop;",
        "$var(a) = ;",
        "method;",
        "return (1;",
        "exit 1 2;",
        "if (1) { drop; ",
    ] {
        let lexed = lex(&format!("request_route {{\n{body}\n}}\n"));
        let items = fast_items(&lexed);
        assert!(items.is_none(), "{body}: the fast parse accepted it");
        let (read, _) = cfg_parser::route_bodies_read_by_descent(&lexed);
        assert_eq!(read, 0, "{body}");
    }
}
