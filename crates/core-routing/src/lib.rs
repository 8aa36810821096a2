//! # core-routing
//!
//! The last stage of siprouter's pipeline (… transports → **router**), built sans-IO as
//! quinn-proto is to quinn: [`Router::handle`] takes one received message with its receive
//! information and appends what to do to a list of [`Output`]s (send these bytes there, log
//! this). It owns no socket and no clock; the binary wires it to the transport. A receive
//! loop that keeps a [`Scratch`] and calls [`Router::handle_reusing`] relays a message
//! without allocating once warm (it gives each sent buffer back with
//! [`Scratch::recycle`]).
//!
//! The script is compiled once ([`Router::new`]): routes are resolved to indexes, variables to
//! accessors, calls to their implementation with their arguments checked, constant regular
//! expressions compiled and `xlog` formats split. Every problem is a [`CompileError`] with the
//! config span. Running a message does no parsing of the script.
//!
//! [`check`] runs the same compile for `-c` without building a router; [`early`] lets a
//! large config's route bodies be checked piece by piece while it is still being parsed,
//! with exactly the result of [`check`].
//!
//! ## What runs today
//! The full list, with what real configs use and what is left out, is in
//! `docs/routing.md`. In short:
//! - Route blocks: `request_route` (and unnamed `route`), `route[NAME]`, the unnamed
//!   `reply_route`/`onreply_route`, `onsend_route`, `event_route[core:worker-one-init]`.
//!   `failure_route`, `branch_route` and named `onreply_route`s are accepted with a warning
//!   and never run, as in Kamailio without tm (only tm arms them).
//! - Statements: calls, assignments, `if`/`else`, `switch` (fall-through, `break`), `while`
//!   (bounded by `max_while_loops`), `return`/`exit`/`drop`, blocks; Kamailio's return-code
//!   rules (a function returning 0 stops the script, also inside an expression).
//! - Expressions with Kamailio's conversion rules, legacy operands (`method`, `uri`,
//!   `src_ip`, `proto`, `af`, `msg:len`, `snd_ip`, …), `myself`, IP networks, `=~`, selects
//!   (`@via[1].host`, `@cfg_get.group.var`; module [`select`]).
//! - Pseudo-variables and transformations (modules [`pv`] and `trans`); AVPs are stacks.
//! - Core actions (`forward*`, `route`, `log`, flags, `rewrite*`/`set*`, `prefix`, `strip`,
//!   `revert_uri`, `force_rport`, `add_local_rport`, `force_send_socket`,
//!   `set_advertised_*`, `force_tcp_alias`, `udp_mtu_try_proto`, …) and the functions of
//!   sl, maxfwd, rr, textops, siputils, xlog, pv, sanity and kex; `modparam` values are
//!   checked against each module's table and applied (module `modparams`).
//! - Stateless proxying: our Via with a branch that is the same for a retransmission,
//!   `received`/`rport` on the received Via (RFC 3581), Max-Forwards, Record-Route as rr
//!   writes it (`ftag`, double Record-Route with `r2` when the sockets differ), loose and
//!   strict routing; replies are accepted only when the top Via is ours, which is removed
//!   before the reply goes to the next Via.
//!
//! Dependencies: `cfg-parser` (the AST), `sip-message` (parsing and editing), `regex`
//! (`=~`, `case /…:`, textops, subst expressions, modparam module names), `regex-syntax`
//! (the regex crate's parser: [`check`] validates patterns without building matchers), `thiserror`,
//! `memchr` (the header end of a request that does not parse, to answer it 400),
//! `rustc-hash` (the maps keyed by the config's names: routes, flags, modules, `$var`s; its
//! Fx hash is cheaper than SipHash, and no key comes from a peer), `md-5`
//! (the `{s.md5}` transformation; RustCrypto's small implementation rather than our own).

mod clock;
mod compile;
pub mod early;
mod exec;
pub mod fuzzing;
mod modparams;
pub mod pv;
mod reply;
pub mod select;
mod subst;
mod trans;
mod uri_edit;
pub mod value;

