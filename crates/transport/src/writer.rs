//! Writing to a connection.
//!
//! A connection's loop owns its writer and writes what its queue brings. A plain TCP
//! connection's socket is shared with the senders as well ([`DirectTcp`]): a sender writes a
//! message straight to the socket when nothing is queued before it, so that the message
//! costs one `send` on the sender's task instead of a hand-off through the queue to the
//! connection's task (a channel operation and a task wake-up per message:
//! docs/performance.md, relay lever 11). When the socket cannot take the whole message, the
//! rest goes through the queue, and so does every later message until the queue is written.
//! TLS and QUIC keep their state in the connection's task: their messages always go through
//! the queue.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

/// A plain TCP connection's sending side, shared by its loop and the senders.
#[derive(Debug)]
pub(crate) struct DirectTcp {
    half: OwnedWriteHalf,
    /// Messages that must be written before a direct write may be: queued for the loop (or
    /// being written by it), and the loop's own keep-alive answer while it is written.
    pending: Mutex<usize>,
    /// Set by a direct write, taken by the loop: the connection is not idle.
    wrote: AtomicBool,
}

impl DirectTcp {
    pub(crate) fn new(half: OwnedWriteHalf) -> Arc<DirectTcp> {
        Arc::new(DirectTcp {
            half,
            pending: Mutex::new(0),
            wrote: AtomicBool::new(false),
        })
    }

    /// Writes `data` now when nothing is pending, else queues it if the queue has room.
    /// Room for the rest of a message the socket takes only in part is reserved before
    /// writing (nothing pending means an empty queue, so there is room). A socket error
    /// queues the message as well: the loop's write then fails and closes the connection,
    /// as it does for a queued message. [`TryQueue::Full`] and [`TryQueue::Closed`] give
    /// the message back untouched: nothing of it was written.
    fn send_or_queue(&self, data: Bytes, tx: &mpsc::Sender<Bytes>) -> Result<(), TryQueue> {
        // The count stays meaningful after a panic elsewhere: a plain number.
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if *pending == 0 {
            let permit = match tx.try_reserve() {
                Ok(p) => p,
                Err(mpsc::error::TrySendError::Full(())) => return Err(TryQueue::Full(data)),
                Err(mpsc::error::TrySendError::Closed(())) => return Err(TryQueue::Closed(data)),
            };
            let rest = match self.half.try_write(&data) {
                Ok(n) if n == data.len() => {
                    self.wrote.store(true, Ordering::Relaxed);
                    return Ok(());
                }
                Ok(n) => {
                    self.wrote.store(true, Ordering::Relaxed);
                    data.slice(n..)
                }
                Err(_) => data,
            };
            permit.send(rest);
            *pending += 1;
            return Ok(());
        }
        match tx.try_send(data) {
            Ok(()) => {
                *pending += 1;
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(data)) => Err(TryQueue::Full(data)),
            Err(mpsc::error::TrySendError::Closed(data)) => Err(TryQueue::Closed(data)),
        }
    }

    /// Counts one more pending write, so that no direct write passes it: a message about
    /// to wait for room in the queue, or the loop's own answer while it is written. The
    /// guard uncounts it when dropped, unless it is kept (the message was queued).
    fn count_pending(&self) -> PendingGuard<'_> {
        *self.pending.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        PendingGuard(self)
    }

    /// Writes all of `data`, waiting for the socket to take it.
    async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            match self.half.try_write(data) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.half.writable().await?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Uncounts one pending write when dropped (also when the write is given up on a timeout).
struct PendingGuard<'a>(&'a DirectTcp);

impl PendingGuard<'_> {
    /// Keeps the count: the message is in the queue, and the loop uncounts it once written.
    fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let mut p = self.0.pending.lock().unwrap_or_else(|e| e.into_inner());
        *p = p.saturating_sub(1);
    }
}

/// Why a message could not be handed to a connection at once.
#[derive(Debug)]
pub(crate) enum TryQueue {
    /// The queue is full: the message (untouched) must wait for room.
    Full(Bytes),
    /// The connection's loop has ended: the message (untouched) is given back.
    Closed(Bytes),
}

/// How a message reaches a connection: its queue, and for plain TCP its socket.
#[derive(Debug, Clone)]
pub(crate) struct ConnSender {
    tx: mpsc::Sender<Bytes>,
    direct: Option<Arc<DirectTcp>>,
}

