//! What the first piece of a file parsed in pieces gives the others.
//!
//! The first piece holds the file's header (its directives, modules and parameters), and
//! a caller of [`crate::parse_file_with`] derives from it what it needs to work on every
//! piece (a config check: the modules, flags and settings the route bodies are checked
//! in). The other pieces are parsed on other threads at the same time, and one may be
//! done before the first: it waits here until the first piece's value is there, so that
//! every piece is worked on where it was parsed, none left for later.
//!
//! The first piece is always taken first, by the thread that lexed the header, and never
//! waits for another: a piece that waits here waits for work that is already running. The
//! wait is bounded all the same ([`GIVE_UP`]): a piece whose value does not come (the
//! first piece's thread stalled, or gone in a panic) is handed back without the work, and
//! the caller does that work afterwards, so nothing can wait for ever.

use std::sync::{Condvar, Mutex, OnceLock, PoisonError};

/// How long a piece waiting for the first looks for its value before it sleeps.
const LOOK: std::time::Duration = std::time::Duration::from_millis(2);

/// How long a piece waits for the first piece's value at most.
const GIVE_UP: std::time::Duration = std::time::Duration::from_secs(1);

/// The first piece's value, once it is known; `None` when the first piece had an error
/// (the file is then parsed again in one piece, and no piece's work counts).
pub(crate) struct FirstPiece<C> {
    value: OnceLock<Option<C>>,
    /// Held while the value is set and waiters are woken, and by a waiter between its look
    /// at the value and its sleep, so that no wake-up is lost.
    lock: Mutex<()>,
    made_known: Condvar,
}

impl<C> FirstPiece<C> {
    /// Nothing known yet.
    pub(crate) fn new() -> Self {
        FirstPiece {
            value: OnceLock::new(),
            lock: Mutex::new(()),
            made_known: Condvar::new(),
        }
    }

    /// Makes the value known (only the first call counts) and wakes the waiting pieces.
    pub(crate) fn set(&self, value: Option<C>) {
        let _ = self.value.set(value);
        let _held = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.made_known.notify_all();
    }

    /// The value, once [`FirstPiece::set`] has been called; `None` when it was set to none,
    /// or not within [`GIVE_UP`]. The first piece is short, so the wait is short: it is
    /// spent looking (giving the core to any other thread that wants it) for up to [`LOOK`]
    /// before sleeping, since a sleeping thread takes long to wake where idle cores sleep
    /// too (half a millisecond, measured on a 2-core virtual machine: more than most waits).
    pub(crate) fn wait(&self) -> Option<&C> {
        self.wait_at_most(GIVE_UP)
    }

    /// [`FirstPiece::wait`], giving up after `give_up`.
    fn wait_at_most(&self, give_up: std::time::Duration) -> Option<&C> {
        let start = std::time::Instant::now();
        loop {
            if let Some(value) = self.value.get() {
                return value.as_ref();
            }
            if start.elapsed() > LOOK {
                break;
            }
            std::thread::yield_now();
        }
        let held = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let left = give_up.saturating_sub(start.elapsed());
        let unknown = |_: &mut ()| self.value.get().is_none();
        drop(self.made_known.wait_timeout_while(held, left, unknown));
        self.value.get().and_then(Option::as_ref)
    }

    /// The value, when it was set.
    pub(crate) fn into_value(self) -> Option<C> {
        self.value.into_inner().flatten()
    }
}

/// Held while the first piece is parsed: if that ends without a value (an error, or a
/// panic that unwinds through it), the waiting pieces are woken with none.
pub(crate) struct SetOnDrop<'f, C>(pub(crate) &'f FirstPiece<C>);

impl<C> Drop for SetOnDrop<'_, C> {
    fn drop(&mut self) {
        if self.0.value.get().is_none() {
            self.0.set(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_piece_gets_the_value_set_later() {
        let first = FirstPiece::new();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| first.wait().copied());
            std::thread::sleep(std::time::Duration::from_millis(20));
            first.set(Some(7));
            assert_eq!(waiter.join().ok().flatten(), Some(7));
        });
        assert_eq!(first.wait(), Some(&7));
        assert_eq!(first.into_value(), Some(7));
    }

    #[test]
    fn a_first_piece_that_ends_without_a_value_releases_the_waiters() {
        let first: FirstPiece<u8> = FirstPiece::new();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| first.wait().copied());
            drop(SetOnDrop(&first));
            assert_eq!(waiter.join().ok().flatten(), None);
        });
        // Only the first value counts.
        first.set(Some(1));
        assert_eq!(first.into_value(), None);
    }

    #[test]
    fn a_piece_gives_up_on_a_value_that_does_not_come() {
        let first: FirstPiece<u8> = FirstPiece::new();
        let waited = std::time::Instant::now();
        assert_eq!(
            first.wait_at_most(std::time::Duration::from_millis(50)),
            None
        );
        assert!(waited.elapsed() >= std::time::Duration::from_millis(50));
        // A value set later is there for the next piece.
        first.set(Some(3));
        assert_eq!(first.wait(), Some(&3));
    }
}
