//! Parsing in chunks on several threads gives exactly the result of one sequential parse:
//! the same AST (spans included) and the same diagnostics, for every corpus file (broken
//! ones too) and for a large file with a mistake far from the start.

mod common;

use cfg_lexer::{lex_file, lex_str_with, AfterPart, FsLoader, LexOptions, Lexed};
use cfg_parser::parse_lexed_in_parts;

fn assert_same_in_parts(name: &str, lex: impl Fn() -> Lexed) -> bool {
    let one = parse_lexed_in_parts(lex(), 1);
    for parts in [2, 3, 5] {
        let many = parse_lexed_in_parts(lex(), parts);
        assert_eq!(
            one.config, many.config,
            "{name}: AST differs in {parts} parts"
        );
        assert_eq!(
            one.diagnostics, many.diagnostics,
            "{name}: diagnostics differ in {parts} parts"
        );
    }
    one.has_errors()
}

#[test]
fn every_corpus_file_parses_the_same_in_parts() {
    let (mut clean, mut broken) = (0, 0);
    for (name, path) in common::corpus_configs() {
        let has_errors =
            assert_same_in_parts(&name, || lex_file(&path, &LexOptions::default(), &FsLoader));
        if has_errors {
            broken += 1;
        } else {
            clean += 1;
        }
    }
    assert!(clean > 100 && broken > 0, "clean {clean}, broken {broken}");
}

/// Many route blocks, so that every part count finds cut points.
fn many_routes(n: usize, broken_at: Option<usize>) -> String {
    let mut text = String::from("debug=2\nrequest_route {\n  route(R0);\n}\n");
    for i in 0..n {
        let stmt = if broken_at == Some(i) {
            "if ($rU == \"x\") { drop }"
        } else {
            "if ($rU == \"x\") { drop; }"
        };
        text.push_str(&format!(
            "route[R{i}] {{\n  {stmt}\n  $var(a) = {i} + 1;\n}}\nfailure_route[F{i}] {{\n  exit;\n}}\n"
        ));
    }
    text
}

#[test]
fn a_mistake_in_a_later_chunk_is_reported_as_in_one_piece() {
    let text = many_routes(200, Some(170));
    let has_errors = assert_same_in_parts("many routes", || {
        lex_str_with("many.cfg", &text, &LexOptions::default(), &FsLoader)
    });
    assert!(has_errors);
    let parsed = parse_lexed_in_parts(
        lex_str_with("many.cfg", &text, &LexOptions::default(), &FsLoader),
        2,
    );
    let errors: Vec<_> = parsed.errors().collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let line = parsed.sources().location(errors[0].span).start.line;
    assert_eq!(line, 4 + 170 * 7 + 2, "{errors:?}");
}

#[test]
fn a_clean_file_parses_the_same_in_parts() {
    let text = many_routes(200, None);
    let has_errors = assert_same_in_parts("many routes", || {
        lex_str_with("many.cfg", &text, &LexOptions::default(), &FsLoader)
    });
    assert!(!has_errors);
}

#[test]
fn checks_walked_in_parts_keep_declaration_order() {
    // `FL` is declared in the middle: uses before it are errors, uses after it are not, and
    // the walk in parts must see the declaration exactly where the sequential walk does.
    let mut text = String::from("request_route {\n  route(R0);\n}\n");
    for i in 0..40 {
        if i == 20 {
            text.push_str("flags FL;\n");
        }
        text.push_str(&format!(
            "route[R{i}] {{\n  setflag(FL);\n  route(NOPE{i});\n}}\n"
        ));
    }
    assert_same_in_parts("flags", || {
        lex_str_with("flags.cfg", &text, &LexOptions::default(), &FsLoader)
    });
    let parsed = parse_lexed_in_parts(
        lex_str_with("flags.cfg", &text, &LexOptions::default(), &FsLoader),
        3,
    );
    let count = |what: &str| parsed.errors().filter(|d| d.message.contains(what)).count();
    assert_eq!(count("flag `FL` is not declared"), 20);
    assert_eq!(count("is not defined"), 40);
}

