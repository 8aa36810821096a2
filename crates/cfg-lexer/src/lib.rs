//! # cfg-lexer
//!
//! The first stage of siprouter's pipeline (text → **tokens** → AST → socket records →
//! transports → router): it turns `kamailio.cfg` text into [`Token`]s with exact source
//! positions and runs Kamailio's preprocessor while doing so, the way Kamailio's own scanner
//! does — there is no separate preprocessing pass:
//!
//! - every token class of the language: comments (`#`, `//`, nesting `/* */`), identifiers
//!   and reserved words, numbers (decimal, hex, octal, binary, value words such as `yes`),
//!   strings with escapes and adjacent-string joining, IPv6 literals, pseudo-variables
//!   (`$ru`, `$var(x)`, `$(ru{s.len})`), attributes (`%x`, `$x[1]`), selects
//!   (`@via[1].branch`), operators and line continuations;
//! - the preprocessor: `#!define`/`#!trydef`/`#!redefine`/`#!undef`, `#!ifdef`/`#!ifndef`/
//!   `#!ifexp`/`#!else`/`#!endif`, `#!defexp`, `#!defenv` and variants, `#!subst`/
//!   `#!substdef`/`#!substdefs`, `include_file`/`import_file`, the compatibility markers
//!   `#!KAMAILIO`/`#!SER`/`#!MAXCOMPAT`/`#!ALL`, caller defines (Kamailio's `-A`) and the
//!   `MOD_<name>` define after each `loadmodule`.
//!
//! Every token carries a [`Span`] (file id and byte range), which the [`SourceMap`] turns into
//! `file:line:column` — also inside included files. A token produced by a define's value
//! points at the value's text and names its [`Expansion`], which records the place of use.
//!
//! Problems are [`Diagnostic`]s, never panics: lexing goes on after an error so that one run
//! reports everything. Where Kamailio's behaviour is an accident of its scanner (a `#!endif`
//! followed by a comment is no endif; characters with no rule are echoed to stdout and
//! ignored; a define's value swallows the rest of the line when it ends in a comment), we do
//! the sensible thing and say in a warning what Kamailio would do instead.
//!
//! A large file whose preprocessor constructs all come before its last fifth can be lexed
//! in pieces on several threads ([`lex_file_in_pieces`]; the parser parses each piece on the
//! thread that lexed it). The result is checked to be exactly a sequential run's; when it
//! cannot be, the file is lexed in one piece.
//!
//! ```
//! let lexed = cfg_lexer::lex_str("cfg", "#!define PORT 5060\nport = PORT\n", &Default::default());
//! assert!(lexed.errors().next().is_none());
//! let kinds: Vec<String> = lexed.tokens.iter().map(|t| t.kind.to_string()).collect();
//! assert_eq!(kinds, ["keyword `port`", "`=`", "number 5060"]);
//! ```
//!
//! ## Dependencies
//! - `serde`: tokens, spans and diagnostics serialise (snapshot tests, `--dump-*` output).
//! - `thiserror`: the error enum [`LexError`].
//! - `regex`: `#!subst` rules are regular expressions; Kamailio uses POSIX ERE, which the
//!   `regex` crate covers for what configs use. It is built without its Unicode tables except
//!   case folding, to stay small.
//! - `rustc-hash`: every word read is looked up among the keywords and the defines; its Fx
//!   hash made those lookups several times cheaper than std's SipHash (the keys are the
//!   config's own words, so hash flooding is no concern). Tiny, no dependencies, and already
//!   in the workspace through quinn.
//! - `memchr`: finds the line ends of every source file (for line/column) with SIMD; already
//!   used by sip-message.

mod diagnostic;
mod expand;
mod keywords;
mod lexer;
mod preproc;
mod source;
mod split;
mod token;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

pub use diagnostic::{Diagnostic, LexError, Severity};
pub use keywords::{is_reserved, Keyword};
pub use source::{
    normalize_path, text_from_bytes, FileId, FsLoader, LineCol, Location, MemoryLoader, ReadLoader,
    SourceFile, SourceLoader, SourceMap, SourceOrigin, Span,
};
pub use split::{cores, lex_file_in_pieces, AfterPart, Piece, Split, PART_STACK, PIECE_BYTES};
pub use token::{Expansion, ExpansionId, Punct, SubstKind, Token, TokenKind};

