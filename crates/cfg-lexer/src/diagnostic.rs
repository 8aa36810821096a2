//! Errors and warnings, as values with spans.
//!
//! The lexer never stops at the first problem: it records a [`Diagnostic`] and goes on, so a
//! user sees every problem of a config in one run. Warnings mark places where Kamailio would
//! behave differently from us (its behaviour there is an accident we do not reproduce).

use std::fmt;

use serde::Serialize;

use crate::source::{SourceMap, Span};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Severity {
    /// The config is valid, but Kamailio would read it differently, or it is suspicious.
    Warning,
    /// The config is invalid.
    Error,
}

/// One problem found while lexing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong.
    pub kind: LexError,
    /// Where.
    pub span: Span,
    /// For errors about an open construct (an `#!ifdef` without `#!endif`, an unterminated
    /// string): where it was opened, when that differs from `span`.
    pub related: Option<Span>,
}

impl Diagnostic {
    pub(crate) fn error(kind: LexError, span: Span) -> Self {
        Diagnostic {
            severity: Severity::Error,
            kind,
            span,
            related: None,
        }
    }

    pub(crate) fn warning(kind: LexError, span: Span) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            kind,
            span,
            related: None,
        }
    }

    /// Whether this is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// One line: `file:line:col: error: message`.
    pub fn render(&self, sources: &SourceMap) -> String {
        let loc = sources.location(self.span);
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut s = format!("{loc}: {sev}: {}", self.kind);
        if let Some(rel) = self.related {
            s.push_str(&format!(" (opened at {})", sources.location(rel)));
        }
        s
    }
}

