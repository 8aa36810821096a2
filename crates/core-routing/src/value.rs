//! Script values and Kamailio's conversion and comparison rules.

use std::fmt;

/// A value in the script: an integer, a string, or `$null` (undefined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An integer (Kamailio's `int`).
    Int(i64),
    /// A string.
    Str(String),
    /// Undefined (`$null`, an unset variable, a missing header).
    Null,
}

impl Value {
    /// As an integer: strings are converted when they are numbers, otherwise 0 (as
    /// Kamailio's `rval_get_int`).
    pub fn as_int(&self) -> i64 {
        match self {
            Value::Int(n) => *n,
            Value::Str(s) => s.trim().parse().unwrap_or(0),
            Value::Null => 0,
        }
    }

    /// As a string (`$null` is the empty string).
    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Value::Int(n) => n.to_string().into(),
            Value::Str(s) => s.as_str().into(),
            Value::Null => "".into(),
        }
    }

    /// As an owned string, moved out when it is one (no copy).
    pub fn into_string(self) -> String {
        match self {
            Value::Str(s) => s,
            v => v.as_str().into_owned(),
        }
    }

    /// Truth in a condition: a non-zero integer.
    pub fn truthy(&self) -> bool {
        self.as_int() != 0
    }

    /// Whether the value is defined (not `$null`).
    pub fn is_defined(&self) -> bool {
        !matches!(self, Value::Null)
    }

    /// `==` as Kamailio does it: by the left side's type (an undefined left side takes the
    /// right side's type).
    pub fn loose_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Int(a), b) => *a == b.as_int(),
            (Value::Str(a), b) => a.as_str() == b.as_str(),
            (Value::Null, Value::Null) => true,
            (Value::Null, Value::Int(b)) => *b == 0,
            (Value::Null, Value::Str(b)) => b.is_empty(),
        }
    }

    /// `+`: adds when the left side is an integer, concatenates otherwise.
    pub fn plus(&self, other: &Value) -> Value {
        match self {
            Value::Int(a) => Value::Int(a.wrapping_add(other.as_int())),
            _ => Value::Str(format!("{}{}", self.as_str(), other.as_str())),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Str(s) => f.write_str(s),
            Value::Null => f.write_str("<null>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_follows_the_left_type() {
        assert!(Value::Int(5).loose_eq(&Value::Str("5".into())));
        assert!(!Value::Str("05".into()).loose_eq(&Value::Int(5)));
        assert!(Value::Null.loose_eq(&Value::Str(String::new())));
        assert_eq!(
            Value::Str("a".into()).plus(&Value::Int(1)),
            Value::Str("a1".into())
        );
        assert_eq!(Value::Int(1).plus(&Value::Str("2".into())), Value::Int(3));
        assert!(!Value::Str("abc".into()).truthy());
        assert!(Value::Str("3".into()).truthy());
    }
}
