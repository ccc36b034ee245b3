//! The chunk store: chunk `k` of file `F` is the plain file `chunks/<F as hex>/<k>`.
//!
//! Chunk files are sparse and may be shorter than the chunk size: bytes past the end
//! of a chunk file read as zeros (the client fills them in up to the file size).
//! I/O is synchronous and done inline by the handler task: on tmpfs or a page cache
//! a 1 MiB pwrite is a memcpy, cheaper than a hop to a blocking pool. Only fsync,
//! which waits for the device, goes to `spawn_blocking` (see the handler).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::proto::FileId;

pub struct ChunkStore {
    root: PathBuf,
}

impl ChunkStore {
    pub fn open(root: &Path) -> std::io::Result<ChunkStore> {
        std::fs::create_dir_all(root)?;
        Ok(ChunkStore { root: root.to_path_buf() })
    }

    fn file_dir(&self, fid: FileId) -> PathBuf {
        self.root.join(format!("{fid:032x}"))
    }

    pub fn write(&self, fid: FileId, index: u64, offset: u32, data: &[u8]) -> std::io::Result<()> {
        let dir = self.file_dir(fid);
        let path = dir.join(index.to_string());
        let open = || OpenOptions::new().write(true).create(true).truncate(false).open(&path);
        let f = match open() {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                std::fs::create_dir_all(&dir)?;
                open()?
            }
            r => r?,
        };
        f.write_all_at(data, u64::from(offset))
    }

    /// Reads up to `len` bytes at `offset`; shorter (or empty) where the chunk ends or is missing.
    pub fn read(&self, fid: FileId, index: u64, offset: u32, len: u32) -> std::io::Result<Vec<u8>> {
        let mut f = match File::open(self.file_dir(fid).join(index.to_string())) {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            r => r?,
        };
        f.seek(SeekFrom::Start(u64::from(offset)))?;
        let mut v = Vec::with_capacity(len as usize);
        f.take(u64::from(len)).read_to_end(&mut v)?;
        Ok(v)
    }

    /// Indices of the chunks of `fid` stored here.
    fn chunks_of(&self, fid: FileId) -> std::io::Result<Vec<(u64, PathBuf)>> {
        let rd = match std::fs::read_dir(self.file_dir(fid)) {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            r => r?,
        };
        let mut out = Vec::new();
        for ent in rd {
            let ent = ent?;
            if let Some(i) = ent.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) {
                out.push((i, ent.path()));
            }
        }
        Ok(out)
    }

    /// Drops every byte at or beyond `size` of the file; `size == 0` removes all its chunks.
    pub fn truncate(&self, fid: FileId, size: u64, chunk_size: u32) -> std::io::Result<()> {
        if size == 0 {
            return match std::fs::remove_dir_all(self.file_dir(fid)) {
                Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let cs = u64::from(chunk_size.max(1));
        for (i, p) in self.chunks_of(fid)? {
            let start = i.saturating_mul(cs);
            if start >= size {
                std::fs::remove_file(p)?;
            } else if start + cs > size {
                OpenOptions::new().write(true).open(p)?.set_len(size - start)?;
            }
        }
        Ok(())
    }

    /// fsyncs every chunk of `fid` held here, and the directory holding them.
    pub fn sync_file(&self, fid: FileId) -> std::io::Result<()> {
        for (_, p) in self.chunks_of(fid)? {
            File::open(p)?.sync_data()?;
        }
        match File::open(self.file_dir(fid)) {
            Ok(d) => d.sync_all(),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Syncs the whole file system holding the chunks (clean shutdown, `Fsync { fid: None }`).
    pub fn sync_all(&self) -> std::io::Result<()> {
        let d = File::open(&self.root)?;
        // SAFETY: syncfs only reads the fd, which `d` keeps open for the call.
        if unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&d)) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Space of the file system under the store: (total, free, available) bytes.
    pub fn space(&self) -> std::io::Result<(u64, u64, u64)> {
        let c = std::ffi::CString::new(self.root.as_os_str().as_encoded_bytes())
            .map_err(|e| std::io::Error::new(ErrorKind::InvalidInput, e))?;
        // SAFETY: statvfs is plain data; zeroed is a valid initial value.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is NUL-terminated and `st` is a valid out-pointer.
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let f = st.f_frsize;
        Ok((st.f_blocks * f, st.f_bfree * f, st.f_bavail * f))
    }

    /// Walks the store: (number of chunk files, bytes they hold).
    pub fn usage(&self) -> std::io::Result<(u64, u64)> {
        let (mut n, mut bytes) = (0, 0);
        for d in std::fs::read_dir(&self.root)? {
            for c in std::fs::read_dir(d?.path())? {
                n += 1;
                bytes += c?.metadata()?.len();
            }
        }
        Ok((n, bytes))
    }
}
