//! Connecting and disconnecting: `benchfs_init`, `benchfs_finalize`, and the
//! questions that need no server (`benchfs_server_count`, `benchfs_version`).

use std::ffi::{c_char, c_int};

use super::error::{guard, FfiError};
use super::handle::{self, Context};
use super::runtime::{block_on, runtime};
use crate::config::ClusterArgs;
use crate::{Client, Config};

/// Connects to a cluster; see `benchfs.h`.
///
/// # Safety
/// `servers` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn benchfs_init(servers: *const c_char) -> *mut Context {
    guard("benchfs_init", || {
        let spec = if servers.is_null() {
            ""
        } else {
            // SAFETY: non-NULL and NUL-terminated (caller's contract).
            unsafe { handle::string(servers, "servers") }?
        };
        // The spec is the C API's `--servers` flag: it beats the environment.
        let cfg = Config::resolve(&ClusterArgs { servers: Some(spec.to_string()), ..ClusterArgs::default() })?;
        let client = block_on(Client::connect(cfg))?;
        Ok(Box::into_raw(Box::new(Context { client })))
    })
}

/// Closes the context's connections and frees it.
///
/// # Safety
/// `ctx` is NULL or a live context, not used again after this call.
#[no_mangle]
pub unsafe extern "C" fn benchfs_finalize(ctx: *mut Context) -> c_int {
    guard("benchfs_finalize", || {
        if ctx.is_null() {
            return Err(FfiError::null("context"));
        }
        // SAFETY: a live context from `benchfs_init`, freed exactly once here.
        let ctx = unsafe { Box::from_raw(ctx) };
        // Dropped inside the runtime so the connections' reader tasks are cancelled
        // and their sockets closed now, not whenever the runtime next runs.
        runtime()?.block_on(async move {
            drop(ctx);
            tokio::task::yield_now().await;
        });
        Ok(0)
    })
}

/// Number of servers of the context's cluster.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn benchfs_server_count(ctx: *const Context) -> c_int {
    guard("benchfs_server_count", || {
        // SAFETY: NULL or live (caller's contract).
        let ctx = unsafe { handle::context(ctx) }?;
        c_int::try_from(ctx.client.server_count()).map_err(|_| FfiError::invalid("too many servers"))
    })
}

/// The library version, e.g. "0.1.0".
#[no_mangle]
pub extern "C" fn benchfs_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}
