//! Serving: sockets → transport → router → transport.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::inline::{Deferred, InlineRoutes, DEFERRED_QUEUE};
use crate::logging::Logger;
use crate::privileges::{Confine, RunAs};
use cfg_parser::Parsed;
use core_routing::{Dest, Incoming, Output, Router, RouterConfig, Scratch, Transport as RProto};
use transport::{
    ConnId, Outgoing, Protocol, SocketId, Transport, TransportConfig, TransportHandle,
};

/// How to read the config again on SIGHUP.
pub(crate) struct Reload {
    /// The config file (`None`: the default path or the bundled config, as at start-up).
    pub(crate) path: Option<std::path::PathBuf>,
    /// The caller's defines (`-A`), modules (`--loadmodule`), substitution rules
    /// (`--subst`…) and prelude (`--modparam`).
    pub(crate) opts: cfg_lexer::LexOptions,
    /// The level `-d`/`--debug` set: it wins over the config's `debug=`, on reload too.
    pub(crate) debug_override: Option<i64>,
    /// The `-l` sockets, which stand in for the config's `listen=` lines.
    pub(crate) listen_args: Vec<socket_info::ListenArg>,
    /// The options the sockets were built with (`-n`, SCTP support).
    pub(crate) socket_opts: socket_info::Options,
}

/// `-b`, `-B` and `-N`: the UDP buffer sizes and TCP accept loops given on the command
/// line, which win over the config's `maxbuffer`, `maxsndbuffer` (0: keep the system's
/// size) and `tcp_children`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Overrides {
    /// `-b`.
    pub(crate) maxbuffer: Option<usize>,
    /// `-B`.
    pub(crate) maxsndbuffer: Option<usize>,
    /// `-N`.
    pub(crate) tcp_children: Option<u32>,
}

/// Binds the sockets, switches to the configured user and group, runs
/// `event_route[core:worker-one-init]`, and serves until Ctrl-C or SIGTERM; SIGHUP reloads
/// the routing logic.
pub(crate) fn run(
    parsed: Parsed,
    sockets: &socket_info::Sockets,
    reload: Reload,
    (overrides, sched): (Overrides, crate::sched::Sched),
    logger: &Arc<Logger>,
    (confine, run_as): (&Confine, Option<&RunAs>),
) -> ExitCode {
    // Before any thread the server keeps is started: they all inherit the policy.
    match crate::sched::apply(sched) {
        Ok(applied) => tracing::info!("{applied}"),
        Err(e) => tracing::warn!("{e}"),
    }
    // One runtime thread for the streams (TCP, TLS, QUIC) and signals; UDP is received and
    // routed on threads of its own (one per UDP socket worker, blocking receives), as
    // Kamailio's receiver processes do: a datagram costs a receive and a send, not the
    // wake-ups and would-block reads of an async hand-off (docs/performance.md).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            stderr_line!("siprouter: cannot start the runtime: {e}");
            return crate::failure();
        }
    };
    runtime.block_on(serve(
        parsed,
        sockets,
        reload,
        overrides,
        logger,
        (confine, run_as),
    ))
}

pub(crate) fn to_router_proto(p: Protocol) -> RProto {
    match p {
        Protocol::Tcp => RProto::Tcp,
        Protocol::Tls => RProto::Tls,
        _ => RProto::Udp,
    }
}

fn to_transport_proto(p: RProto) -> Protocol {
    match p {
        RProto::Tcp => Protocol::Tcp,
        RProto::Tls => Protocol::Tls,
        _ => Protocol::Udp,
    }
}

/// The log threshold: Kamailio's `debug=` (default 0 = warnings and worse are shown).
pub(crate) fn debug_level(parsed: &Parsed) -> i64 {
    parsed.config.int_param("debug").unwrap_or(0)
}

/// The routes being run and the config they were compiled from (for log positions).
pub(crate) struct Live {
    pub(crate) router: Router,
    pub(crate) parsed: Parsed,
}

/// The live routes, shared by the runtime and the UDP threads; SIGHUP swaps them and bumps
/// the generation, so that a UDP thread takes the lock only when the routes changed (its
/// per-message path is one atomic load).
pub(crate) struct LiveRoutes {
    routes: RwLock<Arc<Live>>,
    generation: AtomicU64,
}

