//! Route bodies read by hand: the fast path of the fast parse.
//!
//! Most of a large config is route bodies, and reading them through chumsky's combinators
//! was the largest share of `-c`. This module reads a route body `{ … }` by plain recursive
//! descent over the tokens and builds exactly the AST the grammar builds (same nodes, same
//! spans, precedence folded by the grammar's own [`Chain`]).
//!
//! It never decides anything the grammar would decide differently: wherever the grammar
//! would backtrack into another alternative, or report an error, this reader gives up
//! (`None`) and the grammar parses the body from its start, as it did before this module
//! existed. So a body read here is always one the grammar accepts with the same result, and
//! every broken body, every rare form (an address as a call argument, `[…]` around an IPv6
//! address, a netmask that is no mask) and every diagnostic stays the grammar's. The tests
//! compare both readers on the whole corpus (`fast_items_without_descent`), and the fuzz
//! harness on every input it makes.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chumsky::span::SimpleSpan;

use cfg_lexer::{Keyword, Punct, TokenKind};

use crate::ast::{
    Arg, BinaryOp, Block, Call, Case, Expr, Item, ReturnKind, RouteBlock, Select3, Spanned, Stmt,
    UnaryOp,
};
use crate::grammar::{
    block_name, lacks_event_name, punct_op, role, route_kind, takes_no_name, Chain, Cx, StmtWord,
};

/// How deep statements and expressions may nest before the reader leaves the body to the
/// grammar (which then behaves exactly as before: this only bounds this reader's stack).
const MAX_DEPTH: usize = 128;

/// Reads the route body whose `{` is token `at` of `cx.toks`: the body and the index of the
/// token after its `}`, or `None` when the grammar has to decide.
pub(crate) fn route_body(cx: Cx<'_>, at: usize) -> Option<(Block, usize)> {
    let mut reader = Descent::new(cx, at);
    let body = reader.block()?;
    Some((body, reader.pos))
}

/// Reads the route block (`route[NAME] { … }`, `request_route { … }`, …) that starts at
/// token `at`: the item and the index of the token after its `}`, or `None` when the grammar
/// has to decide (also for every header it reports: an `event_route` without a name, a
/// name on `request_route`, a reserved word as a name).
pub(crate) fn route_item(cx: Cx<'_>, at: usize) -> Option<(Item, usize)> {
    let Some(TokenKind::Keyword(k)) = cx.toks.get(at).map(|t| &t.kind) else {
        return None;
    };
    let kind = route_kind(*k)?;
    let keyword = k.spelling();
    let mut reader = Descent::new(cx, at + 1);
    let name = if reader.eat(Punct::LBracket) {
        let start = reader.pos;
        let value = match reader.kind(start)? {
            TokenKind::EventRouteName(s) | TokenKind::Ident(s) | TokenKind::Str(s) => {
                String::from(&**s)
            }
            TokenKind::Number(n) => n.to_string(),
            _ => return None,
        };
        reader.pos += 1;
        let span = reader.span(start);
        reader.expect(Punct::RBracket)?;
        Some(Spanned::new(value, span))
    } else {
        None
    };
    if (name.is_some() && takes_no_name(keyword)) || lacks_event_name(kind, name.is_some()) {
        return None;
    }
    let body = reader.block()?;
    let item = Item::Route(RouteBlock {
        kind,
        keyword: keyword.to_string(),
        name: block_name(kind, name),
        body,
        span: reader.span(at),
    });
    Some((item, reader.pos))
}

/// The state of one body's reading. `None` from any method means "give up".
struct Descent<'a> {
    cx: Cx<'a>,
    /// The next token.
    pos: usize,
    /// Statements and expressions open around `pos`.
    depth: usize,
    /// Statements of the lists being read, innermost last: each list is moved out at its
    /// exact length when it ends (one allocation per list, as the grammar's `Exact`).
    stmts: Vec<Stmt>,
    /// The same for call arguments.
    args: Vec<Arg>,
}