impl ConnSender {
    pub(crate) fn new(tx: mpsc::Sender<Bytes>, direct: Option<Arc<DirectTcp>>) -> ConnSender {
        ConnSender { tx, direct }
    }

    /// Whether the connection's loop has ended.
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Hands `data` to the connection without waiting: written at once (plain TCP with
    /// nothing pending) or queued.
    pub(crate) fn try_send(&self, data: Bytes) -> Result<(), TryQueue> {
        match &self.direct {
            Some(d) => d.send_or_queue(data, &self.tx),
            None => self.tx.try_send(data).map_err(|e| match e {
                mpsc::error::TrySendError::Full(b) => TryQueue::Full(b),
                mpsc::error::TrySendError::Closed(b) => TryQueue::Closed(b),
            }),
        }
    }

    /// Sends `data` after every message sent to this connection before it, waiting for room
    /// in the queue when it is full. `Err` when the connection's loop has ended.
    ///
    /// Messages keep the order in which their senders reached the connection: a direct write
    /// and the pending count are decided under one lock. Messages that wait for room keep
    /// that order as long as their senders run on one thread (the runtime's).
    pub(crate) async fn send(&self, data: Bytes) -> Result<(), ()> {
        match self.try_send(data) {
            Ok(()) => Ok(()),
            Err(TryQueue::Closed(_)) => Err(()),
            Err(TryQueue::Full(data)) => {
                // Counted while it waits (uncounted again if the wait fails or is dropped).
                let counted = self.direct.as_deref().map(DirectTcp::count_pending);
                let sent = self.tx.send(data).await;
                if let (Ok(()), Some(c)) = (&sent, counted) {
                    c.keep();
                }
                sent.map_err(|_| ())
            }
        }
    }
}

/// A connection loop's writer.
pub(crate) enum Writer<W> {
    /// TLS, a QUIC stream: only the loop writes.
    Stream(W),
    /// Plain TCP: shared with the senders' direct writes.
    Tcp(Arc<DirectTcp>),
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    /// Writes a message that came through the queue (counted as pending when it was
    /// queued), then uncounts it.
    pub(crate) async fn write_queued(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Writer::Stream(w) => w.write_all(data).await,
            Writer::Tcp(d) => {
                let _done = PendingGuard(d);
                d.write_all(data).await
            }
        }
    }

    /// Writes the loop's own message (a keep-alive answer); direct writes wait meanwhile.
    /// Over plain TCP the queue is written first: it may hold the rest of a message that a
    /// sender wrote in part, and the answer must not land inside it.
    pub(crate) async fn write_own(
        &mut self,
        data: &[u8],
        queue: &mut mpsc::Receiver<Bytes>,
    ) -> io::Result<()> {
        match self {
            Writer::Stream(w) => w.write_all(data).await,
            Writer::Tcp(d) => {
                let _held = d.count_pending();
                while let Ok(m) = queue.try_recv() {
                    let _done = PendingGuard(d);
                    d.write_all(&m).await?;
                }
                d.write_all(data).await
            }
        }
    }

    /// Whether senders wrote to the socket directly since the last call: the connection
    /// was not idle.
    pub(crate) fn wrote_directly(&self) -> bool {
        match self {
            Writer::Stream(_) => false,
            Writer::Tcp(d) => d.wrote.swap(false, Ordering::Relaxed),
        }
    }

    /// Ends our side of the stream (TCP FIN, TLS close_notify, QUIC finish).
    pub(crate) async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            Writer::Stream(w) => w.shutdown().await,
            Writer::Tcp(d) => {
                let tcp: &tokio::net::TcpStream = d.half.as_ref();
                socket2::SockRef::from(tcp).shutdown(std::net::Shutdown::Write)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("address");
        let (a, b) = tokio::join!(TcpStream::connect(addr), l.accept());
        (a.expect("connect"), b.expect("accept").0)
    }

