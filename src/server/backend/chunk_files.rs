//! The chunk store: chunk `k` of file `F` is the plain file `chunks/<F as hex>/<k>`,
//! with its checksums beside it in `chunks/<F as hex>/<k>.crc`.
//!
//! Chunk files are sparse and may be shorter than the chunk size: bytes past the end
//! of a chunk file read as zeros (the client fills them in up to the file size).
//!
//! # Checksums
//! Every `BLOCK`-byte block of a chunk file has an 8-byte entry in the `.crc` file at
//! offset `8 * block`: crc32c of the block's bytes (up to the chunk file's end) as u32
//! LE, then a u32 LE flag, 1 when the entry is set. An unset entry (a hole) is valid
//! only for a block of zeros. Writes update data, then entries; a crash in between
//! leaves a mismatch, which reads report as `Corrupt` (EIO at the client), never as
//! wrong bytes.
//!
//! A read-modify-write of a block's checksum must not interleave with another write
//! or a read of that block, so each chunk operation holds one of `STRIPES` locks
//! picked by (file, chunk).
//!
//! # Blocking
//! This is the only code that makes file-system calls for chunks. Reads and writes are
//! synchronous and done inline by the handler task: on tmpfs or a page cache a 1 MiB
//! pwrite is a memcpy, cheaper than a hop to a blocking pool. The calls that may wait
//! for the device go through [`blocking`] (see [`super::device`]): the fsyncs of
//! `sync_file`, the `syncfs` of `sync_all`, the walk of `usage` and the `statvfs` of
//! `space`.
//!
//! # Free space
//! Chunk data stops at a reserve of free space ([`ChunkFiles::write`]). The free space is
//! measured (`statvfs`, which may wait on the file system) only now and then, not at
//! every write: see [`SpaceGauge`].

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::device::blocking;
use super::ChunkBackend;
use crate::meta::FileId;
use crate::server::private::{private_dir, DIR_MODE, FILE_MODE};
use crate::server::StoreError;

/// Checksum granularity: the smallest read that is verified on its own.
pub const BLOCK: u64 = 4096;
const ENTRY: u64 = 8;
const SET: u32 = 1;
const STRIPES: usize = 64;

/// Chunk files under one directory (`<data dir>/chunks`).
pub struct ChunkFiles {
    root: PathBuf,
    /// Per-chunk serialisation of data+checksum updates. std mutexes: held only around
    /// synchronous file I/O, never across an `.await`.
    stripes: Vec<Mutex<()>>,
    /// The free space as last measured. A std mutex: held for a little arithmetic, and
    /// around a `statvfs` when a measure is due.
    gauge: Mutex<SpaceGauge>,
}

/// How long a measure of free space stands. Bounds how late the store sees space that
/// others took (or freed) on its file system.
const SPACE_FRESH: Duration = Duration::from_millis(100);
/// Most bytes written on one measure.
const SPACE_BUDGET: u64 = 64 << 20;

/// The reserve chunk data leaves free: 1/16 of the file system, at most 64 MiB, so that
/// a full disk stops writers with ENOSPC while the metadata store still has room to
/// commit the namespace.
fn reserve(total: u64) -> u64 {
    (total / 16).min(64 << 20)
}

/// The free space the write path checks, without a `statvfs` per write: the last
/// measure, less every byte admitted since (overwrites counted too, so the estimate only
/// errs low). A write measures again first when the measure is older than
/// [`SPACE_FRESH`], or when what was written since would pass half the room it left
/// above the reserve (or [`SPACE_BUDGET`]): far from full a measure per 64 MiB or
/// 100 ms, near the reserve one per write, as before. A truncate (space freed) and an
/// ENOSPC from the file system call for a measure at the next write.
#[derive(Debug, Default)]
struct SpaceGauge {
    /// (total, available) bytes when last measured, and when; None: measure first.
    measured: Option<(u64, u64, Instant)>,
    /// Bytes admitted since.
    written: u64,
}