impl<'a> Descent<'a> {
    /// A reader at token `pos` of `cx.toks`.
    fn new(cx: Cx<'a>, pos: usize) -> Self {
        Descent {
            cx,
            pos,
            depth: 0,
            stmts: Vec::new(),
            args: Vec::new(),
        }
    }

    fn kind(&self, i: usize) -> Option<&'a TokenKind> {
        self.cx.toks.get(i).map(|t| &t.kind)
    }

    fn is_punct(&self, i: usize, p: Punct) -> bool {
        matches!(self.kind(i), Some(TokenKind::Punct(q)) if *q == p)
    }

    fn is_keyword(&self, i: usize, canonical: &str) -> bool {
        matches!(self.kind(i), Some(TokenKind::Keyword(k)) if k.is(canonical))
    }

    /// Takes `p` if it is next.
    fn eat(&mut self, p: Punct) -> bool {
        let found = self.is_punct(self.pos, p);
        self.pos += usize::from(found);
        found
    }

    /// Takes `p`, which must be next.
    fn expect(&mut self, p: Punct) -> Option<()> {
        self.eat(p).then_some(())
    }

    /// The source span of the tokens from `start` to the current one.
    fn span(&self, start: usize) -> cfg_lexer::Span {
        self.cx.span(SimpleSpan::from(start..self.pos))
    }

    /// The source span of token `i` alone.
    fn token_span(&self, i: usize) -> cfg_lexer::Span {
        self.cx.span(SimpleSpan::from(i..i + 1))
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // ------------------------------------------------------------------ statements

    /// `{ statements }`
    fn block(&mut self) -> Option<Block> {
        let start = self.pos;
        self.expect(Punct::LBrace)?;
        let mark = self.stmts.len();
        while !self.eat(Punct::RBrace) {
            let stmt = self.stmt()?;
            self.stmts.push(stmt);
        }
        let stmts = self.stmts.drain(mark..).collect();
        Some(Block {
            stmts,
            span: self.span(start),
        })
    }

    /// One statement, by its first token (the grammar's fast dispatch).
    fn stmt(&mut self) -> Option<Stmt> {
        self.enter()?;
        let start = self.pos;
        let stmt = match self.kind(start)? {
            TokenKind::Pvar(v) | TokenKind::AvpOrPvar(v) | TokenKind::Attr(v) => {
                let target = Spanned::new(String::from(&**v), self.token_span(start));
                self.pos += 1;
                self.expect(Punct::Assign)?;
                let value = self.expr()?;
                self.expect(Punct::Semi)?;
                Stmt::Assign {
                    target,
                    value,
                    span: self.span(start),
                }
            }
            TokenKind::Ident(_) => self.call_stmt()?,
            TokenKind::Keyword(k) => match role(*k).stmt {
                Some(StmtWord::If) => self.if_stmt()?,
                Some(StmtWord::While) => {
                    self.pos += 1;
                    let cond = self.expr()?;
                    let body = Box::new(self.stmt()?);
                    Stmt::While {
                        cond,
                        body,
                        span: self.span(start),
                    }
                }
                Some(StmtWord::Switch) => self.switch_stmt()?,
                Some(StmtWord::Return) => self.return_stmt(*k)?,
                Some(StmtWord::Break) => {
                    self.pos += 1;
                    self.expect(Punct::Semi)?;
                    Stmt::Break {
                        span: self.span(start),
                    }
                }
                Some(StmtWord::Other) => return None,
                None => self.call_stmt()?,
            },
            TokenKind::Punct(Punct::LBrace) => Stmt::Block(self.block()?),
            TokenKind::Punct(Punct::Semi) => {
                self.pos += 1;
                Stmt::Empty {
                    span: self.span(start),
                }
            }
            _ => return None,
        };
        self.leave();
        Some(stmt)
    }

    /// `call;` or `bare_action;`
    fn call_stmt(&mut self) -> Option<Stmt> {
        let call = self.call()?;
        self.expect(Punct::Semi)?;
        Some(Stmt::Call(call))
    }

    /// `name(args)`, or an action keyword written without parentheses.
    fn call(&mut self) -> Option<Call> {
        let start = self.pos;
        let name = match self.kind(start)? {
            TokenKind::Ident(s) => Cow::Owned(String::from(&**s)),
            TokenKind::Keyword(k) if role(*k).call && self.is_punct(start + 1, Punct::LParen) => {
                Cow::Borrowed(k.spelling())
            }
            TokenKind::Keyword(k) if role(*k).bare => {
                self.pos += 1;
                let span = self.span(start);
                return Some(Call {
                    name: Spanned::new(Cow::Borrowed(k.spelling()), span),
                    args: Vec::new(),
                    parens: false,
                    span,
                });
            }
            _ => return None,
        };
        self.pos += 1;
        let name = Spanned::new(name, self.span(start));
        let args = self.args()?;
        Some(Call {
            name,
            args,
            parens: true,
            span: self.span(start),
        })
    }

    /// `( expr, … )`: every argument an expression followed by `,` or `)` (the grammar
    /// tries a listen address where one is not; that is left to it).
    fn args(&mut self) -> Option<Vec<Arg>> {
        self.expect(Punct::LParen)?;
        let mark = self.args.len();
        if !self.eat(Punct::RParen) {
            loop {
                let arg = self.expr()?;
                self.args.push(Arg::Expr(arg));
                if self.eat(Punct::Comma) {
                    continue;
                }
                self.expect(Punct::RParen)?;
                break;
            }
        }
        Some(self.args.drain(mark..).collect())
    }

    /// `if cond stmt [else stmt]`
    fn if_stmt(&mut self) -> Option<Stmt> {
        let start = self.pos;
        self.pos += 1;
        let cond = self.expr()?;
        let then = Box::new(self.stmt()?);
        let otherwise = if self.is_keyword(self.pos, "else") {
            self.pos += 1;
            Some(Box::new(self.stmt()?))
        } else {
            None
        };
        Some(Stmt::If {
            cond,
            then,
            otherwise,
            span: self.span(start),
        })
    }

    /// `switch value { case label: stmts … default: stmts }`
    fn switch_stmt(&mut self) -> Option<Stmt> {
        let start = self.pos;
        self.pos += 1;
        let value = self.expr()?;
        self.expect(Punct::LBrace)?;
        let mut cases = Vec::new();
        while !self.eat(Punct::RBrace) {
            let case_start = self.pos;
            let (label, regex) = if self.is_keyword(case_start, "case") {
                self.pos += 1;
                let regex = self.eat(Punct::Slash);
                (Some(self.expr()?), regex)
            } else if self.is_keyword(case_start, "default") {
                self.pos += 1;
                (None, false)
            } else {
                return None;
            };
            self.expect(Punct::Colon)?;
            let mark = self.stmts.len();
            while !(self.is_punct(self.pos, Punct::RBrace)
                || self.is_keyword(self.pos, "case")
                || self.is_keyword(self.pos, "default"))
            {
                let stmt = self.stmt()?;
                self.stmts.push(stmt);
            }
            cases.push(Case {
                label,
                regex,
                body: self.stmts.drain(mark..).collect(),
                span: self.span(case_start),
            });
        }
        Some(Stmt::Switch {
            value,
            cases,
            span: self.span(start),
        })
    }

    /// `return [value];`, `exit [value];`, `drop [value];` (`()` is no value).
    fn return_stmt(&mut self, k: Keyword) -> Option<Stmt> {
        let start = self.pos;
        let kind = match k.canonical() {
            "return" => ReturnKind::Return,
            "exit" => ReturnKind::Exit,
            "drop" => ReturnKind::Drop,
            _ => return None,
        };
        self.pos += 1;
        let value = if self.is_punct(self.pos, Punct::LParen)
            && self.is_punct(self.pos + 1, Punct::RParen)
        {
            self.pos += 2;
            None
        } else if self.is_punct(self.pos, Punct::Semi) {
            None
        } else {
            Some(self.expr()?)
        };
        self.expect(Punct::Semi)?;
        Some(Stmt::Return {
            kind,
            value,
            span: self.span(start),
        })
    }

    // ------------------------------------------------------------------ expressions

    /// `operand (op operand)*`, folded by precedence as the grammar folds it.
    fn expr(&mut self) -> Option<Expr> {
        self.enter()?;
        let mut chain = Chain::new(self.unary()?);
        while let Some(op) = self.binary_op() {
            self.pos += 1;
            let operand = self.unary()?;
            chain.push(op, operand);
        }
        self.leave();
        Some(chain.tree)
    }

    fn binary_op(&self) -> Option<BinaryOp> {
        match self.kind(self.pos)? {
            TokenKind::Punct(p) => punct_op(*p),
            _ => None,
        }
    }

    /// Prefix operators, then an operand; `-` on a number literal negates the literal.
    fn unary(&mut self) -> Option<Expr> {
        let start = self.pos;
        let op = match self.kind(start)? {
            TokenKind::Punct(Punct::Not) => UnaryOp::Not,
            TokenKind::Punct(Punct::Minus) => UnaryOp::Neg,
            TokenKind::Punct(Punct::BitNot) => UnaryOp::BitNot,
            TokenKind::Punct(Punct::IntCast) => UnaryOp::IntCast,
            TokenKind::Punct(Punct::StrCast) => UnaryOp::StrCast,
            TokenKind::Keyword(k) if k.is("defined") => UnaryOp::Defined,
            _ => return self.atom(),
        };
        self.pos += 1;
        self.enter()?;
        let operand = self.unary()?;
        self.leave();
        let span = self.span(start);
        Some(match (op, operand) {
            (UnaryOp::Neg, Expr::Int { value, .. }) => Expr::Int {
                value: value.wrapping_neg(),
                span,
            },
            (op, operand) => Expr::Unary {
                op,
                operand: Box::new(operand),
                span,
            },
        })
    }

    /// One operand, by its first token.
    fn atom(&mut self) -> Option<Expr> {
        let start = self.pos;
        let one = self.token_span(start);
        let expr = match self.kind(start)? {
            TokenKind::Pvar(v) | TokenKind::AvpOrPvar(v) | TokenKind::Attr(v) => Expr::Var {
                name: Box::from(&**v),
                span: one,
            },
            TokenKind::Str(s) => Expr::Str {
                value: Box::from(&**s),
                span: one,
            },
            TokenKind::Select(s) => Expr::Select {
                path: Box::from(&**s),
                span: one,
            },
            TokenKind::Number(_) if self.is_punct(start + 1, Punct::Dot) => {
                let addr = IpAddr::V4(self.ipv4()?);
                return self.net(start, addr);
            }
            TokenKind::Number(n) => Expr::Int {
                value: *n,
                span: one,
            },
            TokenKind::Ipv6(s) => {
                let addr = IpAddr::V6(s.parse::<Ipv6Addr>().ok()?);
                self.pos += 1;
                return self.net(start, addr);
            }
            TokenKind::Ident(_) if self.is_punct(start + 1, Punct::LParen) => {
                return Some(Expr::Call(Box::new(self.call()?)));
            }
            TokenKind::Ident(_) | TokenKind::NumIdent(_) => return Some(self.word()),
            TokenKind::Keyword(k) => return self.keyword_atom(*k),
            TokenKind::Punct(Punct::LParen) => {
                self.pos += 1;
                let inner = self.expr()?;
                self.expect(Punct::RParen)?;
                return Some(inner);
            }
            _ => return None,
        };
        self.pos += 1;
        Some(expr)
    }

    /// `a.b.c.d` from its first number: each part a number in 0..255.
    fn ipv4(&mut self) -> Option<Ipv4Addr> {
        let mut octets = [0u8; 4];
        for (i, octet) in octets.iter_mut().enumerate() {
            if i > 0 {
                self.expect(Punct::Dot)?;
            }
            let Some(TokenKind::Number(n)) = self.kind(self.pos) else {
                return None;
            };
            *octet = u8::try_from(*n).ok()?;
            self.pos += 1;
        }
        Some(Ipv4Addr::from(octets))
    }

    /// An address read up to `self.pos`, with its `/mask` if one follows.
    fn net(&mut self, start: usize, addr: IpAddr) -> Option<Expr> {
        let prefix = if self.eat(Punct::Slash) {
            Some(self.mask()?)
        } else {
            None
        };
        Some(Expr::Net {
            addr,
            prefix,
            span: self.span(start),
        })
    }

    /// A netmask: a bit count up to 128, or an address (its bits counted).
    fn mask(&mut self) -> Option<u8> {
        match self.kind(self.pos)? {
            TokenKind::Number(n) if *n <= 128 => {
                self.pos += 1;
                u8::try_from(*n).ok()
            }
            TokenKind::Number(_) => Some(self.ipv4()?.to_bits().count_ones() as u8),
            TokenKind::Ipv6(s) => {
                let bits = s.parse::<Ipv6Addr>().ok()?.to_bits().count_ones() as u8;
                self.pos += 1;
                Some(bits)
            }
            _ => None,
        }
    }

    /// `label (("." | "-") label)*` with identifier labels.
    fn word(&mut self) -> Expr {
        let start = self.pos;
        let mut word = String::new();
        let mut sep = None;
        while let Some(TokenKind::Ident(label) | TokenKind::NumIdent(label)) = self.kind(self.pos) {
            word.extend(sep);
            word.push_str(label);
            self.pos += 1;
            sep = match self.kind(self.pos) {
                Some(TokenKind::Punct(Punct::Dot)) => Some('.'),
                Some(TokenKind::Punct(Punct::Minus)) => Some('-'),
                _ => break,
            };
            if !matches!(
                self.kind(self.pos + 1),
                Some(TokenKind::Ident(_) | TokenKind::NumIdent(_))
            ) {
                break;
            }
            self.pos += 1;
        }
        Expr::Word {
            word: word.into(),
            span: self.span(start),
        }
    }

    /// An operand that starts with a keyword: `strlen(…)`, `strempty(…)`, `selval(…, …, …)`,
    /// a call, a legacy operand (`method`, `uri`, …) or a word keyword (`myself`, `udp`, …).
    fn keyword_atom(&mut self, k: Keyword) -> Option<Expr> {
        let start = self.pos;
        let unary = if k.is("strlen") {
            Some(UnaryOp::Strlen)
        } else if k.is("strempty") {
            Some(UnaryOp::Strempty)
        } else {
            None
        };
        if let Some(op) = unary {
            self.pos += 1;
            self.expect(Punct::LParen)?;
            let operand = Box::new(self.expr()?);
            self.expect(Punct::RParen)?;
            return Some(Expr::Unary {
                op,
                operand,
                span: self.span(start),
            });
        }
        if k.is("selval") {
            self.pos += 1;
            self.expect(Punct::LParen)?;
            let cond = self.expr()?;
            self.expect(Punct::Comma)?;
            let then = self.expr()?;
            self.expect(Punct::Comma)?;
            let otherwise = self.expr()?;
            self.expect(Punct::RParen)?;
            return Some(Expr::Select3(Box::new(Select3 {
                cond,
                then,
                otherwise,
                span: self.span(start),
            })));
        }
        let r = role(k);
        if r.call && self.is_punct(start + 1, Punct::LParen) {
            return Some(Expr::Call(Box::new(self.call()?)));
        }
        let span = self.token_span(start);
        self.pos += 1;
        if r.legacy {
            Some(Expr::Legacy {
                operand: k.canonical(),
                span,
            })
        } else if r.word {
            Some(Expr::Word {
                word: k.canonical().into(),
                span,
            })
        } else {
            None
        }
    }
}
