//! Typed errors: every malformed input maps to one of these, with the place where it went wrong.

use thiserror::Error;

/// What is wrong with a piece of SIP text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended before the construct was complete.
    #[error("unexpected end of input")]
    UnexpectedEnd,
    /// The message has no empty line ending the header section.
    #[error("header section is not terminated by an empty line")]
    UnterminatedHeaders,
    /// A byte that the grammar does not allow at this place.
    #[error("unexpected character {0:?}")]
    UnexpectedChar(char),
    /// The start line is neither a Request-Line nor a Status-Line.
    #[error("malformed start line: {0}")]
    StartLine(&'static str),
    /// The SIP version is not `SIP/2.0`.
    #[error("unsupported SIP version")]
    UnsupportedVersion,
    /// A status code that is not three digits in 100..=699.
    #[error("invalid status code")]
    StatusCode,
    /// A header line without a colon or with an empty / non-token name.
    #[error("malformed header line")]
    HeaderLine,
    /// The header section is not valid UTF-8.
    #[error("header section is not valid UTF-8")]
    NotUtf8,
    /// A Content-Length that is not a non-negative decimal number.
    #[error("invalid Content-Length")]
    ContentLength,
    /// Content-Length announces more octets than the datagram holds.
    #[error("body shorter than Content-Length ({declared} declared, {available} present)")]
    BodyTruncated {
        /// Declared Content-Length.
        declared: usize,
        /// Octets actually present after the header section.
        available: usize,
    },
    /// Several Content-Length header fields with different values.
    #[error("conflicting Content-Length values")]
    ConflictingContentLength,
    /// A URI that does not follow its scheme's grammar.
    #[error("malformed URI: {0}")]
    Uri(&'static str),
    /// A host or IPv6 reference that is not well-formed.
    #[error("malformed host")]
    Host,
    /// A port that is not a decimal number in 0..=65535.
    #[error("invalid port")]
    Port,
    /// An empty element in a comma-separated list, or an empty parameter.
    #[error("empty list element or parameter")]
    Empty,
    /// A quoted string without its closing quote.
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    /// A `<` without the matching `>`.
    #[error("unterminated <...>")]
    UnterminatedAngle,
    /// A malformed `%HH` escape.
    #[error("malformed %-escape")]
    Escape,
    /// A number out of the range its header allows.
    #[error("number out of range")]
    NumberRange,
    /// A header value that does not follow its grammar.
    #[error("malformed {0} header value")]
    HeaderValue(&'static str),
    /// The CSeq method differs from the Request-Line method.
    #[error("CSeq method does not match the request method")]
    CSeqMethodMismatch,
    /// More header fields than the configured limit.
    #[error("too many header fields (limit {0})")]
    TooManyHeaders(usize),
    /// The header section is larger than the configured limit.
    #[error("header section too large (limit {0} octets)")]
    HeadersTooLarge(usize),
    /// The whole message is larger than the configured limit.
    #[error("message too large (limit {0} octets)")]
    MessageTooLarge(usize),
    /// A stream message without Content-Length (mandatory on streams, RFC 3261 §18.3).
    #[error("Content-Length is mandatory on stream transports")]
    MissingContentLength,
}

/// A parse error: what went wrong ([`ErrorKind`]) and where (byte offset and 1-based line).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}, byte {offset}: {kind}")]
pub struct ParseError {
    /// What is wrong.
    pub kind: ErrorKind,
    /// Byte offset into the buffer given to the parser.
    pub offset: usize,
    /// 1-based line number of `offset`.
    pub line: usize,
}

impl ParseError {
    /// Builds an error at `offset` of `buf`, computing the line number.
    pub fn at(buf: &[u8], offset: usize, kind: ErrorKind) -> Self {
        let end = offset.min(buf.len());
        let line = 1 + memchr::memchr_iter(b'\n', &buf[..end]).count();
        ParseError { kind, offset, line }
    }
}

/// An error inside a single header value or URI, positioned relative to the text given
/// to the value parser. [`crate::Message`] accessors turn it into a [`ParseError`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("at {pos}: {kind}")]
pub struct SyntaxError {
    /// What is wrong.
    pub kind: ErrorKind,
    /// Byte position relative to the parsed text.
    pub pos: usize,
}

impl SyntaxError {
    pub(crate) fn new(pos: usize, kind: ErrorKind) -> Self {
        SyntaxError { kind, pos }
    }
}

/// Result of a value parser.
pub type SyntaxResult<T> = Result<T, SyntaxError>;
