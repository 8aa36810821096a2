//! Helpers shared by the router's test files: a router over two loopback sockets (UDP and
//! TCP on 127.0.0.1:5060), a message runner and output filters.

#![allow(dead_code)]

use core_routing::{Incoming, LocalSocket, Output, Router, RouterConfig, SendMsg, Transport};

/// The corpus index reader of cfg-parser's tests (there is no shared test crate).
#[path = "../../../cfg-parser/tests/common/mod.rs"]
mod corpus;

pub(crate) fn router(cfg: &str) -> Router {
    let parsed = cfg_parser::parse_str("test.cfg", cfg, &Default::default());
    let errors: Vec<String> = parsed
        .errors()
        .map(|d| d.render(parsed.sources()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let rc = RouterConfig {
        sockets: vec![
            LocalSocket {
                proto: Transport::Udp,
                address: "127.0.0.1".parse().expect("address"),
                port: 5060,
                advertise: None,
            },
            LocalSocket {
                proto: Transport::Tcp,
                address: "127.0.0.1".parse().expect("address"),
                port: 5060,
                advertise: None,
            },
        ],
        aliases: vec![("proxy.example.org".into(), None)],
        modules: Vec::new(),
    };
    Router::with_sources(&parsed.config, rc, Some(parsed.sources()))
        .expect("compiles")
        .0
}

pub(crate) fn compile_error(cfg: &str) -> String {
    let parsed = cfg_parser::parse_str("test.cfg", cfg, &Default::default());
    assert!(!parsed.has_errors());
    match Router::new(&parsed.config, RouterConfig::default()) {
        Ok(_) => panic!("compiled: {cfg}"),
        Err(e) => format!("{}: {}", parsed.sources().location(e.span), e.message),
    }
}

/// Every `cfg` file of both corpora in `../shared/corpus` that parses without error, with
/// its name in the corpus index.
pub(crate) fn clean_corpus_configs() -> Vec<(String, cfg_parser::Parsed)> {
    corpus::corpus_files(&["cfg"])
        .into_iter()
        .filter_map(|(name, path)| {
            let parsed =
                cfg_parser::parse_file(&path, &Default::default(), &cfg_parser::lexer::FsLoader);
            (!parsed.has_errors()).then_some((name, parsed))
        })
        .collect()
}

pub(crate) const SRC: &str = "127.0.0.1:5070";

pub(crate) fn run(r: &Router, msg: &str) -> Vec<Output> {
    run_on(r, msg, Transport::Udp, None)
}

/// Runs a message received over `proto` (socket 0 for UDP, 1 for TCP) on connection `conn`.
pub(crate) fn run_on(r: &Router, msg: &str, proto: Transport, conn: Option<u64>) -> Vec<Output> {
    let mut out = Vec::new();
    let data = msg.replace('\n', "\r\n");
    r.handle(
        &Incoming {
            data: data.as_bytes(),
            source: SRC.parse().expect("address"),
            proto,
            local: usize::from(proto != Transport::Udp),
            conn,
        },
        &mut out,
    );
    out
}

/// The compile warnings of a config that compiles, rendered with their positions.
pub(crate) fn warnings(cfg: &str) -> Vec<String> {
    let parsed = cfg_parser::parse_str("test.cfg", cfg, &Default::default());
    assert!(!parsed.has_errors());
    match Router::new(&parsed.config, RouterConfig::default()) {
        Ok((_, w)) => w
            .iter()
            .map(|e| format!("{}: {}", parsed.sources().location(e.span), e.message))
            .collect(),
        Err(e) => panic!("does not compile: {}", e.message),
    }
}

/// The log lines of a run.
pub(crate) fn logs(out: &[Output]) -> Vec<&str> {
    out.iter()
        .filter_map(|o| match o {
            Output::Log { message, .. } => Some(message.as_str()),
            _ => None,
        })
        .collect()
}

pub(crate) fn sends(out: &[Output]) -> Vec<&SendMsg> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(s) => Some(s),
            _ => None,
        })
        .collect()
}

pub(crate) fn text(s: &SendMsg) -> String {
    String::from_utf8_lossy(&s.data).into_owned()
}

pub(crate) fn request(method: &str, ruri: &str, extra: &str) -> String {
    format!(
        "{method} {ruri} SIP/2.0\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-abc\n\
         Max-Forwards: 70\n\
         From: <sip:alice@example.com>;tag=a1\n\
         To: <sip:bob@example.com>\n\
         Call-ID: call-1@example.com\n\
         CSeq: 1 {method}\n\
         {extra}Content-Length: 0\n\n"
    )
}
