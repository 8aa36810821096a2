//! QUIC (our extension): endpoints, connections and one stream per message exchange.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use sip_message::framing::KeepAliveRole;
use socket2::Type;

use crate::config::TransportConfig;
use crate::error::{Error, SendError, TlsError};
use crate::runtime::Shared;
use crate::socket::{bind_group, BindOpts, LocalSocket, Protocol};
use crate::stream::{self, Slot, StreamCtx};
use crate::tls::TlsState;
use crate::{Outgoing, Sent};

/// A QUIC stream idle this long is closed (64 × T1, the transaction timeout), unless
/// `tcp_connection_lifetime` is shorter.
pub const QUIC_STREAM_IDLE: Duration = Duration::from_secs(32);

/// Concurrent bidirectional streams a peer may open on one connection.
const MAX_STREAMS: u32 = 1024;

fn transport_config(cfg: &TransportConfig) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(MAX_STREAMS));
    t.max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
    if let Ok(idle) = quinn::IdleTimeout::try_from(cfg.tcp_connection_lifetime) {
        t.max_idle_timeout(Some(idle));
    }
    Arc::new(t)
}

pub(crate) fn server_config(
    tls: &TlsState,
    local: SocketAddr,
    cfg: &TransportConfig,
) -> Result<quinn::ServerConfig, TlsError> {
    let rc = tls.quic_server(local).ok_or(TlsError::Missing)?;
    let qc = QuicServerConfig::try_from(rc).map_err(|e| TlsError::Profile {
        profile: format!("server:{local}"),
        reason: e.to_string(),
    })?;
    let mut sc = quinn::ServerConfig::with_crypto(Arc::new(qc));
    sc.transport_config(transport_config(cfg));
    Ok(sc)
}

/// Binds a QUIC endpoint with its server configuration.
pub(crate) fn endpoint(
    addr: SocketAddr,
    opts: &BindOpts,
    tls: &TlsState,
    cfg: &TransportConfig,
) -> Result<quinn::Endpoint, Error> {
    let (bound, mut socks) = bind_group(Protocol::Quic, addr, 1, Type::DGRAM, opts)?;
    let sock = socks.pop().ok_or(Error::NoSockets)?;
    let sc = server_config(tls, bound, cfg).or_else(|_| server_config(tls, addr, cfg))?;
    let runtime = Arc::new(quinn::TokioRuntime);
    quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(sc),
        sock.into(),
        runtime,
    )
    .map_err(|e| Error::Quic {
        address: bound,
        reason: e.to_string(),
    })
}

/// One accept loop of an endpoint.
pub(crate) async fn accept_loop(shared: Arc<Shared>, local: Arc<LocalSocket>, ep: quinn::Endpoint) {
    while let Some(incoming) = ep.accept().await {
        let Some(slot) = Slot::take(&shared, Protocol::Quic) else {
            incoming.refuse();
            continue;
        };
        let sh = shared.clone();
        let lo = local.clone();
        shared.spawn(async move {
            let conn = match tokio::time::timeout(sh.cfg.tcp_connect_timeout, incoming).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    tracing::info!(sock = %lo.addr, "QUIC handshake failed: {e}");
                    return;
                }
                Err(_) => return,
            };
            serve_connection(sh, lo, conn, slot).await;
        });
    }
}

/// Serves the streams the peer opens on a connection; registers the connection for reuse.
async fn serve_connection(
    shared: Arc<Shared>,
    local: Arc<LocalSocket>,
    conn: quinn::Connection,
    slot: Slot,
) {
    let _slot = slot;
    let peer = conn.remote_address();
    if let Ok(mut t) = shared.conns.lock() {
        t.quic.insert((peer, local.id), conn.clone());
    }
    while let Ok((send, recv)) = conn.accept_bi().await {
        spawn_stream(&shared, &local, peer, KeepAliveRole::Server, send, recv);
    }
    if let Ok(mut t) = shared.conns.lock() {
        if t.quic
            .get(&(peer, local.id))
            .is_some_and(|c| c.stable_id() == conn.stable_id())
        {
            t.quic.remove(&(peer, local.id));
        }
    }
}

