//! Lexing a large file in pieces on several threads.
//!
//! The preprocessor makes lexing sequential: what a word means depends on every `#!define`,
//! `#!ifdef`, `#!subst` and `loadmodule` before it. But a large config usually has all of
//! those in a header, followed by route blocks. When the text after the header's end `L`
//! holds no preprocessor construct (and a route block starts a line past the middle, so
//! that splitting pays), the lexer state at the start of any route block after `L` is the
//! state at `L`. That text is cut into pieces of about [`PIECE_BYTES`], each ending where a
//! line begins a route block after a line that ends one. The caller's thread lexes the
//! first piece (which begins with the header's tokens); threads of their own (one per core)
//! start from a copy of the header's state, and every thread then takes the next piece no
//! one has taken until none is left. Each piece goes to the caller's function as soon as it
//! is lexed, on the thread that lexed it (the parser parses it there, so lexing and parsing
//! overlap, and a caller that frees the tokens of each piece never holds more than one
//! piece's per thread). Taking pieces as they come keeps the cores busy whatever the
//! scheduler does: a new thread is sometimes placed first on a core that is busy, and a
//! fixed share of the work (two halves, as before) then waited for it for milliseconds.
//!
//! Everything is checked afterwards: if any piece reports a diagnostic or defines anything,
//! the whole file is lexed again in one piece ([`Split::One`]), so messages never depend on
//! the split. A successful split gives exactly the tokens, expansions and defines of a
//! sequential run, except the tokens of a piece whose caller said
//! [`AfterPart::FreeTokens`]: a checker that only needs what it built from them frees each
//! piece's tokens (together a large config's biggest allocation) as soon as it is done with
//! them, and the next piece's reuse their memory.
//!
//! Should a piece's first line be inside a comment or a string, the piece before it ends
//! inside that comment or string, which the lexer reports (or the parser an error): either
//! makes the caller's result (or the check) fail, and the file is lexed again in one piece.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::lexer::Lexer;
use crate::source::{SourceLoader, SourceMap, SourceOrigin};
use crate::token::{ExpansionId, Token};
use crate::{finish, lex_loaded, predefine, push_main_range, LexOptions, Lexed};

/// One piece of a file lexed in pieces: its tokens and the sources their spans point into.
/// The first piece begins with the tokens of the file's header.
#[derive(Debug, Clone, Copy)]
pub struct Piece<'a> {
    /// The piece's place in the file: 0 for the first (which holds the header), then in
    /// file order.
    pub index: usize,
    /// The piece's tokens, in order.
    pub tokens: &'a [Token],
    /// The sources (the same files for every piece).
    pub sources: &'a SourceMap,
}

/// Whether a piece's tokens are still wanted after the caller's function has seen them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPart {
    /// Keep them: they are part of the joined [`Lexed`].
    KeepTokens,
    /// Free them at once: the joined [`Lexed`] lacks them.
    FreeTokens,
}

/// The size of a piece (text bytes, about 2,000 tokens): large enough that handing
/// a piece over costs nothing measurable, small enough that one piece's tokens stay in the
/// CPU's caches between the lexer and the parser, and that the threads run out of pieces at
/// nearly the same time. (16 KiB before: 8 KiB took `-c` of the 20,000-line config from
/// 13.82 to 13.49 ms and of the 10,000-line one from 9.76 to 9.23 ms, runs in random order;
/// 4 KiB and 2 KiB were no better.)
pub const PIECE_BYTES: usize = 8 * 1024;

/// What [`lex_file_in_pieces`] did.
#[derive(Debug)]
pub enum Split<R> {
    /// The file was lexed in one piece (too small, no place to split, or the split did not
    /// hold); the caller's function may have seen some pieces before the split was given up.
    One(Lexed),
    /// The file was lexed in pieces; `results` are what the caller's function returned for
    /// each, in the file's order. The tokens of `Lexed` are the pieces' in order, less those
    /// of a piece whose function said [`AfterPart::FreeTokens`].
    Pieces {
        /// The whole file, as a sequential run gives it.
        lexed: Lexed,
        /// The function's results for the pieces, in order.
        results: Vec<R>,
    },
}

/// The loader of the helper threads, which never include anything: every file "exists"
/// (so that an `import_file` reached through a define is tried, not skipped) and none can
/// be read, so an include there is an error and the file is lexed again in one piece.
struct NoIncludes;

impl SourceLoader for NoIncludes {
    fn load(&self, path: &Path) -> std::io::Result<String> {
        Err(std::io::Error::other(format!(
            "{}: no include in a piece of a split file",
            path.display()
        )))
    }

