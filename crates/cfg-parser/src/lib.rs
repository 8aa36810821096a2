//! # cfg-parser
//!
//! The second stage of siprouter's pipeline (text → tokens → **AST** → socket records →
//! transports → router): it turns the tokens of [`cfg_lexer`] into the typed, span-carrying
//! AST of a whole `kamailio.cfg` ([`ast::Config`]): global parameters (each value checked
//! against its type), modules, the listen family as structured values, route blocks with their
//! statements and expressions (Kamailio's precedence table, legacy condition operands, core
//! actions with address arguments, module calls).
//!
//! ```
//! let parsed = cfg_parser::parse_str("k.cfg", "listen=udp:127.0.0.1:5060\nrequest_route { drop; }\n",
//!     &Default::default());
//! assert!(!parsed.has_errors(), "{:?}", parsed.diagnostics);
//! assert_eq!(parsed.config.items.len(), 2);
//! ```
//!
//! One entry point per source ([`parse_file`], [`parse_str`]; [`parse_file_without_tokens`]
//! for a caller that keeps only the AST, which frees the tokens as soon as they are parsed);
//! the result always carries the partial AST *and* every diagnostic (syntax errors are
//! recovered at statement, block and item level, so N independent mistakes give N
//! diagnostics). Semantic checks that need the
//! whole file run after parsing: duplicate routes, `route(X)` to an undefined route, flags used
//! before `flags`, empty blocks (a warning: Kamailio rejects them).
//!
//! ## How a file is parsed
//! The chumsky grammar (`grammar`) defines the language and gives every diagnostic. A clean
//! file is first parsed fast: errors thrown away, each statement and operand read by the one
//! alternative its first token can start, large files in pieces on several threads (`split`).
//! In that fast parse, route blocks are read by a hand-written recursive-descent reader
//! (`descent`) that builds exactly the grammar's AST and leaves every form where the grammar
//! would backtrack or report an error to the grammar; the tests and the fuzz harness check
//! that both give the same items. Any error sends the whole file to the grammar again with
//! rich errors, in one piece.
//!
//! ## Dependencies
//! - `chumsky`: the grammar (named by the product owner), over cfg-lexer's tokens.
//! - `ariadne`: renders a diagnostic as a source snippet with a caret.
//! - `serde`: the AST serialises (`siprouter --dump-ast`).

pub use cfg_lexer as lexer;

pub mod ast;
mod check;
mod descent;
mod diagnostic;
mod exact;
mod first;
#[doc(hidden)]
pub mod fuzzing;
mod grammar;
pub mod params;
pub mod printer;
mod split;

use std::path::Path;

use chumsky::prelude::*;

pub use cfg_lexer::AfterPart;
use cfg_lexer::{FsLoader, LexOptions, Lexed, SourceLoader, SourceMap};

pub use diagnostic::{Diagnostic, Severity};

/// The result of parsing: the (possibly partial) AST, every diagnostic, and the sources the
/// spans point into.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The AST (partial when there were errors).
    pub config: ast::Config,
    /// Errors and warnings of the lexer, the parser and the checks, in source order.
    pub diagnostics: Vec<Diagnostic>,
    /// The lexer's output (sources, defines, tokens; no tokens from
    /// [`parse_file_without_tokens`]).
    pub lexed: Lexed,
}

