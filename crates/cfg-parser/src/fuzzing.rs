//! The fuzz harness, shared by the libFuzzer target (`fuzz/`) and the property tests.

use cfg_lexer::{LexOptions, MemoryLoader};

/// Lexes and parses `data` as a config (no panic allowed), checks that the fast parse agrees
/// with the rich one ([`assert_fast_parse_agrees`]), that every diagnostic resolves to a
/// position, and — when it parses cleanly — that the printed AST parses
/// again without errors.
///
/// # Panics
/// When one of those properties does not hold: that is the finding.
pub fn lex_parse_print(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut loader = MemoryLoader::new();
    loader.insert("fuzz.cfg", text.as_ref());
    loader.insert("inc.cfg", "listen=udp:127.0.0.1:5060\n");
    let parsed = crate::parse_file("fuzz.cfg".as_ref(), &LexOptions::default(), &loader);
    assert_fast_parse_agrees(&parsed.lexed);
    for d in &parsed.diagnostics {
        let loc = parsed.sources().location(d.span);
        assert!(loc.start.line >= 1 && loc.start.col >= 1);
        let _ = d.render_pretty(parsed.sources());
    }
    if !parsed.has_errors() {
        let printed = crate::printer::print(&parsed.config);
        let again = crate::parse_str("printed.cfg", &printed, &LexOptions::default());
        let errors: Vec<String> = again.errors().map(|d| d.render(again.sources())).collect();
        assert!(
            errors.is_empty(),
            "printed config does not parse: {errors:?}\n{printed}"
        );
    }
}

/// Checks that the fast parse (alternatives chosen by their first token, errors thrown away)
/// accepts exactly what the rich parse accepts without error, with the same items, and that
/// it builds the same items with and without the hand-written route-body reader.
///
/// # Panics
/// When they disagree.
pub fn assert_fast_parse_agrees(lexed: &cfg_lexer::Lexed) {
    let (fast, rich, rich_failed) = crate::fast_and_rich_items(lexed);
    assert_eq!(
        fast,
        crate::fast_items_without_descent(lexed),
        "the route-body reader and the grammar disagree"
    );
    match fast {
        Some(items) => {
            assert!(
                !rich_failed,
                "the fast parse accepts what the rich one rejects"
            );
            assert_eq!(items, rich, "the fast and the rich parse disagree");
        }
        None => assert!(rich_failed, "the fast parse rejects a clean config"),
    }
}
