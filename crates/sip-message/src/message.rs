//! The message: one pass over the start line and header lines, lazy access to values.

use crate::error::{ErrorKind, ParseError, SyntaxError, SyntaxResult};
use crate::headers::{self, CSeq, HeaderName, MediaType};
use crate::name_addr::{self, Contact, NameAddr};
use crate::scan::{is_wsp, scan_token, split_commas, trim_end_lws, trim_lws};
use crate::uri::Uri;
use crate::via::Via;

/// Hard limits applied while parsing and framing; exceeding one is a typed error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest header section (start line + headers + empty line), in octets.
    pub max_header_size: usize,
    /// Largest message (header section + body), in octets.
    pub max_message_size: usize,
    /// Largest number of header lines.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_size: 16 * 1024,
            max_message_size: 64 * 1024,
            max_headers: 256,
        }
    }
}

/// The first line of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `Method SP Request-URI SP SIP-Version`.
    Request {
        /// Method token as written.
        method: &'a str,
        /// Request-URI text (parse it with [`Message::request_uri`]).
        uri: &'a str,
        /// Version as written.
        version: &'a str,
    },
    /// `SIP-Version SP Status-Code SP Reason-Phrase`.
    Response {
        /// Version as written.
        version: &'a str,
        /// Status code (100..=699).
        code: u16,
        /// Reason phrase (may be empty).
        reason: &'a str,
    },
}

/// One header line (folded continuation lines included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// Recognised name.
    pub name: HeaderName,
    name_str: &'a str,
    value: &'a str,
    // 32-bit offsets keep a header at 48 bytes, so that the index of a message with up to
    // 20 header fields is one small allocation (see `parse_mode`).
    line_start: u32,
    line_end: u32,
}

impl<'a> Header<'a> {
    /// The name as written (`v`, `VIA`, `X-Foo`).
    pub fn name_str(&self) -> &'a str {
        self.name_str
    }

    /// The raw value, trimmed of LWS; folded lines keep their inner CRLF.
    pub fn value(&self) -> &'a str {
        self.value
    }

    /// Byte range of the whole line(s) in the parsed buffer, line end included.
    pub fn line_range(&self) -> std::ops::Range<usize> {
        self.line_start as usize..self.line_end as usize
    }

    /// True if the header has this name (for [`HeaderName::Other`], compares the text). To
    /// test many headers against one name, recognise it once with [`NameQuery`].
    pub fn is(&self, name: &str) -> bool {
        NameQuery::new(name).matches(self)
    }
}

/// A header name to look for, recognised once: testing a header line against it is then an
/// enum compare (a case-insensitive text compare only for names without a [`HeaderName`]).
/// Searches over all header lines use it instead of [`Header::is`], which recognises the
/// name anew for every line.
#[derive(Debug, Clone, Copy)]
pub struct NameQuery<'n> {
    name: HeaderName,
    text: &'n str,
}

impl<'n> NameQuery<'n> {
    /// Recognises `text` (long or compact form, any case).
    pub fn new(text: &'n str) -> Self {
        NameQuery {
            name: HeaderName::from_name(text),
            text,
        }
    }

    /// Whether header line `h` has this name.
    pub fn matches(&self, h: &Header<'_>) -> bool {
        if self.name == HeaderName::Other {
            h.name == HeaderName::Other && h.name_str.eq_ignore_ascii_case(self.text)
        } else {
            h.name == self.name
        }
    }
}

/// A parsed SIP message borrowing the received buffer.
///
/// Parsing locates the start line and every header line in one pass; values are parsed on
/// demand by the accessors and return slices of the buffer.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    buf: &'a [u8],
    start: usize,
    start_line: StartLine<'a>,
    start_line_end: usize,
    headers: Vec<Header<'a>>,
    headers_end: usize,
    body_start: usize,
    end: usize,
    content_length: Option<usize>,
    cl_conflict: bool,
    /// The topmost Via, parsed on first use: a proxy reads it several times per message.
    /// (A `OnceLock`, not a `OnceCell`, so that a `Message` stays `Sync`.)
    top_via: std::sync::OnceLock<Result<Option<Via<'a>>, ParseError>>,
}