    fn exists(&self, _: &Path) -> bool {
        true
    }
}

/// Lexes the config file at `path`, in pieces on several threads when it is at least
/// `min_len` bytes long and can be split (see the module docs), calling `each` on each piece
/// on the thread that lexed it; `each` also says whether that piece's tokens are still
/// wanted.
pub fn lex_file_in_pieces<R: Send>(
    path: &Path,
    opts: &LexOptions,
    loader: &dyn SourceLoader,
    min_len: usize,
    each: impl Fn(Piece<'_>) -> (R, AfterPart) + Sync,
) -> Split<R> {
    let text: Arc<String> = match loader.load(path) {
        Ok(t) => Arc::new(t),
        Err(e) => return Split::One(lex_loaded(path, Err(e), opts, loader)),
    };
    // The file in one piece, from the text already read; once the header is lexed, with the
    // files it included as they were read then (a file changed since makes no difference).
    let one = || Split::One(lex_loaded(path, Ok(Arc::clone(&text)), opts, loader));
    let again = |read: &SourceMap| {
        let loader = AlreadyRead {
            read: crate::ReadLoader::new(read),
            loader,
        };
        Split::One(lex_loaded(path, Ok(Arc::clone(&text)), opts, &loader))
    };
    if text.len() < min_len {
        return one();
    }
    // Splitting pays when a route block starts a line past the middle, after the header.
    let Some((header_end, _)) = split_points(&text) else {
        return one();
    };
    let len = text.len();
    let mut lx = Lexer::new(opts, loader);
    let id = lx
        .sources
        .add_shared(SourceOrigin::File(path.to_path_buf()), Arc::clone(&text));
    predefine(&mut lx);
    let identity = loader.identity(path);
    // The header, with every directive in it.
    push_main_range(&mut lx, id, 0..header_end, identity.clone());
    crate::push_prelude(&mut lx);
    lx.run_frames();
    if !lx.diags.is_empty() || !lx.conds.is_empty() || lx.pending_subst.is_some() {
        return again(&lx.sources);
    }
    // A string still open for concatenation (`loadmodule "x"` ends most headers, and its
    // `MOD_x` define comes with the string's token) ends now, as the next token would end
    // it, unless that token is another string joining it.
    if lx.pending_string.is_some() {
        let rest = lx.sources.file(id).text().as_bytes().get(header_end..);
        if rest.is_some_and(string_may_continue) {
            return again(&lx.sources);
        }
        lx.flush_string();
    }
    // What every piece but the first starts from: the state at the end of the header.
    let header = HeaderState {
        sources: lx.sources.clone(),
        defines: lx.defines.clone(),
        substs: lx.substs.clone(),
        compat: lx.compat,
        prelude_files: lx.prelude_files.clone(),
    };
    let pieces = piece_ranges(text.as_bytes(), header_end..len);
    let work = Work {
        id,
        identity: &identity,
        pieces: &pieces,
        next: AtomicUsize::new(1),
        expansions: AtomicUsize::new(0),
        failed: std::sync::atomic::AtomicBool::new(false),
        each: &each,
    };
    let helpers = helpers();
    let done = std::thread::scope(|s| {
        let work = &work;
        let header = &header;
        let threads: Vec<_> = (0..helpers)
            .filter_map(|_| {
                part_thread()
                    .spawn_scoped(s, move || {
                        let mut hl = header.lexer(opts);
                        let done = work.take_pieces(&mut hl, Vec::new());
                        (done, hl.diags.is_empty() && header.unchanged_in(&hl))
                    })
                    .ok()
            })
            .collect();
        // The first piece (with the header's tokens) here, then whatever is left.
        let first = work.piece(&mut lx, 0);
        let mut done = work.take_pieces(&mut lx, vec![first]);
        let mut clean = true;
        for t in threads {
            match t.join() {
                Ok((more, unchanged)) => {
                    clean &= unchanged;
                    done.extend(more);
                }
                Err(_) => clean = false,
            }
        }
        clean.then_some(done)
    });
    // No piece may report anything or change the lexer's state (a directive can still come
    // through a define's value), and every piece must have been lexed.
    let Some(mut done) = done.filter(|_| lx.diags.is_empty() && header.unchanged_in(&lx)) else {
        return again(&lx.sources);
    };
    if done.len() != pieces.len() {
        return again(&lx.sources);
    }
    done.sort_by_key(|d| d.index);
    // Each piece's expansions are numbered from its `first_expansion` (the first's from 0,
    // after the header's); a sequential run numbers them on from the pieces before.
    let mut tokens = Vec::new();
    let mut expansions = Vec::new();
    let mut results = Vec::with_capacity(done.len());
    for mut piece in done {
        let (first, offset) = (piece.first_expansion, expansions.len());
        let shift = |e: ExpansionId| {
            e.index()
                .checked_sub(first)
                .and_then(|i| i.checked_add(offset))
                .and_then(|i| u32::try_from(i).ok())
                .and_then(ExpansionId::new)
        };
        for t in &mut piece.tokens {
            if let Some(e) = t.expansion {
                match shift(e) {
                    Some(moved) => t.expansion = Some(moved),
                    None => return again(&lx.sources),
                }
            }
        }
        for mut e in piece.expansions {
            e.parent = match e.parent.map(shift) {
                Some(Some(p)) => Some(p),
                Some(None) => return again(&lx.sources),
                None => None,
            };
            expansions.push(e);
        }
        if tokens.is_empty() {
            tokens = piece.tokens;
        } else {
            tokens.append(&mut piece.tokens);
        }
        results.push(piece.result);
    }
    // A sequential run stops at this many expansions; the pieces each counted their own.
    if expansions.len() >= crate::lexer::MAX_EXPANSIONS {
        return again(&lx.sources);
    }
    lx.tokens = tokens;
    lx.expansions = expansions;
    Split::Pieces {
        lexed: finish(lx),
        results,
    }
}

/// The loader of a split file lexed again in one piece: the files its header's lex read,
/// as they were read; any other through the caller's loader.
struct AlreadyRead<'a> {
    read: crate::ReadLoader<'a>,
    loader: &'a dyn SourceLoader,
}

