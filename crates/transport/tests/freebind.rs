//! IP_FREEBIND: a socket on an address this machine does not have binds only with
//! `ip_free_bind` or when the listen is `virtual` (192.0.2.0/24 is a documentation range that
//! no interface here carries; binding sends no traffic).

mod common;

use transport::{Transport, TransportConfig};

#[tokio::test]
async fn non_local_address_binds_only_with_free_bind() {
    let text = "listen=udp:192.0.2.77:5999\nlisten=tcp:192.0.2.77:5999\n";
    let plain = Transport::start(&common::sockets(text), TransportConfig::default());
    assert!(
        plain.is_err(),
        "binding a non-local address must fail without IP_FREEBIND"
    );

    let cfg = TransportConfig {
        ip_free_bind: true,
        ..TransportConfig::default()
    };
    let (handle, _rx) =
        Transport::start(&common::sockets(text), cfg).expect("binds with ip_free_bind");
    assert_eq!(handle.sockets().len(), 2);
    handle.shutdown();

    let virt = "listen=udp:192.0.2.78:5999 virtual\n";
    let (handle, _rx) = Transport::start(&common::sockets(virt), TransportConfig::default())
        .expect("a virtual socket binds");
    assert_eq!(handle.sockets()[0].addr.ip().to_string(), "192.0.2.78");
    handle.shutdown();
}
