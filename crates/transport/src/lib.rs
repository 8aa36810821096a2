//! # transport
//!
//! The fourth stage of siprouter's pipeline (… socket records → **transports** → router).
//! It owns every socket (UDP, TCP, TLS, QUIC), hands received messages to the router and
//! sends what the router asks for. The router never sees a tokio socket: it reads
//! [`Received`] values from a channel and calls [`TransportHandle::send`] with
//! [`Outgoing`] values, so it stays sans-IO.
//!
//! ```text
//! Sockets (socket-info) ─┐                    ┌─ mpsc::Receiver<Received> ─▶ router
//! TransportConfig ───────┴─ Transport::start ─┤
//!                                             └─ TransportHandle::send(Outgoing) ◀─ router
//! ```
//!
//! ## Interface
//! - [`Transport::start`] binds every socket of [`socket_info::Sockets`] (including
//!   `listen=quic:…` sockets) plus the QUIC endpoints of [`TransportConfig::quic`] and
//!   spawns the receive loops on the current tokio runtime. A QUIC socket without usable
//!   TLS settings is an [`Error::QuicWithoutTls`] naming the socket. SCTP sockets (and WS/WSS, which socket-info never lists as sockets)
//!   are an [`Error::NotSupported`] ("not supported yet"), never skipped.
//! - [`Received`]: the message bytes ([`bytes::Bytes`], a view into the receive buffer, no
//!   copy), source address, [`Protocol`], the [`LocalSocket`] it arrived on (name, advertise
//!   info, the socket-info record) and, for TCP/TLS/QUIC, the [`ConnId`].
//! - [`TransportHandle::handle_streams`]: stream messages go to a [`StreamHandler`] called
//!   on the connection's task instead of the channel (no hand-off to another task per
//!   message); what the handler returns is awaited before the connection reads on. The
//!   transport holds the handler weakly, so a handler holding the handle is no cycle.
//! - [`TransportHandle::send`]: bytes to an address over a protocol, optionally through a
//!   chosen local socket (`force_send_socket`) or over a given connection.
//!   [`TransportHandle::try_send`] does the same when that needs no waiting, and gives the
//!   message back otherwise.
//!   [`TransportHandle::add_alias`] is `force_tcp_alias`; [`TransportHandle::reload_tls`]
//!   re-reads the certificates.
//!
//! ## Send-socket selection (`listen-and-sockets.md` §6)
//! 1. A given connection is used as is (its own local socket).
//! 2. A forced socket is used when protocol and address family fit; a forced socket of
//!    another protocol stands for the socket of the wanted protocol on the same address
//!    (same port preferred), as Kamailio does.
//! 3. With `mhomed`, the socket whose address the kernel routes from (a connected UDP
//!    probe socket, like Kamailio's `get_out_socket`).
//! 4. Otherwise the default send socket: the first socket of the protocol and address
//!    family, preferring non-loopback, non-multicast ones.
//!
//! Stream protocols first look for a live connection to the destination (peer address or
//! an alias) and open one only when none exists.
//!
//! ## Workers: how Kamailio's processes map onto the runtime
//! Kamailio forks processes; we run tokio tasks on the caller's multi-threaded runtime
//! (size it with `worker_threads`, e.g. the number of cores).
//! - **UDP**: each socket gets `workers` (or `children`, default 8) receive loops, each
//!   with its **own socket bound with SO_REUSEPORT** to the same address, so the kernel
//!   spreads datagrams (by 4-tuple hash) over the loops, and the loops over the runtime's
//!   threads. `udp_receiver_mode` is not used: every mode maps to these tasks.
//! - **TCP/TLS**: each socket gets `workers` (or `tcp_children`, default `children`) accept
//!   loops on SO_REUSEPORT listeners; every connection then runs in its own task (Kamailio
//!   passes connections between `tcp main` and the `tcp receiver`s; tokio does that for us).
//! - **QUIC**: one endpoint (one UDP socket, quinn drives it) per socket with `workers`
//!   accept loops; each connection and each stream is a task.
//! - Sends run on the caller's task: UDP `send_to` on one of the listening socket's worker
//!   sockets (same address and port, so the source port is the listening port); a plain
//!   TCP send writes straight to the connection's socket when nothing is queued for it,
//!   other stream sends queue the bytes to the connection's task (bounded queue).
//!
//! ## Protocols
//! - **UDP**: datagrams up to 65,507 octets; all-whitespace datagrams (keep-alives) are
//!   dropped. A message larger than `udp_mtu` (when set, and `udp_mtu_try_proto` is TCP or
//!   TLS) is sent over that protocol to the same address and port; the router, which
//!   writes the Via, can ask [`TransportHandle::mtu_protocol`] first.
//! - **TCP**: framing by sip-message's [`sip_message::framing::frame`] on a
//!   [`bytes::BytesMut`] buffer, so a message is split off the buffer without a copy. RFC
//!   5626 pings are answered with a pong. A framing error (malformed or larger than
//!   [`sip_message::Limits`]) closes the connection only. Timeouts: idle
//!   `tcp_connection_lifetime` (refreshed by every read and write), a started message must
//!   complete within `tcp_msg_read_timeout` (a peer sending half a header is dropped),
//!   writes within `tcp_send_timeout`, connects within `tcp_connect_timeout`. Limits:
//!   `tcp_max_connections`, `tls_max_connections` (incoming over the limit are closed at
//!   once, outgoing fail with [`SendError::TooManyConnections`]). Connections are
//!   found by (protocol, peer address) and optionally local socket; aliases add further
//!   peer addresses.
//! - **TLS**: tokio-rustls with ring. Settings from `modparam("tls", …)` (`certificate`,
//!   `private_key`, `ca_list`, `verify_certificate`, `require_certificate`, `tls_method`,
//!   `server_name`, `config`) and the `tls.cfg` profile file (`[server:default]`,
//!   `[client:default]`, `[server:IP:PORT]`, `[client:IP:PORT]`, keys as the module
//!   parameters, `method` as `tls_method`); profile values not written fall back to the
//!   module parameters. A server picks the profile of its local address, a client the one
//!   of the destination. rustls offers TLS 1.2 and 1.3 only, so `TLSv1`/`TLSv1.1` methods
//!   are refused. `verify_certificate = 0` on a client (Kamailio's default) accepts any
//!   server certificate. [`TransportHandle::reload_tls`] rebuilds every profile from the
//!   files and swaps them in one step; a failure keeps the old ones and returns the
//!   [`TlsError`]. Handshakes run inside the connection's task with the connect timeout, so
//!   a failed handshake affects no other connection.
//! - **QUIC** (experimental, our extension; prior art draft-hurst-sip-quic): ALPN `sip`,
//!   TLS 1.3 with the same profiles. Each message exchange uses its own bidirectional
//!   stream: a request sent without a connection id opens a new stream on the existing
//!   connection to the peer (or a new connection); the [`ConnId`] of a QUIC message names
//!   that *stream*, so a response sent with it goes back on the request's stream. Messages
//!   on a stream are framed exactly like TCP. A peer finishing its send side does not end
//!   ours; a stream is closed after [`quic::QUIC_STREAM_IDLE`] of inactivity (or
//!   `tcp_connection_lifetime` if shorter), a connection after `tcp_connection_lifetime`
//!   (QUIC idle timeout). Up to 1024 concurrent streams per connection.
//!   `quic_max_connections` limits connections. QUIC endpoints come from `listen=quic:…`
//!   (socket records, bound first in list order) and from [`TransportConfig::quic`] (bound
//!   after every record); both take the same path.
//! - `ip_free_bind` and virtual sockets bind with IP_FREEBIND, `vrf` with SO_BINDTODEVICE,
//!   `maxbuffer`/`maxsndbuffer` grow the UDP buffers (default 256 KiB, as Kamailio's probe).
//!
//! ## Dependencies
//! - `tokio` (sockets, tasks, timers, channels), `tokio-rustls` + `rustls` (TLS, ring
//!   provider only; PEM files are read with rustls' re-exported `pki_types::pem`, so no
//!   `rustls-pemfile`), `quinn` (QUIC).
//! - `bytes`: received messages share the receive buffer (`split_to().freeze()`); sends take
//!   `Bytes` so the router's buffer is queued without a copy.
//! - `socket2`: SO_REUSEPORT (one socket per worker), IP_FREEBIND, SO_BINDTODEVICE and
//!   buffer sizes, which std and tokio do not expose.
//! - `socket-info` (the records), `sip-message` (framing, limits), `cfg-parser` (reading
//!   the parameters in [`TransportConfig::from_items`]), `tracing`, `thiserror`.
//! - Dev: `rcgen` (certificates generated by the tests; ring only), `criterion` (bench).

