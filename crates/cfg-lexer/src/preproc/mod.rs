//! The preprocessor: `#!define` and friends, conditionals, includes, subst rules and the
//! compatibility markers. Directives are recognised by the scanner wherever a token may start
//! (`#!` or `!!`, then the directive word); they are line based from there on.

pub(crate) mod expr;
pub(crate) mod subst;

use std::path::{Path, PathBuf};

use crate::diagnostic::LexError;
use crate::keywords::is_reserved;
use crate::lexer::{ident_len, is_blank, Cond, Cur, Frame, FrameKind, Lexer};
use crate::source::{normalize_path, SourceOrigin, Span};
use crate::token::{SubstKind, TokenKind};
use crate::{CompatMode, Define};

use expr::DefineLookup;
use subst::SubstRule;

/// Deepest include nesting, as in Kamailio.
pub(crate) const MAX_INCLUDE_DEPTH: usize = 10;
/// Most open conditionals, as in Kamailio.
const MAX_CONDS: usize = 512;
/// Longest include file name including its quotes, as in Kamailio.
const MAX_INCLUDE_NAME: usize = 127;

/// How a define directive treats an existing name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum DefineMode {
    /// `#!define`: error if it exists.
    Define,
    /// `#!trydef`: keep the old value silently.
    Try,
    /// `#!redefine`: replace.
    Redefine,
}

fn line_end(cur: &Cur<'_>, from: usize) -> usize {
    let b = cur.bytes();
    b[from.min(cur.end)..cur.end]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(cur.end, |i| from + i)
}

fn skip_blanks(cur: &Cur<'_>, mut i: usize) -> usize {
    let b = cur.bytes();
    while i < cur.end && is_blank(b[i]) {
        i += 1;
    }
    i
}

/// After the end of a directive line: past the newline.
fn past_line(cur: &Cur<'_>, from: usize) -> usize {
    (line_end(cur, from) + 1).min(cur.end)
}

/// The word after a directive prefix.
fn directive_word<'t>(cur: &Cur<'t>, start: usize) -> &'t str {
    let b = cur.bytes();
    let len = b[start..cur.end]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count();
    &cur.text[start..start + len]
}