use rustc_hash::FxHashMap as HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use cfg_parser::ast;
use sip_message::{HostPort, Message};

pub use compile::CompileError;
use compile::Program;
use exec::{Ctx, Flow};
use value::Value;

/// Transport protocols the router knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP
    Udp,
    /// TCP
    Tcp,
    /// TLS over TCP
    Tls,
    /// SCTP
    Sctp,
}

impl Transport {
    /// Lower-case name (`udp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Sctp => "sctp",
        }
    }

    /// A protocol by its name (`udp`, `TCP`, ...; any case), as the config, a Via's
    /// transport and a URI's `transport` parameter write it.
    pub fn from_name(name: &str) -> Option<Transport> {
        [
            Transport::Udp,
            Transport::Tcp,
            Transport::Tls,
            Transport::Sctp,
        ]
        .into_iter()
        .find(|t| name.eq_ignore_ascii_case(t.as_str()))
    }

    /// Upper-case name, as a Via's transport token (`UDP`).
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Sctp => "SCTP",
        }
    }
}

/// A local socket the router may receive on and send from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSocket {
    /// Its protocol.
    pub proto: Transport,
    /// Its bound address.
    pub address: IpAddr,
    /// Its port.
    pub port: u16,
    /// The advertised host and port, if configured.
    pub advertise: Option<(String, u16)>,
}

impl LocalSocket {
    /// How this socket names itself in Via and Record-Route (advertised name first).
    pub fn host_port(&self) -> HostPort<'static> {
        match &self.advertise {
            Some((host, port)) => HostPort::parse(host)
                .map(|h| HostPort::new(h.host.into_owned(), Some(*port)))
                .unwrap_or_else(|_| HostPort::domain(host.clone(), Some(*port))),
            None => {
                let host = match self.address {
                    IpAddr::V4(a) => sip_message::Host::V4(a),
                    IpAddr::V6(a) => sip_message::Host::V6(a),
                };
                HostPort::new(host, Some(self.port))
            }
        }
    }
}

/// What the router is told about the server it runs in.
#[derive(Debug, Clone, Default)]
pub struct RouterConfig {
    /// The local sockets, in the order the transport numbers them.
    pub sockets: Vec<LocalSocket>,
    /// Names that count as "myself" (`alias=`), with an optional port.
    pub aliases: Vec<(String, Option<u16>)>,
    /// Modules loaded before the config, as Kamailio's `--loadmodule` loads them: by name
    /// (`sl`), once each. Their functions and `modparam`s work as if the config loaded them
    /// first; a `loadmodule` of one of them in the config is an error, as in Kamailio. The
    /// caller checks each with [`module_available`] (an unknown name only lacks functions).
    pub modules: Vec<String>,
}

/// Whether siprouter has the module `name` (`sl`, not `sl.so`): a module with script
/// functions, the TLS transport, or a management module accepted with a warning.
pub fn module_available(name: &str) -> bool {
    compile::module_available(name)
}

/// Whether `name` is a management module (RPC, MI): accepted, but what it offers siprouter
/// does not have (`kex`'s script functions excepted).
pub fn management_module(name: &str) -> bool {
    compile::MANAGEMENT_MODULES.contains(&name)
}

/// Checks the route script as [`Router::with_sources`] compiles it, with the same errors
/// and warnings, without building a router: for `-c`. Regular expressions are parsed with
/// the regex crate's own parser but their matchers are not built, which is most of the
/// compile time of a large script; the one error that only building finds (a pattern whose
/// compiled program exceeds the regex crate's size limit) is reported when the router is
/// built at start-up.
pub fn check(
    config: &ast::Config,
    rc: &RouterConfig,
    sources: Option<&cfg_parser::lexer::SourceMap>,
) -> Result<Vec<CompileError>, CompileError> {
    compile::compile(config, rc, sources, compile::Mode::Check).map(|(_, w)| w)
}

