//! Character classes and small scanners shared by the value parsers (RFC 3261 §25.1).

use crate::error::{ErrorKind, SyntaxError, SyntaxResult};

const fn class_table(extra: &[u8], alnum: bool) -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = alnum && b.is_ascii_alphanumeric();
        c += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

static TOKEN: [bool; 256] = class_table(b"-.!%*_+`'~", true);
static WORD: [bool; 256] = class_table(b"-.!%*_+`'~()<>:\\\"/[]?{}", true);

/// Where the first empty line (`CRLF CRLF`) starts. The searcher is built once: building
/// one per message showed in the relay profile.
pub(crate) fn find_blank_line(buf: &[u8]) -> Option<usize> {
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\r\n\r\n"));
    FINDER.find(buf)
}

/// `token` characters: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~".
#[inline]
pub(crate) fn is_token(b: u8) -> bool {
    TOKEN[usize::from(b)]
}

/// `word` characters (Call-ID): token characters plus `( ) < > : \ " / [ ] ? { }`.
#[inline]
pub(crate) fn is_word(b: u8) -> bool {
    WORD[usize::from(b)]
}

/// `unreserved` = alphanum / mark.
pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

/// True for SP and HTAB.
pub(crate) fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Skips linear white space (SP, HTAB and folded line ends `CRLF 1*WSP`) from `i`.
pub(crate) fn skip_lws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() {
        match s[i] {
            b' ' | b'\t' => i += 1,
            b'\r' if s.get(i + 1) == Some(&b'\n') && s.get(i + 2).is_some_and(|&c| is_wsp(c)) => {
                i += 3
            }
            b'\n' if s.get(i + 1).is_some_and(|&c| is_wsp(c)) => i += 2,
            _ => break,
        }
    }
    i
}

/// Trims LWS from both ends of `s`; returns the start offset and the trimmed text.
pub(crate) fn trim_lws(s: &str) -> (usize, &str) {
    let b = s.as_bytes();
    let start = skip_lws(b, 0);
    let end = trim_end_lws(b, start, b.len());
    (start, &s[start..end])
}

/// The end of `b[start..end]` without its trailing SP, HTAB, CR and LF (never before
/// `start`): the right-hand half of [`trim_lws`], for a caller that holds bytes.
pub(crate) fn trim_end_lws(b: &[u8], start: usize, mut end: usize) -> usize {
    while end > start && matches!(b[end - 1], b' ' | b'\t' | b'\r' | b'\n') {
        end -= 1;
    }
    end
}

/// Scans a run of token characters from `i`; returns its end.
pub(crate) fn scan_token(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_token(s[i]) {
        i += 1;
    }
    i
}

/// Expects a non-empty token at `i`; returns its end.
pub(crate) fn expect_token(s: &[u8], i: usize) -> SyntaxResult<usize> {
    let end = scan_token(s, i);
    if end == i {
        Err(unexpected(s, i))
    } else {
        Ok(end)
    }
}

/// Scans a quoted string whose opening `"` is at `i`; returns the index after the closing `"`.
pub(crate) fn scan_quoted(s: &[u8], i: usize) -> SyntaxResult<usize> {
    let mut j = i + 1;
    while j < s.len() {
        match s[j] {
            b'"' => return Ok(j + 1),
            b'\\' => {
                if j + 1 >= s.len() {
                    break;
                }
                j += 2;
            }
            _ => j += 1,
        }
    }
    Err(SyntaxError::new(i, ErrorKind::UnterminatedQuote))
}

/// The error for an unexpected byte (or end of input) at `i`.
pub(crate) fn unexpected(s: &[u8], i: usize) -> SyntaxError {
    match s.get(i) {
        Some(&b) => SyntaxError::new(i, ErrorKind::UnexpectedChar(b as char)),
        None => SyntaxError::new(i, ErrorKind::UnexpectedEnd),
    }
}

/// Parses an unsigned decimal number that fits `max`, allowing leading zeros.
pub(crate) fn parse_decimal(s: &str, max: u64) -> SyntaxResult<u64> {
    if s.is_empty() {
        return Err(SyntaxError::new(0, ErrorKind::UnexpectedEnd));
    }
    let mut v: u64 = 0;
    for (i, b) in s.bytes().enumerate() {
        if !b.is_ascii_digit() {
            return Err(SyntaxError::new(i, ErrorKind::UnexpectedChar(b as char)));
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .filter(|&v| v <= max)
            .ok_or(SyntaxError::new(0, ErrorKind::NumberRange))?;
    }
    Ok(v)
}

/// Splits a header value at top-level commas (not inside quotes or `<>`).
///
/// Yields `(offset, element)` with the element trimmed of LWS; an element may be empty.
pub(crate) fn split_commas(s: &str) -> CommaSplit<'_> {
    CommaSplit {
        s,
        pos: 0,
        done: false,
    }
}

/// Iterator returned by [`split_commas`].
pub(crate) struct CommaSplit<'a> {
    s: &'a str,
    pos: usize,
    done: bool,
}

impl<'a> Iterator for CommaSplit<'a> {
    type Item = SyntaxResult<(usize, &'a str)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let b = self.s.as_bytes();
        let start = self.pos;
        let mut i = start;
        let mut angle = false;
        // Jump between the octets that matter: `"` always, `,` and `<` outside `<…>`, `>`
        // inside it.
        loop {
            let rest = b.get(i..).unwrap_or(&[]);
            let next = if angle {
                memchr::memchr2(b'>', b'"', rest)
            } else {
                memchr::memchr3(b',', b'"', b'<', rest)
            };
            let Some(k) = next else {
                i = b.len();
                break;
            };
            i += k;
            match b[i] {
                b'"' => match scan_quoted(b, i) {
                    Ok(end) => {
                        i = end;
                        continue;
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                },
                b'<' => angle = true,
                b'>' => angle = false,
                _ => break, // a `,` outside `<…>`
            }
            i += 1;
        }
        if angle {
            self.done = true;
            return Some(Err(SyntaxError::new(start, ErrorKind::UnterminatedAngle)));
        }
        if i >= b.len() {
            self.done = true;
        }
        self.pos = i + 1;
        let (off, el) = trim_lws(&self.s[start..i]);
        Some(Ok((start + off, el)))
    }
}

/// Byte offset of `sub` inside `base`; `sub` must be a sub-slice of `base`.
pub(crate) fn offset_in(base: &str, sub: &str) -> usize {
    (sub.as_ptr() as usize).saturating_sub(base.as_ptr() as usize)
}