impl Parsed {
    /// The sources the spans refer to.
    pub fn sources(&self) -> &SourceMap {
        &self.lexed.sources
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// Whether there was any error.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// The AST if there was no error, else every diagnostic.
    pub fn into_result(self) -> Result<ast::Config, Vec<Diagnostic>> {
        if self.has_errors() {
            Err(self.diagnostics)
        } else {
            Ok(self.config)
        }
    }
}

/// Parses the config at `path` (includes read through `loader`). A large file is lexed and
/// parsed in pieces on several threads when it can be (see `cfg_lexer::lex_file_in_pieces`);
/// the result is the same.
pub fn parse_file(path: &Path, opts: &LexOptions, loader: &dyn SourceLoader) -> Parsed {
    parse_file_splitting_from(
        path,
        opts,
        loader,
        split::MIN_BYTES_TO_SPLIT_LEXING,
        AfterPart::KeepTokens,
    )
}

/// [`parse_file`] for a caller that needs the AST and the diagnostics but not the tokens (a
/// config check, a server start): the tokens, a large config's biggest allocation, are freed
/// as soon as they are parsed (piece by piece, on the thread that lexed them, when the file
/// is split), and [`Parsed::lexed`] has none. Everything else is what [`parse_file`] gives.
pub fn parse_file_without_tokens(
    path: &Path,
    opts: &LexOptions,
    loader: &dyn SourceLoader,
) -> Parsed {
    parse_file_with(
        path,
        opts,
        loader,
        &|_: &[ast::Item]| (),
        &|_: PieceItems<'_>, _: &()| (),
    )
    .0
}

/// The items of one piece of a file parsed in pieces, as [`parse_file_with`] hands them to
/// its caller.
#[derive(Debug)]
pub struct PieceItems<'a> {
    /// The piece's place in the file: 0 for the first (which holds the header: the
    /// directives, modules and parameters before the route blocks), then in file order.
    pub index: usize,
    /// The piece's top-level items, in order. Mutable so that a caller done with a part of
    /// them may free it here, on the thread that built it (a config check drops the route
    /// bodies it has checked: see `core_routing::early`); the result then has them as the
    /// caller left them. The parser's own checks ([`Parsed::diagnostics`]) have seen the
    /// piece already.
    pub items: &'a mut [ast::Item],
    /// The sources their spans point into.
    pub sources: &'a SourceMap,
}

/// [`parse_file_without_tokens`], calling `each` with the items of every piece of a large
/// file as soon as that piece is parsed without error, on the thread that parsed it (so
/// work on the items finds them in that core's caches, and runs beside the lexing and
/// parsing of the other pieces). `first` is called once, with the first piece's items (the
/// header is in them), before `each` sees any piece, and `each` gets what it returned: a
/// piece parsed before the first waits for it (up to a second: a piece still without it
/// then is not handed to `each`). Returns, with the parse, what `first` returned and what
/// `each` returned for each piece in file order (`None` for a piece it did not see), or
/// `None` when the file was not parsed in pieces or a piece had an error (then `each` may
/// have seen some of the pieces, and the caller works on the whole [`Parsed`], parsed
/// again, as for [`parse_file_without_tokens`]).
pub fn parse_file_with<C: Send + Sync, R: Send>(
    path: &Path,
    opts: &LexOptions,
    loader: &dyn SourceLoader,
    first: &(dyn Fn(&[ast::Item]) -> C + Sync),
    each: &(dyn Fn(PieceItems<'_>, &C) -> R + Sync),
) -> (Parsed, Option<PieceResults<C, R>>) {
    let (mut parsed, results) = parse_in_pieces(
        path,
        opts,
        loader,
        split::MIN_BYTES_TO_SPLIT_LEXING,
        AfterPart::FreeTokens,
        (first, each),
    );
    // The parts' tokens are gone already; those of a file parsed in one piece go now.
    parsed.lexed.tokens = Vec::new();
    (parsed, results)
}

/// [`parse_file`], lexing and parsing in pieces from `min_len` bytes on (when the machine
/// has two cores). With [`AfterPart::FreeTokens`], the tokens of a file parsed in pieces
/// are freed piece by piece (none are left in the result); a file parsed in one piece, or
/// again after an error, keeps them. Public for the tests that prove the result does not
/// depend on either.
#[doc(hidden)]
pub fn parse_file_splitting_from(
    path: &Path,
    opts: &LexOptions,
    loader: &dyn SourceLoader,
    min_len: usize,
    tokens: AfterPart,
) -> Parsed {
    let work: PieceWork<'_, (), ()> = (&|_| (), &|_, _| ());
    parse_in_pieces(path, opts, loader, min_len, tokens, work).0
}

/// What [`parse_file_with`]'s `first` returned, and what its `each` returned for each piece
/// in file order (`None` for a piece `each` did not see).
pub type PieceResults<C, R> = (C, Vec<Option<R>>);

/// [`parse_file_with`]'s `first` and `each`.
type PieceWork<'w, C, R> = (
    &'w (dyn Fn(&[ast::Item]) -> C + Sync),
    &'w (dyn Fn(PieceItems<'_>, &C) -> R + Sync),
);