/// One received message.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// The bytes of one SIP message.
    pub data: &'a [u8],
    /// Who sent it.
    pub source: SocketAddr,
    /// The protocol it came over.
    pub proto: Transport,
    /// The index of the local socket it arrived on (in [`RouterConfig::sockets`]).
    pub local: usize,
    /// The connection it came on, for connection-oriented transports.
    pub conn: Option<u64>,
}

/// Where to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// An address.
    Addr(SocketAddr),
    /// A host name the caller resolves (A/AAAA), with a port.
    Host {
        /// The name.
        host: String,
        /// The port.
        port: u16,
    },
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMsg {
    /// The bytes.
    pub data: Vec<u8>,
    /// The destination.
    pub dest: Dest,
    /// The protocol.
    pub proto: Transport,
    /// The local socket to send from (index into [`RouterConfig::sockets`]).
    pub local: Option<usize>,
    /// The connection to reuse, if any.
    pub conn: Option<u64>,
}

/// What the router asks the caller to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send a message.
    Send(SendMsg),
    /// Log a line at a Kamailio level (-5 alert … 3 debug; `log()` uses 4).
    Log {
        /// The level.
        level: i64,
        /// The text (with `log_prefix` in front, when the script sets one).
        message: String,
        /// Where in the config the line comes from (`xlog`, `log`); `None` for the core's own.
        span: Option<cfg_parser::lexer::Span>,
    },
    /// `force_tcp_alias`: later sends to `alias` reuse connection `conn`.
    TcpAlias {
        /// The connection the request came on.
        conn: u64,
        /// The peer address that is to reach it.
        alias: SocketAddr,
    },
}

/// A compiled script with the server's sockets: the sans-IO routing engine.
#[derive(Debug)]
pub struct Router {
    program: Program,
    config: RouterConfig,
    shv: Mutex<HashMap<String, Value>>,
}

/// Memory a receive loop keeps between messages, so that routing one allocates as little as
/// possible: the header index of the message, the editor's buffers, and the buffers of sent
/// messages that the loop gives back with [`Scratch::recycle`], which the next forwarded
/// message is written into. Empty (no memory) by default; used by
/// [`Router::handle_reusing`].
#[derive(Debug, Default)]
pub struct Scratch {
    headers: sip_message::HeaderIndex,
    edit: sip_message::EditBuffers,
    spare: Vec<Vec<u8>>,
}

impl Scratch {
    /// Buffers kept for outputs: a forwarded request or reply needs one.
    const SPARE_OUTPUTS: usize = 2;
    /// A larger buffer (a large TCP message's) is freed rather than kept.
    const SPARE_CAPACITY: usize = 65_536;

    /// Takes back the buffer of a message that has been sent, for the next output.
    pub fn recycle(&mut self, data: Vec<u8>) {
        if self.spare.len() < Self::SPARE_OUTPUTS && data.capacity() <= Self::SPARE_CAPACITY {
            self.spare.push(data);
        }
    }

    /// A kept buffer for an output (empty when none is kept: it then grows as written).
    pub(crate) fn spare_output(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_default()
    }
}

impl Router {
    /// Compiles the config's route blocks. Returns the router and the warnings (modules that
    /// are accepted without their management features, blocks not run yet).
    pub fn new(
        config: &ast::Config,
        rc: RouterConfig,
    ) -> Result<(Router, Vec<CompileError>), CompileError> {
        Router::with_sources(config, rc, None)
    }

    /// As [`Router::new`], with the config's sources so that `$cfg(line)` and
    /// `$cfg(file)` name the place they are used (without them: line 0, no file).
    pub fn with_sources(
        config: &ast::Config,
        rc: RouterConfig,
        sources: Option<&cfg_parser::lexer::SourceMap>,
    ) -> Result<(Router, Vec<CompileError>), CompileError> {
        let (program, warnings) = compile::compile(config, &rc, sources, compile::Mode::Build)?;
        let shv = program.settings.shv.iter().cloned().collect();
        Ok((
            Router {
                program,
                config: rc,
                shv: Mutex::new(shv),
            },
            warnings,
        ))
    }

