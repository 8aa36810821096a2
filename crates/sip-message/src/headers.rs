//! Header names (with compact forms) and parsers for the simple header values.

use crate::error::{ErrorKind, SyntaxError, SyntaxResult};
use crate::scan::{expect_token, is_word, parse_decimal, skip_lws, split_commas, unexpected};

macro_rules! header_names {
    ($( $(#[$doc:meta])* $var:ident = $name:literal $(, $compact:literal)? ;)*) => {
        /// A header field name. Known names are recognised case-insensitively in long and
        /// compact form (RFC 3261 §7.3.3 and the compact-form registry).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum HeaderName {
            $( $(#[$doc])* $var, )*
            /// Any other header; its name is in [`crate::Header::name_str`].
            Other,
        }

        impl HeaderName {
            /// Recognises a header name (long or compact form, any case).
            pub fn from_name(n: &str) -> HeaderName {
                Self::from_bytes(n.as_bytes())
            }

            /// [`HeaderName::from_name`] for the name's bytes, as a message holds them
            /// (a parser that has checked them as token characters need not check them as
            /// UTF-8 too).
            pub fn from_bytes(n: &[u8]) -> HeaderName {
                if n.len() == 1 {
                    let c = n[0].to_ascii_lowercase();
                    $( $( if c == $compact { return HeaderName::$var; } )? )*
                    return HeaderName::Other;
                }
                // Only the names of the same length are compared (one to five of them).
                let Some(bucket) = Self::BY_LEN.get(n.len()) else {
                    return HeaderName::Other;
                };
                // The first letter rules out all but (mostly) one name before a full compare.
                for &i in bucket {
                    let (Some(&(_, h)), Some(folded)) =
                        (Self::LONG.get(usize::from(i)), Self::FOLDED.get(usize::from(i)))
                    else {
                        break; // the end of the bucket
                    };
                    if folded.first_matches(n) && folded.matches(n) {
                        return h;
                    }
                }
                HeaderName::Other
            }

            /// [`HeaderName::LONG`]'s names in lower case with their case masks, for
            /// [`Folded::matches`].
            const FOLDED: &[Folded] = &[ $( Folded::new($name), )* ];

            /// Every known name in long form.
            const LONG: &[(&str, HeaderName)] = &[ $( ($name, HeaderName::$var), )* ];

            /// For each length, the indices in [`HeaderName::LONG`] of the names that long,
            /// then `u8::MAX`s. Built at compile time; a bucket that overflows fails the build.
            const BY_LEN: [[u8; 8]; NAME_LENGTHS] = {
                let mut t = [[u8::MAX; 8]; NAME_LENGTHS];
                // Indices must stay below the end marker.
                assert!(Self::LONG.len() < u8::MAX as usize);
                let mut i = 0;
                while i < Self::LONG.len() {
                    let len = Self::LONG[i].0.len();
                    let mut j = 0;
                    while t[len][j] != u8::MAX {
                        j += 1;
                    }
                    t[len][j] = i as u8;
                    i += 1;
                }
                t
            };

            /// The canonical long form (empty for [`HeaderName::Other`]).
            pub fn as_str(self) -> &'static str {
                match self {
                    $( HeaderName::$var => $name, )*
                    HeaderName::Other => "",
                }
            }
        }
    };
}

header_names! {
    /// `Via` / `v`.
    Via = "Via", b'v';
    /// `From` / `f`.
    From = "From", b'f';
    /// `To` / `t`.
    To = "To", b't';
    /// `Call-ID` / `i`.
    CallId = "Call-ID", b'i';
    /// `CSeq`.
    CSeq = "CSeq";
    /// `Contact` / `m`.
    Contact = "Contact", b'm';
    /// `Content-Length` / `l`.
    ContentLength = "Content-Length", b'l';
    /// `Content-Type` / `c`.
    ContentType = "Content-Type", b'c';
    /// `Content-Encoding` / `e`.
    ContentEncoding = "Content-Encoding", b'e';
    /// `Subject` / `s`.
    Subject = "Subject", b's';
    /// `Supported` / `k`.
    Supported = "Supported", b'k';
    /// `Event` / `o` (RFC 6665).
    Event = "Event", b'o';
    /// `Allow-Events` / `u` (RFC 6665).
    AllowEvents = "Allow-Events", b'u';
    /// `Refer-To` / `r` (RFC 3515).
    ReferTo = "Refer-To", b'r';
    /// `Accept-Contact` / `a` (RFC 3841).
    AcceptContact = "Accept-Contact", b'a';
    /// `Session-Expires` / `x` (RFC 4028).
    SessionExpires = "Session-Expires", b'x';
    /// `Identity` / `y` (RFC 8224).
    Identity = "Identity", b'y';
    /// `Referred-By` / `b` (RFC 3892).
    ReferredBy = "Referred-By", b'b';
    /// `Reject-Contact` / `j` (RFC 3841).
    RejectContact = "Reject-Contact", b'j';
    /// `Request-Disposition` / `d` (RFC 3841).
    RequestDisposition = "Request-Disposition", b'd';
    /// `Max-Forwards`.
    MaxForwards = "Max-Forwards";
    /// `Route`.
    Route = "Route";
    /// `Record-Route`.
    RecordRoute = "Record-Route";
    /// `Expires`.
    Expires = "Expires";
    /// `Allow`.
    Allow = "Allow";
    /// `Require`.
    Require = "Require";
    /// `Proxy-Require`.
    ProxyRequire = "Proxy-Require";
    /// `Unsupported`.
    Unsupported = "Unsupported";
    /// `Date`.
    Date = "Date";
    /// `Accept`.
    Accept = "Accept";
    /// `Authorization`.
    Authorization = "Authorization";
    /// `Proxy-Authorization`.
    ProxyAuthorization = "Proxy-Authorization";
}

/// The CSeq header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// Sequence number (at most 2^32-1).
    pub seq: u32,
    /// Method as written.
    pub method: &'a str,
}

impl<'a> CSeq<'a> {
    /// Parses `1*DIGIT LWS Method`.
    pub fn parse(s: &'a str) -> SyntaxResult<Self> {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let seq = parse_decimal(&s[..i], u64::from(u32::MAX))
            .map_err(|e| SyntaxError::new(e.pos, e.kind))? as u32;
        let ms = skip_lws(b, i);
        if ms == i {
            return Err(unexpected(b, i));
        }
        let me = expect_token(b, ms)?;
        if me != b.len() {
            return Err(unexpected(b, me));
        }
        Ok(CSeq {
            seq,
            method: &s[ms..me],
        })
    }
}

/// Parses Max-Forwards (`1*DIGIT`, at most 255 as RFC 4475 §3.1.2.4 expects).
pub fn parse_max_forwards(s: &str) -> SyntaxResult<u8> {
    parse_decimal(s, 255).map(|v| v as u8)
}

/// Parses Content-Length (`1*DIGIT`).
pub fn parse_content_length(s: &str) -> SyntaxResult<usize> {
    parse_decimal(s, usize::MAX as u64).map(|v| v as usize)
}

/// Parses an Expires value (`delta-seconds`, at most 2^32-1).
pub fn parse_expires(s: &str) -> SyntaxResult<u32> {
    parse_decimal(s, u64::from(u32::MAX)).map(|v| v as u32)
}

/// Validates a Call-ID (`word ["@" word]`) and returns it.
pub fn parse_call_id(s: &str) -> SyntaxResult<&str> {
    let b = s.as_bytes();
    let mut at_seen = false;
    let mut prev_sep = true;
    for (i, &c) in b.iter().enumerate() {
        if c == b'@' && !at_seen && !prev_sep {
            at_seen = true;
            prev_sep = true;
        } else if is_word(c) {
            prev_sep = false;
        } else {
            return Err(unexpected(b, i));
        }
    }
    if prev_sep {
        return Err(SyntaxError::new(b.len(), ErrorKind::HeaderValue("Call-ID")));
    }
    Ok(s)
}

/// A media type (`Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaType<'a> {
    /// Type (`application`).
    pub type_: &'a str,
    /// Subtype (`sdp`).
    pub subtype: &'a str,
    /// Parameters.
    pub params: crate::Params<'a>,
}

