//! Starting the transports (binding, spawning the receive loops) and sending.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use sip_message::framing::KeepAliveRole;
use socket2::Type;
use socket_info::{Flags, Proto, Sockets};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::TransportConfig;
use crate::error::{Error, SendError, TlsError, TrySendError};
use crate::socket::{bind_group, BindOpts, LocalSocket, Protocol, Selector, SocketId};
use crate::stream::{self, ConnEntry, ConnId, ConnTable, Slot, StreamCtx, WRITE_QUEUE};
use crate::tls::{server_name, TlsState};
use crate::writer::{ConnSender, DirectTcp, TryQueue, Writer};
use crate::{quic, Datagram, Outgoing, Received, Sent};

/// Largest UDP payload over IPv4 (65,535 − 8 UDP − 20 IP header octets).
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// State shared by the handle and every task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) sockets: Vec<Arc<LocalSocket>>,
    pub(crate) selector: Selector,
    pub(crate) udp: HashMap<SocketId, Vec<Arc<UdpSocket>>>,
    /// With `udp_threads`: the blocking UDP sockets the caller's threads receive on.
    pub(crate) udp_std: HashMap<SocketId, Vec<Arc<std::net::UdpSocket>>>,
    pub(crate) udp_rr: AtomicUsize,
    pub(crate) quic: HashMap<SocketId, quinn::Endpoint>,
    pub(crate) cfg: TransportConfig,
    pub(crate) tls: Option<Arc<TlsState>>,
    pub(crate) conns: Mutex<ConnTable>,
    pub(crate) tx: mpsc::Sender<Received>,
    pub(crate) next_id: AtomicU64,
    /// Live connections: TCP, TLS, QUIC.
    pub(crate) counts: [AtomicUsize; 3],
    pub(crate) tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Set by [`crate::TransportHandle::handle_streams`]: stream messages go to it instead of
    /// the channel.
    pub(crate) stream_handler: HandlerSlot,
}

/// The stream handler, once set; held weakly, since a handler that sends holds a
/// [`crate::TransportHandle`] (and so this state): a strong reference here would keep both,
/// and every socket, alive after the caller has let them go.
#[derive(Default)]
pub(crate) struct HandlerSlot(
    pub(crate) std::sync::OnceLock<std::sync::Weak<dyn crate::StreamHandler>>,
);

impl std::fmt::Debug for HandlerSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some_and(|h| h.strong_count() > 0) {
            "HandlerSlot(set)"
        } else {
            "HandlerSlot(unset)"
        })
    }
}

impl Shared {
    pub(crate) fn limit(&self, p: Protocol) -> (usize, usize) {
        match p {
            Protocol::Tls => (1, self.cfg.tls_max_connections),
            Protocol::Quic => (2, self.cfg.quic_max_connections),
            _ => (0, self.cfg.tcp_max_connections),
        }
    }

