//! Semantic checks that need the whole AST: duplicate routes, calls to undefined routes, flags
//! used before they are declared, empty blocks.
//!
//! The walk of the route bodies needs nothing from the rest of the file: it records what it
//! finds ([`Finding`]), including the route calls and flag uses that only the whole file can
//! judge. So it can run on any slice of the items, on any thread (the parser walks each part
//! of a split file where it parsed it), and [`resolve`] turns the findings into diagnostics
//! in walk order, as one sequential walk would.

use std::collections::{HashMap, HashSet};

use crate::ast::*;
use crate::diagnostic::Diagnostic;

/// What the walk of some items found, in walk order.
#[derive(Debug, Clone)]
pub(crate) enum Finding {
    /// A diagnostic that needs nothing else (an empty block).
    Diag(Diagnostic),
    /// `route(NAME)` with a literal name.
    RouteCall(String, Span),
    /// `setflag`/`resetflag`/`isflagset` on a named flag, in the item at this index (counted
    /// from the start of the walked slice).
    FlagUse(String, Span, usize),
}

/// Walks the route bodies of `items`; item indexes in the findings count from `items[0]`.
pub(crate) fn walk(items: &[Item]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (index, item) in items.iter().enumerate() {
        if let Item::Route(r) = item {
            if r.body.stmts.is_empty() {
                out.push(Finding::Diag(Diagnostic::warning(
                    format!(
                        "empty `{}` block (Kamailio rejects empty blocks)",
                        r.keyword
                    ),
                    r.body.span,
                )));
            }
            let mut w = Walker {
                item: index,
                out: &mut out,
            };
            w.block(&r.body);
        }
    }
    out
}

