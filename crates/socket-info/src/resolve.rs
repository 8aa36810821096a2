//! The OS boundary: interface enumeration and name resolution behind [`Network`], with a
//! real implementation ([`SystemNetwork`]) and one for tests and tools ([`StaticNetwork`]).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr};

/// One address of one network interface (one `getifaddrs` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddr {
    /// Interface name (`lo`, `eth0`).
    pub name: String,
    /// The address.
    pub addr: IpAddr,
    /// The interface is a loopback interface (`IFF_LOOPBACK`).
    pub loopback: bool,
}

/// A resolver answer (a `struct hostent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    /// The official (canonical) name.
    pub name: String,
    /// Other names of the host.
    pub aliases: Vec<String>,
    /// Addresses, preferred first.
    pub addrs: Vec<IpAddr>,
}

/// What socket resolution needs from the operating system.
pub trait Network {
    /// Every address of every interface, in the OS's order.
    fn interfaces(&self) -> io::Result<Vec<InterfaceAddr>>;
    /// Forward lookup of a host name (never called with IP literals).
    fn resolve(&self, name: &str) -> Option<HostEntry>;
    /// Reverse lookup of an address.
    fn reverse(&self, addr: IpAddr) -> Option<HostEntry>;
    /// This machine's host name (`uname` nodename), for the auto-bind fallback.
    fn hostname(&self) -> Option<String>;
}

/// Parses an IP literal as Kamailio's resolver does: IPv4, IPv6, or IPv6 in brackets.
pub fn literal_ip(name: &str) -> Option<IpAddr> {
    if let Some(inner) = name.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    name.parse::<IpAddr>().ok()
}

/// Resolves like Kamailio's `resolvehost`: IP literals directly (the official name is the
/// text itself), everything else through the [`Network`].
pub(crate) fn resolve_host(net: &dyn Network, name: &str) -> Option<HostEntry> {
    if let Some(ip) = literal_ip(name) {
        return Some(HostEntry {
            name: name.to_owned(),
            aliases: Vec::new(),
            addrs: vec![ip],
        });
    }
    net.resolve(name).filter(|h| !h.addrs.is_empty())
}

/// Whether `addr` is an IPv6 link-local address (`fe80::/10`).
pub(crate) fn is_link_local(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
        IpAddr::V4(_) => false,
    }
}

/// A fixed set of interfaces and DNS answers, for tests and for tools that must not touch
/// the machine's network configuration.
#[derive(Debug, Clone, Default)]
pub struct StaticNetwork {
    interfaces: Vec<InterfaceAddr>,
    hosts: HashMap<String, HostEntry>,
    reverse: HashMap<IpAddr, HostEntry>,
    hostname: Option<String>,
    fail_interfaces: bool,
}

impl StaticNetwork {
    /// No interfaces, no names.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an interface address. Invalid address text is ignored.
    pub fn interface(mut self, name: &str, addr: &str, loopback: bool) -> Self {
        if let Ok(addr) = addr.parse() {
            self.interfaces.push(InterfaceAddr {
                name: name.to_owned(),
                addr,
                loopback,
            });
        }
        self
    }

    /// Adds a forward answer: `name` resolves to `addrs` with official name `name`.
    pub fn host(self, name: &str, addrs: &[&str]) -> Self {
        self.host_entry(name, name, &[], addrs)
    }

    /// Adds a forward answer with an official name and aliases different from the name
    /// asked for (as `/etc/hosts` or a CNAME chain produce).
    pub fn host_entry(
        mut self,
        asked: &str,
        official: &str,
        aliases: &[&str],
        addrs: &[&str],
    ) -> Self {
        let entry = HostEntry {
            name: official.to_owned(),
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
            addrs: addrs.iter().filter_map(|a| a.parse().ok()).collect(),
        };
        self.hosts.insert(asked.to_ascii_lowercase(), entry);
        self
    }

    /// Adds a reverse answer: `addr` maps back to `name` (and `aliases`).
    pub fn reverse(mut self, addr: &str, name: &str, aliases: &[&str]) -> Self {
        if let Ok(ip) = addr.parse() {
            self.reverse.insert(
                ip,
                HostEntry {
                    name: name.to_owned(),
                    aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
                    addrs: vec![ip],
                },
            );
        }
        self
    }

