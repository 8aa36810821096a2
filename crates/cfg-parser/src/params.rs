//! Core global parameters: which words are parameters, what value each takes, and a "did you
//! mean" for the ones that are not.

#[path = "params_table.rs"]
mod table;

/// The value shape a parameter accepts (spec §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// A non-negative number (value words such as `yes` are numbers).
    Num,
    /// A number, optionally negative.
    SignedNum,
    /// A number used as a boolean (`yes`/`no`/`on`/`off`/`true`/`false`/`1`/`0`).
    Bool,
    /// A string.
    Str,
    /// A bare identifier.
    Ident,
    /// An identifier or a string.
    IdentOrStr,
    /// An IP address, a string or a host name.
    ListenId,
    /// A number or an identifier.
    NumOrIdent,
    /// A number or a string.
    NumOrStr,
    /// `udp`, `tcp`, `tls`, `sctp` or `*`.
    Proto,
    /// An IPv4 address.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// `SSLv23`, `SSLv2`, `SSLv3` or `TLSv1`.
    TlsMethod,
}

impl ParamType {
    /// What the type is, for messages ("a number", "a string", …).
    pub fn describe(self) -> &'static str {
        use ParamType::*;
        match self {
            Num => "a number",
            SignedNum => "a number (may be negative)",
            Bool => "a boolean (yes/no, on/off, true/false, 1/0)",
            Str => "a string",
            Ident => "an identifier",
            IdentOrStr => "an identifier or a string",
            ListenId => "an IP address, a host name or a string",
            NumOrIdent => "a number or an identifier",
            NumOrStr => "a number or a string",
            Proto => "a protocol (udp, tcp, tls, sctp or *)",
            Ipv4 => "an IPv4 address",
            Ipv6 => "an IPv6 address",
            TlsMethod => "SSLv23, SSLv2, SSLv3 or TLSv1",
        }
    }
}

/// Looks up a parameter by any of its spellings: `(canonical name, type)`.
pub fn lookup(spelling: &str) -> Option<(&'static str, ParamType)> {
    table::PARAMS
        .binary_search_by(|(s, _, _)| (*s).cmp(spelling))
        .ok()
        .map(|i| (table::PARAMS[i].1, table::PARAMS[i].2))
}

/// Every parameter spelling (aliases included).
pub fn spellings() -> impl Iterator<Item = &'static str> {
    table::PARAMS.iter().map(|(s, _, _)| *s)
}

/// The closest parameter spelling to `word`, if one is close enough to be a likely typo.
pub fn suggest(word: &str) -> Option<&'static str> {
    let extra = ["listen", "socket", "alias", "domain"];
    spellings()
        .chain(extra)
        .map(|s| (edit_distance(word, s), s))
        .filter(|(d, s)| *d <= (s.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, s)| s)
}

/// Levenshtein distance over bytes.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_alias() {
        assert_eq!(lookup("tls_log"), Some(("tls_port_no", ParamType::Num)));
        assert_eq!(lookup("debug"), Some(("debug", ParamType::SignedNum)));
        assert_eq!(lookup("listen"), None);
        assert_eq!(spellings().count(), 250);
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("chidlren"), Some("children"));
        assert_eq!(
            suggest("tcp_conection_lifetime"),
            Some("tcp_connection_lifetime")
        );
        assert_eq!(suggest("fifo"), None);
    }
}