/// The memory of a message's header index, kept between messages:
/// [`Message::parse_reusing`] builds the next message's index in it and
/// [`Message::recycle`] gives it back. Empty (no memory) by default.
#[derive(Debug, Default)]
pub struct HeaderIndex(Vec<Header<'static>>);

impl HeaderIndex {
    /// The most headers whose room is kept (6 KiB).
    pub const KEPT: usize = 128;
}

/// `v` emptied and typed for headers of another lifetime, in the same memory (an in-place
/// collect of nothing: the standard library keeps the allocation when the element type has
/// the same size and alignment, which `tests/allocations.rs` of core-routing holds).
// The `filter_map` is what changes the element type; its closure never runs.
#[allow(clippy::unnecessary_filter_map)]
fn relabel<'x, 'y>(mut v: Vec<Header<'x>>) -> Vec<Header<'y>> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

pub(crate) enum Mode {
    Datagram,
    Stream,
}

fn err(buf: &[u8], at: usize, kind: ErrorKind) -> ParseError {
    ParseError::at(buf, at, kind)
}

fn parse_start_line<'a>(
    buf: &'a [u8],
    at: usize,
    line: &'a str,
) -> Result<StartLine<'a>, ParseError> {
    let b = line.as_bytes();
    if b.len() >= 4 && b[..4].eq_ignore_ascii_case(b"SIP/") {
        let sp = memchr::memchr(b' ', b)
            .ok_or_else(|| err(buf, at, ErrorKind::StartLine("no status code")))?;
        let version = &line[..sp];
        let rest = &b[sp + 1..];
        let code_len = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        if code_len != 3 || rest.get(3).is_some_and(|&c| c != b' ') {
            return Err(err(buf, at + sp + 1, ErrorKind::StatusCode));
        }
        let code = u16::from(rest[0] - b'0') * 100
            + u16::from(rest[1] - b'0') * 10
            + u16::from(rest[2] - b'0');
        if !(100..=699).contains(&code) {
            return Err(err(buf, at + sp + 1, ErrorKind::StatusCode));
        }
        let reason = line.get(sp + 5..).unwrap_or("");
        return Ok(StartLine::Response {
            version,
            code,
            reason,
        });
    }
    let me = crate::scan::scan_token(b, 0);
    if me == 0 || b.get(me) != Some(&b' ') {
        return Err(err(buf, at + me, ErrorKind::StartLine("bad method")));
    }
    let us = me + 1;
    let ue = memchr::memchr(b' ', &b[us..])
        .map(|p| p + us)
        .ok_or_else(|| err(buf, at + us, ErrorKind::StartLine("no SIP version")))?;
    if ue == us {
        return Err(err(
            buf,
            at + us,
            ErrorKind::StartLine("extra space before Request-URI"),
        ));
    }
    let version = &line[ue + 1..];
    let vb = version.as_bytes();
    if vb.len() < 5 || !vb[..4].eq_ignore_ascii_case(b"SIP/") {
        return Err(err(
            buf,
            at + ue + 1,
            ErrorKind::StartLine("bad SIP version"),
        ));
    }
    if let Some(p) = vb
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'/' | b'.')))
    {
        return Err(err(
            buf,
            at + ue + 1 + p,
            ErrorKind::StartLine("junk after SIP version"),
        ));
    }
    Ok(StartLine::Request {
        method: &line[..me],
        uri: &line[us..ue],
        version,
    })
}

impl<'a> Message<'a> {
    /// Parses a datagram (UDP): the body is framed by Content-Length when present, else it
    /// is the rest of the datagram; octets after the body are ignored.
    pub fn parse(buf: &'a [u8]) -> Result<Self, ParseError> {
        Self::parse_with(buf, &Limits::default())
    }

    /// [`Message::parse`] with explicit limits.
    pub fn parse_with(buf: &'a [u8], limits: &Limits) -> Result<Self, ParseError> {
        Self::parse_mode(buf, limits, Mode::Datagram)
    }

    /// [`Message::parse`] in the memory of a header index kept from an earlier message
    /// (see [`HeaderIndex`]): a relay that gives each message's index back with
    /// [`Message::recycle`] allocates none once it is large enough. A message that does not
    /// parse leaves `index` empty (its memory is freed with the error).
    pub fn parse_reusing(buf: &'a [u8], index: &mut HeaderIndex) -> Result<Self, ParseError> {
        Self::parse_mode_reusing(buf, &Limits::default(), Mode::Datagram, index)
    }

    /// Gives the memory of this message's header index to `index`, for the next
    /// [`Message::parse_reusing`]. An index grown past [`HeaderIndex::KEPT`] headers (a
    /// peer's message of hundreds of header lines) is freed instead, so that one such
    /// message does not hold memory for good.
    pub fn recycle(self, index: &mut HeaderIndex) {
        if self.headers.capacity() <= HeaderIndex::KEPT {
            index.0 = relabel(self.headers);
        }
    }

    pub(crate) fn parse_mode(
        buf: &'a [u8],
        limits: &Limits,
        mode: Mode,
    ) -> Result<Self, ParseError> {
        Self::parse_mode_reusing(buf, limits, mode, &mut HeaderIndex::default())
    }

