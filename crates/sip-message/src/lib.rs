//! # sip-message
//!
//! Zero-copy SIP message parsing, stream framing and editing (RFC 3261).
//!
//! Status: not written yet (tracked as the sip-message issue); the crate is empty on purpose.
