//! The expression language of `#!ifexp` and `#!defexp`.
//!
//! Kamailio evaluates these with its `snexpr` engine: numbers (floating point), double-quoted
//! strings, C-like operators and parentheses. An identifier names a define: an undefined name
//! is `0`, a define without value is `1`, a define with a value is that value as a string
//! (surrounding double quotes removed). Strings that look like numbers take part in
//! arithmetic and comparisons as numbers.

/// A value of the expression language.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Num(f64),
    Str(String),
}

impl Value {
    /// Truth: a non-zero number or a non-empty string.
    pub(crate) fn truthy(&self) -> bool {
        match self {
            Value::Num(n) => *n != 0.0,
            Value::Str(s) => !s.is_empty(),
        }
    }

    fn as_num(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n),
            Value::Str(s) => s.trim().parse::<f64>().ok(),
        }
    }

    fn num(&self) -> f64 {
        self.as_num().unwrap_or(0.0)
    }

    /// The text `#!defexp` stores: an integral number without fraction.
    pub(crate) fn to_define_text(&self) -> String {
        match self {
            Value::Num(n) if n.fract() == 0.0 && n.abs() < 1e18 => format!("{}", *n as i64),
            Value::Num(n) => format!("{n}"),
            Value::Str(s) => s.clone(),
        }
    }
}

/// What an identifier in an expression refers to.
pub(crate) enum DefineLookup {
    Undefined,
    NoValue,
    Value(String),
}

/// Evaluates `text`; `lookup` resolves define names.
pub(crate) fn evaluate(text: &str, lookup: &dyn Fn(&str) -> DefineLookup) -> Result<Value, String> {
    let toks = tokenize(text)?;
    if toks.is_empty() {
        return Err("empty expression".into());
    }
    let mut p = Parser {
        toks: &toks,
        pos: 0,
        lookup,
    };
    let v = p.expr(0)?;
    if p.pos != toks.len() {
        return Err(format!("unexpected `{}`", toks[p.pos].text()));
    }
    Ok(v)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Ident(String),
    Op(&'static str),
    LParen,
    RParen,
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Num(n) => n.to_string(),
            Tok::Str(s) => format!("{s:?}"),
            Tok::Ident(s) => s.clone(),
            Tok::Op(o) => (*o).to_string(),
            Tok::LParen => "(".into(),
            Tok::RParen => ")".into(),
        }
    }
}

const OPS: &[&str] = &[
    "**", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "*", "/", "%", "+", "-", "<", ">", "&",
    "|", "^", "!", ",",
];

fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            if c == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')) {
                i += 2;
                while i < b.len() && b[i].is_ascii_hexdigit() {
                    i += 1;
                }
                let v = i64::from_str_radix(&text[start + 2..i], 16)
                    .map_err(|_| format!("bad number `{}`", &text[start..i]))?;
                out.push(Tok::Num(v as f64));
                continue;
            }
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            let v: f64 = text[start..i]
                .parse()
                .map_err(|_| format!("bad number `{}`", &text[start..i]))?;
            out.push(Tok::Num(v));
        } else if c == b'"' {
            let mut s = String::new();
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err("unterminated string".into()),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') if i + 1 < b.len() => {
                        s.push(char::from(b[i + 1]));
                        i += 2;
                    }
                    Some(_) => {
                        let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
                        s.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            out.push(Tok::Str(s));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(text[start..i].to_string()));
        } else if c == b'(' {
            out.push(Tok::LParen);
            i += 1;
        } else if c == b')' {
            out.push(Tok::RParen);
            i += 1;
        } else if let Some(op) = OPS.iter().find(|op| text[i..].starts_with(**op)) {
            out.push(Tok::Op(op));
            i += op.len();
        } else {
            let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
            return Err(format!("unexpected character {ch:?}"));
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
    lookup: &'a dyn Fn(&str) -> DefineLookup,
}

/// Binding power of binary operators (higher binds tighter) and right-associativity.
fn binary(op: &str) -> Option<(u8, bool)> {
    Some(match op {
        "," => (1, false),
        "||" => (2, false),
        "&&" => (3, false),
        "|" => (4, false),
        "^" => (5, false),
        "&" => (6, false),
        "==" | "!=" => (7, false),
        "<" | "<=" | ">" | ">=" => (8, false),
        "<<" | ">>" => (9, false),
        "+" | "-" => (10, false),
        "*" | "/" | "%" => (11, false),
        "**" => (12, true),
        _ => return None,
    })
}

