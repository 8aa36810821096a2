//! The core's Request-URI rewriting actions (`sethost`, `sethostport`, `setuserpass`,
//! `sethostporttrans`, …): one part of a SIP URI replaced, the rest kept as written. The
//! host and port are written through [`HostPort`], so an IPv6 host keeps its brackets.

use sip_message::{HostPort, Uri};

/// Which part of the URI an action replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UriPart {
    /// `setuser`: the user (empty removes user and password).
    User,
    /// `setuserpass`: `user[:password]` (empty removes both).
    UserPass,
    /// `sethost`: the host; the port stays.
    Host,
    /// `sethostport`: `host[:port]`; no port in the value removes the port.
    HostPort,
    /// `sethostporttrans`: `host[:port]` and the `transport` parameter (taken from the
    /// value's `;transport=…`, removed when the value has none).
    HostPortTrans,
    /// `setport`: the port (empty removes it).
    Port,
}

/// The URI with `part` replaced by `value`; `None` when the URI is not a SIP URI or the value
/// does not fit the part.
pub(crate) fn rewrite(uri: &str, part: UriPart, value: &str) -> Option<String> {
    let Ok(Uri::Sip(u)) = Uri::parse(uri) else {
        return None;
    };
    let (user, password) = match part {
        UriPart::User => ((!value.is_empty()).then_some(value), u.password),
        UriPart::UserPass => match value.split_once(':') {
            _ if value.is_empty() => (None, None),
            Some((user, pass)) => (Some(user), Some(pass)),
            None => (Some(value), None),
        },
        _ => (u.user, u.password),
    };
    let (hostport_text, value_params) = match part {
        UriPart::HostPortTrans => value.split_once(';').unwrap_or((value, "")),
        _ => (value, ""),
    };
    let host_port = match part {
        UriPart::Host => {
            let hp = parse_host_port(hostport_text)?;
            HostPort::new(hp.host, u.host_port.port)
        }
        UriPart::HostPort | UriPart::HostPortTrans => parse_host_port(hostport_text)?,
        UriPart::Port if value.is_empty() => HostPort::new(u.host_port.host.clone(), None),
        UriPart::Port => HostPort::new(u.host_port.host.clone(), Some(value.trim().parse().ok()?)),
        UriPart::User | UriPart::UserPass => u.host_port.clone(),
    };
    let mut out = format!("{}:", u.scheme);
    if let Some(user) = user {
        out.push_str(user);
        if let Some(pw) = password {
            out.push(':');
            out.push_str(pw);
        }
        out.push('@');
    }
    out.push_str(&host_port.to_string());
    for p in u.params.iter() {
        if part == UriPart::HostPortTrans && p.name.eq_ignore_ascii_case("transport") {
            continue;
        }
        out.push(';');
        out.push_str(p.name);
        if let Some(v) = p.value {
            out.push('=');
            out.push_str(v);
        }
    }
    if part == UriPart::HostPortTrans {
        if let Some(t) = value_params.split(';').find(|p| {
            p.get(..10)
                .is_some_and(|n| n.eq_ignore_ascii_case("transport="))
        }) {
            out.push(';');
            out.push_str(t);
        }
    }
    if let Some(h) = u.headers {
        out.push('?');
        out.push_str(h);
    }
    Uri::parse(&out).ok()?;
    Some(out)
}

/// `host[:port]`, an IPv6 host with or without brackets.
fn parse_host_port(text: &str) -> Option<HostPort<'static>> {
    let text = text.trim();
    if let Ok(hp) = HostPort::parse(text) {
        return Some(HostPort::new(hp.host.into_owned(), hp.port));
    }
    // A bare IPv6 address (`2001:db8::1`) as scripts write it.
    let bracketed = format!("[{text}]");
    let hp = HostPort::parse(&bracketed).ok()?;
    Some(HostPort::new(hp.host.into_owned(), hp.port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_part_alone_changes() {
        let uri = "sip:bob:pw@example.com:5070;transport=tcp;lr?subject=x";
        let cases = [
            (
                UriPart::User,
                "carol",
                "sip:carol:pw@example.com:5070;transport=tcp;lr?subject=x",
            ),
            (
                UriPart::User,
                "",
                "sip:example.com:5070;transport=tcp;lr?subject=x",
            ),
            (
                UriPart::UserPass,
                "carol:secret",
                "sip:carol:secret@example.com:5070;transport=tcp;lr?subject=x",
            ),
            (
                UriPart::UserPass,
                "carol",
                "sip:carol@example.com:5070;transport=tcp;lr?subject=x",
            ),
            (
                UriPart::Host,
                "10.0.0.1",
                "sip:bob:pw@10.0.0.1:5070;transport=tcp;lr?subject=x",
            ),
            (
                UriPart::Host,
                "2001:db8::1",
                "sip:bob:pw@[2001:db8::1]:5070;transport=tcp;lr?subject=x",
            ),
            (
                UriPart::HostPort,
                "gw.example",
                "sip:bob:pw@gw.example;transport=tcp;lr?subject=x",
            ),
            (
                UriPart::HostPort,
                "[2001:db8::1]:5080",
                "sip:bob:pw@[2001:db8::1]:5080;transport=tcp;lr?subject=x",
            ),
            (
                UriPart::HostPortTrans,
                "gw.example:5061;transport=tls",
                "sip:bob:pw@gw.example:5061;lr;transport=tls?subject=x",
            ),
            (
                UriPart::HostPortTrans,
                "gw.example",
                "sip:bob:pw@gw.example;lr?subject=x",
            ),
            (
                UriPart::Port,
                "5090",
                "sip:bob:pw@example.com:5090;transport=tcp;lr?subject=x",
            ),
            (
                UriPart::Port,
                "",
                "sip:bob:pw@example.com;transport=tcp;lr?subject=x",
            ),
        ];
        for (part, value, want) in cases {
            assert_eq!(
                rewrite(uri, part, value).as_deref(),
                Some(want),
                "{part:?} {value}"
            );
        }
        assert_eq!(rewrite(uri, UriPart::Port, "http"), None);
        assert_eq!(rewrite(uri, UriPart::Host, "a b"), None);
        assert_eq!(rewrite("tel:+4930", UriPart::Host, "x"), None);
    }
}