fn spawn_stream(
    shared: &Arc<Shared>,
    local: &Arc<LocalSocket>,
    peer: SocketAddr,
    role: KeepAliveRole,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
) -> (crate::ConnId, crate::writer::ConnSender) {
    let (id, tx, rx) = shared.register(Protocol::Quic, local.id, peer, false, None);
    let ctx = StreamCtx {
        shared: shared.clone(),
        id,
        proto: Protocol::Quic,
        local: local.clone(),
        peer,
        role,
        idle: shared.cfg.tcp_connection_lifetime.min(QUIC_STREAM_IDLE),
        keep_after_eof: true,
    };
    shared.spawn(stream::run(
        ctx,
        recv,
        crate::writer::Writer::Stream(send),
        rx,
    ));
    (id, tx)
}

/// Sends a message on a new stream of an existing or new connection to `dest`.
pub(crate) async fn send(shared: &Arc<Shared>, out: Outgoing) -> Result<Sent, SendError> {
    let dest = out.dest;
    let existing = shared.conns.lock().ok().and_then(|t| {
        t.quic
            .iter()
            .find(|((p, l), c)| {
                *p == dest && out.local.is_none_or(|x| x == *l) && c.close_reason().is_none()
            })
            .map(|((_, l), c)| (*l, c.clone()))
    });
    let (local, conn) = match existing {
        Some((l, c)) => (
            shared
                .sockets
                .get(l.0)
                .cloned()
                .ok_or(SendError::NoSocket {
                    proto: Protocol::Quic,
                    dest,
                })?,
            c,
        ),
        None => connect(shared, dest, out.local).await?,
    };
    let (s, r) = conn.open_bi().await.map_err(|e| SendError::Handshake {
        dest,
        reason: e.to_string(),
    })?;
    let (id, tx) = spawn_stream(shared, &local, dest, KeepAliveRole::Client, s, r);
    tx.send(out.data)
        .await
        .map_err(|_| SendError::ConnectionClosed(id.0))?;
    Ok(Sent {
        proto: Protocol::Quic,
        local: local.id,
        conn: Some(id),
    })
}

async fn connect(
    shared: &Arc<Shared>,
    dest: SocketAddr,
    forced: Option<crate::SocketId>,
) -> Result<(Arc<LocalSocket>, quinn::Connection), SendError> {
    let local = shared
        .selector
        .select(Protocol::Quic, dest, forced)?
        .clone();
    let ep = shared
        .quic
        .get(&local.id)
        .ok_or(SendError::NotConfigured(Protocol::Quic))?;
    let profile = shared
        .tls
        .as_ref()
        .and_then(|t| t.quic_client(dest))
        .ok_or(SendError::NotConfigured(Protocol::Quic))?;
    let hs = |reason: String| SendError::Handshake { dest, reason };
    let qc = QuicClientConfig::try_from(profile.config).map_err(|e| hs(e.to_string()))?;
    let mut cc = quinn::ClientConfig::new(Arc::new(qc));
    cc.transport_config(transport_config(&shared.cfg));
    let name = profile
        .server_name
        .or_else(|| shared.cfg.client_server_name.clone())
        .unwrap_or_else(|| dest.ip().to_string());
    let slot = Slot::take(shared, Protocol::Quic).ok_or(SendError::TooManyConnections {
        proto: Protocol::Quic,
        limit: shared.cfg.quic_max_connections,
    })?;
    let connecting = ep
        .connect_with(cc, dest, &name)
        .map_err(|e| hs(e.to_string()))?;
    let conn = tokio::time::timeout(shared.cfg.tcp_connect_timeout, connecting)
        .await
        .map_err(|_| SendError::ConnectTimeout(dest))?
        .map_err(|e| hs(e.to_string()))?;
    if let Ok(mut t) = shared.conns.lock() {
        t.quic.insert((dest, local.id), conn.clone());
    }
    shared.spawn(serve_connection(
        shared.clone(),
        local.clone(),
        conn.clone(),
        slot,
    ));
    Ok((local, conn))
}
