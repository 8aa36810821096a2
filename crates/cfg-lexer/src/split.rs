//! Lexing a large file in two parts on two threads.
//!
//! The preprocessor makes lexing sequential: what a word means depends on every `#!define`,
//! `#!ifdef`, `#!subst` and `loadmodule` before it. But a large config usually has all of
//! those in a header, followed by route blocks. When the text after some route block
//! boundary `S` (past the middle) holds no preprocessor construct, and neither does the
//! text between the header's end `L` and `S`, the lexer state at `S` is the state at `L`:
//! one thread lexes on from `L` to `S` while a second starts at `S` with a copy of it. Each
//! thread lexes its part in pieces of about [`PIECE_BYTES`], cut where a route block begins,
//! and hands each piece to the caller's function as soon as it is lexed (the parser parses
//! each piece where it was lexed, so lexing and parsing overlap, and a caller that frees the
//! tokens of each piece never holds more than one piece's). Both parts run on threads of
//! their own while the caller's thread waits: when the second thread was placed on the
//! caller's busy CPU, the two shared it for milliseconds (a third of the runs took half as
//! long again), whereas a CPU whose thread goes to sleep pulls a waiting thread over at once.
//!
//! Everything is checked afterwards: if either part reports any diagnostic, the whole file
//! is lexed again in one piece ([`Split::One`]), so messages never depend on the split. A
//! successful split gives exactly the tokens, expansions and defines of a sequential run,
//! except the tokens of a piece whose caller said [`AfterPart::FreeTokens`]: a checker that
//! only needs what it built from them frees each piece's tokens (together a large config's
//! biggest allocation) as soon as it is done with them, and the next piece's reuse their
//! memory, instead of holding both parts' until the end.
//!
//! A piece ends where a line begins a route block after a line that ends one, as the split
//! point does. Should that line be inside a comment or a string, the piece ends inside it
//! and the lexer reports the unfinished comment or string, or the parser an error: either
//! makes the caller's result (or the check) fail, and the file is lexed again in one piece.

use std::path::Path;
use std::sync::Arc;

use crate::lexer::Lexer;
use crate::source::{SourceLoader, SourceMap, SourceOrigin};
use crate::token::{ExpansionId, Token};
use crate::{finish, lex_loaded, predefine, push_main_range, LexOptions, Lexed};

/// One piece of a part of a file lexed in two: its tokens and the sources their spans point
/// into. The first piece of the first part begins with the tokens of the file's header.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    /// The piece's tokens, in order.
    pub tokens: &'a [Token],
    /// The sources (the same files for both parts).
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

/// The size a part is lexed in (text bytes, about 4,000 tokens): large enough that handing
/// a piece over costs nothing measurable, small enough that one piece's tokens stay in the
/// CPU's caches between the lexer and the parser.
pub const PIECE_BYTES: usize = 16 * 1024;

/// What [`lex_file_in_two`] did.
#[derive(Debug)]
pub enum Split<R> {
    /// The file was lexed in one piece (too small, no place to split, or the split did not
    /// hold); the caller's function was not called on it.
    One(Lexed),
    /// The file was lexed in two parts; `head` and `tail` are what the caller's function
    /// returned for each of their pieces, in order. The tokens of `Lexed` are the head's
    /// followed by the tail's, less those of a piece whose function said
    /// [`AfterPart::FreeTokens`].
    Two {
        /// The whole file, as a sequential run gives it.
        lexed: Lexed,
        /// The function's results for the pieces of the first part.
        head: Vec<R>,
        /// The function's results for the pieces of the second part.
        tail: Vec<R>,
    },
}

/// A loader for the second part, which never includes anything (an include there makes the
/// split fail the check, as it reports an error).
struct NoIncludes;

impl SourceLoader for NoIncludes {
    fn load(&self, path: &Path) -> std::io::Result<String> {
        Err(std::io::Error::other(format!(
            "{}: no include in the second part of a split file",
            path.display()
        )))
    }

    fn exists(&self, _: &Path) -> bool {
        false
    }
}