impl SpaceGauge {
    /// Admits a write of `n` bytes at `now`, measuring with `measure` ((total,
    /// available) bytes) first when a measure is due: false when the estimated
    /// available space is below the reserve.
    fn admit(
        &mut self,
        n: u64,
        now: Instant,
        measure: impl FnOnce() -> std::io::Result<(u64, u64)>,
    ) -> std::io::Result<bool> {
        let due = match self.measured {
            None => true,
            Some((total, avail, at)) => {
                let room = avail.saturating_sub(reserve(total));
                now.saturating_duration_since(at) >= SPACE_FRESH
                    || self.written.saturating_add(n) > (room / 2).min(SPACE_BUDGET)
            }
        };
        if due {
            let (total, avail) = measure()?;
            self.measured = Some((total, avail, now));
            self.written = 0;
        }
        let Some((total, avail, _)) = self.measured else { return Ok(true) };
        if avail.saturating_sub(self.written) < reserve(total) {
            return Ok(false);
        }
        self.written = self.written.saturating_add(n);
        Ok(true)
    }

    /// The next write measures first.
    fn invalidate(&mut self) {
        self.measured = None;
    }
}

/// Spreads chunks over the lock stripes (a multiplicative mix; placement is not our business).
fn stripe(fid: FileId, index: u64) -> usize {
    let x = (fid as u64) ^ ((fid >> 64) as u64).rotate_left(17) ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x.wrapping_mul(0xbf58_476d_1ce4_e5b9) >> 32) as usize % STRIPES
}

fn corrupt(fid: FileId, index: u64, block: u64) -> StoreError {
    StoreError::Corrupt(format!("checksum mismatch in chunk {index} of file {fid:032x}, block {block}"))
}

fn read_at_most(f: &File, buf: &mut Vec<u8>, off: u64, len: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = f;
    f.seek(SeekFrom::Start(off))?;
    f.take(len).read_to_end(buf)?;
    Ok(())
}

/// A set checksum entry.
fn entry(crc: u32) -> [u8; ENTRY as usize] {
    let mut e = [0u8; ENTRY as usize];
    e[..4].copy_from_slice(&crc.to_le_bytes());
    e[4..].copy_from_slice(&SET.to_le_bytes());
    e
}

/// crc32c of block `b` as it is in the file, for a chunk file `len` bytes long.
fn block_crc(f: &File, b: u64, len: u64) -> std::io::Result<u32> {
    let (bs, be) = (b * BLOCK, ((b + 1) * BLOCK).min(len));
    let mut buf = Vec::with_capacity((be - bs) as usize);
    read_at_most(f, &mut buf, bs, be - bs)?;
    Ok(crc32c::crc32c(&buf))
}

