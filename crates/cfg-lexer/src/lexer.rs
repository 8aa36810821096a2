//! The scanner: one pass over the input that produces tokens and runs the preprocessor, as
//! Kamailio's flex scanner does.
//!
//! Input is read from a stack of *frames*: the main file, an included file on top of the
//! line that included it, or the value of a define on top of the place it was used. Tokens
//! are produced from the top frame; when it is used up it is popped and reading goes on below.
//! The conditional stack (`#!ifdef` …) is global across frames, as in Kamailio.
//!
//! Directive handling (`#!define`, `#!ifdef`, includes, …) lives in `preproc.rs`; this module
//! has the frame machinery and the token rules of the normal state.

use rustc_hash::FxHashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, LexError};
use crate::keywords::{word_meaning, Keyword, WordMeaning};
use crate::preproc::subst::SubstRule;
use crate::source::{FileId, SourceLoader, SourceMap, Span};
use crate::token::{Expansion, ExpansionId, Punct, SubstKind, Token, TokenKind};
use crate::{CompatMode, Define, LexOptions};

/// Deepest nesting of define expansions before we call it a loop.
pub(crate) const MAX_EXPANSION_DEPTH: usize = 64;
/// Most define expansions in one run: defines that each use the next one twice grow
/// exponentially, and a config must not be able to hang the lexer that way.
pub(crate) const MAX_EXPANSIONS: usize = 1_000_000;

/// What a frame reads.
#[derive(Debug)]
pub(crate) enum FrameKind {
    /// A file (the main one or an included one), with its identity for loop detection.
    File { identity: PathBuf },
    /// The value of a define, at the place it was used.
    Define {
        /// Which expansion this is (its entry holds the define's name).
        expansion: ExpansionId,
        /// A line comment in the value ran to its end (Kamailio would swallow the rest of the
        /// line of use).
        ended_in_comment: bool,
    },
}

/// A source of input bytes: a range of one source file's text.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) file: FileId,
    pub(crate) text: Arc<String>,
    pub(crate) pos: usize,
    pub(crate) end: usize,
    pub(crate) kind: FrameKind,
}

impl Frame {
    pub(crate) fn expansion(&self) -> Option<ExpansionId> {
        match self.kind {
            FrameKind::Define { expansion, .. } => Some(expansion),
            FrameKind::File { .. } => None,
        }
    }
}

/// One level of `#!ifdef`/`#!ifndef`/`#!ifexp`.
#[derive(Debug)]
pub(crate) struct Cond {
    /// Text in the current branch is processed.
    pub(crate) taking: bool,
    /// Opened inside skipped text: neither branch is ever processed.
    pub(crate) dead: bool,
    pub(crate) seen_else: bool,
    pub(crate) directive: &'static str,
    pub(crate) opened_at: Span,
}

/// A string being read: adjacent double-quoted strings are joined before it is emitted.
#[derive(Debug)]
pub(crate) struct PendingString {
    pub(crate) value: String,
    pub(crate) span: Span,
    pub(crate) expansion: Option<ExpansionId>,
    /// Only whitespace has been seen since the string ended, so another `"…"` continues it.
    pub(crate) open_for_concat: bool,
}

/// The state of one lexing run.
pub(crate) struct Lexer<'a> {
    pub(crate) opts: &'a LexOptions,
    pub(crate) loader: &'a dyn SourceLoader,
    pub(crate) sources: SourceMap,
    pub(crate) frames: Vec<Frame>,
    pub(crate) defines: FxHashMap<String, Define>,
    pub(crate) conds: Vec<Cond>,
    pub(crate) substs: Vec<SubstRule>,
    pub(crate) compat: CompatMode,
    pub(crate) tokens: Vec<Token>,
    pub(crate) diags: Vec<Diagnostic>,
    pub(crate) expansions: Vec<Expansion>,
    pub(crate) pending_string: Option<PendingString>,
    pub(crate) pending_subst: Option<(SubstKind, Span)>,
    /// The keywords that move `push_token`'s state machines, looked up once.
    keywords: StateKeywords,
    /// 0: nothing; 1: after `loadmodule`; 2: after `loadmodule (`.
    loadmodule_state: u8,
    /// 0: nothing; 1: after `event_route`; 2: after `event_route [`; 3: after the name.
    event_route_state: u8,
    pub(crate) included_files: Vec<FileId>,
    /// The sources of [`crate::LexOptions::prelude`]: their strings are taken as given, no
    /// substitution rule applies to them (as Kamailio sets `--modparam` values verbatim).
    pub(crate) prelude_files: Vec<FileId>,
}

/// The keywords whose tokens move the lexer's state machines (each is the only spelling of
/// its keyword), compared as keywords rather than as text for every keyword token.
#[derive(Clone, Copy)]
pub(crate) struct StateKeywords {
    loadmodule: Option<Keyword>,
    event_route: Option<Keyword>,
}

pub(crate) const fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | 0x08 | b'\r')
}

/// [`BYTE_CLASS`] bit: a letter, a digit or `_`.
const WORD: u8 = 1;
/// [`BYTE_CLASS`] bit: a blank (see [`is_blank`]) or a newline.
const SPACE: u8 = 2;

/// What each byte value is to the scanner, looked up once per byte in its two hottest loops
/// (the run of a word, the whitespace between tokens) instead of several comparisons.
static BYTE_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        if b.is_ascii_alphanumeric() || b == b'_' {
            t[i] = WORD;
        } else if is_blank(b) || b == b'\n' {
            t[i] = SPACE;
        }
        i += 1;
    }
    t
};

fn is_word_byte(b: u8) -> bool {
    BYTE_CLASS[usize::from(b)] & WORD != 0
}

