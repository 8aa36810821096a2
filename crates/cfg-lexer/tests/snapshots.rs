//! Snapshot tests: for each token class and each preprocessor directive, a small config and
//! the tokens and diagnostics it produces, with positions. The snapshots live in
//! `tests/snapshots/`; a change in behaviour shows as a diff there.

use std::collections::HashMap;
use std::fmt::Write;

use cfg_lexer::{lex_file, LexOptions, Lexed, MemoryLoader, TokenKind};

/// Renders every token as `line:col-line:col kind` (plus, for a token from a define, where
/// the define was used) and then every diagnostic as `file:line:col: severity: message`.
fn render(lexed: &Lexed) -> String {
    let mut out = String::new();
    for t in &lexed.tokens {
        let loc = lexed.sources.location(t.span);
        let kind = match &t.kind {
            TokenKind::Keyword(k) if k.spelling() != k.canonical() => {
                format!("Keyword({} = {})", k.spelling(), k.canonical())
            }
            other => format!("{other:?}"),
        };
        let _ = write!(
            out,
            "{}:{}-{}:{} {kind}",
            loc.start.line, loc.start.col, loc.end.line, loc.end.col
        );
        if loc.file != "main.cfg" {
            let _ = write!(out, " in {}", loc.file);
        }
        for e in lexed.expansion_chain(t) {
            let u = lexed.sources.location(e.use_site);
            let _ = write!(out, " <- {} at {u}", e.name);
        }
        out.push('\n');
    }
    for d in &lexed.diagnostics {
        let _ = writeln!(out, "{}", d.render(&lexed.sources));
    }
    out
}

fn lex_with(src: &str, files: &[(&str, &str)], opts: &LexOptions) -> String {
    let mut loader = MemoryLoader::new();
    loader.insert("main.cfg", src);
    for (name, text) in files {
        loader.insert(*name, *text);
    }
    render(&lex_file("main.cfg".as_ref(), opts, &loader))
}

fn lex(src: &str) -> String {
    lex_with(src, &[], &LexOptions::default())
}

macro_rules! snap {
    ($name:ident, $src:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(stringify!($name), lex($src), $src);
        }
    };
}

// --- token classes ---

snap!(
    comments,
    "a # line\nb // line\nc /* block /* nested */ still */ d\n#!not-a-directive x\ne"
);
snap!(comment_errors, "a */ b\n/* never closed\nc");
snap!(
    identifiers_and_keywords,
    "debug forwarding route_x seth ADVERTISE tls_log status msg:len uri:host uri:port _x x1 workers"
);
snap!(
    numbers,
    "0 5060 0x1F 010 101b 08 5060a 12b 4294967295 4294967296 -5 yes on true enable no off false disable inet ipv4 inet6 IPv6"
);
snap!(
    strings,
    "\"tab\\there\" \"\\x41\\101\\d+\\1\" 'raw\\n\"' \"a\"\n  \"b\" \"c\" # comment ends the join\n\"d\" \"line\\\ncont\""
);
snap!(string_unterminated, "x = \"never closed\n;");
snap!(single_string_unterminated, "x = 'never closed\n;");
snap!(
    ipv6,
    "udp:[::1]:5060 fe80::1 2001:db8::1:5060 1:2:3:4:5:6:7:8 abc:5060 :: a:b"
);
snap!(
    pseudo_variables,
    "$ru $var(x) $avp(s:x) $(ru{s.len}) $hdr(Name) $T_branch_idx $sel(cfg_get.core.debug)\n\
     $(hdr(Via)[1]) $(var(x){s.select,0,:}{s.int}) $sht(t=>$ci) $rcv(x) $? $retcode $rc $foo.bar"
);
snap!(
    attributes,
    "%avp %f.did $x[1] $x[] $x[-1] $x[*] $f.did $fu.uid $g.gw %tr.a[2]"
);
snap!(pvar_errors, "$ = 1;\n% 2;\n$(unclosed");
snap!(
    selects,
    "@via[1].branch @msg.header[\"X-Foo\"] @to.tag @cfg_get.core.debug @hf_value.route[0].params.ftag @"
);
snap!(
    operators,
    "= == != =~ > < >= <= += ! && || & | ^ ~ << >> + - * / , ; : . ( ) { } [ ] (int) (str) ( int ) and or not mod eq ne ieq ine"
);
snap!(line_continuation, "debug\\\n=2 listen=udp:1.2.3.4\\\n:5060");
snap!(unexpected_characters, "debug=2 ? `\nx \\ y\nport = 5060 é");
snap!(
    event_routes,
    "event_route[core:worker-one-init] {}\nevent_route [ tm:local-request ] {}\nevent_route[my_mod:x] {}\nevent_route[bad] {}"
);
snap!(
    compat_markers,
    "$x $x[1]\n#!KAMAILIO\n$x $x[1] $f.x\n#!SER\n$x $(y)\n//!MAXCOMPAT\n$x\n#!KAMAILIO \n$x"
);

// --- preprocessor ---

