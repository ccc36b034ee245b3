//! What BenchFS's tests, benches and fuzzers share, as one crate instead of files each of
//! them included by path: a dev-dependency of `benchfs` (its integration tests and
//! benches; not its unit tests, see Cargo.toml) and of `benchfs-fuse`, and a dependency
//! of the fuzz workspace.
//!
//! # Layout
//! - [`in_process`]: a whole cluster in this process (`benchfs::testkit`).
//! - [`programs`]: where the binaries under test are (`benchfsd`, `benchfs`, `benchfs-fuse`).
//! - [`server`]: starting one real `benchfsd` and reading its ready line.
//! - [`cluster`]: a cluster of real `benchfsd` processes on loopback ports.
//! - [`mount`]: a `benchfs-fuse` mount that unmounts when dropped, two mounts of one
//!   cluster, and the macros that skip or run a test on both backends.
//! - [`require`]: the one rule for skipping a test whose tool is missing (`BENCHFS_REQUIRE`).
//! - [`read`]: reading a whole file back through the client.
//! - [`pattern`]: deterministic test data.
//! - [`scratch`]: temporary directories on tmpfs.
//! - [`runtime`]: the tokio runtime tests drive clients on.
//! - [`process`]: signals, `/proc` status and output of child processes.
//! - [`posix_ops`]: the POSIX differential test's random operation sequences.
//! - [`wire_fuzz`]: the wire decoders' fuzzing harness.
//!
//! Helpers here panic with a message instead of returning errors: a failed set-up is a
//! failed test, so the crate does not take the `unwrap_used`/`expect_used` lints of the
//! library code.

pub mod cluster;
pub mod in_process;
pub mod mount;
pub mod pattern;
pub mod posix_ops;
pub mod process;
pub mod programs;
pub mod read;
pub mod require;
pub mod runtime;
pub mod scratch;
pub mod server;
pub mod wire_fuzz;

// The names nearly every test imports.
pub use cluster::Cluster;
pub use pattern::pattern;
pub use process::{show, status_kib};
pub use runtime::runtime;
pub use scratch::fast_tempdir;
