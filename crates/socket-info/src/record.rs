//! The socket record ([`Socket`]) and the result of resolving a configuration ([`Sockets`]).

use std::fmt;
use std::net::IpAddr;

use cfg_parser::ast::Span;
use sip_message::{Host, HostPort};

use crate::alias::Aliases;
use crate::error::Warning;
use crate::proto::Proto;

/// The flag bits of a socket (Kamailio's `enum si_flags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    /// No flag.
    pub const NONE: Flags = Flags(0);
    /// `SI_IS_IP`: the configured name is the address text itself (only with `auto_aliases`).
    pub const IP: Flags = Flags(1);
    /// `SI_IS_LO`: loopback address or loopback interface.
    pub const LO: Flags = Flags(2);
    /// `SI_IS_MCAST`: multicast address.
    pub const MCAST: Flags = Flags(4);
    /// `SI_IS_ANY`: `0.0.0.0` or `::`.
    pub const ANY: Flags = Flags(8);
    /// `SI_IS_MHOMED`: from a parenthesised list (kept only on SCTP sockets).
    pub const MHOMED: Flags = Flags(16);
    /// `SI_IS_VIRTUAL`: counts as local only while its address is on a local interface.
    pub const VIRTUAL: Flags = Flags(32);

    const NAMES: [(Flags, &'static str); 6] = [
        (Flags::IP, "ip"),
        (Flags::LO, "lo"),
        (Flags::MCAST, "mcast"),
        (Flags::ANY, "any"),
        (Flags::MHOMED, "mhomed"),
        (Flags::VIRTUAL, "virtual"),
    ];

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Sets the bits of `other`.
    pub fn insert(&mut self, other: Flags) {
        self.0 |= other.0;
    }

    /// Clears the bits of `other`.
    pub fn remove(&mut self, other: Flags) {
        self.0 &= !other.0;
    }

    /// `self` with the bits of `other` set.
    pub fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// `self` with the bits of `other` cleared.
    pub fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    /// The raw bit value, as Kamailio numbers the flags.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// The lower-case names of the set flags, in bit order (`ip`, `lo`, `mcast`, `any`,
    /// `mhomed`, `virtual`).
    pub fn names(self) -> Vec<&'static str> {
        Flags::NAMES
            .iter()
            .filter(|(f, _)| self.contains(*f))
            .map(|(_, n)| *n)
            .collect()
    }
}

/// Where a socket record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A `listen=` or `socket = { … }` directive.
    Config(Span),
    /// The `n`-th `-l` option (0-based).
    CommandLine(usize),
    /// Auto-binding to every interface address because nothing was configured.
    AutoBind,
}

impl Origin {
    /// The config span, for sockets that came from the config.
    pub fn span(self) -> Option<Span> {
        match self {
            Origin::Config(s) => Some(s),
            _ => None,
        }
    }
}

/// Advertise information of a socket (Kamailio's `useinfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertise {
    /// The advertised protocol: the one written, or the socket's own.
    pub proto: Proto,
    /// The name as written (brackets kept when they were written, e.g. in a quoted string).
    pub name: String,
    /// The advertised address: `name` resolved when the socket was created (`None` when it
    /// did not resolve; that is a warning, the socket is kept).
    pub address: Option<IpAddr>,
    /// The port as written; `None` when not written (or written as 0).
    pub written_port: Option<u16>,
    /// The advertised port: the written one, else the socket's own port.
    pub port: u16,
}

impl Advertise {
    /// The advertised `host:port`, IPv6 bracketed (for Via, Record-Route, Contact).
    pub fn host_port(&self) -> HostPort<'static> {
        HostPort::new(host_of_name(&self.name), Some(self.port))
    }
}

/// Turns a host name as written into a [`Host`]: IP literals (bracketed or not) become
/// addresses, everything else a domain name.
pub(crate) fn host_of_name(name: &str) -> Host<'static> {
    match crate::resolve::literal_ip(name) {
        Some(ip) => Host::from(ip),
        None => Host::Domain(name.to_owned().into()),
    }
}

/// An extra address of a multi-homed (SCTP) socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraAddress {
    /// The name (after resolution: the resolver's official name).
    pub name: String,
    /// The resolved address.
    pub address: IpAddr,
    /// `ip`, `lo`, `mcast`, `any` flags of this address.
    pub flags: Flags,
}

