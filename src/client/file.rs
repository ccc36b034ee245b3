//! An open file: reads and writes at an offset, split per chunk and sent to all
//! owning servers at once.
//!
//! Size follows close-to-open consistency: the handle remembers the size it saw at
//! open and the highest byte it wrote; `flush`/`fsync`/`close` publish the latter to
//! the metadata owner, which keeps the maximum. Reads at or past the known end ask
//! the owner once more before reporting end of file.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use futures::future::try_join_all;

use super::Client;
use crate::error::{Error, Result};
use crate::meta::{Attr, FileId, SetAttr};
use crate::proto::{Fsync, Read, Write};

pub struct File {
    client: Client,
    /// Where the file's metadata lives; [`File::set_path`] moves it after a rename of the
    /// open file (the FUSE mount does). A std lock: only cloned out, never held across `.await`.
    path: RwLock<String>,
    fid: FileId,
    /// The attributes the metadata owner returned at open (the size as of then).
    opened: Attr,
    chunk_size: u64,
    readable: bool,
    writable: bool,
    /// File size as last seen from the metadata owner.
    known_size: AtomicU64,
    /// One past the highest byte this handle wrote (0: none).
    written_end: AtomicU64,
    /// One past the highest byte written since the last publication the owner
    /// acknowledged (0: none pending). What a publication raises the size to: writes
    /// published before were covered then, and a truncate by another client since has cut
    /// them, so publishing them again would cover zeros with a size.
    unpublished_end: AtomicU64,
    /// Writes not yet published to the metadata owner.
    dirty: AtomicBool,
    /// Bytes written since the last publication (for `st_blocks`, see `Attr::written`).
    wrote: AtomicU64,
    /// Servers this handle wrote chunks to (fsync asks only them).
    touched: Vec<AtomicBool>,
    /// Truncations of this file seen so far ([`File::truncated_to`]). A size the owner
    /// reported before one must not be stored after it: a read racing a truncate would
    /// bring the old size back. The lock makes "still the same count, store" one step.
    truncations: Mutex<u64>,
    /// A read found the file shorter than this handle had seen it (another client
    /// truncated it): see [`File::shrank`].
    shrank: AtomicBool,
    /// The owner of this handle removed the name it was opened at: see [`File::orphaned`].
    orphaned: AtomicBool,
}

/// One chunk-sized piece of a read or write.
struct Piece {
    index: u64,
    offset: u32,
    start: usize,
    len: usize,
}

fn pieces(off: u64, len: usize, chunk_size: u64) -> impl Iterator<Item = Piece> {
    let mut done = 0usize;
    std::iter::from_fn(move || {
        if done >= len {
            return None;
        }
        let pos = off + done as u64;
        let in_chunk = pos % chunk_size;
        let n = ((chunk_size - in_chunk) as usize).min(len - done);
        let p = Piece { index: pos / chunk_size, offset: in_chunk as u32, start: done, len: n };
        done += n;
        Some(p)
    })
}

impl File {
    pub(super) fn new(client: Client, path: String, attr: Attr, readable: bool, writable: bool) -> File {
        let touched = (0..client.server_count()).map(|_| AtomicBool::new(false)).collect();
        File {
            client: client.plain(),
            path: RwLock::new(path),
            fid: attr.fid,
            chunk_size: u64::from(attr.chunk_size.max(1)),
            readable,
            writable,
            known_size: AtomicU64::new(attr.size),
            opened: attr,
            written_end: AtomicU64::new(0),
            unpublished_end: AtomicU64::new(0),
            dirty: AtomicBool::new(false),
            wrote: AtomicU64::new(0),
            touched,
            truncations: Mutex::new(0),
            shrank: AtomicBool::new(false),
            orphaned: AtomicBool::new(false),
        }
    }

