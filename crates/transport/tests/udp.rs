//! UDP: receive, reply from the listening port, large datagrams, udp_mtu, IPv6,
//! socket selection, unsupported protocols.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use common::*;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UdpSocket};
use transport::{Error, Outgoing, Protocol, Transport, TransportConfig};

#[tokio::test]
async fn receive_and_reply_from_listening_port() {
    let (h, mut rx) = start(
        "children=2\nlisten=udp:127.0.0.1:5060 name \"main\"\n",
        TransportConfig::default(),
    );
    let local = h.sockets()[0].clone();
    assert_eq!(local.workers, 2);
    assert_eq!(local.name.as_deref(), Some("main"));
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    c.send_to(&request(1, 0), local.addr).await.unwrap();
    let m = recv(&mut rx).await;
    assert_eq!(&m.data[..], &request(1, 0)[..]);
    assert_eq!(m.source, c.local_addr().unwrap());
    assert_eq!(m.proto, Protocol::Udp);
    assert_eq!(m.local.addr, local.addr);
    assert!(m.conn.is_none());
    let sent = h
        .send(Outgoing::new(response(1), m.source, Protocol::Udp))
        .await
        .unwrap();
    assert_eq!(sent.local, local.id);
    let mut buf = vec![0; 2000];
    let (n, from) = t(c.recv_from(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], &response(1)[..]);
    assert_eq!(from, local.addr, "source port = listening port");
}

#[tokio::test]
async fn large_datagram_and_too_large() {
    let (h, mut rx) = start(
        "children=1\nlisten=udp:127.0.0.1:5060\n",
        TransportConfig::default(),
    );
    let addr = h.sockets()[0].addr;
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let big = request(2, 60_000);
    c.send_to(&big, addr).await.unwrap();
    let m = recv(&mut rx).await;
    assert_eq!(m.data.len(), big.len());
    let err = h
        .send(Outgoing::new(
            vec![b'a'; 65_508],
            c.local_addr().unwrap(),
            Protocol::Udp,
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, transport::SendError::TooLarge(65_508)));
    // The largest one goes through.
    h.send(Outgoing::new(
        vec![b'a'; 65_507],
        c.local_addr().unwrap(),
        Protocol::Udp,
    ))
    .await
    .unwrap();
    let mut buf = vec![0; 70_000];
    let (n, _) = t(c.recv_from(&mut buf)).await.unwrap();
    assert_eq!(n, 65_507);
}

#[tokio::test]
async fn udp_mtu_goes_over_tcp() {
    let cfg = TransportConfig {
        udp_mtu: 1000,
        udp_mtu_try_proto: Protocol::Tcp,
        ..TransportConfig::default()
    };
    let (h, _rx) = start(
        "children=1\nlisten=udp:127.0.0.1:5060\nlisten=tcp:127.0.0.1:5060\n",
        cfg,
    );
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest = peer.local_addr().unwrap();
    assert_eq!(h.mtu_protocol(Protocol::Udp, 2000), Protocol::Tcp);
    assert_eq!(h.mtu_protocol(Protocol::Udp, 500), Protocol::Udp);
    let msg = request(3, 1500);
    let sent = h
        .send(Outgoing::new(msg.clone(), dest, Protocol::Udp))
        .await
        .unwrap();
    assert_eq!(sent.proto, Protocol::Tcp);
    let (mut s, _) = t(peer.accept()).await.unwrap();
    let mut got = vec![0; msg.len()];
    t(s.read_exact(&mut got)).await.unwrap();
    assert_eq!(got, msg);
}

#[tokio::test]
async fn ipv6_loopback() {
    let (h, mut rx) = start(
        "children=1\nlisten=udp:[::1]:5060\n",
        TransportConfig::default(),
    );
    let addr = h.sockets()[0].addr;
    assert!(addr.is_ipv6());
    let c = UdpSocket::bind("[::1]:0").await.unwrap();
    c.send_to(&request(4, 0), addr).await.unwrap();
    let m = recv(&mut rx).await;
    h.send(Outgoing::new(response(4), m.source, Protocol::Udp))
        .await
        .unwrap();
    let mut buf = vec![0; 2000];
    let (_, from) = t(c.recv_from(&mut buf)).await.unwrap();
    assert_eq!(from, addr);
    // No IPv4 UDP socket: sending to IPv4 fails clearly.
    let v4: SocketAddr = "127.0.0.1:9".parse().unwrap();
    assert!(h
        .send(Outgoing::new(response(4), v4, Protocol::Udp))
        .await
        .is_err());
}

#[tokio::test]
async fn forced_socket_and_default() {
    let (h, _rx) = start(
        "children=1\nlisten=udp:127.0.0.1:5060 name \"a\"\nlisten=udp:127.0.0.1:5070 name \"b\"\n",
        TransportConfig::default(),
    );
    let a = h.socket_by_name("a").unwrap().clone();
    let b = h.socket_by_name("B").unwrap().clone();
    assert_ne!(a.addr, b.addr);
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dest = c.local_addr().unwrap();
    let mut buf = vec![0; 2000];
    h.send(Outgoing::new(response(5), dest, Protocol::Udp))
        .await
        .unwrap();
    let (_, from) = t(c.recv_from(&mut buf)).await.unwrap();
    assert_eq!(from, a.addr, "default send socket is the first one");
    h.send(Outgoing::new(response(5), dest, Protocol::Udp).via_socket(b.id))
        .await
        .unwrap();
    let (_, from) = t(c.recv_from(&mut buf)).await.unwrap();
    assert_eq!(from, b.addr, "force_send_socket");
    // A TCP send forced through a UDP socket with no TCP sibling fails.
    let err = h
        .select_socket(Protocol::Tcp, dest, Some(b.id))
        .unwrap_err();
    assert!(matches!(err, transport::SendError::ForcedSocket { .. }));
}

