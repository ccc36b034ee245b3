//! The one boundary for calls that wait for the device. The stores' reads and writes run
//! inline on the async workers (on tmpfs or a page cache a 1 MiB pwrite is a memcpy,
//! cheaper than a hop to a blocking pool); the calls below can wait milliseconds for a
//! disk, and all of them go through [`blocking`]:
//!
//! - `fsync`/`fdatasync` of chunk files and their directories ([`ChunkFiles`]'s
//!   `sync_file`), `syncfs` of the chunk file system (`sync_all`);
//! - the walk over every chunk file (`usage`) and the `statvfs` a `Usage` request makes
//!   (`space`; the write path's own measure stays inline, see `SpaceGauge`);
//! - redb's `sync_data` at every metadata commit (the file [`MetaBackend`]).
//!
//! [`ChunkFiles`]: super::ChunkFiles
//! [`MetaBackend`]: super::MetaBackend

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs `f`, which waits for the device, without stalling the other tasks of an async
/// worker: on a multi-thread runtime the worker's other tasks move to another thread
/// for the while (`block_in_place`). Plain call elsewhere: on a current-thread runtime
/// (nothing to hand them to; the simulation), on a blocking-pool thread, or with no
/// runtime at all. Nested calls cost nothing: the first one already left the worker.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}