    /// Handles one received message; what to do is appended to `out`.
    pub fn handle(&self, inc: &Incoming<'_>, out: &mut Vec<Output>) {
        self.handle_reusing(inc, out, &mut Scratch::default());
    }

    /// [`Router::handle`] in memory kept from the messages before (see [`Scratch`]): a
    /// receive loop that keeps one `Scratch` and gives each sent message's buffer back to
    /// it relays a message without allocating once the buffers are large enough.
    pub fn handle_reusing(&self, inc: &Incoming<'_>, out: &mut Vec<Output>, scratch: &mut Scratch) {
        // The message is read where the parse left it (a `Message` is a few hundred
        // octets: not moved out of the `Result`).
        let parsed = Message::parse_reusing(inc.data, &mut scratch.headers);
        let msg = match &parsed {
            Ok(m) => m,
            Err(e) => {
                // A request that can still be answered gets a 400 (RFC 4475 §3.1.2), sent
                // back where it came from, over its connection for a stream.
                let why = e.to_string();
                let reply = reply::salvage_bad_request(inc.data, &why);
                out.push(Output::Log {
                    level: 0,
                    message: format!(
                        "{} an unparsable message from {}: {why}",
                        if reply.is_some() {
                            "answering 400 to"
                        } else {
                            "dropping"
                        },
                        inc.source
                    ),
                    span: None,
                });
                if let Some(data) = reply {
                    out.push(Output::Send(SendMsg {
                        data,
                        dest: Dest::Addr(inc.source),
                        proto: inc.proto,
                        local: Some(inc.local),
                        conn: inc.conn,
                    }));
                }
                return;
            }
        };
        self.handle_parsed_reusing(msg, inc, out, scratch);
        if let Ok(m) = parsed {
            m.recycle(&mut scratch.headers);
        }
    }

    /// [`Router::handle`] for a message the caller has parsed already (`msg` is
    /// `inc.data` parsed, e.g. by a stream's framing): runs the request route or the reply
    /// path on it.
    pub fn handle_parsed(&self, msg: &Message<'_>, inc: &Incoming<'_>, out: &mut Vec<Output>) {
        self.handle_parsed_reusing(msg, inc, out, &mut Scratch::default());
    }

    /// [`Router::handle_parsed`] in memory kept from the messages before (the editor's
    /// buffers and given-back outputs of `scratch`; the header index is the caller's, whose
    /// parse made `msg`).
    pub fn handle_parsed_reusing(
        &self,
        msg: &Message<'_>,
        inc: &Incoming<'_>,
        out: &mut Vec<Output>,
        scratch: &mut Scratch,
    ) {
        if msg.is_request() {
            if let Some(idx) = self.program.request {
                let _ = self.run_lent(idx, msg, inc, out, scratch);
            }
        } else {
            self.handle_reply(msg, inc, out, scratch);
        }
    }

    /// Runs route `idx` on `msg` with `scratch`'s memory lent to it for the edits.
    fn run_lent(
        &self,
        idx: usize,
        msg: &Message<'_>,
        inc: &Incoming<'_>,
        out: &mut Vec<Output>,
        scratch: &mut Scratch,
    ) -> Flow {
        let mut ctx = Ctx::new(self, msg, inc, out);
        ctx.scratch = std::mem::take(scratch);
        let flow = ctx.run_route(idx);
        *scratch = std::mem::take(&mut ctx.scratch);
        flow
    }

