//! Lists collected at their exact length.
//!
//! chumsky collects a repetition through [`FromIterator`] from an iterator that cannot
//! tell its length, so a `Vec` grows by doubling while a block or an argument list is read
//! (room for four, then eight, …, each step a copy) and was trimmed after with a second
//! reallocation. [`Exact`] instead pushes the items onto a per-thread stack and moves them
//! off it into one allocation of the right size. The stack works for nested lists: a
//! statement read while a block is being collected collects its own block above the outer
//! block's items and takes them off again before the outer block goes on.

use std::cell::RefCell;
use std::thread::LocalKey;

use crate::ast::{Arg, Stmt};

/// A list collected at its exact length (see the module docs).
pub(crate) struct Exact<T>(pub(crate) Vec<T>);

/// An item type with a per-thread stack to collect on.
pub(crate) trait Stacked: Sized + 'static {
    /// This thread's stack of items of this type.
    fn stack() -> &'static LocalKey<RefCell<Vec<Self>>>;
}

thread_local! {
    static STMTS: RefCell<Vec<Stmt>> = const { RefCell::new(Vec::new()) };
    static ARGS: RefCell<Vec<Arg>> = const { RefCell::new(Vec::new()) };
}

impl Stacked for Stmt {
    fn stack() -> &'static LocalKey<RefCell<Vec<Self>>> {
        &STMTS
    }
}

impl Stacked for Arg {
    fn stack() -> &'static LocalKey<RefCell<Vec<Self>>> {
        &ARGS
    }
}

impl<T: Stacked> FromIterator<T> for Exact<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let stack = T::stack();
        let start = stack.with_borrow(Vec::len);
        // No borrow is held while the iterator runs: reading an item may collect a list.
        for item in iter {
            stack.with_borrow_mut(|s| s.push(item));
        }
        // A drain knows its length, so the new list is allocated once at that size.
        Exact(stack.with_borrow_mut(|s| s.drain(start..).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Block;
    use cfg_lexer::{FileId, Span};

    fn empty(at: usize) -> Stmt {
        Stmt::Empty {
            span: Span::new(FileId(0), at, at + 1),
        }
    }

    fn at(s: &Stmt) -> u32 {
        match s {
            Stmt::Empty { span } | Stmt::Block(Block { span, .. }) => span.start,
            _ => u32::MAX,
        }
    }

    #[test]
    fn nested_lists_keep_their_own_items_at_exact_length() {
        // An outer list whose second item collects an inner list of three while the
        // outer one is being collected.
        let outer: Exact<Stmt> = (0..4)
            .map(|i| {
                if i == 1 {
                    let inner: Exact<Stmt> = (10..13).map(empty).collect();
                    assert_eq!(inner.0.iter().map(at).collect::<Vec<_>>(), [10, 11, 12]);
                    assert_eq!(inner.0.capacity(), 3);
                    Stmt::Block(Block {
                        stmts: inner.0,
                        span: Span::new(FileId(0), 1, 2),
                    })
                } else {
                    empty(i)
                }
            })
            .collect();
        assert_eq!(outer.0.iter().map(at).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!(outer.0.capacity(), 4);
        assert!(STMTS.with_borrow(Vec::is_empty));
        let none: Exact<Stmt> = std::iter::empty().collect();
        assert_eq!(none.0.capacity(), 0);
    }
}