pub(crate) type Shared = Arc<LiveRoutes>;

impl LiveRoutes {
    fn new(live: Live) -> Shared {
        Arc::new(LiveRoutes {
            routes: RwLock::new(Arc::new(live)),
            generation: AtomicU64::new(0),
        })
    }

    fn swap(&self, live: Live) {
        if let Ok(mut l) = self.routes.write() {
            *l = Arc::new(live);
            self.generation.fetch_add(1, Ordering::Release);
        }
    }
}

/// The routes now (for the runtime's messages and a thread's refresh); `None` only when a
/// thread panicked while swapping them.
pub(crate) fn current(live: &LiveRoutes) -> Option<Arc<Live>> {
    live.routes.read().ok().map(|l| l.clone())
}

/// A thread's copy of the live routes, refreshed when the generation moves.
struct Cached {
    generation: u64,
    live: Option<Arc<Live>>,
}

impl Cached {
    fn get(&mut self, shared: &LiveRoutes) -> Option<&Arc<Live>> {
        let g = shared.generation.load(Ordering::Acquire);
        if self.live.is_none() || g != self.generation {
            self.live = current(shared);
            self.generation = g;
        }
        self.live.as_ref()
    }
}

async fn serve(
    parsed: Parsed,
    sockets: &socket_info::Sockets,
    reload: Reload,
    overrides: Overrides,
    logger: &Arc<Logger>,
    (confine, run_as): (&Confine, Option<&RunAs>),
) -> ExitCode {
    let base = reload
        .path
        .as_deref()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    let tconf = match TransportConfig::from_items(&parsed.config.items, base) {
        Ok(c) => {
            let size = |cli: Option<usize>, cfg| cli.map_or(cfg, transport::udp_buffer_size);
            TransportConfig {
                udp_threads: true,
                maxbuffer: size(overrides.maxbuffer, c.maxbuffer),
                maxsndbuffer: size(overrides.maxsndbuffer, c.maxsndbuffer),
                tcp_children: overrides.tcp_children.or(c.tcp_children),
                ..c
            }
        }
        Err(e) => {
            stderr_line!("siprouter: {e}");
            return crate::failure();
        }
    };
    // How long the serve loop waits for one send: a connection to open (and its TLS
    // handshake), then room in its queue. A peer that reads nothing must not stall the loop
    // (and with it every send deferred to it) for good.
    let bound = Bound(tconf.tcp_connect_timeout * 2 + tconf.tcp_send_timeout);
    let (handle, mut rx) = match Transport::start(sockets, tconf) {
        Ok(t) => t,
        Err(e) => {
            match bind_origin(&e, sockets, &parsed) {
                Some(origin) => stderr_line!("{origin}: error: {e}"),
                None => stderr_line!("siprouter: cannot bind the sockets: {e}"),
            }
            return crate::failure();
        }
    };
    // Held until serving ends: the pid files are removed when these drop.
    let _pid_files = match confine.apply() {
        Ok(files) => files,
        Err(e) => {
            stderr_line!("siprouter: {e}");
            handle.shutdown();
            return crate::failure();
        }
    };
    if let Some(r) = run_as {
        if let Err(e) = r.apply() {
            stderr_line!("siprouter: {e}");
            handle.shutdown();
            return crate::failure();
        }
        tracing::info!("running as {}", r.describe());
    }
    // The router numbers sockets as the transport does.
    let rc = crate::router_config(sockets, Some(handle.sockets()), &reload.opts.modules);
    let router = match Router::with_sources(&parsed.config, rc.clone(), Some(parsed.sources())) {
        Ok((r, _)) => r,
        Err(e) => {
            stderr_line!(
                "{}: error: {}",
                parsed.sources().location(e.span),
                e.message
            );
            return crate::failure();
        }
    };
    let live: Shared = LiveRoutes::new(Live { router, parsed });
    // Stream messages are routed on their connection's task; what must wait comes back here.
    let (deferred_tx, mut deferred_rx) = tokio::sync::mpsc::channel(DEFERRED_QUEUE);
    let waiting = Arc::new(AtomicUsize::new(0));
    // Kept until `run` returns: the transport holds its stream handler weakly.
    let inline: Arc<dyn transport::StreamHandler> = Arc::new(InlineRoutes {
        live: live.clone(),
        handle: handle.clone(),
        logger: logger.clone(),
        deferred: deferred_tx,
        waiting: waiting.clone(),
        out: Mutex::new(Vec::new()),
        scratch: Mutex::new(Scratch::default()),
    });
    handle.handle_streams(&inline);
    let mut out = Vec::new();
    if let Some(l) = current(&live) {
        l.router.worker_init(&mut out);
        dispatch(&handle, &mut out, logger, &l.parsed, bound).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    for (local, sock) in handle.udp_receivers() {
        let worker = UdpWorker {
            local: local.id.0,
            sock,
            live: live.clone(),
            handle: handle.clone(),
            runtime: tokio::runtime::Handle::current(),
            logger: logger.clone(),
            stop: stop.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name(format!("udp-{}", local.addr))
            .spawn(move || worker.run());
        if let Err(e) = spawned {
            stderr_line!("siprouter: cannot start a UDP thread: {e}");
            stop.store(true, Ordering::Relaxed);
            handle.shutdown();
            return crate::failure();
        }
    }
    // Both signals are listened for from here on, not only while `select!` waits.
    let mut hangup = Hangup::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    tracing::info!("serving on {} socket(s)", handle.sockets().len());
    loop {
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { break };
                let inc = Incoming {
                    data: &msg.data,
                    source: msg.source,
                    proto: to_router_proto(msg.proto),
                    local: msg.local.id.0,
                    conn: msg.conn.map(|c| c.0),
                };
                let Some(l) = current(&live) else { break };
                l.router.handle(&inc, &mut out);
                dispatch(&handle, &mut out, logger, &l.parsed, bound).await;
            }
            Some(d) = deferred_rx.recv() => {
                perform_deferred(d, &handle, logger, bound).await;
                waiting.fetch_sub(1, Ordering::AcqRel);
            }
            _ = hangup.recv() => {
                if let Some(new) = reload_routes(&reload, &rc, sockets) {
                    logger.set_level(
                        reload
                            .debug_override
                            .unwrap_or_else(|| debug_level(&new.parsed)),
                    );
                    live.swap(new);
                    tracing::info!("SIGHUP: routing logic reloaded");
                }
            }
            _ = &mut shutdown => break,
        }
    }
    tracing::info!("shutting down");
    stop.store(true, Ordering::Relaxed);
    handle.shutdown();
    ExitCode::SUCCESS
}