    /// [`Message::parse_mode`] with the header index built in `index`'s memory (see
    /// [`Message::parse_reusing`]).
    pub(crate) fn parse_mode_reusing(
        buf: &'a [u8],
        limits: &Limits,
        mode: Mode,
        index: &mut HeaderIndex,
    ) -> Result<Self, ParseError> {
        let mut headers = relabel(std::mem::take(&mut index.0));
        let mut start = 0;
        while start < buf.len() && matches!(buf[start], b'\r' | b'\n') {
            start += 1;
        }
        // Common case: the text is UTF-8 from the start line on, header section and body
        // (SIP bodies are text), so one check of its first `UTF8_AHEAD` octets covers every
        // header; each piece is then a slice of it. Only a piece beyond the text checked
        // (a large header section, a binary body before it ends) is checked on its own.
        let ahead = &buf[start..buf.len().min(start + UTF8_AHEAD)];
        let head: &'a str = match std::str::from_utf8(ahead) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(&ahead[..e.valid_up_to()]).unwrap_or_default(),
        };
        let line_of = |s: usize, e: usize| -> Result<&'a str, ParseError> {
            if let Some(t) = head.get(s - start..e - start) {
                return Ok(t);
            }
            std::str::from_utf8(&buf[s..e])
                .map_err(|u| err(buf, s + u.valid_up_to(), ErrorKind::NotUtf8))
        };
        let too_big = |pos: usize| pos - start > limits.max_header_size;
        let nl = memchr::memchr(b'\n', &buf[start..])
            .map(|p| p + start)
            .ok_or_else(|| {
                if too_big(buf.len()) {
                    err(
                        buf,
                        buf.len(),
                        ErrorKind::HeadersTooLarge(limits.max_header_size),
                    )
                } else {
                    err(buf, buf.len(), ErrorKind::UnterminatedHeaders)
                }
            })?;
        let ce = if nl > start && buf[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        let start_line = parse_start_line(buf, start, line_of(start, ce)?)?;
        let start_line_end = nl + 1;
        // 20 headers of 48 bytes: under glibc's 1 KiB "large request" line, which would
        // consolidate the freed small chunks first (seen at 2% of the TCP relay's CPU), and
        // within its per-thread cache. A longer message grows the index once. (A recycled
        // index keeps the room it has; `relabel` emptied it.)
        headers.reserve(20);
        // Where the last header's value starts, for a folded line that continues it.
        let mut value_start = 0;
        // A value that is not UTF-8 is reported where the header's last line ends, after
        // the checks of the line that follows it (as when each header was read whole).
        let mut bad_value: Option<ParseError> = None;
        let mut pos = start_line_end;
        let headers_end;
        loop {
            let Some(nl) = memchr::memchr(b'\n', &buf[pos..]).map(|p| p + pos) else {
                let kind = if too_big(buf.len()) {
                    ErrorKind::HeadersTooLarge(limits.max_header_size)
                } else {
                    ErrorKind::UnterminatedHeaders
                };
                return Err(err(buf, buf.len(), kind));
            };
            if too_big(nl) {
                return Err(err(
                    buf,
                    pos,
                    ErrorKind::HeadersTooLarge(limits.max_header_size),
                ));
            }
            let ce = if nl > pos && buf[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            if ce != pos && is_wsp(buf[pos]) {
                // A folded line: the last header's value goes on here, trimmed as a whole.
                let h = headers
                    .last_mut()
                    .ok_or_else(|| err(buf, pos, ErrorKind::HeaderLine))?;
                match line_of(value_start, ce) {
                    Ok(v) => h.value = trim_lws(v).1,
                    Err(e) => bad_value = Some(e),
                }
                h.line_end = offset(buf, nl + 1)?;
                pos = nl + 1;
                continue;
            }
            if let Some(e) = bad_value {
                return Err(e);
            }
            if ce == pos {
                headers_end = pos;
                pos = nl + 1;
                break;
            }
            if headers.len() >= limits.max_headers {
                return Err(err(buf, pos, ErrorKind::TooManyHeaders(limits.max_headers)));
            }
            let line = &buf[pos..ce];
            // `token *WSP ":"` in one pass: the name ends at the first byte that is not a
            // token character, and only blanks may stand between it and the colon.
            let ne = scan_token(line, 0);
            let colon = ne + line[ne..].iter().take_while(|&&c| is_wsp(c)).count();
            if ne == 0 || line.get(colon) != Some(&b':') {
                return Err(err(buf, pos, ErrorKind::HeaderLine));
            }
            // The value without the blanks around it (a folded line trims it again).
            value_start = pos + colon + 1;
            let vs = value_start + line[colon + 1..].iter().take_while(|&&c| is_wsp(c)).count();
            let value = line_of(vs, trim_end_lws(buf, vs, ce)).unwrap_or_else(|e| {
                bad_value = Some(e);
                ""
            });
            headers.push(Header {
                name: HeaderName::from_bytes(&line[..ne]),
                name_str: line_of(pos, pos + ne)?,
                value,
                line_start: offset(buf, pos)?,
                line_end: offset(buf, nl + 1)?,
            });
            pos = nl + 1;
        }
        let body_start = pos;
        // Content-Length, from the values as folded: a bad one is reported after any other
        // error of the header section, differing ones are a conflict.
        let mut content_length = None;
        let mut cl_conflict = false;
        for h in headers
            .iter()
            .filter(|h| h.name == HeaderName::ContentLength)
        {
            match headers::parse_content_length(h.value) {
                Ok(n) => {
                    cl_conflict |= content_length.is_some_and(|c| c != n);
                    content_length.get_or_insert(n);
                }
                Err(_) => {
                    // At the value as written: right after the colon.
                    let line = &buf[h.line_range()];
                    let colon = memchr::memchr(b':', line).map_or(0, |c| c + 1);
                    return Err(err(
                        buf,
                        h.line_start as usize + colon,
                        ErrorKind::ContentLength,
                    ));
                }
            }
        }
        let available = buf.len() - body_start;
        let end = match (mode, content_length) {
            (Mode::Datagram, _) if cl_conflict => buf.len(),
            (Mode::Datagram, None) => buf.len(),
            (Mode::Stream, None) => {
                return Err(err(buf, body_start, ErrorKind::MissingContentLength))
            }
            (Mode::Stream, Some(_)) if cl_conflict => {
                return Err(err(buf, body_start, ErrorKind::ConflictingContentLength))
            }
            (_, Some(n)) => {
                if body_start - start + n > limits.max_message_size {
                    return Err(err(
                        buf,
                        body_start,
                        ErrorKind::MessageTooLarge(limits.max_message_size),
                    ));
                }
                if n > available {
                    return Err(err(
                        buf,
                        body_start,
                        ErrorKind::BodyTruncated {
                            declared: n,
                            available,
                        },
                    ));
                }
                body_start + n
            }
        };
        if end - start > limits.max_message_size {
            return Err(err(
                buf,
                body_start,
                ErrorKind::MessageTooLarge(limits.max_message_size),
            ));
        }
        Ok(Message {
            buf,
            start,
            start_line,
            start_line_end,
            headers,
            headers_end,
            body_start,
            end,
            content_length,
            cl_conflict,
            top_via: std::sync::OnceLock::new(),
        })
    }
}

