//! Semantic checks that need the whole AST: duplicate routes, calls to undefined routes, flags
//! used before they are declared, empty blocks.

use std::collections::{HashMap, HashSet};

use crate::ast::*;
use crate::diagnostic::Diagnostic;

/// Runs every check and returns what it found.
/// Runs the checks; the route bodies are walked in up to `parts` slices of the items on
/// threads of their own (the result does not depend on `parts`).
pub(crate) fn check(config: &Config, parts: usize) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut routes: HashMap<(RouteKind, String), Span> = HashMap::new();
    for item in &config.items {
        if let Item::Route(r) = item {
            if let Some(name) = &r.name {
                let key = (r.kind, name.value.clone());
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
    let request_routes: HashSet<&str> = routes
        .keys()
        .filter(|(k, _)| *k == RouteKind::Request)
        .map(|(_, n)| n.as_str())
        .collect();
    let items = &config.items;
    let parts = parts.clamp(1, items.len().max(1));
    let bounds: Vec<usize> = (0..=parts).map(|k| items.len() * k / parts).collect();
    let walk = |range: std::ops::Range<usize>| {
        // Flags are declared by position: a slice starts with those declared before it.
        let mut flags = declared_flags(items.get(..range.start).unwrap_or_default());
        walk_items(
            items.get(range).unwrap_or_default(),
            &request_routes,
            &mut flags,
        )
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = bounds
            .windows(2)
            .skip(1)
            .map(|w| {
                let r = w[0]..w[1];
                s.spawn(move || walk(r))
            })
            .collect();
        out.extend(walk(0..bounds.get(1).copied().unwrap_or(0)));
        for h in handles {
            match h.join() {
                Ok(diags) => out.extend(diags),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    out
}

/// The flags the `flags` items among `items` declare.
fn declared_flags(items: &[Item]) -> HashSet<String> {
    let mut flags = HashSet::new();
    for item in items {
        if let Item::Flags(f) = item {
            flags.extend(f.flags.iter().map(|d| d.name.value.clone()));
        }
    }
    flags
}

/// Walks the route bodies of `items` in order, declaring flags as their `flags` items come.
fn walk_items(
    items: &[Item],
    routes: &HashSet<&str>,
    flags: &mut HashSet<String>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for item in items {
        match item {
            Item::Flags(f) => flags.extend(f.flags.iter().map(|d| d.name.value.clone())),
            Item::Route(r) => {
                if r.body.stmts.is_empty() {
                    out.push(Diagnostic::warning(
                        format!(
                            "empty `{}` block (Kamailio rejects empty blocks)",
                            r.keyword
                        ),
                        r.body.span,
                    ));
                }
                let mut w = Walker {
                    routes,
                    flags,
                    out: &mut out,
                };
                w.block(&r.body);
            }
            _ => {}
        }
    }
    out
}

struct Walker<'a> {
    routes: &'a HashSet<&'a str>,
    flags: &'a HashSet<String>,
    out: &'a mut Vec<Diagnostic>,
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
                self.out.push(Diagnostic::warning(
                    "empty block (Kamailio rejects empty blocks)",
                    b.span,
                ));
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
            Expr::Binary { left, right, .. } => {
                self.expr(left);
                self.expr(right);
            }
            Expr::Select3 {
                cond,
                then,
                otherwise,
                ..
            } => {
                self.expr(cond);
                self.expr(then);
                self.expr(otherwise);
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
            Arg::Expr(Expr::Word { word, span }) => Some((word.clone(), *span)),
            Arg::Expr(Expr::Str { value, span }) => Some((value.clone(), *span)),
            Arg::Expr(Expr::Int { value, span }) => Some((value.to_string(), *span)),
            _ => None,
        };
        match c.name.value.as_str() {
            "route" => {
                if let Some((name, span)) = c.args.first().and_then(literal) {
                    if name != "0" && !self.routes.contains(name.as_str()) {
                        self.out.push(
                            Diagnostic::error(format!("route `{name}` is not defined"), span)
                                .with_help("define it with `route[NAME] { … }`"),
                        );
                    }
                }
            }
            "setflag" | "resetflag" | "isflagset" => {
                if let Some(Arg::Expr(Expr::Word { word, span })) = c.args.first() {
                    if !self.flags.contains(word) {
                        self.out.push(
                            Diagnostic::error(format!("flag `{word}` is not declared"), *span)
                                .with_help("declare it before use with `flags NAME`"),
                        );
                    }
                }
            }
            _ => {}
        }
    }
}
