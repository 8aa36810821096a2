//! Route bodies checked early (`core_routing::early`, piece by piece while a large config is
//! parsed) give exactly the result of the whole check (`core_routing::check`): the same
//! warnings in the same order, the same first error, whatever the pieces and whatever the
//! early checks had to assume; and the whole check takes the early outcomes where they hold.

mod common;

use cfg_parser::ast::{Config, Item};
use core_routing::early::{check_early, check_with_early, EarlyBodies, EarlyChecks, EarlyContext};
use core_routing::{LocalSocket, RouterConfig, Transport};

fn rc() -> RouterConfig {
    RouterConfig {
        sockets: vec![LocalSocket {
            proto: Transport::Udp,
            address: "127.0.0.1".parse().expect("address"),
            port: 5060,
            advertise: None,
        }],
        aliases: Vec::new(),
        modules: Vec::new(),
    }
}

/// The early checks the parser's pieces would give: the first piece is every item up to
/// the `first`-th route block (included), the others `size` items each, checked in reverse
/// order (threads finish in any order); pieces in `unchecked` are left out, as those parsed
/// before the first piece was. With `release`, each piece's checked bodies are freed, as a
/// config check frees them.
fn early(
    config: &mut Config,
    sources: &cfg_parser::lexer::SourceMap,
    (first, size, unchecked): Cut<'_>,
    release: bool,
) -> Option<EarlyChecks> {
    let items = &mut config.items;
    let mut routes = 0;
    let mut cut = items.len();
    for (i, item) in items.iter().enumerate() {
        if matches!(item, Item::Route(_)) {
            routes += 1;
            if routes == first {
                cut = i + 1;
                break;
            }
        }
    }
    let (head, rest) = items.split_at_mut(cut);
    let cx = EarlyContext::from_first_piece(head, &rc().modules)?;
    let mut pieces: Vec<&mut [Item]> = vec![head];
    pieces.extend(rest.chunks_mut(size.max(1)));
    let checked: Vec<EarlyBodies> = pieces
        .into_iter()
        .enumerate()
        .rev()
        .filter(|(i, _)| !unchecked.contains(i))
        .map(|(_, piece)| {
            let mut bodies = check_early(&cx, piece, sources);
            if release {
                bodies.release(piece);
            }
            bodies
        })
        .collect();
    Some(EarlyChecks::new(cx, checked))
}

/// How the pieces are cut: the route block that ends the first piece, the items in each of
/// the others, the pieces not checked early.
type Cut<'a> = (usize, usize, &'a [usize]);

/// Checks `text` whole and with early checks cut in several ways; both give the same
/// result. Returns the result and how many bodies the cut `(2, 2)` let the whole check
/// take from its early checks. (The parser's own errors, such as a call to a route no
/// block defines, do not stop the route-script check here.)
fn same_result(name: &str, text: &str) -> (Result<Vec<String>, String>, usize) {
    same_result_of(
        name,
        &cfg_parser::parse_str(name, text, &Default::default()),
    )
}

/// [`same_result`] of a parsed config. With the checked bodies freed as well, the check
/// gives the same result, or none exactly when an early outcome it would need did not hold.
fn same_result_of(name: &str, parsed: &cfg_parser::Parsed) -> (Result<Vec<String>, String>, usize) {
    let sources = parsed.sources();
    let whole = core_routing::check(&parsed.config, &rc(), Some(sources));
    let mut used = 0;
    for cut in [
        (1, 1, &[][..]),
        (2, 2, &[]),
        (3, 5, &[1, 2]),
        (usize::MAX, 1, &[]),
    ] {
        let mut config = parsed.config.clone();
        let Some(kept) = early(&mut config, sources, cut, false) else {
            continue;
        };
        let with = check_with_early(&config, &rc(), Some(sources), &kept);
        assert_eq!(with.as_ref(), Some(&whole), "{name}: pieces {cut:?}");
        let usable = kept.usable_in(&config, &rc());
        if cut.0 == 2 {
            used = usable;
        }
        let Some(freed) = early(&mut config, sources, cut, true) else {
            panic!("{name}: pieces {cut:?}: no context once the bodies are freed");
        };
        match check_with_early(&config, &rc(), Some(sources), &freed) {
            Some(with) => assert_eq!(with, whole, "{name}: pieces {cut:?}, bodies freed"),
            None => assert!(
                usable < kept.len(),
                "{name}: pieces {cut:?}: no verdict, yet every early outcome holds"
            ),
        }
    }
    let shown = whole
        .map(|w| w.iter().map(|e| e.message.clone()).collect())
        .map_err(|e| e.message);
    (shown, used)
}

/// The statements of the route blocks' bodies (not counting nested ones).
fn route_statements(config: &Config) -> usize {
    config
        .items
        .iter()
        .map(|item| match item {
            Item::Route(r) => r.body.stmts.len(),
            _ => 0,
        })
        .sum()
}

const HEADER: &str = "loadmodule \"sl.so\"\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nloadmodule \"siputils.so\"\nflags FLAG_A;\n";

