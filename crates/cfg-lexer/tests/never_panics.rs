//! Property tests: whatever the input, the lexer returns (no panic, no hang) and every span it
//! hands out lies inside its file and resolves to a position.

use cfg_lexer::{lex_str_with, LexOptions, Lexed, MemoryLoader};
use proptest::prelude::*;

fn check_spans(lexed: &Lexed) {
    let spans = lexed
        .tokens
        .iter()
        .map(|t| t.span)
        .chain(lexed.diagnostics.iter().map(|d| d.span))
        .chain(lexed.expansions.iter().map(|e| e.use_site));
    for span in spans {
        let file = lexed.sources.file(span.file);
        assert!(span.start <= span.end, "{span:?}");
        assert!((span.end as usize) <= file.text().len(), "{span:?}");
        let loc = lexed.sources.location(span);
        assert!(loc.start.line >= 1 && loc.start.col >= 1);
    }
}

fn lex_with_includes(text: &str) -> Lexed {
    let mut loader = MemoryLoader::new();
    loader.insert("inc.cfg", "included #!define FROM_INC 1\n\"s\"");
    loader.insert("self.cfg", "include_file \"self.cfg\"");
    lex_str_with("main.cfg", text, &LexOptions::default(), &loader)
}

/// Fragments of real config syntax, glued in random order, reach far deeper into the
/// preprocessor than uniformly random bytes do.
const PIECES: &[&str] = &[
    "#!define A 1\n",
    "#!define B A + \\\n 2\n",
    "#!ifdef A\n",
    "#!ifndef B\n",
    "#!else\n",
    "#!endif\n",
    "#!endif # c\n",
    "#!ifexp A > 0\n",
    "#!defexp C A * 3\n",
    "#!undef A\n",
    "#!subst \"/x/y/g\"\n",
    "#!substdef \"!S!v!\"\n",
    "include_file \"inc.cfg\"\n",
    "import_file \"none.cfg\"\n",
    "include_file \"self.cfg\"\n",
    "#!KAMAILIO\n",
    "#!SER\n",
    "\"str\\\"ing\" ",
    "'raw' ",
    "\"unterminated",
    "/* c /* n */ ",
    "*/",
    "// l\n",
    "# l\n",
    "$ru ",
    "$var(x) ",
    "$(ru{s.len}) ",
    "$(unclosed ",
    "$x[1] ",
    "%f.y ",
    "@via[1].branch ",
    "@msg.header[\"X\"] ",
    "::1 ",
    "[fe80::1]:5060 ",
    "0x1f ",
    "08 ",
    "99999999999 ",
    "A ",
    "B ",
    "C ",
    "S ",
    "event_route[core:x-y] ",
    "event_route[",
    "loadmodule \"pv.so\" ",
    "msg:len ",
    "(int) ",
    "=~ ",
    "== ",
    "{ ",
    "} ",
    "; ",
    "\\\n",
    "\n",
    "?",
    "é",
    "\u{0}",
    "!!define D 4\n",
    "#!defenv NOPE_ENV_VAR\n",
    "#!trydefenv NOPE_ENV_VAR\n",
    "#!define A-B\n",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        check_spans(&lex_with_includes(&text));
    }

    #[test]
    fn arbitrary_strings_never_panic(text in "\\PC{0,300}") {
        check_spans(&lex_with_includes(&text));
    }

    #[test]
    fn config_fragments_never_panic(idx in proptest::collection::vec(0..PIECES.len(), 0..60)) {
        let text: String = idx.iter().map(|&i| PIECES[i]).collect();
        check_spans(&lex_with_includes(&text));
    }

    #[test]
    fn truncated_configs_never_panic(cut in 0usize..2000) {
        let text = "#!define P 5060\n#!ifdef P\nlisten=udp:[::1]:P\n#!else\nx\n#!endif\n\
                    request_route { if ($ru =~ \"^sip:\" && @via[1].branch) { $var(x) = $(ru{s.len}); } }\n";
        let cut = cut.min(text.len());
        check_spans(&lex_with_includes(&text[..cut]));
    }
}

#[test]
fn exponential_defines_are_cut_off() {
    let mut text = String::from("#!define D0 x\n");
    for i in 1..40 {
        text.push_str(&format!("#!define D{i} D{p} D{p}\n", p = i - 1));
    }
    text.push_str("y = D39\n");
    let lexed = lex_with_includes(&text);
    assert!(lexed
        .errors()
        .any(|e| matches!(e.kind, cfg_lexer::LexError::TooManyExpansions(_))));
}
