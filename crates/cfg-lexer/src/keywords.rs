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
#[derive(Clone, Copy, Debug)]
pub(crate) enum WordMeaning {
    Keyword(Keyword),
    Number(i64),
    Punct(crate::token::Punct),
}

/// Every reserved spelling in one table, built on first use.
static WORDS: std::sync::LazyLock<WordTable> = std::sync::LazyLock::new(|| {
    use crate::token::Punct;
    let mut entries: Vec<(&'static str, WordMeaning)> = Keyword::all()
        .map(|k| (k.spelling(), WordMeaning::Keyword(k)))
        .collect();
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
        entries.extend(spellings.iter().map(|w| (*w, meaning)));
    }
    WordTable::new(entries)
});

/// A fixed set of words, found by a hash of their first and last bytes and their length:
/// a word of a config is looked up in a few dozen instructions, where a general hash map
/// took about a hundred (one lookup per word of a config: 27,000 in the 20,000-line
/// benchmark file).
struct WordTable {
    /// Open addressing, linear probing: an index into `entries` plus one, 0 for empty.
    slots: Vec<u16>,
    /// Each word with its meaning and its [`Key`].
    entries: Vec<(&'static str, WordMeaning, Key)>,
    /// The length of the longest word: a longer one is not looked up.
    longest: usize,
}

/// A word's length and the numbers read from its first and last bytes: for a word of up to
/// 16 bytes these cover every byte, so equal keys mean equal words.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Key {
    len: usize,
    head: u64,
    tail: u64,
}

impl Key {
    fn of(w: &[u8]) -> Key {
        let n = w.len();
        let (head, tail) = match n {
            8.. => (read_u64(&w[..8]), read_u64(&w[n - 8..])),
            4..=7 => (
                u64::from(read_u32(&w[..4])),
                u64::from(read_u32(&w[n - 4..])),
            ),
            1..=3 => (
                u64::from(w[0]) | u64::from(w[n / 2]) << 8,
                u64::from(w[n - 1]),
            ),
            0 => (0, 0),
        };
        Key { len: n, head, tail }
    }

    /// The key's home slot.
    fn slot(self) -> usize {
        let h = (self.head ^ self.tail.rotate_left(23) ^ (self.len as u64) << 58)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> (64 - SLOT_BITS)) as usize
    }
}

/// `slots` has `1 << SLOT_BITS` entries: at least four per word, so that a probe rarely
/// goes past the first slot.
const SLOT_BITS: u32 = 11;

impl WordTable {
    fn new(words: Vec<(&'static str, WordMeaning)>) -> Self {
        assert!(
            words.len() * 4 <= 1 << SLOT_BITS,
            "the word table is too full"
        );
        let mut slots = vec![0u16; 1 << SLOT_BITS];
        let mut entries = Vec::with_capacity(words.len());
        for (i, (word, meaning)) in words.into_iter().enumerate() {
            let key = Key::of(word.as_bytes());
            let mut at = key.slot();
            while slots[at] != 0 {
                at = (at + 1) & ((1 << SLOT_BITS) - 1);
            }
            slots[at] = u16::try_from(i + 1).expect("fewer than 65,535 words");
            entries.push((word, meaning, key));
        }
        let longest = entries.iter().map(|(w, ..)| w.len()).max().unwrap_or(0);
        WordTable {
            slots,
            entries,
            longest,
        }
    }

    fn get(&self, word: &str) -> Option<WordMeaning> {
        if word.len() > self.longest {
            return None;
        }
        let key = Key::of(word.as_bytes());
        let mut at = key.slot();
        loop {
            let i = usize::from(*self.slots.get(at)?);
            let (spelling, meaning, k) = self.entries.get(i.checked_sub(1)?)?;
            if *k == key && (key.len <= 16 || *spelling == word) {
                return Some(*meaning);
            }
            at = (at + 1) & ((1 << SLOT_BITS) - 1);
        }
    }
}

/// The first 8 bytes of `b` (at least 8 long) as a number.
fn read_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// The first 4 bytes of `b` (at least 4 long) as a number.
fn read_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

/// Value words and operator words, which the scanner turns into numbers and operators, and
/// keywords.
pub(crate) fn word_meaning(word: &str) -> Option<WordMeaning> {
    WORDS.get(word)
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
    fn every_word_is_found_and_no_other() {
        for (i, (word, ..)) in WORDS.entries.iter().enumerate() {
            let found = WORDS.get(word).map(|m| format!("{m:?}"));
            assert_eq!(found, Some(format!("{:?}", WORDS.entries[i].1)), "{word}");
            // The same bytes less one, plus one, or with one changed are not words (unless
            // they are another word of the table).
            let near = [
                word[..word.len() - 1].to_string(),
                format!("{word}x"),
                format!("x{}", &word[1..]),
                format!("{}_", &word[..word.len() - 1]),
            ];
            // A long word's middle is not in its key: one changed there is still told apart.
            let mut middle = word.to_string().into_bytes();
            middle[word.len() / 2] ^= 0x20;
            let middle = String::from_utf8(middle).unwrap_or_default();
            for n in near.into_iter().chain([middle]) {
                let listed = WORDS.entries.iter().any(|(w, ..)| *w == n);
                assert_eq!(WORDS.get(&n).is_some(), listed, "{n}");
            }
        }
        // The hash spreads the words: most are found in their home slot.
        let home = WORDS
            .entries
            .iter()
            .filter(|(w, ..)| {
                let i = usize::from(WORDS.slots[Key::of(w.as_bytes()).slot()]);
                WORDS.entries[i - 1].0 == *w
            })
            .count();
        assert!(
            home * 5 >= WORDS.entries.len() * 4,
            "{home} words in their home slot"
        );
        let spellings: std::collections::HashSet<_> =
            WORDS.entries.iter().map(|(w, ..)| *w).collect();
        assert_eq!(
            spellings.len(),
            WORDS.entries.len(),
            "a spelling is listed twice"
        );
        for other in [
            "",
            "x",
            "loadmodul",
            "event_routes",
            &"a".repeat(100),
            "é",
            "routé",
        ] {
            assert!(WORDS.get(other).is_none(), "{other}");
        }
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