impl Lexer<'_> {
    /// A directive at `pos` (`#!` or `!!`, `plen` bytes of prefix). Returns the position after
    /// it, or `None` if the word is no directive (then `#!…` is a comment and `!!` two NOTs).
    pub(crate) fn directive(
        &mut self,
        cur: &Cur<'_>,
        pos: usize,
        plen: usize,
        hash: bool,
    ) -> Option<usize> {
        let ws = pos + plen;
        let word = directive_word(cur, ws);
        let after = ws + word.len();
        let dspan = Span::new(cur.file, pos, after);
        let next = match word {
            "define" | "def" => self.define_directive(cur, after, dspan, DefineMode::Define),
            "trydef" | "trydefine" => self.define_directive(cur, after, dspan, DefineMode::Try),
            "redef" | "redefine" => self.define_directive(cur, after, dspan, DefineMode::Redefine),
            "undef" | "undefine" => self.undef_directive(cur, after, dspan, word, true),
            "tryundef" | "tryundefine" => self.undef_directive(cur, after, dspan, word, false),
            "defexp" | "defexps" => self.defexp_directive(cur, after, dspan, word == "defexps"),
            "defenv" | "defenvs" | "trydefenv" | "trydefenvs" => self.defenv_directive(
                cur,
                after,
                dspan,
                word.ends_with('s'),
                word.starts_with("try"),
            ),
            "ifdef" | "ifndef" | "ifexp" | "else" | "endif" => {
                self.flush_string();
                self.cond_directive(cur, after, dspan, word, false)
            }
            "subst" | "substdef" | "substdefs" => {
                let kind = match word {
                    "subst" => SubstKind::Subst,
                    "substdef" => SubstKind::SubstDef,
                    _ => SubstKind::SubstDefs,
                };
                self.emit(TokenKind::Subst(kind), cur, pos, after);
                self.pending_subst = Some((kind, dspan));
                after
            }
            "include_file" | "import_file" => self.include(cur, pos, after, word == "import_file"),
            _ if hash => return self.compat_marker(cur, pos, plen),
            _ => return None,
        };
        Some(next)
    }

    /// `#!KAMAILIO`, `#!SER`, … (also `//!…`): only when the newline follows the word
    /// directly, as in Kamailio.
    pub(crate) fn compat_marker(
        &mut self,
        cur: &Cur<'_>,
        pos: usize,
        plen: usize,
    ) -> Option<usize> {
        let word = directive_word(cur, pos + plen);
        let mode = match word {
            "KAMAILIO" | "OPENSER" => CompatMode::Kamailio,
            "SER" => CompatMode::Ser,
            "MAXCOMPAT" | "ALL" => CompatMode::Max,
            _ => return None,
        };
        let after = pos + plen + word.len();
        let b = cur.bytes();
        let rest_blank = skip_blanks(cur, after);
        let direct = after >= cur.end
            || b[after] == b'\n'
            || (b[after] == b'\r' && b.get(after + 1) == Some(&b'\n'));
        if direct {
            self.flush_string();
            self.compat = mode;
            return Some(past_line(cur, after));
        }
        if rest_blank >= cur.end || b[rest_blank] == b'\n' {
            self.warn(
                LexError::MarkerWithBlanks(word.into()),
                Span::new(cur.file, pos, after),
            );
        }
        None
    }

    fn missing_name(&mut self, dspan: Span, cur: &Cur<'_>) -> usize {
        let word = cur.text[dspan.range()]
            .trim_start_matches(['#', '!'])
            .to_string();
        self.error(LexError::MissingDirectiveName { directive: word }, dspan);
        past_line(cur, dspan.end as usize)
    }

    /// Reads the define name after the directive word: ≥1 blank, then an identifier not
    /// followed by `-`. Returns the name's range.
    fn directive_name(
        &mut self,
        cur: &Cur<'_>,
        after: usize,
        dspan: Span,
    ) -> Result<(usize, usize), usize> {
        let b = cur.bytes();
        if after >= cur.end || !is_blank(b[after]) {
            return Err(self.missing_name(dspan, cur));
        }
        let ns = skip_blanks(cur, after);
        let nl = ident_len(&b[ns..cur.end]);
        if nl == 0 {
            return Err(self.missing_name(dspan, cur));
        }
        let ne = ns + nl;
        if ne < cur.end && b[ne] == b'-' {
            self.error(
                LexError::DashInDefineName {
                    name: cur.text[ns..ne].into(),
                },
                Span::new(cur.file, ns, ne + 1),
            );
            return Err(past_line(cur, ne));
        }
        Ok((ns, ne))
    }

    pub(crate) fn set_define(&mut self, name: &str, def: Define, mode: DefineMode, span: Span) {
        if is_reserved(name) {
            self.warn(LexError::DefineIsKeyword(name.into()), span);
        }
        match (mode, self.defines.contains_key(name)) {
            (DefineMode::Define, true) => {
                self.error(LexError::AlreadyDefined(name.into()), span);
            }
            (DefineMode::Try, true) => {}
            _ => {
                self.defines.insert(name.to_string(), def);
            }
        }
    }

    /// Stores `text` as a virtual file and returns a span over all of it.
    pub(crate) fn virtual_value(&mut self, label: String, text: String) -> Span {
        let len = text.len();
        let id = self.sources.add(SourceOrigin::Virtual(label), text);
        Span::new(id, 0, len)
    }

    fn define_directive(
        &mut self,
        cur: &Cur<'_>,
        after: usize,
        dspan: Span,
        mode: DefineMode,
    ) -> usize {
        self.flush_string();
        let (ns, ne) = match self.directive_name(cur, after, dspan) {
            Ok(r) => r,
            Err(next) => return next,
        };
        let b = cur.bytes();
        let vs = skip_blanks(cur, ne);
        // The value runs to the end of the line; `\` + newline continues it.
        let mut ve = vs;
        while ve < cur.end && b[ve] != b'\n' {
            if b[ve] == b'\\' && b.get(ve + 1) == Some(&b'\n') && ve + 1 < cur.end {
                ve += 2;
            } else {
                ve += 1;
            }
        }
        let value_text = &cur.text[vs..ve];
        let value = if value_text
            .trim_matches(|c: char| c.is_ascii() && is_blank(c as u8))
            .is_empty()
        {
            None
        } else {
            Some(Span::new(cur.file, vs, ve))
        };
        let name_span = Span::new(cur.file, ns, ne);
        let def = Define {
            value,
            defined_at: Some(name_span),
        };
        self.set_define(&cur.text[ns..ne], def, mode, name_span);
        (ve + 1).min(cur.end)
    }

    fn undef_directive(
        &mut self,
        cur: &Cur<'_>,
        after: usize,
        dspan: Span,
        word: &str,
        strict: bool,
    ) -> usize {
        self.flush_string();
        let (ns, ne) = match self.directive_name(cur, after, dspan) {
            Ok(r) => r,
            Err(next) => return next,
        };
        let rest = skip_blanks(cur, ne);
        if rest < cur.end && cur.bytes()[rest] != b'\n' {
            self.error(
                LexError::TrailingText(word.into()),
                Span::new(cur.file, rest, line_end(cur, rest)),
            );
        }
        let name = &cur.text[ns..ne];
        if self.defines.remove(name).is_none() && strict {
            self.error(
                LexError::NotDefined(name.into()),
                Span::new(cur.file, ns, ne),
            );
        }
        past_line(cur, ne)
    }

    fn lookup_for_expr(&self, name: &str) -> DefineLookup {
        match self.defines.get(name) {
            None => DefineLookup::Undefined,
            Some(Define { value: None, .. }) => DefineLookup::NoValue,
            Some(Define { value: Some(v), .. }) => {
                DefineLookup::Value(self.sources.text(*v).to_string())
            }
        }
    }

    fn eval_line(&mut self, cur: &Cur<'_>, from: usize) -> (Option<expr::Value>, usize) {
        let le = line_end(cur, from);
        let text = &cur.text[from..le];
        let result = expr::evaluate(text, &|n| self.lookup_for_expr(n));
        match result {
            Ok(v) => (Some(v), le),
            Err(e) => {
                self.error(
                    LexError::BadExpression(e),
                    Span::new(cur.file, from, le.max(from + 1)),
                );
                (None, le)
            }
        }
    }

    fn defexp_directive(
        &mut self,
        cur: &Cur<'_>,
        after: usize,
        dspan: Span,
        quoted: bool,
    ) -> usize {
        self.flush_string();
        let (ns, ne) = match self.directive_name(cur, after, dspan) {
            Ok(r) => r,
            Err(next) => return next,
        };
        let (value, le) = self.eval_line(cur, ne);
        if let Some(v) = value {
            let name = cur.text[ns..ne].to_string();
            let mut text = v.to_define_text();
            if quoted {
                text = format!("\"{text}\"");
            }
            let vspan = self.virtual_value(format!("#!defexp {name}"), text);
            let name_span = Span::new(cur.file, ns, ne);
            let def = Define {
                value: Some(vspan),
                defined_at: Some(name_span),
            };
            self.set_define(&name, def, DefineMode::Define, name_span);
        }
        past_line(cur, le)
    }

    fn defenv_directive(
        &mut self,
        cur: &Cur<'_>,
        after: usize,
        dspan: Span,
        quoted: bool,
        optional: bool,
    ) -> usize {
        self.flush_string();
        let b = cur.bytes();
        let ts = skip_blanks(cur, after);
        let te = ts
            + b[ts..cur.end]
                .iter()
                .take_while(|&&c| !is_blank(c) && c != b'\n')
                .count();
        if te == ts {
            return self.missing_name(dspan, cur);
        }
        let arg = &cur.text[ts..te];
        let (name, var) = arg.split_once('=').unwrap_or((arg, arg));
        let aspan = Span::new(cur.file, ts, te);
        if ident_len(name.as_bytes()) != name.len() || name.is_empty() {
            self.error(
                LexError::MissingDirectiveName {
                    directive: cur.text[dspan.range()]
                        .trim_start_matches(['#', '!'])
                        .into(),
                },
                aspan,
            );
            return past_line(cur, te);
        }
        match self.opts.env_var(var) {
            Some(mut value) => {
                if quoted {
                    value = format!("\"{value}\"");
                }
                let vspan = self.virtual_value(format!("env {var}"), value);
                let def = Define {
                    value: Some(vspan),
                    defined_at: Some(aspan),
                };
                self.set_define(name, def, DefineMode::Define, aspan);
            }
            None if optional => {}
            None => self.error(LexError::EnvNotSet(var.into()), aspan),
        }
        past_line(cur, te)
    }

    /// `#!ifdef`, `#!ifndef`, `#!ifexp`, `#!else`, `#!endif` (also while skipping).
    fn cond_directive(
        &mut self,
        cur: &Cur<'_>,
        after: usize,
        dspan: Span,
        word: &str,
        skipping: bool,
    ) -> usize {
        let b = cur.bytes();
        let directive: &'static str = match word {
            "ifdef" => "ifdef",
            "ifndef" => "ifndef",
            "ifexp" => "ifexp",
            "else" => "else",
            _ => "endif",
        };
        match directive {
            "ifdef" | "ifndef" => {
                let (ns, ne) = match self.directive_name(cur, after, dspan) {
                    Ok(r) => r,
                    Err(next) => return next,
                };
                let rest = skip_blanks(cur, ne);
                if rest < cur.end && b[rest] != b'\n' {
                    self.warn(
                        LexError::DirectiveTrailingText(
                            directive.into(),
                            "Kamailio ignores it (and echoes it to stdout)",
                        ),
                        Span::new(cur.file, rest, line_end(cur, rest)),
                    );
                }
                let defined = self.defines.contains_key(&cur.text[ns..ne]);
                self.push_cond(
                    dspan.to(Span::new(cur.file, ns, ne)),
                    directive,
                    skipping,
                    defined == (directive == "ifdef"),
                );
                past_line(cur, ne)
            }
            "ifexp" => {
                if after >= cur.end || !is_blank(b[after]) {
                    return self.missing_name(dspan, cur);
                }
                let (value, le) = if skipping {
                    (None, line_end(cur, after))
                } else {
                    self.eval_line(cur, after)
                };
                let taking = value.is_some_and(|v| v.truthy());
                self.push_cond(dspan, directive, skipping, taking);
                past_line(cur, le)
            }
            _ => {
                let rest = skip_blanks(cur, after);
                if rest >= cur.end && cur.end == cur.text.len() {
                    self.warn(LexError::DirectiveAtEof(directive.into()), dspan);
                } else if rest < cur.end && b[rest] != b'\n' {
                    self.warn(
                        LexError::DirectiveTrailingText(
                            directive.into(),
                            "Kamailio does not read this line as a directive but as a comment, which leaves its conditionals unbalanced",
                        ),
                        Span::new(cur.file, rest, line_end(cur, rest)),
                    );
                }
                match self.conds.last_mut() {
                    None => self.error(LexError::UnmatchedConditional(directive.into()), dspan),
                    Some(c) if directive == "else" => {
                        if c.seen_else {
                            self.diags.push(crate::Diagnostic {
                                related: Some(c.opened_at),
                                ..crate::Diagnostic::error(LexError::DuplicateElse, dspan)
                            });
                        } else {
                            c.seen_else = true;
                            if !c.dead {
                                c.taking = !c.taking;
                            }
                        }
                    }
                    Some(_) => {
                        self.conds.pop();
                    }
                }
                past_line(cur, rest)
            }
        }
    }

    fn push_cond(&mut self, span: Span, directive: &'static str, dead: bool, taking: bool) {
        if self.conds.len() >= MAX_CONDS {
            self.error(LexError::TooManyConditionals, span);
            return;
        }
        self.conds.push(Cond {
            taking: taking && !dead,
            dead,
            seen_else: false,
            directive,
            opened_at: span,
        });
    }

    /// In skipped text: look only for conditional directives, discard everything else.
    pub(crate) fn skip_step(&mut self, cur: &Cur<'_>, pos: usize) -> usize {
        let b = cur.bytes();
        let mut i = pos;
        while i + 1 < cur.end {
            if (b[i] == b'#' || b[i] == b'!') && b[i + 1] == b'!' {
                let word = directive_word(cur, i + 2);
                if matches!(word, "ifdef" | "ifndef" | "ifexp" | "else" | "endif") {
                    let after = i + 2 + word.len();
                    let dspan = Span::new(cur.file, i, after);
                    let dead = !matches!(word, "else" | "endif");
                    return self.cond_directive(cur, after, dspan, word, dead);
                }
            }
            i += 1;
        }
        cur.end
    }

    /// `include_file "name"` / `import_file "name"` (with or without the `#!` prefix).
    pub(crate) fn include(
        &mut self,
        cur: &Cur<'_>,
        pos: usize,
        after: usize,
        import: bool,
    ) -> usize {
        self.flush_string();
        let b = cur.bytes();
        let mut ns = after;
        while ns < cur.end && matches!(b[ns], b' ' | b'\t') {
            ns += 1;
        }
        let ne = ns
            + b[ns..cur.end]
                .iter()
                .take_while(|&&c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
                .count();
        let span = Span::new(cur.file, pos, ne);
        let raw = self.run_substs(cur.text[ns..ne].to_string());
        let Some(inner) = raw
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .filter(|_| raw.len() >= 2)
        else {
            self.error(LexError::IncludeNameNotQuoted(raw), span);
            return ne;
        };
        if inner.is_empty() || raw.len() > MAX_INCLUDE_NAME {
            self.error(LexError::BadIncludeName(raw.clone()), span);
            return ne;
        }
        let name = unescape_include_name(inner);
        let candidates = self.include_candidates(&name);
        let Some(path) = candidates.iter().find(|p| self.loader.exists(p)).cloned() else {
            if !import {
                let tried = candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                self.error(LexError::IncludeNotFound { name, tried }, span);
            }
            return ne;
        };
        let identity = self.loader.identity(&path);
        let files = self
            .frames
            .iter()
            .filter(|f| matches!(f.kind, FrameKind::File { .. }));
        if files
            .clone()
            .any(|f| matches!(&f.kind, FrameKind::File { identity: i } if *i == identity))
        {
            self.error(LexError::IncludeLoop(name), span);
            return ne;
        }
        if files.count() > MAX_INCLUDE_DEPTH {
            self.error(LexError::IncludeTooDeep(MAX_INCLUDE_DEPTH), span);
            return ne;
        }
        let text = match self.loader.load(&path) {
            Ok(t) => t,
            Err(e) => {
                self.error(
                    LexError::IncludeUnreadable {
                        name,
                        reason: e.to_string(),
                    },
                    span,
                );
                return ne;
            }
        };
        let len = text.len();
        let id = self.sources.add(SourceOrigin::File(path), text);
        self.included_files.push(id);
        self.frames.push(Frame {
            file: id,
            text: self.sources.file(id).shared_text(),
            pos: 0,
            end: len,
            kind: FrameKind::File { identity },
        });
        ne
    }

    /// Where to look for an included file: relative names first beside the including file,
    /// then relative to the working directory (Kamailio tries the working directory first; a
    /// config's own directory is what users mean, and the two only differ when both exist).
    fn include_candidates(&self, name: &str) -> Vec<PathBuf> {
        let p = Path::new(name);
        if p.is_absolute() {
            return vec![p.to_path_buf()];
        }
        let mut out = Vec::new();
        let includer = self.frames.iter().rev().find_map(|f| {
            match (&f.kind, self.sources.file(f.file).origin()) {
                (FrameKind::File { .. }, SourceOrigin::File(path)) => Some(path.clone()),
                _ => None,
            }
        });
        if let Some(dir) = includer.as_deref().and_then(Path::parent) {
            out.push(normalize_path(&dir.join(p)));
        }
        let plain = normalize_path(p);
        if !out.contains(&plain) {
            out.push(plain);
        }
        out
    }

    /// Registers a `#!subst` rule (and for `substdef(s)` its define).
    pub(crate) fn add_subst_rule(&mut self, kind: SubstKind, arg: &str, span: Span) {
        let rule = match SubstRule::parse(arg) {
            Ok(r) => r,
            Err(e) => {
                self.error(LexError::BadSubst(e), span);
                return;
            }
        };
        if kind != SubstKind::Subst {
            let name = rule.pattern.clone();
            if ident_len(name.as_bytes()) != name.len() || name.is_empty() {
                self.error(
                    LexError::BadSubst(format!("`{name}` is not a valid define name")),
                    span,
                );
                return;
            }
            let mut value = rule.replacement_text.clone();
            if kind == SubstKind::SubstDefs {
                value = format!("\"{value}\"");
            }
            let vspan = self.virtual_value(format!("#!{} {name}", kind.directive()), value);
            let def = Define {
                value: Some(vspan),
                defined_at: Some(span),
            };
            self.set_define(&name, def, DefineMode::Define, span);
        }
        self.substs.push(rule);
    }
}

/// Include names: `\t \n \r` are escapes, any other `\x` is `x`.
fn unescape_include_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(o) => out.push(o),
            None => {}
        }
    }
    out
}