impl SourceLoader for AlreadyRead<'_> {
    fn load(&self, path: &Path) -> std::io::Result<String> {
        match self.read.text(path) {
            Some(text) => Ok(text.to_owned()),
            None => self.loader.load(path),
        }
    }

    fn exists(&self, path: &Path) -> bool {
        self.read.text(path).is_some() || self.loader.exists(path)
    }

    /// The caller's loader's, as in the first lex (which found no include loop with it).
    fn identity(&self, path: &Path) -> std::path::PathBuf {
        self.loader.identity(path)
    }
}

/// The lexer state at the end of a split file's header.
struct HeaderState {
    sources: SourceMap,
    defines: rustc_hash::FxHashMap<String, crate::Define>,
    substs: Vec<crate::preproc::subst::SubstRule>,
    compat: crate::CompatMode,
    prelude_files: Vec<crate::source::FileId>,
}

impl HeaderState {
    /// A lexer for a helper thread, in this state (it includes nothing: see
    /// [`NoIncludes`]).
    fn lexer<'a>(&self, opts: &'a LexOptions) -> Lexer<'a> {
        let mut lx = Lexer::new(opts, &NoIncludes);
        lx.sources = self.sources.clone();
        lx.defines = self.defines.clone();
        lx.substs = self.substs.clone();
        lx.compat = self.compat;
        lx.prelude_files = self.prelude_files.clone();
        lx
    }

    /// Whether `lx`, which started from this state, still has it after its pieces: the
    /// same defines, rules, compatibility mode and files. Only a directive changes them,
    /// and one can still come through a define's value (`#!define K #!KAMAILIO`).
    fn unchanged_in(&self, lx: &Lexer<'_>) -> bool {
        lx.defines == self.defines
            && lx.substs.len() == self.substs.len()
            && lx.compat == self.compat
            && lx.sources.len() == self.sources.len()
    }
}

/// The pieces of a split file and the next one no thread has taken yet.
struct Work<'w, F> {
    id: crate::source::FileId,
    identity: &'w Path,
    pieces: &'w [std::ops::Range<usize>],
    next: AtomicUsize,
    /// Define expansions in the pieces lexed so far: a sequential run stops at
    /// [`crate::lexer::MAX_EXPANSIONS`], and so do the threads (each piece's lexer counts
    /// only its own).
    expansions: AtomicUsize,
    /// A piece reported something: the file is lexed again in one piece, so the threads
    /// take no more.
    failed: std::sync::atomic::AtomicBool,
    each: &'w F,
}