use lexer::{FrameKind, Lexer};
use preproc::DefineMode;

/// How `$` is read (set by the `#!KAMAILIO`, `#!SER`, `#!MAXCOMPAT` markers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum CompatMode {
    /// The default: `$name` may be a pseudo-variable or an AVP; `$name[…]` and `$f.x` are AVPs.
    #[default]
    Max,
    /// `#!KAMAILIO` / `#!OPENSER`: every `$name` is a pseudo-variable.
    Kamailio,
    /// `#!SER`: every `$` starts an AVP.
    Ser,
}

/// A preprocessor define.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Define {
    /// The value's text, if it has one (in the file that defined it, or in a virtual file for
    /// computed values).
    pub value: Option<Span>,
    /// Where the name was defined (`None` for builtin defines).
    pub defined_at: Option<Span>,
}

/// The Kamailio version whose predefined names (`KAMAILIO_6`, `KAMAILIO_VERSION`, …) are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KamailioVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch level.
    pub patch: u32,
}

/// Settings of one lexing run.
#[derive(Debug, Clone)]
pub struct LexOptions {
    /// Defines given by the caller, in order (Kamailio's `-A NAME[=VALUE]`).
    pub defines: Vec<(String, Option<String>)>,
    /// The version whose `KAMAILIO_*` names are predefined. Default: 6.2.0, the language the
    /// spec describes.
    pub version: KamailioVersion,
    /// Environment for `#!defenv`: `None` reads the process environment.
    pub env: Option<HashMap<String, String>>,
    /// Modules loaded before the config (Kamailio's `--loadmodule`), by name: each defines
    /// `MOD_<name>` before the first line, as a `loadmodule` line would.
    pub modules: Vec<String>,
    /// Substitution rules given by the caller, in order (Kamailio's `--subst`, `--substdef`,
    /// `--substdefs`): they come before the config's `#!subst` rules and do not apply to the
    /// [`LexOptions::prelude`]. A bad one is an error placed in a source of its own, named
    /// after the option and the rule.
    pub substs: Vec<(SubstKind, String)>,
    /// Config text read before the main file's first line, each piece in a source of its own
    /// named by its label (Kamailio's `--modparam`, given as `modparam(...)` lines).
    pub prelude: Vec<(String, String)>,
}

impl Default for LexOptions {
    fn default() -> Self {
        LexOptions {
            defines: Vec::new(),
            version: KamailioVersion {
                major: 6,
                minor: 2,
                patch: 0,
            },
            env: None,
            modules: Vec::new(),
            substs: Vec::new(),
            prelude: Vec::new(),
        }
    }
}

impl LexOptions {
    pub(crate) fn env_var(&self, name: &str) -> Option<String> {
        match &self.env {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }
}

/// The result of lexing a config: tokens, diagnostics, and everything needed to explain them.
#[derive(Debug, Clone)]
pub struct Lexed {
    /// The tokens, in order, with includes spliced in and defines substituted.
    pub tokens: Vec<Token>,
    /// Errors and warnings, in the order they were found.
    pub diagnostics: Vec<Diagnostic>,
    /// The text of every file that took part (the main file is `FileId(0)`).
    pub sources: SourceMap,
    /// The define expansions that tokens refer to.
    pub expansions: Vec<Expansion>,
    /// The defines in force at the end of the file (including `MOD_*` and builtins).
    pub defines: rustc_hash::FxHashMap<String, Define>,
    /// The compatibility mode at the end of the file.
    pub compat: CompatMode,
    /// The files that were included, in the order they were first read.
    pub included_files: Vec<FileId>,
}

impl Lexed {
    /// The errors (not the warnings).
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// Whether any error was found.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// The source text of a token as written.
    pub fn text(&self, token: &Token) -> &str {
        self.sources.text(token.span)
    }

    /// The chain of places a token was expanded at, innermost first (empty for a token read
    /// directly from a file).
    pub fn expansion_chain(&self, token: &Token) -> Vec<&Expansion> {
        let mut out = Vec::new();
        let mut next = token.expansion;
        while let Some(id) = next {
            let Some(e) = self.expansions.get(id.index()) else {
                break;
            };
            out.push(e);
            next = e.parent;
        }
        out
    }