impl Parser<'_> {
    fn expr(&mut self, min_bp: u8) -> Result<Value, String> {
        let mut lhs = self.unary()?;
        while let Some(Tok::Op(op)) = self.toks.get(self.pos) {
            let Some((bp, right)) = binary(op) else {
                break;
            };
            if bp < min_bp {
                break;
            }
            self.pos += 1;
            let rhs = self.expr(if right { bp } else { bp + 1 })?;
            lhs = apply(op, lhs, rhs)?;
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Value, String> {
        let tok = self
            .toks
            .get(self.pos)
            .cloned()
            .ok_or_else(|| "expression ends too early".to_string())?;
        self.pos += 1;
        match tok {
            Tok::Num(n) => Ok(Value::Num(n)),
            Tok::Str(s) => Ok(Value::Str(s)),
            Tok::Ident(name) => Ok(match (self.lookup)(&name) {
                DefineLookup::Undefined => Value::Num(0.0),
                DefineLookup::NoValue => Value::Num(1.0),
                DefineLookup::Value(v) => {
                    let t = v.trim();
                    let unq = t
                        .strip_prefix('"')
                        .and_then(|s| s.strip_suffix('"'))
                        .unwrap_or(t);
                    Value::Str(unq.to_string())
                }
            }),
            Tok::LParen => {
                let v = self.expr(0)?;
                match self.toks.get(self.pos) {
                    Some(Tok::RParen) => {
                        self.pos += 1;
                        Ok(v)
                    }
                    _ => Err("missing `)`".into()),
                }
            }
            Tok::Op("!") => Ok(Value::Num(f64::from(u8::from(!self.unary()?.truthy())))),
            Tok::Op("-") => Ok(Value::Num(-self.unary()?.num())),
            Tok::Op("^") => Ok(Value::Num(!(self.unary()?.num() as i64) as f64)),
            other => Err(format!("unexpected `{}`", other.text())),
        }
    }
}

fn bool_num(b: bool) -> Value {
    Value::Num(if b { 1.0 } else { 0.0 })
}

fn apply(op: &str, l: Value, r: Value) -> Result<Value, String> {
    let both_num = l.as_num().is_some() && r.as_num().is_some();
    let int = |f: fn(i64, i64) -> i64| Value::Num(f(l.num() as i64, r.num() as i64) as f64);
    Ok(match op {
        "," => r,
        "||" => bool_num(l.truthy() || r.truthy()),
        "&&" => bool_num(l.truthy() && r.truthy()),
        "|" => int(|a, b| a | b),
        "^" => int(|a, b| a ^ b),
        "&" => int(|a, b| a & b),
        "<<" => int(|a, b| a.wrapping_shl(b as u32)),
        ">>" => int(|a, b| a.wrapping_shr(b as u32)),
        "==" | "!=" => {
            let eq = if both_num {
                l.num() == r.num()
            } else {
                text_of(&l) == text_of(&r)
            };
            bool_num(eq == (op == "=="))
        }
        "<" | "<=" | ">" | ">=" => {
            let ord = if both_num {
                l.num().partial_cmp(&r.num())
            } else {
                Some(text_of(&l).cmp(&text_of(&r)))
            };
            let ord = ord.ok_or_else(|| "comparison with NaN".to_string())?;
            bool_num(match op {
                "<" => ord.is_lt(),
                "<=" => ord.is_le(),
                ">" => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        "+" if !both_num => Value::Str(text_of(&l) + &text_of(&r)),
        "+" => Value::Num(l.num() + r.num()),
        "-" => Value::Num(l.num() - r.num()),
        "*" => Value::Num(l.num() * r.num()),
        "/" | "%" if r.num() == 0.0 => return Err("division by zero".into()),
        "/" => Value::Num(l.num() / r.num()),
        "%" => Value::Num(l.num() % r.num()),
        "**" => Value::Num(l.num().powf(r.num())),
        _ => return Err(format!("unknown operator `{op}`")),
    })
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::Num(_) => v.to_define_text(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str) -> Value {
        evaluate(s, &|n| match n {
            "KAMAILIO_VERSION" => DefineLookup::Value("6002000".into()),
            "FLAG" => DefineLookup::NoValue,
            "NAME" => DefineLookup::Value("\"abc\"".into()),
            _ => DefineLookup::Undefined,
        })
        .unwrap()
    }

    #[test]
    fn arithmetic_and_precedence() {
        assert_eq!(ev("5000 + 58"), Value::Num(5058.0));
        assert_eq!(ev("2 + 3 * 4"), Value::Num(14.0));
        assert_eq!(ev("(2 + 3) * 4"), Value::Num(20.0));
        assert_eq!(ev("2 ** 3 ** 2"), Value::Num(512.0));
        assert_eq!(ev("-3 + 1"), Value::Num(-2.0));
        assert_eq!(ev("1 << 4"), Value::Num(16.0));
    }

    #[test]
    fn defines_and_comparisons() {
        assert!(ev("KAMAILIO_VERSION >= 6002000").truthy());
        assert!(!ev("KAMAILIO_VERSION < 5000000").truthy());
        assert!(ev("FLAG").truthy());
        assert!(!ev("UNDEFINED").truthy());
        assert!(ev("NAME == \"abc\"").truthy());
        assert!(ev("!UNDEFINED && FLAG").truthy());
    }

    #[test]
    fn errors_are_values() {
        let l = |_: &str| DefineLookup::Undefined;
        assert!(evaluate("1 +", &l).is_err());
        assert!(evaluate("(1", &l).is_err());
        assert!(evaluate("1 / 0", &l).is_err());
        assert!(evaluate("", &l).is_err());
        assert!(evaluate("1 ? 2", &l).is_err());
    }

    #[test]
    fn define_text_of_numbers() {
        assert_eq!(ev("5000 + 58").to_define_text(), "5058");
        assert_eq!(ev("1 / 4").to_define_text(), "0.25");
    }
}
