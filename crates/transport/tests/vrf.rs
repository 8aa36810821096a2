//! `vrf` in a socket block binds the socket to that device (SO_BINDTODEVICE; needs root, as
//! CI runs): the loopback device works, a device that does not exist is a clear error.

mod common;

use transport::{Transport, TransportConfig};

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn vrf_binds_to_the_device() {
    if !is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root; SO_BINDTODEVICE needs it"
        );
        println!("SKIPPED: SO_BINDTODEVICE needs root");
        return;
    }
    let ok = "socket = { bind = udp:127.0.0.1:5060; vrf = \"lo\"; }\n";
    let (handle, _rx) =
        Transport::start(&common::sockets(ok), TransportConfig::default()).expect("binds to lo");
    handle.shutdown();

    let bad = "socket = { bind = udp:127.0.0.1:5060; vrf = \"nodev-sr0\"; }\n";
    let err = Transport::start(&common::sockets(bad), TransportConfig::default())
        .expect_err("a missing device is an error");
    let text = err.to_string();
    assert!(
        text.contains("127.0.0.1") && text.contains("No such device"),
        "{text}"
    );
}