snap!(
    define_and_use,
    "#!define PORT 5060\n#!define ADDR \"10.0.0.1\"\n#!define EMPTY\nport = PORT\nlisten = udp:ADDR:PORT EMPTY;\n!!define BANG 1\nx = BANG"
);
snap!(
    define_variants,
    "#!trydef A 1\n#!trydef A 2\nv = A\n#!redefine A 3\nv = A\n#!undef A\nv = A\n#!tryundef A\n#!trydefine B 4\n#!redef B 5\n#!def C 6\n#!undefine B\nv = B C"
);
snap!(
    define_errors,
    "#!define A 1\n#!define A 2\n#!undef NOPE\n#!define A-B 1\n#!define\n#!undef A x\n#!define route 1\n#!define SELF SELF\nv = SELF"
);
snap!(
    define_multiline_and_nested,
    "#!define INNER 7\n#!define OUTER INNER + \\\n  1\nx = OUTER;"
);
snap!(
    define_value_with_comment,
    "#!define FLAG 1 # the accounting flag\nsetflag(FLAG);\nx = FLAG\ny = 2"
);
snap!(
    builtin_defines,
    "#!ifdef KAMAILIO_6\na = KAMAILIO_VERSION\n#!endif\n#!ifdef KAMAILIO_6_2_0\nb = 1\n#!endif\n#!ifndef KAMAILIO_5\nc = 1\n#!endif"
);
snap!(
    conditionals,
    "#!define A\n#!ifdef A\n x1\n #!ifndef A\n  x2\n #!else\n  x3\n #!endif\n#!else\n x4\n #!ifdef A\n  x5\n #!endif\n#!endif\n!!ifndef A\n x6\n!!else\n x7\n!!endif\n"
);
snap!(
    conditional_skipping_ignores_strings_and_comments,
    "#!ifdef NOPE\n\"an unterminated string # /* comment\n$(unclosed\n#!ifdef ALSO_NOPE\n#!endif\n#!else\nkept\n#!endif\n"
);
snap!(
    conditional_errors,
    "#!else\n#!endif\n#!ifdef A\n#!else\n#!else\n#!endif\n#!ifndef B\nopen"
);
snap!(
    conditional_kamailio_accidents,
    "#!ifdef A # comment\nx\n#!endif # comment\ny\n#!ifdef B\n#!endif"
);
snap!(
    ifexp_and_defexp,
    "#!define N 5\n#!ifexp KAMAILIO_VERSION >= 6002000 && N * 2 == 10\nyes1\n#!else\nno1\n#!endif\n#!defexp P 5000 + 58\n#!defexps Q N + 1\nport = P\ns = Q\n#!ifexp 1 +\n#!endif\n"
);
snap!(
    subst_rules,
    "#!subst \"/OLD/new/g\"\n#!substdef \"!MY_IP!10.0.0.1!g\"\n#!substdefs \"/MY_NAME/host.example/\"\nx = \"OLD and OLD\" 'OLD'\nlisten = udp:MY_IP:5060\ny = \"sip:MY_IP\" $(var(OLD)) OLD\nn = MY_NAME\n"
);
snap!(
    subst_errors,
    "#!subst \"/a/b\"\n#!subst \"/(/b/\"\n#!subst x\n#!substdef \"/not a name/b/\"\n#!subst"
);
snap!(
    loadmodule_defines_mod,
    "loadmodule \"pv.so\"\nloadmodule(\"/usr/lib/kamailio/modules/tm.so\", \"g\")\n#!ifdef MOD_pv\npv_loaded\n#!endif\n#!ifdef MOD_tm\ntm_loaded\n#!endif\n#!ifdef MOD_sl\nsl_loaded\n#!endif"
);

#[test]
fn includes() {
    let files = [
        ("inc/a.cfg", "a_start\ninclude_file \"b.cfg\"\na_end \"s\""),
        ("inc/b.cfg", "\n  b_token #!define FROM_B 1\n"),
        ("loop.cfg", "include_file \"loop.cfg\""),
    ];
    let src = "#!include_file \"inc/a.cfg\"\nimport_file \"missing.cfg\"\ninclude_file \"missing.cfg\"\ninclude_file \"loop.cfg\"\ninclude_file noquotes.cfg\ninclude_file \"inc/a.cfg\";\nx = 1\n!!include_file \"\"\n";
    insta::assert_snapshot!(
        "includes",
        lex_with(src, &files, &LexOptions::default()),
        src
    );
}

#[test]
fn defines_from_options_and_environment() {
    let opts = LexOptions {
        defines: vec![
            ("WITH_X".into(), None),
            ("PORT".into(), Some("5080".into())),
        ],
        env: Some(HashMap::from([(
            "HOME".to_string(),
            "/home/sip".to_string(),
        )])),
        ..LexOptions::default()
    };
    let src = "#!ifdef WITH_X\nport = PORT\n#!endif\n#!trydef PORT 5060\n#!defenv HOME\n#!defenvs MYHOME=HOME\n#!trydefenv NOPE\n#!defenv ALSO_NOPE\nh = HOME MYHOME\n";
    insta::assert_snapshot!(
        "defines_from_options_and_environment",
        lex_with(src, &[], &opts),
        src
    );
}