    /// Runs `event_route[core:worker-one-init]`, if the script has one.
    pub fn worker_init(&self, out: &mut Vec<Output>) {
        let Some(idx) = self.program.worker_init else {
            return;
        };
        let dummy = b"OPTIONS sip:worker-init@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKinit\r\nFrom: <sip:init@127.0.0.1>;tag=1\r\nTo: <sip:init@127.0.0.1>\r\nCall-ID: init\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        let Ok(msg) = Message::parse(dummy) else {
            return;
        };
        let inc = Incoming {
            data: dummy,
            source: SocketAddr::new(IpAddr::from([127, 0, 0, 1]), 0),
            proto: Transport::Udp,
            local: 0,
            conn: None,
        };
        let mut ctx = Ctx::new(self, &msg, &inc, out);
        let _ = ctx.run_route(idx);
    }

    fn handle_reply(
        &self,
        msg: &Message<'_>,
        inc: &Incoming<'_>,
        out: &mut Vec<Output>,
        scratch: &mut Scratch,
    ) {
        if let Some(idx) = self.program.reply {
            if matches!(self.run_lent(idx, msg, inc, out, scratch), Flow::Drop) {
                return;
            }
        }
        let mut vias = msg.vias();
        let ours = match vias.next() {
            Some(Ok(v)) => self.is_my_host(&v.sent_by.host, v.sent_by.port),
            _ => false,
        };
        if !ours {
            out.push(Output::Log {
                level: 1,
                message: format!(
                    "dropping a reply from {} whose top Via is not ours",
                    inc.source
                ),
                span: None,
            });
            return;
        }
        let Some(Ok(next)) = vias.next() else {
            out.push(Output::Log {
                level: 1,
                message: "dropping a reply with no Via after ours".into(),
                span: None,
            });
            return;
        };
        let host = next.received.as_ref().unwrap_or(&next.sent_by.host);
        let port = match next.rport {
            sip_message::Rport::Value(p) => p,
            _ => next.sent_by.port.unwrap_or(5060),
        };
        let proto = Transport::from_name(next.transport).unwrap_or(Transport::Udp);
        let mut ed = sip_message::Editor::reusing(msg, &mut scratch.edit);
        if ed.remove_top_via().is_err() {
            return;
        }
        let spare = scratch.spare_output();
        let data = ed.finish_reusing(&mut scratch.edit, spare);
        let ip = host.ip();
        out.push(Output::Send(SendMsg {
            data,
            dest: match ip {
                Some(ip) => Dest::Addr(SocketAddr::new(ip, port)),
                None => Dest::Host {
                    host: host.unbracketed().to_string(),
                    port,
                },
            },
            proto,
            local: self.pick_socket(proto, ip),
            conn: None,
        }));
    }

    pub(crate) fn local(&self, idx: usize) -> &LocalSocket {
        static FALLBACK: LocalSocket = LocalSocket {
            proto: Transport::Udp,
            address: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            port: 0,
            advertise: None,
        };
        self.config.sockets.get(idx).unwrap_or(&FALLBACK)
    }

    /// The default send socket: the first of that protocol and address family.
    /// The local sockets, in the transport's order.
    pub(crate) fn sockets(&self) -> &[LocalSocket] {
        &self.config.sockets
    }

    pub(crate) fn pick_socket(&self, proto: Transport, dest: Option<IpAddr>) -> Option<usize> {
        let v6 = dest.is_some_and(|d| d.is_ipv6());
        self.config
            .sockets
            .iter()
            .position(|s| s.proto == proto && s.address.is_ipv6() == v6)
            .or_else(|| self.config.sockets.iter().position(|s| s.proto == proto))
    }

    pub(crate) fn is_my_ip(&self, ip: &str) -> bool {
        let Ok(ip) = ip.trim_matches(['[', ']']).parse::<IpAddr>() else {
            return false;
        };
        self.config.sockets.iter().any(|s| s.address == ip)
    }

    /// [`Router::is_my_host_port`] for a parsed host: an IP address that is a listening
    /// socket's is found without rendering it as text.
    pub(crate) fn is_my_host(&self, host: &sip_message::Host<'_>, port: Option<u16>) -> bool {
        use sip_message::Host;
        if let Some(ip) = host.ip() {
            let port = port.unwrap_or(5060);
            if self
                .config
                .sockets
                .iter()
                .any(|s| s.address == ip && s.port == port)
            {
                return true;
            }
        }
        match host {
            Host::Domain(d) | Host::V6Lenient(d) => self.is_my_host_port(d, port),
            // Without aliases or advertised addresses, an address is ours only as above.
            Host::V4(_) | Host::V6(_)
                if self.config.aliases.is_empty()
                    && self.config.sockets.iter().all(|s| s.advertise.is_none()) =>
            {
                false
            }
            Host::V4(_) | Host::V6(_) => {
                self.is_my_host_port(&host.unbracketed().to_string(), port)
            }
        }
    }

    fn is_my_host_port(&self, host: &str, port: Option<u16>) -> bool {
        let host = host.trim_matches(['[', ']']);
        let ip = host.parse::<IpAddr>().ok();
        let sock = self.config.sockets.iter().any(|s| {
            let port_ok = port.unwrap_or(5060) == s.port
                || s.advertise
                    .as_ref()
                    .is_some_and(|a| port.unwrap_or(5060) == a.1);
            let host_ok = ip == Some(s.address)
                || s.advertise
                    .as_ref()
                    .is_some_and(|a| a.0.trim_matches(['[', ']']).eq_ignore_ascii_case(host));
            port_ok && host_ok
        });
        sock || self.config.aliases.iter().any(|(a, p)| {
            a.eq_ignore_ascii_case(host) && p.is_none_or(|p| Some(p) == port || port.is_none())
        })
    }

    /// Whether a SIP URI names this server (host and port).
    pub(crate) fn is_my_uri(&self, uri: &str) -> bool {
        match sip_message::Uri::parse(uri) {
            Ok(sip_message::Uri::Sip(u)) => self.is_my_host(&u.host_port.host, u.host_port.port),
            _ => false,
        }
    }

    pub(crate) fn shv_get(&self, name: &str) -> Value {
        self.shv
            .lock()
            .map(|m| m.get(name).cloned().unwrap_or(Value::Int(0)))
            .unwrap_or(Value::Null)
    }

    pub(crate) fn shv_set(&self, name: &str, v: Value) {
        if let Ok(mut m) = self.shv.lock() {
            m.insert(name.to_string(), v);
        }
    }

    /// A stateless branch (RFC 3261 §16.11): the same for a retransmission of the request.
    pub(crate) fn branch(&self, msg: &Message<'_>, local: usize) -> Branch {
        let mut h = Fnv::default();
        match msg.top_via() {
            Ok(Some(v)) if v.has_rfc3261_branch() => h.write(v.branch.unwrap_or("").as_bytes()),
            _ => {
                h.write(msg.call_id().ok().flatten().unwrap_or("").as_bytes());
                if let Ok(Some(c)) = msg.cseq() {
                    h.write(&c.seq.to_be_bytes());
                }
                if let Ok(Some(f)) = msg.from() {
                    h.write(f.tag().unwrap_or("").as_bytes());
                }
                h.write(msg.request_uri_str().unwrap_or("").as_bytes());
            }
        }
        // An ACK or CANCEL belongs to the INVITE's branch; other methods get their own.
        let method = msg.method().unwrap_or("");
        if !matches!(method, "ACK" | "CANCEL") {
            h.write(method.as_bytes());
        }
        h.write(&local.to_be_bytes());
        Branch::new(h.0)
    }

    /// The To-tag of our local replies: stable for the same request.
    pub(crate) fn to_tag(&self, msg: &Message<'_>) -> String {
        let mut h = Fnv::default();
        h.write(msg.call_id().ok().flatten().unwrap_or("").as_bytes());
        if let Ok(Some(f)) = msg.from() {
            h.write(f.tag().unwrap_or("").as_bytes());
        }
        format!("{:016x}", h.0)
    }
}