impl<'a> MediaType<'a> {
    /// Parses `type SWS "/" SWS subtype *(SEMI m-parameter)`.
    pub fn parse(s: &'a str) -> SyntaxResult<Self> {
        let b = s.as_bytes();
        let te = expect_token(b, 0)?;
        let sl = skip_lws(b, te);
        if b.get(sl) != Some(&b'/') {
            return Err(unexpected(b, sl));
        }
        let ss = skip_lws(b, sl + 1);
        let se = expect_token(b, ss)?;
        let params = crate::params::parse_header_params(s, se)
            .map_err(|e| SyntaxError::new(se + e.pos, e.kind))?;
        Ok(MediaType {
            type_: &s[..te],
            subtype: &s[ss..se],
            params,
        })
    }
}

/// Parses a comma-separated token list (Allow, Supported, Require, Proxy-Require,
/// Unsupported). An empty value gives an empty list; an empty element is an error.
pub fn parse_token_list<'a>(s: &'a str, out: &mut Vec<&'a str>) -> SyntaxResult<()> {
    if s.is_empty() {
        return Ok(());
    }
    for el in split_commas(s) {
        let (off, el) = el?;
        let b = el.as_bytes();
        let end = expect_token(b, 0).map_err(|e| SyntaxError::new(off + e.pos, e.kind))?;
        if end != b.len() {
            return Err(SyntaxError::new(
                off + end,
                ErrorKind::HeaderValue("token list"),
            ));
        }
        out.push(el);
    }
    Ok(())
}