/// [`parse_file_splitting_from`] with [`parse_file_with`]'s `first` and `each`.
fn parse_in_pieces<C: Send + Sync, R: Send>(
    path: &Path,
    opts: &LexOptions,
    loader: &dyn SourceLoader,
    min_len: usize,
    tokens: AfterPart,
    (first, each): PieceWork<'_, C, R>,
) -> (Parsed, Option<PieceResults<C, R>>) {
    if split::threads() < 2 {
        return (parse_lexed(cfg_lexer::lex_file(path, opts, loader)), None);
    }
    let first_piece = first::FirstPiece::new();
    // Each piece is parsed, and its route bodies walked for the checks, where it was lexed.
    // A piece with an error keeps its tokens: the diagnostics come from a sequential parse.
    let parse_piece = |piece: cfg_lexer::Piece<'_>| {
        // The pieces waiting for the first are woken however its parse ends.
        let _first_done = (piece.index == 0).then(|| first::SetOnDrop(&first_piece));
        let Some(chunks) = split::parse_all(grammar::Cx::new(piece.tokens, piece.sources)) else {
            return (None, AfterPart::KeepTokens);
        };
        // In place (`filter_map` reuses the list's memory, `flatten` does not).
        #[allow(clippy::filter_map_identity)]
        let mut items: Vec<ast::Item> = chunks.into_iter().filter_map(|item| item).collect();
        let found = check::walk(&items);
        if piece.index == 0 {
            first_piece.set(Some(first(&items)));
        }
        let theirs = first_piece.wait().map(|value| {
            let piece_items = PieceItems {
                index: piece.index,
                items: &mut items,
                sources: piece.sources,
            };
            each(piece_items, value)
        });
        (Some((items, found, piece.tokens.len(), theirs)), tokens)
    };
    match cfg_lexer::lex_file_in_pieces(path, opts, loader, min_len, parse_piece) {
        cfg_lexer::Split::Pieces { lexed, results } if results.iter().all(Option::is_some) => {
            // Sized once: the items are large (a `Vec` doubling to them moved each several
            // times, on the one thread that runs after the pieces).
            let total = results
                .iter()
                .flatten()
                .map(|(piece, ..)| piece.len())
                .sum();
            let (mut items, mut walked, mut count) = (Vec::with_capacity(total), Vec::new(), 0);
            let mut theirs = Vec::with_capacity(results.len());
            for (piece, found, piece_tokens, their) in results.into_iter().flatten() {
                walked.push((piece.len(), found));
                items.extend(piece);
                count += piece_tokens;
                theirs.push(their);
            }
            let parsed = assemble(
                lexed,
                count,
                split::parts_for(count),
                Some(Clean {
                    items,
                    walked: Some(walked),
                }),
            );
            (
                parsed,
                first_piece.into_value().map(|value| (value, theirs)),
            )
        }
        // Some piece was parsed and its tokens freed: another's error is reported from a
        // sequential run over the whole file, lexed again from the texts already read (the
        // lexing was clean, so they are every file it needs), so that the diagnostics are
        // those of the text parsed even if a file changed since.
        cfg_lexer::Split::Pieces { lexed, results }
            if tokens == AfterPart::FreeTokens && results.iter().any(Option::is_some) =>
        {
            // The trees go first, so that a broken file is not held twice.
            drop(results);
            let again =
                cfg_lexer::lex_file(path, opts, &cfg_lexer::ReadLoader::new(&lexed.sources));
            drop(lexed);
            (parse_lexed(again), None)
        }
        cfg_lexer::Split::Pieces { lexed, .. } | cfg_lexer::Split::One(lexed) => {
            (parse_lexed(lexed), None)
        }
    }
}

