//! Stream framing for TCP, TLS and QUIC: message boundaries by Content-Length (mandatory
//! on streams, RFC 3261 §18.3), RFC 5626 keep-alives, and hard limits.
//!
//! [`frame`] looks at the front of a buffer and says what is there; [`StreamFramer`] owns
//! a buffer, takes reads of any size and hands out frames that borrow it. After an error
//! the stream cannot be resynchronised: close the connection.

use crate::error::{ErrorKind, ParseError};
use crate::message::{Limits, Message, Mode};

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
}

impl Frame<'_> {
    /// Octets of the buffer this frame consumes.
    pub fn len(&self) -> usize {
        match self {
            Frame::Message(m) => m.consumed(),
            Frame::Ping => 4,
            Frame::Pong { len } => *len,
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
    match Message::parse_mode(buf, limits, Mode::Stream) {
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
        Err(e) => Err(e),
    }
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