/// Validates an RFC 1123 date as SIP requires (`Date: Sat, 13 Nov 2010 23:29:00 GMT`).
pub fn parse_date(s: &str) -> SyntaxResult<&str> {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let bad = || SyntaxError::new(0, ErrorKind::HeaderValue("Date"));
    let parts: Vec<&str> = s.split(' ').collect();
    let [wd, day, mon, year, time, zone] = parts.as_slice() else {
        return Err(bad());
    };
    let digits = |t: &str, n: usize| t.len() == n && t.bytes().all(|c| c.is_ascii_digit());
    let time_ok =
        time.len() == 8 && time.split(':').all(|t| digits(t, 2)) && time.split(':').count() == 3;
    let ok = wd.strip_suffix(',').is_some_and(|d| DAYS.contains(&d))
        && digits(day, 2)
        && MONTHS.contains(mon)
        && digits(year, 4)
        && time_ok
        && *zone == "GMT";
    if ok {
        Ok(s)
    } else {
        Err(bad())
    }
}

/// Known header names are shorter than this: `HeaderName::BY_LEN` has a bucket for each
/// length below it, and a [`Folded`] name holds that many bytes.
const NAME_LENGTHS: usize = 32;

/// A known header name prepared for a case-insensitive compare eight bytes at a time: its
/// bytes in lower case, and for each byte the bit that case may change (0x20 for a letter,
/// none for `-` and digits). A name `n` matches when `n | mask == lower` byte for byte,
/// which holds exactly for the name in any mix of cases and for nothing else.
struct Folded {
    len: usize,
    mask: [u8; NAME_LENGTHS],
    lower: [u8; NAME_LENGTHS],
}

impl Folded {
    const fn new(name: &'static str) -> Folded {
        let b = name.as_bytes();
        assert!(b.len() < NAME_LENGTHS);
        let mut mask = [0u8; NAME_LENGTHS];
        let mut lower = [0u8; NAME_LENGTHS];
        let mut i = 0;
        while i < b.len() {
            let c = b[i].to_ascii_lowercase();
            lower[i] = c;
            if c.is_ascii_lowercase() {
                mask[i] = 0x20;
            }
            i += 1;
        }
        Folded {
            len: b.len(),
            mask,
            lower,
        }
    }

    /// True when `n`'s first byte is the name's in either case: most names of a length
    /// differ there, so this rules them out before [`Folded::matches`].
    fn first_matches(&self, n: &[u8]) -> bool {
        n.first()
            .is_some_and(|&c| c | self.mask[0] == self.lower[0])
    }

    /// True when `n` (of the name's length, which the length buckets ensure) is this name
    /// in any case: words of eight bytes, the last one overlapping the one before.
    fn matches(&self, n: &[u8]) -> bool {
        let len = n.len();
        if len != self.len {
            return false;
        }
        let word = |b: &[u8], at: usize| -> u64 {
            b.get(at..at + 8)
                .and_then(|w| <[u8; 8]>::try_from(w).ok())
                .map_or(0, u64::from_ne_bytes)
        };
        if len < 8 {
            return n
                .iter()
                .zip(&self.mask)
                .zip(&self.lower)
                .all(|((&c, &m), &l)| c | m == l);
        }
        let same = |at: usize| word(n, at) | word(&self.mask, at) == word(&self.lower, at);
        let mut at = 0;
        while at + 8 < len {
            if !same(at) {
                return false;
            }
            at += 8;
        }
        same(len - 8)
    }
}

#[cfg(test)]
mod tests {
    use super::HeaderName;

    #[test]
    fn every_long_name_is_recognised_in_any_case() {
        assert!(!HeaderName::LONG.is_empty());
        for &(name, h) in HeaderName::LONG {
            assert_eq!(HeaderName::from_name(name), h, "{name}");
            assert_eq!(HeaderName::from_name(&name.to_uppercase()), h, "{name}");
            assert_eq!(HeaderName::from_name(&name.to_lowercase()), h, "{name}");
            assert_eq!(h.as_str(), name);
        }
    }

    #[test]
    fn a_name_with_any_one_byte_changed_is_known_only_if_the_change_was_of_case() {
        for &(name, h) in HeaderName::LONG {
            for i in 0..name.len() {
                for c in 0..=u8::MAX {
                    let mut changed = name.as_bytes().to_vec();
                    changed[i] = c;
                    let want = if c.eq_ignore_ascii_case(&name.as_bytes()[i]) {
                        h
                    } else {
                        HeaderName::Other
                    };
                    assert_eq!(HeaderName::from_bytes(&changed), want, "{changed:?}");
                    if let Ok(text) = std::str::from_utf8(&changed) {
                        assert_eq!(HeaderName::from_name(text), want, "{text:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn other_names_are_other() {
        for n in [
            "",
            "X-Foo",
            "Vias",
            "Vi",
            "Contacts",
            "Call_ID",
            &"a".repeat(40),
        ] {
            assert_eq!(HeaderName::from_name(n), HeaderName::Other, "{n}");
        }
        assert_eq!(HeaderName::from_name("v"), HeaderName::Via);
        assert_eq!(HeaderName::from_name("L"), HeaderName::ContentLength);
        assert_eq!(HeaderName::from_name("z"), HeaderName::Other);
    }
}