    /// Sets the host name.
    pub fn hostname(mut self, name: &str) -> Self {
        self.hostname = Some(name.to_owned());
        self
    }

    /// Makes interface enumeration fail (to test the auto-bind fallback).
    pub fn failing_interfaces(mut self) -> Self {
        self.fail_interfaces = true;
        self
    }
}

impl Network for StaticNetwork {
    fn interfaces(&self) -> io::Result<Vec<InterfaceAddr>> {
        if self.fail_interfaces {
            return Err(io::Error::other("interface enumeration disabled"));
        }
        Ok(self.interfaces.clone())
    }

    fn resolve(&self, name: &str) -> Option<HostEntry> {
        self.hosts.get(&name.to_ascii_lowercase()).cloned()
    }

    fn reverse(&self, addr: IpAddr) -> Option<HostEntry> {
        self.reverse.get(&addr).cloned()
    }

    fn hostname(&self) -> Option<String> {
        self.hostname.clone()
    }
}

/// The machine's own network: `getifaddrs` (through `if-addrs`), `getaddrinfo` and
/// `getnameinfo` (through `dns-lookup`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemNetwork;

impl SystemNetwork {
    /// Whether the kernel supports SCTP (Linux: `/proc/sys/net/sctp` exists).
    pub fn sctp_supported() -> bool {
        std::path::Path::new("/proc/sys/net/sctp").exists()
    }
}

/// `IFF_LOOPBACK` from `/sys/class/net/<if>/flags` (Linux); elsewhere the address decides.
fn is_loopback_interface(name: &str, addr: IpAddr) -> bool {
    let path = format!("/sys/class/net/{name}/flags");
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let t = text.trim();
            let t = t.strip_prefix("0x").unwrap_or(t);
            u32::from_str_radix(t, 16).is_ok_and(|f| f & 0x8 != 0)
        }
        Err(_) => addr.is_loopback(),
    }
}

impl Network for SystemNetwork {
    fn interfaces(&self) -> io::Result<Vec<InterfaceAddr>> {
        let ifs = if_addrs::get_if_addrs()?;
        Ok(ifs
            .into_iter()
            .map(|i| {
                let addr = i.ip();
                InterfaceAddr {
                    loopback: is_loopback_interface(&i.name, addr),
                    name: i.name,
                    addr,
                }
            })
            .collect())
    }

    fn resolve(&self, name: &str) -> Option<HostEntry> {
        let hints = dns_lookup::AddrInfoHints {
            flags: 0x0002, // AI_CANONNAME
            ..Default::default()
        };
        let iter = dns_lookup::getaddrinfo(Some(name), None, Some(hints)).ok()?;
        let mut official = None;
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for ai in iter.flatten() {
            if official.is_none() {
                official = ai.canonname.clone();
            }
            let ip = ai.sockaddr.ip();
            let bucket = if ip.is_ipv4() { &mut v4 } else { &mut v6 };
            if !bucket.contains(&ip) {
                bucket.push(ip);
            }
        }
        // gethostbyname() answers IPv4 first; IPv6 only when there is no IPv4 address.
        let addrs = if v4.is_empty() { v6 } else { v4 };
        if addrs.is_empty() {
            return None;
        }
        Some(HostEntry {
            name: official.unwrap_or_else(|| name.to_owned()),
            aliases: Vec::new(),
            addrs,
        })
    }

    fn reverse(&self, addr: IpAddr) -> Option<HostEntry> {
        let name = dns_lookup::lookup_addr(&addr).ok()?;
        // getnameinfo() without NI_NAMEREQD answers the numeric form when there is no name.
        if name.parse::<IpAddr>().is_ok() {
            return None;
        }
        Some(HostEntry {
            name,
            aliases: Vec::new(),
            addrs: vec![addr],
        })
    }

    fn hostname(&self) -> Option<String> {
        let h = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
        let h = h.trim();
        (!h.is_empty()).then(|| h.to_owned())
    }
}