    pub(crate) fn new_id(&self) -> ConnId {
        ConnId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    pub(crate) fn spawn<F>(&self, f: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let h = tokio::spawn(f);
        if let Ok(mut t) = self.tasks.lock() {
            t.retain(|h| !h.is_finished());
            t.push(h);
        }
    }

    pub(crate) fn register(
        &self,
        proto: Protocol,
        local: SocketId,
        peer: SocketAddr,
        reusable: bool,
        direct: Option<Arc<DirectTcp>>,
    ) -> (ConnId, ConnSender, mpsc::Receiver<Bytes>) {
        let id = self.new_id();
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let sender = ConnSender::new(tx, direct);
        if let Ok(mut t) = self.conns.lock() {
            t.insert(
                id,
                ConnEntry {
                    proto,
                    local,
                    keys: vec![peer],
                    sender: sender.clone(),
                },
                reusable,
            );
        }
        (id, sender, rx)
    }
}

fn bind_opts(cfg: &TransportConfig, s: &socket_info::Socket) -> BindOpts {
    BindOpts {
        reuse_port: false,
        freebind: cfg.ip_free_bind || s.has(Flags::VIRTUAL),
        device: s.vrf.clone(),
        rcvbuf: None,
        sndbuf: None,
    }
}

/// Binds every socket and spawns the receive loops. See [`crate::Transport::start`].
pub(crate) fn start(
    sockets: &Sockets,
    cfg: TransportConfig,
) -> Result<(Arc<Shared>, mpsc::Receiver<Received>), Error> {
    for s in &sockets.sockets {
        if Protocol::from_proto(s.proto).is_none() {
            return Err(Error::NotSupported {
                proto: s.proto.as_str(),
                address: SocketAddr::new(s.address, s.port),
            });
        }
    }
    let has_tls = sockets.sockets.iter().any(|s| s.proto == Proto::Tls);
    // The first QUIC socket (records first, then `cfg.quic`), named in TLS errors.
    let first_quic = sockets
        .sockets
        .iter()
        .find(|s| s.proto == Proto::Quic)
        .map(|s| quic_label(SocketAddr::new(s.address, s.port), s.socket_name.as_deref()))
        .or_else(|| {
            cfg.quic
                .first()
                .map(|q| quic_label(q.address, q.name.as_deref()))
        });
    let has_quic = first_quic.is_some();
    // A TLS problem is reported as a QUIC one when only QUIC sockets need TLS.
    let tls_error = |e: TlsError| match &first_quic {
        Some(socket) if !has_tls => Error::QuicWithoutTls {
            socket: socket.clone(),
            source: e,
        },
        _ => Error::Tls(e),
    };
    let tls = match &cfg.tls {
        Some(t) => Some(Arc::new(
            TlsState::new(t.clone(), has_tls || has_quic, has_quic).map_err(tls_error)?,
        )),
        None if has_tls || has_quic => return Err(tls_error(TlsError::Missing)),
        None => None,
    };
    let children = sockets.children.max(1);
    let tcp_children = cfg.tcp_children.filter(|c| *c > 0).unwrap_or(children);

    let mut locals: Vec<Arc<LocalSocket>> = Vec::new();
    let mut udp: HashMap<SocketId, Vec<Arc<UdpSocket>>> = HashMap::new();
    let mut udp_std: HashMap<SocketId, Vec<Arc<std::net::UdpSocket>>> = HashMap::new();
    let mut tcp: Vec<(SocketId, Vec<TcpListener>)> = Vec::new();
    let mut quic_eps: HashMap<SocketId, quinn::Endpoint> = HashMap::new();
    for s in &sockets.sockets {
        let Some(proto) = Protocol::from_proto(s.proto) else {
            continue;
        };
        let id = SocketId(locals.len());
        let addr = SocketAddr::new(s.address, s.port);
        let mut opts = bind_opts(&cfg, s);
        let workers = match proto {
            Protocol::Udp => {
                if s.workers > 0 {
                    s.workers
                } else {
                    children
                }
            }
            // As for `cfg.quic` endpoints: `children` accept loops by default.
            Protocol::Quic => {
                if s.workers > 0 {
                    s.workers
                } else {
                    children
                }
            }
            _ => {
                if s.workers > 0 {
                    s.workers
                } else {
                    tcp_children
                }
            }
        };
        let bound = match proto {
            Protocol::Udp => {
                opts.rcvbuf = cfg.maxbuffer;
                opts.sndbuf = cfg.maxsndbuffer;
                let (bound, socks) = bind_group(proto, addr, workers, Type::DGRAM, &opts)?;
                if cfg.udp_threads {
                    let v = socks
                        .into_iter()
                        .map(|so| blocking_udp(so).map(Arc::new))
                        .collect::<std::io::Result<Vec<_>>>()
                        .map_err(|e| Error::Bind {
                            proto,
                            address: bound,
                            source: e,
                        })?;
                    udp_std.insert(id, v);
                } else {
                    let mut v = Vec::new();
                    for so in socks {
                        let std: std::net::UdpSocket = so.into();
                        v.push(Arc::new(UdpSocket::from_std(std).map_err(|e| {
                            Error::Bind {
                                proto,
                                address: bound,
                                source: e,
                            }
                        })?));
                    }
                    udp.insert(id, v);
                }
                bound
            }
            Protocol::Quic => {
                opts.rcvbuf = cfg.maxbuffer;
                opts.sndbuf = cfg.maxsndbuffer;
                let label = quic_label(addr, s.socket_name.as_deref());
                let (bound, ep) = bind_quic(addr, &opts, tls.as_deref(), &cfg, label)?;
                quic_eps.insert(id, ep);
                bound
            }
            _ => {
                let (bound, socks) = bind_group(proto, addr, workers, Type::STREAM, &opts)?;
                let mut v = Vec::new();
                for so in socks {
                    let backlog = i32::try_from(cfg.tcp_listen_backlog).unwrap_or(i32::MAX);
                    let l = so
                        .listen(backlog)
                        .and_then(|()| TcpListener::from_std(so.into()))
                        .map_err(|e| Error::Bind {
                            proto,
                            address: bound,
                            source: e,
                        })?;
                    v.push(l);
                }
                tcp.push((id, v));
                bound
            }
        };
        locals.push(Arc::new(LocalSocket {
            id,
            proto,
            addr: bound,
            name: s.socket_name.clone(),
            advertise: s.advertise.clone(),
            workers,
            record: Some(s.clone()),
        }));
    }
    for q in &cfg.quic {
        let id = SocketId(locals.len());
        let opts = BindOpts {
            freebind: cfg.ip_free_bind,
            rcvbuf: cfg.maxbuffer,
            sndbuf: cfg.maxsndbuffer,
            ..BindOpts::default()
        };
        let label = quic_label(q.address, q.name.as_deref());
        let (bound, ep) = bind_quic(q.address, &opts, tls.as_deref(), &cfg, label)?;
        quic_eps.insert(id, ep);
        locals.push(Arc::new(LocalSocket {
            id,
            proto: Protocol::Quic,
            addr: bound,
            name: q.name.clone(),
            advertise: q.advertise.clone(),
            workers: if q.workers > 0 { q.workers } else { children },
            record: None,
        }));
    }
    if locals.is_empty() {
        return Err(Error::NoSockets);
    }
    let (tx, rx) = mpsc::channel(cfg.channel_capacity.max(1));
    let shared = Arc::new(Shared {
        selector: Selector {
            sockets: locals.clone(),
            mhomed: cfg.mhomed,
        },
        sockets: locals,
        udp,
        udp_std,
        udp_rr: AtomicUsize::new(0),
        quic: quic_eps,
        cfg,
        tls,
        conns: Mutex::new(ConnTable::default()),
        tx,
        next_id: AtomicU64::new(1),
        counts: [
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        ],
        tasks: Mutex::new(Vec::new()),
        stream_handler: HandlerSlot::default(),
    });
    for (id, socks) in &shared.udp {
        let local = shared.sockets[id.0].clone();
        for s in socks {
            shared.spawn(udp_loop(shared.clone(), local.clone(), s.clone()));
        }
    }
    for (id, listeners) in tcp {
        let local = shared.sockets[id.0].clone();
        for l in listeners {
            shared.spawn(accept_loop(shared.clone(), local.clone(), l));
        }
    }
    for (id, ep) in &shared.quic {
        let local = shared.sockets[id.0].clone();
        for _ in 0..local.workers.max(1) {
            shared.spawn(quic::accept_loop(shared.clone(), local.clone(), ep.clone()));
        }
    }
    Ok((shared, rx))
}

/// `quic:address:port` plus ` name "…"` when the socket has one, for error messages.
fn quic_label(addr: SocketAddr, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("quic:{addr} (name \"{n}\")"),
        None => format!("quic:{addr}"),
    }
}

