//! [`Proto`]: the transport protocols a socket or an advertise clause can name.

use std::fmt;

use cfg_parser::ast;
use serde::Serialize;

/// A transport protocol.
///
/// Sockets only ever carry [`Proto::Udp`], [`Proto::Tcp`], [`Proto::Tls`], [`Proto::Sctp`]
/// (Kamailio has one socket list for each of them, [`Proto::KAMAILIO_LISTS`]) or
/// [`Proto::Quic`] (a siprouter extension with a fifth list, see [`Proto::LISTS`]);
/// [`Proto::Ws`] and [`Proto::Wss`] appear only as advertised protocols and in lookups, where
/// they select the TCP and TLS lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// `udp`
    Udp,
    /// `tcp`
    Tcp,
    /// `tls`
    Tls,
    /// `sctp`
    Sctp,
    /// `ws` (advertise and lookups only)
    Ws,
    /// `wss` (advertise and lookups only)
    Wss,
    /// `quic` (siprouter extension, Kamailio has no QUIC).
    ///
    /// QUIC sockets are explicit only: a protocol-less `listen=` and auto-binding never
    /// create them. Without a port they take the TLS default port (`tls_port_no`, 5061).
    Quic,
}

impl Proto {
    /// All socket lists in iteration order: Kamailio's UDP, TCP, TLS, SCTP, then QUIC.
    pub const LISTS: [Proto; 5] = [Proto::Udp, Proto::Tcp, Proto::Tls, Proto::Sctp, Proto::Quic];

    /// Kamailio's socket lists in its iteration order: UDP, TCP, TLS, SCTP. These are the
    /// lists a protocol-less `listen=` and auto-binding fill (QUIC is explicit only).
    pub const KAMAILIO_LISTS: [Proto; 4] = [Proto::Udp, Proto::Tcp, Proto::Tls, Proto::Sctp];

    /// The lower-case protocol word.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
            Proto::Tls => "tls",
            Proto::Sctp => "sctp",
            Proto::Ws => "ws",
            Proto::Wss => "wss",
            Proto::Quic => "quic",
        }
    }

    /// Parses a protocol word case-insensitively (`udp`, `TCP`, `ws`, …); `None` otherwise.
    pub fn from_word(word: &str) -> Option<Proto> {
        let p = match word.to_ascii_lowercase().as_str() {
            "udp" => Proto::Udp,
            "tcp" => Proto::Tcp,
            "tls" => Proto::Tls,
            "sctp" => Proto::Sctp,
            "ws" => Proto::Ws,
            "wss" => Proto::Wss,
            "quic" => Proto::Quic,
            _ => return None,
        };
        Some(p)
    }

    /// The socket list a lookup for this protocol searches first (WS → TCP, WSS → TLS).
    pub fn list(self) -> Proto {
        match self {
            Proto::Ws => Proto::Tcp,
            Proto::Wss => Proto::Tls,
            p => p,
        }
    }

    /// Converts the parser's protocol word; `*` (any) becomes `None`.
    pub fn from_ast(p: ast::Proto) -> Option<Proto> {
        match p {
            ast::Proto::Udp => Some(Proto::Udp),
            ast::Proto::Tcp => Some(Proto::Tcp),
            ast::Proto::Tls => Some(Proto::Tls),
            ast::Proto::Sctp => Some(Proto::Sctp),
            ast::Proto::Ws => Some(Proto::Ws),
            ast::Proto::Wss => Some(Proto::Wss),
            ast::Proto::Quic => Some(Proto::Quic),
            ast::Proto::Any => None,
        }
    }

    pub(crate) fn list_index(self) -> usize {
        match self.list() {
            Proto::Udp => 0,
            Proto::Tcp => 1,
            Proto::Tls => 2,
            Proto::Quic => 4,
            _ => 3,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