pub mod config;
pub mod error;
pub mod quic;
mod runtime;
pub mod socket;
mod stream;
pub mod tls;
mod writer;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use socket_info::Sockets;
use tokio::sync::mpsc;

pub use config::{udp_buffer_size, QuicListen, TransportConfig, DEFAULT_UDP_BUFFER};
pub use error::{ConfigError, Error, SendError, TlsError, TrySendError};
pub use runtime::{recv_datagram, MAX_UDP_PAYLOAD};
pub use socket::{LocalSocket, Protocol, SocketId};
pub use stream::ConnId;
pub use tls::{TlsProfile, TlsSettings};

/// A received message.
#[derive(Debug, Clone)]
pub struct Received {
    /// The message (shares the receive buffer).
    pub data: Bytes,
    /// Source address and port.
    pub source: SocketAddr,
    /// Protocol.
    pub proto: Protocol,
    /// The local socket it arrived on.
    pub local: Arc<LocalSocket>,
    /// The connection (TCP, TLS) or stream (QUIC); `None` for UDP.
    pub conn: Option<ConnId>,
}

/// Handles the messages received on streams (TCP, TLS, QUIC) on the connection's own task,
/// instead of sending them to the channel [`Transport::start`] returns: the message is
/// parsed once and handled without a hand-off to another task (see
/// [`TransportHandle::handle_streams`]).
pub trait StreamHandler: Send + Sync + 'static {
    /// Handles one message, lent for the call. What it returns, if anything, is awaited
    /// before the connection reads on: the handler's way to hold a connection back while
    /// work it could not do at once waits (backpressure). It must not wait for this
    /// connection's own writes.
    fn handle(&self, msg: StreamMessage<'_, '_>) -> Option<HandlerWait>;
}

