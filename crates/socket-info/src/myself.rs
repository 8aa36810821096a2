//! "Is this host/port/protocol one of ours?" (Kamailio's `grep_sock_info` and
//! `check_self`), used for `myself`, loose routing and local-URI checks.

use std::net::{IpAddr, Ipv6Addr};

use crate::alias::strip_brackets;
use crate::proto::Proto;
use crate::record::{Flags, Socket, Sockets};
use crate::resolve::Network;

/// Kamailio's `si_hname_cmp`: name (case-insensitive), IPv6 by value, IPv4 by text.
fn hname_matches(
    host: &str,
    name: &str,
    addr_str: &str,
    addr: Option<IpAddr>,
    flags: Flags,
) -> bool {
    if host.eq_ignore_ascii_case(name) {
        return true;
    }
    if let Some(ip6) = parse_ipv6(host) {
        return addr == Some(IpAddr::V6(ip6));
    }
    !flags.contains(Flags::IP) && host == addr_str
}

fn parse_ipv6(s: &str) -> Option<Ipv6Addr> {
    let s = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    s.parse().ok()
}

impl Sockets {
    /// The socket `host` (IPv6 with or without brackets), `port` (0 = any) and `proto`
    /// (`None` = every enabled protocol; WS searches the TCP then the TLS list, WSS the TLS
    /// list) designate, if any. A `virtual` socket matches by its own name/address only while
    /// its address is on a local interface of `net` (asked at call time); advertised names
    /// and extra addresses match regardless, as in Kamailio.
    pub fn grep_socket(
        &self,
        host: &str,
        port: u16,
        proto: Option<Proto>,
        net: &dyn Network,
    ) -> Option<&Socket> {
        let host = strip_brackets(host);
        let lists: Vec<Proto> = match proto {
            None => self.enabled.lists().collect(),
            Some(Proto::Ws) => vec![Proto::Tcp, Proto::Tls],
            Some(p) => vec![p.list()],
        };
        for list in lists {
            if !self.enabled.has(list) {
                continue;
            }
            for si in self.list(list) {
                if port != 0
                    && si.port != port
                    && si.advertise.as_ref().map(|a| a.port) != Some(port)
                {
                    continue;
                }
                let own = hname_matches(
                    host,
                    &si.name,
                    &si.address_str(),
                    Some(si.address),
                    si.flags,
                );
                if own && (!si.flags.contains(Flags::VIRTUAL) || is_local(si.address, net)) {
                    return Some(si);
                }
                if let Some(a) = &si.advertise {
                    let astr = crate::alias::strip_brackets(&a.name);
                    if hname_matches(host, &a.name, astr, a.address, si.flags) {
                        return Some(si);
                    }
                }
                for e in &si.extra_addresses {
                    if hname_matches(
                        host,
                        &e.name,
                        &e.address.to_string(),
                        Some(e.address),
                        e.flags,
                    ) {
                        return Some(si);
                    }
                }
            }
        }
        None
    }

    /// Whether `host:port` over `proto` is this server (Kamailio's `check_self`): a socket
    /// matches ([`Sockets::grep_socket`]) or an alias does.
    pub fn is_myself(
        &self,
        host: &str,
        port: u16,
        proto: Option<Proto>,
        net: &dyn Network,
    ) -> bool {
        self.grep_socket(host, port, proto, net).is_some()
            || self.aliases.matches(host, port, proto)
    }
}

/// Whether `addr` is configured on a local interface right now.
pub fn is_local(addr: IpAddr, net: &dyn Network) -> bool {
    net.interfaces()
        .map(|ifs| ifs.iter().any(|i| i.addr == addr))
        .unwrap_or(false)
}
