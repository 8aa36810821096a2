//! The `-l` command-line value: `[proto:]addr_lst[:port][/advaddr][/socket_name]`.
//!
//! Parsing follows Kamailio's `parse_phostport` and `parse_name_lst`: up to two `:` outside
//! `[ ]` are significant; with two, the first part is a protocol and the last a port; with
//! one, a numeric tail means `host:port`, otherwise `proto:host`. `addr_lst` is one address
//! or a parenthesised list separated by `,` `;` blanks or tabs. Fields after the third `/`
//! are ignored. Whether the protocol is *enabled* is checked later, when the config's
//! enable state is known (see [`crate::build`]).

use crate::proto::Proto;

/// A parsed `-l` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenArg {
    /// The value as given.
    pub text: String,
    /// The protocol, if given.
    pub proto: Option<Proto>,
    /// The address(es); a bracketed IPv6 address keeps its brackets (as in Kamailio).
    pub hosts: Vec<String>,
    /// The addresses were given as a parenthesised list.
    pub multihomed: bool,
    /// The port; 0 when not given.
    pub port: u16,
    /// The advertise field, if given.
    pub advertise: Option<ArgAdvertise>,
    /// The socket name field, if given.
    pub name: Option<String>,
}

/// The advertise field of a `-l` value: `[proto:]addr[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgAdvertise {
    /// The protocol, if given.
    pub proto: Option<Proto>,
    /// The host as written.
    pub host: String,
    /// The port; 0 when not given.
    pub port: u16,
}

/// Which field of a `-l` value is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgField {
    /// The address part (`[proto:]addr_lst[:port]`).
    Address,
    /// The advertise part.
    Advertise,
    /// The socket name part.
    SocketName,
}

/// What is wrong with a `-l` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgErrorKind {
    /// Nothing given.
    #[error("empty value")]
    Empty,
    /// `[` inside `[ ]`, or `]` without `[`.
    #[error("too many brackets")]
    TooManyBrackets,
    /// More than two `:` outside brackets, or a trailing `:`.
    #[error("too many colons")]
    TooManyColons,
    /// Not `udp`, `tcp`, `tls` or `sctp`.
    #[error("bad protocol '{0}'")]
    BadProtocol(String),
    /// Not a number from 0 to 65535.
    #[error("bad port number '{0}'")]
    BadPort(String),
    /// An empty address or an unbalanced parenthesised list.
    #[error("bad address list")]
    BadAddressList,
    /// The protocol is disabled by the configuration.
    #[error("protocol {0} is disabled (Check disabled protocols)")]
    DisabledProtocol(Proto),
    /// An empty field (a single trailing `/`, or an empty socket name).
    #[error("empty field")]
    EmptyField,
}

/// A `-l` value that cannot be used, with the value and the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenArgError {
    /// The whole value as given.
    pub arg: String,
    /// The field at fault.
    pub field: ArgField,
    /// What is wrong.
    pub kind: ArgErrorKind,
}

impl std::fmt::Display for ListenArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.field {
            ArgField::Address => "bad -l address specifier",
            ArgField::Advertise => "listen value with invalid advertise",
            ArgField::SocketName => "listen value with invalid socket name",
        };
        write!(f, "{what}: {} ({})", self.arg, self.kind)
    }
}

impl std::error::Error for ListenArgError {}

/// Parses one `-l` value.
pub fn parse_listen_arg(arg: &str) -> Result<ListenArg, ListenArgError> {
    let err = |field, kind| ListenArgError {
        arg: arg.to_owned(),
        field,
        kind,
    };
    let fields: Vec<&str> = arg.split('/').take(3).collect();
    let addr_field = fields.first().copied().unwrap_or("");
    let mut advertise = None;
    if let Some(adv) = fields.get(1).copied() {
        if adv.is_empty() {
            if fields.len() == 2 {
                return Err(err(ArgField::Advertise, ArgErrorKind::EmptyField));
            }
        } else {
            let (proto, host, port) =
                parse_phostport(adv).map_err(|k| err(ArgField::Advertise, k))?;
            advertise = Some(ArgAdvertise {
                proto,
                host: host.to_owned(),
                port,
            });
        }
    }
    let name = match fields.get(2).copied() {
        Some("") => return Err(err(ArgField::SocketName, ArgErrorKind::EmptyField)),
        Some(n) => Some(n.to_owned()),
        None => None,
    };
    let (proto, host, port) = parse_phostport(addr_field).map_err(|k| err(ArgField::Address, k))?;
    let (hosts, multihomed) = parse_name_list(host)
        .ok_or_else(|| err(ArgField::Address, ArgErrorKind::BadAddressList))?;
    Ok(ListenArg {
        text: arg.to_owned(),
        proto,
        hosts,
        multihomed,
        port,
        advertise,
        name,
    })
}

/// `[proto:]host[:port]` → (proto, host, port); brackets are kept in `host`.
pub(crate) fn parse_phostport(s: &str) -> Result<(Option<Proto>, &str, u16), ArgErrorKind> {
    if s.is_empty() {
        return Err(ArgErrorKind::Empty);
    }
    let mut depth = 0i32;
    let mut colons = Vec::with_capacity(2);
    for (i, c) in s.char_indices() {
        match c {
            '[' => {
                depth += 1;
                if depth > 1 {
                    return Err(ArgErrorKind::TooManyBrackets);
                }
            }
            ']' => {
                depth -= 1;
                if depth < 0 {
                    return Err(ArgErrorKind::TooManyBrackets);
                }
            }
            ':' if depth == 0 => {
                if colons.len() == 2 {
                    return Err(ArgErrorKind::TooManyColons);
                }
                colons.push(i);
            }
            _ => {}
        }
    }
    if s.ends_with(':') {
        return Err(ArgErrorKind::TooManyColons);
    }
    match colons.as_slice() {
        [] => Ok((None, s, 0)),
        [first, second] => {
            let proto = parse_proto(&s[..*first])?;
            let port = parse_port(&s[second + 1..])?;
            Ok((Some(proto), &s[first + 1..*second], port))
        }
        [first, ..] => {
            let tail = &s[first + 1..];
            if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
                Ok((None, &s[..*first], parse_port(tail)?))
            } else {
                Ok((Some(parse_proto(&s[..*first])?), tail, 0))
            }
        }
    }
}

fn parse_proto(s: &str) -> Result<Proto, ArgErrorKind> {
    match Proto::from_word(s) {
        Some(p @ (Proto::Udp | Proto::Tcp | Proto::Tls | Proto::Sctp)) => Ok(p),
        _ => Err(ArgErrorKind::BadProtocol(s.to_owned())),
    }
}

fn parse_port(s: &str) -> Result<u16, ArgErrorKind> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ArgErrorKind::BadPort(s.to_owned()));
    }
    s.parse::<u16>()
        .map_err(|_| ArgErrorKind::BadPort(s.to_owned()))
}

/// `name` or `(n1, n2 n3;n4)` → names and whether it was a list.
fn parse_name_list(h: &str) -> Option<(Vec<String>, bool)> {
    let h = h.trim_matches(|c| c == ' ' || c == '\t');
    if h.is_empty() {
        return None;
    }
    if let Some(rest) = h.strip_prefix('(') {
        let inner = rest.strip_suffix(')')?;
        if inner.is_empty() {
            return None;
        }
        let names: Vec<String> = inner
            .split([',', ';', ' ', '\t'])
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        if names.is_empty() {
            return None;
        }
        return Some((names, true));
    }
    Some((vec![h.to_owned()], false))
}