/// One piece, lexed and handed to the caller's function.
struct Done<R> {
    /// Its place among the pieces.
    index: usize,
    /// What the caller's function returned.
    result: R,
    /// Its tokens, when the function wanted them kept (expansion ids counted from
    /// `first_expansion`).
    tokens: Vec<Token>,
    /// The define expansions its tokens refer to: empty until the thread that lexed it has
    /// lexed its last piece (see [`Work::take_pieces`]).
    expansions: Vec<crate::token::Expansion>,
    /// The id of its first expansion in the lexer of the thread that lexed it.
    first_expansion: usize,
}

impl<R, F: Fn(Piece<'_>) -> (R, AfterPart) + Sync> Work<'_, F> {
    /// Takes pieces until none are left, lexing each with `lx`; `done` (pieces `lx` lexed
    /// before) plus those pieces, each with its expansions.
    ///
    /// The expansions of all of a thread's pieces are lexed into one vector and shared out
    /// only here, after the last: a vector per piece grew past 1 KiB in most pieces, and
    /// such a request makes glibc's malloc consolidate every small block freed before it
    /// (the previous piece's route bodies, see `cfg_parser::parse_file_with`), which the
    /// piece's syntax tree would otherwise have reused at once.
    fn take_pieces(&self, lx: &mut Lexer<'_>, mut done: Vec<Done<R>>) -> Vec<Done<R>> {
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index >= self.pieces.len() || self.failed.load(Ordering::Relaxed) {
                break;
            }
            done.push(self.piece(lx, index));
        }
        for piece in done.iter_mut().rev() {
            let first = piece.first_expansion.min(lx.expansions.len());
            piece.expansions = lx.expansions.split_off(first);
        }
        done
    }

    /// Lexes piece `index` with `lx` (whose tokens so far, the header's for the first piece,
    /// belong to it; the first piece's expansions also start with the header's) and hands it
    /// to the caller's function. The tokens the function is done with are dropped, and the
    /// next piece's take their memory.
    fn piece(&self, lx: &mut Lexer<'_>, index: usize) -> Done<R> {
        let range = self.pieces.get(index).cloned().unwrap_or(0..0);
        lx.reserve_tokens_for(range.len());
        // The first piece's are the header's too (they were lexed into `lx` before it).
        let first_expansion = if index == 0 { 0 } else { lx.expansions.len() };
        push_main_range(lx, self.id, range, self.identity.to_path_buf());
        // Every piece but the last ends where a route block begins after a `}`: no string
        // is pending, nothing is open (else the lexer reports it, and the split fails).
        lx.run();
        let (result, after) = (self.each)(Piece {
            index,
            tokens: &lx.tokens,
            sources: &lx.sources,
        });
        let tokens = match after {
            AfterPart::KeepTokens => std::mem::take(&mut lx.tokens),
            AfterPart::FreeTokens => {
                lx.tokens.clear();
                Vec::new()
            }
        };
        let own = lx.expansions.len().saturating_sub(first_expansion);
        let expanded = self.expansions.fetch_add(own, Ordering::Relaxed) + own;
        if !lx.diags.is_empty() || expanded >= crate::lexer::MAX_EXPANSIONS {
            self.failed.store(true, Ordering::Relaxed);
        }
        Done {
            index,
            result,
            tokens,
            expansions: Vec::new(),
            first_expansion,
        }
    }
}

/// How many threads lex and parse pieces beside the caller's: one per further core, and
/// one more, so that every core is busy even when the scheduler first places a new thread
/// on the caller's core (a thread that finds no piece left ends at once).
pub(crate) fn helpers() -> usize {
    cores().map_or(0, |n| n.min(4))
}

/// How many cores this process may run on (`std::thread::available_parallelism`), asked
/// once per process: on Linux each ask reads the cgroup's CPU quota (three files, seven
/// system calls), and a config check asked four times. `None` when it cannot be known.
pub fn cores() -> Option<usize> {
    static CORES: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().ok().map(usize::from))
}

/// The text ranges of the pieces of `range` (see [`piece_ends`]).
fn piece_ranges(text: &[u8], range: std::ops::Range<usize>) -> Vec<std::ops::Range<usize>> {
    let mut start = range.start;
    piece_ends(text, range)
        .into_iter()
        .map(|end| {
            let piece = start..end;
            start = end;
            piece
        })
        .collect()
}