/// Lexes the config file at `path`, in two parts on two threads when it is at least
/// `min_len` bytes long and can be split (see the module docs), calling `each` on each piece
/// of each part on the thread that lexed it; `each` also says whether that piece's tokens
/// are still wanted.
pub fn lex_file_in_two<R: Send>(
    path: &Path,
    opts: &LexOptions,
    loader: &dyn SourceLoader,
    min_len: usize,
    each: impl Fn(Part<'_>) -> (R, AfterPart) + Sync,
) -> Split<R> {
    let text: Arc<String> = match loader.load(path) {
        Ok(t) => Arc::new(t),
        Err(e) => return Split::One(lex_loaded(path, Err(e), opts, loader)),
    };
    // The file in one piece, from the text already read.
    let one = || Split::One(lex_loaded(path, Ok(Arc::clone(&text)), opts, loader));
    if text.len() < min_len {
        return one();
    }
    let Some((header_end, split)) = split_points(&text) else {
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
        return one();
    }
    // A string still open for concatenation (`loadmodule "x"` ends most headers, and its
    // `MOD_x` define comes with the string's token) ends now, as the next token would end
    // it, unless that token is another string joining it.
    if lx.pending_string.is_some() {
        let rest = lx.sources.file(id).text().as_bytes().get(header_end..);
        let next = rest.and_then(|r| r.iter().find(|c| !c.is_ascii_whitespace()));
        if next == Some(&b'"') {
            return one();
        }
        lx.flush_string();
    }
    // What the tail starts from: the state at the end of the header.
    let (sources, defines, substs, compat) = (
        lx.sources.clone(),
        lx.defines.clone(),
        lx.substs.clone(),
        lx.compat,
    );
    let parts = std::thread::scope(|s| {
        let each = &each;
        let tail_identity = identity.clone();
        let tail = part_thread().spawn_scoped(s, move || {
            let mut tl = Lexer::new(opts, &NoIncludes);
            tl.sources = sources;
            tl.defines = defines;
            tl.substs = substs;
            tl.compat = compat;
            let r = lex_in_pieces(&mut tl, id, split..len, &tail_identity, each);
            (tl.tokens, tl.expansions, tl.diags, tl.defines.len(), r)
        });
        let head = part_thread().spawn_scoped(s, move || {
            let r = lex_in_pieces(&mut lx, id, header_end..split, &identity, each);
            (lx, r)
        });
        // A thread that cannot be started means one sequential run (the other, if started,
        // is joined when the scope ends).
        let (head, tail) = (head.ok()?, tail.ok()?);
        Some((head.join(), tail.join()))
    });
    let Some((head, tail)) = parts else {
        return one();
    };
    let Ok((mut lx, head)) = head else {
        return one();
    };
    let Ok((mut tail_tokens, tail_expansions, tail_diags, tail_defines, tail)) = tail else {
        return one();
    };
    // The tail may not define anything, and neither part may report anything.
    if !lx.diags.is_empty() || !tail_diags.is_empty() || tail_defines != lx.defines.len() {
        return one();
    }
    // The tail's expansions are numbered after the head's, as a sequential run numbers them.
    let offset = u32::try_from(lx.expansions.len()).unwrap_or(u32::MAX);
    let shift = |e: ExpansionId| {
        u32::try_from(e.index())
            .ok()
            .and_then(|i| i.checked_add(offset))
            .and_then(ExpansionId::new)
    };
    for t in &mut tail_tokens {
        if let Some(e) = t.expansion {
            match shift(e) {
                Some(moved) => t.expansion = Some(moved),
                None => return one(),
            }
        }
    }
    for mut e in tail_expansions {
        e.parent = match e.parent.map(shift) {
            Some(Some(p)) => Some(p),
            Some(None) => return one(),
            None => None,
        };
        lx.expansions.push(e);
    }
    lx.tokens.append(&mut tail_tokens);
    Split::Two {
        lexed: finish(lx),
        head,
        tail,
    }
}

/// Lexes `range` of file `id` in pieces (see [`piece_ends`]), calling `each` on each as soon
/// as it is lexed; the first piece also holds the tokens already lexed (a header). The
/// tokens of a piece `each` is done with are dropped, and the next piece's take their
/// memory. The results of `each`, in order.
fn lex_in_pieces<R>(
    lx: &mut Lexer<'_>,
    id: crate::source::FileId,
    range: std::ops::Range<usize>,
    identity: &Path,
    each: &(impl Fn(Part<'_>) -> (R, AfterPart) + Sync),
) -> Vec<R> {
    let ends = piece_ends(lx.sources.file(id).text().as_bytes(), range.clone());
    let mut results = Vec::with_capacity(ends.len());
    let (mut start, mut first) = (range.start, 0);
    for end in ends {
        lx.reserve_tokens_for(end - start);
        push_main_range(lx, id, start..end, identity.to_path_buf());
        // Every piece ends after a block's `}`: no string is pending, nothing is open.
        lx.run();
        let (r, after) = each(Part {
            tokens: lx.tokens.get(first..).unwrap_or_default(),
            sources: &lx.sources,
        });
        if after == AfterPart::FreeTokens {
            lx.tokens.truncate(first);
        }
        first = lx.tokens.len();
        results.push(r);
        start = end;
    }
    if lx.tokens.is_empty() {
        lx.tokens = Vec::new();
    }
    results
}

/// Where the pieces of `range` of `text` end: at the start of each line, [`PIECE_BYTES`] or
/// more after the previous end, that begins a route block right after a line ending in `}`;
/// the last piece ends at `range.end`.
fn piece_ends(text: &[u8], range: std::ops::Range<usize>) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut from = range.start;
    while let Some(end) = next_block_line(text, from + PIECE_BYTES, range.end) {
        ends.push(end);
        from = end;
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

/// The stack of a thread that lexes and parses a part: what a main thread gets (spawned
/// threads get 2 MiB), so that a deeply nested config a sequential run handles does not
/// overflow here. Only the pages used are committed.
pub const PART_STACK: usize = 8 << 20;

/// A builder for a thread that lexes and parses a part.
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

/// Any of [`STATEFUL`]: an alternation of literals, which the regex engine searches for with
/// a SIMD multi-literal search. Matches that overlap are on one line, so the last match found
/// ends the same line as the last occurrence of any of the words.
static STATEFUL_WORDS: std::sync::LazyLock<regex::bytes::Regex> = std::sync::LazyLock::new(|| {
    let words: Vec<String> = STATEFUL
        .iter()
        .map(|w| regex::escape(&String::from_utf8_lossy(w)))
        .collect();
    regex::bytes::Regex::new(&words.join("|")).expect("escaped literals form a valid regex")
});

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
    // Stateful words are rare: one forward pass finds them all (six reverse searches took
    // most of a millisecond on a 500 kB file).
    let last = STATEFUL_WORDS
        .find_iter(b)
        .last()
        .map_or(0, |m| line_end(b, m.start()));
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