/// Binds one QUIC endpoint (a `listen=quic:…` record or a [`crate::QuicListen`]); returns
/// the bound address and the endpoint. `label` names the socket when TLS is missing.
fn bind_quic(
    addr: SocketAddr,
    opts: &BindOpts,
    tls: Option<&TlsState>,
    cfg: &TransportConfig,
    label: String,
) -> Result<(SocketAddr, quinn::Endpoint), Error> {
    let Some(tls) = tls else {
        return Err(Error::QuicWithoutTls {
            socket: label,
            source: TlsError::Missing,
        });
    };
    let ep = quic::endpoint(addr, opts, tls, cfg)?;
    let bound = ep.local_addr().unwrap_or(addr);
    Ok((bound, ep))
}

/// A bound UDP socket in blocking mode, for a receive thread. On Linux a receive waits
/// without a timeout (a timeout arms a kernel timer on every wait, one per relayed
/// datagram) and [`crate::TransportHandle::shutdown`] wakes the waiting threads; elsewhere,
/// where `shutdown` of an unconnected UDP socket need not wake them, a receive returns
/// every `UDP_POLL` (250 ms) so that a thread can look at its stop flag.
fn blocking_udp(so: socket2::Socket) -> std::io::Result<std::net::UdpSocket> {
    let s: std::net::UdpSocket = so.into();
    s.set_nonblocking(false)?;
    #[cfg(not(target_os = "linux"))]
    s.set_read_timeout(Some(UDP_POLL))?;
    Ok(s)
}