/// Where the socket that failed to bind was asked for: its `listen=` line, its `-l` option,
/// or auto-binding.
fn bind_origin(
    e: &transport::Error,
    sockets: &socket_info::Sockets,
    parsed: &Parsed,
) -> Option<String> {
    let transport::Error::Bind { proto, address, .. } = e else {
        return None;
    };
    let socket = sockets.sockets.iter().find(|s| {
        s.proto.as_str() == proto.as_str() && s.address == address.ip() && s.port == address.port()
    })?;
    Some(match socket.origin {
        socket_info::Origin::Config(span) => parsed.sources().location(span).to_string(),
        socket_info::Origin::CommandLine(n) => format!("siprouter: -l option {}", n + 1),
        socket_info::Origin::AutoBind => "siprouter: auto-bound socket".into(),
    })
}

/// Reads, checks and compiles the config again. `None` (after logging every diagnostic)
/// when it is not clean: the old routes keep running.
fn reload_routes(reload: &Reload, rc: &RouterConfig, old: &socket_info::Sockets) -> Option<Live> {
    // Standard input (`-f -`), or a pipe, FIFO, terminal or socket (`-f /dev/stdin`),
    // cannot be read again, and a read from one would stop this loop until its writer
    // closes it. (A file that is gone is reported by the reload itself.)
    if let Some(path) = &reload.path {
        use std::os::unix::fs::FileTypeExt;
        let stream = path.to_str() == Some(crate::STDIN_PATH)
            || std::fs::metadata(path).is_ok_and(|m| {
                let t = m.file_type();
                t.is_fifo() || t.is_char_device() || t.is_socket()
            });
        if stream {
            tracing::error!(
                "SIGHUP: the configuration was read from standard input or another stream and cannot be read again; the old routing logic stays"
            );
            return None;
        }
    }
    let (parsed, name) = crate::load_for_reload(reload.path.as_deref(), &reload.opts);
    for d in &parsed.diagnostics {
        if d.is_error() {
            tracing::error!("{}", d.render(parsed.sources()));
        } else {
            tracing::warn!("{}", d.render(parsed.sources()));
        }
    }
    if parsed.has_errors() {
        tracing::error!("SIGHUP: {name} has errors; the old routing logic stays");
        return None;
    }
    if let Ok(new) = socket_info::build(
        &parsed.config.items,
        &reload.listen_args,
        &reload.socket_opts,
        &socket_info::SystemNetwork,
    ) {
        if socket_info::listing(&new) != socket_info::listing(old) {
            tracing::warn!(
                "SIGHUP: the listen configuration changed; restart siprouter to apply it"
            );
        }
    }
    match Router::with_sources(&parsed.config, rc.clone(), Some(parsed.sources())) {
        Ok((router, _)) => Some(Live { router, parsed }),
        Err(e) => {
            tracing::error!(
                "{}: error: {}",
                parsed.sources().location(e.span),
                e.message
            );
            tracing::error!(
                "SIGHUP: the route script does not compile; the old routing logic stays"
            );
            None
        }
    }
}