/// A config shaped like the benchmark's: a header of directives, then many route blocks that
/// use the defines (also define values that expand to several tokens) and strings the
/// `#!substdef` rule rewrites.
fn header_and_routes(routes: usize, broken_at: Option<usize>) -> String {
    let mut text = String::from(
        "#!define FLAG_A 3\n#!define LOCAL \"127.0.0.1\"\n#!define PAIR 1 + 2\n\
         #!substdef \"/DOMAIN/example.org/\"\n#!ifdef NOPE\n#!define FLAG_A 4\n#!endif\n\
         loadmodule \"sl.so\"\nloadmodule \"pv.so\"\nflags FL;\n\
         request_route {\n  route(R0);\n}\n",
    );
    for i in 0..routes {
        let broken = if broken_at == Some(i) { "setflag(" } else { "" };
        // What the checks report, in both halves: an empty block, an undeclared flag, a
        // call to an undefined route; and a declared flag that is fine.
        let checked = match i % 40 {
            0 => "if (method == \"X\") {\n  }\n  setflag(FL);",
            13 => "if (isflagset(NOPE)) { drop; }",
            27 => "route(MISSING);",
            // Declared by the `flags` item before route 200: an error before it only.
            5 => "setflag(LATE);",
            _ => "",
        };
        if i == 200 {
            text.push_str("flags LATE;\n");
        }
        text.push_str(&format!(
            "route[R{i}] {{\n  if (src_ip == LOCAL && $rU == \"u{i}.DOMAIN\") {{\n    setflag(FLAG_A);\n  }}\n  {checked}\n  {broken}$var(x) = \"a\" \"b{i}\";\n  $var(p) = PAIR;\n  route(R{next});\n}}\n",
            next = (i + 1) % routes
        ));
    }
    text
}