/// Outside Linux, how long a blocking UDP receive waits before it returns to let its
/// thread look at its stop flag.
#[cfg(not(target_os = "linux"))]
const UDP_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Wakes every thread blocked in a receive on `sock`, now and later (Linux wakes the
/// waiters of an unconnected UDP socket on `shutdown`, though the call itself reports
/// "not connected"); datagrams already queued are still returned first.
pub(crate) fn wake_receivers(sock: &std::net::UdpSocket) {
    let _ = socket2::SockRef::from(sock).shutdown(std::net::Shutdown::Read);
}

/// Whether a datagram is a keep-alive or empty (only whitespace and NUL octets): nothing to
/// route.
pub(crate) fn is_keepalive(data: &[u8]) -> bool {
    data.iter().all(|b| b.is_ascii_whitespace() || *b == 0)
}

/// One datagram from a blocking socket of `udp_receivers`: `None` when the socket was shut
/// down or (outside Linux) the poll timeout passed (look at the stop flag), a receive
/// failed (ICMP errors of earlier sends surface here on some systems; logged) or the
/// datagram is a keep-alive.
pub fn recv_datagram(sock: &std::net::UdpSocket, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
    match recv_from(sock, buf) {
        Ok((n, Some(source))) => (!is_keepalive(buf.get(..n)?)).then_some((n, source)),
        // No source address: the socket was shut down for reading.
        Ok((_, None)) => None,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(e) => {
            tracing::debug!("udp receive error: {e}");
            None
        }
    }
}

/// `recvfrom` on `sock`, with no source address when the kernel gives none: a socket shut
/// down for reading ([`wake_receivers`]) returns 0 octets and no address, which std's
/// `UdpSocket::recv_from` does not expect (it reads the address family it was not given
/// and, depending on what that memory held, panics).
#[cfg(unix)]
fn recv_from(
    sock: &std::net::UdpSocket,
    buf: &mut [u8],
) -> std::io::Result<(usize, Option<SocketAddr>)> {
    use nix::sys::socket::{recvfrom, SockaddrStorage};
    use std::os::fd::AsRawFd;
    let (n, from) = recvfrom::<SockaddrStorage>(sock.as_raw_fd(), buf)?;
    let source = from.and_then(|a| {
        a.as_sockaddr_in()
            .map(|v4| SocketAddr::V4((*v4).into()))
            .or_else(|| a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into())))
    });
    Ok((n, source))
}

/// `recvfrom` on `sock` (std's: elsewhere a shut-down socket's receive fails instead).
#[cfg(not(unix))]
fn recv_from(
    sock: &std::net::UdpSocket,
    buf: &mut [u8],
) -> std::io::Result<(usize, Option<SocketAddr>)> {
    sock.recv_from(buf).map(|(n, a)| (n, Some(a)))
}

/// Sends a datagram on a blocking socket of `shared.udp_std`: on `own`'s socket when the
/// message leaves from `own`'s local socket, else on that local socket's workers in turn.
pub(crate) fn send_udp_blocking(
    shared: &Shared,
    out: Datagram<'_>,
    own: Option<(SocketId, &std::net::UdpSocket)>,
) -> Result<Sent, SendError> {
    let len = out.data.len();
    if len > MAX_UDP_PAYLOAD {
        return Err(SendError::TooLarge(len));
    }
    let local = shared.selector.select(Protocol::Udp, out.dest, out.local)?;
    let no_socket = || SendError::NoSocket {
        proto: Protocol::Udp,
        dest: out.dest,
    };
    let s = match own {
        Some((id, sock)) if id == local.id => sock,
        _ => {
            let socks = shared.udp_std.get(&local.id).ok_or_else(no_socket)?;
            let i = shared.udp_rr.fetch_add(1, Ordering::Relaxed) % socks.len().max(1);
            socks.get(i).ok_or_else(no_socket)?
        }
    };
    s.send_to(out.data, out.dest)
        .map_err(|source| SendError::Io {
            dest: out.dest,
            source,
        })?;
    Ok(Sent {
        proto: Protocol::Udp,
        local: local.id,
        conn: None,
    })
}