/// The items of `lexed` from the fast parse (errors thrown away, each statement and operand
/// read by the one alternative its first token can start; `None` on any error) and from the
/// rich parse (every alternative tried, as for diagnostics), with whether the rich parse
/// found an error (the fast parse in pieces, as a clean parse runs; the rich one in one
/// piece). Public for the tests and the fuzz harness that prove
/// the two agree.
#[doc(hidden)]
pub fn fast_and_rich_items(lexed: &Lexed) -> (Option<Vec<ast::Item>>, Vec<ast::Item>, bool) {
    let cx = grammar::Cx::new(&lexed.tokens, &lexed.sources);
    let fast = split::parse_all(cx).map(|items| items.into_iter().flatten().collect());
    let (rich, errs) = parse_rich(cx);
    (fast, rich, !errs.is_empty())
}

/// The items of the fast parse with every route body read by the grammar alone (the
/// hand-written reader, `descent`, turned off): public for the tests and the fuzz harness
/// that prove both readers build the same items.
#[doc(hidden)]
pub fn fast_items_without_descent(lexed: &Lexed) -> Option<Vec<ast::Item>> {
    let cx = grammar::Cx {
        descent: false,
        ..grammar::Cx::new(&lexed.tokens, &lexed.sources)
    };
    split::parse_all(cx).map(|items| items.into_iter().flatten().collect())
}

/// How many of the top-level route blocks of `lexed` (a route keyword at brace depth 0) the
/// hand-written reader reads without leaving them to the grammar, and how many there are:
/// public for the tests that show the fast path is taken.
#[doc(hidden)]
pub fn route_bodies_read_by_descent(lexed: &Lexed) -> (usize, usize) {
    use cfg_lexer::{Punct, TokenKind};
    let cx = grammar::Cx::new(&lexed.tokens, &lexed.sources);
    let (mut read, mut all, mut depth) = (0, 0, 0usize);
    for (i, t) in lexed.tokens.iter().enumerate() {
        match t.kind {
            TokenKind::Punct(Punct::LBrace) => depth += 1,
            TokenKind::Punct(Punct::RBrace) => depth = depth.saturating_sub(1),
            TokenKind::Keyword(k) if depth == 0 && grammar::starts_route(k) => {
                all += 1;
                read += usize::from(descent::route_item(cx, i).is_some());
            }
            _ => {}
        }
    }
    (read, all)
}

/// Every token of `cx` parsed in one piece with rich errors (for the diagnostics): the
/// items it recovered and its errors as diagnostics.
fn parse_rich(cx: grammar::Cx<'_>) -> (Vec<ast::Item>, Vec<Diagnostic>) {
    let input = grammar::input(cx.toks, 0..cx.toks.len());
    let (items, errs) = grammar::config::<_, chumsky::extra::Err<grammar::Err<'_>>>(cx)
        .parse(input.as_slice())
        .into_output_errors();
    let items = items.unwrap_or_default().into_iter().flatten().collect();
    let errs = errs.iter().map(|e| Diagnostic::from_rich(e, cx)).collect();
    (items, errs)
}

/// Items that parsed without error, with the checks' walk of their route bodies (per run of
/// items, see `check::check`).
struct Clean {
    items: Vec<ast::Item>,
    walked: Option<Vec<(usize, Vec<check::Finding>)>>,
}

/// Parses config text (`name` is its path for messages and includes).
pub fn parse_str(name: &str, text: &str, opts: &LexOptions) -> Parsed {
    parse_lexed(cfg_lexer::lex_str_with(name, text, opts, &FsLoader))
}

/// Parses tokens the lexer already produced.
pub fn parse_lexed(lexed: Lexed) -> Parsed {
    let parts = split::parts_for(lexed.tokens.len());
    parse_lexed_in_parts(lexed, parts)
}

