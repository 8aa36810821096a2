//! Kamailio's subst expressions, `/regex/replacement/flags`, shared by the `{re.subst,…}`
//! transformation and textops' `subst()` family.
//!
//! The first character is the separator (anything but `\`), and `\` before it makes it
//! part of the regex or the replacement. Flags: `i` ignores case, `g` replaces every
//! match (else the first), `s` lets `.` match a newline and `^`/`$` match only at the
//! ends of the input. Without `s` the expression is compiled as POSIX `REG_NEWLINE`
//! does: `.` stops at a newline and `^`/`$` match at line ends too. The replacement
//! understands `\0`..`\9` (the match and its groups), `\\`, `\n`, `\r`, `\t`, `\$`, `\u`
//! (the Request-URI) and pseudo-variables (`$var(x)`); any other `\c` is `c`.
//!
//! Deviations from Kamailio's POSIX regcomp: the regex crate's syntax is used
//! (leftmost-first rather than POSIX leftmost-longest alternation, no back references in
//! the regex itself).

use regex::{Regex, RegexBuilder};

use crate::pv::{self, Pv, PvName};
use crate::value::Value;

/// A compiled subst expression.
#[derive(Debug, Clone)]
pub(crate) struct Subst {
    source: String,
    re: Regex,
    repl: Vec<Piece>,
    all: bool,
}

impl PartialEq for Subst {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Subst {}

/// A piece of the replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Group(usize),
    Pv(Box<Pv>),
}

/// Parses and compiles `expr`; the error says what is wrong.
pub(crate) fn parse(expr: &str) -> Result<Subst, String> {
    let bad = |why: &str| format!("bad subst expression `{expr}`: {why}");
    let mut chars = expr.chars();
    let sep = chars.next().ok_or_else(|| bad("empty"))?;
    if sep == '\\' || expr.chars().count() < 3 {
        return Err(bad("too short or `\\` as separator"));
    }
    let body = chars.as_str();
    let re_end = find_sep(body, sep).ok_or_else(|| bad("no end of the regex"))?;
    let re_text = unescape_sep(body.get(..re_end).unwrap_or(""), sep);
    let rest = body.get(re_end + sep.len_utf8()..).unwrap_or("");
    let (repl, flags) = parse_repl(rest, sep).map_err(|e| bad(&e))?;
    let (mut icase, mut dotall, mut all) = (false, false, false);
    for f in flags.chars() {
        match f {
            'i' => icase = true,
            's' => dotall = true,
            'g' => all = true,
            _ => return Err(bad(&format!("unknown flag `{f}`"))),
        }
    }
    let re = RegexBuilder::new(&re_text)
        .case_insensitive(icase)
        .multi_line(!dotall)
        .dot_matches_new_line(dotall)
        .build()
        .map_err(|e| bad(&e.to_string()))?;
    Ok(Subst {
        source: expr.to_string(),
        re,
        repl,
        all,
    })
}

/// The offset of the first `sep` not preceded by a backslash (Kamailio's rule).
fn find_sep(s: &str, sep: char) -> Option<usize> {
    let mut prev = None;
    for (i, c) in s.char_indices() {
        if c == sep && prev != Some('\\') {
            return Some(i);
        }
        prev = Some(c);
    }
    None
}