/// Space of the file system holding `root`: (total, free, available) bytes.
fn statvfs(root: &Path) -> std::io::Result<(u64, u64, u64)> {
    let c = std::ffi::CString::new(root.as_os_str().as_encoded_bytes())
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

/// Opens a chunk or checksum file for update, creating it private.
fn open_rw(p: &Path) -> std::io::Result<File> {
    OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(FILE_MODE).open(p)
}

impl ChunkFiles {
    pub fn open(root: &Path) -> std::io::Result<ChunkFiles> {
        private_dir(root)?;
        Ok(ChunkFiles {
            root: root.to_path_buf(),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            gauge: Mutex::new(SpaceGauge::default()),
        })
    }

    fn file_dir(&self, fid: FileId) -> PathBuf {
        self.root.join(format!("{fid:032x}"))
    }

    fn lock(&self, fid: FileId, index: u64) -> MutexGuard<'_, ()> {
        self.stripes[stripe(fid, index)].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write_chunk(&self, fid: FileId, index: u64, offset: u32, data: &[u8]) -> Result<(), StoreError> {
        let dir = self.file_dir(fid);
        let path = dir.join(index.to_string());
        let _g = self.lock(fid, index);
        let f = match open_rw(&path) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                std::fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(&dir)?;
                open_rw(&path)?
            }
            r => r?,
        };
        self.check_space(data.len() as u64)?;
        let sums = open_rw(&path.with_extension("crc"))?;
        let off = u64::from(offset);
        let end = off + data.len() as u64;
        let old_len = f.metadata()?.len();
        let new_len = old_len.max(end);
        f.write_all_at(data, off)?;
        let (b0, b1) = (off / BLOCK, (end - 1) / BLOCK);
        // A partial last block before a gap now extends (with zeros) to the new end.
        if !old_len.is_multiple_of(BLOCK) && old_len / BLOCK < b0 {
            let g = old_len / BLOCK;
            sums.write_all_at(&entry(block_crc(&f, g, new_len)?), g * ENTRY)?;
        }
        let mut entries = Vec::with_capacity(((b1 - b0 + 1) * ENTRY) as usize);
        for b in b0..=b1 {
            let (bs, be) = (b * BLOCK, ((b + 1) * BLOCK).min(new_len));
            let crc = if off <= bs && end >= be {
                crc32c::crc32c(&data[(bs - off) as usize..(be - off) as usize])
            } else {
                block_crc(&f, b, new_len)?
            };
            entries.extend_from_slice(&entry(crc));
        }
        sums.write_all_at(&entries, b0 * ENTRY)?;
        Ok(())
    }

    fn gauge(&self) -> MutexGuard<'_, SpaceGauge> {
        self.gauge.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Refuses a write of `n` bytes of chunk data once free space falls below the reserve.
    fn check_space(&self, n: u64) -> Result<(), StoreError> {
        let measure = || statvfs(&self.root).map(|(total, _, avail)| (total, avail));
        if !self.gauge().admit(n, Instant::now(), measure)? {
            return Err(StoreError::NoSpace(format!("{} is full", self.root.display())));
        }
        Ok(())
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
}

impl ChunkBackend for ChunkFiles {
    /// Writes `data` at `offset` of the chunk and updates the checksums of the blocks it
    /// touched. `NoSpace` once free space falls below the reserve ([`reserve`]).
    fn write(&self, fid: FileId, index: u64, offset: u32, data: &[u8]) -> Result<(), StoreError> {
        if data.is_empty() {
            return Ok(());
        }
        let r = self.write_chunk(fid, index, offset, data);
        if r.as_ref().is_err_and(StoreError::is_no_space) {
            // The file system is fuller than the estimate said (others wrote to it).
            self.gauge().invalidate();
        }
        r
    }

