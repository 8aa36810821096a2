//! # socket-info
//!
//! The third stage of siprouter's pipeline (text → tokens → AST → **socket records** →
//! transports → router): `listen=`, `socket = { … }`, `alias=`, the socket-related global
//! parameters and the `-l` command-line values become the ordered socket lists the server
//! binds, resolved exactly as Kamailio resolves them (reference: `listen-and-sockets.md`
//! §1–§7, `cli-and-startup.md` for `-l`).
//!
//! ```text
//! items (file order) ─┐
//! -l values ──────────┼─ expand (registration) ─ fix (per list) ─ Sockets ─┬─ listing()
//! Options ────────────┘        ▲                      ▲                   ├─ dump_json()
//!                              └──── Network (interfaces, DNS) ──┘        └─ is_myself()
//! ```
//!
//! ## Modules
//! - [`proto`]: [`Proto`], the protocol words and the socket lists (Kamailio's four plus
//!   QUIC).
//! - [`record`]: the socket record [`Socket`] (protocol, configured name, resolved address,
//!   port, [`Flags`], socket name, [`Advertise`], workers, extra addresses, agname, vrf,
//!   mcast, [`Origin`] with the config span) and the result [`Sockets`].
//! - [`alias`]: the alias list and its matching rules.
//! - `expand` (private): registration — directives in file order, then `-l` values, become
//!   raw records (protocol expansion, TLS port+1, current `port`/`tls_port_no`, one-shot
//!   `socket_workers`/`mcast`, parenthesised lists, port ranges, advertise resolution).
//! - `fix` (private): per-list fixing — interface expansion, default ports, resolution with
//!   `auto_aliases`, duplicate removal with alias creation, multicast clean-up.
//! - [`resolve`]: the [`Network`] trait (interfaces, forward/reverse lookups, host name),
//!   [`SystemNetwork`] (the OS) and [`StaticNetwork`] (tests, tools).
//! - [`cmdline`]: the `-l` parser with typed errors.
//! - [`mod@listing`]: the `Listening on` / `Aliases:` text, byte for byte.
//! - [`myself`]: "is this host/port/proto ours?" ([`Sockets::is_myself`]).
//! - [`json`]: the `--dump-sockets` view.
//! - [`error`]: [`Error`] (fatal) and [`Warning`] (kept in [`Sockets::warnings`]), with spans.
//!
//! ## Dependencies
//! - `cfg-parser` (the AST and, through it, `cfg_lexer`'s `Span`/`SourceMap`), `sip-message`
//!   ([`sip_message::HostPort`] renders every host:port, so IPv6 brackets cannot be
//!   forgotten: [`Socket::host_port`], [`Socket::sock_str`], [`Advertise::host_port`]).
//!   The one exception is the Kamailio listing, which prints IPv6 addresses unbracketed
//!   (`udp: ::1:5060`) and must stay byte-identical.
//! - `if-addrs`: `getifaddrs` behind a safe API (the workspace forbids `unsafe`; the crate
//!   is small and only depends on `libc`). Reading `/proc/net/if_inet6` would cover IPv6
//!   only, and `ip -j addr` would need a process per lookup.
//! - `dns-lookup`: `getaddrinfo` (with `AI_CANONNAME`, for the official name) and
//!   `getnameinfo` (reverse lookups for `auto_aliases`) behind a safe API; std has no
//!   reverse lookup and no canonical name. Both depend only on `libc`/`socket2`, which the
//!   workspace already builds for tokio.
//! - `serde`/`serde_json` (JSON view), `thiserror` (errors).
//!
//! ## Where we deliberately differ from Kamailio
//! Each of these is a place where Kamailio is known to fail its users; the listing stays
//! byte-identical otherwise.
//! 1. **Advertise without port** (`advertise 1.2.3.4`, `-l …/1.2.3.4`): Kamailio advertises
//!    port 0 (printed `:0`, written into Via). We use the socket's own port, so the listing
//!    shows `advertise udp:1.2.3.4:5060`. An explicit `:0` is treated the same way.
//! 2. **Unresolvable advertised name**: a [`WarningKind::AdvertiseUnresolved`] (once per
//!    directive, not once per created socket); the socket is always kept.
//! 3. **`-l` socket names**: each `-l` has its own name; Kamailio lets a later `-l` inherit
//!    the previous one's name (freed memory).
//! 4. **`workers = N` in a socket block** works (Kamailio's lexer cannot read it) and applies
//!    to every socket the block creates (all protocols, all ports of a range).
//! 5. **Interface expansion keeps attributes**: Kamailio drops `workers` (from
//!    `socket_workers`), `mcast`, `agname` and `vrf` when it replaces an interface name by
//!    its addresses; we copy them to every expanded socket.
//! 6. **Non-local addresses**: a config socket whose address is on no local interface,
//!    without `virtual` or `ip_free_bind`, is reported ([`WarningKind::NonLocalAddress`])
//!    with its config line; Kamailio's `-c` accepts it and the bind fails at start.
//! 7. **Silent Kamailio behaviours become warnings** (behaviour unchanged): duplicate
//!    removal that drops attributes, a config whose sockets all belong to disabled
//!    protocols, `agname`/`vrf` of a protocol-less socket block reaching only the last
//!    protocol's socket.
//! 8. **`-l` ports** above 65535 are an error (Kamailio truncates them to 16 bits).
//! 9. **`advertise ws:`/`wss:`** prints `ws`/`wss`; Kamailio prints `unknown`.
//! 10. **`sock_str`** ([`Socket::sock_str`]) always uses the socket's own protocol; Kamailio
//!     uses the advertised protocol there (`tcp` socket advertised as `udp` → `udp:…`).
//! 11. **Socket blocks** create one record per protocol for the bind address; Kamailio also
//!     passes the bind address as its own extra address, creating a duplicate that its
//!     duplicate removal deletes again — the result is the same.
//! 12. IP literals are rendered in compressed form (`ipv6_hex_style` is not applied).
//!
//! The OS resolver ([`SystemNetwork`]) reports no DNS aliases for forward lookups
//! (`getaddrinfo` has none); `/etc/hosts` official names and reverse names are found.

