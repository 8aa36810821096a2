//! `#!subst`, `#!substdef`, `#!substdefs`: sed-like rules applied to later strings.
//!
//! The argument is `<sep>regex<sep>replacement<sep>flags`, where `<sep>` is its first
//! character. Flags: `i` ignore case, `g` replace every match, `s` let `.` match a newline.
//! The replacement may use `\0`..`\9` for groups and `\n \r \t \\`.
//!
//! Kamailio uses POSIX extended regular expressions; we use the `regex` crate, whose syntax is
//! a superset of ERE for everything configs use in practice (literals, classes incl.
//! `[[:digit:]]`, groups, alternation, repetition).

use regex::{Regex, RegexBuilder};

/// One compiled rule.
#[derive(Debug, Clone)]
pub(crate) struct SubstRule {
    regex: Regex,
    /// The pattern when it is a plain word matched case-sensitively (as `#!substdef` rules
    /// usually are): a substring search tells whether it matches, for a fraction of the
    /// regex engine's set-up per string.
    literal: Option<memchr::memmem::Finder<'static>>,
    replacement: Vec<ReplPart>,
    global: bool,
    /// The pattern text (used as the define name by `#!substdef`).
    pub(crate) pattern: String,
    /// The replacement text with escapes resolved and group references kept as written.
    pub(crate) replacement_text: String,
}

#[derive(Debug, Clone, PartialEq)]
enum ReplPart {
    Lit(String),
    Group(usize),
}

/// Splits on unescaped `sep`; a `\sep` becomes `sep`, other escapes are kept.
fn split_fields(body: &str, sep: char) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek().copied() {
                Some(n) if n == sep => {
                    chars.next();
                    if let Some(f) = fields.last_mut() {
                        f.push(n);
                    }
                }
                Some(n) => {
                    chars.next();
                    if let Some(f) = fields.last_mut() {
                        f.push('\\');
                        f.push(n);
                    }
                }
                None => {
                    if let Some(f) = fields.last_mut() {
                        f.push('\\');
                    }
                }
            }
        } else if c == sep {
            fields.push(String::new());
        } else if let Some(f) = fields.last_mut() {
            f.push(c);
        }
    }
    fields
}

impl SubstRule {
    /// Parses and compiles a rule from the string argument of the directive.
    pub(crate) fn parse(arg: &str) -> Result<SubstRule, String> {
        let mut chars = arg.chars();
        let sep = chars.next().ok_or_else(|| "empty expression".to_string())?;
        if sep == '\\' || sep.is_alphanumeric() {
            return Err(format!("invalid separator {sep:?}"));
        }
        let fields = split_fields(chars.as_str(), sep);
        if fields.len() != 3 {
            return Err(format!(
                "expected {sep}regex{sep}replacement{sep}flags, found {} part(s)",
                fields.len()
            ));
        }
        let (pattern, repl, flags) = (&fields[0], &fields[1], &fields[2]);
        let mut builder = RegexBuilder::new(pattern);
        let mut global = false;
        let plain_word = !pattern.is_empty()
            && pattern
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        for f in flags.chars() {
            match f {
                'i' => {
                    builder.case_insensitive(true);
                }
                'g' => global = true,
                's' => {
                    builder.dot_matches_new_line(true);
                }
                other => return Err(format!("unknown flag {other:?}")),
            }
        }
        let regex = builder.build().map_err(|e| {
            // The regex crate's messages span several lines; keep the last (the reason).
            let full = e.to_string();
            let reason = full
                .lines()
                .last()
                .unwrap_or("")
                .trim_start_matches("error: ");
            format!("bad regular expression `{pattern}`: {reason}")
        })?;
        let replacement = parse_replacement(repl);
        let replacement_text = replacement
            .iter()
            .map(|p| match p {
                ReplPart::Lit(s) => s.clone(),
                ReplPart::Group(g) => format!("\\{g}"),
            })
            .collect();
        let literal = (plain_word && !flags.contains('i'))
            .then(|| memchr::memmem::Finder::new(pattern.as_bytes()).into_owned());
        Ok(SubstRule {
            regex,
            literal,
            replacement,
            global,
            pattern: pattern.clone(),
            replacement_text,
        })
    }