    /// Reads up to `len` bytes at `offset`, verified against the checksums; shorter (or
    /// empty) where the chunk ends or is missing.
    fn read(&self, fid: FileId, index: u64, offset: u32, len: u32) -> Result<Vec<u8>, StoreError> {
        let path = self.file_dir(fid).join(index.to_string());
        let _g = self.lock(fid, index);
        let f = match File::open(&path) {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            r => r?,
        };
        let file_len = f.metadata()?.len();
        let off = u64::from(offset);
        let end = (off + u64::from(len)).min(file_len);
        if off >= end {
            return Ok(Vec::new());
        }
        let (b0, b1) = (off / BLOCK, (end - 1) / BLOCK);
        let start = b0 * BLOCK;
        let stop = ((b1 + 1) * BLOCK).min(file_len);
        let mut buf = Vec::with_capacity((stop - start) as usize);
        read_at_most(&f, &mut buf, start, stop - start)?;
        let mut entries = Vec::new();
        match File::open(path.with_extension("crc")) {
            Ok(s) => read_at_most(&s, &mut entries, b0 * ENTRY, (b1 - b0 + 1) * ENTRY)?,
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        for (i, block) in buf.chunks(BLOCK as usize).enumerate() {
            let e = entries.get(i * ENTRY as usize..(i + 1) * ENTRY as usize);
            let word = |k: usize| e.map_or(0, |e| u32::from_le_bytes([e[k], e[k + 1], e[k + 2], e[k + 3]]));
            let ok = if word(4) == SET { word(0) == crc32c::crc32c(block) } else { block.iter().all(|&b| b == 0) };
            if !ok {
                return Err(corrupt(fid, index, b0 + i as u64));
            }
        }
        buf.drain(..(off - start) as usize);
        buf.truncate((end - off) as usize);
        Ok(buf)
    }

    /// True when chunk `index` of `fid` has a file here (a hole has none).
    fn has_chunk(&self, fid: FileId, index: u64) -> bool {
        self.file_dir(fid).join(index.to_string()).exists()
    }

    /// Drops every byte at or beyond `size` of the file; `size == 0` removes all its chunks.
    fn truncate(&self, fid: FileId, size: u64, chunk_size: u32) -> Result<(), StoreError> {
        // Space freed: the next write sees it.
        self.gauge().invalidate();
        if size == 0 {
            return match std::fs::remove_dir_all(self.file_dir(fid)) {
                Err(e) if e.kind() != ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            };
        }
        let cs = u64::from(chunk_size.max(1));
        for (i, p) in self.chunks_of(fid)? {
            let start = i.saturating_mul(cs);
            let _g = self.lock(fid, i);
            if start >= size {
                std::fs::remove_file(&p)?;
                let _ = std::fs::remove_file(p.with_extension("crc"));
            } else if start + cs > size {
                let keep = size - start;
                let f = OpenOptions::new().read(true).write(true).open(&p)?;
                if f.metadata()?.len() <= keep {
                    continue;
                }
                f.set_len(keep)?;
                let sums = open_rw(&p.with_extension("crc"))?;
                sums.set_len(keep.div_ceil(BLOCK) * ENTRY)?;
                if !keep.is_multiple_of(BLOCK) {
                    // The new last block is shorter: its checksum covers fewer bytes now.
                    let last = keep / BLOCK;
                    sums.write_all_at(&entry(block_crc(&f, last, keep)?), last * ENTRY)?;
                }
            }
        }
        Ok(())
    }

    /// fsyncs every chunk of `fid` held here (data and checksums), and their directory.
    fn sync_file(&self, fid: FileId) -> std::io::Result<()> {
        blocking(|| {
            for (_, p) in self.chunks_of(fid)? {
                File::open(&p)?.sync_data()?;
                if let Ok(s) = File::open(p.with_extension("crc")) {
                    s.sync_data()?;
                }
            }
            match File::open(self.file_dir(fid)) {
                Ok(d) => d.sync_all(),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    /// Syncs the whole file system holding the chunks (clean shutdown, `Fsync { fid: None }`).
    fn sync_all(&self) -> std::io::Result<()> {
        blocking(|| {
            let d = File::open(&self.root)?;
            // SAFETY: syncfs only reads the fd, which `d` keeps open for the call.
            if unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&d)) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }

    /// Space of the file system under the store: (total, free, available) bytes.
    fn space(&self) -> std::io::Result<(u64, u64, u64)> {
        blocking(|| statvfs(&self.root))
    }

    /// Walks the store: (number of chunk files, bytes they hold), checksum files excluded.
    fn usage(&self) -> std::io::Result<(u64, u64)> {
        blocking(|| {
            let (mut n, mut bytes) = (0, 0);
            for d in std::fs::read_dir(&self.root)? {
                for c in std::fs::read_dir(d?.path())? {
                    let c = c?;
                    if c.path().extension().is_none() {
                        n += 1;
                        bytes += c.metadata()?.len();
                    }
                }
            }
            Ok((n, bytes))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ChunkFiles) {
        let d = tempfile::tempdir().unwrap();
        let s = ChunkFiles::open(d.path()).unwrap();
        (d, s)
    }

    #[test]
    fn unaligned_writes_gaps_and_truncates_keep_checksums_valid() {
        let (_d, s) = store();
        let mut model = vec![0u8; 0];
        let ops: [(u32, usize); 6] = [(100, 5000), (20_000, 10), (3, 1), (8190, 8200), (50_000, 4096), (4096, 4096)];
        for (i, (off, len)) in ops.into_iter().enumerate() {
            let data = vec![i as u8 + 1; len];
            s.write(7, 0, off, &data).unwrap();
            let end = off as usize + len;
            if model.len() < end {
                model.resize(end, 0);
            }
            model[off as usize..end].copy_from_slice(&data);
            assert_eq!(s.read(7, 0, 0, 1 << 20).unwrap(), model, "after write {i}");
            assert_eq!(s.read(7, 0, 4000, 300).unwrap(), model[4000..4300]);
        }
        s.truncate(7, 10_001, 1 << 20).unwrap();
        model.truncate(10_001);
        assert_eq!(s.read(7, 0, 0, 1 << 20).unwrap(), model);
        s.write(7, 0, 12_000, b"x").unwrap();
        model.resize(12_000, 0);
        model.push(b'x');
        assert_eq!(s.read(7, 0, 0, 1 << 20).unwrap(), model);
    }

    /// A file system for the gauge: `total` bytes, `avail` free; counts the measures.
    struct Disk {
        total: u64,
        avail: u64,
        measures: u32,
    }

    impl Disk {
        fn measure(&mut self) -> std::io::Result<(u64, u64)> {
            self.measures += 1;
            Ok((self.total, self.avail))
        }

        /// Writes `n` bytes through `g`: whether the gauge admitted them.
        fn write(&mut self, g: &mut SpaceGauge, n: u64, now: Instant) -> bool {
            let ok = g.admit(n, now, || self.measure()).unwrap();
            if ok {
                self.avail -= n;
            }
            ok
        }
    }

    #[test]
    fn free_space_is_measured_now_and_then_far_from_full_and_at_every_write_near_it() {
        const MIB: u64 = 1 << 20;
        let now = Instant::now();
        let mut g = SpaceGauge::default();
        let mut disk = Disk { total: 1 << 40, avail: 1 << 39, measures: 0 };
        for _ in 0..1024 {
            assert!(disk.write(&mut g, MIB, now));
        }
        assert_eq!(disk.measures, 1024 / 64, "far from full: one measure per 64 MiB");
        // A measure grows stale with time.
        assert!(disk.write(&mut g, MIB, now + SPACE_FRESH));
        assert_eq!(disk.measures, 1024 / 64 + 1);

        // 16 MiB, reserve 1 MiB: a write is admitted while the space before it is at or
        // above the reserve (as when every write measured), with a measure at every write
        // once the room left is less than twice a write.
        let mut g = SpaceGauge::default();
        let mut disk = Disk { total: 16 * MIB, avail: 16 * MIB, measures: 0 };
        let mut admitted = 0;
        while disk.write(&mut g, MIB / 4, now) {
            admitted += 1;
            assert!(disk.avail + MIB / 4 >= MIB, "admitted with less than the reserve free");
        }
        assert_eq!(admitted, 61, "15 MiB and one more quarter in quarter MiB writes");
        assert!(disk.measures < 20, "{} measures for 60 writes", disk.measures);
        let before = disk.measures;
        assert!(!disk.write(&mut g, MIB / 4, now));
        assert_eq!(disk.measures, before + 1, "near the reserve every write measures");

        // Space freed (a truncate invalidates): the next write sees it.
        disk.avail += 8 * MIB;
        g.invalidate();
        assert!(disk.write(&mut g, MIB / 4, now));
    }

    #[test]
    fn corrupted_or_torn_blocks_read_as_errors_not_bytes() {
        let (d, s) = store();
        s.write(9, 3, 0, &vec![5u8; 3 * BLOCK as usize]).unwrap();
        let path = d.path().join(format!("{:032x}", 9u128)).join("3");
        // Flip one byte of the middle block behind the store's back.
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&[6], BLOCK + 17).unwrap();
        assert!(matches!(s.read(9, 3, 0, 100), Ok(v) if v == vec![5u8; 100]), "other blocks still read");
        let e = s.read(9, 3, BLOCK as u32, 10).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt(_)));
        // Data past the checksummed end with no entry (a write torn before its checksum).
        f.write_all_at(&[1u8; 10], 5 * BLOCK).unwrap();
        assert!(matches!(s.read(9, 3, (5 * BLOCK) as u32, 10).unwrap_err(), StoreError::Corrupt(_)));
        // A hole (no entry, zeros) is fine.
        assert_eq!(s.read(9, 3, (3 * BLOCK) as u32, 10).unwrap(), vec![0u8; 10]);
    }
}