/// The length of the run of word bytes (letters, digits, `_`) at the start of `b`.
fn word_run(b: &[u8]) -> usize {
    b.iter().position(|&c| !is_word_byte(c)).unwrap_or(b.len())
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

/// Length of the identifier (`[A-Za-z_][A-Za-z0-9_]*`) at the start of `b`, 0 if none.
pub(crate) fn ident_len(b: &[u8]) -> usize {
    match b.first() {
        Some(&c) if is_ident_start(c) => 1 + word_run(&b[1..]),
        _ => 0,
    }
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(opts: &'a LexOptions, loader: &'a dyn SourceLoader) -> Self {
        Lexer {
            opts,
            loader,
            sources: SourceMap::new(),
            frames: Vec::new(),
            defines: FxHashMap::default(),
            conds: Vec::new(),
            substs: Vec::new(),
            compat: CompatMode::Max,
            tokens: Vec::new(),
            diags: Vec::new(),
            expansions: Vec::new(),
            pending_string: None,
            pending_subst: None,
            keywords: StateKeywords {
                loadmodule: Keyword::lookup("loadmodule"),
                event_route: Keyword::lookup("event_route"),
            },
            loadmodule_state: 0,
            event_route_state: 0,
            included_files: Vec::new(),
            prelude_files: Vec::new(),
        }
    }

    pub(crate) fn error(&mut self, kind: LexError, span: Span) {
        self.diags.push(Diagnostic::error(kind, span));
    }

    pub(crate) fn warn(&mut self, kind: LexError, span: Span) {
        self.diags.push(Diagnostic::warning(kind, span));
    }

    pub(crate) fn skipping(&self) -> bool {
        self.conds.iter().any(|c| !c.taking)
    }

    /// Makes room for the tokens of `bytes` bytes of config (about one token per four bytes),
    /// so that the token buffer is not copied as it doubles. A best effort: on a huge file
    /// that much at once may not be there, and the buffer then grows as usual.
    pub(crate) fn reserve_tokens_for(&mut self, bytes: usize) {
        let _ = self.tokens.try_reserve(bytes / 4);
    }

    /// Runs until every frame is used up, then ends the input: a pending string is emitted,
    /// a pending `#!subst` and open conditionals are errors.
    pub(crate) fn run(&mut self) {
        self.run_frames();
        self.end_of_input();
    }

    /// Runs until every frame is used up, leaving pending state as it is (the lexing of a
    /// split file goes on from here, see `split`).
    pub(crate) fn run_frames(&mut self) {
        while let Some(top) = self.frames.last() {
            if top.pos >= top.end {
                self.pop_frame();
                continue;
            }
            let idx = self.frames.len() - 1;
            let text = Arc::clone(&top.text);
            let (file, pos, end) = (top.file, top.pos, top.end);
            let expansion = top.expansion();
            let cur = Cur {
                text: &text,
                file,
                end,
                expansion,
            };
            // Steps run on this frame until it ends or a step pushes a frame (an include or
            // a define's value): one `Arc` clone per frame visit, not per token.
            let mut pos = pos;
            loop {
                let new_pos = if self.skipping() {
                    self.skip_step(&cur, pos)
                } else {
                    self.lex_step(&cur, pos)
                };
                pos = new_pos.max(pos + 1).min(end.max(pos + 1));
                if pos >= end || self.frames.len() != idx + 1 {
                    break;
                }
            }
            if let Some(f) = self.frames.get_mut(idx) {
                f.pos = pos;
            }
        }
    }

    fn end_of_input(&mut self) {
        self.flush_string();
        if let Some((kind, span)) = self.pending_subst.take() {
            self.error(LexError::SubstNeedsString(kind.directive().into()), span);
        }
        while let Some(c) = self.conds.pop() {
            self.diags.push(Diagnostic::error(
                LexError::UnclosedConditional(c.directive.into()),
                c.opened_at,
            ));
        }
    }

    fn pop_frame(&mut self) {
        let Some(frame) = self.frames.pop() else {
            return;
        };
        if let FrameKind::Define {
            ended_in_comment: true,
            expansion,
        } = frame.kind
        {
            // Kamailio pushes the value back into the input, so a `#` comment in it swallows
            // the rest of the line of use. We end the comment with the value; warn when that
            // makes a difference.
            if let Some(parent) = self.frames.last() {
                let rest = &parent.text.as_bytes()[parent.pos.min(parent.end)..parent.end];
                let line_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
                let line = &rest[..line_end];
                // Code follows unless the rest of the line is blank or a comment.
                let first = line.iter().find(|&&b| !is_blank(b));
                let has_code = first.is_some_and(|&b| b != b'#');
                if has_code {
                    let Expansion { name, use_site, .. } = &self.expansions[expansion.index()];
                    let e = LexError::DefineCommentSwallows(name.clone());
                    self.warn(e, *use_site);
                }
            }
        }
    }

    /// Emits a finished token, keeping the small state machines that the preprocessor needs
    /// (`loadmodule "x"` defines `MOD_x`; `event_route[` switches to name mode).
    #[inline(always)]
    pub(crate) fn push_token(
        &mut self,
        kind: TokenKind,
        span: Span,
        expansion: Option<ExpansionId>,
    ) {
        // Only `loadmodule`, `event_route`, a token after `loadmodule` or one after `#!subst`
        // moves a state machine: most tokens go straight into the buffer.
        if self.machine_waiting() || matches!(kind, TokenKind::Keyword(k) if self.starts_machine(k))
        {
            self.token_states(&kind, span);
        }
        self.tokens.push(Token {
            kind,
            span,
            expansion,
        });
    }

    /// Whether `k` is `loadmodule` or `event_route`, the keywords that start a state machine.
    #[inline]
    fn starts_machine(&self, k: Keyword) -> bool {
        Some(k) == self.keywords.loadmodule || Some(k) == self.keywords.event_route
    }

    /// Whether a state machine waits for the next token (after `loadmodule`, `#!subst`).
    #[inline]
    fn machine_waiting(&self) -> bool {
        self.loadmodule_state != 0 || self.pending_subst.is_some()
    }

    /// [`Lexer::push_token`]'s state machines, for a token that may move them.
    fn token_states(&mut self, kind: &TokenKind, span: Span) {
        if self.pending_subst.is_some() && !matches!(kind, TokenKind::Str(_)) {
            if let Some((sk, sspan)) = self.pending_subst.take() {
                self.error(LexError::SubstNeedsString(sk.directive().into()), sspan);
            }
        }
        match (kind, self.loadmodule_state) {
            (TokenKind::Keyword(k), _) if Some(*k) == self.keywords.loadmodule => {
                self.loadmodule_state = 1
            }
            (TokenKind::Punct(Punct::LParen), 1) => self.loadmodule_state = 2,
            (TokenKind::Str(s), 1 | 2) => {
                let name = module_name(s);
                self.defines.entry(format!("MOD_{name}")).or_insert(Define {
                    value: None,
                    defined_at: Some(span),
                });
                self.loadmodule_state = 0;
            }
            _ => self.loadmodule_state = 0,
        }
        if let TokenKind::Keyword(k) = kind {
            if Some(*k) == self.keywords.event_route {
                self.event_route_state = 1;
            }
        }
    }

    /// Emits a keyword token (see [`Lexer::emit`]).
    fn emit_keyword(&mut self, k: Keyword, cur: &Cur<'_>, start: usize, end: usize) {
        let kind = TokenKind::Keyword(k);
        if self.starts_machine(k) {
            let span = Span::new(cur.file, start, end);
            self.emit_after_states(kind, span, cur.expansion);
        } else {
            self.emit(kind, cur, start, end);
        }
    }

    /// Emits a non-string token: a pending string ends first. A keyword goes through
    /// [`Lexer::emit_keyword`], which sends `loadmodule` and `event_route` to the state
    /// machines.
    pub(crate) fn emit(&mut self, kind: TokenKind, cur: &Cur<'_>, start: usize, end: usize) {
        let span = Span::new(cur.file, start, end);
        // Most tokens only go into the buffer: a path without calls (but the buffer's growth),
        // so that it saves no registers.
        if self.pending_string.is_some() || self.machine_waiting() {
            self.emit_after_states(kind, span, cur.expansion);
        } else {
            self.tokens.push(Token {
                kind,
                span,
                expansion: cur.expansion,
            });
        }
    }

    /// [`Lexer::emit`] for a token that ends a pending string or may move a state machine.
    #[inline(never)]
    fn emit_after_states(&mut self, kind: TokenKind, span: Span, expansion: Option<ExpansionId>) {
        self.flush_string();
        self.push_token(kind, span, expansion);
    }

    /// Ends the pending string (if any): applies the subst rules and emits it.
    #[inline]
    pub(crate) fn flush_string(&mut self) {
        // Called before every token, and a string is pending before few of them: the test
        // is inlined at every call, the work is not.
        if self.pending_string.is_some() {
            self.flush_pending_string();
        }
    }

    /// [`Lexer::flush_string`]'s work when a string is pending.
    fn flush_pending_string(&mut self) {
        let Some(p) = self.pending_string.take() else {
            return;
        };
        let value = if self.prelude_files.contains(&p.span.file) {
            p.value
        } else {
            self.run_substs(p.value)
        };
        if let Some((kind, sspan)) = self.pending_subst.take() {
            self.add_subst_rule(kind, &value, sspan.to(p.span));
        }
        self.push_token(TokenKind::Str(value.into()), p.span, p.expansion);
    }

    /// Something other than whitespace was seen: a following string no longer joins the
    /// pending one.
    pub(crate) fn close_concat(&mut self) {
        if let Some(p) = &mut self.pending_string {
            p.open_for_concat = false;
        }
    }

    pub(crate) fn run_substs(&self, mut s: String) -> String {
        for rule in &self.substs {
            if let Some(out) = rule.apply(&s) {
                s = out;
            }
        }
        s
    }

    /// One step in normal state: skips whitespace, then reads one token or directive.
    /// Returns the new position in the current frame.
    fn lex_step(&mut self, cur: &Cur<'_>, mut pos: usize) -> usize {
        let b = cur.bytes();
        // Whitespace and line continuations.
        while pos < cur.end {
            let c = b[pos];
            if BYTE_CLASS[usize::from(c)] & SPACE != 0 {
                pos += 1;
            } else if c == b'\\' && b.get(pos + 1) == Some(&b'\n') && pos + 1 < cur.end {
                pos += 2;
            } else if c == b'\\'
                && b.get(pos + 1) == Some(&b'\r')
                && b.get(pos + 2) == Some(&b'\n')
                && pos + 2 < cur.end
            {
                pos += 3;
            } else {
                break;
            }
        }
        if pos >= cur.end {
            return pos;
        }
        if self.event_route_state != 0 {
            if let Some(p) = self.event_route_step(cur, pos) {
                return p;
            }
        }
        let c = b[pos];
        if c != b'"' {
            self.close_concat();
        }
        let start = pos;
        let at = |off: usize| -> u8 {
            if pos + off < cur.end {
                b[pos + off]
            } else {
                0
            }
        };
        let p1 = |lx: &mut Self, p: Punct| {
            lx.emit(TokenKind::Punct(p), cur, start, start + 1);
            start + 1
        };
        let p2 = |lx: &mut Self, p: Punct| {
            lx.emit(TokenKind::Punct(p), cur, start, start + 2);
            start + 2
        };
        match c {
            b'#' => {
                if at(1) == b'!' {
                    if let Some(p) = self.directive(cur, pos, 2, true) {
                        return p;
                    }
                }
                self.line_comment(cur, pos)
            }
            b'/' => match at(1) {
                b'/' => {
                    if at(2) == b'!' {
                        if let Some(p) = self.compat_marker(cur, pos, 3) {
                            return p;
                        }
                    }
                    self.line_comment(cur, pos)
                }
                b'*' => self.block_comment(cur, pos),
                _ => p1(self, Punct::Slash),
            },
            b'!' => {
                if at(1) == b'!' {
                    if let Some(p) = self.directive(cur, pos, 2, false) {
                        return p;
                    }
                }
                if at(1) == b'=' {
                    p2(self, Punct::NotEq)
                } else {
                    p1(self, Punct::Not)
                }
            }
            b'"' => self.double_string(cur, pos),
            b'\'' => self.single_string(cur, pos),
            b'$' => self.dollar(cur, pos),
            b'%' => self.attr(cur, pos, 1),
            b'@' => self.select(cur, pos),
            b'(' => {
                let rest = &b[pos..cur.end];
                if rest.starts_with(b"(int)") {
                    self.emit(TokenKind::Punct(Punct::IntCast), cur, start, start + 5);
                    start + 5
                } else if rest.starts_with(b"(str)") {
                    self.emit(TokenKind::Punct(Punct::StrCast), cur, start, start + 5);
                    start + 5
                } else {
                    p1(self, Punct::LParen)
                }
            }
            b'*' if at(1) == b'/' => {
                self.flush_string();
                self.error(LexError::StrayCommentEnd, Span::new(cur.file, pos, pos + 2));
                pos + 2
            }
            b'*' => p1(self, Punct::Star),
            b'=' => match at(1) {
                b'=' => p2(self, Punct::EqEq),
                b'~' => p2(self, Punct::Match),
                _ => p1(self, Punct::Assign),
            },
            b'<' => match at(1) {
                b'=' => p2(self, Punct::Le),
                b'<' => p2(self, Punct::Shl),
                _ => p1(self, Punct::Lt),
            },
            b'>' => match at(1) {
                b'=' => p2(self, Punct::Ge),
                b'>' => p2(self, Punct::Shr),
                _ => p1(self, Punct::Gt),
            },
            b'+' if at(1) == b'=' => p2(self, Punct::PlusAssign),
            b'+' => p1(self, Punct::Plus),
            b'-' => p1(self, Punct::Minus),
            b'&' if at(1) == b'&' => p2(self, Punct::AndAnd),
            b'&' => p1(self, Punct::BitAnd),
            b'|' if at(1) == b'|' => p2(self, Punct::OrOr),
            b'|' => p1(self, Punct::BitOr),
            b'^' => p1(self, Punct::BitXor),
            b'~' => p1(self, Punct::BitNot),
            b',' => p1(self, Punct::Comma),
            b';' => p1(self, Punct::Semi),
            b'.' => p1(self, Punct::Dot),
            b')' => p1(self, Punct::RParen),
            b'{' => p1(self, Punct::LBrace),
            b'}' => p1(self, Punct::RBrace),
            b'[' => p1(self, Punct::LBracket),
            b']' => p1(self, Punct::RBracket),
            b':' => {
                let v6 = ipv6_len(&b[pos..cur.end]);
                if v6 > 0 {
                    self.emit_ipv6(cur, pos, v6)
                } else {
                    p1(self, Punct::Colon)
                }
            }
            c if is_word_byte(c) => self.word(cur, pos),
            _ => {
                self.flush_string();
                let ch = cur.text[pos..].chars().next().unwrap_or('\u{fffd}');
                let len = ch.len_utf8().max(1);
                self.error(
                    LexError::UnexpectedChar(ch),
                    Span::new(cur.file, pos, pos + len),
                );
                pos + len
            }
        }
    }

    fn emit_ipv6(&mut self, cur: &Cur<'_>, pos: usize, len: usize) -> usize {
        let text = cur.text[pos..pos + len].to_string();
        self.emit(TokenKind::Ipv6(text.into()), cur, pos, pos + len);
        pos + len
    }

    /// A word: keyword, value word, identifier (maybe a define), number, NUM_ID or an IPv6
    /// address — whichever rule matches the longest text.
    fn word(&mut self, cur: &Cur<'_>, pos: usize) -> usize {
        let b = &cur.bytes()[pos..cur.end];
        let run = word_run(b);
        // An IPv6 literal read from here is longer than the word only if a `:` follows it.
        let v6 = if b[0].is_ascii_hexdigit() && b.get(run) == Some(&b':') {
            ipv6_len(b)
        } else {
            0
        };
        if v6 > run {
            return self.emit_ipv6(cur, pos, v6);
        }
        let word = &cur.text[pos..pos + run];
        if b[0].is_ascii_digit() {
            let end = pos + run;
            match parse_number(word) {
                Some(Ok(v)) => self.emit(TokenKind::Number(v), cur, pos, end),
                Some(Err(())) => {
                    self.flush_string();
                    self.error(
                        LexError::NumberOutOfRange(word.into()),
                        Span::new(cur.file, pos, end),
                    );
                }
                None => self.emit(TokenKind::NumIdent(word.into()), cur, pos, end),
            }
            return end;
        }
        // `msg:len`, `uri:host`, `uri:port` are single tokens (only a `:` after the word
        // can make one).
        let colon_follows = b.get(run) == Some(&b':');
        for special in ["msg:len", "uri:host", "uri:port"] {
            if colon_follows && b.starts_with(special.as_bytes()) {
                if let Some(WordMeaning::Keyword(k)) = word_meaning(special) {
                    let end = pos + special.len();
                    self.emit_keyword(k, cur, pos, end);
                    return end;
                }
            }
        }
        let end = pos + run;
        if word == "include_file" || word == "import_file" {
            return self.include(cur, pos, end, word == "import_file");
        }
        match word_meaning(word) {
            Some(WordMeaning::Keyword(k)) => self.emit_keyword(k, cur, pos, end),
            Some(WordMeaning::Number(n)) => self.emit(TokenKind::Number(n), cur, pos, end),
            Some(WordMeaning::Punct(p)) => self.emit(TokenKind::Punct(p), cur, pos, end),
            None => {
                if self.defines.contains_key(word) {
                    self.expand_define(word, Span::new(cur.file, pos, end), cur);
                } else {
                    self.emit(TokenKind::Ident(word.into()), cur, pos, end);
                }
            }
        }
        end
    }

    /// Replaces a define's name by its value: pushes a frame over the value.
    fn expand_define(&mut self, name: &str, use_site: Span, cur: &Cur<'_>) {
        let Some(def) = self.defines.get(name).cloned() else {
            return;
        };
        let active = self.frames.iter().any(|f| {
            matches!(f.kind, FrameKind::Define { expansion, .. }
                if self.expansions[expansion.index()].name == name)
        });
        if active {
            self.flush_string();
            self.error(LexError::RecursiveDefine(name.to_string()), use_site);
            return;
        }
        let depth = self
            .frames
            .iter()
            .filter(|f| matches!(f.kind, FrameKind::Define { .. }))
            .count();
        if depth >= MAX_EXPANSION_DEPTH {
            self.flush_string();
            self.error(LexError::ExpansionTooDeep(MAX_EXPANSION_DEPTH), use_site);
            return;
        }
        let Some(value) = def.value else {
            return; // a define without value makes the identifier vanish
        };
        if self.expansions.len() >= MAX_EXPANSIONS {
            self.flush_string();
            self.error(LexError::TooManyExpansions(MAX_EXPANSIONS), use_site);
            return;
        }
        let Some(expansion) = u32::try_from(self.expansions.len())
            .ok()
            .and_then(ExpansionId::new)
        else {
            self.flush_string();
            self.error(LexError::TooManyExpansions(MAX_EXPANSIONS), use_site);
            return;
        };
        self.expansions.push(Expansion {
            name: name.to_string(),
            use_site,
            parent: cur.expansion,
        });
        let text = self.sources.file(value.file).shared_text();
        self.frames.push(Frame {
            file: value.file,
            text,
            pos: value.start as usize,
            end: value.end as usize,
            kind: FrameKind::Define {
                expansion,
                ended_in_comment: false,
            },
        });
    }

    /// `#` or `//` comment up to (not including) the newline.
    fn line_comment(&mut self, cur: &Cur<'_>, pos: usize) -> usize {
        let b = cur.bytes();
        let end = b[pos..cur.end]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(cur.end, |i| pos + i);
        if end == cur.end {
            if let Some(Frame {
                kind: FrameKind::Define {
                    ended_in_comment, ..
                },
                ..
            }) = self.frames.last_mut()
            {
                *ended_in_comment = true;
            }
        }
        self.flush_string();
        end
    }

    /// `/* … */`, nesting.
    fn block_comment(&mut self, cur: &Cur<'_>, pos: usize) -> usize {
        let b = cur.bytes();
        let mut depth = 0usize;
        let mut i = pos;
        while i + 1 < cur.end {
            if b[i] == b'/' && b[i + 1] == b'*' {
                depth += 1;
                i += 2;
            } else if b[i] == b'*' && b[i + 1] == b'/' {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    self.flush_string();
                    return i;
                }
            } else {
                i += 1;
            }
        }
        self.flush_string();
        self.error(
            LexError::UnterminatedComment,
            Span::new(cur.file, pos, pos + 2),
        );
        cur.end
    }

    /// `"…"` with escapes; joins a string that only whitespace separates from the previous.
    fn double_string(&mut self, cur: &Cur<'_>, pos: usize) -> usize {
        let b = cur.bytes();
        let body = &b[pos + 1..cur.end];
        // Most strings have no escape: their value is their text, copied once at its length
        // (a string built up from nothing had room for 8 bytes at least, and the token's box
        // then shrank it).
        let (mut value, mut i) = match memchr::memchr2(b'"', b'\\', body) {
            Some(q) if body[q] == b'"' => (cur.text[pos + 1..pos + 1 + q].to_string(), pos + 1 + q),
            _ => (String::new(), pos + 1),
        };
        let mut seg = i; // start of the run of plain bytes not yet copied
        loop {
            if i >= cur.end {
                self.close_concat();
                self.flush_string();
                self.error(
                    LexError::UnterminatedString,
                    Span::new(cur.file, pos, pos + 1),
                );
                return cur.end;
            }
            match b[i] {
                b'"' => {
                    value.push_str(&cur.text[seg..i]);
                    i += 1;
                    break;
                }
                b'\\' if i + 1 < cur.end => {
                    value.push_str(&cur.text[seg..i]);
                    let (consumed, ch) = string_escape(&b[i + 1..cur.end]);
                    if let Some(ch) = ch {
                        value.push(ch);
                    }
                    i += 1 + consumed;
                    seg = i;
                }
                _ => i += 1,
            }
        }
        let span = Span::new(cur.file, pos, i);
        match &mut self.pending_string {
            Some(p) if p.open_for_concat => {
                p.value.push_str(&value);
                if p.span.file == span.file && p.expansion == cur.expansion {
                    p.span = p.span.to(span);
                }
            }
            _ => {
                self.flush_string();
                self.pending_string = Some(PendingString {
                    value,
                    span,
                    expansion: cur.expansion,
                    open_for_concat: true,
                });
            }
        }
        i
    }

    /// `'…'`: raw, no escapes, not joined with neighbours.
    fn single_string(&mut self, cur: &Cur<'_>, pos: usize) -> usize {
        let b = cur.bytes();
        match b[pos + 1..cur.end].iter().position(|&c| c == b'\'') {
            Some(len) => {
                let end = pos + 1 + len;
                let value = self.run_substs(cur.text[pos + 1..end].to_string());
                self.emit(TokenKind::Str(value.into()), cur, pos, end + 1);
                end + 1
            }
            None => {
                self.flush_string();
                self.error(
                    LexError::UnterminatedString,
                    Span::new(cur.file, pos, pos + 1),
                );
                cur.end
            }
        }
    }

    /// Reads `( … )` with nesting from `open` (which must be `(`); returns the position after
    /// the matching `)` and whether a newline came before it, or `None` at end of input.
    fn paren_end(cur: &Cur<'_>, open: usize) -> Option<(usize, bool)> {
        let b = cur.bytes().get(open..cur.end)?;
        let mut depth = 0usize;
        let mut newline = false;
        for (i, &c) in b.iter().enumerate() {
            match c {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some((open + i + 1, newline));
                    }
                }
                b'\n' => newline = true,
                _ => {}
            }
        }
        None
    }

    fn emit_pvar(&mut self, cur: &Cur<'_>, pos: usize, open: usize) -> usize {
        match Self::paren_end(cur, open) {
            Some((end, newline)) => {
                // Kamailio drops newlines inside `$( … )`. Without any, one exact copy (a
                // filtered collect grew the string, and the token's `Box<str>` shrank it).
                let raw = &cur.text[pos..end];
                let text: String = if newline {
                    raw.chars().filter(|&c| c != '\n').collect()
                } else {
                    raw.to_string()
                };
                let text = self.run_substs(text);
                self.emit(TokenKind::Pvar(text.into()), cur, pos, end);
                end
            }
            None => {
                self.flush_string();
                let shown: String = cur.text[pos..cur.end].chars().take(40).collect();
                self.error(
                    LexError::UnterminatedPvar(shown),
                    Span::new(cur.file, pos, open + 1),
                );
                cur.end
            }
        }
    }

    /// `$…`: pseudo-variables and AVPs, by the compatibility mode.
    fn dollar(&mut self, cur: &Cur<'_>, pos: usize) -> usize {
        let b = &cur.bytes()[pos..cur.end];
        // `$?`, `$retcode`, `$rc` win in every mode (longest match against `$`).
        for builtin in ["$?", "$retcode", "$rc"] {
            if b.starts_with(builtin.as_bytes()) {
                let end = pos + builtin.len();
                self.emit(TokenKind::Pvar(builtin.into()), cur, pos, end);
                return end;
            }
        }
        match self.compat {
            CompatMode::Ser => return self.attr(cur, pos, 1),
            CompatMode::Kamailio | CompatMode::Max => {}
        }
        if b.get(1) == Some(&b'(') {
            return self.emit_pvar(cur, pos, pos + 1);
        }
        if self.compat == CompatMode::Max && avp_prefix_len(&b[1..]) > 0 {
            return self.attr(cur, pos, 1);
        }
        let id = ident_len(&b[1..]);
        if id == 0 {
            self.flush_string();
            self.error(LexError::BadPvar, Span::new(cur.file, pos, pos + 1));
            return pos + 1;
        }
        let after = pos + 1 + id;
        match (
            cur.bytes().get(after).filter(|_| after < cur.end),
            self.compat,
        ) {
            (Some(b'('), _) => self.emit_pvar(cur, pos, after),
            (Some(b'['), CompatMode::Max) => self.attr(cur, pos, 1),
            (_, CompatMode::Kamailio) => {
                self.emit(
                    TokenKind::Pvar(cur.text[pos..after].into()),
                    cur,
                    pos,
                    after,
                );
                after
            }
            _ => {
                self.emit(
                    TokenKind::AvpOrPvar(cur.text[pos..after].into()),
                    cur,
                    pos,
                    after,
                );
                after
            }
        }
    }

    /// An attribute: mark (`%` or `$`, `mark_len` bytes), optional class and `.`, name,
    /// optional index `[n]`, `[-n]`, `[*]` or `[]`.
    fn attr(&mut self, cur: &Cur<'_>, pos: usize, mark_len: usize) -> usize {
        let b = cur.bytes();
        let mut i = pos + mark_len;
        i += avp_prefix_len(&b[i..cur.end]);
        let id = ident_len(&b[i..cur.end]);
        if id == 0 {
            self.flush_string();
            let mark = char::from(b[pos]);
            self.error(
                LexError::BadAttr(mark),
                Span::new(cur.file, pos, i.max(pos + 1)),
            );
            return i.max(pos + 1);
        }
        i += id;
        if i < cur.end && b[i] == b'[' {
            let inner = &b[i + 1..cur.end];
            let close = inner.iter().position(|&c| c == b']');
            if let Some(len) = close {
                let idx = &inner[..len];
                let ok = idx.is_empty()
                    || idx == b"*"
                    || idx
                        .strip_prefix(b"-")
                        .unwrap_or(idx)
                        .iter()
                        .all(u8::is_ascii_digit)
                        && !idx.strip_prefix(b"-").unwrap_or(idx).is_empty();
                if ok {
                    i += len + 2;
                }
            }
        }
        self.emit(TokenKind::Attr(cur.text[pos..i].into()), cur, pos, i);
        i
    }

    /// `@name.name[idx]…`: a select expression as one token.
    fn select(&mut self, cur: &Cur<'_>, pos: usize) -> usize {
        let b = cur.bytes();
        let mut i = pos + 1;
        let mut parts = 0usize;
        let first = ident_len(&b[i..cur.end]);
        if first == 0 {
            self.flush_string();
            self.error(LexError::BadSelect, Span::new(cur.file, pos, pos + 1));
            return pos + 1;
        }
        i += first;
        parts += 1;
        loop {
            if i >= cur.end {
                break;
            }
            match b[i] {
                b'.' => {
                    let n = ident_len(&b[i + 1..cur.end]);
                    if n == 0 {
                        break;
                    }
                    i += 1 + n;
                    parts += 1;
                }
                b'[' => {
                    let inner = &b[i + 1..cur.end];
                    let len = if inner.first() == Some(&b'"') {
                        inner[1..]
                            .iter()
                            .position(|&c| c == b'"')
                            .map(|q| q + 2)
                            .filter(|&q| inner.get(q) == Some(&b']'))
                    } else {
                        // A number, possibly negative (`@eval.pop[-1]`: Kamailio's grammar
                        // takes an `intno` there).
                        let sign = usize::from(inner.first() == Some(&b'-'));
                        let d = sign
                            + inner[sign..]
                                .iter()
                                .take_while(|c| c.is_ascii_alphanumeric())
                                .count();
                        Some(d).filter(|&d| d > sign && inner.get(d) == Some(&b']'))
                    };
                    match len {
                        Some(l) => i += l + 2,
                        None => break,
                    }
                }
                _ => break,
            }
        }
        if parts > 32 {
            self.flush_string();
            self.error(LexError::SelectTooLong, Span::new(cur.file, pos, i));
            return i;
        }
        self.emit(TokenKind::Select(cur.text[pos..i].into()), cur, pos, i);
        i
    }

    /// After `event_route`: `[`, the name, `]`, whitespace allowed between them.
    fn event_route_step(&mut self, cur: &Cur<'_>, pos: usize) -> Option<usize> {
        let b = cur.bytes();
        match (self.event_route_state, b[pos]) {
            (1, b'[') => {
                self.emit(TokenKind::Punct(Punct::LBracket), cur, pos, pos + 1);
                self.event_route_state = 2;
                Some(pos + 1)
            }
            (2, c) if c.is_ascii_alphanumeric() || c == b'_' || c == b':' || c == b'-' => {
                let len = b[pos..cur.end]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b':' | b'-'))
                    .count();
                let name = &cur.text[pos..pos + len];
                let span = Span::new(cur.file, pos, pos + len);
                match kamailio_event_name(name) {
                    Some(k) if k == name => {}
                    Some(k) => self.warn(
                        LexError::EventRouteNameDiffers {
                            given: name.into(),
                            kamailio: k.into(),
                        },
                        span,
                    ),
                    None => self.error(LexError::BadEventRouteName(name.into()), span),
                }
                self.emit(TokenKind::EventRouteName(name.into()), cur, pos, pos + len);
                self.event_route_state = 3;
                Some(pos + len)
            }
            (3, b']') => {
                self.emit(TokenKind::Punct(Punct::RBracket), cur, pos, pos + 1);
                self.event_route_state = 0;
                Some(pos + 1)
            }
            _ => {
                self.event_route_state = 0;
                None
            }
        }
    }
}