/// A message received on a stream, lent to a [`StreamHandler`] (`'m`: the receive buffer the
/// parsed message points into).
#[derive(Debug, Clone, Copy)]
pub struct StreamMessage<'a, 'm> {
    /// The message's octets.
    pub data: &'a [u8],
    /// The message parsed by the framing (with the transport's limits); `None` when it does
    /// not parse but its length is certain (the stream goes on; answer it or drop it).
    pub parsed: Option<&'a sip_message::Message<'m>>,
    /// Source address and port.
    pub source: SocketAddr,
    /// Protocol.
    pub proto: Protocol,
    /// The local socket it arrived on.
    pub local: &'a LocalSocket,
    /// The connection (TCP, TLS) or stream (QUIC).
    pub conn: ConnId,
}

/// Work a [`StreamHandler`] gives back to be awaited on the connection's task.
pub type HandlerWait = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;

/// A message to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The bytes.
    pub data: Bytes,
    /// Destination address and port (ignored when `conn` is given).
    pub dest: SocketAddr,
    /// Protocol.
    pub proto: Protocol,
    /// Send through this local socket (`force_send_socket`).
    pub local: Option<SocketId>,
    /// Send over this connection or QUIC stream.
    pub conn: Option<ConnId>,
}

/// A datagram to send, borrowed from its sender: what [`TransportHandle::send_udp_from`]
/// takes, so that the sender keeps its buffer (to write the next message into).
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    /// The bytes.
    pub data: &'a [u8],
    /// Destination address and port.
    pub dest: SocketAddr,
    /// Send through this local socket (`force_send_socket`).
    pub local: Option<SocketId>,
}

