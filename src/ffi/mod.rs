//! The C API (`include/benchfs.h`): blocking calls over the async [`Client`](crate::Client).
//!
//! # Layout
//! - `runtime`: the process's one tokio runtime and the `block_on` bridge into it.
//! - `error`: return codes, the calling thread's last error, and the panic guard.
//! - `handle`: the opaque context and file handles, and checked access to C arguments.
//! - `c_path`: path arguments: `..` refused, a trailing `/` meaning "a directory".
//! - `stat`: filling C's `struct stat` and `struct statvfs`.
//! - `init`, `file_ops`, `metadata`: the exported `benchfs_*` functions.
//!
//! Every exported function runs its body through `error::guard`, so no panic
//! unwinds into C, and checks every pointer before it is used: NULL becomes
//! `BENCHFS_EINVAL` (`BENCHFS_EFAULT` for data buffers), never a crash.

mod c_path;
mod error;
mod file_ops;
mod handle;
mod init;
mod metadata;
mod runtime;
mod stat;

pub use error::{benchfs_errno, benchfs_get_error};
pub use file_ops::*;
pub use handle::{Context, FileHandle};
pub use init::*;
pub use metadata::*;
pub use runtime::THREADS_ENV;
pub use stat::{to_stat, to_statvfs};