/// One UDP receive loop: every datagram becomes a [`Received`] sharing the receive buffer.
async fn udp_loop(shared: Arc<Shared>, local: Arc<LocalSocket>, sock: Arc<UdpSocket>) {
    let mut buf = bytes::BytesMut::with_capacity(256 * 1024);
    loop {
        if buf.capacity() < 70_000 {
            buf.reserve(256 * 1024);
        }
        match sock.recv_buf_from(&mut buf).await {
            Ok((n, source)) => {
                let data = buf.split_to(n).freeze();
                if is_keepalive(&data) {
                    continue;
                }
                let msg = Received {
                    data,
                    source,
                    proto: Protocol::Udp,
                    local: local.clone(),
                    conn: None,
                };
                if shared.tx.send(msg).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                // ICMP errors of earlier sends surface here on some systems; keep going.
                tracing::debug!(sock = %local.addr, "udp receive error: {e}");
            }
        }
    }
}

/// One accept loop of a TCP or TLS listener.
async fn accept_loop(shared: Arc<Shared>, local: Arc<LocalSocket>, l: TcpListener) {
    loop {
        let (stream, peer) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(sock = %local.addr, "accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let Some(slot) = Slot::take(&shared, local.proto) else {
            tracing::info!(sock = %local.addr, %peer, "connection limit reached, refusing");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        shared.spawn(serve_accepted(
            shared.clone(),
            local.clone(),
            stream,
            peer,
            slot,
        ));
    }
}

async fn serve_accepted(
    shared: Arc<Shared>,
    local: Arc<LocalSocket>,
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
) {
    let _slot = slot;
    let ctx = |id| StreamCtx {
        shared: shared.clone(),
        id,
        proto: local.proto,
        local: local.clone(),
        peer,
        role: KeepAliveRole::Server,
        idle: shared.cfg.tcp_connection_lifetime,
        keep_after_eof: false,
    };
    if local.proto == Protocol::Tls {
        let Some(cfg) = shared.tls.as_ref().and_then(|t| t.server(local.addr)) else {
            return;
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
        let tls =
            match tokio::time::timeout(shared.cfg.tcp_connect_timeout, acceptor.accept(stream))
                .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::info!(%peer, sock = %local.addr, "TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::info!(%peer, sock = %local.addr, "TLS handshake timed out");
                    return;
                }
            };
        let (id, _tx, rx) = shared.register(local.proto, local.id, peer, true, None);
        let (r, w) = tokio::io::split(tls);
        stream::run(ctx(id), r, Writer::Stream(w), rx).await;
    } else {
        let (r, w) = stream.into_split();
        let direct = DirectTcp::new(w);
        let (id, _tx, rx) =
            shared.register(local.proto, local.id, peer, true, Some(direct.clone()));
        stream::run(ctx(id), r, Writer::<tokio::io::Sink>::Tcp(direct), rx).await;
    }
}

/// The protocol a message goes over: UDP larger than `udp_mtu` switches to
/// `udp_mtu_try_proto` (not on a given connection).
fn send_proto(shared: &Shared, out: &Outgoing) -> Protocol {
    let c = &shared.cfg;
    if out.proto == Protocol::Udp
        && out.conn.is_none()
        && c.udp_mtu > 0
        && out.data.len() > c.udp_mtu
        && c.udp_mtu_try_proto != Protocol::Udp
    {
        c.udp_mtu_try_proto
    } else {
        out.proto
    }
}

/// A connection by id: its local socket, protocol and sender.
fn conn_by_id(shared: &Shared, c: ConnId) -> Option<(SocketId, Protocol, ConnSender)> {
    let t = shared.conns.lock().ok()?;
    t.by_id
        .get(&c)
        .map(|e| (e.local, e.proto, e.sender.clone()))
}

/// Sends one message without waiting. See [`crate::TransportHandle::try_send`].
pub(crate) fn try_send(shared: &Arc<Shared>, out: Outgoing) -> Result<Sent, TrySendError> {
    let proto = send_proto(shared, &out);
    let stream = matches!(proto, Protocol::Tcp | Protocol::Tls);
    if out.conn.is_none() && !stream {
        return if proto == Protocol::Udp && !shared.udp_std.is_empty() {
            send_udp_blocking(shared, out.datagram(), None).map_err(TrySendError::Failed)
        } else {
            // UDP on the runtime's sockets, QUIC: async only.
            Err(TrySendError::WouldWait(out))
        };
    }
    // Handed over under the table's lock: no clone of the connection's sender.
    let Ok(table) = shared.conns.lock() else {
        return Err(TrySendError::WouldWait(out));
    };
    let entry = match out.conn {
        Some(c) => match table.by_id.get(&c) {
            Some(e) => (c, e),
            None => return Err(TrySendError::Failed(SendError::ConnectionClosed(c.0))),
        },
        None => match table.find_entry(proto, out.dest, out.local) {
            Some(found) => found,
            // No connection yet: opening one waits.
            None => return Err(TrySendError::WouldWait(out)),
        },
    };
    let (id, e) = entry;
    let (sent, data) = (
        Sent {
            proto: e.proto,
            local: e.local,
            conn: Some(id),
        },
        out.data,
    );
    // The message moves into the queue or the socket (a clone of a `Vec`-backed `Bytes`
    // would allocate); a refusal gives it back.
    let back = |data| Outgoing { data, ..out };
    match e.sender.try_send(data) {
        Ok(()) => Ok(sent),
        // A full queue waits for room; a connection that just closed is opened again.
        Err(TryQueue::Full(data)) => Err(TrySendError::WouldWait(back(data))),
        Err(TryQueue::Closed(_)) if out.conn.is_some() => {
            Err(TrySendError::Failed(SendError::ConnectionClosed(id.0)))
        }
        Err(TryQueue::Closed(data)) => Err(TrySendError::WouldWait(back(data))),
    }
}

/// Sends one message. See [`crate::TransportHandle::send`].
pub(crate) async fn send(shared: &Arc<Shared>, out: Outgoing) -> Result<Sent, SendError> {
    let proto = send_proto(shared, &out);
    let len = out.data.len();
    if let Some(c) = out.conn {
        let Some((local, p, tx)) = conn_by_id(shared, c) else {
            return Err(SendError::ConnectionClosed(c.0));
        };
        tx.send(out.data)
            .await
            .map_err(|_| SendError::ConnectionClosed(c.0))?;
        return Ok(Sent {
            proto: p,
            local,
            conn: Some(c),
        });
    }
    match proto {
        Protocol::Udp if !shared.udp_std.is_empty() => {
            send_udp_blocking(shared, out.datagram(), None)
        }
        Protocol::Udp => {
            if len > MAX_UDP_PAYLOAD {
                return Err(SendError::TooLarge(len));
            }
            let local = shared.selector.select(proto, out.dest, out.local)?;
            let socks = shared.udp.get(&local.id).ok_or(SendError::NoSocket {
                proto,
                dest: out.dest,
            })?;
            let i = shared.udp_rr.fetch_add(1, Ordering::Relaxed) % socks.len().max(1);
            let s = socks.get(i).ok_or(SendError::NoSocket {
                proto,
                dest: out.dest,
            })?;
            s.send_to(&out.data, out.dest)
                .await
                .map_err(|source| SendError::Io {
                    dest: out.dest,
                    source,
                })?;
            Ok(Sent {
                proto,
                local: local.id,
                conn: None,
            })
        }
        Protocol::Tcp | Protocol::Tls => send_stream(shared, proto, out).await,
        Protocol::Quic => quic::send(shared, out).await,
    }
}

async fn send_stream(
    shared: &Arc<Shared>,
    proto: Protocol,
    out: Outgoing,
) -> Result<Sent, SendError> {
    let dest = out.dest;
    let found = shared
        .conns
        .lock()
        .ok()
        .and_then(|t| t.find(proto, dest, out.local));
    if let Some((id, local, tx)) = found {
        if tx.send(out.data.clone()).await.is_ok() {
            return Ok(Sent {
                proto,
                local,
                conn: Some(id),
            });
        }
    }
    let local = shared.selector.select(proto, dest, out.local)?;
    let tls = if proto == Protocol::Tls {
        let t = shared
            .tls
            .as_ref()
            .and_then(|t| t.client(dest))
            .ok_or(SendError::NotConfigured(proto))?;
        Some(t)
    } else {
        None
    };
    let slot = Slot::take(shared, proto).ok_or(SendError::TooManyConnections {
        proto,
        limit: shared.limit(proto).1,
    })?;
    let timeout = shared.cfg.tcp_connect_timeout;
    let io = |source| SendError::Io { dest, source };
    let sock = if dest.is_ipv6() {
        TcpSocket::new_v6()
    } else {
        TcpSocket::new_v4()
    }
    .map_err(io)?;
    if !local.is_any() && local.addr.is_ipv6() == dest.is_ipv6() {
        sock.bind(SocketAddr::new(local.addr.ip(), 0)).map_err(io)?;
    }
    let stream = tokio::time::timeout(timeout, sock.connect(dest))
        .await
        .map_err(|_| SendError::ConnectTimeout(dest))?
        .map_err(io)?;
    let _ = stream.set_nodelay(true);
    // Plain TCP shares its socket with direct writers from the start; TLS first shakes hands.
    let fresh = match tls {
        Some(profile) => Fresh::Tls(stream, profile),
        None => {
            let (r, w) = stream.into_split();
            Fresh::Plain(r, DirectTcp::new(w))
        }
    };
    let direct = match &fresh {
        Fresh::Plain(_, d) => Some(d.clone()),
        Fresh::Tls(..) => None,
    };
    let (id, tx, rx) = shared.register(proto, local.id, dest, true, direct);
    // The opener's message first: sends that find the connection from now on (during a TLS
    // handshake too) queue behind it.
    tx.send(out.data)
        .await
        .map_err(|_| SendError::ConnectionClosed(id.0))?;
    let ctx = StreamCtx {
        shared: shared.clone(),
        id,
        proto,
        local: local.clone(),
        peer: dest,
        role: KeepAliveRole::Client,
        idle: shared.cfg.tcp_connection_lifetime,
        keep_after_eof: false,
    };
    match fresh {
        Fresh::Tls(stream, profile) => {
            let name = server_name(
                profile.server_name.as_deref(),
                shared.cfg.client_server_name.as_deref(),
                dest,
            );
            let conn = tokio_rustls::TlsConnector::from(profile.config);
            let s = match tokio::time::timeout(timeout, conn.connect(name, stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    remove(shared, id);
                    return Err(SendError::Handshake {
                        dest,
                        reason: e.to_string(),
                    });
                }
                Err(_) => {
                    remove(shared, id);
                    return Err(SendError::ConnectTimeout(dest));
                }
            };
            let (r, w) = tokio::io::split(s);
            shared.spawn(async move {
                let _slot = slot;
                stream::run(ctx, r, Writer::Stream(w), rx).await;
            });
        }
        Fresh::Plain(r, direct) => {
            shared.spawn(async move {
                let _slot = slot;
                stream::run(ctx, r, Writer::<tokio::io::Sink>::Tcp(direct), rx).await;
            });
        }
    }
    Ok(Sent {
        proto,
        local: local.id,
        conn: Some(id),
    })
}

/// A new outgoing connection before its loop starts.
enum Fresh<P> {
    /// To shake hands with this client profile.
    Tls(TcpStream, P),
    /// Plain TCP, split: the loop reads, the socket is shared for writing.
    Plain(tokio::net::tcp::OwnedReadHalf, Arc<DirectTcp>),
}

pub(crate) fn remove(shared: &Shared, id: ConnId) {
    if let Ok(mut t) = shared.conns.lock() {
        t.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::{recv_datagram, recv_from, wake_receivers};
    use std::net::UdpSocket;

    /// A receive on a socket shut down for reading ends with no source address and no
    /// datagram, right after one that had both (whose address is what std's `recv_from`
    /// could find again in its memory and misread).
    #[cfg(unix)]
    #[test]
    fn a_shut_down_socket_gives_no_source_and_no_datagram() {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let peer = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let to = sock.local_addr().expect("address");
        peer.send_to(b"OPTIONS", to).expect("send");
        let mut buf = [0u8; 64];
        let from = peer.local_addr().expect("address");
        assert_eq!(recv_datagram(&sock, &mut buf), Some((7, from)));
        wake_receivers(&sock);
        assert_eq!(recv_from(&sock, &mut buf).expect("receive"), (0, None));
        assert_eq!(recv_datagram(&sock, &mut buf), None);
    }
}
