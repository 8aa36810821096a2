//! Test helpers: configs are parsed by cfg-parser; a fake network matches the spec's test
//! machine.

#![allow(dead_code, unreachable_pub)]

use cfg_parser::ast::*;
use cfg_parser::lexer::{FileId, SourceMap};
use socket_info::{build, parse_listen_args, Error, Options, Sockets, StaticNetwork};

/// The spec's test machine: `lo` (127.0.0.1, ::1), `eth0` (192.0.2.2, fd00::2,
/// fe80::fc:ff:fe00:1); `localhost`, `vm` → 127.0.0.1; reverse of 192.0.2.2 fails.
pub fn net() -> StaticNetwork {
    StaticNetwork::new()
        .interface("lo", "127.0.0.1", true)
        .interface("lo", "::1", true)
        .interface("eth0", "192.0.2.2", false)
        .interface("eth0", "fd00::2", false)
        .interface("eth0", "fe80::fc:ff:fe00:1", false)
        .host("localhost", &["127.0.0.1"])
        .host("vm", &["127.0.0.1"])
        .host("example.com", &["198.51.100.7"])
        .reverse("127.0.0.1", "localhost", &[])
        .hostname("vm")
}

/// A parsed test config: items plus the source map for spans.
pub struct Cfg {
    pub items: Vec<Item>,
    pub sources: SourceMap,
}

/// Parses `text` with the real parser; a test config must parse without errors. An empty
/// text stands for "no directives" (only `-l` values or auto-binding).
pub fn config(text: &str) -> Cfg {
    let parsed = cfg_parser::parse_str("test.cfg", text, &Default::default());
    if !text.trim().is_empty() {
        let errors: Vec<String> = parsed
            .errors()
            .map(|d| d.render(parsed.sources()))
            .collect();
        assert!(
            errors.is_empty(),
            "test config does not parse: {errors:#?}\n{text}"
        );
    }
    config_unchecked_from(parsed)
}

/// Parses `text` and keeps the partial AST even when the parser reports errors (to test what
/// socket-info does with items the parser already flags).
pub fn config_unchecked(text: &str) -> Cfg {
    config_unchecked_from(cfg_parser::parse_str("test.cfg", text, &Default::default()))
}

fn config_unchecked_from(parsed: cfg_parser::Parsed) -> Cfg {
    Cfg {
        sources: parsed.sources().clone(),
        items: parsed.config.items,
    }
}

/// Resolves `text` plus `-l` values on `net` with `opts`.
pub fn run_with(
    text: &str,
    largs: &[&str],
    opts: &Options,
    net: &StaticNetwork,
) -> Result<Sockets, Error> {
    let cfg = config(text);
    let largs = parse_listen_args(largs)?;
    build(&cfg.items, &largs, opts, net)
}

/// Resolves `text` on the spec's test machine with default options.
pub fn run(text: &str) -> Result<Sockets, Error> {
    run_with(text, &[], &Options::default(), &net())
}

/// The listing's lines without the trailing empty line.
pub fn lines(s: &Sockets) -> Vec<String> {
    let l = socket_info::listing(s);
    let mut v: Vec<String> = l.lines().map(str::to_owned).collect();
    assert_eq!(
        v.pop().as_deref(),
        Some(""),
        "listing ends with an empty line"
    );
    v
}

/// Builds the expected listing: socket lines and alias lines get the 13-space indent.
pub fn expect(sockets: &[&str], aliases: &[&str]) -> Vec<String> {
    let mut v = vec!["Listening on ".to_owned()];
    v.extend(sockets.iter().map(|s| format!("             {s}")));
    v.push("Aliases: ".to_owned());
    v.extend(aliases.iter().map(|s| format!("             {s}")));
    v
}

/// The file id of the test config.
pub fn file0() -> FileId {
    FileId(0)
}