pub mod alias;
pub mod cmdline;
pub mod error;
mod expand;
mod fix;
pub mod json;
pub mod listing;
pub mod myself;
pub mod options;
pub mod proto;
pub mod record;
pub mod resolve;

use cfg_parser::ast::Item;

pub use alias::{Alias, Aliases};
pub use cmdline::{parse_listen_arg, ListenArg, ListenArgError};
pub use error::{Error, Warning, WarningKind};
pub use json::{dump_json, socket_views, SocketView};
pub use listing::listing;
pub use options::Options;
pub use proto::Proto;
pub use record::{Advertise, Enabled, ExtraAddress, Flags, Origin, Socket, Sockets};
pub use resolve::{HostEntry, InterfaceAddr, Network, Prefetched, StaticNetwork, SystemNetwork};

use expand::Registrar;
use resolve::is_link_local;

/// Kamailio's `SIP_PORT`.
pub const SIP_PORT: u16 = 5060;
/// Kamailio's `SIPS_PORT`.
pub const SIPS_PORT: u16 = 5061;
/// Kamailio's `CHILD_NO`: default workers per UDP socket.
pub const CHILD_NO: u32 = 8;

/// A command-line alias host as the config's are stored: an IP address without brackets
/// (so that it matches as the config's do), a name as given.
fn alias_name(host: &str) -> String {
    resolve::literal_ip(host).map_or_else(|| host.to_string(), |ip| ip.to_string())
}

/// Parses every `-l` value, stopping at the first bad one.
pub fn parse_listen_args<S: AsRef<str>>(args: &[S]) -> Result<Vec<ListenArg>, ListenArgError> {
    args.iter().map(|a| parse_listen_arg(a.as_ref())).collect()
}

