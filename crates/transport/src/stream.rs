//! Connections: the table (by id, by peer and aliases), the limit counters and the
//! receive/send loop every TCP connection, TLS connection and QUIC stream runs.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use sip_message::framing::{frame_extent, frame_reusing, Extent, Frame, KeepAliveRole};
use sip_message::HeaderIndex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::runtime::Shared;
use crate::socket::{LocalSocket, Protocol, SocketId};
use crate::writer::{ConnSender, Writer};
use crate::{Received, StreamMessage};

/// Identifies one TCP connection, TLS connection or QUIC stream for the lifetime of the
/// transports (ids are never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Queue depth of a connection's writer.
pub(crate) const WRITE_QUEUE: usize = 256;

/// One live connection (or QUIC stream).
#[derive(Debug)]
pub(crate) struct ConnEntry {
    pub(crate) proto: Protocol,
    pub(crate) local: SocketId,
    /// The peer and its aliases: sends to any of these reuse the connection.
    pub(crate) keys: Vec<SocketAddr>,
    pub(crate) sender: ConnSender,
}

/// The connection table.
#[derive(Debug, Default)]
pub(crate) struct ConnTable {
    pub(crate) by_id: HashMap<ConnId, ConnEntry>,
    by_peer: HashMap<(Protocol, SocketAddr), Vec<ConnId>>,
    /// QUIC connections by (peer, local socket); streams are in `by_id`.
    pub(crate) quic: HashMap<(SocketAddr, SocketId), quinn::Connection>,
}

impl ConnTable {
    /// Registers a connection; `reusable` ones are found by peer address (not QUIC
    /// streams: a new exchange opens a new stream).
    pub(crate) fn insert(&mut self, id: ConnId, e: ConnEntry, reusable: bool) {
        if reusable {
            for k in &e.keys {
                self.by_peer.entry((e.proto, *k)).or_default().push(id);
            }
        }
        self.by_id.insert(id, e);
    }

    pub(crate) fn remove(&mut self, id: ConnId) {
        if let Some(e) = self.by_id.remove(&id) {
            for k in &e.keys {
                if let Some(v) = self.by_peer.get_mut(&(e.proto, *k)) {
                    v.retain(|c| *c != id);
                    if v.is_empty() {
                        self.by_peer.remove(&(e.proto, *k));
                    }
                }
            }
        }
    }

    /// Adds an alias (`force_tcp_alias`): sends to `alias` use connection `id`.
    pub(crate) fn add_alias(&mut self, id: ConnId, alias: SocketAddr) -> bool {
        let Some(e) = self.by_id.get_mut(&id) else {
            return false;
        };
        if !e.keys.contains(&alias) {
            e.keys.push(alias);
            self.by_peer.entry((e.proto, alias)).or_default().push(id);
        }
        true
    }

    /// The newest live connection of `proto` to `peer` (through `local` when given).
    pub(crate) fn find(
        &self,
        proto: Protocol,
        peer: SocketAddr,
        local: Option<SocketId>,
    ) -> Option<(ConnId, SocketId, ConnSender)> {
        self.find_entry(proto, peer, local)
            .map(|(id, e)| (id, e.local, e.sender.clone()))
    }

    /// [`ConnTable::find`] without cloning the sender.
    pub(crate) fn find_entry(
        &self,
        proto: Protocol,
        peer: SocketAddr,
        local: Option<SocketId>,
    ) -> Option<(ConnId, &ConnEntry)> {
        self.by_peer
            .get(&(proto, peer))?
            .iter()
            .rev()
            .find_map(|id| {
                let e = self.by_id.get(id)?;
                if local.is_some_and(|l| l != e.local) || e.sender.is_closed() {
                    return None;
                }
                Some((*id, e))
            })
    }
}

/// Holds one slot of a protocol's connection limit; frees it when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    shared: Arc<Shared>,
    idx: usize,
}

