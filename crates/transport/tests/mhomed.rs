//! Send-socket selection (listen-and-sockets §6): by default the first socket of the protocol
//! and family; with `mhomed` the socket on the address the kernel routes from. On loopback the
//! kernel sends to any 127.0.0.0/8 address from 127.0.0.1.

mod common;

use std::net::SocketAddr;

use transport::{Protocol, TransportConfig};

#[tokio::test]
async fn mhomed_picks_the_socket_the_kernel_routes_from() {
    let text = "listen=udp:127.0.0.2:5060\nlisten=udp:127.0.0.1:5060\n";
    let dest: SocketAddr = "127.0.0.9:5060".parse().expect("address");

    let (plain, _rx1) = common::start(text, TransportConfig::default());
    let s = plain
        .select_socket(Protocol::Udp, dest, None)
        .expect("a socket");
    assert_eq!(
        s.addr.ip().to_string(),
        "127.0.0.2",
        "default: the first UDP socket"
    );
    plain.shutdown();

    let cfg = TransportConfig {
        mhomed: true,
        ..TransportConfig::default()
    };
    let (mh, _rx2) = common::start(text, cfg);
    let s = mh
        .select_socket(Protocol::Udp, dest, None)
        .expect("a socket");
    assert_eq!(
        s.addr.ip().to_string(),
        "127.0.0.1",
        "mhomed: the kernel's source address"
    );
    mh.shutdown();
}
