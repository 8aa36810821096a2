//! Test helpers: sockets from config text, requests, bounded waits.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::time::Duration;

use socket_info::{Options, Sockets, StaticNetwork};
use tokio::sync::mpsc::Receiver;
use transport::{Received, Transport, TransportConfig, TransportHandle};

/// Parses `text` (a test config must have no errors).
pub fn parsed(text: &str) -> cfg_parser::Parsed {
    let parsed = cfg_parser::parse_str("test.cfg", text, &Default::default());
    let errors: Vec<String> = parsed
        .errors()
        .map(|d| d.render(parsed.sources()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    parsed
}

/// Resolves a parsed config on a loopback-only machine and sets every port to 0
/// (OS-assigned).
pub fn sockets_from(parsed: &cfg_parser::Parsed) -> Sockets {
    let net = StaticNetwork::new()
        .interface("lo", "127.0.0.1", true)
        .interface("lo", "::1", true)
        .hostname("localhost");
    let mut s = socket_info::build(&parsed.config.items, &[], &Options::default(), &net).unwrap();
    for so in &mut s.sockets {
        so.port = 0;
    }
    s
}

/// Resolves `text` on a loopback-only machine and sets every port to 0 (OS-assigned).
pub fn sockets(text: &str) -> Sockets {
    sockets_from(&parsed(text))
}

/// A fresh temporary folder (`prefix`, process id and a counter in its name).
pub fn tmpdir(prefix: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes a fresh self-signed certificate (`cert.pem`) and key (`key.pem`) for
/// 127.0.0.1/localhost into `dir`; returns the certificate's DER.
pub fn write_cert(dir: &std::path::Path) -> rustls::pki_types::CertificateDer<'static> {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    ck.cert.der().clone()
}

/// Starts transports for `text`.
pub fn start(text: &str, cfg: TransportConfig) -> (TransportHandle, Receiver<Received>) {
    Transport::start(&sockets(text), cfg).unwrap()
}

/// The next received message (5 s at most).
pub async fn recv(rx: &mut Receiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("timed out waiting for a message")
        .expect("channel closed")
}

/// Nothing arrives within `ms`.
pub async fn nothing(rx: &mut Receiver<Received>, ms: u64) {
    if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(ms), rx.recv()).await {
        panic!("unexpected message {:?}", m.data);
    }
}

/// A small OPTIONS request with a body of `body` octets.
pub fn request(n: u32, body: usize) -> Vec<u8> {
    let b = "x".repeat(body);
    format!(
        "OPTIONS sip:u@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK{n}\r\n\
         From: <sip:a@example.com>;tag=1\r\nTo: <sip:u@example.com>\r\nCall-ID: c{n}\r\n\
         CSeq: {n} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: {body}\r\n\r\n{b}"
    )
    .into_bytes()
}

/// A 200 response.
pub fn response(n: u32) -> Vec<u8> {
    format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK{n}\r\n\
         From: <sip:a@example.com>;tag=1\r\nTo: <sip:u@example.com>;tag=2\r\nCall-ID: c{n}\r\n\
         CSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Bounds a future to 5 s.
pub async fn t<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(5), f)
        .await
        .expect("timed out")
}