/// One resolved socket, ready to be bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    /// The protocol (one of [`Proto::LISTS`]).
    pub proto: Proto,
    /// The host as written in the directive (`eth0`, `localhost`, `127.0.0.1`).
    pub configured_name: String,
    /// The name after interface expansion (the address text) and resolution (the resolver's
    /// official name).
    pub name: String,
    /// The resolved address.
    pub address: IpAddr,
    /// The port.
    pub port: u16,
    /// Flags.
    pub flags: Flags,
    /// `name "…"` / `name = "…"` / the third `-l` field.
    pub socket_name: Option<String>,
    /// Advertise information.
    pub advertise: Option<Advertise>,
    /// Dedicated workers; 0 means the global default (`children`).
    pub workers: u32,
    /// Extra addresses (SCTP multi-homing).
    pub extra_addresses: Vec<ExtraAddress>,
    /// Action group name (`agname`).
    pub agname: Option<String>,
    /// VRF device (`vrf`).
    pub vrf: Option<String>,
    /// Multicast interface (`mcast=` before the directive).
    pub mcast: Option<String>,
    /// Global index among named sockets (Kamailio's `gindex`).
    pub index: Option<usize>,
    /// Where it came from.
    pub origin: Origin,
}

impl Socket {
    /// The address text without brackets (Kamailio's `address_str`).
    pub fn address_str(&self) -> String {
        self.address.to_string()
    }

    /// The bound `address:port`, IPv6 bracketed.
    pub fn host_port(&self) -> HostPort<'static> {
        HostPort::from(std::net::SocketAddr::new(self.address, self.port))
    }

    /// `proto:address:port` with the IPv6 address bracketed (`udp:[::1]:5060`).
    ///
    /// Kamailio writes the *advertised* protocol here when the socket is advertised; we
    /// always write the socket's own protocol (see the crate docs).
    pub fn sock_str(&self) -> String {
        format!("{}:{}", self.proto, self.host_port())
    }

    /// Whether a flag is set.
    pub fn has(&self, f: Flags) -> bool {
        self.flags.contains(f)
    }
}

/// Which protocols are in use after the enable/disable rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enabled {
    /// TCP (`disable_tcp`).
    pub tcp: bool,
    /// TLS (`enable_tls`; off when TCP is off).
    pub tls: bool,
    /// SCTP (`enable_sctp`, auto = OS support).
    pub sctp: bool,
}

impl Enabled {
    /// Whether the socket list of `p` is in use (WS/WSS follow TCP/TLS).
    pub fn has(&self, p: Proto) -> bool {
        match p.list() {
            Proto::Udp => true,
            Proto::Tcp => self.tcp,
            Proto::Tls => self.tls,
            // QUIC sockets exist only when written explicitly; the list is always in use.
            Proto::Quic => true,
            _ => self.sctp,
        }
    }

    /// The enabled socket lists in order.
    pub fn lists(&self) -> impl Iterator<Item = Proto> + '_ {
        Proto::LISTS.into_iter().filter(|p| self.has(*p))
    }
}

/// The resolved sockets of a configuration plus command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sockets {
    /// All sockets of the enabled protocols, in list order: UDP, TCP, TLS, SCTP, QUIC, each in the
    /// order Kamailio keeps it.
    pub sockets: Vec<Socket>,
    /// Host aliases ("myself" names).
    pub aliases: Aliases,
    /// The enable state of the protocols.
    pub enabled: Enabled,
    /// Global `advertised_address` (default for sockets without their own advertise).
    pub advertised_address: Option<String>,
    /// Global `advertised_port`.
    pub advertised_port: Option<u16>,
    /// Default number of workers per socket (`children`, `-n`).
    pub children: u32,
    /// Warnings found while resolving (never fatal).
    pub warnings: Vec<Warning>,
}

impl Sockets {
    /// The sockets of one protocol list, in order.
    pub fn list(&self, proto: Proto) -> impl Iterator<Item = &Socket> {
        let want = proto.list();
        self.sockets.iter().filter(move |s| s.proto == want)
    }

    /// The socket with this name (`name "…"`), case-insensitively.
    pub fn by_name(&self, name: &str) -> Option<&Socket> {
        self.sockets.iter().find(|s| {
            s.socket_name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }
}

impl fmt::Display for Sockets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::listing::listing(self))
    }
}