    /// Where a token was used: its own place for a token read from a file, the outermost
    /// use site for a token that came from a define.
    pub fn use_site(&self, token: &Token) -> Span {
        self.expansion_chain(token)
            .last()
            .map_or(token.span, |e| e.use_site)
    }
}

/// Lexes the config file at `path`, reading it and its includes through `loader`.
pub fn lex_file(path: &Path, opts: &LexOptions, loader: &dyn SourceLoader) -> Lexed {
    lex_loaded(path, loader.load(path).map(Arc::new), opts, loader)
}

/// [`lex_file`] for a main file already read (`text`, or the error reading it gave).
fn lex_loaded(
    path: &Path,
    text: std::io::Result<Arc<String>>,
    opts: &LexOptions,
    loader: &dyn SourceLoader,
) -> Lexed {
    let mut lx = Lexer::new(opts, loader);
    // The main file is always FileId(0), so it is added before the builtin defines.
    match text {
        Ok(text) => {
            let identity = loader.identity(path);
            let len = text.len();
            let id = lx
                .sources
                .add_shared(SourceOrigin::File(path.to_path_buf()), text);
            lx.reserve_tokens_for(len);
            predefine(&mut lx);
            push_main(&mut lx, id, len, identity);
        }
        Err(e) => {
            let id = lx.sources.add(SourceOrigin::File(path.to_path_buf()), "");
            lx.error(LexError::MainUnreadable(e.to_string()), Span::new(id, 0, 0));
        }
    }
    finish(lx)
}

/// `value` as a double-quoted config string that this lexer reads back as `value` (for
/// callers that write config text, such as a `modparam` line built from the command line).
pub fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    expand::quote(&mut out, value);
    out
}

/// Lexes config text that is not in a file (`name` is shown in messages). Includes are read
/// from the file system relative to the working directory.
pub fn lex_str(name: &str, text: &str, opts: &LexOptions) -> Lexed {
    lex_str_with(name, text, opts, &FsLoader)
}

/// Lexes config text, reading includes through `loader`; `name` is the text's path (includes
/// are resolved relative to its directory).
pub fn lex_str_with(name: &str, text: &str, opts: &LexOptions, loader: &dyn SourceLoader) -> Lexed {
    let mut lx = Lexer::new(opts, loader);
    let id = lx
        .sources
        .add(SourceOrigin::File(name.into()), text.to_string());
    predefine(&mut lx);
    push_main(&mut lx, id, text.len(), Path::new(name).to_path_buf());
    finish(lx)
}

fn push_main(lx: &mut Lexer<'_>, id: FileId, len: usize, identity: std::path::PathBuf) {
    push_main_range(lx, id, 0..len, identity);
    push_prelude(lx);
    lx.run();
}

/// Pushes the caller's [`LexOptions::prelude`] above the main file's frame, so that it is
/// read first, in order.
pub(crate) fn push_prelude(lx: &mut Lexer<'_>) {
    let opts = lx.opts;
    for (label, text) in opts.prelude.iter().rev() {
        let span = lx.virtual_value(label.clone(), text.clone());
        lx.prelude_files.push(span.file);
        let text = lx.sources.file(span.file).shared_text();
        lx.frames.push(lexer::Frame {
            file: span.file,
            end: text.len(),
            text,
            pos: 0,
            kind: FrameKind::File {
                identity: std::path::PathBuf::from(format!("<{label}>")),
            },
        });
    }
}

/// Pushes the bytes `range` of the main file as the frame to lex (a split file lexes its
/// parts from different frames of the same file).
fn push_main_range(
    lx: &mut Lexer<'_>,
    id: FileId,
    range: std::ops::Range<usize>,
    identity: std::path::PathBuf,
) {
    let text = lx.sources.file(id).shared_text();
    lx.frames.push(lexer::Frame {
        file: id,
        text,
        pos: range.start,
        end: range.end,
        kind: FrameKind::File { identity },
    });
}

fn finish(lx: Lexer<'_>) -> Lexed {
    Lexed {
        tokens: lx.tokens,
        diagnostics: lx.diags,
        sources: lx.sources,
        expansions: lx.expansions,
        defines: lx.defines,
        compat: lx.compat,
        included_files: lx.included_files,
    }
}

