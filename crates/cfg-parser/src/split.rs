//! Parsing a large config on several threads.
//!
//! Top-level items do not depend on each other for parsing, so the token stream of a large
//! config is cut into chunks at route-block boundaries and each chunk is parsed on a thread
//! of its own (std scoped threads; each thread builds its own grammar, as chumsky's recursive
//! parsers are not `Send`). This is the error-free fast path only: when any chunk fails, the
//! caller parses the whole input again in one piece with rich errors, so diagnostics and
//! recovery never depend on where the cuts were.
//!
//! A cut is made only where the previous item has certainly ended: before a route keyword
//! (`route`, `request_route`, `failure_route`, …) that follows a `}` closing the outermost
//! brace. Every chunk parser must consume its chunk to the end, so a cut that split an item
//! would show as an error and fall back to the sequential parse.

use chumsky::input::Input as _;
use chumsky::prelude::*;

use cfg_lexer::{Punct, Token, TokenKind};

use crate::ast::Item;
use crate::descent;
use crate::grammar::{self, Cx};

/// Below this many tokens one thread parses the whole file: spawning costs more than it buys.
pub(crate) const MIN_TOKENS_TO_SPLIT: usize = 16 * 1024;

/// Token indexes where a chunk may start: route keywords right after a `}` that closes the
/// outermost brace. Empty when braces do not balance (the sequential parse reports that).
pub(crate) fn cut_points(tokens: &[Token]) -> Vec<usize> {
    let mut cuts = Vec::new();
    let depth = walk_cuts(tokens, 0, tokens.len(), |i| {
        cuts.push(i);
        true
    });
    if depth == Some(0) {
        cuts
    } else {
        Vec::new()
    }
}

/// Walks tokens `from..end` (`from` at brace depth 0), calling `at_cut` with each cut point
/// until it returns `false`; the brace depth where the walk stopped, or `None` at a `}`
/// without its `{`.
fn walk_cuts(
    tokens: &[Token],
    from: usize,
    end: usize,
    mut at_cut: impl FnMut(usize) -> bool,
) -> Option<usize> {
    let mut depth = 0usize;
    let mut after_outer_close = false;
    for (i, t) in tokens.iter().enumerate().take(end).skip(from) {
        match &t.kind {
            TokenKind::Punct(Punct::LBrace) => depth += 1,
            TokenKind::Punct(Punct::RBrace) => {
                depth = depth.checked_sub(1)?;
                after_outer_close = depth == 0;
                continue;
            }
            // A cut: the walk stops when `at_cut` says so.
            TokenKind::Keyword(k)
                if after_outer_close && grammar::starts_route(*k) && !at_cut(i) =>
            {
                return Some(depth);
            }
            _ => {}
        }
        after_outer_close = false;
    }
    Some(depth)
}

/// Chooses up to `parts - 1` cuts that divide `n` tokens into chunks of about equal size,
/// as chunk boundaries `0, c1, …, n`.
pub(crate) fn chunk_bounds(cuts: &[usize], n: usize, parts: usize) -> Vec<usize> {
    let mut bounds = vec![0];
    for k in 1..parts {
        let ideal = n * k / parts;
        // The first cut at or after the ideal point, if it leaves the chunk non-empty.
        let i = cuts.partition_point(|&c| c < ideal);
        if let Some(&c) = cuts.get(i) {
            if c > *bounds.last().unwrap_or(&0) && c < n {
                bounds.push(c);
            }
        }
    }
    bounds.push(n);
    bounds
}

/// From this size on, a file is lexed and parsed in pieces on several threads when it can be
/// (`cfg_lexer::lex_file_in_pieces`): lexing overlaps parsing.
pub(crate) const MIN_BYTES_TO_SPLIT_LEXING: usize = 64 * 1024;

/// The fewest tokens a piece holds before it is cut (at the next route block): one call of
/// the grammar then reads a few thousand tokens, and its input (a copy of the token kinds)
/// comes from memory the allocator has just freed, where one input for the whole range was
/// megabytes of fresh pages. (A single huge route block is still one piece.)
const PIECE_TOKENS: usize = 4096;

/// Parses the tokens `range` of `cx` with free errors, in pieces of about [`PIECE_TOKENS`]
/// cut before top-level route blocks; `None` on any syntax error.
fn parse_range(cx: Cx<'_>, range: std::ops::Range<usize>) -> Option<Vec<Option<Item>>> {
    // No cut inside a range this short is far enough from its start (a lexer's piece of a
    // split file usually is one): it is one piece, without looking for cut points.
    if range.len() <= PIECE_TOKENS {
        return parse_pieces(cx, range, std::iter::empty());
    }
    let cuts = cut_points(cx.toks.get(range.clone()).unwrap_or_default());
    let start = range.start;
    parse_pieces(cx, range, cuts.iter().map(|c| c + start))
}

