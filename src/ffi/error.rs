//! Errors across the C boundary: the negative code each call returns, the calling
//! thread's last error (`benchfs_get_error`, `benchfs_errno`), and the guard that
//! keeps panics from unwinding into C.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};
use std::panic::{self, AssertUnwindSafe};

use crate::error::Error;

/// A failed C call: a positive errno (returned negated) and the message kept for
/// `benchfs_get_error`.
#[derive(Debug)]
pub struct FfiError {
    errno: i32,
    message: String,
}

impl FfiError {
    pub fn new(errno: i32, message: impl Into<String>) -> FfiError {
        FfiError { errno, message: message.into() }
    }

    /// A NULL handle or string argument.
    pub fn null(what: &str) -> FfiError {
        FfiError::new(libc::EINVAL, format!("{what} is NULL"))
    }

    /// A NULL data buffer.
    pub fn fault(what: &str) -> FfiError {
        FfiError::new(libc::EFAULT, format!("{what} is NULL"))
    }

    pub fn invalid(message: impl Into<String>) -> FfiError {
        FfiError::new(libc::EINVAL, message)
    }

    pub fn io(message: impl Into<String>) -> FfiError {
        FfiError::new(libc::EIO, message)
    }
}

impl From<Error> for FfiError {
    fn from(e: Error) -> FfiError {
        FfiError { errno: e.errno(), message: e.to_string() }
    }
}

/// The calling thread's last failure.
struct LastError {
    errno: i32,
    message: CString,
}

thread_local! {
    static LAST: RefCell<LastError> = RefCell::new(LastError { errno: 0, message: CString::default() });
}

fn record(errno: i32, message: String) {
    // A message cannot carry a NUL into C: cut it there.
    let mut bytes = message.into_bytes();
    if let Some(i) = bytes.iter().position(|&b| b == 0) {
        bytes.truncate(i);
    }
    let message = CString::new(bytes).unwrap_or_default();
    // `try_with`: a call made while the thread's locals are being destroyed just skips it.
    let _ = LAST.try_with(|l| *l.borrow_mut() = LastError { errno, message });
}

/// What an exported function returns when it fails.
pub trait FailValue {
    /// `code` is the negated errno.
    fn fail(code: c_int) -> Self;
}

impl FailValue for c_int {
    fn fail(code: c_int) -> Self {
        code
    }
}

impl FailValue for isize {
    fn fail(code: c_int) -> Self {
        code as isize
    }
}

impl FailValue for i64 {
    fn fail(code: c_int) -> Self {
        i64::from(code)
    }
}

impl<T> FailValue for *mut T {
    fn fail(_: c_int) -> Self {
        std::ptr::null_mut()
    }
}

/// Runs the body of an exported function: a panic becomes EIO, an error is recorded
/// as the thread's last error and returned as its negative code (or NULL).
pub fn guard<T: FailValue>(op: &str, body: impl FnOnce() -> Result<T, FfiError>) -> T {
    let e = match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => return v,
        Ok(Err(e)) => e,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            FfiError::io(format!("internal error (panic): {what}"))
        }
    };
    record(e.errno, format!("{op}: {}", e.message));
    T::fail(-e.errno)
}

/// The message of the calling thread's last failed call; "" if none. The pointer
/// stays valid until the thread's next failed call.
#[no_mangle]
pub extern "C" fn benchfs_get_error() -> *const c_char {
    LAST.try_with(|l| l.borrow().message.as_ptr()).unwrap_or(c"".as_ptr())
}

/// The code (negated errno) of the calling thread's last failed call; 0 if none.
#[no_mangle]
pub extern "C" fn benchfs_errno() -> c_int {
    LAST.try_with(|l| -l.borrow().errno).unwrap_or(0)
}