    /// Applies the rule; `None` when it does not match.
    pub(crate) fn apply(&self, input: &str) -> Option<String> {
        // Most strings match no rule: a plain search is much cheaper than setting up captures.
        let matches = match &self.literal {
            // A text shorter than the word cannot hold it: no search is set up.
            Some(word) => {
                input.len() >= word.needle().len() && word.find(input.as_bytes()).is_some()
            }
            None => self.regex.is_match(input),
        };
        if !matches {
            return None;
        }
        let mut out = String::new();
        let mut last = 0;
        let mut matched = false;
        for caps in self.regex.captures_iter(input) {
            let Some(m) = caps.get(0) else { continue };
            matched = true;
            out.push_str(&input[last..m.start()]);
            for part in &self.replacement {
                match part {
                    ReplPart::Lit(s) => out.push_str(s),
                    ReplPart::Group(g) => {
                        if let Some(gm) = caps.get(*g) {
                            out.push_str(gm.as_str());
                        }
                    }
                }
            }
            last = m.end();
            if !self.global {
                break;
            }
        }
        if !matched {
            return None;
        }
        out.push_str(&input[last..]);
        Some(out)
    }
}

fn parse_replacement(repl: &str) -> Vec<ReplPart> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut chars = repl.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            lit.push(c);
            continue;
        }
        match chars.next() {
            Some(d @ '0'..='9') => {
                if !lit.is_empty() {
                    parts.push(ReplPart::Lit(std::mem::take(&mut lit)));
                }
                parts.push(ReplPart::Group(usize::from(d as u8 - b'0')));
            }
            Some('n') => lit.push('\n'),
            Some('r') => lit.push('\r'),
            Some('t') => lit.push('\t'),
            Some(other) => lit.push(other),
            None => lit.push('\\'),
        }
    }
    if !lit.is_empty() {
        parts.push(ReplPart::Lit(lit));
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substdef_style_rule() {
        let r = SubstRule::parse("!MY_IP!10.0.0.1!g").unwrap();
        assert_eq!(r.pattern, "MY_IP");
        assert_eq!(r.replacement_text, "10.0.0.1");
        assert_eq!(
            r.apply("sip:MY_IP;x=MY_IP").unwrap(),
            "sip:10.0.0.1;x=10.0.0.1"
        );
        assert_eq!(r.apply("nothing"), None);
    }

    #[test]
    fn plain_words_are_found_by_substring_search_with_the_regex_meaning() {
        let word = SubstRule::parse("!MY_IP!x!").unwrap();
        assert!(word.literal.is_some());
        assert_eq!(word.apply("a MY_IP b MY_IP").unwrap(), "a x b MY_IP");
        assert_eq!(word.apply("my_ip"), None);
        assert_eq!(word.apply("MY_IP").unwrap(), "x");
        assert_eq!(word.apply("MY_I"), None);
        let icase = SubstRule::parse("!MY_IP!x!i").unwrap();
        assert!(icase.literal.is_none());
        assert_eq!(icase.apply("my_ip").unwrap(), "x");
        let dotted = SubstRule::parse("!a.b!x!").unwrap();
        assert!(dotted.literal.is_none());
        assert_eq!(dotted.apply("azb").unwrap(), "x");
    }

    #[test]
    fn groups_flags_and_escaped_separator() {
        let r = SubstRule::parse("/(a+)b/<\\1>/i").unwrap();
        assert_eq!(r.apply("xAAbyab").unwrap(), "x<AA>yab");
        let r = SubstRule::parse("/a\\/b/c/").unwrap();
        assert_eq!(r.apply("a/b").unwrap(), "c");
    }

    #[test]
    fn malformed_rules_are_errors() {
        assert!(SubstRule::parse("").is_err());
        assert!(SubstRule::parse("/a/b").is_err());
        assert!(SubstRule::parse("/a/b/q").is_err());
        assert!(SubstRule::parse("/(/b/").is_err());
    }
}
