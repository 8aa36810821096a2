//! Tokens: what the lexer hands to the parser.

use std::fmt;

use serde::Serialize;

use crate::keywords::Keyword;
use crate::source::Span;

/// Index of an [`Expansion`] in [`crate::Lexed::expansions`]. Stored plus one, so that the
/// `Option<ExpansionId>` of every token takes four bytes, not eight.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExpansionId(std::num::NonZeroU32);

impl ExpansionId {
    /// The id of expansion number `index`; `None` for `u32::MAX` (not representable).
    pub fn new(index: u32) -> Option<Self> {
        index
            .checked_add(1)
            .and_then(std::num::NonZeroU32::new)
            .map(ExpansionId)
    }

    /// The index into [`crate::Lexed::expansions`].
    pub fn index(self) -> usize {
        (self.0.get() - 1) as usize
    }
}

impl fmt::Debug for ExpansionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExpansionId({})", self.index())
    }
}

impl Serialize for ExpansionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct("ExpansionId", &(self.0.get() - 1))
    }
}

/// One use of a preprocessor define: tokens produced from a define's value carry the id of
/// the expansion they came from, so a message can point at the value *and* at the place of
/// use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expansion {
    /// The define's name.
    pub name: String,
    /// Where the name was used (the identifier that was replaced).
    pub use_site: Span,
    /// The expansion the use site itself came from, for a define used in another define's
    /// value.
    pub parent: Option<ExpansionId>,
}

/// A token with its position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Token {
    /// What was read.
    pub kind: TokenKind,
    /// Where its text is: in the file it was read from, or in the value of the define it came
    /// from (see `expansion`).
    pub span: Span,
    /// Set when the token came from a define's value.
    pub expansion: Option<ExpansionId>,
}

/// The kind of a token and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value")]
pub enum TokenKind {
    /// An identifier (`ID`): a letter or `_`, then letters, digits, `_`. Defines have already
    /// been substituted; an identifier that reaches the parser is not a define.
    Ident(Box<str>),
    /// A word that starts with a digit but is no number (`NUM_ID`): `08`, `5060a`, `1abc`.
    NumIdent(Box<str>),
    /// A reserved word.
    Keyword(Keyword),
    /// A number: decimal, `0x` hex, `0` octal, `…b` binary, or a value word (`yes`/`on`/
    /// `true`/`enable` = 1, `no`/`off`/`false`/`disable` = 0, `inet`/`ipv4` = 2,
    /// `inet6`/`ipv6` = 10). The source text stays available through the span.
    Number(i64),
    /// A string literal after escapes, adjacent-string concatenation and `#!subst` rules.
    Str(Box<str>),
    /// An IPv6 address literal as written (`::1`, `fe80::1`), without brackets.
    Ipv6(Box<str>),
    /// A pseudo-variable that the lexer knows to be one (`PVAR`): `$(…)`, `$name(…)`,
    /// `$?`, `$rc`, `$retcode`. The text includes the `$`.
    Pvar(Box<str>),
    /// `$name` without parentheses (`AVP_OR_PVAR`): a pseudo-variable if one of that name
    /// exists, otherwise an AVP. The text includes the `$`.
    AvpOrPvar(Box<str>),
    /// An attribute (AVP) reference: `%name`, `%class.name`, `$name[idx]`, `$f.name`. The text
    /// is the whole reference as written, including the mark and any index.
    Attr(Box<str>),
    /// A select expression such as `@via[1].branch`, as written, including the `@`.
    Select(Box<str>),
    /// The name inside `event_route[…]`, e.g. `core:worker-one-init`.
    EventRouteName(Box<str>),
    /// An operator or punctuation mark.
    Punct(Punct),
    /// `#!subst`, `#!substdef` or `#!substdefs`: a grammar statement whose string argument
    /// follows as the next token. The lexer has already applied the rule; the token lets the
    /// parser check that the statement stands at the top level.
    Subst(SubstKind),
}