    pub fn path(&self) -> String {
        self.path.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The open file was renamed to `path`: size publication and refreshes follow it there.
    pub fn set_path(&self, path: &str) {
        *self.path.write().unwrap_or_else(|p| p.into_inner()) = path.to_string();
    }

    pub fn fid(&self) -> FileId {
        self.fid
    }

    /// The attributes as of open (or create), saving a stat; [`File::size`] is the live size.
    pub fn attr_at_open(&self) -> &Attr {
        &self.opened
    }

    /// The size as this handle sees it: the owner's size at open (or last refresh)
    /// or the end of this handle's own writes, whichever is larger.
    pub fn size(&self) -> u64 {
        self.known_size.load(Ordering::Acquire).max(self.written_end.load(Ordering::Acquire))
    }

    /// Whether a read found the file shorter than this handle had seen it: another client
    /// truncated it while it was open. A reader that was told the old size (a kernel's
    /// page cache) must not take a short read for the end of the file: the FUSE mount
    /// answers ESTALE instead, as the kernel may fill what it thinks exists with zeros.
    /// It stays set (a later read sized by the kernel's old size would read the same
    /// zeros) until this process truncates the file itself ([`File::truncated_to`]): its
    /// kernel then knows the new size.
    pub fn orphaned(&self) -> bool {
        self.orphaned.load(Ordering::Acquire)
    }

    /// The caller removed the name this handle knows the file by (unlink while open, a
    /// rename over it): the size can no longer be asked by path, and the file is what
    /// this handle sees of it. A read past a short chunk then ends at [`File::size`]
    /// (zeros in holes) instead of failing with `Stale`.
    pub fn set_orphaned(&self) {
        self.orphaned.store(true, Ordering::Release);
    }

    pub fn shrank(&self) -> bool {
        self.shrank.load(Ordering::Acquire)
    }

    /// One past the highest byte this handle wrote (0: none), published or not.
    pub fn written_end(&self) -> u64 {
        self.written_end.load(Ordering::Acquire)
    }

    /// The end of this handle's writes that the owner has not yet acknowledged (0: none):
    /// bytes that exist in their chunks beyond, possibly, the size the owner reports.
    pub fn pending_end(&self) -> u64 {
        self.unpublished_end.load(Ordering::Acquire)
    }

    /// Writes all of `buf` at `off`. Returns `buf.len()`.
    pub async fn write_at(&self, buf: &[u8], off: u64) -> Result<usize> {
        if !self.writable {
            return Err(Error::Access(format!("{} is not open for writing", self.path())));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        // Sizes travel as off_t (i64) through the C API, stat and FUSE: past that, EFBIG
        // as write(2) gives.
        let end = off.checked_add(buf.len() as u64).filter(|&e| i64::try_from(e).is_ok()).ok_or_else(|| {
            Error::FileTooBig(format!("{}: write of {} bytes at offset {off}", self.path(), buf.len()))
        })?;
        let ring = self.client.ring();
        try_join_all(pieces(off, buf.len(), self.chunk_size).map(|p| {
            let server = ring.chunk_owner(self.fid, p.index);
            self.touched[server].store(true, Ordering::Relaxed);
            let req = Write { fid: self.fid, index: p.index, offset: p.offset };
            self.client.op_data(server, req, &buf[p.start..p.start + p.len])
        }))
        .await?;
        // Only once the data landed: a size never runs ahead of its data.
        self.written_end.fetch_max(end, Ordering::AcqRel);
        self.unpublished_end.fetch_max(end, Ordering::AcqRel);
        self.wrote.fetch_add(buf.len() as u64, Ordering::AcqRel);
        self.dirty.store(true, Ordering::Release);
        Ok(buf.len())
    }

    /// Reads up to `buf.len()` bytes at `off`; holes read as zeros. Returns 0 at end of file.
    pub async fn read_at(&self, buf: &mut [u8], off: u64) -> Result<usize> {
        let len = self.readable_len(off, buf.len(), 0).await?;
        if self.read_pieces(&mut buf[..len], off).await? {
            return self.end_after_short_read(off, len, 0).await;
        }
        Ok(len)
    }

    /// [`File::read_at`] into a buffer of its own, as long as the bytes that exist: a range
    /// within one chunk is the server's reply as it came, with no zeroed buffer to fill
    /// and no copy (the mount's reads, which hand the buffer to the kernel).
    pub async fn read_owned(&self, off: u64, len: usize) -> Result<Vec<u8>> {
        self.read_owned_knowing(off, len, 0).await
    }

    /// [`File::read_owned`], knowing that the file's bytes reach at least `end`: what other
    /// handles of this process wrote and have not yet published (their
    /// [`File::pending_end`]), which the owner's size does not show yet.
    pub async fn read_owned_knowing(&self, off: u64, len: usize, end: u64) -> Result<Vec<u8>> {
        let len = self.readable_len(off, len, end).await?;
        let mut ps = pieces(off, len, self.chunk_size);
        let (Some(p), None) = (ps.next(), ps.next()) else {
            let mut buf = vec![0; len];
            if self.read_pieces(&mut buf, off).await? {
                buf.truncate(self.end_after_short_read(off, len, end).await?);
            }
            return Ok(buf);
        };
        let mut data = self.read_piece(&p).await?;
        let len = if data.len() < p.len { self.end_after_short_read(off, p.len, end).await? } else { p.len };
        data.resize(len, 0); // past the chunk file's end, within the file: a hole
        Ok(data)
    }

    /// Fills all of `buf` from `off`, every chunk's piece in parallel (the caller has
    /// checked that the bytes exist). Returns whether a piece came back short (its zeros
    /// are a hole only if [`File::end_after_short_read`] says so).
    async fn read_pieces(&self, buf: &mut [u8], off: u64) -> Result<bool> {
        let mut rest = buf;
        let mut parts = Vec::new();
        for p in pieces(off, rest.len(), self.chunk_size) {
            let (head, tail) = rest.split_at_mut(p.len);
            rest = tail;
            parts.push((p, head));
        }
        let short = try_join_all(parts.into_iter().map(|(p, dst)| async move {
            let data = self.read_piece(&p).await?;
            dst[..data.len()].copy_from_slice(&data);
            dst[data.len()..].fill(0); // past the chunk file's end: a hole, or dropped
            Ok::<_, Error>(data.len() < p.len)
        }))
        .await?;
        Ok(short.contains(&true))
    }

    /// A piece of the `len` bytes at `off` came back short: a hole, or data dropped since
    /// this handle learnt the size (another client truncated or removed the file). The
    /// owner's current size of this very file decides how many of the bytes exist: the
    /// read ends there, so a reader never gets zeros nobody wrote. A file that is gone is
    /// `Stale`. (A truncate sets the size before its chunks go, so a chunk found gone
    /// comes with the new size.)
    /// `end`: as in [`File::read_owned_knowing`], bytes other handles of this process wrote.
    async fn end_after_short_read(&self, off: u64, len: usize, end: u64) -> Result<usize> {
        if self.orphaned() {
            let end = self.size().max(end);
            return Ok(len.min(usize::try_from(end.saturating_sub(off)).unwrap_or(usize::MAX)));
        }
        let seen = *self.lock_truncations();
        // Read before the owner is asked: a publication finishing meanwhile clears it only
        // once the owner has the size, so one of the two covers those writes (read after,
        // both could miss them: fsx under load read short).
        let unpublished = self.unpublished_end.load(Ordering::Acquire);
        let a = self.current().await?;
        let now = self.lock_truncations();
        if a.size < self.known_size.load(Ordering::Acquire) {
            self.shrank.store(true, Ordering::Release);
        }
        if *now == seen {
            self.known_size.store(a.size, Ordering::Release);
        }
        drop(now);
        // The owner's size covers this handle's published writes, or a truncate since
        // cut them: only the unpublished ones lie past it (a handle that wrote to 30,000
        // and published, after another client's truncate to 22,000, read zeros up to
        // 30,000: simulation seed 107).
        let unpublished = unpublished.max(self.unpublished_end.load(Ordering::Acquire));
        let end = a.size.max(unpublished).max(end);
        Ok(len.min(usize::try_from(end.saturating_sub(off)).unwrap_or(usize::MAX)))
    }

    /// The file's record as its metadata owner has it now, asked by the path this handle
    /// knows and checked to be this file (following renames its old owner remembers).
    /// `Stale` when the path holds another file, or none.
    async fn current(&self) -> Result<Attr> {
        for _ in 0..super::namespace::MAX_MOVE_HOPS {
            let path = self.path();
            match self.client.expecting(vec![(path.clone(), self.fid)]).stat(&path).await {
                Err(Error::Moved(to)) => self.set_path(&to),
                Err(Error::NotFound(m)) => return Err(Error::Stale(m)),
                r => return r,
            }
        }
        Err(Error::Stale(format!("{}: renamed too many times while it was read", self.path())))
    }

    /// How many of the `len` bytes at `off` exist (at least up to `end`): the size is asked
    /// again when the range passes the end known here (another client may have grown the
    /// file).
    async fn readable_len(&self, off: u64, len: usize, end: u64) -> Result<usize> {
        if !self.readable {
            return Err(Error::Access(format!("{} is not open for reading", self.path())));
        }
        let mut size = self.size().max(end);
        if off.saturating_add(len as u64) > size {
            size = self.refresh_size().await?.max(end);
        }
        if off >= size || len == 0 {
            return Ok(0);
        }
        Ok(len.min(usize::try_from(size - off).unwrap_or(usize::MAX)))
    }

    /// One chunk's piece from its owner: at most `p.len` bytes (fewer past the end of the
    /// chunk's file).
    async fn read_piece(&self, p: &Piece) -> Result<Vec<u8>> {
        let req = Read { fid: self.fid, index: p.index, offset: p.offset, len: p.len as u32 };
        let server = self.client.ring().chunk_owner(self.fid, p.index);
        let (_, data) = self.client.op_data(server, req, &[]).await?;
        if data.len() > p.len {
            return Err(Error::Protocol {
                server: self.client.servers()[server].clone(),
                reason: format!("read of {} bytes answered with {}", p.len, data.len()),
            });
        }
        Ok(data)
    }

    /// Asks the metadata owner for the current size (another client may have grown it).
    async fn refresh_size(&self) -> Result<u64> {
        let seen = *self.lock_truncations();
        match self.current().await {
            Ok(a) => {
                let now = self.lock_truncations();
                if *now == seen {
                    self.known_size.store(a.size, Ordering::Release);
                }
                drop(now);
                Ok(self.size())
            }
            // Removed, or the name reused, since open: keep what we know (the chunk
            // servers refuse a removed file's reads).
            Err(Error::Stale(_)) => Ok(self.size()),
            Err(e) => Err(e),
        }
    }

    /// Publishes this handle's writes (size and mtime) to the metadata owner.
    pub async fn flush(&self) -> Result<()> {
        self.publish(SetAttr::default()).await
    }

    /// Publishes this handle's writes together with `extra` in one request: its mode and
    /// times win over the publication's mtime, and its `grow_to` raises the size further
    /// (a copy ending in a hole it did not write). A copy tool sets the source's
    /// attributes this way without a second round trip per file.
    pub async fn publish(&self, extra: SetAttr) -> Result<()> {
        let dirty = self.dirty.swap(false, Ordering::AcqRel);
        if !dirty && extra == SetAttr::default() {
            return Ok(());
        }
        let wrote = self.wrote.swap(0, Ordering::AcqRel);
        let pending = self.unpublished_end.load(Ordering::Acquire);
        let end = pending.max(extra.grow_to.unwrap_or(0));
        let set = SetAttr { grow_to: Some(end), wrote: Some(wrote), ..extra };
        match self.client.update_file(&self.path(), self.fid, set).await {
            Ok((path, a)) => {
                // Covered now, unless a write since raised it (it stays pending then).
                let _ = self.unpublished_end.compare_exchange(pending, 0, Ordering::AcqRel, Ordering::Acquire);
                if path != self.path() {
                    self.set_path(&path);
                }
                self.known_size.store(a.size, Ordering::Release);
                Ok(())
            }
            Err(e) => {
                self.wrote.fetch_add(wrote, Ordering::AcqRel);
                self.dirty.fetch_or(dirty, Ordering::AcqRel);
                Err(e)
            }
        }
    }

    /// Publishes the size and makes this file's data and metadata durable.
    pub async fn fsync(&self) -> Result<()> {
        self.flush().await?;
        let req = Fsync { fid: Some(self.fid) };
        let meta = self.client.ring().meta_owner(&self.path());
        let targets = (0..self.client.server_count()).filter(|&i| i == meta || self.touched[i].load(Ordering::Relaxed));
        for r in crate::fan_out::all(targets.map(|i| self.client.op(i, req.clone()))).await {
            r?;
        }
        Ok(())
    }

    /// After a truncate through another path: forget writes beyond `size`.
    pub fn truncated_to(&self, size: u64) {
        let mut n = self.lock_truncations();
        *n += 1;
        self.written_end.fetch_min(size, Ordering::AcqRel);
        self.unpublished_end.fetch_min(size, Ordering::AcqRel);
        self.known_size.store(size, Ordering::Release);
        self.shrank.store(false, Ordering::Release);
    }

    fn lock_truncations(&self) -> std::sync::MutexGuard<'_, u64> {
        self.truncations.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Publishes the size; the handle is consumed.
    pub async fn close(self) -> Result<()> {
        self.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_split_at_chunk_boundaries() {
        let ps: Vec<_> = pieces(1000, 5000, 2048).map(|p| (p.index, p.offset, p.start, p.len)).collect();
        assert_eq!(ps, vec![(0, 1000, 0, 1048), (1, 0, 1048, 2048), (2, 0, 3096, 1904)]);
        assert_eq!(pieces(4096, 4096, 4096).count(), 1);
        assert_eq!(pieces(0, 0, 4096).count(), 0);
    }
}