/// The longest the serve loop waits for one send.
#[derive(Debug, Clone, Copy)]
struct Bound(std::time::Duration);

/// Sends `msg`, waiting at most `bound`; a failure or a timeout is logged (the message is
/// dropped, as Kamailio drops one whose connection cannot take it).
async fn send_bounded(handle: &TransportHandle, msg: Outgoing, bound: Bound) {
    let dest = msg.dest;
    match tokio::time::timeout(bound.0, handle.send(msg)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!("sending to {dest} failed: {e}"),
        Err(_) => tracing::warn!("sending to {dest} timed out after {:?}", bound.0),
    }
}

/// Performs what the inline router deferred, in order.
async fn perform_deferred(d: Deferred, handle: &TransportHandle, logger: &Logger, bound: Bound) {
    if let Some(m) = d.first {
        send_bounded(handle, m, bound).await;
    }
    let mut rest = d.rest;
    dispatch(handle, &mut rest, logger, &d.live.parsed, bound).await;
}

/// Performs the router's outputs: sends (resolving host names) and log lines.
async fn dispatch(
    handle: &transport::TransportHandle,
    out: &mut Vec<Output>,
    logger: &Logger,
    parsed: &Parsed,
    bound: Bound,
) {
    for o in out.drain(..) {
        let Some(s) = perform_local(o, handle, logger, parsed) else {
            continue;
        };
        let dest = match &s.dest {
            Dest::Addr(a) => *a,
            Dest::Host { host, port } => match resolve(host, *port).await {
                Some(a) => a,
                None => {
                    tracing::warn!("cannot resolve {host}");
                    continue;
                }
            },
        };
        send_bounded(handle, outgoing(s, dest), bound).await;
    }
}

/// Logs a line or registers a TCP alias; a send is given back to the caller.
pub(crate) fn perform_local(
    o: Output,
    handle: &TransportHandle,
    logger: &Logger,
    parsed: &Parsed,
) -> Option<core_routing::SendMsg> {
    match o {
        Output::Log {
            level,
            message,
            span,
        } => {
            logger.script(level, &message, || {
                span.map(|s| parsed.sources().location(s).to_string())
            });
            None
        }
        Output::TcpAlias { conn, alias } => {
            if !handle.add_alias(ConnId(conn), alias) {
                tracing::debug!("force_tcp_alias: connection {conn} is gone");
            }
            None
        }
        Output::Send(s) => Some(s),
    }
}

