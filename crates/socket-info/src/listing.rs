//! The startup listing (`Listening on` / `Aliases:`), byte for byte as Kamailio prints it.
//!
//! This is the one place where an IPv6 address is written next to a port *without*
//! brackets (`udp: ::1:5060`): Kamailio prints it so and users compare the two listings.
//! Every other host:port this crate produces goes through [`sip_message::HostPort`].

use std::fmt::Write as _;

use crate::record::{Flags, Socket, Sockets};

const INDENT: &str = "             ";

/// The listing, ending with the empty line Kamailio prints after the aliases.
pub fn listing(s: &Sockets) -> String {
    let mut out = String::from("Listening on \n");
    for proto in s.enabled.lists() {
        for sock in s.list(proto) {
            out.push_str(&socket_line(sock));
            out.push('\n');
        }
    }
    out.push_str("Aliases: \n");
    for a in s.aliases.iter() {
        let proto = a.proto.map_or("*", |p| p.as_str());
        if a.port != 0 {
            let _ = writeln!(out, "{INDENT}{proto}: {}:{}", a.name, a.port);
        } else {
            let _ = writeln!(out, "{INDENT}{proto}: {}:*", a.name);
        }
    }
    out.push('\n');
    out
}

/// One socket line including the 13-space indent, without the newline.
pub fn socket_line(si: &Socket) -> String {
    let mut l = format!("{INDENT}{}: ", si.proto);
    let flag_words = |l: &mut String| {
        for (f, w) in [
            (Flags::MCAST, " mcast"),
            (Flags::MHOMED, " mhomed"),
            (Flags::VIRTUAL, " virtual"),
        ] {
            if si.flags.contains(f) {
                l.push_str(w);
            }
        }
    };
    if !si.extra_addresses.is_empty() {
        let _ = write!(l, "({}", si.address);
        for e in &si.extra_addresses {
            let _ = write!(l, ", {}", e.address);
        }
        let _ = write!(l, "):{}", si.port);
        flag_words(&mut l);
        return l;
    }
    l.push_str(&si.name);
    if !si.flags.contains(Flags::IP) {
        let _ = write!(l, " [{}]", si.address);
    }
    let _ = write!(l, ":{}", si.port);
    flag_words(&mut l);
    if let Some(n) = &si.socket_name {
        let _ = write!(l, " name {n}");
    }
    if let Some(a) = &si.advertise {
        let _ = write!(l, " advertise {}:{}:{}", a.proto, a.name, a.port);
    }
    l
}
