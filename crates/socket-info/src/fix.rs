//! Fixing one socket list after registration (Kamailio's `fix_socket_list`): interface
//! expansion, default ports, resolution with automatic aliases, duplicate removal and the
//! multicast clean-up.

use std::net::{IpAddr, Ipv4Addr};

use crate::alias::Aliases;
use crate::error::{Error, Warning, WarningKind};
use crate::expand::{Globals, Pending};
use crate::proto::Proto;
use crate::record::{ExtraAddress, Flags, Socket};
use crate::resolve::{is_link_local, resolve_host, InterfaceAddr, Network};

/// What fixing needs besides the list.
pub(crate) struct FixCtx<'a> {
    pub(crate) net: &'a dyn Network,
    pub(crate) interfaces: &'a [InterfaceAddr],
    pub(crate) globals: &'a Globals,
    pub(crate) aliases: &'a mut Aliases,
    pub(crate) warnings: &'a mut Vec<Warning>,
}

/// Kamailio's `ip_addr_loopback`: exactly `127.0.0.1` or `::1`.
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a == Ipv4Addr::LOCALHOST,
        IpAddr::V6(a) => a.is_loopback(),
    }
}

/// The addresses of interface `name` (Kamailio's `add_interfaces`), as `(text, flags)`.
fn interface_addrs(
    ifs: &[InterfaceAddr],
    name: &str,
    with_ipv6: bool,
    link_local: i64,
) -> Vec<(String, Flags)> {
    ifs.iter()
        .filter(|i| i.name == name)
        .filter(|i| with_ipv6 || i.addr.is_ipv4())
        .filter(|i| !(link_local & 2 != 0 && is_link_local(i.addr)))
        .map(|i| {
            let f = if i.loopback { Flags::LO } else { Flags::NONE };
            (i.addr.to_string(), f)
        })
        .collect()
}

/// Fixes one list. `proto` is the list's protocol.
pub(crate) fn fix_list(
    proto: Proto,
    list: Vec<Pending>,
    ctx: &mut FixCtx<'_>,
) -> Result<Vec<Socket>, Error> {
    let g = ctx.globals;
    // 1. Interface expansion, in place.
    let mut expanded: Vec<Pending> = Vec::with_capacity(list.len());
    for si in list {
        let addrs = interface_addrs(
            ctx.interfaces,
            &si.name,
            g.auto_bind_ipv6,
            g.bind_ipv6_link_local,
        );
        let mut rec = if addrs.is_empty() {
            si
        } else if si.flags.contains(Flags::MHOMED) {
            let mut it = addrs.into_iter();
            let Some((first, f)) = it.next() else {
                continue;
            };
            let mut extra: Vec<(String, Flags)> = it.collect();
            let old_extra = si.extra.clone();
            extra.extend(old_extra);
            let rec = Pending {
                name: first,
                flags: si.flags.with(f),
                extra,
                ..si
            };
            expanded.push(rec);
            // Only the previous extra names are expanded further (as in Kamailio).
            let Some(last) = expanded.last_mut() else {
                continue;
            };
            expand_extras(last, ctx.interfaces);
            continue;
        } else {
            for (name, f) in addrs {
                // Better than Kamailio: workers, mcast, agname and vrf survive the expansion.
                expanded.push(Pending {
                    name,
                    flags: si.flags.with(f),
                    ..si.clone()
                });
            }
            continue;
        };
        if rec.flags.contains(Flags::MHOMED) {
            expand_extras(&mut rec, ctx.interfaces);
        }
        expanded.push(rec);
    }

    // 2.–4. Ports and resolution.
    let mut socks: Vec<Socket> = Vec::with_capacity(expanded.len());
    for p in expanded {
        let port = if p.port == 0 {
            if matches!(proto, Proto::Tls | Proto::Quic) {
                g.tls_port_no
            } else {
                g.port_no
            }
        } else {
            p.port
        };
        let (name, address, flags) = fix_hostname(&p.name, port, proto, p.flags, &p, ctx)?;
        let mut extra_addresses = Vec::with_capacity(p.extra.len());
        for (en, ef) in &p.extra {
            let (name, address, flags) = fix_hostname(en, port, proto, *ef, &p, ctx)?;
            extra_addresses.push(ExtraAddress {
                name,
                address,
                flags,
            });
        }
        let advertise = p.advertise.clone().map(|mut a| {
            a.port = a.written_port.unwrap_or(port);
            a
        });
        socks.push(Socket {
            proto,
            configured_name: p.configured_name,
            name,
            address,
            port,
            flags,
            socket_name: p.socket_name,
            advertise,
            workers: p.workers,
            extra_addresses,
            agname: p.agname,
            vrf: p.vrf,
            mcast: p.mcast,
            index: None,
            origin: p.origin,
        });
    }

    // 5. Duplicate removal.
    let mut i = 0;
    while i < socks.len() {
        let mut j = i + 1;
        let mut removed_i = false;
        while j < socks.len() {
            if socks[i].port != socks[j].port || socks[i].address != socks[j].address {
                j += 1;
                continue;
            }
            let (del, keep) = if socks[j].extra_addresses.is_empty() {
                (j, i)
            } else if socks[i].extra_addresses.is_empty() {
                (i, j)
            } else {
                let moved = std::mem::take(&mut socks[j].extra_addresses);
                socks[i].extra_addresses.extend(moved);
                // Kamailio compares the removed name with itself here: no alias.
                (j, j)
            };
            let d = &socks[del];
            let k = &socks[keep];
            if !d.flags.contains(Flags::IP) && d.name != k.name {
                let (n, port) = (d.name.clone(), socks[j].port);
                ctx.aliases.add(&n, port, Some(proto));
            }
            let d = &socks[del];
            if d.advertise.is_some()
                || d.socket_name.is_some()
                || d.flags.contains(Flags::VIRTUAL)
                || d.workers > 0
            {
                let kind = WarningKind::DuplicateRemoved {
                    proto,
                    name: d.name.clone(),
                    kept: socks[keep].name.clone(),
                    address: d.address,
                };
                ctx.warnings.push(Warning {
                    kind,
                    span: d.origin.span(),
                });
            }
            socks.remove(del);
            if del == i {
                removed_i = true;
                break;
            }
        }
        if !removed_i {
            i += 1;
        }
    }

    // 6. Extra-address clean-up.
    for si in 0..socks.len() {
        let main_addr = socks[si].address;
        let main_name = socks[si].name.clone();
        let port = socks[si].port;
        let mut extras = std::mem::take(&mut socks[si].extra_addresses);
        let mut kept: Vec<ExtraAddress> = Vec::with_capacity(extras.len());
        for e in extras.drain(..) {
            if e.address == main_addr {
                if !e.flags.contains(Flags::IP) && e.name != main_name {
                    ctx.aliases.add(&e.name, port, Some(proto));
                }
                continue;
            }
            if let Some(prev) = kept.iter().find(|k| k.address == e.address) {
                if !e.flags.contains(Flags::IP) && e.name != prev.name {
                    ctx.aliases.add(&e.name, port, Some(proto));
                }
                continue;
            }
            let clash = socks
                .iter()
                .enumerate()
                .find(|(l, s)| *l != si && s.port == port && s.address == e.address);
            if let Some((_, other)) = clash {
                if !e.flags.contains(Flags::IP) && e.name != other.name {
                    ctx.aliases.add(&e.name, port, Some(proto));
                }
                continue;
            }
            kept.push(e);
        }
        // Extras of other sockets on the same port that repeat one of ours are dropped.
        for k in &kept {
            for (l, other) in socks.iter_mut().enumerate() {
                if l == si || other.port != port {
                    continue;
                }
                other.extra_addresses.retain(|x| {
                    let dup = x.address == k.address;
                    if dup && !x.flags.contains(Flags::IP) && x.name != k.name {
                        ctx.aliases.add(&x.name, port, Some(proto));
                    }
                    !dup
                });
            }
        }
        socks[si].extra_addresses = kept;
    }

    // 7. No multicast on connection protocols.
    if proto != Proto::Udp {
        let warnings = &mut *ctx.warnings;
        socks.retain_mut(|s| {
            if s.flags.contains(Flags::MCAST) {
                warnings.push(Warning {
                    kind: WarningKind::MulticastRemoved {
                        proto,
                        name: s.name.clone(),
                        address: s.address,
                        port: s.port,
                    },
                    span: s.origin.span(),
                });
                return false;
            }
            s.extra_addresses.retain(|e| {
                let keep = !e.flags.contains(Flags::MCAST);
                if !keep {
                    warnings.push(Warning {
                        kind: WarningKind::MulticastRemoved {
                            proto,
                            name: e.name.clone(),
                            address: e.address,
                            port: s.port,
                        },
                        span: s.origin.span(),
                    });
                }
                keep
            });
            true
        });
    }
    Ok(socks)
}

