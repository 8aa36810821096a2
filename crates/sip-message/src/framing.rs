//! Stream framing for TCP, TLS and QUIC: message boundaries by Content-Length (mandatory
//! on streams, RFC 3261 §18.3), RFC 5626 keep-alives, and hard limits.
//!
//! [`frame`] looks at the front of a buffer and says what is there; [`StreamFramer`] owns
//! a buffer, takes reads of any size and hands out frames that borrow it. A message that
//! does not parse but whose end is still certain (its header section ends and it has exactly
//! one valid Content-Length) is a [`Frame::Malformed`]: it can be answered with a 400 and the
//! stream goes on. After an error the stream cannot be resynchronised: close the connection.

use crate::error::{ErrorKind, ParseError};
use crate::message::{HeaderIndex, Limits, Message, Mode};

/// Which keep-alive this side expects (RFC 5626 §3.5.1): servers receive the CRLFCRLF
/// ping, clients receive the CRLF pong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeepAliveRole {
    /// A lone CRLF may be the start of a ping: wait for two more octets.
    #[default]
    Server,
    /// A lone CRLF is a pong.
    Client,
}

/// What the front of a stream buffer holds.
// A frame is matched as soon as it is returned, once per message; boxing the message would
// cost an allocation per message to save a move of a few hundred bytes.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Frame<'a> {
    /// A complete message.
    Message(Message<'a>),
    /// A CRLFCRLF keep-alive ping; answer with a CRLF pong.
    Ping,
    /// A CRLF keep-alive pong (or a stray line end between messages); `len` octets.
    Pong {
        /// Octets consumed (2 for CRLF, 1 for a bare LF).
        len: usize,
    },
    /// Not enough data yet.
    Incomplete,
    /// A message that does not parse, but whose length is certain (terminated header
    /// section, one valid Content-Length): the stream stays in sync after it.
    Malformed {
        /// Octets the message occupies.
        len: usize,
        /// Why it does not parse.
        error: ParseError,
    },
}

impl Frame<'_> {
    /// Octets of the buffer this frame consumes.
    pub fn len(&self) -> usize {
        match self {
            Frame::Message(m) => m.consumed(),
            Frame::Ping => 4,
            Frame::Pong { len } | Frame::Malformed { len, .. } => *len,
            Frame::Incomplete => 0,
        }
    }

    /// True for [`Frame::Incomplete`].
    pub fn is_empty(&self) -> bool {
        matches!(self, Frame::Incomplete)
    }
}

/// Frames the front of `buf`.
pub fn frame<'a>(
    buf: &'a [u8],
    limits: &Limits,
    role: KeepAliveRole,
) -> Result<Frame<'a>, ParseError> {
    frame_reusing(buf, limits, role, &mut HeaderIndex::default())
}

/// [`frame`] with a message's header index built in `index`'s memory, as
/// [`Message::parse_reusing`] does: give a framed message's index back with
/// [`Message::recycle`]. (A message not complete yet takes the memory with its error.)
pub fn frame_reusing<'a>(
    buf: &'a [u8],
    limits: &Limits,
    role: KeepAliveRole,
    index: &mut HeaderIndex,
) -> Result<Frame<'a>, ParseError> {
    match buf {
        [] | [b'\r'] | [b'\r', b'\n', b'\r'] => return Ok(Frame::Incomplete),
        [b'\r', b'\n', b'\r', b'\n', ..] => return Ok(Frame::Ping),
        [b'\r', b'\n'] => {
            return Ok(match role {
                KeepAliveRole::Server => Frame::Incomplete,
                KeepAliveRole::Client => Frame::Pong { len: 2 },
            })
        }
        [b'\r', b'\n', ..] => return Ok(Frame::Pong { len: 2 }),
        [b'\n', ..] => return Ok(Frame::Pong { len: 1 }),
        [b'\r', ..] => return Err(ParseError::at(buf, 0, ErrorKind::UnexpectedChar('\r'))),
        _ => {}
    }
    match Message::parse_mode_reusing(buf, limits, Mode::Stream, index) {
        Ok(m) => Ok(Frame::Message(m)),
        Err(e)
            if matches!(
                e.kind,
                ErrorKind::UnterminatedHeaders | ErrorKind::BodyTruncated { .. }
            ) =>
        {
            if buf.len() >= limits.max_message_size {
                Err(ParseError::at(
                    buf,
                    buf.len(),
                    ErrorKind::MessageTooLarge(limits.max_message_size),
                ))
            } else {
                Ok(Frame::Incomplete)
            }
        }
        Err(e) => malformed(buf, limits, e),
    }
}