/// Runs every check: the route bodies are walked in up to `parts` slices of the items on
/// threads of their own, or `walked` holds the findings of walks already made (one per run
/// of items, in order, with the number of items each covered). The result does not depend
/// on how the walk was cut.
pub(crate) fn check(
    config: &Config,
    parts: usize,
    walked: Option<Vec<(usize, Vec<Finding>)>>,
) -> Vec<Diagnostic> {
    let items = &config.items;
    let walked = walked.unwrap_or_else(|| {
        let parts = parts.clamp(1, items.len().max(1));
        let bounds: Vec<usize> = (0..=parts).map(|k| items.len() * k / parts).collect();
        let slices: Vec<&[Item]> = bounds
            .windows(2)
            .map(|w| items.get(w[0]..w[1]).unwrap_or_default())
            .collect();
        crate::split::on_threads(&slices, |slice| walk(slice))
            .into_iter()
            .zip(&slices)
            .map(|(found, slice)| match found {
                Ok(found) => (slice.len(), found),
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    let mut out = duplicate_routes(items);
    resolve(items, walked, &mut out);
    out
}

/// `duplicate route` errors, in item order.
fn duplicate_routes(items: &[Item]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut routes: HashMap<(RouteKind, &str), Span> = HashMap::new();
    for item in items {
        if let Item::Route(r) = item {
            if let Some(name) = &r.name {
                let key = (r.kind, name.value.as_str());
                if let Some(first) = routes.get(&key) {
                    out.push(
                        Diagnostic::error(
                            format!("duplicate route `{}[{}]`", r.kind.keyword(), name.value),
                            name.span,
                        )
                        .with_label(*first, "first defined here"),
                    );
                } else {
                    routes.insert(key, name.span);
                }
            }
        }
    }
    out
}

/// Turns the findings of the walks (in item order) into diagnostics: a route call to a name
/// no request route has, a flag used in an item before the first `flags` item declaring it.
fn resolve(items: &[Item], walked: Vec<(usize, Vec<Finding>)>, out: &mut Vec<Diagnostic>) {
    let request_routes: HashSet<&str> = items
        .iter()
        .filter_map(|item| match item {
            Item::Route(r) if r.kind == RouteKind::Request => r.name.as_ref(),
            _ => None,
        })
        .map(|n| n.value.as_str())
        .collect();
    // Where each flag is first declared.
    let mut declared: HashMap<&str, usize> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        if let Item::Flags(f) = item {
            for d in &f.flags {
                declared.entry(d.name.value.as_str()).or_insert(index);
            }
        }
    }
    let mut offset = 0;
    for (len, findings) in walked {
        for finding in findings {
            match finding {
                Finding::Diag(d) => out.push(d),
                Finding::RouteCall(name, span) => {
                    if name != "0" && !request_routes.contains(name.as_str()) {
                        out.push(
                            Diagnostic::error(format!("route `{name}` is not defined"), span)
                                .with_help("define it with `route[NAME] { … }`"),
                        );
                    }
                }
                Finding::FlagUse(name, span, item) => {
                    let before = declared
                        .get(name.as_str())
                        .is_some_and(|&d| d < offset + item);
                    if !before {
                        out.push(
                            Diagnostic::error(format!("flag `{name}` is not declared"), span)
                                .with_help("declare it before use with `flags NAME`"),
                        );
                    }
                }
            }
        }
        offset += len;
    }
}

struct Walker<'a> {
    /// The index of the item being walked.
    item: usize,
    out: &'a mut Vec<Finding>,
}

impl Walker<'_> {
    fn block(&mut self, b: &Block) {
        for s in &b.stmts {
            self.stmt(s);
        }
    }

    fn nested(&mut self, s: &Stmt) {
        if let Stmt::Block(b) = s {
            if b.stmts.is_empty() {
                self.out.push(Finding::Diag(Diagnostic::warning(
                    "empty block (Kamailio rejects empty blocks)",
                    b.span,
                )));
            }
        }
        self.stmt(s);
    }

    fn stmt(&mut self, s: &Stmt) {
        match s {
            Stmt::Call(c) => self.call(c),
            Stmt::Assign { value, .. } => self.expr(value),
            Stmt::If {
                cond,
                then,
                otherwise,
                ..
            } => {
                self.expr(cond);
                self.nested(then);
                if let Some(o) = otherwise {
                    self.nested(o);
                }
            }
            Stmt::Switch { value, cases, .. } => {
                self.expr(value);
                for c in cases {
                    if let Some(l) = &c.label {
                        self.expr(l);
                    }
                    for s in &c.body {
                        self.stmt(s);
                    }
                }
            }
            Stmt::While { cond, body, .. } => {
                self.expr(cond);
                self.nested(body);
            }
            Stmt::Return { value: Some(v), .. } => self.expr(v),
            Stmt::Block(b) => self.block(b),
            Stmt::Return { value: None, .. } | Stmt::Break { .. } | Stmt::Empty { .. } => {}
        }
    }

    fn expr(&mut self, e: &Expr) {
        match e {
            Expr::Call(c) => self.call(c),
            Expr::Unary { operand, .. } => self.expr(operand),
            Expr::Binary(b) => {
                self.expr(&b.left);
                self.expr(&b.right);
            }
            Expr::Select3(s) => {
                self.expr(&s.cond);
                self.expr(&s.then);
                self.expr(&s.otherwise);
            }
            Expr::Block(b) => self.block(b),
            _ => {}
        }
    }

    fn call(&mut self, c: &Call) {
        for a in &c.args {
            if let Arg::Expr(e) = a {
                self.expr(e);
            }
        }
        let literal = |a: &Arg| match a {
            Arg::Expr(Expr::Word { word, span }) => Some((String::from(&**word), *span)),
            Arg::Expr(Expr::Str { value, span }) => Some((String::from(&**value), *span)),
            Arg::Expr(Expr::Int { value, span }) => Some((value.to_string(), *span)),
            _ => None,
        };
        match c.name.value.as_ref() {
            "route" => {
                if let Some((name, span)) = c.args.first().and_then(literal) {
                    self.out.push(Finding::RouteCall(name, span));
                }
            }
            "setflag" | "resetflag" | "isflagset" => {
                if let Some(Arg::Expr(Expr::Word { word, span })) = c.args.first() {
                    self.out
                        .push(Finding::FlagUse(String::from(&**word), *span, self.item));
                }
            }
            _ => {}
        }
    }
}
