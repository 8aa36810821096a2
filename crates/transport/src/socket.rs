//! Local sockets: [`Protocol`], [`LocalSocket`], binding with socket options, and the
//! send-socket selection of `listen-and-sockets.md` §6.

use std::fmt;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdp};
use std::sync::Arc;

use socket2::{Domain, Protocol as SockProto, Socket as Sock2, Type};
use socket_info::{Advertise, Flags, Proto, Socket};

use crate::error::{Error, SendError};

/// A transport protocol this crate serves: socket-info's UDP, TCP, TLS and QUIC (QUIC is our
/// extension, not in Kamailio).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// UDP datagrams, one message each.
    Udp,
    /// TCP streams framed by Content-Length.
    Tcp,
    /// TLS over TCP.
    Tls,
    /// QUIC: one bidirectional stream per message exchange, ALPN `sip`.
    Quic,
}

impl Protocol {
    /// The lower-case word (`udp`, `tcp`, `tls`, `quic`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
            Protocol::Tls => "tls",
            Protocol::Quic => "quic",
        }
    }

    /// socket-info's protocol → ours; `None` for SCTP, WS and WSS (not served yet).
    pub fn from_proto(p: Proto) -> Option<Protocol> {
        match p {
            Proto::Udp => Some(Protocol::Udp),
            Proto::Tcp => Some(Protocol::Tcp),
            Proto::Tls => Some(Protocol::Tls),
            Proto::Quic => Some(Protocol::Quic),
            Proto::Sctp | Proto::Ws | Proto::Wss => None,
        }
    }

    /// Connection-oriented (TCP, TLS, QUIC).
    pub fn is_stream(self) -> bool {
        self != Protocol::Udp
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Index of a [`LocalSocket`] in [`crate::TransportHandle::sockets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(pub usize);

/// One bound local socket (all the worker sockets of one record count as one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSocket {
    /// Its index.
    pub id: SocketId,
    /// Its protocol.
    pub proto: Protocol,
    /// The bound address; the port is the OS-assigned one when the record said 0.
    pub addr: SocketAddr,
    /// `name "…"` of the record.
    pub name: Option<String>,
    /// Advertise information (`advertise …`).
    pub advertise: Option<Advertise>,
    /// The number of receive loops serving it.
    pub workers: u32,
    /// The socket-info record it was bound from (`None` for QUIC endpoints given as
    /// [`crate::QuicListen`]; `listen=quic:…` sockets carry their record).
    pub record: Option<Socket>,
}

impl LocalSocket {
    fn flag(&self, f: Flags) -> bool {
        self.record.as_ref().is_some_and(|r| r.has(f))
    }

    /// Loopback or multicast: avoided as default send socket.
    fn is_lo_or_mcast(&self) -> bool {
        self.flag(Flags::LO)
            || self.flag(Flags::MCAST)
            || self.addr.ip().is_loopback()
            || self.addr.ip().is_multicast()
    }

    /// `0.0.0.0` / `::`.
    pub fn is_any(&self) -> bool {
        self.addr.ip().is_unspecified()
    }
}

/// Options applied at bind time.
#[derive(Debug, Clone, Default)]
pub(crate) struct BindOpts {
    pub(crate) reuse_port: bool,
    pub(crate) freebind: bool,
    pub(crate) device: Option<String>,
    /// Ask for SO_RCVBUF of this size when it is smaller (a larger one is left alone).
    pub(crate) rcvbuf: Option<usize>,
    /// Ask for SO_SNDBUF of this size when it is smaller (a larger one is left alone).
    pub(crate) sndbuf: Option<usize>,
}

/// Creates a socket of `ty` bound to `addr` with the options.
pub(crate) fn bind(addr: SocketAddr, ty: Type, opts: &BindOpts) -> std::io::Result<Sock2> {
    let proto = if ty == Type::STREAM {
        SockProto::TCP
    } else {
        SockProto::UDP
    };
    let s = Sock2::new(Domain::for_address(addr), ty, Some(proto))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    if ty == Type::STREAM {
        s.set_reuse_address(true)?;
    }
    #[cfg(unix)]
    if opts.reuse_port {
        s.set_reuse_port(true)?;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        if opts.freebind {
            if addr.is_ipv4() {
                s.set_freebind_v4(true)?;
            } else {
                s.set_freebind_v6(true)?;
            }
        }
        if let Some(dev) = &opts.device {
            s.bind_device(Some(dev.as_bytes()))?;
        }
    }
    // As Kamailio's start-up probe: a buffer grows up to the configured size (the kernel
    // caps the request at its limit), and one already larger stays as it is.
    // The kernel takes an `int` and caps it at `rmem_max`/`wmem_max` (themselves `int`s), so
    // a larger request asks for the limit.
    let request = |n: usize| n.min(i32::MAX as usize);
    if let Some(n) = opts.rcvbuf {
        if s.recv_buffer_size()? < n {
            s.set_recv_buffer_size(request(n))?;
        }
    }
    if let Some(n) = opts.sndbuf {
        if s.send_buffer_size()? < n {
            s.set_send_buffer_size(request(n))?;
        }
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s)
}

/// Binds `n` sockets to the same address (SO_REUSEPORT when `n > 1`); a port 0 is replaced
/// by the one the OS gave the first socket.
pub(crate) fn bind_group(
    proto: Protocol,
    addr: SocketAddr,
    n: u32,
    ty: Type,
    opts: &BindOpts,
) -> Result<(SocketAddr, Vec<Sock2>), Error> {
    let err = |address, source| Error::Bind {
        proto,
        address,
        source,
    };
    let mut o = opts.clone();
    o.reuse_port = opts.reuse_port || n > 1;
    let first = bind(addr, ty, &o).map_err(|e| err(addr, e))?;
    let bound = first
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .unwrap_or(addr);
    let mut v = vec![first];
    for _ in 1..n.max(1) {
        v.push(bind(bound, ty, &o).map_err(|e| err(bound, e))?);
    }
    Ok((bound, v))
}

/// The send-socket rules of `listen-and-sockets.md` §6 over a socket list.
#[derive(Debug, Clone)]
pub(crate) struct Selector {
    pub(crate) sockets: Vec<Arc<LocalSocket>>,
    pub(crate) mhomed: bool,
}

impl Selector {
    /// Default send socket of `proto` for `family_v6`: first socket of the family,
    /// preferring non-loopback, non-multicast ones.
    pub(crate) fn default_socket(&self, proto: Protocol, v6: bool) -> Option<&Arc<LocalSocket>> {
        let mut cands = self
            .sockets
            .iter()
            .filter(|s| s.proto == proto && s.addr.is_ipv6() == v6);
        let first = cands.clone().next();
        cands.find(|s| !s.is_lo_or_mcast()).or(first)
    }

    /// Picks the local socket for `proto` to `dest`: the forced one (or its sibling of the
    /// right protocol on the same address), else with `mhomed` the socket on the address
    /// the kernel routes from, else the default socket.
    pub(crate) fn select(
        &self,
        proto: Protocol,
        dest: SocketAddr,
        forced: Option<SocketId>,
    ) -> Result<&Arc<LocalSocket>, SendError> {
        if let Some(id) = forced {
            let s = self
                .sockets
                .get(id.0)
                .ok_or(SendError::NoSocket { proto, dest })?;
            if s.proto == proto && s.addr.is_ipv6() == dest.is_ipv6() {
                return Ok(s);
            }
            // Kamailio: a forced socket of another protocol stands for the socket of the
            // wanted protocol on the same address (same port first).
            let same_addr =
                |s2: &&Arc<LocalSocket>| s2.proto == proto && s2.addr.ip() == s.addr.ip();
            return self
                .sockets
                .iter()
                .filter(same_addr)
                .find(|s2| s2.addr.port() == s.addr.port())
                .or_else(|| self.sockets.iter().find(same_addr))
                .filter(|s2| s2.addr.is_ipv6() == dest.is_ipv6())
                .ok_or(SendError::ForcedSocket {
                    local: s.addr,
                    proto,
                    dest,
                });
        }
        if self.mhomed {
            if let Some(ip) = route_source(dest) {
                if let Some(s) = self
                    .sockets
                    .iter()
                    .find(|s| s.proto == proto && s.addr.ip() == ip)
                {
                    return Ok(s);
                }
            }
        }
        self.default_socket(proto, dest.is_ipv6())
            .ok_or(SendError::NoSocket { proto, dest })
    }
}

/// The source address the kernel would use towards `dest` (Kamailio's `get_out_socket`:
/// connect a UDP socket, read its name).
pub(crate) fn route_source(dest: SocketAddr) -> Option<IpAddr> {
    let any: SocketAddr = if dest.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let s = StdUdp::bind(any).ok()?;
    s.connect(dest).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_UDP_BUFFER;

    fn udp(size: Option<usize>) -> Sock2 {
        let opts = BindOpts {
            rcvbuf: size,
            sndbuf: size,
            ..BindOpts::default()
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        bind(addr, Type::DGRAM, &opts).expect("bind a UDP socket on loopback")
    }

    fn sizes(s: &Sock2) -> (usize, usize) {
        (
            s.recv_buffer_size().expect("SO_RCVBUF"),
            s.send_buffer_size().expect("SO_SNDBUF"),
        )
    }

    #[test]
    fn udp_buffers_grow_to_the_configured_size_and_a_larger_one_is_left_alone() {
        let system = sizes(&udp(None));
        let grown = sizes(&udp(Some(DEFAULT_UDP_BUFFER)));
        // Linux doubles the size asked for (bookkeeping), capped at the sysctl limit.
        #[cfg(target_os = "linux")]
        for (limit, before, after) in [
            ("rmem_max", system.0, grown.0),
            ("wmem_max", system.1, grown.1),
        ] {
            let max: usize = std::fs::read_to_string(format!("/proc/sys/net/core/{limit}"))
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .expect("net.core limit");
            if before < DEFAULT_UDP_BUFFER {
                assert_eq!(after, 2 * DEFAULT_UDP_BUFFER.min(max), "{limit}");
            } else {
                assert_eq!(after, before, "{limit}");
            }
        }
        // A size below the system's default leaves it as it is.
        assert_eq!(sizes(&udp(Some(4096))), system);
    }
}