/// The transport's message for a send the router asked for, to `dest`.
pub(crate) fn outgoing(s: core_routing::SendMsg, dest: SocketAddr) -> Outgoing {
    let mut msg = Outgoing::new(s.data, dest, to_transport_proto(s.proto));
    if let Some(l) = s.local {
        msg = msg.via_socket(SocketId(l));
    }
    if let Some(c) = s.conn {
        msg = msg.over(ConnId(c));
    }
    msg
}

/// A UDP receive thread: blocking receive, route, send, on the thread that received.
struct UdpWorker {
    local: usize,
    sock: Arc<std::net::UdpSocket>,
    live: Shared,
    handle: TransportHandle,
    runtime: tokio::runtime::Handle,
    logger: Arc<Logger>,
    stop: Arc<AtomicBool>,
}

impl UdpWorker {
    fn run(self) {
        let mut buf = vec![0u8; 65_536];
        let mut out = Vec::new();
        // The header index, the edits and the sent messages' buffers, kept between
        // datagrams: a relayed message allocates nothing once they are large enough.
        let mut scratch = Scratch::default();
        let mut cached = Cached {
            generation: 0,
            live: None,
        };
        while !self.stop.load(Ordering::Relaxed) {
            let Some((n, source)) = transport::recv_datagram(&self.sock, &mut buf) else {
                continue; // shut down (look at the stop flag), an error, a keep-alive
            };
            let data = &buf[..n];
            let Some(live) = cached.get(&self.live) else {
                return;
            };
            let inc = Incoming {
                data,
                source,
                proto: RProto::Udp,
                local: self.local,
                conn: None,
            };
            live.router.handle_reusing(&inc, &mut out, &mut scratch);
            self.dispatch(&mut out, &live.parsed, &mut scratch);
        }
    }

    /// The router's outputs from this thread: UDP sends go out directly, the rest through
    /// the runtime; host names are resolved here (blocking, as Kamailio's workers do).
    /// A UDP message sent from here gives its buffer back to `scratch`.
    fn dispatch(&self, out: &mut Vec<Output>, parsed: &Parsed, scratch: &mut Scratch) {
        for o in out.drain(..) {
            let Some(s) = perform_local(o, &self.handle, &self.logger, parsed) else {
                continue;
            };
            let dest = match &s.dest {
                Dest::Addr(a) => *a,
                Dest::Host { host, port } => {
                    use std::net::ToSocketAddrs;
                    let found = (host.as_str(), *port).to_socket_addrs().ok();
                    match found.and_then(|mut a| a.next()) {
                        Some(a) => a,
                        None => {
                            tracing::warn!("cannot resolve {host}");
                            continue;
                        }
                    }
                }
            };
            if to_transport_proto(s.proto) == Protocol::Udp && s.conn.is_none() {
                let own = SocketId(self.local);
                let datagram = transport::Datagram {
                    data: &s.data,
                    dest,
                    local: s.local.map(SocketId),
                };
                if let Err(e) = self.handle.send_udp_from(own, &self.sock, datagram) {
                    tracing::warn!("sending to {dest} failed: {e}");
                }
                scratch.recycle(s.data);
            } else {
                let msg = outgoing(s, dest);
                let handle = self.handle.clone();
                self.runtime.spawn(async move {
                    if let Err(e) = handle.send(msg).await {
                        tracing::warn!("sending to {dest} failed: {e}");
                    }
                });
            }
        }
    }
}

async fn resolve(host: &str, port: u16) -> Option<SocketAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, port));
    }
    tokio::net::lookup_host((host, port)).await.ok()?.next()
}

/// The next SIGHUP (never on platforms without it).
/// SIGHUP, registered once for the life of the server: a signal that arrives while a message
/// is being handled waits in the stream instead of being lost between two `select!` rounds.
struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    fn new() -> Self {
        Hangup {
            #[cfg(unix)]
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok(),
        }
    }

    /// The next SIGHUP (never, where it cannot be caught).
    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(s) = self.signal.as_mut() {
            s.recv().await;
            return;
        }
        std::future::pending::<()>().await;
    }
}

/// SIGTERM or Ctrl-C. SIGTERM is registered when this is called, not when first polled.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
