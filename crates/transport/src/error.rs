//! Error types: [`Error`] (starting the transports), [`SendError`] (one send),
//! [`TlsError`] (loading or reloading certificates) and [`ConfigError`] (reading the
//! transport settings from the config).

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::socket::Protocol;

/// Why the transports could not be started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A socket uses a protocol this crate does not serve yet (SCTP, WS, WSS).
    #[error("{proto}:{address} is not supported yet (listen protocol `{proto}`)")]
    NotSupported {
        /// The protocol word.
        proto: &'static str,
        /// The socket's address and port.
        address: SocketAddr,
    },
    /// Binding or configuring a socket failed.
    #[error("cannot bind {proto}:{address}: {source}")]
    Bind {
        /// The protocol.
        proto: Protocol,
        /// The address and port.
        address: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A TLS or QUIC socket is configured but no usable TLS settings are.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A QUIC socket is configured but no usable TLS settings are (QUIC needs the `tls`
    /// module's certificates).
    #[error("QUIC socket {socket} needs TLS certificates (modparam(\"tls\", …)): {source}")]
    QuicWithoutTls {
        /// The socket (`quic:address:port`, with its name if it has one).
        socket: String,
        /// Why the TLS settings are not usable.
        source: TlsError,
    },
    /// A QUIC endpoint could not be created.
    #[error("QUIC endpoint {address}: {reason}")]
    Quic {
        /// The endpoint address.
        address: SocketAddr,
        /// Why.
        reason: String,
    },
    /// No socket at all.
    #[error("no socket to serve")]
    NoSockets,
}

/// Why one message could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No local socket of the protocol and address family exists.
    #[error("no {proto} socket to send to {dest}")]
    NoSocket {
        /// The protocol.
        proto: Protocol,
        /// The destination.
        dest: SocketAddr,
    },
    /// The forced socket cannot send to this destination (other address family and no
    /// socket of the protocol on the same address).
    #[error("socket {local} cannot send {proto} to {dest}")]
    ForcedSocket {
        /// The forced socket's address.
        local: SocketAddr,
        /// The protocol.
        proto: Protocol,
        /// The destination.
        dest: SocketAddr,
    },
    /// The given connection does not exist (closed, timed out, unknown id).
    #[error("connection {0} is closed")]
    ConnectionClosed(u64),
    /// The connection limit of the protocol is reached.
    #[error("{proto} connection limit ({limit}) reached")]
    TooManyConnections {
        /// The protocol.
        proto: Protocol,
        /// The limit.
        limit: usize,
    },
    /// Connecting timed out (`tcp_connect_timeout`).
    #[error("connecting to {0} timed out")]
    ConnectTimeout(SocketAddr),
    /// A UDP datagram larger than 65,507 bytes.
    #[error("datagram of {0} bytes is larger than 65507")]
    TooLarge(usize),
    /// The transports are shut down.
    #[error("the transports are shut down")]
    Shutdown,
    /// The TLS or QUIC handshake failed.
    #[error("handshake with {dest} failed: {reason}")]
    Handshake {
        /// The destination.
        dest: SocketAddr,
        /// Why.
        reason: String,
    },
    /// An OS error.
    #[error("sending to {dest}: {source}")]
    Io {
        /// The destination.
        dest: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The protocol's sockets are not configured (e.g. TLS without settings).
    #[error("{0} is not configured")]
    NotConfigured(Protocol),
}

/// Why TLS settings could not be loaded (at start or on reload).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{what} {path}: {reason}")]
    File {
        /// `certificate`, `private_key` or `ca_list`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A profile names no certificate or no key (a server profile needs both).
    #[error("profile [{profile}]: {reason}")]
    Profile {
        /// The profile name as in `tls.cfg` (`server:default`).
        profile: String,
        /// Why.
        reason: String,
    },
    /// rustls refused the settings.
    #[error("profile [{profile}]: {source}")]
    Rustls {
        /// The profile.
        profile: String,
        /// rustls' error.
        source: rustls::Error,
    },
    /// The profile file does not parse.
    #[error("{path}:{line}: {reason}")]
    ProfileFile {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// Why.
        reason: String,
    },
    /// A `tls_method` we cannot offer (rustls speaks TLS 1.2 and 1.3 only).
    #[error("tls_method `{0}` is not supported (rustls offers TLSv1.2 and TLSv1.3)")]
    Method(String),
    /// TLS or QUIC sockets exist but the `tls` module settings are missing.
    #[error("TLS sockets are configured but no TLS settings are given")]
    Missing,
}

/// A transport setting in the config has a wrong value.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct ConfigError {
    /// The parameter name.
    pub name: String,
    /// Why.
    pub reason: String,
}

/// Why [`crate::TransportHandle::try_send`] did not send a message.
#[derive(Debug, thiserror::Error)]
pub enum TrySendError {
    /// Sending must wait (a connection to open, a full connection queue, a new QUIC
    /// stream, UDP on the runtime's sockets): the message, untouched, for
    /// [`crate::TransportHandle::send`].
    #[error("the send to {} must wait", .0.dest)]
    WouldWait(crate::Outgoing),
    /// Sending failed.
    #[error(transparent)]
    Failed(#[from] SendError),
}
