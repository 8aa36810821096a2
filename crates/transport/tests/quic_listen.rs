//! `listen=quic:…` from config text: the socket-info record is bound as a QUIC endpoint
//! (same path as `TransportConfig::quic`), with the `tls` modparams as certificates.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{recv, request, response, start, t};
use socket_info::Sockets;
use transport::{Error, Outgoing, Protocol, QuicListen, TlsSettings, Transport, TransportConfig};

/// Parses `text`, resolves its sockets on a loopback-only machine (every port set to 0,
/// OS-assigned) and reads its transport settings (`tls` modparams relative to `dir`).
fn resolve(text: &str, dir: &Path) -> (Sockets, TransportConfig) {
    let parsed = common::parsed(text);
    let cfg = TransportConfig::from_items(&parsed.config.items, dir).unwrap();
    (common::sockets_from(&parsed), cfg)
}

const TLS_PARAMS: &str = "loadmodule \"tls.so\"\n\
    modparam(\"tls\", \"certificate\", \"cert.pem\")\n\
    modparam(\"tls\", \"private_key\", \"key.pem\")\n";

/// A client transport with one explicit QUIC endpoint (the `TransportConfig::quic` path).
fn client(
    dir: &Path,
) -> (
    transport::TransportHandle,
    tokio::sync::mpsc::Receiver<transport::Received>,
) {
    let params = vec![
        ("certificate".to_owned(), "cert.pem".to_owned()),
        ("private_key".to_owned(), "key.pem".to_owned()),
    ];
    let cfg = TransportConfig {
        tls: Some(TlsSettings::from_modparams(&params, dir).unwrap()),
        quic: vec![QuicListen {
            address: "127.0.0.1:0".parse().unwrap(),
            name: Some("c".into()),
            advertise: None,
            workers: 1,
        }],
        ..TransportConfig::default()
    };
    start("children=1\nlisten=udp:127.0.0.1:5060\n", cfg)
}

#[tokio::test]
async fn listen_quic_receives_and_answers_on_the_stream() {
    let dir = common::tmpdir("transport-quic-listen");
    common::write_cert(&dir);
    let text = format!("children=1\n{TLS_PARAMS}listen=quic:127.0.0.1:5063 name \"q\"\n");
    let (sockets, cfg) = resolve(&text, &dir);
    assert_eq!(sockets.sockets.len(), 1);
    assert_eq!(sockets.sockets[0].proto, socket_info::Proto::Quic);
    let (server, mut srx) = Transport::start(&sockets, cfg).unwrap();
    let q = server.socket_by_name("q").unwrap().clone();
    assert_eq!(q.proto, Protocol::Quic);
    assert_ne!(q.addr.port(), 0);
    assert_eq!(
        q.record.as_ref().map(|r| r.proto),
        Some(socket_info::Proto::Quic)
    );

    let (client_t, mut crx) = client(&dir);
    let sent = t(client_t.send(Outgoing::new(request(1, 0), q.addr, Protocol::Quic)))
        .await
        .unwrap();
    let m = recv(&mut srx).await;
    assert_eq!(m.proto, Protocol::Quic);
    assert_eq!(m.local.id, q.id);
    assert_eq!(&m.data[..], &request(1, 0)[..]);
    server
        .send(Outgoing::new(response(1), m.source, Protocol::Quic).over(m.conn.unwrap()))
        .await
        .unwrap();
    let r = recv(&mut crx).await;
    assert_eq!(r.proto, Protocol::Quic);
    assert_eq!(r.conn, sent.conn, "response on the request's stream");
    assert_eq!(&r.data[..], &response(1)[..]);
}

#[tokio::test]
async fn socket_block_quic_carries_workers_name_and_advertise() {
    let dir = common::tmpdir("transport-quic-listen");
    common::write_cert(&dir);
    let text = format!(
        "children=1\n{TLS_PARAMS}listen=udp:127.0.0.1:5060\n\
         socket={{bind=quic:127.0.0.1:5064;workers=3;name=\"qb\";advertise=192.0.2.7:5099;}}\n"
    );
    let (sockets, cfg) = resolve(&text, &dir);
    let (server, _rx) = Transport::start(&sockets, cfg).unwrap();
    let q = server.socket_by_name("qb").unwrap();
    assert_eq!(q.proto, Protocol::Quic);
    assert_eq!(q.workers, 3);
    let adv = q.advertise.as_ref().unwrap();
    assert_eq!((adv.name.as_str(), adv.port), ("192.0.2.7", 5099));
    // Numbered in list order: the UDP socket first, then the QUIC one.
    assert_eq!(q.id.0, 1);
}

#[tokio::test]
async fn listen_quic_without_tls_settings_names_the_socket() {
    let dir = common::tmpdir("transport-quic-listen");
    let (sockets, cfg) = resolve("listen=quic:127.0.0.1:5063 name \"q\"\n", &dir);
    let err = Transport::start(&sockets, cfg).unwrap_err();
    assert!(
        matches!(&err, Error::QuicWithoutTls { socket, .. } if socket.starts_with("quic:127.0.0.1:")),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("QUIC socket quic:127.0.0.1:"), "{msg}");
    assert!(msg.contains("name \"q\""), "{msg}");
    assert!(msg.contains("TLS"), "{msg}");
    // Unreadable certificate files are reported the same way.
    let text = format!("{TLS_PARAMS}listen=quic:127.0.0.1:5063\n");
    let (sockets, cfg) = resolve(&text, &dir);
    let err = Transport::start(&sockets, cfg).unwrap_err();
    assert!(matches!(err, Error::QuicWithoutTls { .. }), "{err:?}");
    assert!(err.to_string().contains("cert.pem"), "{err}");
}

#[tokio::test]
async fn explicit_quic_endpoint_without_tls_names_it() {
    let cfg = TransportConfig {
        quic: vec![QuicListen {
            address: "127.0.0.1:0".parse().unwrap(),
            name: None,
            advertise: None,
            workers: 1,
        }],
        ..TransportConfig::default()
    };
    let (sockets, _) = resolve(
        "listen=udp:127.0.0.1:5060\n",
        &common::tmpdir("transport-quic-listen"),
    );
    let err = Transport::start(&sockets, cfg).unwrap_err();
    assert!(err.to_string().contains("quic:127.0.0.1:0"), "{err}");
}
