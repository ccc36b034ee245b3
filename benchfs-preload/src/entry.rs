//! Every exported function's way in: a re-entry guard, so that calls the interposer makes
//! itself (Rust's std opening /proc/self/mountinfo, the runtime's socket I/O) go straight
//! to the C library; a panic guard, so that no panic unwinds into C; and the errno of a
//! served call.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};

use crate::real::{set_errno, Fail};
use crate::stats;

thread_local! {
    /// Set while this thread runs interposer code.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// What the interposer made of a call.
pub enum Outcome<T> {
    /// Served: the value to return.
    Done(T),
    /// Served, and failed with this errno.
    Failed(i32),
    /// A path under a mount or a served descriptor, but a question BenchFS cannot answer
    /// here (a symbolic link to follow, a call it does not serve): the kernel mount decides.
    Kernel,
    /// Nothing of ours: straight to the C library.
    Pass,
}

impl<T> Outcome<T> {
    /// The value of a served call, changed by `f`; the other outcomes as they are.
    pub fn map_done<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        self.and_then(|v| Outcome::Done(f(v)))
    }

    /// The next step of a served call with its value; the other outcomes as they are.
    pub fn and_then<U>(self, f: impl FnOnce(T) -> Outcome<U>) -> Outcome<U> {
        match self {
            Outcome::Done(v) => f(v),
            Outcome::Failed(e) => Outcome::Failed(e),
            Outcome::Kernel => Outcome::Kernel,
            Outcome::Pass => Outcome::Pass,
        }
    }
}

impl<T> From<Result<T, benchfs::Error>> for Outcome<T> {
    fn from(r: Result<T, benchfs::Error>) -> Self {
        match r {
            Ok(v) => Outcome::Done(v),
            Err(e) => Outcome::Failed(failed(&e)),
        }
    }
}

/// `e`'s errno, and its message on stderr with `BENCHFS_PRELOAD_DEBUG=1`.
pub fn failed(e: &benchfs::Error) -> i32 {
    static DEBUG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *DEBUG.get_or_init(|| std::env::var_os("BENCHFS_PRELOAD_DEBUG").is_some_and(|v| !v.is_empty() && v != "0")) {
        crate::say(&format!("pid {}: {e}", std::process::id()));
    }
    e.errno()
}

/// Marks this thread as inside the interposer until dropped.
struct Inside;

impl Drop for Inside {
    fn drop(&mut self) {
        let _ = INSIDE.try_with(|i| i.set(false));
    }
}

/// `None` when this thread is already inside (or its thread-locals are gone).
fn enter() -> Option<Inside> {
    // Not `then_some(Inside)`: that would make (and drop, clearing the flag) a guard also
    // when the thread is already inside.
    let was_inside = INSIDE.try_with(|i| i.replace(true)).unwrap_or(true);
    if was_inside {
        None
    } else {
        Some(Inside)
    }
}

/// True when the calling thread is inside the interposer: its calls are the interposer's own.
pub fn inside() -> bool {
    INSIDE.try_with(Cell::get).unwrap_or(false)
}

/// Runs an exported function: `serve` decides (guarded), `kernel` is the C library's call.
/// A panic in `serve` is EIO, with a line on stderr: something may already have happened,
/// so asking the kernel again could do it twice.
pub fn run<T: Fail>(name: &str, serve: impl FnOnce() -> Outcome<T>, kernel: impl FnOnce() -> T) -> T {
    let outcome = {
        let Some(_inside) = enter() else { return kernel() };
        match panic::catch_unwind(AssertUnwindSafe(serve)) {
            Ok(o) => o,
            Err(_) => {
                crate::say(&format!("internal error (panic) in {name}; answering EIO"));
                Outcome::Failed(libc::EIO)
            }
        }
    };
    match outcome {
        Outcome::Done(v) => {
            stats::served();
            v
        }
        Outcome::Failed(e) => {
            stats::served();
            set_errno(e);
            T::fail()
        }
        Outcome::Kernel => {
            stats::kernel();
            kernel()
        }
        Outcome::Pass => kernel(),
    }
}
