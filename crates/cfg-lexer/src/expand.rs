//! The config as the parser sees it: includes spliced in, defines replaced by their values,
//! `#!subst` rules applied to strings, conditionals resolved, directives and comments gone.
//! Every output line ends with a `# file:line` comment naming the line it came from (for a
//! define's value, the line where the define was used).
//!
//! Unlike Kamailio's `--cfg-print`, which prints the text before defines are substituted,
//! this prints what is actually run. The output lexes back to the same tokens (the subst
//! directives are left out, as their rules have already been applied).

use std::fmt::Write;

use crate::source::{FileId, Span};
use crate::token::{Token, TokenKind};
use crate::{CompatMode, Lexed};

impl Lexed {
    /// The expanded config text, one `# file:line` comment per output line.
    pub fn expanded(&self) -> String {
        let mut out = String::new();
        // The `$` reading mode is a directive, not a token: it goes first so that the text
        // reads back the same (a mode switched in mid-file is shown as the final mode).
        match self.compat {
            CompatMode::Max => {}
            CompatMode::Kamailio => out.push_str("#!KAMAILIO\n"),
            CompatMode::Ser => out.push_str("#!SER\n"),
        }
        let mut line = String::new();
        let mut current: Option<(FileId, u32)> = None;
        let mut prev: Option<&Token> = None;
        let mut tokens = self.tokens.iter().peekable();
        while let Some(token) = tokens.next() {
            if matches!(token.kind, TokenKind::Subst(_)) {
                // `#!subst "rule"`: already applied; its string argument goes with it.
                if tokens
                    .peek()
                    .is_some_and(|t| matches!(t.kind, TokenKind::Str(_)))
                {
                    tokens.next();
                }
                continue;
            }
            let site = self.use_site(token);
            let here = (
                site.file,
                self.sources
                    .file(site.file)
                    .line_col(site.start as usize)
                    .line,
            );
            if current != Some(here) {
                if let Some(done) = current {
                    self.finish_line(&mut out, &line, done);
                    line.clear();
                }
                current = Some(here);
            } else if let Some(p) = prev {
                line.push_str(self.separator(p, token));
            }
            self.push_token(&mut line, token);
            prev = Some(token);
        }
        if let Some(done) = current {
            self.finish_line(&mut out, &line, done);
        }
        out
    }

    /// What stood between two tokens of one output line: their own spacing when they are
    /// neighbours in a file (or in one define value), else one space.
    fn separator(&self, prev: &Token, cur: &Token) -> &str {
        let (pu, cu) = (self.use_site(prev), self.use_site(cur));
        let (a, b) = if pu == cu {
            (prev.span, cur.span)
        } else {
            (pu, cu)
        };
        if a.file != b.file || a.end > b.start {
            return " ";
        }
        let gap = self.sources.text(Span {
            file: a.file,
            start: a.end,
            end: b.start,
        });
        if gap.bytes().all(|c| c == b' ' || c == b'\t') {
            gap
        } else {
            " "
        }
    }

    /// A token's text: strings from their final value (after escapes and substs), everything
    /// else as written.
    fn push_token(&self, line: &mut String, token: &Token) {
        match &token.kind {
            TokenKind::Str(value) => quote(line, value),
            _ => line.push_str(self.sources.text(token.span)),
        }
    }

    fn finish_line(&self, out: &mut String, line: &str, (file, number): (FileId, u32)) {
        let name = self.sources.file(file).display_name();
        let _ = writeln!(out, "{line:<60} # {name}:{number}");
    }
}

/// Appends `value` as a double-quoted string that lexes back to `value`: `"` and `\` and the
/// control characters escaped.
pub(crate) fn quote(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use crate::{lex_str_with, LexOptions, MemoryLoader};

    #[test]
    fn includes_defines_and_substs_are_expanded_with_their_origin() {
        let mut files = MemoryLoader::new();
        files.insert("inc.cfg", "alias=\"inc.example.org\"\n");
        let main = "#!define ADDR 127.0.0.1\n#!define PORT 5070\n\
                    #!subst \"/example/test/\"\n\
                    listen=udp:ADDR:PORT   # the relay\n\
                    include_file \"inc.cfg\"\n\
                    #!ifdef MISSING\nchildren=9\n#!endif\n\
                    request_route { xlog(\"a\\tb \\\"q\\\"\"); }\n";
        let lexed = lex_str_with("main.cfg", main, &LexOptions::default(), &files);
        assert!(!lexed.has_errors(), "{:?}", lexed.diagnostics);
        let text = lexed.expanded();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("listen=udp:127.0.0.1:5070 "), "{text}");
        assert!(lines[0].ends_with("# main.cfg:4"), "{text}");
        assert!(lines[1].starts_with("alias=\"inc.test.org\" "), "{text}");
        assert!(lines[1].ends_with("# inc.cfg:1"), "{text}");
        assert!(
            lines[2].starts_with(r#"request_route { xlog("a\tb \"q\""); }"#),
            "{text}"
        );
        assert!(lines[2].ends_with("# main.cfg:9"), "{text}");
    }
}
