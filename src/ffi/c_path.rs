//! A path argument of the C API, read as a kernel would read it where BenchFS cannot.
//!
//! BenchFS paths are names, resolved by no one component by component: `a/f/..` would
//! be cancelled lexically to `a`, although the kernel answers ENOTDIR for a `..` after a
//! file or a symbolic link, so `benchfs_rename(ctx, "/P/a/file/..", "/P/x")` would move
//! `/P/a`. A `..` component is therefore refused (EINVAL, documented in `benchfs.h`).
//! A trailing `/` (or `/.`) says the path names a directory: a call on such a path to
//! anything else fails with ENOTDIR, as on Linux, at the cost of one stat.

use super::error::FfiError;
use crate::path::normalize;
use crate::{Client, Error};

/// A checked path argument.
pub(super) struct CPath {
    /// The canonical path.
    pub canonical: String,
    /// Given with a trailing `/` or `/.`: only a directory may have this name.
    pub dir_only: bool,
}

impl CPath {
    /// Checks `raw`: refuses `..`, keeps what its trailing `/` says.
    pub fn new(raw: &str, what: &str) -> Result<CPath, FfiError> {
        if raw.split('/').any(|c| c == "..") {
            return Err(FfiError::invalid(format!(
                "{what} {raw:?}: \"..\" is not accepted in C API paths (BenchFS cannot tell whether what \
                 precedes it is a directory)"
            )));
        }
        let last = raw.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
        let dir_only = raw.len() > 1 && (raw.ends_with('/') || last == ".");
        Ok(CPath { canonical: normalize(raw)?, dir_only })
    }

    /// ENOTDIR when the path was given as a directory's and names something else; a
    /// missing entry passes (the call itself reports it, or creates a directory).
    pub fn check_dir(&self, client: &Client) -> Result<(), FfiError> {
        if !self.dir_only {
            return Ok(());
        }
        let stat = async {
            match client.stat(&self.canonical).await {
                Ok(a) => Ok(Some(a)),
                Err(Error::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        };
        match super::runtime::block_on(stat)? {
            Some(a) if !a.is_dir() => Err(Error::NotDir(self.canonical.clone()).into()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_is_refused_and_trailing_slashes_noted() {
        assert!(CPath::new("/a/f/..", "path").is_err());
        assert!(CPath::new("/..", "path").is_err());
        assert!(CPath::new("/a..b/c", "path").is_ok());
        let p = CPath::new("/a/b/", "path").unwrap();
        assert_eq!((p.canonical.as_str(), p.dir_only), ("/a/b", true));
        assert!(CPath::new("/a/b/.", "path").unwrap().dir_only);
        assert!(CPath::new("/a/b//", "path").unwrap().dir_only);
        assert!(!CPath::new("/a/b", "path").unwrap().dir_only);
        assert!(!CPath::new("/", "path").unwrap().dir_only);
    }
}