/// Where the pieces of `range` of `text` end: at the start of each line, [`PIECE_BYTES`] or
/// more after the previous end, that begins a route block right after a line ending in `}`;
/// the last piece ends at `range.end`. The first piece ends at the first such line: it is
/// lexed after the header on the caller's thread while the others start, and what comes
/// before the route blocks (modules, parameters) is in it, which a caller of the parser may
/// need before it works on any other piece (see `cfg_parser::parse_file_with`), so it is
/// kept short.
fn piece_ends(text: &[u8], range: std::ops::Range<usize>) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut from = range.start;
    let mut least = 0;
    while let Some(end) = next_block_line(text, from + least, range.end) {
        ends.push(end);
        from = end;
        least = PIECE_BYTES;
    }
    ends.push(range.end);
    ends
}

/// The first line starting at `from` or later and before `limit` that begins a route block
/// right after a line ending in `}`.
fn next_block_line(text: &[u8], from: usize, limit: usize) -> Option<usize> {
    let mut at = from;
    while let Some(nl) = memchr::memchr(b'\n', text.get(at..limit)?) {
        let line = at + nl + 1;
        if line >= limit {
            return None;
        }
        if starts_route_block(&text[line..]) && prev_code_is_close(&text[..line]) {
            return Some(line);
        }
        at = line;
    }
    None
}

/// The stack of a thread that lexes and parses pieces: what a main thread gets (spawned
/// threads get 2 MiB), so that a deeply nested config a sequential run handles does not
/// overflow here. Only the pages used are committed.
pub const PART_STACK: usize = 8 << 20;

/// Whether a string that ends just before `rest` may go on in it: the first byte that is not
/// a blank to the lexer (space, tab, backspace, CR, LF) nor ASCII whitespace nor the `\` of a
/// line continuation is a `"`. Erring towards yes only costs the split.
fn string_may_continue(rest: &[u8]) -> bool {
    rest.iter()
        .find(|&&c| !(crate::lexer::is_blank(c) || c.is_ascii_whitespace() || c == b'\\'))
        == Some(&b'"')
}

/// A builder for a thread that lexes and parses pieces.
fn part_thread() -> std::thread::Builder {
    std::thread::Builder::new().stack_size(PART_STACK)
}

/// Words that change the lexer's state outside a directive line.
const STATEFUL: [&[u8]; 6] = [
    b"#!",
    b"!!",
    b"//!",
    b"include_file",
    b"import_file",
    b"loadmodule",
];

/// Where the last of the [`STATEFUL`] words in `b` starts (or a place on its line), if any
/// is there. Those that end in `!` are found from the last `!` backwards (`!` is rare right
/// after `#`, `!` or `//`), the others with one forward substring search each: together a
/// fifth of the time of the regex this replaces, whose construction alone took a quarter of
/// a millisecond of every large config's check.
fn last_stateful_word(b: &[u8]) -> Option<usize> {
    let (bangs, others): (Vec<&[u8]>, Vec<&[u8]>) =
        STATEFUL.iter().partition(|w| w.ends_with(b"!"));
    let bang = memchr::memrchr_iter(b'!', b).find(|&i| bangs.iter().any(|w| b[..=i].ends_with(w)));
    others
        .iter()
        .filter_map(|w| memchr::memmem::find_iter(b, w).last())
        .chain(bang)
        .max()
}

/// Route keywords a part may start with.
const ROUTE_STARTS: [&[u8]; 8] = [
    b"route",
    b"request_route",
    b"failure_route",
    b"onreply_route",
    b"reply_route",
    b"branch_route",
    b"onsend_route",
    b"event_route",
];

/// The end of the header (the start of the line after the last preprocessor construct) and
/// the split point: the start of a line past both the header and the middle of the text that
/// begins a route block right after a line ending in `}`. `None` when there is no such line.
fn split_points(text: &str) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    // Everything up to the line of the last stateful word is the header.
    let last = last_stateful_word(b).map_or(0, |at| logical_line_end(b, at));
    // Splitting pays only when both parts are large.
    let from = last.max(b.len() / 2);
    if from > b.len() * 4 / 5 {
        return None;
    }
    next_block_line(b, from, b.len() * 9 / 10).map(|line| (last, line))
}

/// The start of the line after the one holding `at`.
fn line_end(b: &[u8], at: usize) -> usize {
    memchr::memchr(b'\n', &b[at..]).map_or(b.len(), |i| at + i + 1)
}

/// [`line_end`], past the lines a `\` at a line's end joins to it (a directive such as
/// `#!define` goes on there).
fn logical_line_end(b: &[u8], at: usize) -> usize {
    let mut end = line_end(b, at);
    while end < b.len() && b[..end].trim_ascii_end().ends_with(b"\\") {
        end = line_end(b, end);
    }
    end
}

