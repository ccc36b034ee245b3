//! A directory of the local (or site parallel) file system as one side of a copy. Every
//! system call runs on tokio's blocking pool: a slow parallel file system must not stall
//! the tasks talking to BenchFS.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;

use super::tree::{join, to_system_time, Attrs, Kind, Listing, Meta, Res, Tree};
use super::StageError;

#[derive(Clone)]
pub struct Local {
    root: String,
}

impl Local {
    pub fn new(root: &str) -> Local {
        Local { root: root.to_string() }
    }

    fn path(&self, rel: &str) -> PathBuf {
        PathBuf::from(join(&self.root, rel))
    }

    /// Runs `f(path of rel)` on the blocking pool; its I/O error is named after `rel`.
    async fn blocking<T: Send + 'static>(
        &self,
        rel: &str,
        f: impl FnOnce(PathBuf) -> std::io::Result<T> + Send + 'static,
    ) -> Res<T> {
        let path = self.path(rel);
        on_pool(self.name(rel), move || f(path)).await
    }
}

/// An open local file and its name for messages.
pub struct Handle {
    file: fs::File,
    name: String,
}

/// Runs `f` on the blocking pool; its I/O error is named `name`.
async fn on_pool<T: Send + 'static>(name: String, f: impl FnOnce() -> std::io::Result<T> + Send + 'static) -> Res<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|source| StageError::Local { path: name, source }),
        Err(e) => Err(StageError::Copy { path: name, what: format!("blocking task failed: {e}") }),
    }
}

