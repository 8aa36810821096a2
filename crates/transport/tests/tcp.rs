//! TCP: framing, connection reuse, aliases, limits, timeouts, IPv6.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use transport::{Outgoing, Protocol, TransportConfig};

const TCP: &str = "children=1\nlisten=tcp:127.0.0.1:5060\n";

async fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    t(s.read_exact(&mut v)).await.unwrap();
    v
}

/// The default config with a connection idle timeout of `ms` milliseconds.
fn idle_after(ms: u64) -> TransportConfig {
    TransportConfig {
        tcp_connection_lifetime: Duration::from_millis(ms),
        ..TransportConfig::default()
    }
}

/// Waits until the peer closes (read returns 0 or an error).
async fn closed(s: &mut TcpStream, secs: u64) {
    let mut b = [0u8; 64];
    let r = tokio::time::timeout(Duration::from_secs(secs), s.read(&mut b))
        .await
        .expect("connection not closed in time");
    assert!(matches!(r, Ok(0) | Err(_)), "expected close, got {r:?}");
}

#[tokio::test]
async fn response_on_same_connection_and_reuse() {
    let (h, mut rx) = start(TCP, TransportConfig::default());
    let addr = h.sockets()[0].addr;
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(&request(1, 0)).await.unwrap();
    let m = recv(&mut rx).await;
    assert_eq!(m.proto, Protocol::Tcp);
    assert_eq!(m.source, c.local_addr().unwrap());
    let conn = m.conn.unwrap();
    let sent = h
        .send(Outgoing::new(response(1), m.source, Protocol::Tcp).over(conn))
        .await
        .unwrap();
    assert_eq!(sent.conn, Some(conn));
    assert_eq!(read_n(&mut c, response(1).len()).await, response(1));
    // Without a connection id: found by peer address.
    let sent = h
        .send(Outgoing::new(request(2, 0), m.source, Protocol::Tcp))
        .await
        .unwrap();
    assert_eq!(sent.conn, Some(conn));
    assert_eq!(read_n(&mut c, request(2, 0).len()).await, request(2, 0));
    // RFC 5626 ping → pong.
    c.write_all(b"\r\n\r\n").await.unwrap();
    assert_eq!(read_n(&mut c, 2).await, b"\r\n");
    assert_eq!(h.connection_counts()[0], 1);
}

#[tokio::test]
async fn several_in_one_segment_and_byte_by_byte() {
    let (h, mut rx) = start(TCP, TransportConfig::default());
    let addr = h.sockets()[0].addr;
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.set_nodelay(true).unwrap();
    let mut all = Vec::new();
    for i in 0..3 {
        all.extend(request(i, 10));
    }
    c.write_all(&all).await.unwrap();
    for i in 0..3 {
        assert_eq!(&recv(&mut rx).await.data[..], &request(i, 10)[..]);
    }
    let one = request(9, 5);
    for b in &one {
        c.write_all(&[*b]).await.unwrap();
        c.flush().await.unwrap();
    }
    let m = recv(&mut rx).await;
    assert_eq!(&m.data[..], &one[..]);
    nothing(&mut rx, 50).await;
}

#[tokio::test]
async fn oversize_closes_only_that_connection() {
    let mut cfg = TransportConfig::default();
    cfg.limits.max_message_size = 4096;
    let (h, mut rx) = start(TCP, cfg);
    let addr = h.sockets()[0].addr;
    let mut good = TcpStream::connect(addr).await.unwrap();
    let mut bad = TcpStream::connect(addr).await.unwrap();
    let _ = bad.write_all(&request(1, 10_000)).await;
    closed(&mut bad, 5).await;
    good.write_all(&request(2, 0)).await.unwrap();
    let m = recv(&mut rx).await;
    assert_eq!(&m.data[..], &request(2, 0)[..]);
}

#[tokio::test]
async fn slow_peer_times_out() {
    let cfg = TransportConfig {
        tcp_msg_read_timeout: Duration::from_millis(300),
        ..TransportConfig::default()
    };
    let (h, mut rx) = start(TCP, cfg);
    let addr = h.sockets()[0].addr;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"OPTIONS sip:u@example.com SIP/2.0\r\nVia: SIP/2.0/TCP x\r\n")
        .await
        .unwrap();
    closed(&mut slow, 3).await;
    nothing(&mut rx, 10).await;
    // Idle timeout closes a silent connection too.
    let cfg = idle_after(300);
    let (h2, _rx2) = start(TCP, cfg);
    let mut idle = TcpStream::connect(h2.sockets()[0].addr).await.unwrap();
    closed(&mut idle, 3).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(h2.connection_counts()[0], 0);
}

