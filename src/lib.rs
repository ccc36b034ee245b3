//! BenchFS: an ad hoc distributed file system for HPC jobs.
//!
//! # Layout
//! - [`auth`]: the cluster secret and the connect-time HMAC challenge.
//! - [`config`]: how a client finds the cluster (server list, registry) and its timeouts.
//! - [`placement`]: the consistent-hash ring deciding who owns a path's metadata and each chunk.
//! - [`proto`]: wire messages and the frame layout (versioned, size-bounded).
//! - [`meta`]: the file system's records (attributes), shared by stores, wire and clients.
//! - [`mount_info`]: what a FUSE mount tells the interposer about its cluster (an ioctl).
//! - [`name_pattern`]: `benchfs find --name` patterns, as GNU find's `-name` (fnmatch, linear time).
//! - [`rpc`]: framing over TCP and the multiplexed client connection.
//! - `fan_out`: one question to many servers, a bounded number in flight (clients and servers both ask).
//! - [`fd_limit`]: raising the open-file limit that connections count against.
//! - [`caller_driven`]: runtimes driven by the threads that call them (the C API's and the mount's).
//! - [`transport`]: the client's seam to the servers (TCP, in-process, fault-injecting).
//! - [`server`]: `benchfsd` internals (metadata store, chunk store, request handlers).
//! - [`stat`]: what `stat`/`statfs` report for a record, the same for every front end.
//! - [`client`]: the async API used by the CLI, the C API and the FUSE mount.
//! - [`ffi`]: the C API (`include/benchfs.h`).
//! - [`stage`]: `benchfs stage-in`/`stage-out`: parallel copies of trees between a local file system and BenchFS.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
pub mod caller_driven;
pub mod client;
pub mod config;
pub mod error;
pub(crate) mod fan_out;
pub mod fd_limit;
pub mod ffi;
pub mod listen;
pub mod meta;
pub mod mount_info;
pub mod name_pattern;
pub mod path;
pub mod placement;
pub mod proto;
pub mod registry;
pub mod rpc;
pub mod server;
pub mod stage;
pub mod stat;
pub mod testkit;
pub mod transport;

pub use client::{Client, DirEntry, File, OpenOptions};
pub use config::Config;
pub use error::{Error, Result};
pub use meta::{Attr, FileKind};
pub use proto::StatFs;