fn meta_of(path: &std::path::Path, m: &fs::Metadata) -> std::io::Result<Meta> {
    let ft = m.file_type();
    let kind = if ft.is_file() {
        Kind::File
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_symlink() {
        Kind::Symlink
    } else {
        Kind::Other(special_name(&ft))
    };
    let target = match kind {
        Kind::Symlink => Some(utf8(fs::read_link(path)?.into_os_string())?),
        _ => None,
    };
    let nsec = |n: i64| u32::try_from(n).unwrap_or(0);
    Ok(Meta {
        kind,
        size: if kind == Kind::File { m.len() } else { 0 },
        mode: m.mode() & 0o7777,
        atime: (m.atime(), nsec(m.atime_nsec())),
        mtime: (m.mtime(), nsec(m.mtime_nsec())),
        target,
        chunk: 0,
        link_id: (kind == Kind::File && m.nlink() > 1).then(|| u128::from(m.dev()) << 64 | u128::from(m.ino())),
    })
}

fn special_name(ft: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else {
        "device"
    }
}

/// BenchFS names are UTF-8: a local name that is not cannot be copied.
fn utf8(s: std::ffi::OsString) -> std::io::Result<String> {
    s.into_string().map_err(|s| std::io::Error::new(ErrorKind::InvalidData, format!("{s:?} is not UTF-8")))
}

impl Tree for Local {
    type Handle = Arc<Handle>;

    fn name(&self, rel: &str) -> String {
        join(&self.root, rel)
    }

    fn at(&self, root: &str) -> Result<Local, StageError> {
        Ok(Local::new(root))
    }

    fn chunk_size(&self) -> u64 {
        0
    }

    async fn stat(&self, rel: &str) -> Res<Option<Meta>> {
        self.blocking(rel, |p| match fs::symlink_metadata(&p) {
            Ok(m) => meta_of(&p, &m).map(Some),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    async fn list(&self, rel: &str) -> Res<Listing> {
        let name = self.name(rel);
        self.blocking(rel, move |dir| {
            let mut out = Vec::new();
            let mut first_err = None;
            for e in fs::read_dir(&dir)? {
                let r = e.and_then(|e| {
                    let n = utf8(e.file_name())?;
                    let p = e.path();
                    Ok((n, meta_of(&p, &fs::symlink_metadata(&p)?)?))
                });
                match r {
                    Ok(entry) => out.push(entry),
                    Err(source) if first_err.is_none() => {
                        first_err = Some(StageError::Local { path: name.clone(), source })
                    }
                    Err(_) => {}
                }
            }
            Ok((out, first_err))
        })
        .await
    }

    async fn mkdir(&self, rel: &str) -> Res<bool> {
        let root = rel.is_empty();
        self.blocking(rel, move |p| {
            if root {
                // Absent when looked at: whatever is in it later, this run put there.
                let existed = p.is_dir();
                return fs::create_dir_all(&p).map(|()| !existed);
            }
            // A link in the way goes (two ranks may race to remove it: try twice).
            for _ in 0..2 {
                match fs::create_dir(&p) {
                    Ok(()) => return Ok(true),
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => match fs::symlink_metadata(&p) {
                        Ok(m) if m.is_dir() => return Ok(false),
                        Ok(m) if m.file_type().is_symlink() => match fs::remove_file(&p) {
                            Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
                            _ => {}
                        },
                        _ => return Err(e),
                    },
                    Err(e) => return Err(e),
                }
            }
            fs::create_dir(&p).map(|()| true)
        })
        .await
    }

    async fn remove(&self, rel: &str) -> Res<()> {
        self.blocking(rel, fs::remove_file).await
    }

    async fn symlink(&self, target: &str, rel: &str) -> Res<()> {
        let target = target.to_string();
        self.blocking(rel, move |p| std::os::unix::fs::symlink(target, p)).await
    }

    async fn link(&self, existing: &str, rel: &str) -> Res<()> {
        let existing = self.path(existing);
        self.blocking(rel, move |p| fs::hard_link(existing, p)).await
    }

    async fn open_read(&self, rel: &str) -> Res<Arc<Handle>> {
        let name = self.name(rel);
        self.blocking(rel, |p| Ok(Arc::new(Handle { file: fs::File::open(p)?, name }))).await
    }

    async fn read(&self, r: &Arc<Handle>, mut buf: Vec<u8>, len: usize, off: u64) -> Res<(Vec<u8>, usize)> {
        let r = r.clone();
        on_pool(r.name.clone(), move || {
            let mut done = 0;
            while done < len {
                match r.file.read_at(&mut buf[done..len], off + done as u64) {
                    Ok(0) => break,
                    Ok(n) => done += n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok((buf, done))
        })
        .await
    }

    async fn open_write(&self, rel: &str) -> Res<Arc<Handle>> {
        let name = self.name(rel);
        // Owner-writable until finished: another rank may open the same file for its ranges.
        // Never through a link that appeared since it was looked at.
        self.blocking(rel, |p| {
            let file = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(p)?;
            Ok(Arc::new(Handle { file, name }))
        })
        .await
    }

    async fn write(&self, w: &Arc<Handle>, buf: Vec<u8>, len: usize, off: u64) -> Res<Vec<u8>> {
        let w = w.clone();
        on_pool(w.name.clone(), move || w.file.write_all_at(&buf[..len], off).map(|()| buf)).await
    }

    async fn finish(&self, w: &Arc<Handle>, a: Option<&Attrs>) -> Res<()> {
        let (h, a) = (w.clone(), a.cloned().unwrap_or_default());
        on_pool(h.name.clone(), move || {
            let w = &h.file;
            if let Some(size) = a.size {
                w.set_len(size)?;
            }
            if let Some(mode) = a.mode {
                w.set_permissions(fs::Permissions::from_mode(mode))?;
            }
            if let Some((at, mt)) = a.times {
                w.set_times(fs::FileTimes::new().set_accessed(to_system_time(at)).set_modified(to_system_time(mt)))?;
            }
            Ok(())
        })
        .await
    }

    async fn set_attrs(&self, rel: &str, a: &Attrs) -> Res<()> {
        let a = a.clone();
        self.blocking(rel, move |p| {
            if let Some(size) = a.size {
                fs::OpenOptions::new().write(true).open(&p)?.set_len(size)?;
            }
            if let Some(mode) = a.mode {
                fs::set_permissions(&p, fs::Permissions::from_mode(mode))?;
            }
            if let Some((at, mt)) = a.times {
                let ft = |t| filetime::FileTime::from_system_time(to_system_time(t));
                filetime::set_symlink_file_times(&p, ft(at), ft(mt))?;
            }
            Ok(())
        })
        .await
    }
}
