//! Routing stream messages on their connection's task (`transport::StreamHandler`).
//!
//! A TCP, TLS or QUIC message used to travel from its connection's task through a channel to
//! the serve loop's task, which routed it and then sent. Here the connection's task routes
//! it and sends at once (`TransportHandle::try_send`), which saves a channel and a task
//! wake-up per message (docs/performance.md, relay lever 12). A send that must wait (a
//! connection to open, a full connection queue, a host name to resolve, QUIC) goes to the
//! serve loop with every output after it, and from then on everything goes there until the
//! loop has caught up: the outputs of stream messages stay in the order they were made, as
//! when the loop did all the routing. (Outputs of datagrams that the loop or a UDP thread
//! routes are not ordered with them, as before.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use core_routing::{Dest, Incoming, Output, Scratch};
use tokio::sync::mpsc;
use transport::{
    HandlerWait, Outgoing, StreamHandler, StreamMessage, TransportHandle, TrySendError,
};

use crate::logging::Logger;
use crate::serve::{current, outgoing, perform_local, to_router_proto, Live, Shared};

/// Outputs that the serve loop performs for [`InlineRoutes`], in order.
pub(crate) struct Deferred {
    /// A send that [`TransportHandle::try_send`] gave back.
    pub(crate) first: Option<Outgoing>,
    /// The outputs after it.
    pub(crate) rest: Vec<Output>,
    /// The routes that made them (their config names log positions).
    pub(crate) live: Arc<Live>,
}

/// How many deferred batches may wait for the serve loop before connections stop reading.
pub(crate) const DEFERRED_QUEUE: usize = 1024;

/// The stream handler: routes on the connection's task.
pub(crate) struct InlineRoutes {
    pub(crate) live: Shared,
    pub(crate) handle: TransportHandle,
    pub(crate) logger: Arc<Logger>,
    pub(crate) deferred: mpsc::Sender<Deferred>,
    /// Batches handed to the serve loop and not yet performed: while there are any, every
    /// output is deferred behind them.
    pub(crate) waiting: Arc<AtomicUsize>,
    /// The router's outputs, reused from message to message.
    pub(crate) out: Mutex<Vec<Output>>,
    /// The editor's buffers, kept from message to message ([`Router::handle_parsed_reusing`];
    /// the sends are queued as `Bytes`, so no output buffer comes back).
    ///
    /// [`Router::handle_parsed_reusing`]: core_routing::Router::handle_parsed_reusing
    pub(crate) scratch: Mutex<Scratch>,
}

impl InlineRoutes {
    /// Hands `first` and `rest` to the serve loop; the connection waits for room there.
    fn defer(&self, first: Option<Outgoing>, rest: Vec<Output>, live: Arc<Live>) -> HandlerWait {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let tx = self.deferred.clone();
        Box::pin(async move {
            // Fails only when the serve loop has ended: the server is stopping.
            let _ = tx.send(Deferred { first, rest, live }).await;
        })
    }
}

impl StreamHandler for InlineRoutes {
    fn handle(&self, msg: StreamMessage<'_, '_>) -> Option<HandlerWait> {
        let live = current(&self.live)?;
        let inc = Incoming {
            data: msg.data,
            source: msg.source,
            proto: to_router_proto(msg.proto),
            local: msg.local.id.0,
            conn: Some(msg.conn.0),
        };
        // Only the runtime's thread routes here: the lock is never contended.
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        match msg.parsed {
            // Parsed once, by the framing.
            Some(m) => live
                .router
                .handle_parsed_reusing(m, &inc, &mut out, &mut scratch),
            // Malformed: the router answers 400 where it can.
            None => live.router.handle_reusing(&inc, &mut out, &mut scratch),
        }
        drop(scratch);
        let mut outputs = out.drain(..);
        while let Some(o) = outputs.next() {
            if self.waiting.load(Ordering::Acquire) > 0 {
                let rest = std::iter::once(o).chain(outputs).collect();
                return Some(self.defer(None, rest, live));
            }
            let Some(s) = perform_local(o, &self.handle, &self.logger, &live.parsed) else {
                continue;
            };
            let Dest::Addr(dest) = s.dest else {
                // A host name: the loop resolves it.
                let rest = std::iter::once(Output::Send(s)).chain(outputs).collect();
                return Some(self.defer(None, rest, live));
            };
            match self.handle.try_send(outgoing(s, dest)) {
                Ok(_) => {}
                Err(TrySendError::Failed(e)) => tracing::warn!("sending to {dest} failed: {e}"),
                Err(TrySendError::WouldWait(m)) => {
                    let rest = outputs.collect();
                    return Some(self.defer(Some(m), rest, live));
                }
            }
        }
        None
    }
}
