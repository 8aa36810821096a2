//! The `--dump-sockets` view: a serializable, flat description of every resolved socket.

use cfg_parser::ast::Span;
use cfg_parser::lexer::SourceMap;
use serde::Serialize;

use crate::record::{Origin, Socket, Sockets};

/// A config position (`file`, 1-based `line` and `column`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpanView {
    /// File name as shown to the user.
    pub file: String,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1 (bytes).
    pub column: u32,
}

/// The advertise part of a [`SocketView`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdvertiseView {
    /// Advertised protocol.
    pub proto: &'static str,
    /// Advertised name as written.
    pub name: String,
    /// Advertised port (the socket's port when none was written).
    pub port: u16,
    /// The resolved advertised address (no brackets), `null` when it did not resolve.
    pub address: Option<String>,
}

/// One socket as `--dump-sockets` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SocketView {
    /// `udp`, `tcp`, `tls`, `sctp`, `quic`.
    pub proto: &'static str,
    /// The socket's name (after expansion and resolution).
    pub name: String,
    /// The host as written in the directive.
    pub configured_name: String,
    /// IP address text, no brackets.
    pub address: String,
    /// Port.
    pub port: u16,
    /// Lower-case flag names: `ip`, `lo`, `mcast`, `any`, `mhomed`, `virtual`.
    pub flags: Vec<&'static str>,
    /// `name "…"`, or `null`.
    pub socket_name: Option<String>,
    /// Advertise information, or `null`.
    pub advertise: Option<AdvertiseView>,
    /// Dedicated workers; 0 = the global default.
    pub workers: u32,
    /// Extra addresses (SCTP multi-homing), no brackets.
    pub extra_addresses: Vec<String>,
    /// Action group name, or `null`.
    pub agname: Option<String>,
    /// VRF device, or `null`.
    pub vrf: Option<String>,
    /// Multicast interface, or `null`.
    pub mcast: Option<String>,
    /// `config`, `cmdline` or `auto`.
    pub origin: &'static str,
    /// The config position, `null` for `-l` and auto-bound sockets.
    pub span: Option<SpanView>,
}

/// Resolves a span to a position; `None` when the span's file is not in `sources`.
pub fn location(sources: &SourceMap, span: Span) -> Option<SpanView> {
    sources.files().find(|(id, _)| *id == span.file)?;
    let loc = sources.location(span);
    Some(SpanView {
        file: loc.file,
        line: loc.start.line,
        column: loc.start.col,
    })
}

/// The view of one socket.
pub fn socket_view(s: &Socket, sources: &SourceMap) -> SocketView {
    SocketView {
        proto: s.proto.as_str(),
        name: s.name.clone(),
        configured_name: s.configured_name.clone(),
        address: s.address.to_string(),
        port: s.port,
        flags: s.flags.names(),
        socket_name: s.socket_name.clone(),
        advertise: s.advertise.as_ref().map(|a| AdvertiseView {
            proto: a.proto.as_str(),
            name: a.name.clone(),
            port: a.port,
            address: a.address.map(|ip| ip.to_string()),
        }),
        workers: s.workers,
        extra_addresses: s
            .extra_addresses
            .iter()
            .map(|e| e.address.to_string())
            .collect(),
        agname: s.agname.clone(),
        vrf: s.vrf.clone(),
        mcast: s.mcast.clone(),
        origin: match s.origin {
            Origin::Config(_) => "config",
            Origin::CommandLine(_) => "cmdline",
            Origin::AutoBind => "auto",
        },
        span: s.origin.span().and_then(|sp| location(sources, sp)),
    }
}

/// The views of all sockets, in listing order.
pub fn socket_views(s: &Sockets, sources: &SourceMap) -> Vec<SocketView> {
    s.sockets.iter().map(|x| socket_view(x, sources)).collect()
}

/// The `--dump-sockets` output: a pretty-printed JSON array, newline-terminated.
pub fn dump_json(s: &Sockets, sources: &SourceMap) -> String {
    let views = socket_views(s, sources);
    let mut out = serde_json::to_string_pretty(&views).unwrap_or_else(|_| "[]".to_owned());
    out.push('\n');
    out
}