impl Slot {
    /// Takes a slot, or `None` when the limit is reached.
    pub(crate) fn take(shared: &Arc<Shared>, proto: Protocol) -> Option<Slot> {
        let (idx, limit) = shared.limit(proto);
        let prev = shared.counts[idx].fetch_add(1, Ordering::AcqRel);
        if prev >= limit {
            shared.counts[idx].fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot {
            shared: shared.clone(),
            idx,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.counts[self.idx].fetch_sub(1, Ordering::AcqRel);
    }
}

/// Parameters of one connection loop.
pub(crate) struct StreamCtx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) id: ConnId,
    pub(crate) proto: Protocol,
    pub(crate) local: Arc<LocalSocket>,
    pub(crate) peer: SocketAddr,
    pub(crate) role: KeepAliveRole,
    pub(crate) idle: Duration,
    /// QUIC: the peer finishing its side does not end ours (a response may follow).
    pub(crate) keep_after_eof: bool,
}

/// Reads, frames and hands out messages; writes what the queue brings; closes on EOF,
/// error, framing error (oversize), idle timeout, incomplete-message timeout, or when the
/// table entry is removed. Removes itself from the table at the end.
pub(crate) async fn run<R, W>(
    ctx: StreamCtx,
    mut r: R,
    mut w: Writer<W>,
    mut rx: mpsc::Receiver<Bytes>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let cfg = &ctx.shared.cfg;
    let mut buf = BytesMut::with_capacity(16 * 1024);
    // The header index of the messages framed here, kept from one to the next.
    let mut index = HeaderIndex::default();
    let mut last = Instant::now();
    let mut partial_since: Option<Instant> = None;
    let mut reading = true;
    // One timer for both timeouts, moved earlier at once but later only when it fires: a
    // message does not re-arm it (that was a timer-wheel update per message).
    let timer = tokio::time::sleep_until(last + ctx.idle);
    tokio::pin!(timer);
    let reason: &str = loop {
        let mut deadline = last + ctx.idle;
        if let Some(p) = partial_since {
            deadline = deadline.min(p + cfg.tcp_msg_read_timeout);
        }
        if deadline < timer.deadline() {
            timer.as_mut().reset(deadline);
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        tokio::select! {
            res = r.read_buf(&mut buf), if reading => {
                match res {
                    Ok(0) => {
                        if ctx.keep_after_eof {
                            reading = false;
                            continue;
                        }
                        break "closed by peer";
                    }
                    Ok(_) => {
                        last = Instant::now();
                        match drain(&ctx, &mut buf, &mut index, &mut w, &mut rx).await {
                            Ok(consumed) => {
                                if buf.is_empty() {
                                    partial_since = None;
                                } else if consumed || partial_since.is_none() {
                                    partial_since = Some(last);
                                }
                            }
                            Err(why) => break why,
                        }
                    }
                    Err(_) => break "read error",
                }
            }
            m = rx.recv() => match m {
                Some(data) => {
                    match tokio::time::timeout(cfg.tcp_send_timeout, w.write_queued(&data)).await {
                        Ok(Ok(())) => last = Instant::now(),
                        Ok(Err(_)) => break "write error",
                        Err(_) => break "send timeout",
                    }
                }
                None => break "closed locally",
            },
            _ = &mut timer => {
                // Senders' direct writes count as activity, as queued writes do.
                if w.wrote_directly() {
                    last = Instant::now();
                    timer.as_mut().reset(last + ctx.idle);
                    continue;
                }
                if deadline > Instant::now() {
                    timer.as_mut().reset(deadline);
                    continue;
                }
                break if partial_since.is_some_and(|p| p + cfg.tcp_msg_read_timeout <= Instant::now()) {
                    "incomplete message timeout"
                } else {
                    "idle timeout"
                };
            }
        }
    };
    tracing::debug!(conn = ctx.id.0, proto = %ctx.proto, peer = %ctx.peer, "connection closed: {reason}");
    if let Ok(mut t) = ctx.shared.conns.lock() {
        t.remove(ctx.id);
    }
    let _ = tokio::time::timeout(Duration::from_millis(200), w.shutdown()).await;
}

/// The message `data` (parsed as `parsed`) of this connection, lent to the stream handler.
fn lend<'a, 'm>(
    ctx: &'a StreamCtx,
    data: &'a [u8],
    parsed: Option<&'a sip_message::Message<'m>>,
) -> StreamMessage<'a, 'm> {
    StreamMessage {
        data,
        parsed,
        source: ctx.peer,
        proto: ctx.proto,
        local: &ctx.local,
        conn: ctx.id,
    }
}

/// What [`drain`] does with the frame at the front of the buffer.
enum Step {
    /// Lent to the stream handler: `len` octets, and what to await before reading on.
    Handled(usize, Option<crate::HandlerWait>),
    /// A message of `len` octets for the receiver channel.
    Send(usize),
    /// A keep-alive ping (4 octets): answer it.
    Ping,
    /// A pong or a stray line end: `len` octets to skip.
    Skip(usize),
}

/// Logs a message that does not parse but whose end is certain: the handler or the
/// receiver answers it (400) or drops it, and the stream stays in sync.
fn log_malformed(ctx: &StreamCtx, error: &sip_message::ParseError) {
    tracing::debug!(conn = ctx.id.0, peer = %ctx.peer, "malformed message: {error}");
}

/// Hands out every complete frame at the front of `buf` (a message parsed here is built in
/// `index`'s memory and gives it back). `Ok(true)` when something was consumed; `Err`
/// closes the connection.
async fn drain<W: AsyncWrite + Unpin>(
    ctx: &StreamCtx,
    buf: &mut BytesMut,
    index: &mut HeaderIndex,
    w: &mut Writer<W>,
    queue: &mut mpsc::Receiver<Bytes>,
) -> Result<bool, &'static str> {
    let limits = &ctx.shared.cfg.limits;
    // Once per read, not per message: an upgrade is two atomic operations.
    let handler = ctx
        .shared
        .stream_handler
        .0
        .get()
        .and_then(std::sync::Weak::upgrade);
    let mut consumed = false;
    loop {
        // `None`: not enough data yet.
        let framed = match &handler {
            // The handler routes on this task: the message is parsed here, once, and lent.
            Some(h) => frame_reusing(buf, limits, ctx.role, index).map(|f| match f {
                Frame::Message(m) => {
                    let len = m.consumed();
                    let wait = h.handle(lend(ctx, &buf[..len], Some(&m)));
                    m.recycle(index);
                    Some(Step::Handled(len, wait))
                }
                Frame::Malformed { len, error } => {
                    log_malformed(ctx, &error);
                    Some(Step::Handled(len, h.handle(lend(ctx, &buf[..len], None))))
                }
                Frame::Ping => Some(Step::Ping),
                Frame::Pong { len } => Some(Step::Skip(len)),
                Frame::Incomplete => None,
            }),
            // By length only: the receiver of the channel parses the message (a full parse
            // here as well was a tenth of the TCP relay's CPU).
            None => frame_extent(buf, limits, ctx.role).map(|x| match x {
                Extent::Message(len) => Some(Step::Send(len)),
                Extent::Malformed { len, error } => {
                    log_malformed(ctx, &error);
                    Some(Step::Send(len))
                }
                Extent::Ping => Some(Step::Ping),
                Extent::Pong(len) => Some(Step::Skip(len)),
                Extent::Incomplete => None,
            }),
        };
        let step = match framed {
            Ok(None) => return Ok(consumed),
            Ok(Some(step)) => step,
            Err(e) => {
                tracing::info!(conn = ctx.id.0, peer = %ctx.peer, "framing error, closing: {e}");
                return Err("framing error");
            }
        };
        consumed = true;
        match step {
            Step::Handled(len, wait) => {
                buf.advance(len);
                if let Some(wait) = wait {
                    wait.await;
                }
            }
            Step::Send(len) => {
                let data = buf.split_to(len).freeze();
                let msg = Received {
                    data,
                    source: ctx.peer,
                    proto: ctx.proto,
                    local: ctx.local.clone(),
                    conn: Some(ctx.id),
                };
                if ctx.shared.tx.send(msg).await.is_err() {
                    return Err("receiver gone");
                }
            }
            Step::Ping => {
                buf.advance(4);
                if w.write_own(b"\r\n", queue).await.is_err() {
                    return Err("write error");
                }
            }
            Step::Skip(len) => buf.advance(len),
        }
    }
}
