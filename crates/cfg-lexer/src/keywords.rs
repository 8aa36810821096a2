//! Reserved words. Every spelling in the table is a keyword token wherever a token may start,
//! so it can never be an identifier, a route name, a host label or a define name in use.

use std::fmt;

use serde::{Serialize, Serializer};

#[path = "keywords_table.rs"]
mod table;

/// A reserved word: a handle to one spelling in the keyword table.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Keyword(u16);

impl Keyword {
    /// Looks up a word; `None` if it is not reserved.
    pub fn lookup(word: &str) -> Option<Keyword> {
        match word_meaning(word) {
            Some(WordMeaning::Keyword(k)) => Some(k),
            _ => None,
        }
    }

    /// The spelling as written (`seth`, `ADVERTISE`, `tls_log`).
    pub fn spelling(self) -> &'static str {
        table::KEYWORDS[usize::from(self.0)].0
    }

    /// The canonical spelling shared by all aliases (`seth` → `rewritehost`, `ADVERTISE` →
    /// `advertise`, `tls_log` → `tls_port_no`, `status` → `uri`).
    pub fn canonical(self) -> &'static str {
        table::KEYWORDS[usize::from(self.0)].1
    }

    /// The keyword's position in the table of every reserved spelling (`0..`, in the order of
    /// [`Keyword::all`]): a key for tables of per-keyword facts.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// Whether this keyword is `canonical` under any spelling.
    pub fn is(self, canonical: &str) -> bool {
        self.canonical() == canonical
    }

    /// Every reserved spelling, sorted.
    pub fn all() -> impl Iterator<Item = Keyword> {
        (0..table::KEYWORDS.len())
            .filter_map(|i| u16::try_from(i).ok())
            .map(Keyword)
    }
}

impl fmt::Debug for Keyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spelling())
    }
}

impl Serialize for Keyword {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.spelling())
    }
}

/// What a reserved word means to the lexer.
#[derive(Clone, Copy)]
pub(crate) enum WordMeaning {
    Keyword(Keyword),
    Number(i64),
    Punct(crate::token::Punct),
}

/// Every reserved spelling in one table, built on first use: one hash lookup per word.
static WORDS: std::sync::LazyLock<rustc_hash::FxHashMap<&'static str, WordMeaning>> =
    std::sync::LazyLock::new(|| {
        use crate::token::Punct;
        let mut m = rustc_hash::FxHashMap::with_capacity_and_hasher(
            table::KEYWORDS.len() + 32,
            Default::default(),
        );
        for k in Keyword::all() {
            m.insert(k.spelling(), WordMeaning::Keyword(k));
        }
        let words: [(&[&'static str], WordMeaning); 12] = [
            (&["yes", "true", "on", "enable"], WordMeaning::Number(1)),
            (&["no", "false", "off", "disable"], WordMeaning::Number(0)),
            (
                &["inet", "INET", "ipv4", "IPv4", "IPV4"],
                WordMeaning::Number(2),
            ),
            (
                &["inet6", "INET6", "ipv6", "IPv6", "IPV6"],
                WordMeaning::Number(10),
            ),
            (&["and"], WordMeaning::Punct(Punct::AndAnd)),
            (&["or"], WordMeaning::Punct(Punct::OrOr)),
            (&["not"], WordMeaning::Punct(Punct::Not)),
            (&["mod"], WordMeaning::Punct(Punct::Mod)),
            (&["eq"], WordMeaning::Punct(Punct::StrEq)),
            (&["ne"], WordMeaning::Punct(Punct::StrNe)),
            (&["ieq"], WordMeaning::Punct(Punct::IntEq)),
            (&["ine"], WordMeaning::Punct(Punct::IntNe)),
        ];
        for (spellings, meaning) in words {
            for w in spellings {
                m.insert(*w, meaning);
            }
        }
        m
    });

/// Value words and operator words, which the scanner turns into numbers and operators, and
/// keywords.
pub(crate) fn word_meaning(word: &str) -> Option<WordMeaning> {
    WORDS.get(word).copied()
}

/// Whether a word is reserved in any way (keyword, value word or operator word).
pub fn is_reserved(word: &str) -> bool {
    word_meaning(word).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        let t = table::KEYWORDS;
        assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn aliases_share_canonical() {
        let seth = Keyword::lookup("seth").unwrap();
        assert_eq!(seth.canonical(), "rewritehost");
        assert_eq!(
            Keyword::lookup("tls_log").unwrap().canonical(),
            "tls_port_no"
        );
        assert_eq!(
            Keyword::lookup("ADVERTISE").unwrap().canonical(),
            "advertise"
        );
        assert!(Keyword::lookup("workers").is_none());
        assert!(Keyword::lookup("forwarding").is_none());
    }

    #[test]
    fn value_and_operator_words() {
        assert!(matches!(word_meaning("on"), Some(WordMeaning::Number(1))));
        assert!(matches!(
            word_meaning("IPv6"),
            Some(WordMeaning::Number(10))
        ));
        assert!(is_reserved("mod"));
        assert!(!is_reserved("modx"));
    }
}