/// Resolves the socket lists of a configuration (`items` in file order) plus the `-l`
/// values, as Kamailio does at startup (registration, auto-bind, per-list fixing).
pub fn build(
    items: &[Item],
    listen_args: &[ListenArg],
    opts: &Options,
    net: &dyn Network,
) -> Result<Sockets, Error> {
    let mut reg = Registrar::new(net);
    for a in &opts.aliases {
        for host in &a.hosts {
            reg.aliases.add(&alias_name(host), a.port, a.proto);
        }
    }
    for item in items {
        reg.item(item)?;
    }
    if opts.disable_tcp {
        reg.globals.tcp_disable = true;
    }
    if opts.disable_sctp {
        reg.globals.sctp_disable = 1;
    }
    if let Some(a) = opts.auto_aliases {
        reg.globals.auto_aliases = a;
    }
    for (i, arg) in listen_args.iter().enumerate() {
        reg.cmdline(i, arg)?;
    }

    // Final enable state (main.c after option parsing).
    let g = &mut reg.globals;
    if g.tcp_disable {
        g.tls_disable = true;
    }
    if g.sctp_disable != 1 {
        if opts.sctp_supported {
            g.sctp_disable = 0;
        } else if g.sctp_disable == 2 {
            g.sctp_disable = 1;
        } else {
            return Err(Error::SctpNotSupported { span: g.sctp_span });
        }
    }
    let enabled = Enabled {
        tcp: !g.tcp_disable,
        tls: !g.tls_disable,
        sctp: g.sctp_disable == 0,
    };
    if g.port_no == 0 {
        g.port_no = SIP_PORT;
    }
    if g.tls_port_no == 0 {
        g.tls_port_no = SIPS_PORT;
    }
    let children = opts
        .children
        .filter(|c| *c > 0)
        .or_else(|| u32::try_from(g.children).ok().filter(|c| *c > 0))
        .unwrap_or(CHILD_NO);

    let interfaces = net.interfaces();
    let ifs: &[InterfaceAddr] = interfaces.as_deref().unwrap_or(&[]);

    if reg.all_empty() {
        auto_bind(&mut reg, &interfaces, enabled)?;
    }

    let mut sockets = Vec::new();
    let lists = std::mem::take(&mut reg.lists);
    let mut disabled_nonempty = false;
    for (proto, list) in Proto::LISTS.into_iter().zip(lists) {
        if !enabled.has(proto) {
            disabled_nonempty |= !list.is_empty();
            continue;
        }
        let mut ctx = fix::FixCtx {
            net,
            interfaces: ifs,
            globals: &reg.globals,
            aliases: &mut reg.aliases,
            warnings: &mut reg.warnings,
        };
        sockets.extend(fix::fix_list(proto, list, &mut ctx)?);
    }
    if sockets.is_empty() {
        if !disabled_nonempty {
            return Err(Error::NoListeningSockets);
        }
        reg.warnings.push(Warning {
            kind: WarningKind::OnlyDisabledProtocols,
            span: None,
        });
    }

    for (index, s) in sockets
        .iter_mut()
        .filter(|s| s.socket_name.is_some())
        .enumerate()
    {
        s.index = Some(index);
    }

    if opts.check_local_addresses && !reg.globals.ip_free_bind {
        if let Ok(ifs) = &interfaces {
            for s in &sockets {
                if matches!(s.origin, Origin::AutoBind)
                    || s.has(Flags::VIRTUAL)
                    || s.has(Flags::ANY)
                    || s.has(Flags::MCAST)
                    || ifs.iter().any(|i| i.addr == s.address)
                {
                    continue;
                }
                reg.warnings.push(Warning {
                    kind: WarningKind::NonLocalAddress {
                        proto: s.proto,
                        address: s.address,
                    },
                    span: s.origin.span(),
                });
            }
        }
    }

    let mut warnings: Vec<Warning> = Vec::with_capacity(reg.warnings.len());
    for w in reg.warnings {
        if !warnings.contains(&w) {
            warnings.push(w);
        }
    }
    Ok(Sockets {
        sockets,
        aliases: reg.aliases,
        enabled,
        advertised_address: reg.globals.advertised_address,
        advertised_port: reg.globals.advertised_port,
        children,
        warnings,
    })
}

/// Auto-binding when no socket was configured (Kamailio's `fix_all_socket_lists` start).
fn auto_bind(
    reg: &mut Registrar<'_>,
    interfaces: &std::io::Result<Vec<InterfaceAddr>>,
    enabled: Enabled,
) -> Result<(), Error> {
    let g = &reg.globals;
    let (v4, v6, failure): (Vec<InterfaceAddr>, Vec<InterfaceAddr>, Option<String>) =
        match interfaces {
            Ok(ifs) => {
                let v4: Vec<_> = ifs.iter().filter(|i| i.addr.is_ipv4()).cloned().collect();
                let v6: Vec<_> = if g.auto_bind_ipv6 {
                    ifs.iter()
                        .filter(|i| i.addr.is_ipv6())
                        .filter(|i| {
                            !is_link_local(i.addr)
                                || (g.bind_ipv6_link_local & 1 != 0
                                    && g.bind_ipv6_link_local & 2 == 0)
                        })
                        .cloned()
                        .collect()
                } else {
                    Vec::new()
                };
                let fail = if v4.is_empty() {
                    Some("no IPv4 interface address".to_owned())
                } else if g.auto_bind_ipv6 && v6.is_empty() {
                    Some("no IPv6 interface address".to_owned())
                } else {
                    None
                };
                (v4, v6, fail)
            }
            Err(e) => (Vec::new(), Vec::new(), Some(e.to_string())),
        };
    match failure {
        None => {
            for proto in enabled.lists().filter(|p| *p != Proto::Quic) {
                for i in v4.iter().chain(&v6) {
                    let f = if i.loopback { Flags::LO } else { Flags::NONE };
                    reg.create(
                        &i.addr.to_string(),
                        Vec::new(),
                        0,
                        proto,
                        None,
                        None,
                        f,
                        Origin::AutoBind,
                    );
                }
            }
        }
        Some(reason) => {
            let Some(host) = reg.net.hostname() else {
                return Err(Error::NoHostname);
            };
            reg.warnings.push(Warning {
                kind: WarningKind::AutoBindFallback {
                    reason,
                    hostname: host.clone(),
                },
                span: None,
            });
            for proto in enabled.lists().filter(|p| *p != Proto::Quic) {
                reg.create(
                    &host,
                    Vec::new(),
                    0,
                    proto,
                    None,
                    None,
                    Flags::NONE,
                    Origin::AutoBind,
                );
            }
        }
    }
    Ok(())
}