/// Everything the lexer and preprocessor can report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub enum LexError {
    /// A character that starts no token (Kamailio echoes such characters to stdout and goes
    /// on; we reject them).
    #[error("unexpected character {0:?} (Kamailio would print it to stdout and ignore it)")]
    UnexpectedChar(char),
    /// `*/` outside a comment.
    #[error("`*/` outside a comment")]
    StrayCommentEnd,
    /// End of file inside `/* … */`.
    #[error("unterminated block comment (`/*` without `*/`)")]
    UnterminatedComment,
    /// End of file inside a string.
    #[error("unterminated string")]
    UnterminatedString,
    /// End of file inside `$( … )` or `$name( … )`.
    #[error("unterminated pseudo-variable `{0}`: missing `)`")]
    UnterminatedPvar(String),
    /// A `$` followed by nothing that makes a pseudo-variable or attribute.
    #[error("`$` must be followed by a variable name")]
    BadPvar,
    /// An attribute mark (`%`, or `$` where it starts an attribute) not followed by a name.
    #[error("`{0}` must be followed by an attribute name{hint}", hint = if *.0 == '%' { " (use `mod` for modulo)" } else { "" })]
    BadAttr(char),
    /// `@` not followed by a select name.
    #[error("`@` must be followed by a select name")]
    BadSelect,
    /// A select with more than 32 parts.
    #[error("select has more than 32 parts")]
    SelectTooLong,
    /// A number that does not fit 32 bits, as Kamailio stores it.
    #[error("number {0} is out of range")]
    NumberOutOfRange(String),
    /// An event route name that does not have the `module:name` shape.
    #[error("invalid event route name `{0}` (expected `module:name`)")]
    BadEventRouteName(String),
    /// Event route name with characters Kamailio silently drops.
    #[error(
        "event route name `{given}`: Kamailio drops the invalid characters and reads `{kamailio}`"
    )]
    EventRouteNameDiffers {
        /// The name as written.
        given: String,
        /// What Kamailio would use.
        kamailio: String,
    },

    // --- preprocessor ---
    /// A directive that needs a name got none.
    #[error("`#!{directive}` needs a name")]
    MissingDirectiveName {
        /// The directive word.
        directive: String,
    },
    /// `#!define A-B`: Kamailio truncates to `A`; we reject it.
    #[error("invalid define name `{name}-…`: `-` is not allowed in a define name")]
    DashInDefineName {
        /// The part before the dash.
        name: String,
    },
    /// `#!define` of a name that is already defined.
    #[error("`{0}` is already defined (use #!redefine or #!trydef)")]
    AlreadyDefined(String),
    /// `#!undef` of a name that is not defined.
    #[error("`{0}` is not defined, cannot undefine it")]
    NotDefined(String),
    /// Text after the name on an `#!undef` line.
    #[error("unexpected text after the name in `#!{0}`")]
    TrailingText(String),
    /// A define named like a reserved word can never be substituted.
    #[error("define `{0}` is a reserved word: it will never be substituted")]
    DefineIsKeyword(String),
    /// A define used inside its own value (directly or through others).
    #[error("define `{0}` expands to itself")]
    RecursiveDefine(String),
    /// Too many nested define expansions.
    #[error("define expansion nested too deeply (more than {0} levels)")]
    ExpansionTooDeep(usize),
    /// More define expansions than a config can sensibly need (exponential growth).
    #[error("more than {0} define expansions: the defines grow exponentially")]
    TooManyExpansions(usize),
    /// A define value ends in a `#` comment and more tokens follow on the line of use.
    #[error("the value of `{0}` ends in a comment: Kamailio would ignore the rest of this line")]
    DefineCommentSwallows(String),
    /// An environment variable named by `#!defenv` is not set.
    #[error("environment variable `{0}` is not set")]
    EnvNotSet(String),
    /// `#!ifdef` without `#!endif`.
    #[error("`#!{0}` is never closed by `#!endif`")]
    UnclosedConditional(String),
    /// `#!else` or `#!endif` with no open conditional.
    #[error("`#!{0}` without a matching `#!ifdef`/`#!ifndef`/`#!ifexp`")]
    UnmatchedConditional(String),
    /// A second `#!else` for the same conditional.
    #[error("second `#!else` for the same conditional")]
    DuplicateElse,
    /// Text after an `#!ifdef NAME`, `#!else` or `#!endif`; the second field says what
    /// Kamailio does with it.
    #[error("text after `#!{0}`: {1}")]
    DirectiveTrailingText(String, &'static str),
    /// `#!endif`/`#!else` on the last line with no newline.
    #[error("`#!{0}` at end of file without a newline: Kamailio does not recognise it")]
    DirectiveAtEof(String),
    /// A compatibility marker followed by blanks.
    #[error("`#!{0}` followed by blanks is a comment for Kamailio; the marker is ignored")]
    MarkerWithBlanks(String),
    /// More than 512 nested conditionals.
    #[error("more than 512 nested conditionals")]
    TooManyConditionals,
    /// A malformed `#!ifexp`/`#!defexp` expression.
    #[error("bad expression: {0}")]
    BadExpression(String),
    /// A malformed `#!subst` argument.
    #[error("bad substitution: {0}")]
    BadSubst(String),
    /// `#!subst` not followed by a string.
    #[error("`#!{0}` must be followed by a string")]
    SubstNeedsString(String),
    /// The include file name is not between double quotes.
    #[error("included file name must be between double quotes: {0}")]
    IncludeNameNotQuoted(String),
    /// Empty or overlong include file name.
    #[error("invalid included file name {0:?}")]
    BadIncludeName(String),
    /// `include_file` of a file that does not exist.
    #[error("cannot open included file \"{name}\" (tried {tried})")]
    IncludeNotFound {
        /// The name as written.
        name: String,
        /// The paths tried, joined by `, `.
        tried: String,
    },
    /// An included file exists but cannot be read.
    #[error("cannot read included file \"{name}\": {reason}")]
    IncludeUnreadable {
        /// The name as written.
        name: String,
        /// The I/O error.
        reason: String,
    },
    /// A file that includes itself, directly or through others.
    #[error("include loop: \"{0}\" is already being read")]
    IncludeLoop(String),
    /// More than 10 nested includes.
    #[error("too many nested includes (more than {0})")]
    IncludeTooDeep(usize),
    /// The main config file cannot be read.
    #[error("cannot read config file: {0}")]
    MainUnreadable(String),
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}
