//! # sip-message
//!
//! Zero-copy SIP message parsing, stream framing and editing (RFC 3261).
//!
//! * [`Message::parse`] finds the start line and every header line in one pass over the
//!   buffer. Header values are parsed only when an accessor asks for them
//!   ([`Message::top_via`], [`Message::from`], [`Message::cseq`]...), and every result
//!   borrows the received buffer.
//! * [`framing`] cuts a TCP/TLS/QUIC byte stream into messages and RFC 5626 keep-alives,
//!   with hard limits ([`Limits`]) that turn into typed errors.
//! * [`Editor`] collects edits ("lumps") against the original buffer and writes the
//!   result in one pass into one allocation; untouched parts are copied, never
//!   re-serialised.
//! * A receive loop can keep the memory of one message for the next: the header index
//!   ([`HeaderIndex`], [`Message::parse_reusing`], [`Message::recycle`]), the editor's
//!   buffers ([`EditBuffers`], [`Editor::reusing`]) and the output
//!   ([`Editor::finish_reusing`]), so that parsing and editing allocate nothing once warm.
//! * [`validate::validate_request`] checks a request the way a proxy must before
//!   forwarding (RFC 3261 §16.3, RFC 4475) and names the response code to send.
//! * [`HostPort`] is the one type that renders addresses into SIP text; its `Display`
//!   brackets IPv6 hosts, so they cannot be forgotten.
//!
//! ## Dependencies
//!
//! * `memchr`: SIMD-accelerated search for line ends and delimiters, the hot loop of the
//!   parser; it has no dependencies of its own.
//! * `thiserror`: derives `std::error::Error` for the typed errors without runtime cost.
//!
//! Nothing else is used at run time. `rsip` is a dev-dependency used only by the
//! comparison benchmark; `proptest` and `criterion` are test/bench only.
//!
//! ## Performance
//!
//! Benchmark `benches/parse.rs` against `rsip` (the table is `BENCH.md`):
//!
#![doc = include_str!("../BENCH.md")]

pub mod edit;
pub mod error;
pub mod framing;
pub mod headers;
pub mod host_port;
pub mod message;
pub mod name_addr;
pub mod params;
mod scan;
pub mod uri;
pub mod validate;
pub mod via;

#[doc(hidden)]
pub mod fuzzing;

pub use edit::{EditBuffers, EditError, Editor};
pub use error::{ErrorKind, ParseError, SyntaxError};
pub use headers::{CSeq, HeaderName, MediaType};
pub use host_port::{Host, HostPort};
pub use message::{Header, HeaderIndex, Limits, Message, NameQuery, StartLine};
pub use name_addr::{Contact, NameAddr};
pub use params::{Param, Params};
pub use uri::{percent_decode, percent_encode_param, SipUri, TelUri, Uri};
pub use via::{Rport, Via};
