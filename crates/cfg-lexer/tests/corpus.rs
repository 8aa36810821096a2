//! Lexes every configuration-language file of the two Kamailio corpora in `../shared/corpus`.
//!
//! - `cfg` and `cfg-include` files lex with no error. Includes are resolved inside the corpus
//!   (its files are flattened; the loader rebuilds their original tree). An include whose
//!   target is not in the corpus must fail with an error naming that file: those files are
//!   listed in `EXPECTED_ERRORS` with the reason — nothing is filtered silently. So are the
//!   corpus files whose `#!ifdef`/`#!endif` do not balance (Kamailio rejects those as well).
//! - `cfg-bad` files produce the expected error at the expected line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cfg_lexer::{lex_file, Diagnostic, LexError, LexOptions, MemoryLoader, SourceMap};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

/// The corpus files that must fail, each with the error it must produce (and no other) and
/// why. Everything else must lex cleanly.
const EXPECTED_ERRORS: &[(&str, Expect, &str)] = &[
    (
        "misc/examples/ims/icscf/kamailio.cfg",
        Expect::MissingInclude("icscf.cfg"),
        "only icscf.cfg.sample ships in Kamailio's tree",
    ),
    (
        "misc/examples/ims/scscf/kamailio.cfg",
        Expect::MissingInclude("scscf.cfg"),
        "only scscf.cfg.sample ships in Kamailio's tree",
    ),
    (
        "misc/examples/kemi/kamailio-basic-kemi.cfg",
        Expect::MissingInclude("/usr/local/etc/kamailio/kamailio-basic-kemi-native.cfg"),
        "includes an absolute path of an installed system",
    ),
    (
        "units/tregxx0001/kamailio-tregxx0001.cfg",
        Expect::MissingInclude("kamailio-tregxx0001-inc.cfg"),
        "the include is not part of the corpus (Kamailio's own check fails the same way)",
    ),
    (
        "etc/sip-router.cfg",
        Expect::Unclosed(183),
        "8 #!ifdef and 7 #!endif: line 186 opens a nested #!ifdef that is never closed; \
         Kamailio's balance check rejects the file too",
    ),
    (
        "misc/examples/pkg/sip-router-oob.cfg",
        Expect::Unclosed(1718),
        "13 #!ifdef and 12 #!endif (same nested-#!ifdef slip as etc/sip-router.cfg)",
    ),
    (
        "misc/examples/pkg/sip-router-basic.cfg",
        Expect::Unmatched(121),
        "6 #!ifdef and 7 #!endif: the #!endif at line 121 closes nothing",
    ),
];

/// An expected corpus error.
#[derive(Debug)]
enum Expect {
    /// `include_file` of a name that must be reported.
    MissingInclude(&'static str),
    /// An `#!ifdef` opened at this line and never closed.
    Unclosed(u32),
    /// An `#!endif` at this line with nothing open.
    Unmatched(u32),
}

impl Expect {
    fn matches(&self, d: &Diagnostic, sources: &SourceMap) -> bool {
        let line = sources.location(d.span).start.line;
        match (self, &d.kind) {
            (Expect::MissingInclude(n), LexError::IncludeNotFound { name, .. }) => name == n,
            (Expect::Unclosed(l), LexError::UnclosedConditional(_)) => line == *l,
            (Expect::Unmatched(l), LexError::UnmatchedConditional(_)) => line == *l,
            _ => false,
        }
    }
}

/// `cfg-bad` files: the error kind expected and its line.
type ErrorCheck = fn(&LexError) -> bool;

fn expected_bad(path: &str) -> Option<(ErrorCheck, u32)> {
    match path {
        "test/misc/cfg/bad_eof.cfg" => Some((|e| matches!(e, LexError::UnterminatedString), 1)),
        "units/tcfgxx0003/kamailio-tcfgxx0003.cfg" => {
            Some((|e| matches!(e, LexError::UnclosedConditional(_)), 9))
        }
        _ => None,
    }
}

struct Entry {
    path: String,
    kind: String,
}

fn load_corpus() -> (MemoryLoader, Vec<Entry>) {
    let mut loader = MemoryLoader::new();
    let mut entries = Vec::new();
    for corpus in ["kamailio-cfg", "kamailio-tests-cfg"] {
        let dir = corpus_dir().join(corpus);
        let index = std::fs::read_to_string(dir.join("index.tsv"))
            .unwrap_or_else(|e| panic!("cannot read {}/index.tsv: {e}", dir.display()));
        for line in index.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            let (file, kind, source) = (cols[0], cols[2], cols[3]);
            let text = std::fs::read_to_string(dir.join(file))
                .unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
            loader.insert(source, text);
            entries.push(Entry {
                path: source.to_string(),
                kind: kind.to_string(),
            });
        }
    }
    (loader, entries)
}