/// How far past a message's start its text is checked as UTF-8 in one piece: a datagram's
/// header section and body, or the front of a stream buffer that may hold more messages
/// (which a check to the end would read again for each of them).
const UTF8_AHEAD: usize = 4096;

/// A position in a parsed buffer as the 32-bit offset a [`Header`] keeps.
fn offset(buf: &[u8], at: usize) -> Result<u32, ParseError> {
    u32::try_from(at).map_err(|_| err(buf, at, ErrorKind::HeadersTooLarge(u32::MAX as usize)))
}

impl<'a> Message<'a> {
    fn pos_of(&self, s: &str) -> usize {
        (s.as_ptr() as usize).saturating_sub(self.buf.as_ptr() as usize)
    }

    /// Turns an error inside `within` (a slice of this message) into a [`ParseError`].
    pub fn error_in(&self, within: &str, e: SyntaxError) -> ParseError {
        ParseError::at(self.buf, self.pos_of(within) + e.pos, e.kind)
    }

    /// The start line.
    pub fn start_line(&self) -> &StartLine<'a> {
        &self.start_line
    }

    /// True for requests.
    pub fn is_request(&self) -> bool {
        matches!(self.start_line, StartLine::Request { .. })
    }

    /// The request method (`None` for responses).
    pub fn method(&self) -> Option<&'a str> {
        match self.start_line {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code (`None` for requests).
    pub fn status_code(&self) -> Option<u16> {
        match self.start_line {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The SIP version as written.
    pub fn version(&self) -> &'a str {
        match self.start_line {
            StartLine::Request { version, .. } | StartLine::Response { version, .. } => version,
        }
    }

    /// The Request-URI text (`None` for responses).
    pub fn request_uri_str(&self) -> Option<&'a str> {
        match self.start_line {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// Parses the Request-URI (`Ok(None)` for responses). URI headers (`?h=v`) are not
    /// allowed in a Request-URI (RFC 3261 §19.1.1) and are an error here.
    pub fn request_uri(&self) -> Result<Option<Uri<'a>>, ParseError> {
        let Some(s) = self.request_uri_str() else {
            return Ok(None);
        };
        let uri = Uri::parse(s).map_err(|e| self.error_in(s, e))?;
        if let Uri::Sip(u) = &uri {
            if let Some(h) = u.headers {
                return Err(self.error_in(
                    s,
                    SyntaxError::new(
                        crate::scan::offset_in(s, h),
                        ErrorKind::Uri("headers in Request-URI"),
                    ),
                ));
            }
        }
        Ok(Some(uri))
    }

    /// All header lines in order.
    pub fn headers(&self) -> &[Header<'a>] {
        &self.headers
    }

    /// Header lines with this recognised name.
    pub fn headers_named(&self, name: HeaderName) -> impl Iterator<Item = &Header<'a>> + '_ {
        self.headers.iter().filter(move |h| h.name == name)
    }

    /// The first header line with this recognised name.
    pub fn header(&self, name: HeaderName) -> Option<&Header<'a>> {
        self.headers.iter().find(|h| h.name == name)
    }

    /// The first header whose name matches `name` (long/compact form, any case).
    pub fn header_str(&self, name: &str) -> Option<&Header<'a>> {
        self.headers_called(name).next()
    }

    /// Every header line named `name` (long/compact form, any case), top first; the name is
    /// recognised once, not per line.
    pub fn headers_called<'s, 'n>(
        &'s self,
        name: &'n str,
    ) -> impl DoubleEndedIterator<Item = &'s Header<'a>> + use<'s, 'n, 'a> {
        let q = NameQuery::new(name);
        self.headers.iter().filter(move |h| q.matches(h))
    }

    /// Every Via value, top first, across lines and commas; each parsed on iteration.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'a>, ParseError>> + '_ {
        self.headers_named(HeaderName::Via)
            .flat_map(move |h| split_commas(h.value).map(move |el| self.via_element(h.value, el)))
    }

    /// One element of the Via value `value`, as [`split_commas`] gave it, parsed.
    fn via_element(
        &self,
        value: &'a str,
        el: SyntaxResult<(usize, &'a str)>,
    ) -> Result<Via<'a>, ParseError> {
        let (off, el) = el.map_err(|e| self.error_in(value, e))?;
        if el.is_empty() {
            return Err(self.error_in(value, SyntaxError::new(off, ErrorKind::Empty)));
        }
        Via::parse(el).map_err(|e| self.error_in(el, e))
    }

    /// The topmost Via value (parses only that one, once: later calls return a copy).
    pub fn top_via(&self) -> Result<Option<Via<'a>>, ParseError> {
        self.top_via
            .get_or_init(|| {
                // The first element of the first Via line: what `vias()` gives first (a
                // value, even an empty one, has a first element), without the iterator.
                let Some(h) = self.header(HeaderName::Via) else {
                    return Ok(None);
                };
                let first = split_commas(h.value).next().unwrap_or(Ok((0, "")));
                self.via_element(h.value, first).map(Some)
            })
            .clone()
    }

    fn single_name_addr(&self, name: HeaderName) -> Result<Option<NameAddr<'a>>, ParseError> {
        let Some(h) = self.header(name) else {
            return Ok(None);
        };
        NameAddr::parse(h.value)
            .map(Some)
            .map_err(|e| self.error_in(h.value, e))
    }

    /// The From value.
    pub fn from(&self) -> Result<Option<NameAddr<'a>>, ParseError> {
        self.single_name_addr(HeaderName::From)
    }

    /// The To value.
    pub fn to(&self) -> Result<Option<NameAddr<'a>>, ParseError> {
        self.single_name_addr(HeaderName::To)
    }

    /// The Call-ID value (validated as `word ["@" word]`).
    pub fn call_id(&self) -> Result<Option<&'a str>, ParseError> {
        let Some(h) = self.header(HeaderName::CallId) else {
            return Ok(None);
        };
        headers::parse_call_id(h.value)
            .map(Some)
            .map_err(|e| self.error_in(h.value, e))
    }

    /// The CSeq value.
    pub fn cseq(&self) -> Result<Option<CSeq<'a>>, ParseError> {
        let Some(h) = self.header(HeaderName::CSeq) else {
            return Ok(None);
        };
        CSeq::parse(h.value)
            .map(Some)
            .map_err(|e| self.error_in(h.value, e))
    }

    /// The Max-Forwards value.
    pub fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        let Some(h) = self.header(HeaderName::MaxForwards) else {
            return Ok(None);
        };
        headers::parse_max_forwards(h.value)
            .map(Some)
            .map_err(|e| self.error_in(h.value, e))
    }

    /// The Content-Length value (already parsed while framing).
    pub fn content_length(&self) -> Option<usize> {
        self.content_length
    }

    /// True when several Content-Length headers disagree (RFC 4475 `mcl01`).
    pub fn has_conflicting_content_length(&self) -> bool {
        self.cl_conflict
    }

    /// The Content-Type value.
    pub fn content_type(&self) -> Result<Option<MediaType<'a>>, ParseError> {
        let Some(h) = self.header(HeaderName::ContentType) else {
            return Ok(None);
        };
        MediaType::parse(h.value)
            .map(Some)
            .map_err(|e| self.error_in(h.value, e))
    }

    /// The Expires value.
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        let Some(h) = self.header(HeaderName::Expires) else {
            return Ok(None);
        };
        headers::parse_expires(h.value)
            .map(Some)
            .map_err(|e| self.error_in(h.value, e))
    }

    fn name_addr_list(&self, name: HeaderName) -> Result<Vec<NameAddr<'a>>, ParseError> {
        let mut out = Vec::new();
        for h in self.headers_named(name) {
            name_addr::parse_list(h.value, &mut out).map_err(|e| self.error_in(h.value, e))?;
        }
        Ok(out)
    }

    /// Every Contact value (`*` gives [`Contact::Star`]).
    pub fn contacts(&self) -> Result<Vec<Contact<'a>>, ParseError> {
        let mut out = Vec::new();
        for h in self.headers_named(HeaderName::Contact) {
            if h.value == "*" {
                out.push(Contact::Star);
                continue;
            }
            let mut v = Vec::new();
            name_addr::parse_list(h.value, &mut v).map_err(|e| self.error_in(h.value, e))?;
            out.extend(v.into_iter().map(Contact::Addr));
        }
        Ok(out)
    }

    /// Every Route value, top first.
    pub fn routes(&self) -> Result<Vec<NameAddr<'a>>, ParseError> {
        self.name_addr_list(HeaderName::Route)
    }

    /// Every Record-Route value, top first.
    pub fn record_routes(&self) -> Result<Vec<NameAddr<'a>>, ParseError> {
        self.name_addr_list(HeaderName::RecordRoute)
    }

    /// The tokens of a list header (Allow, Supported, Require, Proxy-Require...), across
    /// all its lines.
    pub fn token_list(&self, name: HeaderName) -> Result<Vec<&'a str>, ParseError> {
        let mut out = Vec::new();
        for h in self.headers_named(name) {
            headers::parse_token_list(h.value, &mut out).map_err(|e| self.error_in(h.value, e))?;
        }
        Ok(out)
    }

    /// The body.
    pub fn body(&self) -> &'a [u8] {
        &self.buf[self.body_start..self.end]
    }

    /// The message octets exactly as received (leading CRLFs and trailing octets excluded).
    pub fn as_bytes(&self) -> &'a [u8] {
        &self.buf[self.start..self.end]
    }

    /// Octets of the input consumed by this message (leading CRLFs included).
    pub fn consumed(&self) -> usize {
        self.end
    }

    /// The whole input buffer given to the parser.
    pub(crate) fn buffer(&self) -> &'a [u8] {
        self.buf
    }

    /// Offset of the first header line (just after the start line).
    pub(crate) fn start_line_end(&self) -> usize {
        self.start_line_end
    }

    /// Offset of the empty line that ends the header section.
    pub(crate) fn headers_end(&self) -> usize {
        self.headers_end
    }

    /// Offset of the start line.
    pub(crate) fn start(&self) -> usize {
        self.start
    }

    /// Offset where the message ends.
    pub(crate) fn end(&self) -> usize {
        self.end
    }

    /// Byte offset of `s` (a slice of this message) in the buffer.
    pub(crate) fn offset_of(&self, s: &str) -> usize {
        self.pos_of(s)
    }

    /// Parses every known header and the Request-URI, and checks the cross-header rules
    /// a proxy relies on: SIP/2.0, CSeq method equal to the request method, numbers in
    /// range, well-formed Date. The first problem is returned as a typed error.
    pub fn check_syntax(&self) -> Result<(), ParseError> {
        if !self.version().eq_ignore_ascii_case("SIP/2.0") {
            let at = self.pos_of(self.version());
            return Err(ParseError::at(self.buf, at, ErrorKind::UnsupportedVersion));
        }
        self.request_uri()?;
        for h in &self.headers {
            let v = h.value;
            let map = |e: SyntaxError| self.error_in(v, e);
            match h.name {
                HeaderName::Via => {
                    for el in split_commas(v) {
                        let (off, el) = el.map_err(map)?;
                        if el.is_empty() {
                            return Err(map(SyntaxError::new(off, ErrorKind::Empty)));
                        }
                        Via::parse(el).map_err(|e| self.error_in(el, e))?;
                    }
                }
                HeaderName::From | HeaderName::To => {
                    NameAddr::parse(v).map_err(map)?;
                }
                HeaderName::Contact if v == "*" => {}
                HeaderName::Contact | HeaderName::Route | HeaderName::RecordRoute => {
                    let mut out = Vec::new();
                    name_addr::parse_list(v, &mut out).map_err(map)?;
                    for na in &out {
                        if let Some(exp) = na.params.get("expires").flatten() {
                            headers::parse_expires(exp).map_err(|e| self.error_in(exp, e))?;
                        }
                    }
                }
                HeaderName::CallId => {
                    headers::parse_call_id(v).map_err(map)?;
                }
                HeaderName::CSeq => {
                    let c = CSeq::parse(v).map_err(map)?;
                    if let Some(m) = self.method() {
                        if c.method != m {
                            let at = self.pos_of(c.method);
                            return Err(ParseError::at(
                                self.buf,
                                at,
                                ErrorKind::CSeqMethodMismatch,
                            ));
                        }
                    }
                }
                HeaderName::MaxForwards => {
                    headers::parse_max_forwards(v).map_err(map)?;
                }
                HeaderName::Expires => {
                    headers::parse_expires(v).map_err(map)?;
                }
                HeaderName::ContentType => {
                    MediaType::parse(v).map_err(map)?;
                }
                HeaderName::Date => {
                    headers::parse_date(v).map_err(map)?;
                }
                HeaderName::Allow
                | HeaderName::Supported
                | HeaderName::Require
                | HeaderName::ProxyRequire
                | HeaderName::Unsupported => {
                    headers::parse_token_list(v, &mut Vec::new()).map_err(map)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{HeaderIndex, Message};
    use crate::error::ErrorKind;
    use crate::scan::trim_lws;
    use proptest::prelude::*;

    /// An OPTIONS request with `n` extra header lines.
    fn with_headers(n: usize) -> Vec<u8> {
        let mut m = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n".to_vec();
        for i in 0..n {
            m.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
        }
        m.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        m
    }

    #[test]
    fn a_recycled_index_is_kept_unless_it_grew_past_the_bound() {
        let mut index = HeaderIndex::default();
        let small = with_headers(10);
        let m = Message::parse_reusing(&small, &mut index).expect("parses");
        m.recycle(&mut index);
        let kept = index.0.capacity();
        assert!(kept >= 12, "{kept}");
        // Parsing in it again keeps the same room.
        let m = Message::parse_reusing(&small, &mut index).expect("parses");
        m.recycle(&mut index);
        assert_eq!(index.0.capacity(), kept);
        // A message of many header lines: its index is freed, not kept.
        let large = with_headers(HeaderIndex::KEPT + 50);
        let m = Message::parse_reusing(&large, &mut index).expect("parses");
        assert_eq!(m.headers().len(), HeaderIndex::KEPT + 52);
        m.recycle(&mut index);
        assert_eq!(index.0.capacity(), 0);
    }

    /// A header value that is not UTF-8 is reported once its header has ended, so an error
    /// in the line that follows it comes first, as when each header was read whole.
    #[test]
    fn a_bad_value_is_reported_after_the_next_line_is_read() {
        let limits = super::Limits {
            max_header_size: 40,
            ..super::Limits::default()
        };
        let text = b"SIP/2.0 200 OK\r\nTo: \xff\r\nMax-Forwards: 70 70 70 70\r\n\r\n";
        let e = Message::parse_with(text, &limits).err();
        assert_eq!(e.map(|e| e.kind), Some(ErrorKind::HeadersTooLarge(40)));
        let e = Message::parse(text).err().map(|e| (e.kind, e.offset));
        assert_eq!(e, Some((ErrorKind::NotUtf8, 20)));
        // In a folded value, at its first bad byte, wherever that is.
        let folded = b"SIP/2.0 200 OK\r\nTo: a\r\n b\xfe\r\n\r\n";
        let e = Message::parse(folded).err().map(|e| (e.kind, e.offset));
        assert_eq!(e, Some((ErrorKind::NotUtf8, 25)));
    }

    /// The text is checked as UTF-8 once up to `UTF8_AHEAD` octets; a header beyond that,
    /// one with a character across that point and a binary body read as before.
    #[test]
    fn headers_past_the_text_checked_at_once_read_the_same() {
        let start = "OPTIONS sip:a@b SIP/2.0\r\nX-Pad: ";
        for pad in super::UTF8_AHEAD - start.len() - 4..super::UTF8_AHEAD - start.len() + 2 {
            let text = format!("{start}{}\r\nX-B: é-ü\r\nTo: é\r\n\r\n", "a".repeat(pad));
            let msg = Message::parse(text.as_bytes()).expect("parses");
            assert_eq!(
                msg.header_str("X-B").map(|h| h.value()),
                Some("é-ü"),
                "{pad}"
            );
            assert_eq!(msg.header_str("To").map(|h| h.value()), Some("é"), "{pad}");
            let mut bad = text.into_bytes();
            let at = bad.len() - 6;
            bad[at] = 0xff;
            let e = Message::parse(&bad).err().map(|e| (e.kind, e.offset));
            assert_eq!(e, Some((ErrorKind::NotUtf8, at)), "{pad}");
        }
        let mut binary = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\n".to_vec();
        binary.extend_from_slice(&[0xff, 0xfe, 0x00]);
        let msg = Message::parse(&binary).expect("parses");
        assert_eq!(msg.body(), &[0xff, 0xfe, 0x00]);
        assert_eq!(msg.content_length(), Some(3));
    }

    proptest! {
        /// `top_via` reads the first Via line's first element itself; it is what the
        /// iterator over all Vias gives first (an error, none, or the same Via).
        #[test]
        fn the_top_via_is_the_first_of_the_vias(
            lines in prop::collection::vec(prop::sample::select(vec![
                "Via: SIP/2.0/UDP a;branch=z9hG4bK1",
                "Via: SIP/2.0/UDP b:5070, SIP/2.0/TCP c",
                "v: SIP/2.0/UDP d;x=\"a,b\"",
                "Via:",
                "Via: , SIP/2.0/UDP e",
                "Via: SIP/2.0/UDP f;x=\"open",
                "Via: bad",
                "To: <sip:a@b>",
            ]), 0..4),
        ) {
            let text = format!("OPTIONS sip:a@b SIP/2.0\r\n{}\r\n\r\n", lines.join("\r\n"));
            let Ok(msg) = Message::parse(text.as_bytes()) else {
                return Ok(());
            };
            prop_assert_eq!(msg.top_via(), msg.vias().next().transpose());
        }

        /// The header loop's own trimming gives what `trim_lws` gives for the value as
        /// written, folded lines and blank ends included.
        #[test]
        fn a_value_is_trimmed_as_trim_lws_trims_it(
            raw in "[ \t]{0,2}(\r\n[ \t])?[a-z \t]{0,6}(\r\n[ \t]{1,2}[a-z]{0,3})?[ \t]{0,2}"
        ) {
            let text = format!("OPTIONS sip:a@b SIP/2.0\r\nX-Y:{raw}\r\nMax-Forwards: 70\r\n\r\n");
            let msg = Message::parse(text.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let h = msg.header_str("X-Y").ok_or_else(|| TestCaseError::fail("no X-Y"))?;
            prop_assert_eq!(h.value(), trim_lws(&raw).1);
        }

        /// A header line is `token *WSP ":" value`, read as a search for the first colon
        /// reads it: the name is what precedes the colon, less trailing blanks, and must be
        /// a non-empty token; any other line is refused.
        #[test]
        fn a_header_name_is_a_token_then_blanks_then_a_colon(
            name in "[A-Za-z-]{0,3}[ \t:;@]{0,2}[A-Za-z]{0,2}[ \t]{0,1}"
        ) {
            let line = format!("{name}: 0");
            let colon = line.find(':').ok_or_else(|| TestCaseError::fail("no colon"))?;
            let want = line[..colon].trim_end_matches([' ', '\t']);
            // `l` is Content-Length, whose value the parse reads (`l:: 0` is refused for it).
            prop_assume!(!want.eq_ignore_ascii_case("l"));
            let valid = !want.is_empty() && want.bytes().all(crate::scan::is_token);
            let text = format!("OPTIONS sip:a@b SIP/2.0\r\n{line}\r\n\r\n");
            let parsed = Message::parse(text.as_bytes());
            prop_assert_eq!(parsed.is_ok(), valid, "{:?}", name);
            if let Ok(msg) = parsed {
                let h = msg.headers().first().ok_or_else(|| TestCaseError::fail("no header"))?;
                prop_assert_eq!(h.name_str(), want);
            }
        }
    }
}