/// The current frame's text and where tokens read from it go.
pub(crate) struct Cur<'t> {
    pub(crate) text: &'t str,
    pub(crate) file: FileId,
    pub(crate) end: usize,
    pub(crate) expansion: Option<ExpansionId>,
}

impl Cur<'_> {
    pub(crate) fn bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }
}

/// The module name `loadmodule "…/x.so"` defines `MOD_x` for.
fn module_name(arg: &str) -> &str {
    let base = arg.rsplit('/').next().unwrap_or(arg);
    base.strip_suffix(".so").unwrap_or(base)
}

/// `f.`, `t.`, `fr.`, `fu.`, `fd.`, `tr.`, `tu.`, `td.`, `g.`: the AVP class prefix length.
fn avp_prefix_len(b: &[u8]) -> usize {
    match b {
        [b'f' | b't', b'r' | b'u' | b'd', b'.', ..] => 3,
        [b'f' | b't' | b'g', b'.', ..] => 2,
        _ => 0,
    }
}

/// An escape after `\` in a double-quoted string: bytes consumed after the backslash and the
/// character produced (`None` for a line continuation).
fn string_escape(rest: &[u8]) -> (usize, Option<char>) {
    let c = rest[0];
    match c {
        b'n' => (1, Some('\n')),
        b'r' => (1, Some('\r')),
        b'a' => (1, Some('\u{7}')),
        b't' => (1, Some('\t')),
        b'"' => (1, Some('"')),
        b'\\' => (1, Some('\\')),
        b'\n' => (1, None),
        b'x' if rest.get(1).is_some_and(u8::is_ascii_hexdigit) => {
            let n = 1 + rest[1..]
                .iter()
                .take(2)
                .take_while(|c| c.is_ascii_hexdigit())
                .count();
            let v = rest[1..n].iter().fold(0u32, |acc, &d| {
                acc * 16 + char::from(d).to_digit(16).unwrap_or(0)
            });
            (n, char::from_u32(v))
        }
        b'0'..=b'7' => {
            let n = rest
                .iter()
                .take(3)
                .take_while(|c| (b'0'..=b'7').contains(c))
                .count();
            if n >= 2 {
                let v = rest[..n]
                    .iter()
                    .fold(0u32, |acc, &d| acc * 8 + u32::from(d - b'0'));
                (n, char::from_u32(v & 0xff))
            } else {
                (0, Some('\\')) // `\1` stays `\1` (regex back-references)
            }
        }
        _ => (0, Some('\\')), // any other `\c` is kept as the two characters
    }
}

