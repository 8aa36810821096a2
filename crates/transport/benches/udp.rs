//! UDP path benchmark: client → transport receive loop → no-op consumer → transport send →
//! client, against a minimal tokio UDP echo (the floor), per worker count. A window of 32
//! messages in flight avoids loss on loopback.

#![allow(missing_docs, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use socket_info::{Options, StaticNetwork};
use tokio::net::UdpSocket;
use tokio::runtime::Runtime;
use transport::{Outgoing, Transport, TransportConfig};

const BATCH: u64 = 2000;
const WINDOW: u64 = 32;

const MSG: &[u8] = b"OPTIONS sip:u@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:u@example.com>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

async fn ping_pong(c: &UdpSocket, server: SocketAddr, n: u64) {
    let mut buf = vec![0u8; 2048];
    let mut sent = 0;
    let mut got = 0;
    while sent < WINDOW.min(n) {
        c.send_to(MSG, server).await.unwrap();
        sent += 1;
    }
    while got < n {
        match tokio::time::timeout(Duration::from_millis(200), c.recv_from(&mut buf)).await {
            Ok(r) => {
                r.unwrap();
                got += 1;
                if sent < n {
                    c.send_to(MSG, server).await.unwrap();
                    sent += 1;
                }
            }
            // A lost datagram: count it and refill the window.
            Err(_) => {
                got += 1;
                if sent < n {
                    c.send_to(MSG, server).await.unwrap();
                    sent += 1;
                }
            }
        }
    }
}

fn transport_server(rt: &Runtime, workers: u32) -> SocketAddr {
    rt.block_on(async move {
        let text = format!("children={workers}\nlisten=udp:127.0.0.1:5060\n");
        let parsed = cfg_parser::parse_str("b.cfg", &text, &Default::default());
        let net = StaticNetwork::new()
            .interface("lo", "127.0.0.1", true)
            .hostname("localhost");
        let mut s =
            socket_info::build(&parsed.config.items, &[], &Options::default(), &net).unwrap();
        s.sockets[0].port = 0;
        let (h, mut rx) = Transport::start(&s, TransportConfig::default()).unwrap();
        let addr = h.sockets()[0].addr;
        tokio::spawn(async move {
            // The no-op consumer: send every message back where it came from.
            while let Some(m) = rx.recv().await {
                let _ = h.send(Outgoing::new(m.data, m.source, m.proto)).await;
            }
        });
        addr
    })
}

fn echo_server(rt: &Runtime, workers: u32) -> SocketAddr {
    rt.block_on(async move {
        let first = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = first.local_addr().unwrap();
        drop(first);
        for _ in 0..workers {
            let s =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
            s.set_reuse_port(true).unwrap();
            s.set_nonblocking(true).unwrap();
            s.bind(&addr.into()).unwrap();
            let s = UdpSocket::from_std(s.into()).unwrap();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                loop {
                    if let Ok((n, from)) = s.recv_from(&mut buf).await {
                        let _ = s.send_to(&buf[..n], from).await;
                    }
                }
            });
        }
        addr
    })
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("udp_path");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(10);
    for workers in [1u32, 2, 4] {
        for (name, addr) in [
            ("tokio_echo", echo_server(&rt, workers)),
            ("transport", transport_server(&rt, workers)),
        ] {
            let client = rt.block_on(UdpSocket::bind("127.0.0.1:0")).unwrap();
            g.bench_function(format!("{name}/workers={workers}"), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        rt.block_on(ping_pong(&client, addr, BATCH));
                    }
                    start.elapsed()
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
