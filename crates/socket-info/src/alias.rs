//! Host aliases: names (with optional protocol and port) that count as "myself".

use serde::Serialize;

use crate::proto::Proto;

/// One alias: `[proto:]name[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alias {
    /// The name as written or found by the resolver.
    pub name: String,
    /// The port; 0 matches any port.
    pub port: u16,
    /// The protocol; `None` matches any protocol.
    pub proto: Option<Proto>,
}

/// The alias list, most recently added first (the order Kamailio prints it in).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Aliases {
    entries: Vec<Alias>,
}

impl Aliases {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// The aliases, most recent first.
    pub fn iter(&self) -> impl Iterator<Item = &Alias> {
        self.entries.iter()
    }

    /// Number of aliases.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds an alias unless it is already covered (Kamailio's `add_alias`): with both port
    /// and protocol given, any matching alias (wildcards included) covers it; otherwise only
    /// an identical entry does. Returns whether it was added.
    pub fn add(&mut self, name: &str, port: u16, proto: Option<Proto>) -> bool {
        let covered = if port != 0 && proto.is_some() {
            self.matches(name, port, proto)
        } else {
            self.entries
                .iter()
                .any(|a| a.port == port && a.proto == proto && a.name.eq_ignore_ascii_case(name))
        };
        if covered {
            return false;
        }
        self.entries.insert(
            0,
            Alias {
                name: name.to_owned(),
                port,
                proto,
            },
        );
        true
    }

    /// Whether `name` (an IPv6 reference may be bracketed) with `port` (0 = any) and `proto`
    /// (`None` = any) is an alias (Kamailio's `grep_aliases`).
    pub fn matches(&self, name: &str, port: u16, proto: Option<Proto>) -> bool {
        let name = strip_brackets(name);
        self.entries.iter().any(|a| {
            (a.port == 0 || port == 0 || a.port == port)
                && (a.proto.is_none() || proto.is_none() || a.proto == proto)
                && a.name.eq_ignore_ascii_case(name)
        })
    }
}

/// `[x]` → `x` when longer than two characters, else the text unchanged.
pub(crate) fn strip_brackets(s: &str) -> &str {
    if s.len() > 2 {
        if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            return inner;
        }
    }
    s
}