/// The regex text with `\<sep>` turned into the separator, escaped for the regex crate.
fn unescape_sep(re: &str, sep: char) -> String {
    let mut out = String::with_capacity(re.len());
    let mut it = re.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some(n) if n == sep => out.push_str(&regex::escape(&n.to_string())),
            Some(n) => {
                out.push('\\');
                out.push(n);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The replacement up to the closing separator, and the flags after it.
fn parse_repl(s: &str, sep: char) -> Result<(Vec<Piece>, &str), String> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    while let Some(c) = s.get(i..).and_then(|r| r.chars().next()) {
        if c == sep {
            flush(&mut lit, &mut pieces);
            return Ok((pieces, s.get(i + c.len_utf8()..).unwrap_or("")));
        }
        if c == '$' {
            let len = pv_extent(s.get(i..).unwrap_or("")).ok_or("bad pseudo-variable")?;
            let text = s.get(i..i + len).unwrap_or("");
            flush(&mut lit, &mut pieces);
            pieces.push(Piece::Pv(Box::new(pv::parse(text)?)));
            i += len;
            continue;
        }
        i += c.len_utf8();
        if c != '\\' {
            lit.push(c);
            continue;
        }
        let Some(e) = s.get(i..).and_then(|r| r.chars().next()) else {
            break;
        };
        i += e.len_utf8();
        match e {
            'n' => lit.push('\n'),
            'r' => lit.push('\r'),
            't' => lit.push('\t'),
            'u' | '0'..='9' => {
                flush(&mut lit, &mut pieces);
                pieces.push(match e.to_digit(10) {
                    Some(d) => Piece::Group(d as usize),
                    None => Piece::Pv(Box::new(Pv {
                        name: PvName::Ruri,
                        index: None,
                        trans: Vec::new(),
                    })),
                });
            }
            other => lit.push(other),
        }
    }
    Err("no end of the replacement".into())
}

fn flush(lit: &mut String, pieces: &mut Vec<Piece>) {
    if !lit.is_empty() {
        pieces.push(Piece::Lit(std::mem::take(lit)));
    }
}

/// How long the pseudo-variable at the start of `s` (`$x`, `$name(…)[i]`, `$(…)`) is.
fn pv_extent(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 1;
    if b.get(i) != Some(&b'(') {
        while b
            .get(i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            i += 1;
        }
        if i == 1 {
            return None;
        }
    }
    if b.get(i) == Some(&b'(') {
        i = closing(b, i, b'(', b')')? + 1;
    }
    if b.get(i) == Some(&b'[') {
        i = closing(b, i, b'[', b']')? + 1;
    }
    Some(i)
}

/// The index of the bracket closing the one at `open`.
fn closing(b: &[u8], open: usize, o: u8, c: u8) -> Option<usize> {
    let mut depth = 0usize;
    for (i, &x) in b.iter().enumerate().skip(open) {
        if x == o {
            depth += 1;
        } else if x == c {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

impl Subst {
    /// The expression as written.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// The input with the first (or, with `g`, every) match replaced; `None` when nothing
    /// matched or a match was empty. Pseudo-variables in the replacement read as empty:
    /// use [`Subst::apply_with`] to give them values.
    #[allow(dead_code, reason = "for textops' subst() family")]
    pub(crate) fn apply(&self, input: &str) -> Option<String> {
        self.apply_with(input, &mut |_| Value::Null).ok().flatten()
    }

    /// As [`Subst::apply`], reading the replacement's pseudo-variables with `get`;
    /// `Ok(None)` when nothing matched, an error when a match is empty (Kamailio refuses
    /// those).
    pub(crate) fn apply_with(
        &self,
        input: &str,
        get: &mut dyn FnMut(&Pv) -> Value,
    ) -> Result<Option<String>, String> {
        let edits = self.edits_with(input, get)?;
        if edits.is_empty() {
            return Ok(None);
        }
        let mut out = String::with_capacity(input.len());
        let mut last = 0;
        for (range, text) in edits {
            out.push_str(input.get(last..range.start).unwrap_or(""));
            out.push_str(&text);
            last = range.end;
        }
        out.push_str(input.get(last..).unwrap_or(""));
        Ok(Some(out))
    }

    /// The matches and what replaces each, in order (textops edits the message with them);
    /// empty when nothing matched, an error when a match is empty.
    pub(crate) fn edits_with(
        &self,
        input: &str,
        get: &mut dyn FnMut(&Pv) -> Value,
    ) -> Result<Vec<(std::ops::Range<usize>, String)>, String> {
        let mut edits = Vec::new();
        for caps in self.re.captures_iter(input) {
            let Some(m) = caps.get(0) else { continue };
            if m.is_empty() {
                return Err(format!("`{}` matched an empty string", self.source));
            }
            let mut text = String::new();
            for p in &self.repl {
                match p {
                    Piece::Lit(l) => text.push_str(l),
                    Piece::Group(g) => text.push_str(caps.get(*g).map_or("", |x| x.as_str())),
                    Piece::Pv(pv) => {
                        let v = get(pv);
                        if v.is_defined() {
                            text.push_str(&v.as_str());
                        }
                    }
                }
            }
            edits.push((m.range(), text));
            if !self.all {
                break;
            }
        }
        Ok(edits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(expr: &str, input: &str) -> Option<String> {
        parse(expr).unwrap().apply(input)
    }

    #[test]
    fn first_or_all_matches() {
        assert_eq!(sub("/a/b/", "banana").as_deref(), Some("bbnana"));
        assert_eq!(sub("/a/b/g", "banana").as_deref(), Some("bbnbnb"));
        assert_eq!(sub("/x/b/g", "banana"), None);
        assert_eq!(sub("/A/-/gi", "banana").as_deref(), Some("b-n-n-"));
        assert_eq!(
            sub("/[, ]*sec-agree//gi", "100rel, Sec-Agree,timer").as_deref(),
            Some("100rel,timer")
        );
    }

    #[test]
    fn back_references_and_escapes() {
        let port = "/.*port-s=([0-9]*).*$/\\1/s";
        assert_eq!(sub(port, "a;port-s=5064;b\nx").as_deref(), Some("5064"));
        assert_eq!(sub("/(a)(b)/\\2\\1\\0/", "xaby").as_deref(), Some("xbaaby"));
        assert_eq!(sub("/b/\\\\\\t\\n/", "abc").as_deref(), Some("a\\\t\nc"));
        assert_eq!(sub("/(a)/[\\5]/", "a").as_deref(), Some("[]"));
        assert_eq!(sub("/a\\/b/x\\/y/", "-a/b-").as_deref(), Some("-x/y-"));
        assert_eq!(sub("#a/b#c#", "a/b").as_deref(), Some("c"));
        assert_eq!(sub("/a/\\$1/", "a").as_deref(), Some("$1"));
    }

    #[test]
    fn newline_handling() {
        // Without `s`: `.` stops at a newline and `$` matches at a line end.
        assert_eq!(sub("/b.*$/X/", "abc\ndef").as_deref(), Some("aX\ndef"));
        assert_eq!(sub("/^d/X/", "abc\ndef").as_deref(), Some("abc\nXef"));
        // With `s`: `.` crosses lines and `^` is the start of the input only.
        assert_eq!(sub("/b.*$/X/s", "abc\ndef").as_deref(), Some("aX"));
        assert_eq!(sub("/^d/X/s", "abc\ndef"), None);
    }

    #[test]
    fn pseudo_variables_in_the_replacement() {
        let s = parse("/@.*/@$var(host)\\u/").unwrap();
        let mut get = |p: &Pv| match &p.name {
            PvName::Var(_) => Value::Str("h".into()),
            PvName::Ruri => Value::Str("|ru".into()),
            _ => Value::Null,
        };
        assert_eq!(
            s.apply_with("bob@x", &mut get).unwrap().as_deref(),
            Some("bob@h|ru")
        );
        assert_eq!(s.apply("bob@x").as_deref(), Some("bob@"));
    }

    #[test]
    fn empty_matches_and_bad_expressions() {
        let s = parse("/x*/y/g").unwrap();
        assert!(s.apply_with("abc", &mut |_| Value::Null).is_err());
        assert_eq!(s.apply("abc"), None);
        for bad in ["", "/a", "/a/b", "\\a\\b\\", "/a/b/q", "/(/b/", "/a/$/"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse("/a/b/").unwrap().source(), "/a/b/");
    }
}
