//! Registration: directives in file order, then `-l` values, become raw socket records in
//! the protocol lists (Kamailio's `add_listen_socket_info` and `new_sock_info`).
//!
//! This is where the parse-time rules live: protocol expansion of protocol-less listens
//! with the TLS port+1 rule, the `port`/`tls_port_no` value current at the directive, the
//! one-shot `socket_workers` and `mcast`, parenthesised lists, socket-block port ranges and
//! the advertise resolution (a warning when it fails).

use std::collections::HashSet;
use std::net::IpAddr;

use cfg_parser::ast::{self, HostSpec, Item, PortSpec, Span, Value};

use crate::alias::Aliases;
use crate::cmdline::{ArgErrorKind, ArgField, ListenArg, ListenArgError};
use crate::error::{Error, Warning, WarningKind};
use crate::proto::Proto;
use crate::record::{Advertise, Flags, Origin};
use crate::resolve::{resolve_host, Network};

/// A socket record before fixing (Kamailio's freshly created `socket_info`).
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) configured_name: String,
    pub(crate) name: String,
    /// Extra names (SCTP multi-homing) with their flags.
    pub(crate) extra: Vec<(String, Flags)>,
    pub(crate) port: u16,
    pub(crate) flags: Flags,
    pub(crate) advertise: Option<Advertise>,
    pub(crate) socket_name: Option<String>,
    pub(crate) workers: u32,
    pub(crate) mcast: Option<String>,
    pub(crate) agname: Option<String>,
    pub(crate) vrf: Option<String>,
    pub(crate) origin: Origin,
}

/// An advertise clause before it is attached to a socket.
#[derive(Debug, Clone)]
pub(crate) struct AdvSpec {
    pub(crate) proto: Option<Proto>,
    pub(crate) name: String,
    pub(crate) port: Option<u16>,
}

/// Global parameters as Kamailio holds them while parsing (values change in file order).
#[derive(Debug, Clone)]
pub(crate) struct Globals {
    pub(crate) port_no: u16,
    pub(crate) tls_port_no: u16,
    pub(crate) socket_workers: u32,
    pub(crate) mcast: Option<String>,
    pub(crate) auto_aliases: bool,
    pub(crate) auto_bind_ipv6: bool,
    pub(crate) bind_ipv6_link_local: i64,
    pub(crate) ip_free_bind: bool,
    pub(crate) tcp_disable: bool,
    pub(crate) tls_disable: bool,
    /// 0 enabled, 1 disabled, 2 auto.
    pub(crate) sctp_disable: i64,
    pub(crate) sctp_span: Option<Span>,
    pub(crate) children: i64,
    pub(crate) advertised_address: Option<String>,
    pub(crate) advertised_port: Option<u16>,
}

impl Default for Globals {
    fn default() -> Self {
        Globals {
            port_no: 0,
            tls_port_no: 0,
            socket_workers: 0,
            mcast: None,
            auto_aliases: true,
            auto_bind_ipv6: false,
            bind_ipv6_link_local: 0,
            ip_free_bind: false,
            tcp_disable: false,
            tls_disable: true,
            sctp_disable: 2,
            sctp_span: None,
            children: 0,
            advertised_address: None,
            advertised_port: None,
        }
    }
}

/// The registration state: the five raw lists (Kamailio's four plus QUIC), the aliases, the globals.
pub(crate) struct Registrar<'n> {
    pub(crate) net: &'n dyn Network,
    pub(crate) lists: [Vec<Pending>; 5],
    pub(crate) aliases: Aliases,
    pub(crate) globals: Globals,
    pub(crate) warnings: Vec<Warning>,
    warned_adv: HashSet<(Option<Span>, String)>,
}

/// The text Kamailio stores for a `listen_id`: IP literals as compressed text without
/// brackets, names and quoted strings verbatim.
pub(crate) fn host_text(h: &HostSpec) -> String {
    match h {
        HostSpec::Ip(ip) => ip.to_string(),
        HostSpec::Name(n) | HostSpec::Quoted(n) => n.clone(),
    }
}

fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Str(s) | Value::Ident(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) | Value::Ident(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Ip(ip) => Some(ip.to_string()),
        Value::Host(h) => Some(host_text(h)),
        Value::Proto(p) => Some(p.as_str().to_owned()),
    }
}