/// Parses a number word: `Some(Ok)` for a number, `Some(Err)` for one out of range, `None` if
/// the word is no number (a NUM_ID).
pub(crate) fn parse_number(w: &str) -> Option<Result<i64, ()>> {
    let b = w.as_bytes();
    let (digits, radix) = if let Some(h) = w.strip_prefix("0x") {
        (h, 16)
    } else if b.len() > 1
        && b[b.len() - 1] == b'b'
        && b[..b.len() - 1].iter().all(|&c| c == b'0' || c == b'1')
    {
        (&w[..w.len() - 1], 2)
    } else if b.len() > 1 && b[0] == b'0' {
        (&w[1..], 8)
    } else {
        (w, 10)
    };
    if digits.is_empty() || !digits.bytes().all(|c| char::from(c).is_digit(radix)) {
        return None;
    }
    Some(
        u64::from_str_radix(digits, radix)
            .ok()
            .filter(|&v| v <= u64::from(u32::MAX))
            .and_then(|v| i64::try_from(v).ok())
            .ok_or(()),
    )
}

/// Length of the longest IPv6 address at the start of `b` (Kamailio's `IPV6ADDR` rule: hex
/// groups of 1–4 digits, eight of them, or fewer with one `::`), 0 if none.
pub(crate) fn ipv6_len(b: &[u8]) -> usize {
    let hex4 = |i: usize| -> usize {
        b[i.min(b.len())..]
            .iter()
            .take(4)
            .take_while(|c| c.is_ascii_hexdigit())
            .count()
    };
    // Leading groups "h:" (at most 7).
    let mut groups = 0;
    let mut i = 0;
    while groups < 7 {
        let h = hex4(i);
        if h == 0 || b.get(i + h) != Some(&b':') {
            break;
        }
        i += h + 1;
        groups += 1;
    }
    let mut best = 0;
    // (h:){7}h
    if groups == 7 {
        let h = hex4(i);
        if h > 0 {
            best = best.max(i + h);
        }
    }
    // (h:){1,7}(:h){1,7} and (h:){1,7}:
    if groups >= 1 && b.get(i) == Some(&b':') {
        best = best.max(i + 1);
        best = best.max(colon_groups(b, i, &hex4));
    }
    // :(:h){1,7} and ::
    if groups == 0 && b.starts_with(b"::") {
        best = best.max(2);
        best = best.max(colon_groups(b, 1, &hex4));
    }
    best
}

