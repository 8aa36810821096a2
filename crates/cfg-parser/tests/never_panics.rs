//! Property tests: random token soups and mutated corpus configs never panic the lexer or the
//! parser, every diagnostic resolves, and a cleanly parsed config prints to text that parses.

use proptest::prelude::*;

/// Tokens and fragments of the language, glued in random order.
const SOUP: &[&str] = &[
    "listen",
    "=",
    "udp",
    ":",
    "127.0.0.1",
    ":",
    "5060",
    "[::1]",
    "tcp",
    "advertise",
    "name",
    "\"s\"",
    "virtual",
    "socket",
    "{",
    "}",
    "bind",
    ";",
    "alias",
    "port",
    "debug",
    "children",
    "-",
    "1",
    "yes",
    "request_route",
    "route",
    "[",
    "]",
    "R",
    "failure_route",
    "onreply_route",
    "event_route[core:worker-one-init]",
    "if",
    "else",
    "while",
    "switch",
    "case",
    "default",
    "break",
    "return",
    "exit",
    "drop",
    "(",
    ")",
    ",",
    "$var(x)",
    "$ru",
    "%a",
    "@via[1].branch",
    "==",
    "!=",
    "=~",
    "&&",
    "||",
    "!",
    "+",
    "*",
    "/",
    "mod",
    "<<",
    ">>",
    "&",
    "|",
    "^",
    "~",
    "(int)",
    "(str)",
    "defined",
    "strlen",
    "selval",
    "method",
    "src_ip",
    "10.0.0.0/8",
    "myself",
    "INVITE",
    "xlog",
    "forward",
    "force_send_socket",
    "loadmodule",
    "\"tm.so\"",
    "modparam",
    "flags",
    "FLAG",
    "setflag",
    "kemi",
    ".",
    "coreparam",
    "grp",
    "descr",
    "#!define X 1\n",
    "#!ifdef X\n",
    "#!endif\n",
    "include_file \"inc.cfg\"\n",
    "\n",
    " ",
    "#c\n",
    "/* c */",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn token_soups_never_panic(idx in proptest::collection::vec(0..SOUP.len(), 0..80)) {
        let text: Vec<&str> = idx.iter().map(|&i| SOUP[i]).collect();
        cfg_parser::fuzzing::lex_parse_print(text.join(" ").as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        cfg_parser::fuzzing::lex_parse_print(&bytes);
    }
}

/// Every corpus config, cut at many points and with bytes flipped, goes through the harness.
#[test]
fn mutated_corpus_configs_never_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/kamailio-cfg");
    let mut n = 0;
    for name in [
        "etc__kamailio.cfg",
        "misc__examples__pkg__kamailio-basic.cfg",
        "misc__examples__mixed__kamailio-minimal-anycast.cfg",
    ] {
        let text = std::fs::read(dir.join(name)).expect("corpus file");
        for cut in (0..text.len()).step_by(997) {
            cfg_parser::fuzzing::lex_parse_print(&text[..cut]);
            let mut flipped = text.clone();
            flipped[cut] = b'}';
            cfg_parser::fuzzing::lex_parse_print(&flipped);
            n += 2;
        }
    }
    assert!(n > 50);
}
