//! TLS and QUIC with certificates generated in the test: exchange on one connection,
//! failed handshakes, reload, the profile file, transport-to-transport.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::*;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use transport::{Outgoing, Protocol, QuicListen, TlsSettings, TransportConfig};

fn settings(dir: &std::path::Path) -> TlsSettings {
    let params = vec![
        ("certificate".to_owned(), "cert.pem".to_owned()),
        ("private_key".to_owned(), "key.pem".to_owned()),
    ];
    TlsSettings::from_modparams(&params, dir).unwrap()
}

fn tls_cfg(dir: &std::path::Path) -> TransportConfig {
    TransportConfig {
        tls: Some(settings(dir)),
        ..TransportConfig::default()
    }
}

type Client = tokio_rustls::client::TlsStream<TcpStream>;

/// Connects trusting `trust`; returns the stream and the certificate the server showed.
async fn client(
    addr: std::net::SocketAddr,
    trust: &CertificateDer<'static>,
) -> std::io::Result<(Client, CertificateDer<'static>)> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trust.clone()).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await?;
    let s = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await?;
    let cert = s.get_ref().1.peer_certificates().unwrap()[0].clone();
    Ok((s, cert))
}

#[tokio::test]
async fn tls_exchange_on_one_connection() {
    let dir = tmpdir("transport-tls");
    let cert = write_cert(&dir);
    let (h, mut rx) = start(
        "children=1\nenable_tls=1\nlisten=tls:127.0.0.1:5061\n",
        tls_cfg(&dir),
    );
    let addr = h.sockets()[0].addr;
    let (mut c, shown) = t(client(addr, &cert)).await.unwrap();
    assert_eq!(shown, cert);
    c.write_all(&request(1, 0)).await.unwrap();
    let m = recv(&mut rx).await;
    assert_eq!(m.proto, Protocol::Tls);
    h.send(Outgoing::new(response(1), m.source, Protocol::Tls).over(m.conn.unwrap()))
        .await
        .unwrap();
    let mut got = vec![0; response(1).len()];
    t(c.read_exact(&mut got)).await.unwrap();
    assert_eq!(got, response(1));
}

#[tokio::test]
async fn failed_handshake_does_not_affect_others() {
    let dir = tmpdir("transport-tls");
    let cert = write_cert(&dir);
    let (h, mut rx) = start(
        "children=1\nenable_tls=1\nlisten=tls:127.0.0.1:5061\n",
        tls_cfg(&dir),
    );
    let addr = h.sockets()[0].addr;
    let (mut good, _) = t(client(addr, &cert)).await.unwrap();
    // Plain text instead of a ClientHello.
    let mut junk = TcpStream::connect(addr).await.unwrap();
    junk.write_all(&request(7, 0)).await.unwrap();
    let mut b = [0u8; 256];
    let _ = t(junk.read(&mut b)).await;
    // A client that does not trust the certificate.
    let other = rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap();
    assert!(t(client(addr, other.cert.der())).await.is_err());
    good.write_all(&request(1, 0)).await.unwrap();
    let m = recv(&mut rx).await;
    assert_eq!(&m.data[..], &request(1, 0)[..]);
    let (_again, _) = t(client(addr, &cert)).await.unwrap();
}

#[tokio::test]
async fn certificate_reload() {
    let dir = tmpdir("transport-tls");
    let first = write_cert(&dir);
    let (h, _rx) = start(
        "children=1\nenable_tls=1\nlisten=tls:127.0.0.1:5061\n",
        tls_cfg(&dir),
    );
    let addr = h.sockets()[0].addr;
    let (_c1, shown) = t(client(addr, &first)).await.unwrap();
    assert_eq!(shown, first);
    let second = write_cert(&dir);
    h.reload_tls().unwrap();
    let (_c2, shown) = t(client(addr, &second)).await.unwrap();
    assert_eq!(shown, second);
    // A broken file: the reload fails, says why, and the old certificate stays.
    std::fs::write(dir.join("cert.pem"), "not a pem").unwrap();
    let err = h.reload_tls().unwrap_err();
    assert!(err.to_string().contains("cert.pem"), "{err}");
    let (_c3, shown) = t(client(addr, &second)).await.unwrap();
    assert_eq!(shown, second);
}