#[tokio::test]
async fn workers_share_the_port() {
    let (h, mut rx) = start(
        "children=1\nsocket_workers=4\nlisten=udp:127.0.0.1:5060\n",
        TransportConfig::default(),
    );
    let s = h.sockets()[0].clone();
    assert_eq!(s.workers, 4);
    let mut clients = Vec::new();
    for i in 0..16 {
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        c.send_to(&request(i, 0), s.addr).await.unwrap();
        clients.push(c);
    }
    for _ in 0..16 {
        let m = recv(&mut rx).await;
        assert_eq!(m.local.addr, s.addr);
    }
}

#[tokio::test]
async fn sctp_is_not_supported() {
    let mut s = sockets("listen=udp:127.0.0.1:5060\n");
    s.sockets[0].proto = socket_info::Proto::Sctp;
    let err = Transport::start(&s, TransportConfig::default()).unwrap_err();
    assert!(matches!(err, Error::NotSupported { proto: "sctp", .. }));
    assert!(err.to_string().contains("not supported yet"));
}

#[tokio::test]
async fn config_from_items() {
    let text = "mhomed=1\nudp_mtu=1300\nudp_mtu_try_proto=tcp\ntcp_connection_lifetime=30\n\
                tcp_max_connections=10\ntcp_connect_timeout=3\n\
                modparam(\"tls\", \"certificate\", \"cert.pem\")\n\
                modparam(\"tls\", \"verify_certificate\", 1)\n";
    let parsed = cfg_parser::parse_str("t.cfg", text, &Default::default());
    let c = TransportConfig::from_items(&parsed.config.items, std::path::Path::new("/etc/sip"))
        .unwrap();
    assert!(c.mhomed);
    assert_eq!(c.udp_mtu, 1300);
    assert_eq!(c.udp_mtu_try_proto, Protocol::Tcp);
    assert_eq!(c.tcp_connection_lifetime.as_secs(), 30);
    assert_eq!(c.tcp_max_connections, 10);
    assert_eq!(c.tcp_connect_timeout.as_secs(), 3);
    let tls = c.tls.unwrap();
    assert_eq!(
        tls.defaults.certificate.as_deref(),
        Some(std::path::Path::new("/etc/sip/cert.pem"))
    );
    assert!(tls.defaults.verify_certificate);
}

#[tokio::test]
async fn udp_threads_receive_blocking_and_send_without_the_runtime() {
    let (h, _rx) = start(
        "children=2\nlisten=udp:127.0.0.1:5060\n",
        TransportConfig {
            udp_threads: true,
            ..TransportConfig::default()
        },
    );
    let receivers = h.udp_receivers();
    assert_eq!(receivers.len(), 2, "one blocking socket per worker");
    let local = h.sockets()[0].clone();
    // An echo thread per socket: what arrives goes back from the listening port.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (ended, threads_ended) = std::sync::mpsc::channel();
    for (n, (l, sock)) in receivers.into_iter().enumerate() {
        assert_eq!(l.id, local.id);
        let (h, stop, ended) = (h.clone(), stop.clone(), ended.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0; 65_536];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Some((n, from)) = transport::recv_datagram(&sock, &mut buf) else {
                    continue; // shut down or a keep-alive
                };
                let out = Outgoing::new(buf[..n].to_vec(), from, Protocol::Udp);
                h.send_udp_from(l.id, &sock, out.datagram()).unwrap();
            }
            let _ = ended.send(n);
        });
    }
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // A keep-alive is not handed to the thread (else it would be echoed first).
    c.send_to(b"\r\n\r\n", local.addr).await.unwrap();
    for i in 0..20 {
        c.send_to(&request(i, 0), local.addr).await.unwrap();
        let mut buf = vec![0; 2000];
        let (n, from) = t(c.recv_from(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], &request(i, 0)[..]);
        assert_eq!(from, local.addr);
    }
    // The async send path uses the same blocking sockets.
    let sent = h
        .send(Outgoing::new(
            response(1),
            c.local_addr().unwrap(),
            Protocol::Udp,
        ))
        .await
        .unwrap();
    assert_eq!(sent.local, local.id);
    let mut buf = vec![0; 2000];
    let (n, _) = t(c.recv_from(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], &response(1)[..]);
    // Shutting the transport down wakes both threads from their blocking receives.
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    h.shutdown();
    for _ in 0..2 {
        let woken = threads_ended.recv_timeout(std::time::Duration::from_secs(5));
        assert!(
            woken.is_ok(),
            "a receive thread still blocks after shutdown"
        );
    }
}