/// [`parse_range`] with the cut points (token indexes into all of `cx`, ascending) already
/// known.
fn parse_pieces(
    cx: Cx<'_>,
    range: std::ops::Range<usize>,
    cuts: impl Iterator<Item = usize>,
) -> Option<Vec<Option<Item>>> {
    let mut items = Vec::new();
    let mut start = range.start;
    for cut in cuts.chain([range.end]) {
        if cut > start && (cut - start >= PIECE_TOKENS || cut == range.end) {
            let piece = parse_piece(cx, start..cut)?;
            // A range in one piece (a lexer's piece of a split file usually is) keeps the
            // piece's own list: no second one, nor a copy.
            if items.is_empty() {
                items = piece;
            } else {
                items.extend(piece);
            }
            start = cut;
        }
    }
    Some(items)
}

/// Parses the tokens `range` of `cx`: each route block that starts an item by the
/// hand-written reader where it can (see [`crate::descent`]), the items between those in one
/// call of the grammar each (up to the next cut point); `None` on any syntax error.
fn parse_piece(cx: Cx<'_>, range: std::ops::Range<usize>) -> Option<Vec<Option<Item>>> {
    // The hand-written reader sees no token past the piece, as the grammar.
    let cx = Cx {
        toks: cx.toks.get(..range.end).unwrap_or(cx.toks),
        ..cx
    };
    if !cx.descent {
        return parse_by_grammar(cx, range);
    }
    let mut items = Vec::new();
    // The first token given to neither reader yet: always the start of an item.
    let mut pending = range.start;
    while pending < range.end {
        if let Some((item, next)) = descent::route_item(cx, pending) {
            items.push(Some(item));
            pending = next;
            continue;
        }
        // Up to the next route block that may start an item, by the grammar.
        let cut = next_cut(cx.toks, pending, range.end);
        items.extend(parse_by_grammar(cx, pending..cut)?);
        pending = cut;
    }
    Some(items)
}

/// The first cut point (see [`cut_points`]) after token `from` and before `end`, for `from`
/// at the start of an item; `end` if there is none, or if the braces do not balance before
/// it.
fn next_cut(tokens: &[Token], from: usize, end: usize) -> usize {
    let mut cut = end;
    walk_cuts(tokens, from, end, |i| {
        cut = i;
        false
    });
    cut
}

/// Parses the tokens `range` of `cx` in one call of the grammar; `None` on any syntax error.
fn parse_by_grammar(cx: Cx<'_>, range: std::ops::Range<usize>) -> Option<Vec<Option<Item>>> {
    let start = range.start;
    let input = grammar::input(cx.toks, range);
    // Slice spans count from the chunk's start: shifted, they are indexes into all tokens.
    let result = grammar::config::<_, chumsky::extra::Default>(cx).parse(
        input
            .as_slice()
            .map_span(move |s: SimpleSpan| SimpleSpan::from(s.start + start..s.end + start)),
    );
    if result.has_errors() {
        None
    } else {
        result.into_output()
    }
}

/// Parses all tokens of `cx` on this thread with free errors; `None` on any syntax error.
pub(crate) fn parse_all(cx: Cx<'_>) -> Option<Vec<Option<Item>>> {
    parse_range(cx, 0..cx.toks.len())
}

/// Parses the tokens of `cx` in the chunks `bounds` describes, one thread per chunk, each in
/// pieces at the `cuts` ([`cut_points`] of all the tokens) inside it. `None` when any chunk
/// has a syntax error (or its thread panicked).
pub(crate) fn parse_chunks(
    cx: Cx<'_>,
    bounds: &[usize],
    cuts: &[usize],
) -> Option<Vec<Option<Item>>> {
    let ranges: Vec<_> = bounds.windows(2).map(|w| w[0]..w[1]).collect();
    ranges.first()?;
    let parse = |range: &std::ops::Range<usize>| {
        let inside =
            cuts.partition_point(|&c| c <= range.start)..cuts.partition_point(|&c| c < range.end);
        parse_pieces(
            cx,
            range.clone(),
            cuts.get(inside).unwrap_or_default().iter().copied(),
        )
    };
    let mut items = Vec::new();
    for chunk in on_threads(&ranges, parse) {
        items.extend(chunk.ok()??);
    }
    Some(items)
}