/// The builtin defines and the caller's `-A` defines.
fn predefine(lx: &mut Lexer<'_>) {
    let v = lx.opts.version;
    let builtins = [
        (format!("KAMAILIO_{}", v.major), None),
        (format!("KAMAILIO_{}_{}", v.major, v.minor), None),
        (
            format!("KAMAILIO_{}_{}_{}", v.major, v.minor, v.patch),
            None,
        ),
        (
            "KAMAILIO_VERSION".to_string(),
            Some((v.major * 1_000_000 + v.minor * 1000 + v.patch).to_string()),
        ),
        (
            "OS_NAME".to_string(),
            Some(std::env::consts::OS.to_string()),
        ),
    ];
    for (name, value) in builtins {
        let value = value.map(|t| lx.virtual_value(format!("builtin {name}"), t));
        lx.defines.insert(
            name,
            Define {
                value,
                defined_at: None,
            },
        );
    }
    let caller = lx.opts.defines.clone();
    for (name, value) in caller {
        let value = value.map(|t| lx.virtual_value(format!("-A {name}"), t));
        let span = value.unwrap_or(Span::new(FileId(0), 0, 0));
        let def = Define {
            value,
            defined_at: None,
        };
        lx.set_define(&name, def, DefineMode::Redefine, span);
    }
    let opts = lx.opts;
    for (kind, rule) in &opts.substs {
        let span = lx.virtual_value(format!("--{}={rule}", kind.directive()), rule.clone());
        lx.add_subst_rule(*kind, rule, span);
    }
    // `--loadmodule` modules, as their `loadmodule` lines define them (no error when the
    // config loads one again).
    for name in &opts.modules {
        lx.defines.entry(format!("MOD_{name}")).or_insert(Define {
            value: None,
            defined_at: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_main_file_is_file_zero() {
        let lexed = lex_str(
            "main.cfg",
            "port = KAMAILIO_VERSION",
            &LexOptions::default(),
        );
        assert_eq!(lexed.tokens[0].span.file, FileId(0));
        assert_eq!(lexed.sources.file(FileId(0)).display_name(), "main.cfg");
        let mut loader = MemoryLoader::new();
        loader.insert("a.cfg", "x");
        let lexed = lex_file(Path::new("a.cfg"), &LexOptions::default(), &loader);
        assert_eq!(lexed.tokens[0].span.file, FileId(0));
    }

    /// A second lex over what the first read gives the same tokens and sources, with the
    /// files gone; it knows no other file.
    #[test]
    fn a_config_lexed_again_from_what_was_read_is_the_same() {
        let mut loader = MemoryLoader::new();
        // `a.cfg` is looked for beside the main file first (`etc/a.cfg`, missing), then
        // where the process runs; `b.cfg` is found beside it.
        loader.insert(
            "etc/main.cfg",
            "include_file \"a.cfg\"\nimport_file \"gone.cfg\"\ninclude_file \"b.cfg\"\nport=1\n",
        );
        loader.insert("a.cfg", "#!define X 5060\nlisten=udp:127.0.0.1:X\n");
        loader.insert("etc/b.cfg", "children=2\n");
        let opts = LexOptions::default();
        let main = Path::new("etc/main.cfg");
        let first = lex_file(main, &opts, &loader);
        assert!(first.diagnostics.is_empty(), "{:?}", first.diagnostics);
        let again = lex_file(main, &opts, &ReadLoader::new(&first.sources));
        assert_eq!(first.tokens, again.tokens);
        assert_eq!(first.diagnostics, again.diagnostics);
        let files = |l: &Lexed| -> Vec<(SourceOrigin, String)> {
            l.sources
                .files()
                .map(|(_, f)| (f.origin().clone(), f.text().to_owned()))
                .collect()
        };
        assert_eq!(files(&first), files(&again));
        let read_from = |path: &str| {
            files(&first)
                .iter()
                .any(|(o, _)| *o == SourceOrigin::File(path.into()))
        };
        assert!(read_from("a.cfg") && read_from("etc/b.cfg"));
        let read = ReadLoader::new(&first.sources);
        assert!(read.exists(Path::new("a.cfg")) && !read.exists(Path::new("gone.cfg")));
        assert_eq!(
            read.load(Path::new("other.cfg")).map_err(|e| e.kind()),
            Err(std::io::ErrorKind::NotFound)
        );
    }
}
