//! Editing for proxies: edits ("lumps", as Kamailio calls them) are collected against the
//! original buffer and the output is built in one pass into one allocation. Untouched
//! octets are copied as received.
//!
//! Edits whose range starts inside a range an earlier-positioned edit deletes are
//! dropped when the output is built (for example a value edit on a header that is also
//! removed): removal wins.

use std::io::Write as _;
use std::net::IpAddr;

use thiserror::Error;

use crate::error::ParseError;
use crate::headers::HeaderName;
use crate::host_port::{Host, HostPort};
use crate::message::Message;
use crate::scan::{is_token, split_commas};
use crate::uri::Uri;

/// Why an edit was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EditError {
    /// The edit only applies to requests.
    #[error("not a request")]
    NotARequest,
    /// The message has no header the edit needs.
    #[error("no {0} header")]
    Missing(&'static str),
    /// A header the edit must read is malformed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Text that would break the message (a CR/LF, a non-token name, a bad URI).
    #[error("invalid text for {0}")]
    InvalidText(&'static str),
    /// Max-Forwards is 0: the request must not be forwarded (answer 483).
    #[error("Max-Forwards exhausted")]
    MaxForwardsExhausted,
}

#[derive(Debug, Clone, Copy)]
struct Lump {
    start: usize,
    end: usize,
    prio: i64,
    text_start: usize,
    text_end: usize,
}

/// The memory of an [`Editor`]'s edits, kept between messages: [`Editor::reusing`] records
/// the next message's edits in it and [`Editor::finish_reusing`] gives it back. Empty (no
/// memory) by default.
#[derive(Debug, Default)]
pub struct EditBuffers {
    lumps: Vec<Lump>,
    arena: Vec<u8>,
}

impl EditBuffers {
    /// The most edits whose room is kept.
    const KEPT_LUMPS: usize = 64;
    /// The most octets of edit text whose room is kept.
    const KEPT_TEXT: usize = 16 * 1024;
}

/// Collects edits against a parsed message and builds the edited message.
#[derive(Debug)]
pub struct Editor<'m, 'a> {
    msg: &'m Message<'a>,
    lumps: Vec<Lump>,
    arena: Vec<u8>,
    seq: i64,
    /// Octets the body grows (or shrinks) by: appended data and edits inside the body.
    body_delta: isize,
}

fn check_text(s: &str, what: &'static str) -> Result<(), EditError> {
    if s.bytes().any(|c| c == b'\r' || c == b'\n') {
        Err(EditError::InvalidText(what))
    } else {
        Ok(())
    }
}

fn check_token(s: &str, what: &'static str) -> Result<(), EditError> {
    if s.is_empty() || !s.bytes().all(is_token) {
        Err(EditError::InvalidText(what))
    } else {
        Ok(())
    }
}

impl<'m, 'a> Editor<'m, 'a> {
    /// An editor with no edits.
    pub fn new(msg: &'m Message<'a>) -> Self {
        Self::reusing(msg, &mut EditBuffers::default())
    }

    /// [`Editor::new`] in the memory `bufs` holds (taken from it; see
    /// [`Editor::finish_reusing`]).
    pub fn reusing(msg: &'m Message<'a>, bufs: &mut EditBuffers) -> Self {
        let (mut lumps, mut arena) = (
            std::mem::take(&mut bufs.lumps),
            std::mem::take(&mut bufs.arena),
        );
        lumps.clear();
        lumps.reserve(8);
        // The arena is allocated by the first lump with text (a reply that only loses its
        // top Via needs none), unless it has memory already.
        arena.clear();
        Editor {
            msg,
            lumps,
            arena,
            seq: 0,
            body_delta: 0,
        }
    }

    /// Records a lump. `top` inserts at the same position go before earlier ones.
    fn lump(&mut self, start: usize, end: usize, top: bool, text: impl FnOnce(&mut Vec<u8>)) {
        if self.arena.capacity() == 0 {
            self.arena.reserve(256);
        }
        self.seq += 1;
        let text_start = self.arena.len();
        text(&mut self.arena);
        let prio = if top { -self.seq } else { self.seq };
        self.lumps.push(Lump {
            start,
            end,
            prio,
            text_start,
            text_end: self.arena.len(),
        });
    }

    /// Records the removal of `start..end` (a lump without text).
    fn remove(&mut self, start: usize, end: usize) {
        self.seq += 1;
        let at = self.arena.len();
        self.lumps.push(Lump {
            start,
            end,
            prio: self.seq,
            text_start: at,
            text_end: at,
        });
    }

    fn first_line(&self, name: HeaderName) -> Option<std::ops::Range<usize>> {
        self.msg.header(name).map(|h| h.line_range())
    }

    /// Inserts `Via: SIP/2.0/<transport> <sent_by>;branch=<branch><extra>` above the
    /// topmost Via. `extra` is appended verbatim (e.g. `;rport`). The sent-by is written
    /// through [`HostPort`], so IPv6 hosts are bracketed.
    pub fn insert_via(
        &mut self,
        transport: &str,
        sent_by: &HostPort<'_>,
        branch: &str,
        extra: &str,
    ) -> Result<(), EditError> {
        check_token(transport, "Via transport")?;
        check_token(branch, "Via branch")?;
        check_text(extra, "Via parameters")?;
        let at = self
            .first_line(HeaderName::Via)
            .map_or(self.msg.start_line_end(), |r| r.start);
        self.lump(at, at, true, |w| {
            w.extend_from_slice(b"Via: SIP/2.0/");
            w.extend_from_slice(transport.as_bytes());
            w.push(b' ');
            sent_by.write_to(w);
            w.extend_from_slice(b";branch=");
            w.extend_from_slice(branch.as_bytes());
            w.extend_from_slice(extra.as_bytes());
            w.extend_from_slice(b"\r\n");
        });
        Ok(())
    }

    /// Removes the first value of the first header named `name` (the whole line when it
    /// holds one value).
    fn remove_first_value(
        &mut self,
        name: HeaderName,
        what: &'static str,
    ) -> Result<(), EditError> {
        let h = *self.msg.header(name).ok_or(EditError::Missing(what))?;
        let mut it = split_commas(h.value());
        let first = it
            .next()
            .transpose()
            .map_err(|e| self.msg.error_in(h.value(), e))?;
        let second = it
            .next()
            .transpose()
            .map_err(|e| self.msg.error_in(h.value(), e))?;
        match (first, second) {
            (Some((_, a)), Some((_, b))) if !b.is_empty() => {
                let s = self.msg.offset_of(a);
                let e = self.msg.offset_of(b);
                self.remove(s, e);
            }
            _ => {
                let r = h.line_range();
                self.remove(r.start, r.end);
            }
        }
        Ok(())
    }

    /// Removes the topmost Via value (a proxy removing its own Via from a response).
    pub fn remove_top_via(&mut self) -> Result<(), EditError> {
        self.remove_first_value(HeaderName::Via, "Via")
    }

    /// Removes the topmost Route value (loose routing, RFC 3261 §16.4).
    pub fn remove_top_route(&mut self) -> Result<(), EditError> {
        self.remove_first_value(HeaderName::Route, "Route")
    }

    /// Sets `received` on the topmost Via of a request (RFC 3261 §18.2.1). The value is
    /// an address without brackets, as RFC 5118 §4.5 asks of senders.
    pub fn set_via_received(&mut self, ip: IpAddr) -> Result<(), EditError> {
        let via = self.msg.top_via()?.ok_or(EditError::Missing("Via"))?;
        let host = Host::from(ip);
        // Every `received` gets the value: a Via that repeats it must not keep a stale one.
        let values: Vec<&str> = via
            .params
            .iter()
            .filter(|p| p.name.eq_ignore_ascii_case("received"))
            .filter_map(|p| p.value)
            .collect();
        if values.is_empty() {
            // Right after the sent-by, before the other parameters, as Kamailio writes it.
            let at = self.msg.offset_of(via.params.as_str());
            self.lump(at, at, false, |w| {
                let _ = write!(w, ";received={}", host.unbracketed());
            });
        }
        for v in values {
            let s = self.msg.offset_of(v);
            self.lump(s, s + v.len(), false, |w| {
                let _ = write!(w, "{}", host.unbracketed());
            });
        }
        Ok(())
    }

    /// Sets `rport=<port>` on the topmost Via (RFC 3581): fills a valueless `rport`,
    /// replaces a value, or adds the parameter. A Via that repeats `rport` gets the port in
    /// every one.
    pub fn set_via_rport(&mut self, port: u16) -> Result<(), EditError> {
        let via = self.msg.top_via()?.ok_or(EditError::Missing("Via"))?;
        let params: Vec<_> = via
            .params
            .iter()
            .filter(|p| p.name.eq_ignore_ascii_case("rport"))
            .collect();
        if params.is_empty() {
            let at = self.via_end(&via);
            self.lump(at, at, false, |w| {
                let _ = write!(w, ";rport={port}");
            });
        }
        for p in params {
            match p.value {
                Some(v) => {
                    let s = self.msg.offset_of(v);
                    self.lump(s, s + v.len(), false, |w| {
                        let _ = write!(w, "{port}");
                    });
                }
                None => {
                    let at = self.msg.offset_of(p.name) + p.name.len();
                    // Attached to the name: goes before anything appended at the same place.
                    self.lump(at, at, true, |w| {
                        let _ = write!(w, "={port}");
                    });
                }
            }
        }
        Ok(())
    }

    fn via_end(&self, via: &crate::via::Via<'_>) -> usize {
        if via.params.is_empty() {
            // Parameters are empty: the via-parm ends where the params text starts.
            self.msg.offset_of(via.params.as_str())
        } else {
            self.msg.offset_of(via.params.as_str()) + via.params.as_str().len()
        }
    }

    /// Inserts `Record-Route: <sip:<host_port>;<params>>` where
    /// [`Editor::prepend_record_route_uri`] puts it. `params` is e.g. `lr` or
    /// `transport=tcp;lr`.
    pub fn prepend_record_route(
        &mut self,
        host_port: &HostPort<'_>,
        params: &str,
    ) -> Result<(), EditError> {
        let uri = if params.is_empty() {
            format!("sip:{host_port}")
        } else {
            format!("sip:{host_port};{params}")
        };
        self.prepend_record_route_uri(&uri)
    }

    /// Inserts `Record-Route: <uri>` as the first header line (above the Record-Routes
    /// already there, and above a Via inserted before it, as Kamailio's rr writes it), for a
    /// URI the caller composed (`record_route_preset`, double Record-Route). Two calls put
    /// the second line above the first.
    pub fn prepend_record_route_uri(&mut self, uri: &str) -> Result<(), EditError> {
        check_text(uri, "Record-Route URI")?;
        if uri.bytes().any(|c| matches!(c, b'>' | b'<' | b' ' | b',')) {
            return Err(EditError::InvalidText("Record-Route URI"));
        }
        let at = self.msg.start_line_end();
        self.lump(at, at, true, |w| {
            w.extend_from_slice(b"Record-Route: <");
            w.extend_from_slice(uri.as_bytes());
            w.extend_from_slice(b">\r\n");
        });
        Ok(())
    }

    /// Rewrites the Request-URI.
    pub fn set_request_uri(&mut self, uri: &str) -> Result<(), EditError> {
        let cur = self.msg.request_uri_str().ok_or(EditError::NotARequest)?;
        Uri::parse(uri).map_err(|_| EditError::InvalidText("Request-URI"))?;
        let s = self.msg.offset_of(cur);
        self.lump(s, s + cur.len(), false, |w| {
            w.extend_from_slice(uri.as_bytes())
        });
        Ok(())
    }

    /// Decrements Max-Forwards, or adds `Max-Forwards: <default>` when absent. Returns
    /// the value written; fails with [`EditError::MaxForwardsExhausted`] at 0.
    pub fn decrement_max_forwards(&mut self, default: u8) -> Result<u8, EditError> {
        if !self.msg.is_request() {
            return Err(EditError::NotARequest);
        }
        match self.msg.header(HeaderName::MaxForwards).copied() {
            Some(h) => {
                let n = self.msg.max_forwards()?.unwrap_or(0);
                let n = n.checked_sub(1).ok_or(EditError::MaxForwardsExhausted)?;
                let s = self.msg.offset_of(h.value());
                self.lump(s, s + h.value().len(), false, |w| {
                    let _ = write!(w, "{n}");
                });
                Ok(n)
            }
            None => {
                self.add_header("Max-Forwards", &default.to_string())?;
                Ok(default)
            }
        }
    }

    /// Appends `name: value` at the end of the headers.
    pub fn add_header(&mut self, name: &str, value: &str) -> Result<(), EditError> {
        let at = self.msg.headers_end();
        self.header_line(at, false, name, value)
    }

    /// Writes the header line `name: value` at `at` (with `top`, above what was inserted
    /// there before it), once the name is a token and the value holds no line break.
    fn header_line(
        &mut self,
        at: usize,
        top: bool,
        name: &str,
        value: &str,
    ) -> Result<(), EditError> {
        check_token(name, "header name")?;
        check_text(value, "header value")?;
        self.lump(at, at, top, |w| {
            w.extend_from_slice(name.as_bytes());
            w.extend_from_slice(b": ");
            w.extend_from_slice(value.as_bytes());
            w.extend_from_slice(b"\r\n");
        });
        Ok(())
    }

    /// Removes every header line named `name` (long/compact form, any case); returns how
    /// many lines.
    pub fn remove_headers(&mut self, name: &str) -> usize {
        let msg = self.msg;
        let mut n = 0;
        for h in msg.headers_called(name) {
            let r = h.line_range();
            self.remove(r.start, r.end);
            n += 1;
        }
        n
    }

    /// Replaces every header named `name` by one `name: value` line, written where the
    /// first one was (or appended when there was none).
    pub fn replace_header(&mut self, name: &str, value: &str) -> Result<(), EditError> {
        let first = self
            .msg
            .headers_called(name)
            .next()
            .map(|h| h.line_range().start);
        let at = first.unwrap_or(self.msg.headers_end());
        // The new line sorts above the removal of the old one at the same place.
        self.header_line(at, first.is_some(), name, value)?;
        self.remove_headers(name);
        Ok(())
    }

    /// Replaces the octets `range` of the message (offsets into [`Message::as_bytes`]) with
    /// `text`: what textops' `subst()`/`replace()` do. An edit inside the body updates
    /// Content-Length; an edit in the header section must keep it well-formed, which is the
    /// caller's business (as it is Kamailio's script writer's). A range outside the message,
    /// or one that crosses from the headers into the body, is refused.
    pub fn replace_range(
        &mut self,
        range: std::ops::Range<usize>,
        text: &[u8],
    ) -> Result<(), EditError> {
        let base = self.msg.start();
        let (start, end) = (base + range.start, base + range.end);
        if range.start > range.end || end > self.msg.end() {
            return Err(EditError::InvalidText("replaced range"));
        }
        let body_start = self.msg.end() - self.msg.body().len();
        if start < body_start && end > body_start {
            return Err(EditError::InvalidText("replaced range"));
        }
        if start >= body_start {
            let grow = isize::try_from(text.len()).unwrap_or(isize::MAX)
                - isize::try_from(end - start).unwrap_or(isize::MAX);
            self.body_delta += grow;
        }
        self.lump(start, end, false, |w| w.extend_from_slice(text));
        Ok(())
    }

    /// Inserts the header line `name: value` above the first header called `before` (any
    /// form, any case), or above the first header line when `before` is `None` or absent
    /// (textops' `insert_hf`).
    pub fn insert_header(
        &mut self,
        name: &str,
        value: &str,
        before: Option<&str>,
    ) -> Result<(), EditError> {
        let first = self.msg.start_line_end();
        let at = before
            .and_then(|b| self.msg.headers_called(b).next())
            .map_or(first, |h| h.line_range().start);
        self.header_line(at, false, name, value)
    }

    /// Inserts the header line `name: value` as the first header line, above everything
    /// inserted there before it (maxfwd's added Max-Forwards).
    pub fn prepend_header(&mut self, name: &str, value: &str) -> Result<(), EditError> {
        let at = self.msg.start_line_end();
        self.header_line(at, true, name, value)
    }

    /// Inserts the header line `name: value` below the first header called `after` (any
    /// form, any case), or at the end of the headers when there is none (textops'
    /// `append_hf(text, header)`).
    pub fn insert_header_after(
        &mut self,
        name: &str,
        value: &str,
        after: &str,
    ) -> Result<(), EditError> {
        let at = self
            .msg
            .headers_called(after)
            .next()
            .map_or(self.msg.headers_end(), |h| h.line_range().end);
        self.header_line(at, false, name, value)
    }

    /// Replaces the whole route set: every Route line goes, and `values` (name-addrs, top
    /// first) are written as one `Route:` line where the first Route was (or at the end of
    /// the headers). What loose routing leaves after it strips our own entries, and the
    /// route set strict-router handling rebuilds (RFC 3261 §16.4, §16.12).
    pub fn replace_routes(&mut self, values: &[String]) -> Result<(), EditError> {
        for v in values {
            check_text(v, "Route value")?;
        }
        let first = self.first_line(HeaderName::Route).map(|r| r.start);
        self.remove_headers("Route");
        if values.is_empty() {
            return Ok(());
        }
        let at = first.unwrap_or(self.msg.headers_end());
        self.lump(at, at, first.is_some(), |w| {
            w.extend_from_slice(b"Route: ");
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    w.extend_from_slice(b", ");
                }
                w.extend_from_slice(v.as_bytes());
            }
            w.extend_from_slice(b"\r\n");
        });
        Ok(())
    }

    /// Appends octets to the body; Content-Length is updated (or added) when built.
    pub fn append_body(&mut self, data: &[u8]) {
        let at = self.msg.end();
        self.body_delta += isize::try_from(data.len()).unwrap_or(isize::MAX);
        self.lump(at, at, false, |w| w.extend_from_slice(data));
    }

    /// Builds the edited message: one pass, one allocation of the exact size.
    pub fn finish(self) -> Vec<u8> {
        self.finish_reusing(&mut EditBuffers::default(), Vec::new())
    }

    /// [`Editor::finish`] into `out` (emptied first; it grows only when the message does
    /// not fit), giving the memory of the edits to `bufs` for the next
    /// [`Editor::reusing`] (unless it has grown past a few dozen edits or 16 KiB of text).
    pub fn finish_reusing(mut self, bufs: &mut EditBuffers, mut out: Vec<u8>) -> Vec<u8> {
        if self.body_delta != 0 {
            let n = self.msg.body().len().saturating_add_signed(self.body_delta);
            match self.msg.header(HeaderName::ContentLength).copied() {
                Some(h) => {
                    let s = self.msg.offset_of(h.value());
                    self.lump(s, s + h.value().len(), false, |w| {
                        let _ = write!(w, "{n}");
                    });
                }
                None => {
                    let at = self.msg.headers_end();
                    self.lump(at, at, false, |w| {
                        let _ = write!(w, "Content-Length: {n}\r\n");
                    });
                }
            }
        }
        self.lumps.sort_by_key(|l| (l.start, l.prio));
        let buf = self.msg.buffer();
        let (start, end) = (self.msg.start(), self.msg.end());
        // First pass over the lumps only: exact output size.
        let mut size = 0;
        let mut cursor = start;
        for l in &self.lumps {
            if l.start < cursor {
                continue;
            }
            size += l.start - cursor + (l.text_end - l.text_start);
            cursor = l.end;
        }
        size += end.saturating_sub(cursor);
        out.clear();
        out.reserve_exact(size);
        cursor = start;
        for l in &self.lumps {
            if l.start < cursor {
                continue;
            }
            out.extend_from_slice(&buf[cursor..l.start]);
            out.extend_from_slice(&self.arena[l.text_start..l.text_end]);
            cursor = l.end;
        }
        if cursor < end {
            out.extend_from_slice(&buf[cursor..end]);
        }
        // Room grown past the bounds (a script's many or long edits) is freed, not kept.
        if self.lumps.capacity() <= EditBuffers::KEPT_LUMPS {
            bufs.lumps = self.lumps;
        }
        if self.arena.capacity() <= EditBuffers::KEPT_TEXT {
            bufs.arena = self.arena;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{EditBuffers, Editor};
    use crate::Message;

    #[test]
    fn edit_buffers_are_kept_unless_they_grew_past_the_bounds() {
        let text = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n";
        let m = Message::parse(text).expect("parses");
        let mut bufs = EditBuffers::default();
        let mut ed = Editor::reusing(&m, &mut bufs);
        ed.add_header("X-A", "1").expect("a header");
        let _ = ed.finish_reusing(&mut bufs, Vec::new());
        assert!(bufs.lumps.capacity() > 0 && bufs.arena.capacity() > 0);
        // Long text: its room is freed, the lumps' kept.
        let long = "x".repeat(EditBuffers::KEPT_TEXT);
        let mut ed = Editor::reusing(&m, &mut bufs);
        ed.add_header("X-Long", &long).expect("a header");
        let _ = ed.finish_reusing(&mut bufs, Vec::new());
        assert_eq!(bufs.arena.capacity(), 0);
        assert!(bufs.lumps.capacity() > 0);
        // Many edits: the lumps' room is freed.
        let mut ed = Editor::reusing(&m, &mut bufs);
        for i in 0..=EditBuffers::KEPT_LUMPS {
            ed.add_header("X-N", &i.to_string()).expect("a header");
        }
        let _ = ed.finish_reusing(&mut bufs, Vec::new());
        assert_eq!(bufs.lumps.capacity(), 0);
    }
}
