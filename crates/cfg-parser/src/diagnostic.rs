//! Diagnostics of the parser (and the lexer's, converted), rendered as one line or with
//! ariadne as a source snippet with a caret.

use std::fmt::Write;

use chumsky::error::{Rich, RichReason};
use chumsky::span::SimpleSpan;
use serde::Serialize;

use cfg_lexer::{SourceMap, Span};

pub use cfg_lexer::Severity;

use crate::grammar::{Cx, Tok};

/// One problem in a config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, one line.
    pub message: String,
    /// Where.
    pub span: Span,
    /// Other places that explain it (`first defined here`, …).
    pub labels: Vec<(Span, String)>,
    /// How to fix it, if we know.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(message: impl Into<String>, span: Span) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span,
            labels: Vec::new(),
            help: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(message: impl Into<String>, span: Span) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message, span)
        }
    }

    /// Adds a secondary label.
    pub fn with_label(mut self, span: Span, text: impl Into<String>) -> Self {
        self.labels.push((span, text.into()));
        self
    }

    /// Adds a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// One line: `file:line:col: error: message`.
    pub fn render(&self, sources: &SourceMap) -> String {
        format!(
            "{}: {}: {}",
            sources.location(self.span),
            self.severity,
            self.message
        )
    }

    /// A source snippet with the line and a caret under the span (ariadne, no colours).
    pub fn render_pretty(&self, sources: &SourceMap) -> String {
        use ariadne::{Config, Label, Report, ReportKind};
        let name = |s: Span| sources.file(s.file).display_name();
        let kind = match self.severity {
            Severity::Error => ReportKind::Error,
            Severity::Warning => ReportKind::Warning,
        };
        let loc = sources.location(self.span);
        let mut report = Report::build(kind, (name(self.span), self.span.range()))
            .with_config(Config::default().with_color(false))
            .with_message(format!("{loc}: {}", self.message))
            .with_label(
                Label::new((name(self.span), self.span.range())).with_message(&self.message),
            );
        for (span, text) in &self.labels {
            report = report.with_label(Label::new((name(*span), span.range())).with_message(text));
        }
        if let Some(h) = &self.help {
            report = report.with_help(h);
        }
        let files: Vec<(String, String)> = sources
            .files()
            .map(|(id, f)| (name(Span::new(id, 0, 0)), f.text().to_string()))
            .collect();
        let mut out = Vec::new();
        if report
            .finish()
            .write(ariadne::sources(files), &mut out)
            .is_err()
        {
            return self.render(sources);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Converts a lexer diagnostic.
    pub(crate) fn from_lexer(d: &cfg_lexer::Diagnostic) -> Self {
        let mut out = Diagnostic {
            severity: d.severity,
            message: d.kind.to_string(),
            span: d.span,
            labels: Vec::new(),
            help: None,
        };
        if let Some(rel) = d.related {
            out.labels.push((rel, "opened here".into()));
        }
        out
    }

    /// Converts a chumsky error over token indices.
    pub(crate) fn from_rich(e: &Rich<'_, Tok<'_>, SimpleSpan>, cx: Cx<'_>) -> Self {
        let span = if e.span().start >= cx.toks.len() {
            // At the end of input: point just past the last token.
            cx.toks
                .last()
                .map_or(Span::new(cfg_lexer::FileId(0), 0, 0), |t| {
                    Span::new(t.span.file, t.span.end as usize, t.span.end as usize)
                })
        } else {
            cx.span(*e.span())
        };
        let message = match e.reason() {
            RichReason::Custom(msg) => msg.clone(),
            RichReason::ExpectedFound { expected, found } => {
                let mut m = match found {
                    Some(t) => format!("unexpected {}", **t),
                    None => "unexpected end of file".to_string(),
                };
                // chumsky quotes tokens as '…' around our own `…`; keep ours, and drop the
                // patterns of negative lookaheads ("something else").
                let exp: Vec<String> = expected
                    .iter()
                    .map(|p| {
                        let s = p.to_string();
                        match s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
                            Some(inner) if inner.starts_with('`') => inner.to_string(),
                            _ => s,
                        }
                    })
                    .filter(|s| !s.is_empty() && s != "something else")
                    .collect();
                if !exp.is_empty() {
                    let shown = exp.iter().take(6).cloned().collect::<Vec<_>>().join(", ");
                    let _ = write!(m, ", expected {shown}");
                    if exp.len() > 6 {
                        m.push_str(", …");
                    }
                }
                m
            }
        };
        Diagnostic::error(message, span)
    }
}