/// How long the frame at the front of a stream buffer is: what [`frame_extent`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extent {
    /// A message of `len` octets whose end is certain (the parser that receives it decides
    /// whether it is well-formed).
    Message(usize),
    /// A message of `len` octets that [`frame`] parsed and found malformed (its end is
    /// still certain); the error says why.
    Malformed {
        /// Octets the message occupies.
        len: usize,
        /// Why it does not parse.
        error: ParseError,
    },
    /// A CRLFCRLF keep-alive ping (4 octets); answer with a CRLF pong.
    Ping,
    /// A CRLF keep-alive pong (or a stray line end): `len` octets.
    Pong(usize),
    /// Not enough data yet.
    Incomplete,
}

/// What [`frame`] says of the front of `buf`, by length only, for a reader that hands the
/// message to a parser of its own (a proxy's transport: the router parses every message
/// anyway). A message whose header section is complete, text only and within the header
/// limit, with exactly one all-digit Content-Length within the message limit, is measured
/// without being parsed; anything else goes through [`frame`]. Either way the verdict
/// (incomplete, a message of so many octets, a keep-alive, or an error that must close the
/// stream) is [`frame`]'s: a test holds the two together over the torture corpora, every
/// prefix of their messages and generated streams.
pub fn frame_extent(
    buf: &[u8],
    limits: &Limits,
    role: KeepAliveRole,
) -> Result<Extent, ParseError> {
    if buf.first().is_some_and(u8::is_ascii_alphabetic) {
        let head_end =
            crate::scan::find_blank_line(buf).filter(|&h| h + 4 <= limits.max_header_size);
        // Every line end a CRLF: a bare LF line end could end the header section (at an
        // empty line) before the CRLFCRLF found here.
        let measurable = |h: &usize| !has_binary(&buf[..*h]) && crlf_only(&buf[..*h]);
        if let Some(h) = head_end.filter(measurable) {
            if let Some(len) = certain_length(buf, h).filter(|&l| l <= limits.max_message_size) {
                return Ok(if len > buf.len() {
                    Extent::Incomplete
                } else {
                    Extent::Message(len)
                });
            }
        }
    }
    Ok(match frame(buf, limits, role)? {
        Frame::Message(m) => Extent::Message(m.consumed()),
        Frame::Malformed { len, error } => Extent::Malformed { len, error },
        Frame::Ping => Extent::Ping,
        Frame::Pong { len } => Extent::Pong(len),
        Frame::Incomplete => Extent::Incomplete,
    })
}

/// Whether every LF in `head` ends a CRLF.
fn crlf_only(head: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', head).all(|i| i > 0 && head[i - 1] == b'\r')
}

/// Control octets other than CR, LF and HT: binary data, not a SIP header section.
fn has_binary(head: &[u8]) -> bool {
    // Without short-circuits, so that the compiler can test many octets at a time.
    head.iter().fold(false, |bad, &b| {
        let control = (b < 0x20) | (b == 0x7f);
        let line_or_tab = (b == b'\r') | (b == b'\n') | (b == b'\t');
        bad | (control & !line_or_tab)
    })
}

/// A message that does not parse: wait for the end of its header section (text only, within
/// the header limit), then deliver it as [`Frame::Malformed`] if its length is certain, else
/// fail. The answer never depends on how the bytes were split into reads.
fn malformed<'a>(buf: &'a [u8], limits: &Limits, e: ParseError) -> Result<Frame<'a>, ParseError> {
    let head_end = crate::scan::find_blank_line(buf);
    let head = &buf[..head_end.unwrap_or(buf.len())];
    // Binary bytes (a TLS hello on a TCP port, garbage) end the stream at once.
    if has_binary(head) {
        return Err(e);
    }
    let Some(head_end) = head_end.filter(|&h| h + 4 <= limits.max_header_size) else {
        return if buf.len() >= limits.max_header_size {
            Err(e)
        } else {
            Ok(Frame::Incomplete)
        };
    };
    match certain_length(buf, head_end) {
        Some(len) if len > limits.max_message_size => Err(ParseError::at(
            buf,
            buf.len(),
            ErrorKind::MessageTooLarge(limits.max_message_size),
        )),
        Some(len) if len > buf.len() => Ok(Frame::Incomplete),
        Some(len) => Ok(Frame::Malformed { len, error: e }),
        None => Err(e),
    }
}

