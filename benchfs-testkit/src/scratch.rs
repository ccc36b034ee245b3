//! Temporary directories for server data and mount points.

use std::path::Path;

/// A temporary directory on tmpfs (/dev/shm) when there is one: server data lives there,
/// so fsync costs what BenchFS costs, not what the test machine's disk costs.
pub fn fast_tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::Builder::new().prefix("benchfs-test-").tempdir_in(shm) {
            return d;
        }
    }
    tempfile::Builder::new().prefix("benchfs-test-").tempdir().expect("tempdir")
}