#[tokio::test]
async fn profile_file_and_transport_to_transport() {
    let dir = tmpdir("transport-tls");
    let cert = write_cert(&dir);
    std::fs::write(
        dir.join("tls.cfg"),
        "# profiles\n[server:default]\ncertificate = cert.pem\nprivate_key = key.pem\nmethod = TLSv1.2+\n\n\
         [client:default]\nverify_certificate = yes\nca_list = cert.pem\n",
    )
    .unwrap();
    let text = format!(
        "modparam(\"tls\", \"config\", \"{}\")\n",
        dir.join("tls.cfg").display()
    );
    let parsed = cfg_parser::parse_str("t.cfg", &text, &Default::default());
    let cfg = TransportConfig::from_items(&parsed.config.items, &dir).unwrap();
    let sockets = "children=1\nenable_tls=1\nlisten=tls:127.0.0.1:5061\n";
    let (server, mut srx) = start(sockets, cfg.clone());
    let (client_t, mut crx) = start(sockets, cfg);
    let dest = server.sockets()[0].addr;
    let sent = client_t
        .send(Outgoing::new(request(1, 0), dest, Protocol::Tls))
        .await
        .unwrap();
    let m = recv(&mut srx).await;
    assert_eq!(&m.data[..], &request(1, 0)[..]);
    server
        .send(Outgoing::new(response(1), m.source, Protocol::Tls).over(m.conn.unwrap()))
        .await
        .unwrap();
    let r = recv(&mut crx).await;
    assert_eq!(r.conn, sent.conn);
    assert_eq!(&r.data[..], &response(1)[..]);
    let _ = cert;
}

#[tokio::test]
async fn bad_method_and_missing_settings() {
    let dir = tmpdir("transport-tls");
    write_cert(&dir);
    let mut s = settings(&dir);
    s.defaults.method = "TLSv1".into();
    let cfg = TransportConfig {
        tls: Some(s),
        ..TransportConfig::default()
    };
    let err =
        transport::Transport::start(&sockets("enable_tls=1\nlisten=tls:127.0.0.1:5061\n"), cfg)
            .unwrap_err();
    assert!(err.to_string().contains("TLSv1"), "{err}");
    let err = transport::Transport::start(
        &sockets("enable_tls=1\nlisten=tls:127.0.0.1:5061\n"),
        TransportConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        transport::Error::Tls(transport::TlsError::Missing)
    ));
}

fn quic_cfg(dir: &std::path::Path, addr: &str) -> TransportConfig {
    TransportConfig {
        quic: vec![QuicListen {
            address: addr.parse().unwrap(),
            name: Some("q".into()),
            advertise: None,
            workers: 1,
        }],
        ..tls_cfg(dir)
    }
}

#[tokio::test]
async fn quic_request_and_response_on_one_stream() {
    let dir = tmpdir("transport-tls");
    write_cert(&dir);
    let (server, mut srx) = start(
        "children=1\nlisten=udp:127.0.0.1:5060\n",
        quic_cfg(&dir, "127.0.0.1:0"),
    );
    let (client_t, mut crx) = start(
        "children=1\nlisten=udp:127.0.0.1:5060\n",
        quic_cfg(&dir, "127.0.0.1:0"),
    );
    let q = server.socket_by_name("q").unwrap().clone();
    assert_eq!(q.proto, Protocol::Quic);
    let sent = client_t
        .send(Outgoing::new(request(1, 0), q.addr, Protocol::Quic))
        .await
        .unwrap();
    let m = recv(&mut srx).await;
    assert_eq!(m.proto, Protocol::Quic);
    assert_eq!(&m.data[..], &request(1, 0)[..]);
    server
        .send(Outgoing::new(response(1), m.source, Protocol::Quic).over(m.conn.unwrap()))
        .await
        .unwrap();
    let r = recv(&mut crx).await;
    assert_eq!(r.conn, sent.conn, "response on the request's stream");
    assert_eq!(&r.data[..], &response(1)[..]);
    // A second request opens a new stream on the same connection.
    let sent2 = client_t
        .send(Outgoing::new(request(2, 0), q.addr, Protocol::Quic))
        .await
        .unwrap();
    assert_ne!(sent2.conn, sent.conn);
    let m2 = recv(&mut srx).await;
    assert_eq!(&m2.data[..], &request(2, 0)[..]);
    assert_eq!(server.connection_counts()[2], 1);
    // Reload swaps the QUIC certificate too.
    write_cert(&dir);
    server.reload_tls().unwrap();
}

#[tokio::test]
async fn quic_ipv6() {
    let dir = tmpdir("transport-tls");
    write_cert(&dir);
    let (server, mut srx) = start(
        "children=1\nlisten=udp:[::1]:5060\n",
        quic_cfg(&dir, "[::1]:0"),
    );
    let (client_t, _crx) = start(
        "children=1\nlisten=udp:[::1]:5060\n",
        quic_cfg(&dir, "[::1]:0"),
    );
    let q = server.socket_by_name("q").unwrap().addr;
    client_t
        .send(Outgoing::new(request(1, 0), q, Protocol::Quic))
        .await
        .unwrap();
    let m = recv(&mut srx).await;
    assert!(m.source.is_ipv6());
}