/// The length of a message that does not parse, when its end is still certain: exactly one
/// `Content-Length`/`l` header in the header section (ending at `head_end`) holds only digits.
fn certain_length(buf: &[u8], head_end: usize) -> Option<usize> {
    let head = &buf[..head_end];
    let mut found = None;
    // Every line after the start line; folded lines (leading SP/HT) are not headers.
    let mut start = memchr::memchr(b'\n', head)? + 1;
    loop {
        let end = memchr::memchr(b'\n', &head[start..]).map_or(head.len(), |p| start + p);
        let line = &head[start..end];
        // Only a line whose name starts with `c` or `l` can be one (a cheap test first).
        let named_c_or_l = matches!(
            line.iter().find(|b| !b.is_ascii_whitespace()),
            Some(b'c' | b'C' | b'l' | b'L')
        );
        if named_c_or_l && !matches!(line.first(), Some(b' ' | b'\t')) {
            if let Some(colon) = memchr::memchr(b':', line) {
                let name = line[..colon].trim_ascii();
                if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
                    if found.is_some() {
                        return None;
                    }
                    found = Some(line[colon + 1..].trim_ascii());
                }
            }
        }
        if end == head.len() {
            break;
        }
        start = end + 1;
    }
    let value = found?;
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let body: usize = std::str::from_utf8(value).ok()?.parse().ok()?;
    (head_end + 4).checked_add(body)
}

/// A stream buffer: push reads, pull frames.
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
    consumed: usize,
    limits: Limits,
    role: KeepAliveRole,
}

impl StreamFramer {
    /// A framer with the given limits and keep-alive role.
    pub fn new(limits: Limits, role: KeepAliveRole) -> Self {
        StreamFramer {
            buf: Vec::new(),
            consumed: 0,
            limits,
            role,
        }
    }

    /// Appends received octets. Call [`StreamFramer::next_frame`] until it returns `None`
    /// after each push; the limits then bound the buffer.
    pub fn push(&mut self, data: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(data);
    }

    fn compact(&mut self) {
        if self.consumed > 0 {
            self.buf.drain(..self.consumed);
            self.consumed = 0;
        }
    }

    /// Octets buffered and not yet handed out.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.consumed
    }

    /// The next complete frame, or `None` when more data is needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, ParseError> {
        self.compact();
        let f = frame(&self.buf, &self.limits, self.role)?;
        if f.is_empty() {
            return Ok(None);
        }
        self.consumed = f.len();
        Ok(Some(f))
    }
}

#[cfg(test)]
mod tests {
    use super::certain_length;
    use proptest::prelude::*;

    /// `certain_length` as first written (split, filter, one pass per line): the reference.
    fn reference(buf: &[u8], head_end: usize) -> Option<usize> {
        let head = &buf[..head_end];
        let mut lengths = head
            .split(|&b| b == b'\n')
            .skip(1)
            .filter(|line| !matches!(line.first(), Some(b' ' | b'\t')))
            .filter_map(|line| {
                let colon = line.iter().position(|&b| b == b':')?;
                let name = line[..colon].trim_ascii();
                (name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l"))
                    .then(|| line[colon + 1..].trim_ascii())
            });
        let value = lengths.next()?;
        if lengths.next().is_some() || value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let body: usize = std::str::from_utf8(value).ok()?.parse().ok()?;
        (head_end + 4).checked_add(body)
    }

    fn line() -> impl Strategy<Value = &'static [u8]> {
        prop::sample::select(vec![
            &b"INVITE sip:a SIP/2.0"[..],
            b"Content-Length: 12",
            b"content-length:7",
            b"  Content-Length : 3 ",
            b"\rl: 4",
            b"L:",
            b"l: 5x",
            b"Contact: <sip:c>",
            b"Call-ID: l",
            b"lmn: 1",
            b" l: 9",
            b"\tContent-Length: 9",
            b"\x0cl: 2",
            b"Content-Length: 99999999999999999999999",
            b"",
            b"\r",
            b"x: l:",
        ])
    }

    proptest! {
        #[test]
        fn certain_length_agrees_with_its_reference(
            lines in prop::collection::vec(line(), 0..8),
            crlf in any::<bool>(),
        ) {
            let mut head = lines.join(if crlf { &b"\r\n"[..] } else { &b"\n"[..] });
            let head_end = head.len();
            head.extend_from_slice(b"\r\n\r\n");
            prop_assert_eq!(certain_length(&head, head_end), reference(&head, head_end));
        }
    }
}