/// A branch parameter of ours: `z9hG4bKsr` and a hash in 16 lower-case hex digits, kept
/// on the stack (one is made for every forwarded request).
pub(crate) struct Branch([u8; 25]);

impl Branch {
    const PREFIX: &'static [u8; 9] = b"z9hG4bKsr";

    fn new(hash: u64) -> Branch {
        let mut b = [0u8; 25];
        b[..9].copy_from_slice(Self::PREFIX);
        for (i, d) in b[9..].iter_mut().enumerate() {
            let nibble = (hash >> (60 - 4 * i)) & 0xf;
            *d = b"0123456789abcdef"[nibble as usize];
        }
        Branch(b)
    }

    /// The branch text.
    pub(crate) fn as_str(&self) -> &str {
        // Always ASCII: the prefix and hex digits.
        std::str::from_utf8(&self.0).unwrap_or("z9hG4bKsr")
    }
}

/// FNV-1a, 64 bits: a stable hash for branches and tags.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The host text of an address argument (`forward(udp:1.2.3.4:5060)`): its first host.
/// `[proto:]address[:port]` as `force_send_socket` and `$fs` write it: the protocol (when
/// the text starts with one), the address (brackets kept off) and the port.
pub(crate) fn parse_socket_text(text: &str) -> Option<(Option<String>, String, Option<u16>)> {
    let text = text.trim();
    let (proto, rest) = match text.split_once(':') {
        Some((p, rest))
            if ["udp", "tcp", "tls", "sctp", "ws", "wss"]
                .contains(&p.to_ascii_lowercase().as_str()) =>
        {
            (Some(p.to_ascii_uppercase()), rest)
        }
        _ => (None, text),
    };
    let hp = HostPort::parse(rest).ok()?;
    let host = hp.host.unbracketed().to_string();
    Some((proto, host, hp.port))
}