    #[tokio::test]
    async fn a_direct_write_waits_behind_pending_messages() {
        let (ours, mut peer) = pair().await;
        let (_r, w) = ours.into_split();
        let d = DirectTcp::new(w);
        let (tx, mut rx) = mpsc::channel(8);
        let s = ConnSender::new(tx, Some(d.clone()));
        // Nothing pending: written at once, nothing queued.
        s.send(Bytes::from_static(b"one ")).await.expect("send");
        assert!(rx.try_recv().is_err());
        // The loop is writing its own answer: the next message is queued behind it.
        let held = d.count_pending();
        s.send(Bytes::from_static(b"two ")).await.expect("send");
        drop(held);
        // Still pending (queued): a third message queues too, keeping the order.
        s.send(Bytes::from_static(b"three")).await.expect("send");
        let mut w: Writer<tokio::io::Sink> = Writer::Tcp(d.clone());
        for _ in 0..2 {
            let m = rx.try_recv().expect("queued");
            w.write_queued(&m).await.expect("write");
        }
        // The queue is written: direct again.
        s.send(Bytes::from_static(b" four")).await.expect("send");
        assert!(rx.try_recv().is_err());
        assert_eq!(*d.pending.lock().expect("lock"), 0);
        w.shutdown().await.expect("shutdown");
        let mut got = String::new();
        peer.read_to_string(&mut got).await.expect("read");
        assert_eq!(got, "one two three four");
    }

    /// The peer's end, our writer, its queue and sender, the message, our read half.
    type Partial = (
        TcpStream,
        Arc<DirectTcp>,
        mpsc::Receiver<Bytes>,
        ConnSender,
        Vec<u8>,
        tokio::net::tcp::OwnedReadHalf,
    );

    /// A connection whose socket holds little while the peer does not read, and a 1 MiB
    /// message sent on it: the socket takes part, the queue the rest.
    async fn partial() -> Partial {
        let (ours, peer) = pair().await;
        socket2::SockRef::from(&ours)
            .set_send_buffer_size(4096)
            .expect("sndbuf");
        let (r, w) = ours.into_split();
        let d = DirectTcp::new(w);
        let (tx, rx) = mpsc::channel(64);
        let s = ConnSender::new(tx, Some(d.clone()));
        let big: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        s.send(Bytes::from(big.clone())).await.expect("send");
        (peer, d, rx, s, big, r)
    }

    #[tokio::test]
    async fn a_message_the_socket_cannot_take_whole_is_finished_through_the_queue() {
        let (mut peer, d, mut rx, s, big, _r) = partial().await;
        s.send(Bytes::from_static(b"after")).await.expect("send");
        assert_eq!(
            rx.len(),
            2,
            "the big message's rest and the next one are queued"
        );
        let writer = tokio::spawn(async move {
            let mut w: Writer<tokio::io::Sink> = Writer::Tcp(d);
            let rest = rx.try_recv().expect("queued");
            let partial = rest.len() < big.len() && big.ends_with(&rest);
            w.write_queued(&rest).await.expect("write");
            let after = rx.try_recv().expect("queued");
            w.write_queued(&after).await.expect("write");
            w.shutdown().await.expect("shutdown");
            (big, partial)
        });
        drop(s); // a failing writer then closes the socket: the read below ends either way
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.expect("read");
        let (big, partial) = writer.await.expect("writer");
        assert!(
            partial,
            "the socket took part of the message, the queue the rest"
        );
        assert_eq!(got.len(), big.len() + 5);
        assert!(
            got[..big.len()] == big[..],
            "the big message arrived intact"
        );
        assert_eq!(&got[big.len()..], b"after");
    }

    #[tokio::test]
    async fn a_keep_alive_answer_goes_after_the_rest_of_a_message_written_in_part() {
        let (mut peer, d, mut rx, s, big, _r) = partial().await;
        assert_eq!(rx.len(), 1, "the rest of the message is queued");
        let writer = tokio::spawn(async move {
            let mut w: Writer<tokio::io::Sink> = Writer::Tcp(d);
            assert!(w.wrote_directly(), "a direct write is activity");
            assert!(!w.wrote_directly(), "taken once");
            w.write_own(b"\r\n", &mut rx).await.expect("answer");
            w.shutdown().await.expect("shutdown");
            big
        });
        drop(s);
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.expect("read");
        let big = writer.await.expect("writer");
        assert_eq!(got.len(), big.len() + 2);
        assert!(got[..big.len()] == big[..], "the message arrived whole");
        assert_eq!(&got[big.len()..], b"\r\n", "the answer after it");
    }
}
