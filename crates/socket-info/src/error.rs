//! Typed errors (fatal: no socket list) and warnings (the lists are usable), with spans.

use std::net::IpAddr;

use cfg_parser::ast::Span;
use cfg_parser::lexer::SourceMap;

use crate::cmdline::ListenArgError;
use crate::proto::Proto;
use crate::record::Origin;

/// A problem that stops socket resolution (Kamailio exits with `failed to initialize list
/// addresses` or a parse error for these).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A socket name is neither an interface, an IP address nor a resolvable host.
    #[error("could not resolve '{name}' (fix_socket_list {proto} failed)")]
    CouldNotResolve {
        /// The name.
        name: String,
        /// The socket list being fixed.
        proto: Proto,
        /// Where the socket came from.
        origin: Origin,
    },
    /// A `socket = { … }` block without `bind`.
    #[error("no bind address provided")]
    NoBindAddress {
        /// The block.
        span: Span,
    },
    /// `agname` of 62 characters or more.
    #[error("action group too long ({name} / {len})")]
    AgnameTooLong {
        /// The name.
        name: String,
        /// Its length.
        len: usize,
        /// Where it was written.
        span: Span,
    },
    /// `ws`/`wss` (or another protocol without socket list) used as a listen protocol.
    #[error("'{proto}' is not a listen protocol (use tcp/tls sockets for WebSocket)")]
    NotAListenProto {
        /// The protocol.
        proto: Proto,
        /// Where it was written.
        span: Span,
    },
    /// `enable_sctp=1` on a system without SCTP.
    #[error("sctp enabled, but not supported by the OS")]
    SctpNotSupported {
        /// The `enable_sctp` parameter, if it came from the config.
        span: Option<Span>,
    },
    /// `bind_ipv6_link_local` with both bit 1 and bit 2.
    #[error("incompatible modes set for bind_ipv6_link_local ({value})")]
    IncompatibleLinkLocalModes {
        /// The value.
        value: i64,
        /// Where it was written.
        span: Span,
    },
    /// A `-l` value that does not parse or names a disabled protocol.
    #[error("{0}")]
    CommandLine(#[from] ListenArgError),
    /// Nothing configured, no interface address and no host name to fall back to.
    #[error("cannot determine hostname, try -l address")]
    NoHostname,
    /// All socket lists are empty.
    #[error("no listening sockets")]
    NoListeningSockets,
}

impl Error {
    /// The config span the error refers to, if any.
    pub fn span(&self) -> Option<Span> {
        match self {
            Error::CouldNotResolve { origin, .. } => origin.span(),
            Error::NoBindAddress { span }
            | Error::AgnameTooLong { span, .. }
            | Error::NotAListenProto { span, .. }
            | Error::IncompatibleLinkLocalModes { span, .. } => Some(*span),
            Error::SctpNotSupported { span } => *span,
            _ => None,
        }
    }

    /// One line: `file:line:col: error: message` (without location when there is no span).
    pub fn render(&self, sources: &SourceMap) -> String {
        render_line(sources, self.span(), "error", &self.to_string())
    }
}

/// What a [`Warning`] is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WarningKind {
    /// An advertised name does not resolve. The socket is kept (Kamailio keeps it too).
    #[error("unable to resolve advertised name {name}")]
    AdvertiseUnresolved {
        /// The advertised name.
        name: String,
    },
    /// A socket address that is not on any local interface, without `virtual` and without
    /// `ip_free_bind`: binding it will fail (Kamailio's `-c` does not notice).
    #[error(
        "{proto}:{address} is not a local address; binding it will fail \
         (mark the listen `virtual` or set ip_free_bind=1)"
    )]
    NonLocalAddress {
        /// The socket protocol.
        proto: Proto,
        /// The address.
        address: IpAddr,
    },
    /// A socket duplicates an earlier one (same address and port) and was removed; its own
    /// attributes (advertise, name, virtual, workers) are lost, as in Kamailio.
    #[error("{proto} socket '{name}' duplicates '{kept}' ({address}) and is removed; its advertise/name/virtual/workers are ignored")]
    DuplicateRemoved {
        /// The list.
        proto: Proto,
        /// The removed socket's name.
        name: String,
        /// The kept socket's name.
        kept: String,
        /// The shared address.
        address: IpAddr,
    },
    /// Sockets were configured, but only for disabled protocols: nothing will listen.
    #[error("all configured sockets belong to disabled protocols; nothing will listen")]
    OnlyDisabledProtocols,
    /// `agname`/`vrf` in a socket block without protocol reach only the last protocol's
    /// socket (Kamailio behaviour).
    #[error("agname/vrf of a socket block without protocol apply only to its {proto} socket; give bind a protocol")]
    AttributesOnLastProtoOnly {
        /// The protocol whose socket got them.
        proto: Proto,
    },
    /// A multicast address in a TCP/TLS/SCTP list is removed.
    #[error(
        "removing entry {proto}:{name} [{address}]:{port} (multicast on a connection protocol)"
    )]
    MulticastRemoved {
        /// The list.
        proto: Proto,
        /// The name.
        name: String,
        /// The address.
        address: IpAddr,
        /// The port.
        port: u16,
    },
    /// Reverse lookup of a socket address failed (only tried with `auto_aliases`).
    #[error("could not rev. resolve {name}")]
    ReverseUnresolved {
        /// The address text.
        name: String,
    },
    /// Interface enumeration failed during auto-binding; the host name is used instead.
    #[error("interface enumeration failed ({reason}); listening on host name '{hostname}'")]
    AutoBindFallback {
        /// Why enumeration failed.
        reason: String,
        /// The host name used.
        hostname: String,
    },
}

/// A warning with the config span it refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// What.
    pub kind: WarningKind,
    /// Where (config directives only).
    pub span: Option<Span>,
}

impl Warning {
    /// One line: `file:line:col: warning: message`.
    pub fn render(&self, sources: &SourceMap) -> String {
        render_line(sources, self.span, "warning", &self.kind.to_string())
    }
}

fn render_line(sources: &SourceMap, span: Option<Span>, sev: &str, msg: &str) -> String {
    match span.and_then(|s| crate::json::location(sources, s)) {
        Some(loc) => format!("{}:{}:{}: {sev}: {msg}", loc.file, loc.line, loc.column),
        None => format!("{sev}: {msg}"),
    }
}
