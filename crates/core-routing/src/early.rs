//! Route bodies checked early: while a large config is still being parsed, piece by piece,
//! on the thread that parsed each piece (`cfg_parser::parse_file_with`).
//!
//! A config check (`-c`) reads every route body twice: once when it is parsed, once when
//! the route script is checked. Checked afterwards, a large config's tree (megabytes, built
//! on several cores) is out of the checking core's caches, and reading it back is most of
//! the check's time. Checked early, each body is read while it is still in the caches.
//!
//! The check of a body needs the whole config's modules, flags, module parameters, cfg
//! variables, sockets and route names, and an early check has only the first piece (the
//! header: directives, modules and parameters). So it assumes: the context is the one the
//! first piece gives ([`EarlyContext`]); every route a body calls exists; a body that needs
//! the sockets (`force_send_socket`) is not checked early. The whole check
//! ([`check_with_early`]) then verifies the assumptions against the whole config and uses an
//! early outcome only where they held: the same context, every route called defined. Every
//! other body (those that failed or needed the sockets, those of a piece that waited too
//! long for the context, all of them when the context differs) is checked as before, and
//! the outcomes are merged in body order, so errors and warnings are exactly those of
//! [`crate::check`].

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use cfg_parser::ast::{self, Item};
use cfg_parser::lexer::{SourceMap, Span};

use crate::compile::{self, CompileError};
use crate::modparams::ModSettings;
use crate::select::CfgVars;
use crate::RouterConfig;

/// What a config's first piece says about the rest: its modules (after the `--loadmodule`
/// ones), flags, module parameters and cfg variables, as pass 1 of the compiler gathers them.
#[derive(Debug, Clone)]
pub struct EarlyContext {
    pub(crate) modules: HashSet<String>,
    pub(crate) flags: HashMap<String, u32>,
    pub(crate) settings: ModSettings,
    pub(crate) cfg_vars: CfgVars,
    /// The one matcher a check gives every pattern (see `Compiler::stand_in`).
    pub(crate) stand_in: Option<crate::compile::Regex>,
}

impl EarlyContext {
    /// The context of a config whose first piece holds `items` (its route blocks are
    /// skipped), with `preloaded` loaded before it (`--loadmodule`, [`RouterConfig::modules`]);
    /// `None` when pass 1 reports an error on them (the whole check will report it).
    pub fn from_first_piece(items: &[Item], preloaded: &[String]) -> Option<Self> {
        compile::early_context(items, preloaded)
    }
}

/// The route bodies of one piece checked early ([`check_early`]).
#[derive(Debug, Clone, Default)]
pub struct EarlyBodies {
    pub(crate) bodies: Vec<EarlyBody>,
    /// Whether their statements were freed ([`EarlyBodies::release`]).
    pub(crate) released: bool,
}

impl EarlyBodies {
    /// How many bodies were checked without an error (the others are left to the whole
    /// check).
    pub fn len(&self) -> usize {
        self.bodies.len()
    }

    /// Whether no body was.
    pub fn is_empty(&self) -> bool {
        self.bodies.is_empty()
    }

    /// Frees the statements of the route bodies among `items` (the piece these checks were
    /// made on) that were checked early, leaving each such block with an empty body: for a
    /// config check, which needs no more of them than their early outcome. Freed here, on
    /// the thread that parsed and checked them, the memory serves that thread's next piece,
    /// where a tree kept whole until the check's end is megabytes of fresh pages, each a
    /// page fault (see `docs/performance.md`, `-c` lever 52).
    ///
    /// [`check_with_early`] then gives no verdict when one of these outcomes turns out not
    /// to hold: the caller checks the config again, parsed in full.
    pub fn release(&mut self, items: &mut [Item]) {
        // The bodies were checked in item order, of the blocks pass 2 compiles: one walk
        // over those pairs them. (Two such blocks that share a body's span, the expansions
        // of one define, may pair the wrong way round when one failed; but a shared span is
        // never used, so the check asks for the full parse then.)
        let mut checked = self.bodies.iter().map(|b| b.span).peekable();
        for item in items {
            let Item::Route(r) = item else {
                continue;
            };
            if compile::pass_two_compiles(r) && checked.next_if_eq(&r.body.span).is_some() {
                r.body.stmts = Vec::new();
            }
        }
        self.released = true;
    }
}

/// One route body checked early without an error.
#[derive(Debug, Clone)]
pub(crate) struct EarlyBody {
    /// The body's span (`{` to `}`): which body it is.
    pub(crate) span: Span,
    /// Its warnings.
    pub(crate) warnings: Vec<CompileError>,
    /// Its first pseudo-variable use.
    pub(crate) pv_use: Option<Span>,
    /// The routes it calls that the context did not name.
    pub(crate) routes: Vec<String>,
}

/// Checks the route bodies among `items` (a piece of a config) in context `cx`, as the
/// whole check would if the whole config gave `cx`.
pub fn check_early(cx: &EarlyContext, items: &[Item], sources: &SourceMap) -> EarlyBodies {
    compile::check_early(cx, items, sources)
}

/// The early checks of a config: its context and the pieces' bodies.
#[derive(Debug, Clone)]
pub struct EarlyChecks {
    pub(crate) context: EarlyContext,
    pub(crate) bodies: Vec<EarlyBody>,
    /// Whether the statements of some of them were freed ([`EarlyBodies::release`]).
    pub(crate) released: bool,
}

impl EarlyChecks {
    /// The checks made in `context` on the pieces (in any order).
    pub fn new(context: EarlyContext, pieces: impl IntoIterator<Item = EarlyBodies>) -> Self {
        let mut released = false;
        let bodies = pieces
            .into_iter()
            .flat_map(|p| {
                released |= p.released;
                p.bodies
            })
            .collect();
        EarlyChecks {
            context,
            bodies,
            released,
        }
    }

    /// How many bodies were checked early.
    pub fn len(&self) -> usize {
        self.bodies.len()
    }

    /// How many route bodies of `config` the whole check would take from these: public
    /// for the tests that show the early checks are used.
    #[doc(hidden)]
    pub fn usable_in(&self, config: &ast::Config, rc: &RouterConfig) -> usize {
        compile::usable_count(config, rc, self)
    }

    /// Whether none was.
    pub fn is_empty(&self) -> bool {
        self.bodies.is_empty()
    }
}

/// The early outcomes the whole check may use, by body span.
#[derive(Debug, Default)]
pub(crate) struct Usable<'e> {
    pub(crate) bodies: HashMap<Span, &'e EarlyBody>,
}

impl Usable<'_> {
    /// The warnings and first pseudo-variable use of the body at `span`, if it was checked
    /// early under assumptions that held.
    pub(crate) fn outcome(&self, span: Span) -> Option<(Vec<CompileError>, Option<Span>)> {
        self.bodies
            .get(&span)
            .map(|b| (b.warnings.clone(), b.pv_use))
    }
}

/// [`crate::check`], with the outcome of each route body taken from `early` where its
/// assumptions held (see the module docs): the same result, errors and warnings. `None`
/// when a body whose statements were freed ([`EarlyBodies::release`]) is needed because its
/// early outcome does not hold: the config must then be checked again, parsed in full.
pub fn check_with_early(
    config: &ast::Config,
    rc: &RouterConfig,
    sources: Option<&SourceMap>,
    early: &EarlyChecks,
) -> Option<Result<Vec<CompileError>, CompileError>> {
    compile::check_with_early(config, rc, sources, early)
}
