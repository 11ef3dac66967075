//! Panics raised inside third-party code we call (the `parquet` crate's
//! record reader, smartcore's training) are contained and become typed
//! errors; this module is the one place that does it.
//!
//! A process-wide panic hook (the binary installs one that reports a panic
//! as a bug) still runs for a contained panic. [`is_contained`] tells the
//! hook to stay silent, since the caller reports the failure as an ordinary
//! error.

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    /// How many [`contain`] calls are running on this thread.
    static CONTAINING: Cell<u32> = const { Cell::new(0) };
}

/// Runs `f`; a panic inside it is caught and returned as its message.
pub fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    CONTAINING.with(|c| c.set(c.get() + 1));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    CONTAINING.with(|c| c.set(c.get() - 1));
    outcome.map_err(|payload| message(&*payload))
}

/// Whether the current thread is inside [`contain`]: a panic hook should then
/// not report the panic, which the caller turns into an error.
pub fn is_contained() -> bool {
    CONTAINING.with(|c| c.get() > 0)
}

/// The text of a panic payload (`panic!` with a literal or a formatted
/// message), or "unknown cause".
pub fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contained_panic_becomes_its_message_and_the_flag_resets() {
        assert!(!is_contained());
        let seen = contain(|| {
            assert!(is_contained());
            panic!("boom {}", 7)
        });
        assert_eq!(seen, Err::<(), _>("boom 7".to_string()));
        assert!(!is_contained());
        assert_eq!(contain(|| 3), Ok(3));
    }

    #[test]
    fn nested_calls_keep_the_outer_flag() {
        let _ = contain(|| {
            let _ = contain(|| panic!("inner"));
            assert!(is_contained());
        });
        assert!(!is_contained());
    }
}