/// The three subst directives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum SubstKind {
    /// `#!subst "/re/repl/flags"`
    Subst,
    /// `#!substdef`: also defines the pattern text as a define.
    SubstDef,
    /// `#!substdefs`: as substdef, with the value wrapped in double quotes.
    SubstDefs,
}

/// Operators and punctuation. Word operators map here too: `and` is [`Punct::AndAnd`], `or`
/// is [`Punct::OrOr`], `not` is [`Punct::Not`], `mod` is [`Punct::Mod`], `eq`/`ne` are
/// [`Punct::StrEq`]/[`Punct::StrNe`], `ieq`/`ine` are [`Punct::IntEq`]/[`Punct::IntNe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[allow(missing_docs)] // each variant is named for its text, listed in `Punct::text`
pub enum Punct {
    Assign,
    EqEq,
    NotEq,
    Match,
    Gt,
    Lt,
    Ge,
    Le,
    PlusAssign,
    Not,
    AndAnd,
    OrOr,
    BitAnd,
    BitOr,
    BitXor,
    BitNot,
    Shl,
    Shr,
    Plus,
    Minus,
    Star,
    Slash,
    Mod,
    StrEq,
    StrNe,
    IntEq,
    IntNe,
    IntCast,
    StrCast,
    Comma,
    Semi,
    Colon,
    Dot,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
}

impl Punct {
    /// The canonical text of the operator.
    pub fn text(self) -> &'static str {
        use Punct::*;
        match self {
            Assign => "=",
            EqEq => "==",
            NotEq => "!=",
            Match => "=~",
            Gt => ">",
            Lt => "<",
            Ge => ">=",
            Le => "<=",
            PlusAssign => "+=",
            Not => "!",
            AndAnd => "&&",
            OrOr => "||",
            BitAnd => "&",
            BitOr => "|",
            BitXor => "^",
            BitNot => "~",
            Shl => "<<",
            Shr => ">>",
            Plus => "+",
            Minus => "-",
            Star => "*",
            Slash => "/",
            Mod => "mod",
            StrEq => "eq",
            StrNe => "ne",
            IntEq => "ieq",
            IntNe => "ine",
            IntCast => "(int)",
            StrCast => "(str)",
            Comma => ",",
            Semi => ";",
            Colon => ":",
            Dot => ".",
            LParen => "(",
            RParen => ")",
            LBrace => "{",
            RBrace => "}",
            LBracket => "[",
            RBracket => "]",
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenKind::Ident(s) => write!(f, "identifier `{s}`"),
            TokenKind::NumIdent(s) => write!(f, "word `{s}`"),
            TokenKind::Keyword(k) => write!(f, "keyword `{}`", k.spelling()),
            TokenKind::Number(n) => write!(f, "number {n}"),
            TokenKind::Str(s) => write!(f, "string {s:?}"),
            TokenKind::Ipv6(s) => write!(f, "IPv6 address {s}"),
            TokenKind::Pvar(s) | TokenKind::AvpOrPvar(s) => write!(f, "variable `{s}`"),
            TokenKind::Attr(s) => write!(f, "attribute `{s}`"),
            TokenKind::Select(s) => write!(f, "select `{s}`"),
            TokenKind::EventRouteName(s) => write!(f, "event route name `{s}`"),
            TokenKind::Punct(p) => write!(f, "`{}`", p.text()),
            TokenKind::Subst(k) => write!(f, "`#!{}`", k.directive()),
        }
    }
}

impl SubstKind {
    /// The directive word (`subst`, `substdef`, `substdefs`).
    pub fn directive(self) -> &'static str {
        match self {
            SubstKind::Subst => "subst",
            SubstKind::SubstDef => "substdef",
            SubstKind::SubstDefs => "substdefs",
        }
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// A large config has a token every four bytes: the token's size is most of the lexer's
    /// memory. Strings are boxed slices, the expansion id has a niche.
    #[test]
    fn a_token_takes_forty_bytes() {
        assert_eq!(std::mem::size_of::<TokenKind>(), 24);
        assert_eq!(std::mem::size_of::<Option<ExpansionId>>(), 4);
        assert_eq!(std::mem::size_of::<Token>(), 40);
    }
}