/// [`parse_lexed`] with the error-free fast path cut into at most `parts` chunks parsed on
/// threads of their own (see the `split` module); the result does not depend on `parts`.
/// Public for the tests that prove that.
#[doc(hidden)]
pub fn parse_lexed_in_parts(lexed: Lexed, parts: usize) -> Parsed {
    let count = lexed.tokens.len();
    assemble(lexed, count, parts, None)
}

/// The parse of `lexed`: the items, when the lexing threads already parsed them without
/// error, or a parse in `parts` chunks (again in one piece with rich errors on any error);
/// then the diagnostics and the checks. `token_count` is the file's number of tokens (the
/// lexing threads may have freed them already).
fn assemble(lexed: Lexed, token_count: usize, parts: usize, clean: Option<Clean>) -> Parsed {
    let mut diagnostics: Vec<Diagnostic> = lexed
        .diagnostics
        .iter()
        .map(Diagnostic::from_lexer)
        .collect();
    let cx = grammar::Cx::new(&lexed.tokens, &lexed.sources);
    let n = lexed.tokens.len();
    // A config is usually valid: parse it with free errors first (in chunks on several threads
    // when it is large), and again in one piece with rich errors (for the diagnostics) only
    // when that finds a problem.
    let clean = clean.or_else(|| {
        let cuts = split::cut_points(&lexed.tokens);
        let bounds = if parts > 1 {
            split::chunk_bounds(&cuts, n, parts)
        } else {
            vec![0, n]
        };
        let items = split::parse_chunks(cx, &bounds, &cuts)?
            .into_iter()
            .flatten()
            .collect();
        Some(Clean {
            items,
            walked: None,
        })
    });
    let (config, walked) = match clean {
        // A clean parse needs balanced braces: nothing more to report.
        Some(Clean { items, walked }) => (ast::Config { items }, walked),
        None => {
            let (items, errs) = parse_rich(cx);
            let braces = brace_balance(&lexed.tokens);
            // With unbalanced braces, everything after the unclosed `{` is misread: keep the
            // parser's errors before it only, and say where the brace is.
            let cutoff = braces.iter().map(|d| (d.span.file, d.span.start)).min();
            diagnostics.extend(
                errs.into_iter()
                    .filter(|d| cutoff.is_none_or(|c| (d.span.file, d.span.start) < c)),
            );
            diagnostics.extend(braces);
            (ast::Config { items }, None)
        }
    };
    if token_count == 0 && !lexed.has_errors() {
        let main = Span::new(cfg_lexer::FileId(0), 0, 0);
        diagnostics.push(Diagnostic::error(
            "the configuration is empty (Kamailio rejects an empty file)",
            main,
        ));
    }
    diagnostics.extend(check::check(&config, parts, walked));
    diagnostics.sort_by_key(|d| (d.span.file, d.span.start));
    Parsed {
        config,
        diagnostics,
        lexed,
    }
}

use cfg_lexer::Span;

/// Checks that `{` and `}` balance: an unmatched `}` is reported where it is, an unclosed `{`
/// at the innermost one still open at the end (usually the line with the extra brace).
fn brace_balance(tokens: &[cfg_lexer::Token]) -> Vec<Diagnostic> {
    use cfg_lexer::{Punct, TokenKind};
    let mut open: Vec<Span> = Vec::new();
    let mut out = Vec::new();
    for t in tokens {
        match t.kind {
            TokenKind::Punct(Punct::LBrace) => open.push(t.span),
            TokenKind::Punct(Punct::RBrace) if open.pop().is_none() => {
                out.push(Diagnostic::error("`}` without a matching `{`", t.span));
            }
            _ => {}
        }
    }
    if let Some(last) = open.last() {
        out.push(
            Diagnostic::error(
                format!(
                    "`{{` is never closed ({} unclosed brace(s) at the end of the file)",
                    open.len()
                ),
                *last,
            )
            .with_help("check the braces of this block and the blocks inside it"),
        );
    }
    out
}