/// From `i` (at a `:`), the end of up to seven `:h` groups, or 0 if there is not one.
fn colon_groups(b: &[u8], mut i: usize, hex4: &dyn Fn(usize) -> usize) -> usize {
    let mut n = 0;
    let mut end = 0;
    while n < 7 && b.get(i) == Some(&b':') {
        let h = hex4(i + 1);
        if h == 0 {
            break;
        }
        i += 1 + h;
        end = i;
        n += 1;
    }
    end
}

/// What Kamailio's scanner makes of an event route name: the first run that fits
/// `[a-zA-Z][0-9a-zA-Z-]*(:[a-zA-Z][0-9a-zA-Z_-]*)+`, or `None`.
fn kamailio_event_name(name: &str) -> Option<&str> {
    let b = name.as_bytes();
    for start in 0..b.len() {
        if !b[start].is_ascii_alphabetic() {
            continue;
        }
        let mut i = start + 1;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-') {
            i += 1;
        }
        let mut end = None;
        while i < b.len() && b[i] == b':' && b.get(i + 1).is_some_and(u8::is_ascii_alphabetic) {
            i += 2;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'-') {
                i += 1;
            }
            end = Some(i);
        }
        if let Some(e) = end {
            return Some(&name[start..e]);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_shapes() {
        assert_eq!(ipv6_len(b"::1]"), 3);
        assert_eq!(ipv6_len(b"::"), 2);
        assert_eq!(ipv6_len(b"fe80::1 x"), 7);
        assert_eq!(ipv6_len(b"1:2:3:4:5:6:7:8"), 15);
        assert_eq!(ipv6_len(b"2001:db8::"), 10);
        assert_eq!(ipv6_len(b"abc:5060"), 0);
        assert_eq!(ipv6_len(b"1:2"), 0);
        assert_eq!(ipv6_len(b":x"), 0);
    }

    #[test]
    fn a_pseudo_variable_loses_its_newlines_only() {
        let pvars = |text: &str| -> Vec<String> {
            crate::lex_str_with("t.cfg", text, &Default::default(), &crate::FsLoader)
                .tokens
                .into_iter()
                .filter_map(|t| match t.kind {
                    TokenKind::Pvar(p) => Some(p.to_string()),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(pvars("$x = $(avp(s:a)\n[0]);\n"), ["$(avp(s:a)[0])"]);
        assert_eq!(pvars("$x = $(var(a){s.len});\n"), ["$(var(a){s.len})"]);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("5060"), Some(Ok(5060)));
        assert_eq!(parse_number("0x1F"), Some(Ok(31)));
        assert_eq!(parse_number("010"), Some(Ok(8)));
        assert_eq!(parse_number("101b"), Some(Ok(5)));
        assert_eq!(parse_number("0"), Some(Ok(0)));
        assert_eq!(parse_number("08"), None);
        assert_eq!(parse_number("5060a"), None);
        assert_eq!(parse_number("0x"), None);
        assert_eq!(parse_number("12b"), None);
        assert_eq!(parse_number("4294967295"), Some(Ok(4_294_967_295)));
        assert_eq!(parse_number("4294967296"), Some(Err(())));
        // Single digits, and long numbers still in range.
        assert_eq!(parse_number("7"), Some(Ok(7)));
        assert_eq!(parse_number("999999999"), Some(Ok(999_999_999)));
        assert_eq!(parse_number("1000000000"), Some(Ok(1_000_000_000)));
        assert_eq!(parse_number("99999999999"), Some(Err(())));
        assert_eq!(parse_number("1b"), Some(Ok(1)));
        assert_eq!(parse_number("9b"), None);
    }

    /// `push_token` compares keywords, not their canonical text: that holds while each of
    /// its keywords has a single spelling.
    #[test]
    fn state_keywords_have_one_spelling() {
        for word in ["loadmodule", "event_route"] {
            let spellings = Keyword::all().filter(|k| k.is(word)).count();
            assert_eq!(spellings, 1, "{word}");
            assert!(Keyword::lookup(word).is_some_and(|k| k.is(word)), "{word}");
        }
    }

    #[test]
    fn event_names() {
        assert_eq!(
            kamailio_event_name("core:worker-one-init"),
            Some("core:worker-one-init")
        );
        assert_eq!(kamailio_event_name("my_mod:x"), Some("mod:x"));
        assert_eq!(kamailio_event_name("nocolon"), None);
    }

    #[test]
    fn escapes() {
        assert_eq!(string_escape(b"n"), (1, Some('\n')));
        assert_eq!(string_escape(b"x41"), (3, Some('A')));
        assert_eq!(string_escape(b"101"), (3, Some('A')));
        assert_eq!(string_escape(b"1x"), (0, Some('\\')));
        assert_eq!(string_escape(b"d"), (0, Some('\\')));
    }
}