#[test]
fn every_corpus_config_lexes() {
    let (loader, entries) = load_corpus();
    let opts = LexOptions::default();
    let mut failures = BTreeMap::new();
    let mut checked = 0;
    for e in entries
        .iter()
        .filter(|e| e.kind == "cfg" || e.kind == "cfg-include")
    {
        checked += 1;
        let lexed = lex_file(Path::new(&e.path), &opts, &loader);
        let expected = EXPECTED_ERRORS.iter().find(|x| x.0 == e.path);
        let mut seen_expected = false;
        let mut problems = Vec::new();
        for d in lexed.errors() {
            match expected {
                Some((_, want, _)) if want.matches(d, &lexed.sources) => seen_expected = true,
                _ => problems.push(d.render(&lexed.sources)),
            }
        }
        if let Some((_, want, why)) = expected.filter(|_| !seen_expected) {
            problems.push(format!("expected {want:?} ({why})"));
        }
        if lexed.tokens.is_empty() {
            problems.push("no tokens".into());
        }
        if !problems.is_empty() {
            failures.insert(e.path.clone(), problems);
        }
    }
    assert!(checked > 150, "only {checked} corpus files found");
    assert!(
        failures.is_empty(),
        "{} file(s) failed:\n{failures:#?}",
        failures.len()
    );
}

#[test]
fn bad_corpus_configs_fail_at_the_right_line() {
    let (loader, entries) = load_corpus();
    let bad: Vec<_> = entries.iter().filter(|e| e.kind == "cfg-bad").collect();
    assert_eq!(bad.len(), 2);
    for e in bad {
        let (is_expected, line) = expected_bad(&e.path)
            .unwrap_or_else(|| panic!("no expectation for cfg-bad file {}", e.path));
        let lexed = lex_file(Path::new(&e.path), &LexOptions::default(), &loader);
        let errors: Vec<_> = lexed.errors().collect();
        assert_eq!(errors.len(), 1, "{}: {errors:?}", e.path);
        assert!(is_expected(&errors[0].kind), "{}: {:?}", e.path, errors[0]);
        let loc = lexed.sources.location(errors[0].span);
        assert_eq!(
            loc.start.line,
            line,
            "{}: {}",
            e.path,
            errors[0].render(&lexed.sources)
        );
        assert!(loc.file.ends_with(&e.path));
    }
}

#[test]
fn includes_are_spliced_from_the_including_files_directory() {
    let (loader, _) = load_corpus();
    let main = "misc/examples/ims/pcscf/kamailio.cfg";
    let lexed = lex_file(Path::new(main), &LexOptions::default(), &loader);
    let included: Vec<String> = lexed
        .included_files
        .iter()
        .map(|id| lexed.sources.file(*id).display_name())
        .collect();
    for f in [
        "route/register.cfg",
        "route/mo.cfg",
        "route/mt.cfg",
        "route/rtp.cfg",
    ] {
        let want = format!("misc/examples/ims/pcscf/{f}");
        assert!(included.contains(&want), "{want} not in {included:?}");
    }
}

/// `Lexed::expanded` (behind `siprouter --print-expanded`) prints every corpus config so that
/// it lexes back to the same tokens: nothing is lost or changed by printing it.
#[test]
fn expanded_corpus_configs_lex_back_to_the_same_tokens() {
    let (loader, entries) = load_corpus();
    let opts = LexOptions::default();
    let mut checked = 0;
    let mut failures = Vec::new();
    for e in entries.iter().filter(|e| e.kind == "cfg") {
        let lexed = lex_file(Path::new(&e.path), &opts, &loader);
        if lexed.has_errors() {
            continue;
        }
        checked += 1;
        let text = lexed.expanded();
        let again = cfg_lexer::lex_str("expanded.cfg", &text, &opts);
        let kinds = |l: &cfg_lexer::Lexed| -> Vec<cfg_lexer::TokenKind> {
            l.tokens
                .iter()
                .map(|t| t.kind.clone())
                .filter(|k| !matches!(k, cfg_lexer::TokenKind::Subst(_)))
                .collect()
        };
        let (want, got) = (kinds(&lexed), kinds(&again));
        // The subst directives are left out, with their string argument.
        let substs = lexed
            .tokens
            .iter()
            .filter(|t| matches!(t.kind, cfg_lexer::TokenKind::Subst(_)))
            .count();
        let want: Vec<_> = if substs == 0 {
            want
        } else {
            let mut out = Vec::new();
            let mut skip = false;
            for t in &lexed.tokens {
                match &t.kind {
                    cfg_lexer::TokenKind::Subst(_) => skip = true,
                    cfg_lexer::TokenKind::Str(_) if skip => skip = false,
                    k => {
                        skip = false;
                        out.push(k.clone());
                    }
                }
            }
            out
        };
        if again.has_errors() || want != got {
            let first = want.iter().zip(&got).position(|(a, b)| a != b);
            failures.push(format!(
                "{}: {} vs {} tokens, first difference at {first:?}: {:?}",
                e.path,
                want.len(),
                got.len(),
                first.map(|i| (&want[i], &got[i]))
            ));
        }
    }
    assert!(checked > 100, "only {checked} corpus files checked");
    assert!(failures.is_empty(), "{failures:#?}");
}
