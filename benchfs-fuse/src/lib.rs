//! `benchfs-fuse`: BenchFS as a FUSE mount, so any program (`cp`, IOR's POSIX backend, ...)
//! can use it.
//!
//! # Layout
//! - [`cli`]: the command line.
//! - [`session`]: one mount's life (cluster or embedded server, mount, signals, unmount).
//! - [`mount`]: checks on the mountpoint and /dev/fuse, mounting and unmounting.
//! - [`daemon`]: going to the background once the mount is live.
//! - [`embedded`]: the in-process server used when no cluster is given.
//! - [`fuse`]: the thin fuser adapter: copy arguments, spawn on the runtime, reply.
//! - [`fs`]: the file system semantics, knowing nothing of fuser.
//! - [`inode`]: inode number ↔ path, with lookup counts.
//! - [`handles`]: open files and directory snapshots.
//! - [`error`]: the file system layer's errors and their errno.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod cli;
pub mod daemon;
pub mod dir_attrs;
pub mod embedded;
pub mod error;
pub mod fs;
pub mod fuse;
pub mod handles;
pub mod inode;
pub mod mount;
pub mod session;