#[tokio::test]
async fn activity_keeps_a_connection_past_its_idle_timeout() {
    let cfg = idle_after(400);
    let (h, mut rx) = start(TCP, cfg);
    let mut busy = TcpStream::connect(h.sockets()[0].addr).await.unwrap();
    // A message every 100 ms for a second: over two idle timeouts, never idle for one.
    for i in 0..10 {
        busy.write_all(&request(i, 0)).await.unwrap();
        let m = recv(&mut rx).await;
        assert_eq!(&m.data[..], &request(i, 0)[..]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(h.connection_counts()[0], 1, "closed while busy");
    // Silent from here: closed after the idle timeout.
    closed(&mut busy, 3).await;
}

#[tokio::test]
async fn sending_keeps_a_connection_past_its_idle_timeout() {
    let cfg = idle_after(400);
    let (h, mut rx) = start(TCP, cfg);
    let mut peer = TcpStream::connect(h.sockets()[0].addr).await.unwrap();
    peer.write_all(&request(0, 0)).await.unwrap();
    let m = recv(&mut rx).await;
    // Only we send (written straight to the socket), every 100 ms for a second.
    for i in 1..=10 {
        h.send(Outgoing::new(request(i, 0), m.source, Protocol::Tcp))
            .await
            .unwrap();
        assert_eq!(read_n(&mut peer, request(i, 0).len()).await, request(i, 0));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(h.connection_counts()[0], 1, "closed while we were sending");
    closed(&mut peer, 3).await;
}

#[tokio::test]
async fn connection_limit_enforced() {
    let cfg = TransportConfig {
        tcp_max_connections: 2,
        ..TransportConfig::default()
    };
    let (h, mut rx) = start(TCP, cfg);
    let addr = h.sockets()[0].addr;
    let mut a = TcpStream::connect(addr).await.unwrap();
    let mut b = TcpStream::connect(addr).await.unwrap();
    a.write_all(&request(1, 0)).await.unwrap();
    b.write_all(&request(2, 0)).await.unwrap();
    recv(&mut rx).await;
    recv(&mut rx).await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    closed(&mut c, 3).await;
    assert_eq!(h.connection_counts()[0], 2);
    // Outgoing connections count too.
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = h
        .send(Outgoing::new(
            request(3, 0),
            peer.local_addr().unwrap(),
            Protocol::Tcp,
        ))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        transport::SendError::TooManyConnections { limit: 2, .. }
    ));
    // Closing one frees a slot.
    drop(a);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.connection_counts()[0], 1);
}

#[tokio::test]
async fn connect_on_demand_reuse_and_alias() {
    let (h, mut rx) = start(TCP, TransportConfig::default());
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest = peer.local_addr().unwrap();
    let s1 = h
        .send(Outgoing::new(request(1, 0), dest, Protocol::Tcp))
        .await
        .unwrap();
    let (mut p, from) = t(peer.accept()).await.unwrap();
    assert_eq!(from.ip(), h.sockets()[0].addr.ip());
    assert_eq!(read_n(&mut p, request(1, 0).len()).await, request(1, 0));
    let s2 = h
        .send(Outgoing::new(request(2, 0), dest, Protocol::Tcp))
        .await
        .unwrap();
    assert_eq!(s1.conn, s2.conn, "second send reuses the connection");
    assert_eq!(read_n(&mut p, request(2, 0).len()).await, request(2, 0));
    // The peer answers on the connection: the router sees the same id.
    p.write_all(&response(1)).await.unwrap();
    let m = recv(&mut rx).await;
    assert_eq!(m.conn, s1.conn);
    assert_eq!(m.source, dest);
    // force_tcp_alias: an alias address reaches the same connection.
    let alias = "127.0.0.1:5999".parse().unwrap();
    assert!(h.add_alias(s1.conn.unwrap(), alias));
    let s3 = h
        .send(Outgoing::new(request(3, 0), alias, Protocol::Tcp))
        .await
        .unwrap();
    assert_eq!(s3.conn, s1.conn);
    assert_eq!(read_n(&mut p, request(3, 0).len()).await, request(3, 0));
    // A closed connection id is an error.
    h.close(s1.conn.unwrap());
    let err = h
        .send(Outgoing::new(request(4, 0), dest, Protocol::Tcp).over(s1.conn.unwrap()))
        .await
        .unwrap_err();
    assert!(matches!(err, transport::SendError::ConnectionClosed(_)));
}

#[tokio::test]
async fn connect_timeout_or_refused_is_an_error() {
    let (h, _rx) = start(TCP, TransportConfig::default());
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest = l.local_addr().unwrap();
    drop(l);
    let err = h
        .send(Outgoing::new(request(1, 0), dest, Protocol::Tcp))
        .await;
    assert!(err.is_err());
    assert_eq!(h.connection_counts()[0], 0);
}

#[tokio::test]
async fn ipv6_tcp() {
    let (h, mut rx) = start(
        "children=1\nlisten=tcp:[::1]:5060\n",
        TransportConfig::default(),
    );
    let addr = h.sockets()[0].addr;
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(&request(1, 0)).await.unwrap();
    let m = recv(&mut rx).await;
    assert!(m.source.is_ipv6());
    h.send(Outgoing::new(response(1), m.source, Protocol::Tcp).over(m.conn.unwrap()))
        .await
        .unwrap();
    assert_eq!(read_n(&mut c, response(1).len()).await, response(1));
}