/// Expands extra names that are interfaces (IPv4 only, as in Kamailio), in place.
fn expand_extras(rec: &mut Pending, ifs: &[InterfaceAddr]) {
    let mut out = Vec::with_capacity(rec.extra.len());
    for (name, f) in std::mem::take(&mut rec.extra) {
        let addrs = interface_addrs(ifs, &name, false, 0);
        if addrs.is_empty() {
            out.push((name, f));
        } else {
            out.extend(addrs);
        }
    }
    rec.extra = out;
}

/// Kamailio's `fix_hostname`: resolves `name`, adds aliases, computes the flags.
fn fix_hostname(
    name: &str,
    port: u16,
    proto: Proto,
    mut flags: Flags,
    rec: &Pending,
    ctx: &mut FixCtx<'_>,
) -> Result<(String, IpAddr, Flags), Error> {
    let auto = ctx.globals.auto_aliases;
    let Some(he) = resolve_host(ctx.net, name) else {
        return Err(Error::CouldNotResolve {
            name: name.to_owned(),
            proto,
            origin: rec.origin,
        });
    };
    let mut name = name.to_owned();
    if !he.name.eq_ignore_ascii_case(&name) {
        if auto {
            ctx.aliases.add(&name, port, Some(proto));
        }
        name = he.name.clone();
    }
    if auto {
        for a in &he.aliases {
            ctx.aliases.add(a, port, Some(proto));
        }
    }
    let Some(address) = he.addrs.first().copied() else {
        return Err(Error::CouldNotResolve {
            name,
            proto,
            origin: rec.origin,
        });
    };
    if auto && address.to_string().eq_ignore_ascii_case(&name) {
        flags.insert(Flags::IP);
        match ctx.net.reverse(address) {
            Some(rev) => {
                ctx.aliases.add(&rev.name, port, Some(proto));
                for a in &rev.aliases {
                    ctx.aliases.add(a, port, Some(proto));
                }
            }
            None => ctx.warnings.push(Warning {
                kind: WarningKind::ReverseUnresolved { name: name.clone() },
                span: rec.origin.span(),
            }),
        }
    }
    if address.is_multicast() {
        flags.insert(Flags::MCAST);
    }
    if address.is_unspecified() {
        flags.insert(Flags::ANY);
    } else if is_loopback(address) {
        flags.insert(Flags::LO);
    }
    Ok((name, address, flags))
}