/// The identifiers of `text` lexed with `opts` (which must lex cleanly).
fn idents(text: &str, opts: &LexOptions) -> Vec<String> {
    words_of(text, opts, |k| match k {
        cfg_lexer::TokenKind::Ident(w) => Some(w.to_string()),
        _ => None,
    })
}

/// The string literals of `text` lexed with `opts` (which must lex cleanly).
fn string_literals(text: &str, opts: &LexOptions) -> Vec<String> {
    words_of(text, opts, |k| match k {
        cfg_lexer::TokenKind::Str(s) => Some(s.to_string()),
        _ => None,
    })
}

fn words_of(
    text: &str,
    opts: &LexOptions,
    pick: impl Fn(&cfg_lexer::TokenKind) -> Option<String>,
) -> Vec<String> {
    let lexed = cfg_lexer::lex_str("main.cfg", text, opts);
    assert!(!lexed.has_errors(), "{:?}", lexed.diagnostics);
    lexed.tokens.iter().filter_map(|t| pick(&t.kind)).collect()
}

/// `LexOptions::modules` (Kamailio's `--loadmodule`) defines `MOD_<name>` before the first
/// line; a `loadmodule` of the same module in the config is no conflict for the
/// preprocessor (the router refuses it, as Kamailio does).
#[test]
fn modules_loaded_before_the_config_define_mod() {
    let opts = LexOptions {
        modules: vec!["sl".into()],
        ..LexOptions::default()
    };
    let src = "#!ifdef MOD_sl\nsl_loaded\n#!endif\n#!ifdef MOD_tm\ntm_loaded\n#!endif\nloadmodule \"sl.so\"\n";
    assert_eq!(idents(src, &opts), ["sl_loaded"]);
    assert!(idents(src, &LexOptions::default()).is_empty());
}

/// `LexOptions::substs` (Kamailio's `--subst`, `--substdef`, `--substdefs`): applied before
/// the config's own rules, and a bad one is an error named after its option.
#[test]
fn substitution_rules_from_the_caller() {
    let opts = LexOptions {
        substs: vec![
            (cfg_lexer::SubstKind::Subst, "/OLD/new/g".into()),
            (cfg_lexer::SubstKind::SubstDef, "!MY_IP!10.0.0.1!".into()),
        ],
        ..LexOptions::default()
    };
    let src = "#!subst \"/new/newer/\"\nx = \"OLD and OLD\"\nlisten = udp:MY_IP:5060\n";
    let lexed = cfg_lexer::lex_str("main.cfg", src, &opts);
    let strings = string_literals(src, &opts);
    // The command line's rule runs first, then the config's on its result (the first
    // string is the config rule's own text).
    assert_eq!(strings, ["/new/newer/", "newer and new"]);
    assert!(
        lexed.expanded().contains("10.0.0.1"),
        "{}",
        lexed.expanded()
    );

    let bad = LexOptions {
        substs: vec![(cfg_lexer::SubstKind::Subst, "/(/x/".into())],
        ..LexOptions::default()
    };
    let lexed = cfg_lexer::lex_str("main.cfg", "x = 1\n", &bad);
    let rendered: Vec<String> = lexed
        .diagnostics
        .iter()
        .map(|d| d.render(&lexed.sources))
        .collect();
    assert!(
        rendered.iter().any(|r| r.contains("<--subst=/(/x/>")),
        "{rendered:#?}"
    );
}

/// `LexOptions::prelude` (Kamailio's `--modparam`): read before the main file's first line,
/// in order, each piece in a source named by its label.
#[test]
fn prelude_is_read_before_the_main_file() {
    let opts = LexOptions {
        prelude: vec![
            ("--modparam".into(), "first\n".into()),
            ("--modparam".into(), "second\n".into()),
        ],
        ..LexOptions::default()
    };
    let lexed = cfg_lexer::lex_str("main.cfg", "third\n", &opts);
    assert!(!lexed.has_errors(), "{:?}", lexed.diagnostics);
    let words: Vec<(String, String)> = lexed
        .tokens
        .iter()
        .filter_map(|t| match &t.kind {
            cfg_lexer::TokenKind::Ident(w) => {
                Some((w.to_string(), lexed.sources.location(t.span).to_string()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        words,
        [
            ("first".to_string(), "<--modparam>:1:1".to_string()),
            ("second".to_string(), "<--modparam>:1:1".to_string()),
            ("third".to_string(), "main.cfg:1:1".to_string()),
        ]
    );
}

/// The caller's substitution rules leave the prelude's strings as given (Kamailio sets
/// `--modparam` values verbatim) and apply to the config's.
#[test]
fn substitution_rules_skip_the_prelude() {
    let opts = LexOptions {
        substs: vec![(cfg_lexer::SubstKind::Subst, "/OLD/new/".into())],
        prelude: vec![("--modparam".into(), "a = \"OLD\"\n".into())],
        ..LexOptions::default()
    };
    assert_eq!(string_literals("b = \"OLD\"\n", &opts), ["OLD", "new"]);
}