/// Whether a line begins (at column 0) with a route keyword followed by `[`, `{` or a blank.
fn starts_route_block(line: &[u8]) -> bool {
    ROUTE_STARTS.iter().any(|k| {
        line.starts_with(k) && matches!(line.get(k.len()), Some(b'[' | b'{' | b' ' | b'\t'))
    })
}

/// Whether a trimmed line is empty or a `#` (not `#!`) or `//` comment.
fn is_blank_or_comment(line: &[u8]) -> bool {
    let comment = line.starts_with(b"//") || (line.starts_with(b"#") && !line.starts_with(b"#!"));
    line.is_empty() || comment
}

/// Whether the code before a line ends with `}` (the previous block ended): the last line
/// that is neither blank nor a `#` or `//` comment ends in `}`.
fn prev_code_is_close(before: &[u8]) -> bool {
    before
        .split(|&c| c == b'\n')
        .rev()
        .map(|line| line.trim_ascii())
        .find(|line| !is_blank_or_comment(line))
        .is_some_and(|line| line.ends_with(b"}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_may_continue_after_anything_the_lexer_skips() {
        for rest in [
            &b"\"b\""[..],
            b"\n  \"b\"",
            b"\x08\"b\"",
            b"\\\n\"b\"",
            b"\r\n\x0c\"b\"",
        ] {
            assert!(string_may_continue(rest), "{rest:?}");
        }
        for rest in [&b"route[A] {}"[..], b"# \"b\"", b"\n;\"b\"", b""] {
            assert!(!string_may_continue(rest), "{rest:?}");
        }
    }

    #[test]
    fn the_split_comes_after_the_header_and_the_middle() {
        let mut text = String::from("#!define X 1\nloadmodule \"sl.so\"\n");
        for i in 0..100 {
            text.push_str(&format!("# block {i}\nroute[R{i}] {{\n  drop;\n}}\n"));
        }
        let (header, split) = split_points(&text).expect("splits");
        assert_eq!(&text[..header], "#!define X 1\nloadmodule \"sl.so\"\n");
        assert!(split >= text.len() / 2);
        assert!(text[split..].starts_with("route[R"));
    }

    #[test]
    fn the_header_ends_after_the_last_stateful_word_of_any_kind() {
        let blocks: String = (0..100)
            .map(|i| format!("route[R{i}] {{\n  drop;\n}}\n"))
            .collect();
        for word in STATEFUL {
            let word = String::from_utf8_lossy(word);
            let head = format!("#!define X 1\nx=1 {word} y\nz=2\n");
            let text = format!("{head}{blocks}");
            let (header, _) = split_points(&text).expect("splits");
            assert_eq!(
                &text[..header],
                format!("#!define X 1\nx=1 {word} y\n"),
                "{word}"
            );
        }
        let text = format!("{blocks}{blocks}");
        assert_eq!(split_points(&text).map(|(h, _)| h), Some(0));
        // A `!` of a condition, after one `/`, or far from any stateful word is none.
        let text =
            format!("#!define X 1\n{blocks}route[N] {{\n  if (!a /! b) {{ drop; }}\n}}\n{blocks}");
        assert_eq!(
            split_points(&text).map(|(h, _)| h),
            Some("#!define X 1\n".len())
        );
    }

    #[test]
    fn the_first_piece_ends_at_the_first_block_after_a_closing_brace() {
        let mut text = String::from("loadmodule \"sl.so\"\nrequest_route {\n  drop;\n}\n");
        let first_cut = text.len();
        for i in 0..1000 {
            text.push_str(&format!("route[R{i}] {{\n  drop;\n}}\n"));
        }
        let ends = piece_ends(text.as_bytes(), 0..text.len());
        assert_eq!(ends.first(), Some(&first_cut));
        // The others are at least `PIECE_BYTES` long, and the last ends with the text.
        for pair in ends.windows(2) {
            assert!(pair[1] - pair[0] >= PIECE_BYTES || pair[1] == text.len());
        }
        assert_eq!(ends.last(), Some(&text.len()));
        assert!(ends.len() > 2);
    }

    #[test]
    fn no_split_when_directives_come_late_or_no_block_starts_a_line() {
        let mut text = String::new();
        for i in 0..100 {
            text.push_str(&format!("route[R{i}] {{\n  drop;\n}}\n"));
        }
        text.push_str("#!define LATE 1\n");
        assert_eq!(split_points(&text), None);
        let flat = "route[A] { drop; } route[B] { drop; } ".repeat(50);
        assert_eq!(split_points(&flat), None);
    }
}
