//! A stream handler that holds the transport's handle (to send its replies, as a router
//! does) does not keep the transport alive: once the caller has shut it down and dropped
//! its handles and the handler, the sockets are closed.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use transport::{
    HandlerWait, Protocol, StreamHandler, StreamMessage, TransportConfig, TransportHandle,
};

/// Answers nothing, but keeps the handle a real handler sends its replies with.
struct Replier(TransportHandle);

impl StreamHandler for Replier {
    fn handle(&self, _: StreamMessage<'_, '_>) -> Option<HandlerWait> {
        let _ = self.0.connection_counts();
        None
    }
}

#[tokio::test]
async fn a_handler_holding_the_handle_does_not_keep_the_sockets_open() {
    let (h, rx) = start(
        "children=1\nlisten=udp:127.0.0.1:5060\nlisten=tcp:127.0.0.1:5060\n",
        TransportConfig::default(),
    );
    let udp = h
        .sockets()
        .iter()
        .find(|s| s.proto == Protocol::Udp)
        .unwrap()
        .addr;
    let handler: Arc<dyn StreamHandler> = Arc::new(Replier(h.clone()));
    assert!(h.handle_streams(&handler));
    // One worker: no SO_REUSEPORT, so the address cannot be bound again while the
    // transport's socket is open.
    assert!(std::net::UdpSocket::bind(udp).is_err());
    h.shutdown();
    drop((h, rx, handler));
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Err(e) = std::net::UdpSocket::bind(udp) {
        assert!(
            Instant::now() < deadline,
            "{udp} is still bound 5 s after the transport was dropped: {e}"
        );
        // Lets the runtime drop the aborted tasks.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
