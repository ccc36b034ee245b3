//! A lock that `fork` cannot leave held: the interposer's few shared tables are behind
//! these, and the fork handlers take every one before the fork and release them in both
//! processes after it ([`crate::fork`]), so the child never inherits one locked by a
//! thread it does not have. Held only for table lookups and updates, never across I/O.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

pub struct ForkLock<T> {
    held: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialized by `held`.
unsafe impl<T: Send> Sync for ForkLock<T> {}

impl<T> ForkLock<T> {
    pub const fn new(value: T) -> ForkLock<T> {
        ForkLock { held: AtomicBool::new(false), value: UnsafeCell::new(value) }
    }

    /// Takes the lock for the guard's life.
    pub fn lock(&self) -> Guard<'_, T> {
        self.acquire();
        Guard(self)
    }

    /// Takes the lock with no guard (the fork handlers); [`ForkLock::release`] gives it back.
    pub fn acquire(&self) {
        while self.held.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::thread::yield_now();
        }
    }

    /// The value, for a holder of the lock taken with [`ForkLock::acquire`].
    pub fn as_ptr(&self) -> *mut T {
        self.value.get()
    }

    /// Gives back a lock taken with [`ForkLock::acquire`].
    pub fn release(&self) {
        self.held.store(false, Ordering::Release);
    }
}

pub struct Guard<'a, T>(&'a ForkLock<T>);

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held by this guard.
        unsafe { &*self.0.value.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the lock is held by this guard, which is borrowed mutably.
        unsafe { &mut *self.0.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        self.0.release();
    }
}