/// Runs `f` on each of `inputs`: the first on this thread, each other on a thread of its
/// own (with a part's stack, [`cfg_lexer::PART_STACK`]); an input whose thread cannot start
/// runs here. The results in input order; a panic comes back as its thread's `Err`.
pub(crate) fn on_threads<T: Sync, R: Send>(
    inputs: &[T],
    f: impl Fn(&T) -> R + Sync,
) -> Vec<std::thread::Result<R>> {
    let Some((first, rest)) = inputs.split_first() else {
        return Vec::new();
    };
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = rest
            .iter()
            .map(|x| {
                let thread = std::thread::Builder::new()
                    .stack_size(cfg_lexer::PART_STACK)
                    .spawn_scoped(s, move || f(x));
                (x, thread)
            })
            .collect();
        let mut out = vec![Ok(f(first))];
        for (x, thread) in handles {
            out.push(match thread {
                Ok(h) => h.join(),
                Err(_) => Ok(f(x)),
            });
        }
        out
    })
}

/// How many chunks to parse a stream of `n` tokens in.
pub(crate) fn parts_for(n: usize) -> usize {
    if n < MIN_TOKENS_TO_SPLIT {
        return 1;
    }
    threads()
}

/// How many threads a large file is worth: the cores, at most four.
pub(crate) fn threads() -> usize {
    cfg_lexer::cores().map_or(1, |n| n.min(4))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Token> {
        cfg_lexer::lex_str_with("t.cfg", text, &Default::default(), &cfg_lexer::FsLoader).tokens
    }

    #[test]
    fn cuts_only_before_top_level_routes() {
        let t = toks("x=1\nroute[A] { if (1) { drop; } }\nroute[B] { exit; }\nfailure_route[C] { route(A); }\n");
        let cuts = cut_points(&t);
        assert_eq!(cuts.len(), 2, "{cuts:?}");
        for c in &cuts {
            assert!(matches!(t[*c].kind, TokenKind::Keyword(_)));
            assert!(matches!(t[*c - 1].kind, TokenKind::Punct(Punct::RBrace)));
        }
        // `route(A)` inside a block is no cut, nor the first route (no `}` before it).
        assert!(cuts.iter().all(|&c| c > 4));
    }

    #[test]
    fn a_range_parsed_in_pieces_is_parsed_as_in_one_call() {
        let mut text = String::from("#!define N 7\nlisten=udp:127.0.0.1:5060\n");
        for i in 0..400 {
            text.push_str(&format!(
                "route[R{i}] {{\n  $var(x) = {i} + N * 2;\n  if ($var(x) > 3 && method == \"INVITE\") {{ route(R0); }}\n}}\n"
            ));
            if i % 50 == 0 {
                text.push_str(&format!("modparam(\"m\", \"p{i}\", {i})\n"));
            }
        }
        let lexed =
            cfg_lexer::lex_str_with("t.cfg", &text, &Default::default(), &cfg_lexer::FsLoader);
        let n = lexed.tokens.len();
        assert!(n > 3 * PIECE_TOKENS, "{n} tokens");
        let cx = Cx::new(&lexed.tokens, &lexed.sources);
        let pieces = parse_range(cx, 0..n).expect("parses");
        assert_eq!(pieces.len(), 400 + 8 + 1);
        assert_eq!(Some(pieces), parse_piece(cx, 0..n));
        // From a cut in the middle to the end, too.
        let mid = cut_points(&lexed.tokens)[200];
        assert_eq!(parse_range(cx, mid..n), parse_piece(cx, mid..n));
    }

    #[test]
    fn next_cut_walks_the_cut_points_one_by_one() {
        let t = toks("x=1\nroute[A] { if (1) { drop; } }\nroute[B] { exit; }\n;failure_route[C] { route(A); }\nroute[D] { }\n");
        let n = t.len();
        let mut walked = Vec::new();
        let mut at = 0;
        loop {
            let cut = next_cut(&t, at, n);
            if cut == n {
                break;
            }
            walked.push(cut);
            at = cut;
        }
        assert_eq!(walked, cut_points(&t));
        assert_eq!(walked.len(), 2, "{walked:?}");
        // A `}` with no `{` gives no cut, nor does anything past `end`.
        let broken = toks("route[A] { drop; } }\nroute[B] { exit; }\n");
        assert_eq!(next_cut(&broken, 0, broken.len()), broken.len());
        assert_eq!(next_cut(&t, 0, walked[0]), walked[0]);
    }

    #[test]
    fn unbalanced_braces_give_no_cuts() {
        assert!(cut_points(&toks("route[A] { drop; }\n}\nroute[B] { exit; }\n")).is_empty());
        assert!(cut_points(&toks("route[A] { drop; }\nroute[B] { exit;\n")).is_empty());
    }

    #[test]
    fn bounds_are_increasing_and_cover_everything() {
        assert_eq!(chunk_bounds(&[10, 50, 90], 100, 2), vec![0, 50, 100]);
        assert_eq!(chunk_bounds(&[10, 60, 90], 100, 3), vec![0, 60, 90, 100]);
        assert_eq!(chunk_bounds(&[], 100, 4), vec![0, 100]);
        assert_eq!(chunk_bounds(&[95], 100, 4), vec![0, 95, 100]);
    }
}