fn port_of(p: Option<&ast::Spanned<PortSpec>>) -> u16 {
    match p.map(|p| p.value) {
        Some(PortSpec::Number(n)) => n,
        Some(PortSpec::Default) | None => 0,
    }
}

impl<'n> Registrar<'n> {
    pub(crate) fn new(net: &'n dyn Network) -> Self {
        Registrar {
            net,
            lists: Default::default(),
            aliases: Aliases::new(),
            globals: Globals::default(),
            warnings: Vec::new(),
            warned_adv: HashSet::new(),
        }
    }

    pub(crate) fn all_empty(&self) -> bool {
        self.lists.iter().all(Vec::is_empty)
    }

    /// Applies one global parameter.
    pub(crate) fn param(&mut self, p: &ast::Param) -> Result<(), Error> {
        let g = &mut self.globals;
        let v = &p.value.value;
        let int = int_of(v);
        match p.name.value.as_str() {
            "port" => {
                if let Some(n) = int.and_then(|i| u16::try_from(i).ok()) {
                    g.port_no = n;
                }
            }
            "tls_port_no" => {
                if let Some(n) = int.and_then(|i| u16::try_from(i).ok()) {
                    g.tls_port_no = n;
                }
            }
            "socket_workers" => {
                g.socket_workers = int.and_then(|i| u32::try_from(i).ok()).unwrap_or(0);
            }
            "mcast" => g.mcast = text_of(v),
            "auto_aliases" | "auto_domains" => {
                if let Some(i) = int {
                    g.auto_aliases = i != 0;
                }
            }
            "auto_bind_ipv6" => {
                if let Some(i) = int {
                    g.auto_bind_ipv6 = i != 0;
                }
            }
            "bind_ipv6_link_local" => {
                if let Some(i) = int {
                    if i & 1 != 0 && i & 2 != 0 {
                        return Err(Error::IncompatibleLinkLocalModes {
                            value: i,
                            span: p.span,
                        });
                    }
                    g.bind_ipv6_link_local = i;
                }
            }
            "ip_free_bind" => {
                if let Some(i) = int {
                    g.ip_free_bind = i != 0;
                }
            }
            "disable_tcp" => {
                if let Some(i) = int {
                    g.tcp_disable = i != 0;
                }
            }
            "enable_tls" => {
                if let Some(i) = int {
                    g.tls_disable = i == 0;
                }
            }
            "disable_tls" => {
                if let Some(i) = int {
                    g.tls_disable = i != 0;
                }
            }
            "enable_sctp" => {
                if let Some(i) = int {
                    g.sctp_disable = if i <= 1 { i64::from(i == 0) } else { i };
                    g.sctp_span = Some(p.span);
                }
            }
            "disable_sctp" => {
                if let Some(i) = int {
                    g.sctp_disable = i;
                    g.sctp_span = Some(p.span);
                }
            }
            "children" => {
                if let Some(i) = int {
                    g.children = i;
                }
            }
            "advertised_address" => g.advertised_address = text_of(v),
            "advertised_port" => {
                g.advertised_port = int.and_then(|i| u16::try_from(i).ok());
            }
            _ => {}
        }
        Ok(())
    }