/// Routes called before they are defined, warnings in several bodies, `onsend_route`: the
/// early checks are used, and give the whole check's warnings in order.
#[test]
fn a_clean_script_takes_its_early_checks() {
    let text = format!(
        "{HEADER}request_route {{ route(LATE); error(\"a\"); }}\n\
         route[A] {{ setflag(FLAG_A); xlog(\"L_INFO\", \"$ru\\n\"); }}\n\
         route[B] {{ if (is_user(\"x\")) {{ route(A); }} }}\n\
         onsend_route {{ drop; }}\n\
         failure_route[F] {{ drop; }}\n\
         route[C] {{ error(\"c\"); route(B); }}\n\
         route[LATE] {{ exit; }}\n"
    );
    let (result, used) = same_result("clean.cfg", &text);
    let warnings = result.expect("it checks");
    assert_eq!(warnings.len(), 4, "{warnings:?}");
    assert!(
        warnings[1].starts_with("error() does nothing"),
        "{warnings:?}"
    );
    assert!(warnings[2].starts_with("is_user()"), "{warnings:?}");
    assert_eq!(used, 6, "every body the whole check compiles");

    // Freed after their early checks, the bodies are empty, and the check's result is the
    // same (`same_result` compares it).
    let parsed = cfg_parser::parse_str("clean.cfg", &text, &Default::default());
    let mut config = parsed.config.clone();
    let before = route_statements(&config);
    let freed = early(&mut config, parsed.sources(), (1, 1, &[]), true).expect("a context");
    assert_eq!(freed.len(), 6);
    assert_eq!(
        (before, route_statements(&config)),
        (10, 1),
        "every body checked early is freed; the failure_route's (never compiled) is kept"
    );
}

/// A define's text as the body of a block the check never compiles (`failure_route`) and of
/// one it does: the compiled one's statements are freed, the other's kept.
#[test]
fn only_the_bodies_checked_are_freed() {
    let text = format!(
        "#!define BODY {{ exit; }}\n{HEADER}request_route {{ drop; }}\nfailure_route[F] BODY\nroute[R] BODY\n"
    );
    let parsed = cfg_parser::parse_str("shared.cfg", &text, &Default::default());
    let mut config = parsed.config.clone();
    // Both blocks in one piece (after the first, which ends with `request_route`).
    let freed = early(&mut config, parsed.sources(), (1, 5, &[]), true).expect("a context");
    let statements: Vec<(String, usize)> = config
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Route(r) => Some((r.keyword.clone(), r.body.stmts.len())),
            _ => None,
        })
        .collect();
    assert_eq!(
        statements,
        [
            ("request_route".to_string(), 0),
            ("failure_route".to_string(), 1),
            ("route".to_string(), 0)
        ]
    );
    assert_eq!(
        check_with_early(&config, &rc(), Some(parsed.sources()), &freed),
        Some(core_routing::check(
            &parsed.config,
            &rc(),
            Some(parsed.sources())
        ))
    );
}

/// What the early checks could not know makes the whole check compile those bodies again,
/// with the same result as without early checks.
#[test]
fn broken_assumptions_give_the_whole_checks_result() {
    for (what, text, used) in [
        (
            "a route that is never defined, in a late piece",
            format!("{HEADER}request_route {{ drop; }}\nroute[A] {{ exit; }}\nroute[B] {{ route(NOWHERE); }}\n"),
            2,
        ),
        (
            "a module loaded after the routes",
            "loadmodule \"sl.so\"\nrequest_route { drop; }\nroute[A] { exit; }\nroute[B] { xlog(\"x\"); }\nloadmodule \"xlog.so\"\n".to_string(),
            0,
        ),
        (
            "a flag declared after the routes",
            format!("{HEADER}request_route {{ drop; }}\nroute[A] {{ setflag(FLAG_B); }}\nroute[B] {{ exit; }}\nflags FLAG_B;\n"),
            0,
        ),
        (
            "a module parameter after the routes that makes a checked body wrong",
            format!("{HEADER}loadmodule \"rr.so\"\nrequest_route {{ drop; }}\nroute[A] {{ record_route_preset(\"a\", \"b\"); }}\nroute[B] {{ exit; }}\nmodparam(\"rr\", \"enable_double_rr\", 0)\n"),
            0,
        ),
        (
            "one body text in two route blocks (a define), checked apart",
            format!("#!define BODY {{ forward(); }}\n{HEADER}request_route BODY\nroute[A] {{ exit; }}\nonsend_route BODY\nroute[B] {{ exit; }}\n"),
            2,
        ),
        (
            "a send socket",
            format!("{HEADER}listen=udp:127.0.0.1:5060\nrequest_route {{ drop; }}\nroute[A] {{ force_send_socket(udp:127.0.0.1:5060); }}\nroute[B] {{ exit; }}\n"),
            2,
        ),
        (
            "a send socket the server does not have",
            format!("{HEADER}request_route {{ drop; }}\nroute[A] {{ exit; }}\nroute[B] {{ force_send_socket(udp:127.0.0.9:5060); }}\n"),
            2,
        ),
        (
            "an error in an early piece and one in a late one",
            format!("{HEADER}request_route {{ drop; }}\nroute[A] {{ no_such_function(); }}\nroute[B] {{ route(NOWHERE); }}\n"),
            1,
        ),
        (
            "a pseudo-variable without the pv module",
            "loadmodule \"sl.so\"\nrequest_route { drop; }\nroute[A] { exit; }\nroute[B] { $var(x) = 1; }\n".to_string(),
            3,
        ),
    ] {
        let (_, got) = same_result(what, &text);
        assert_eq!(got, used, "{what}: bodies taken from the early checks");
    }
}

/// Every clean config of both corpora: the same result with early checks, cut every way.
#[test]
fn every_corpus_config_gives_the_same_result() {
    let configs = common::clean_corpus_configs();
    let used: usize = configs
        .iter()
        .map(|(name, parsed)| same_result_of(name, parsed).1)
        .sum();
    assert!(configs.len() > 80, "only {} corpus configs", configs.len());
    assert!(used > 0, "no corpus body was taken from an early check");
}