fn write_temp(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("siprouter-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("temp file");
    path
}

/// Lexing and parsing in two parts on two threads gives what one sequential run gives.
/// Returns whether the parts freed their tokens (the file was parsed in two parts without
/// error).
fn assert_same_split(path: &std::path::Path) -> bool {
    assert_same_split_with(path, &LexOptions::default())
}

/// [`assert_same_split`] with the caller's options.
fn assert_same_split_with(path: &std::path::Path, opts: &LexOptions) -> bool {
    let one = cfg_parser::parse_lexed(lex_file(path, opts, &FsLoader));
    let two =
        cfg_parser::parse_file_splitting_from(path, opts, &FsLoader, 0, AfterPart::KeepTokens);
    let name = path.display();
    assert_eq!(one.config, two.config, "{name}: AST");
    assert_eq!(one.diagnostics, two.diagnostics, "{name}: diagnostics");
    assert_eq!(one.lexed.tokens, two.lexed.tokens, "{name}: tokens");
    assert_eq!(
        one.lexed.expansions, two.lexed.expansions,
        "{name}: expansions"
    );
    assert_eq!(one.lexed.defines, two.lexed.defines, "{name}: defines");
    assert_eq!(
        one.lexed.diagnostics, two.lexed.diagnostics,
        "{name}: lexer diagnostics"
    );
    // With each part's tokens freed once parsed (or, on an error, the file lexed again):
    // the same AST and diagnostics; the tokens are all gone or all there.
    let bare =
        cfg_parser::parse_file_splitting_from(path, opts, &FsLoader, 0, AfterPart::FreeTokens);
    assert_eq!(one.config, bare.config, "{name}: AST without tokens");
    assert_eq!(
        one.diagnostics, bare.diagnostics,
        "{name}: diagnostics without tokens"
    );
    assert!(
        bare.lexed.tokens.is_empty() || bare.lexed.tokens == one.lexed.tokens,
        "{name}: part of the tokens kept"
    );
    assert_eq!(
        one.lexed.expansions, bare.lexed.expansions,
        "{name}: expansions"
    );
    // The public entry point keeps none in any case.
    let checked = cfg_parser::parse_file_without_tokens(path, opts, &FsLoader);
    assert_eq!(
        one.config, checked.config,
        "{name}: AST of parse_file_without_tokens"
    );
    assert!(checked.lexed.tokens.is_empty(), "{name}: tokens kept");
    bare.lexed.tokens.is_empty() && !one.lexed.tokens.is_empty()
}

/// The caller's modules, substitution rules and prelude (Kamailio's `--loadmodule`,
/// `--subst`, `--modparam`) give in two parts what they give in one.
#[test]
fn caller_options_are_the_same_in_two_parts() {
    let opts = LexOptions {
        modules: vec!["textops".into()],
        substs: vec![(cfg_lexer::SubstKind::Subst, "/b1/c1/g".into())],
        prelude: vec![(
            "--modparam=pv:varset:s:x".into(),
            "modparam(\"pv\", \"varset\", \"x=s:b1\")\n".into(),
        )],
        ..LexOptions::default()
    };
    let text = format!(
        "#!ifdef MOD_textops\nlog_name = \"textops_loaded\"\n#!endif\n{}",
        header_and_routes(300, None)
    );
    let path = write_temp("split-opts.cfg", &text);
    let split = cfg_lexer::lex_file_in_pieces(&path, &opts, &FsLoader, 0, |p| {
        (p.tokens.len(), AfterPart::KeepTokens)
    });
    assert!(
        matches!(split, cfg_lexer::Split::Pieces { .. }),
        "the file was not split"
    );
    assert!(assert_same_split_with(&path, &opts));
    let parsed = cfg_parser::parse_file(&path, &opts, &FsLoader);
    let json = serde_json::to_string(&parsed.config).expect("json");
    assert!(json.contains("textops_loaded"), "MOD_textops defined");
    assert!(
        json.contains("x=s:b1") && json.contains("ac10") && !json.contains("ab10"),
        "the rule rewrites the config's strings, not the prelude's"
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_file_lexed_and_parsed_in_pieces_is_the_same() {
    let path = write_temp("split.cfg", &header_and_routes(300, None));
    // The split does happen for this file (else the comparison below proves nothing).
    let split = cfg_lexer::lex_file_in_pieces(&path, &LexOptions::default(), &FsLoader, 0, |p| {
        (p.tokens.len(), AfterPart::KeepTokens)
    });
    let kept = match split {
        cfg_lexer::Split::Pieces { lexed, results } => {
            // Several pieces, each handed over with its tokens, in the file's order; the
            // first is short (it ends after the first route block, `request_route`).
            assert!(results.len() > 2, "{results:?}");
            assert!(results[1..].iter().all(|&n| n > 100), "{results:?}");
            assert!(results[0] < results[1], "{results:?}");
            assert_eq!(results.iter().sum::<usize>(), lexed.tokens.len());
            assert!(!lexed.expansions.is_empty());
            let half = results.len() / 2;
            results[..half].iter().sum::<usize>()
        }
        cfg_lexer::Split::One(_) => panic!("the file was not split"),
    };
    // The tokens of a piece the caller does not want any more are left out of the result,
    // whichever thread lexed the piece: here those of the second half of the pieces.
    let starts: Vec<u32> =
        match cfg_lexer::lex_file_in_pieces(&path, &LexOptions::default(), &FsLoader, 0, |p| {
            (
                p.tokens.first().map_or(0, |t| t.span.start),
                AfterPart::KeepTokens,
            )
        }) {
            cfg_lexer::Split::Pieces { results, .. } => results,
            cfg_lexer::Split::One(_) => panic!("the file was not split"),
        };
    let second_half = starts[starts.len() / 2];
    let split = cfg_lexer::lex_file_in_pieces(&path, &LexOptions::default(), &FsLoader, 0, |p| {
        let first = p.tokens.first().map_or(0, |t| t.span.start);
        let after = if first < second_half {
            AfterPart::KeepTokens
        } else {
            AfterPart::FreeTokens
        };
        ((), after)
    });
    match split {
        cfg_lexer::Split::Pieces { lexed, .. } => assert_eq!(lexed.tokens.len(), kept),
        cfg_lexer::Split::One(_) => panic!("the file was not split"),
    }
    assert!(
        assert_same_split(&path),
        "a clean file is parsed in two parts, not again in one piece"
    );
    let parsed = cfg_parser::parse_file(&path, &LexOptions::default(), &FsLoader);
    let count = |what: &str| {
        parsed
            .diagnostics
            .iter()
            .filter(|d| d.message.contains(what))
            .count()
    };
    assert_eq!(count("empty block"), 8);
    assert_eq!(count("flag `NOPE` is not declared"), 8);
    assert_eq!(count("route `MISSING` is not defined"), 7);
    assert_eq!(count("flag `LATE` is not declared"), 5);
    // A mistake in the second part: one sequential run reports it, as without the split.
    let broken = write_temp("split-broken.cfg", &header_and_routes(300, Some(250)));
    assert!(
        !assert_same_split(&broken),
        "a broken file's tokens were freed"
    );
    assert!(cfg_parser::parse_file(&broken, &LexOptions::default(), &FsLoader).has_errors());
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(broken);
}

#[test]
fn every_corpus_file_is_the_same_when_split_lexing_is_tried() {
    let mut freed = 0;
    for (_, path) in common::corpus_configs() {
        freed += usize::from(assert_same_split(&path));
    }
    // Clean files parsed in two parts free the parts' tokens (on two cores).
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert!(
        freed > 0 || cores < 2,
        "no corpus file had its tokens freed"
    );
}

/// The fast parse (each statement and operand read by the alternative its first token
/// starts, errors thrown away) accepts every clean corpus file with the items of the rich
/// parse, and rejects every broken one.
#[test]
fn the_fast_parse_agrees_with_the_rich_one_on_every_corpus_file() {
    let mut clean = 0;
    for (name, path) in common::corpus_configs() {
        let lexed = cfg_lexer::lex_file(&path, &Default::default(), &cfg_lexer::FsLoader);
        let (fast, _, rich_failed) = cfg_parser::fast_and_rich_items(&lexed);
        clean += usize::from(fast.is_some());
        let outcome =
            std::panic::catch_unwind(|| cfg_parser::fuzzing::assert_fast_parse_agrees(&lexed));
        assert!(outcome.is_ok(), "{name} (rich parse failed: {rich_failed})");
    }
    assert!(clean > 100, "only {clean} clean corpus files");
}

/// A piece may end on a line inside a comment or a string that looks like the start of a
/// route block: the lexer then reports the unfinished comment or string (or the parser an
/// error), and the file is lexed again in one piece, with the same result.
#[test]
fn a_piece_end_inside_a_comment_or_string_changes_nothing() {
    let routes = |from, n| numbered_routes(from, n, |i| format!("$var(x) = {i};"));
    let lookalike = routes(1000, cfg_lexer::PIECE_BYTES / 20);
    for (open, close) in [("/*\n", "*/\n"), ("$var(s) = \"\n", "\";\n")] {
        let wrapped = if open.starts_with('$') {
            format!("request_route {{\n{open}{lookalike}{close}}}\n")
        } else {
            format!("{open}{lookalike}{close}")
        };
        let text = format!(
            "loadmodule \"pv.so\"\n{}{wrapped}{}{wrapped}{}",
            routes(0, 400),
            routes(400, 400),
            routes(800, 100)
        );
        let path = write_temp("split-lookalike.cfg", &text);
        let parsed = cfg_parser::parse_file(&path, &LexOptions::default(), &FsLoader);
        assert!(
            !parsed.has_errors(),
            "{open:?}: {:?}",
            parsed.errors().next()
        );
        // Lexed again in one piece: a piece did end inside.
        assert!(!assert_same_split(&path), "{open:?}: no piece ended inside");
        let _ = std::fs::remove_file(path);
    }
}

/// What a directive reached through a define's value does in a piece (change the `$`
/// reading, include a file), and a header whose last directive goes on over a `\` line,
/// give in pieces what they give in one.
#[test]
fn directives_through_defines_and_continued_headers_are_the_same_in_pieces() {
    let routes =
        |from, n| numbered_routes(from, n, |i| format!("$var(x) = $avp(a{i});\n  $x = 1;"));
    let included = write_temp("split-imported.cfg", "route[IMPORTED] {\n  drop;\n}\n");
    let cases = [
        (
            "#!define MARK #!KAMAILIO\nloadmodule \"pv.so\"\n".to_string(),
            "route[MARKED] {\n  MARK\n  $x = 2;\n}\n".to_string(),
        ),
        (
            format!(
                "#!define IMP import_file \"{}\"\nloadmodule \"pv.so\"\n",
                included.display()
            ),
            "IMP\n".to_string(),
        ),
        (
            "loadmodule \"pv.so\"\n#!define CONTINUED 1 \\\n  + 2\n".to_string(),
            "route[CONT] {\n  $var(c) = CONTINUED;\n}\n".to_string(),
        ),
    ];
    for (header, late) in cases {
        let text = format!("{header}{}{late}{}", routes(0, 600), routes(600, 200));
        let path = write_temp("split-directive.cfg", &text);
        let one = cfg_parser::parse_lexed(lex_file(&path, &LexOptions::default(), &FsLoader));
        assert!(!one.has_errors(), "{late:?}: {:?}", one.errors().next());
        assert_same_split(&path);
        let _ = std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(included);
}

/// Routes `R{from}` … `R{from + n - 1}`, each with the body `body` gives for its number.
fn numbered_routes(from: usize, n: usize, body: impl Fn(usize) -> String) -> String {
    (from..from + n)
        .map(|i| format!("route[R{i}] {{\n  {}\n}}\n", body(i)))
        .collect()
}

/// A loader that counts how often each file is read.
#[derive(Default)]
struct CountingLoader {
    reads: std::sync::Mutex<Vec<std::path::PathBuf>>,
}

impl cfg_lexer::SourceLoader for CountingLoader {
    fn load(&self, path: &std::path::Path) -> std::io::Result<String> {
        if let Ok(mut reads) = self.reads.lock() {
            reads.push(path.to_path_buf());
        }
        FsLoader.load(path)
    }

    fn exists(&self, path: &std::path::Path) -> bool {
        FsLoader.exists(path)
    }
}

/// A mistake in a late piece makes the file parse again in one piece for the diagnostics:
/// from the text read the first time, so the diagnostics are those of that text even if
/// the file changes in between (it is read once).
#[test]
fn a_broken_file_is_parsed_again_from_the_text_already_read() {
    let broken = write_temp("split-once.cfg", &header_and_routes(300, Some(250)));
    // The file is lexed in pieces, and the broken one fails after others were parsed (else
    // the sequential run is the first and only one).
    let split = cfg_lexer::lex_file_in_pieces(&broken, &LexOptions::default(), &FsLoader, 0, |p| {
        (p.tokens.len(), AfterPart::FreeTokens)
    });
    assert!(
        matches!(split, cfg_lexer::Split::Pieces { .. }),
        "the file was not split"
    );
    let loader = CountingLoader::default();
    let parsed = cfg_parser::parse_file_splitting_from(
        &broken,
        &LexOptions::default(),
        &loader,
        0,
        AfterPart::FreeTokens,
    );
    let one = cfg_parser::parse_lexed(lex_file(&broken, &LexOptions::default(), &FsLoader));
    assert!(parsed.has_errors());
    assert_eq!(parsed.diagnostics, one.diagnostics);
    let reads = loader.reads.lock().map(|r| r.len()).unwrap_or(0);
    assert_eq!(reads, 1, "the file was read again");
    let _ = std::fs::remove_file(broken);
}

/// `parse_file_with` calls `first` once, with the first piece's items (the header's
/// modules are in them), before `each` sees a piece, and `each` works on every piece with
/// its value, in file order: no piece is left out because a thread finished it before the
/// first. (`first` takes its time on some runs, so that the other threads are done with
/// pieces before it returns.)
#[test]
fn every_piece_is_worked_on_with_what_the_first_gives() {
    use cfg_parser::ast::Item;
    use std::sync::atomic::{AtomicUsize, Ordering};
    if cfg_lexer::cores().unwrap_or(1) < 2 {
        return; // one core: nothing is parsed in pieces
    }
    let path = write_temp("first-piece.cfg", &header_and_routes(1000, None));
    let is_route = |item: &Item| matches!(item, Item::Route(_));
    for run in 0..6 {
        let firsts = AtomicUsize::new(0);
        let seen = AtomicUsize::new(0);
        let first = |items: &[Item]| {
            firsts.fetch_add(1, Ordering::Relaxed);
            if run % 2 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(30));
            }
            assert_eq!(
                seen.load(Ordering::Relaxed),
                0,
                "a piece was worked on first"
            );
            items
                .iter()
                .filter(|i| matches!(i, Item::LoadModule(_)))
                .count()
        };
        let each = |piece: cfg_parser::PieceItems<'_>, modules: &usize| {
            seen.fetch_add(1, Ordering::Relaxed);
            let routes = piece.items.iter().filter(|i| is_route(i)).count();
            (piece.index, *modules, routes)
        };
        let (parsed, pieces) =
            cfg_parser::parse_file_with(&path, &LexOptions::default(), &FsLoader, &first, &each);
        let (modules, pieces) = pieces.expect("parsed in pieces");
        assert_eq!(firsts.load(Ordering::Relaxed), 1, "run {run}");
        assert_eq!(modules, 2, "run {run}: the first piece's modules");
        assert!(pieces.len() > 2, "run {run}: {} pieces", pieces.len());
        let seen_all = pieces.iter().all(Option::is_some);
        assert!(seen_all, "run {run}: a piece not worked on: {pieces:?}");
        let pieces: Vec<_> = pieces.into_iter().flatten().collect();
        let indexes: Vec<usize> = pieces.iter().map(|p| p.0).collect();
        assert_eq!(indexes, (0..pieces.len()).collect::<Vec<_>>(), "run {run}");
        assert!(
            pieces.iter().all(|p| p.1 == 2),
            "run {run}: a piece without it"
        );
        let routes: usize = pieces.iter().map(|p| p.2).sum();
        let all = parsed.config.items.iter().filter(|i| is_route(i)).count();
        assert_eq!(routes, all, "run {run}: route blocks worked on");
    }
    let _ = std::fs::remove_file(path);
}

/// A mistake the lexer finds in a late piece makes the file lexed again in one piece: with
/// the files the header included as they were read the first time (each is read once, so
/// the diagnostics are those of the texts lexed even if a file changes in between).
#[test]
fn a_file_lexed_again_reads_its_includes_once() {
    let include = write_temp("split-include.cfg", "#!define FROM_INCLUDE 1\n");
    let mut text = format!("include_file \"{}\"\n", include.display());
    text.push_str(&header_and_routes(300, None));
    // A character no token starts with, far into the route blocks.
    let late = text.rfind("route[R250]").expect("route 250");
    // Without the mistake the file is split (so the mistake is found in a piece).
    let clean = write_temp("split-include-clean.cfg", &text);
    let split = cfg_lexer::lex_file_in_pieces(&clean, &LexOptions::default(), &FsLoader, 0, |_| {
        ((), AfterPart::FreeTokens)
    });
    assert!(
        matches!(split, cfg_lexer::Split::Pieces { .. }),
        "not split"
    );
    let _ = std::fs::remove_file(clean);
    text.insert_str(late, "` \n");
    let path = write_temp("split-include-main.cfg", &text);
    let loader = CountingLoader::default();
    let split = cfg_lexer::lex_file_in_pieces(&path, &LexOptions::default(), &loader, 0, |p| {
        (p.tokens.len(), AfterPart::FreeTokens)
    });
    let cfg_lexer::Split::One(lexed) = split else {
        panic!("a file with a lexer error was split");
    };
    assert!(lexed.has_errors());
    assert!(lexed.defines.contains_key("FROM_INCLUDE"));
    let reads = loader.reads.lock().map(|r| r.clone()).unwrap_or_default();
    let of_include = reads.iter().filter(|r| **r == include).count();
    assert_eq!(of_include, 1, "the include was read again: {reads:?}");
    // The same diagnostics as a sequential lex.
    let one = lex_file(&path, &LexOptions::default(), &FsLoader);
    assert_eq!(lexed.diagnostics, one.diagnostics);
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(include);
}