impl Outgoing {
    /// This message as a [`Datagram`] (its protocol and connection aside).
    pub fn datagram(&self) -> Datagram<'_> {
        Datagram {
            data: &self.data,
            dest: self.dest,
            local: self.local,
        }
    }

    /// A message to `dest` over `proto`, socket chosen by the rules.
    pub fn new(data: impl Into<Bytes>, dest: SocketAddr, proto: Protocol) -> Outgoing {
        Outgoing {
            data: data.into(),
            dest,
            proto,
            local: None,
            conn: None,
        }
    }

    /// The same, through `local`.
    pub fn via_socket(mut self, local: SocketId) -> Outgoing {
        self.local = Some(local);
        self
    }

    /// The same, over connection `conn`.
    pub fn over(mut self, conn: ConnId) -> Outgoing {
        self.conn = Some(conn);
        self
    }
}

/// What a send did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The protocol used (differs from the asked one after a `udp_mtu` fallback).
    pub proto: Protocol,
    /// The local socket used.
    pub local: SocketId,
    /// The connection or stream used.
    pub conn: Option<ConnId>,
}

/// Entry point.
#[derive(Debug)]
pub struct Transport;

impl Transport {
    /// Binds every socket and starts the receive loops on the current tokio runtime (call
    /// it from inside one). Returns the handle for sending and the channel of received
    /// messages; dropping the receiver stops the receive loops.
    pub fn start(
        sockets: &Sockets,
        config: TransportConfig,
    ) -> Result<(TransportHandle, mpsc::Receiver<Received>), Error> {
        let (shared, rx) = runtime::start(sockets, config)?;
        Ok((TransportHandle { shared }, rx))
    }
}

/// Sends messages and manages the transports. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TransportHandle {
    shared: Arc<runtime::Shared>,
}

impl TransportHandle {
    /// The bound sockets, indexed by [`SocketId`].
    pub fn sockets(&self) -> &[Arc<LocalSocket>] {
        &self.shared.sockets
    }