/// The index of the socket with that protocol (any when `None`, as written in the config:
/// `UDP`, `Tcp`...), address (its IP or advertised name) and port (any when `None`).
pub(crate) fn find_socket(
    sockets: &[LocalSocket],
    proto: Option<&str>,
    host: &str,
    port: Option<u16>,
) -> Option<usize> {
    let ip = host.trim_matches(['[', ']']).parse::<IpAddr>().ok();
    sockets.iter().position(|s| {
        proto.is_none_or(|p| p.eq_ignore_ascii_case(s.proto.as_str()))
            && (ip == Some(s.address)
                || s.advertise
                    .as_ref()
                    .is_some_and(|a| a.0.eq_ignore_ascii_case(host)))
            && port.is_none_or(|p| p == s.port || s.advertise.as_ref().is_some_and(|a| a.1 == p))
    })
}

pub(crate) fn fmt_listen_host(a: &ast::ListenAddr) -> String {
    match a.hosts.first().map(|h| &h.value) {
        Some(ast::HostSpec::Ip(ip)) => ip.to_string(),
        Some(ast::HostSpec::Name(n)) | Some(ast::HostSpec::Quoted(n)) => n.clone(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::{Branch, Transport};

    #[test]
    fn a_transport_is_named_in_any_case() {
        for t in [
            Transport::Udp,
            Transport::Tcp,
            Transport::Tls,
            Transport::Sctp,
        ] {
            assert_eq!(Transport::from_name(t.as_str()), Some(t));
            assert_eq!(Transport::from_name(t.via_name()), Some(t));
        }
        assert_eq!(Transport::from_name("Tls"), Some(Transport::Tls));
        for other in ["", "ws", "wss", "udp ", "quic"] {
            assert_eq!(Transport::from_name(other), None, "{other}");
        }
    }

    #[test]
    fn branch_is_the_prefix_and_sixteen_hex_digits() {
        for hash in [0, 1, 0xdead_beef, u64::MAX, 0x0123_4567_89ab_cdef] {
            assert_eq!(Branch::new(hash).as_str(), format!("z9hG4bKsr{hash:016x}"));
        }
    }
}