/// What [`Network::interfaces`] gave, kept to be given again (`io::Error` is not `Clone`).
type Listed = Result<Vec<InterfaceAddr>, (io::ErrorKind, String)>;

/// The interfaces of `net`, in a form that can be kept.
fn list_interfaces(net: &dyn Network) -> Listed {
    net.interfaces().map_err(|e| (e.kind(), e.to_string()))
}

/// A [`Network`] whose interface list is read on a thread of its own from the moment it is
/// made, while the caller does other work: a server reads and parses its config meanwhile,
/// and the interface dump (a netlink round trip and a file read per interface, a third of a
/// millisecond) is then ready when the sockets are set up. The list is read once; every
/// other question goes to the inner network when it is asked.
#[derive(Debug)]
pub struct Prefetched<N> {
    inner: N,
    reading: std::sync::Mutex<Option<std::thread::JoinHandle<Listed>>>,
    listed: std::sync::OnceLock<Listed>,
}

impl<N: Network + Clone + Send + 'static> Prefetched<N> {
    /// Starts reading the interfaces of `inner` (on the caller's thread when no thread can
    /// be started).
    pub fn start(inner: N) -> Self {
        let net = inner.clone();
        let reading = std::thread::Builder::new()
            .name("interfaces".into())
            .spawn(move || list_interfaces(&net))
            .ok();
        Prefetched {
            inner,
            reading: std::sync::Mutex::new(reading),
            listed: std::sync::OnceLock::new(),
        }
    }
}

impl<N: Network> Network for Prefetched<N> {
    fn interfaces(&self) -> io::Result<Vec<InterfaceAddr>> {
        let listed = self.listed.get_or_init(|| {
            let reading = self.reading.lock().ok().and_then(|mut r| r.take());
            // A thread that could not start or did not finish: read them here.
            match reading.map(std::thread::JoinHandle::join) {
                Some(Ok(listed)) => listed,
                _ => list_interfaces(&self.inner),
            }
        });
        listed
            .clone()
            .map_err(|(kind, message)| io::Error::new(kind, message))
    }

    fn resolve(&self, name: &str) -> Option<HostEntry> {
        self.inner.resolve(name)
    }

    fn reverse(&self, addr: IpAddr) -> Option<HostEntry> {
        self.inner.reverse(addr)
    }

    fn hostname(&self) -> Option<String> {
        self.inner.hostname()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A [`StaticNetwork`] that counts the interface reads.
    #[derive(Clone)]
    struct Counting(StaticNetwork, Arc<AtomicUsize>);

    impl Network for Counting {
        fn interfaces(&self) -> io::Result<Vec<InterfaceAddr>> {
            self.1.fetch_add(1, Ordering::SeqCst);
            self.0.interfaces()
        }
        fn resolve(&self, name: &str) -> Option<HostEntry> {
            self.0.resolve(name)
        }
        fn reverse(&self, addr: IpAddr) -> Option<HostEntry> {
            Network::reverse(&self.0, addr)
        }
        fn hostname(&self) -> Option<String> {
            Network::hostname(&self.0)
        }
    }

    #[test]
    fn prefetched_interfaces_are_read_once_and_given_as_the_network_gives_them() {
        let net = StaticNetwork::new()
            .interface("lo", "127.0.0.1", true)
            .interface("eth0", "192.0.2.7", false)
            .host("sip.example.org", &["192.0.2.7"])
            .hostname("box");
        let reads = Arc::new(AtomicUsize::new(0));
        let pre = Prefetched::start(Counting(net.clone(), Arc::clone(&reads)));
        let expected = net.interfaces().expect("static interfaces");
        assert_eq!(pre.interfaces().expect("interfaces"), expected);
        assert_eq!(pre.interfaces().expect("interfaces"), expected);
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        assert_eq!(
            pre.resolve("sip.example.org"),
            net.resolve("sip.example.org")
        );
        assert_eq!(pre.hostname().as_deref(), Some("box"));

        // A failed read is given as the same error each time.
        let pre = Prefetched::start(StaticNetwork::new().failing_interfaces());
        for _ in 0..2 {
            let e = pre.interfaces().expect_err("the read fails");
            assert_eq!(e.to_string(), "interface enumeration disabled");
        }
    }
}