    /// The socket with this name (`name "…"`), case-insensitively.
    pub fn socket_by_name(&self, name: &str) -> Option<&Arc<LocalSocket>> {
        self.shared.sockets.iter().find(|s| {
            s.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }

    /// The socket a send of `proto` to `dest` would use (forced socket, `mhomed`, default).
    pub fn select_socket(
        &self,
        proto: Protocol,
        dest: SocketAddr,
        forced: Option<SocketId>,
    ) -> Result<Arc<LocalSocket>, SendError> {
        self.shared.selector.select(proto, dest, forced).cloned()
    }

    /// The protocol a UDP message of `len` octets actually goes over (`udp_mtu`).
    pub fn mtu_protocol(&self, proto: Protocol, len: usize) -> Protocol {
        let c = &self.shared.cfg;
        if proto == Protocol::Udp && c.udp_mtu > 0 && len > c.udp_mtu {
            c.udp_mtu_try_proto
        } else {
            proto
        }
    }

    /// With [`TransportConfig::udp_threads`]: every blocking UDP socket with the local socket
    /// it belongs to, for the caller's receive threads. A receive blocks until a datagram
    /// arrives or [`TransportHandle::shutdown`] is called; from then on a receive returns
    /// what is still queued, then fails at once, so that a thread can look at its stop flag
    /// (outside Linux, a receive also returns every 250 ms). Empty without `udp_threads`.
    pub fn udp_receivers(&self) -> Vec<(Arc<LocalSocket>, Arc<std::net::UdpSocket>)> {
        let mut out = Vec::new();
        for (id, socks) in &self.shared.udp_std {
            for s in socks {
                out.push((self.shared.sockets[id.0].clone(), s.clone()));
            }
        }
        out.sort_by_key(|(l, _)| l.id.0);
        out
    }

    /// Sends a UDP datagram from the calling thread, without the runtime (with
    /// [`TransportConfig::udp_threads`]; other messages go through [`TransportHandle::send`]).
    pub fn send_udp_blocking(&self, out: &Outgoing) -> Result<Sent, SendError> {
        runtime::send_udp_blocking(&self.shared, out.datagram(), None)
    }

    /// [`TransportHandle::send_udp_blocking`] from a receive thread of
    /// [`TransportHandle::udp_receivers`]: a message that leaves from `local` (the thread's
    /// own local socket) goes out on `sock`, the thread's own worker socket, instead of
    /// any worker socket of `local` in turn. The socket's kernel state then stays on the
    /// thread's CPU, and the threads share no counter.
    pub fn send_udp_from(
        &self,
        local: SocketId,
        sock: &std::net::UdpSocket,
        out: Datagram<'_>,
    ) -> Result<Sent, SendError> {
        runtime::send_udp_blocking(&self.shared, out, Some((local, sock)))
    }

    /// Sends one message.
    pub async fn send(&self, out: Outgoing) -> Result<Sent, SendError> {
        runtime::send(&self.shared, out).await
    }

    /// From now on, messages received on streams (TCP, TLS, QUIC) go to `handler`, called on
    /// the connection's task, instead of the channel; datagrams still come through the
    /// channel. Only the first handler set counts: `false` when one was set before.
    ///
    /// The transport holds the handler weakly: keep the `Arc` for as long as stream
    /// messages should go to it (once it is dropped, they come through the channel again).
    /// A handler that sends holds a [`TransportHandle`], so a transport holding its handler
    /// would keep both, and every socket, open for ever.
    pub fn handle_streams(&self, handler: &Arc<dyn StreamHandler>) -> bool {
        self.shared
            .stream_handler
            .0
            .set(Arc::downgrade(handler))
            .is_ok()
    }

    /// Sends one message if that needs no waiting: UDP with
    /// [`TransportConfig::udp_threads`], and TCP or TLS over an open connection whose queue
    /// has room (plain TCP writes it at once when nothing is queued before it). Otherwise
    /// [`TrySendError::WouldWait`] gives the message back for [`TransportHandle::send`]; to
    /// keep the order of messages to one place, send it before any later one.
    pub fn try_send(&self, out: Outgoing) -> Result<Sent, TrySendError> {
        runtime::try_send(&self.shared, out)
    }

    /// `force_tcp_alias`: later sends to `alias` over the connection's protocol reuse
    /// connection `conn`. False when the connection is gone.
    pub fn add_alias(&self, conn: ConnId, alias: SocketAddr) -> bool {
        self.shared
            .conns
            .lock()
            .map(|mut t| t.add_alias(conn, alias))
            .unwrap_or(false)
    }

    /// Closes a connection or QUIC stream (its task ends after the queued writes).
    pub fn close(&self, conn: ConnId) {
        runtime::remove(&self.shared, conn);
    }

    /// Live connections: TCP, TLS, QUIC.
    pub fn connection_counts(&self) -> [usize; 3] {
        let c = &self.shared.counts;
        [0, 1, 2].map(|i| c[i].load(std::sync::atomic::Ordering::Acquire))
    }

    /// Re-reads the TLS files and swaps every profile at once (TLS and QUIC); on failure
    /// the old certificates stay and the error says why.
    pub fn reload_tls(&self) -> Result<(), TlsError> {
        let tls = self.shared.tls.as_ref().ok_or(TlsError::Missing)?;
        tls.reload()?;
        for (id, ep) in &self.shared.quic {
            let local = self.shared.sockets[id.0].addr;
            let sc = quic::server_config(tls, local, &self.shared.cfg)?;
            ep.set_server_config(Some(sc));
        }
        Ok(())
    }

    /// Stops every task and closes every socket and connection; threads blocked in a
    /// receive on a socket of [`TransportHandle::udp_receivers`] wake up, and their
    /// receives fail once the queued datagrams are read.
    pub fn shutdown(&self) {
        if let Ok(mut t) = self.shared.tasks.lock() {
            for h in t.drain(..) {
                h.abort();
            }
        }
        for ep in self.shared.quic.values() {
            ep.close(quinn::VarInt::from_u32(0), b"shutdown");
        }
        if let Ok(mut t) = self.shared.conns.lock() {
            *t = Default::default();
        }
        for sock in self.shared.udp_std.values().flatten() {
            runtime::wake_receivers(sock);
        }
    }
}
