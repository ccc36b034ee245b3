//! Files only the job's user may read: chunks, metadata and the server's own small
//! files (ring, birth), whatever the umask.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Writes `bytes` to `path` (mode 0600) through a temporary name, so a reader sees the old
/// file or the new one, never half of one.
pub fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(FILE_MODE).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Mode of everything the server creates: chunk data is the users' data, readable by
/// them through the file system's own permissions only, never straight off the node.
pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) as private directories, whatever the umask, and
/// tightens `dir` itself if it already existed with a looser mode. A sticky directory
/// (`/tmp`, `/dev/shm`) is shared by design: refused rather than made private.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)?;
    if std::fs::metadata(dir)?.permissions().mode() & 0o1000 != 0 {
        // /tmp, /dev/shm, a fresh tmpfs mount: shared by design, so left as it is; what the
        // server puts in it is private anyway (0700 directories, 0600 files).
        tracing::warn!("{} is a shared directory (sticky bit); its contents are kept private", dir.display());
        return Ok(());
    }
    private(dir, DIR_MODE)
}

/// Sets `path`'s permission bits to `mode` unless they already are.
pub fn private(path: &Path, mode: u32) -> std::io::Result<()> {
    if std::fs::metadata(path)?.permissions().mode() & 0o7777 != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

const BALLAST: &str = "ballast";

/// Reserves room for the metadata store's last commits: a file of zeros (1/32 of the
/// device, 512 KiB to 16 MiB) that [`release_ballast`] frees when a commit finds the
/// device full. Best effort: without room for it, the server runs without.
pub fn keep_ballast(dir: &Path) {
    let path = dir.join(BALLAST);
    if path.exists() {
        return;
    }
    let Ok(st) = nix_statvfs(dir) else { return };
    let size = (st / 32).clamp(512 << 10, 16 << 20);
    let made = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(&path)
        .and_then(|mut f| f.write_all(&vec![0u8; size as usize]).and_then(|()| f.sync_all()));
    if let Err(e) = made {
        tracing::warn!(error = %e, "no room for the metadata ballast");
        let _ = std::fs::remove_file(&path);
    }
}

/// Frees the ballast; false when there was none.
pub fn release_ballast(dir: &Path) -> bool {
    std::fs::remove_file(dir.join(BALLAST)).is_ok()
}

/// Total bytes of the file system holding `dir`.
fn nix_statvfs(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is NUL-terminated and `st` is a valid out-pointer for statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    // fsblkcnt_t and c_ulong are u64 here but narrower on other targets.
    #[allow(clippy::unnecessary_cast)]
    Ok(st.f_blocks as u64 * st.f_frsize as u64)
}