    /// One config item.
    pub(crate) fn item(&mut self, item: &Item) -> Result<(), Error> {
        match item {
            Item::Param(p) => self.param(p),
            Item::Listen(l) => self.listen(l),
            Item::Socket(s) => self.socket_block(s),
            Item::Alias(a) => {
                for addr in &a.addrs {
                    let proto = listen_proto(addr)?;
                    let port = port_of(addr.port.as_ref());
                    for h in &addr.hosts {
                        self.aliases.add(&host_text(&h.value), port, proto);
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn listen(&mut self, l: &ast::Listen) -> Result<(), Error> {
        let adv = l.advertise.as_ref().map(adv_spec);
        let sockname = l.name.as_ref().map(|n| n.value.clone());
        for addr in &l.addrs {
            let proto = listen_proto(addr)?;
            let names: Vec<String> = addr.hosts.iter().map(|h| host_text(&h.value)).collect();
            let Some((first, rest)) = names.split_first() else {
                continue;
            };
            let mut flags = Flags::NONE;
            if addr.multihomed {
                flags.insert(Flags::MHOMED);
            }
            if l.is_virtual {
                flags.insert(Flags::VIRTUAL);
            }
            self.add_listen(
                first,
                rest,
                port_of(addr.port.as_ref()),
                proto,
                adv.as_ref(),
                sockname.as_deref(),
                flags,
                Origin::Config(l.span),
            );
        }
        Ok(())
    }

    fn socket_block(&mut self, s: &ast::SocketBlock) -> Result<(), Error> {
        let Some(bind) = &s.bind else {
            return Err(Error::NoBindAddress { span: s.span });
        };
        if let Some(ag) = &s.agname {
            if ag.value.len() >= 62 {
                return Err(Error::AgnameTooLong {
                    name: ag.value.clone(),
                    len: ag.value.len(),
                    span: ag.span,
                });
            }
        }
        let proto = listen_proto(bind)?;
        let Some(host) = bind.hosts.first().map(|h| host_text(&h.value)) else {
            return Err(Error::NoBindAddress { span: s.span });
        };
        let start = port_of(bind.port.as_ref());
        let end = bind.port_end.as_ref().map_or(0, |e| e.value);
        let adv = s.advertise.as_ref().map(adv_spec);
        let mut flags = Flags::NONE;
        if s.is_virtual.as_ref().is_some_and(|v| v.value) {
            flags.insert(Flags::VIRTUAL);
        }
        let origin = Origin::Config(s.span);
        let first_new: [usize; 5] = std::array::from_fn(|i| self.lists[i].len());
        let ports: Vec<(u16, u16)> = if end <= start {
            vec![(start, 0)]
        } else {
            (start..=end).map(|p| (p, p - start)).collect()
        };
        let ranged = end > start;
        for (port, i) in ports {
            let sockname = s.name.as_ref().map(|n| {
                if ranged {
                    format!("{}{}", n.value, port)
                } else {
                    n.value.clone()
                }
            });
            let adv_i = adv.as_ref().map(|a| AdvSpec {
                port: a.port.map(|p| p.wrapping_add(i)),
                ..a.clone()
            });
            let last = self.add_listen(
                &host,
                &[],
                port,
                proto,
                adv_i.as_ref(),
                sockname.as_deref(),
                flags,
                origin,
            );
            if let Some((lp, idx)) = last {
                if let Some(rec) = self.lists[lp.list_index()].get_mut(idx) {
                    rec.agname = s.agname.as_ref().map(|a| a.value.clone());
                    rec.vrf = s.vrf.as_ref().map(|v| v.value.clone());
                }
                if proto.is_none() && (s.agname.is_some() || s.vrf.is_some()) && i == 0 {
                    self.warnings.push(Warning {
                        kind: WarningKind::AttributesOnLastProtoOnly { proto: lp },
                        span: Some(s.span),
                    });
                }
            }
        }
        // Better than Kamailio: `workers = N` reaches every socket of the block.
        if let Some(w) = &s.workers {
            for (li, list) in self.lists.iter_mut().enumerate() {
                for rec in list.iter_mut().skip(first_new[li]) {
                    rec.workers = w.value;
                }
            }
        }
        Ok(())
    }

    /// One `-l` value; `enabled_*` is the enable state at that moment.
    pub(crate) fn cmdline(&mut self, index: usize, arg: &ListenArg) -> Result<(), Error> {
        let g = &self.globals;
        let disabled = |p: Proto| match p {
            Proto::Tcp => g.tcp_disable,
            Proto::Tls => g.tcp_disable || g.tls_disable,
            Proto::Sctp => g.sctp_disable != 0,
            _ => false,
        };
        let fail = |field, p| {
            Error::CommandLine(ListenArgError {
                arg: arg.text.clone(),
                field,
                kind: ArgErrorKind::DisabledProtocol(p),
            })
        };
        if let Some(p) = arg.proto.filter(|p| disabled(*p)) {
            return Err(fail(ArgField::Address, p));
        }
        let adv = arg.advertise.as_ref().map(|a| AdvSpec {
            proto: a.proto,
            name: a.host.clone(),
            port: (a.port != 0).then_some(a.port),
        });
        if let Some(p) = adv.as_ref().and_then(|a| a.proto).filter(|p| disabled(*p)) {
            return Err(fail(ArgField::Advertise, p));
        }
        let Some((first, rest)) = arg.hosts.split_first() else {
            return Ok(());
        };
        let flags = if arg.multihomed {
            Flags::MHOMED
        } else {
            Flags::NONE
        };
        self.add_listen(
            first,
            rest,
            arg.port,
            arg.proto,
            adv.as_ref(),
            arg.name.as_deref(),
            flags,
            Origin::CommandLine(index),
        );
        Ok(())
    }

    /// Kamailio's `add_listen_socket_info`: one record per protocol (all four when `proto`
    /// is `None`), one per name for non-SCTP lists. Returns the list and index of the last
    /// record created for the main name.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_listen(
        &mut self,
        name: &str,
        extra: &[String],
        port: u16,
        proto: Option<Proto>,
        adv: Option<&AdvSpec>,
        sockname: Option<&str>,
        flags: Flags,
        origin: Origin,
    ) -> Option<(Proto, usize)> {
        let protos: Vec<Proto> = match proto {
            Some(p) => vec![p.list()],
            None => Proto::KAMAILIO_LISTS.to_vec(),
        };
        let mut last = None;
        for c in protos {
            let c_port = if port == 0 {
                if matches!(c, Proto::Tls | Proto::Quic) {
                    self.globals.tls_port_no
                } else {
                    self.globals.port_no
                }
            } else if c == Proto::Tls && proto.is_none() {
                port.wrapping_add(1)
            } else {
                port
            };
            if c == Proto::Sctp {
                let extras = extra.iter().map(|e| (e.clone(), flags)).collect();
                let idx = self.create(name, extras, c_port, c, adv, sockname, flags, origin);
                last = Some((c, idx));
            } else {
                let f = flags.without(Flags::MHOMED);
                let idx = self.create(name, Vec::new(), c_port, c, adv, sockname, f, origin);
                last = Some((c, idx));
                for e in extra {
                    self.create(e, Vec::new(), c_port, c, adv, sockname, f, origin);
                }
            }
        }
        last
    }

    /// Kamailio's `new_sock2list`: creates a record, applies the one-shot `socket_workers`
    /// and `mcast`, appends it. Returns its index.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create(
        &mut self,
        name: &str,
        extra: Vec<(String, Flags)>,
        port: u16,
        proto: Proto,
        adv: Option<&AdvSpec>,
        sockname: Option<&str>,
        flags: Flags,
        origin: Origin,
    ) -> usize {
        let advertise = adv.map(|a| self.advertise(a, proto, origin));
        let mut rec = Pending {
            configured_name: name.to_owned(),
            name: name.to_owned(),
            extra,
            port,
            flags,
            advertise,
            socket_name: sockname.map(str::to_owned),
            workers: 0,
            mcast: None,
            agname: None,
            vrf: None,
            origin,
        };
        if self.globals.socket_workers > 0 {
            rec.workers = self.globals.socket_workers;
            self.globals.socket_workers = 0;
        }
        rec.mcast = self.globals.mcast.take();
        let list = &mut self.lists[proto.list_index()];
        list.push(rec);
        list.len() - 1
    }

    fn advertise(&mut self, a: &AdvSpec, proto: Proto, origin: Origin) -> Advertise {
        let address: Option<IpAddr> =
            resolve_host(self.net, &a.name).and_then(|h| h.addrs.first().copied());
        if address.is_none() && self.warned_adv.insert((origin.span(), a.name.clone())) {
            self.warnings.push(Warning {
                kind: WarningKind::AdvertiseUnresolved {
                    name: a.name.clone(),
                },
                span: origin.span(),
            });
        }
        Advertise {
            proto: a.proto.unwrap_or(proto),
            name: a.name.clone(),
            address,
            written_port: a.port.filter(|p| *p != 0),
            port: a.port.unwrap_or(0),
        }
    }
}

fn listen_proto(addr: &ast::ListenAddr) -> Result<Option<Proto>, Error> {
    match addr.proto.as_ref() {
        None => Ok(None),
        Some(p) => match Proto::from_ast(p.value) {
            Some(pr @ (Proto::Ws | Proto::Wss)) => Err(Error::NotAListenProto {
                proto: pr,
                span: p.span,
            }),
            other => Ok(other),
        },
    }
}

fn adv_spec(a: &ast::Advertise) -> AdvSpec {
    AdvSpec {
        proto: a.proto.as_ref().and_then(|p| Proto::from_ast(p.value)),
        name: host_text(&a.host.value),
        port: a.port.as_ref().map(|p| p.value).filter(|p| *p != 0),
    }
}
