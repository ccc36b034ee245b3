//! Running one rank's share: directories first, then every unit with `jobs` in flight,
//! each moving its bytes through at most one buffer of [`BUF`] at a time, so memory stays
//! below `jobs * BUF` whatever the sizes.
//!
//! A file's attributes (size, mode, times) are set after its last byte: a destination
//! whose size and mtime match the source is complete, which is what a rerun skips. A file
//! whose ranges several ranks copy gets them from the rank that finishes the run
//! ([`Copier::finish_run`]), once every rank is done.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::stream::{self, StreamExt};
use tokio::sync::OnceCell;
use xxhash_rust::xxh3::Xxh3;

use super::plan::{self, Entry, Unit};
use super::progress::Progress;
use super::progress::Totals;
use super::tree::{Attrs, Kind, Res, Tree};
use super::StageError;

/// Bytes moved by one read and one write: four chunks of the default size, written in
/// one call so that they go to their servers in parallel.
pub const BUF: usize = 4 << 20;

/// One rank's copy of a plan.
pub struct Copier<S: Tree, D: Tree> {
    pub src: S,
    pub dst: D,
    pub entries: Vec<Entry>,
    /// Entries of files whose ranges several ranks copy, and whether this rank counts it
    /// (it copies the first range): each entry is counted by one rank.
    pub shared: HashMap<usize, bool>,
    pub jobs: usize,
    pub verify: bool,
    pub progress: Progress,
    /// Further names of files (entry → the entry whose copy they name): linked, not
    /// copied, in the last step of the run ([`plan::hard_links`]).
    pub links: HashMap<usize, usize>,
    /// Spare buffers; at most `jobs` exist (one per unit in flight).
    pool: Mutex<Vec<Vec<u8>>>,
    /// Directories this rank created: nothing of an earlier run is in them.
    fresh: Mutex<HashSet<String>>,
    /// Shared files that failed here (rank 0 leaves their attributes alone).
    pub failed_shared: Mutex<Vec<usize>>,
}

/// A file some of whose units this rank copies.
struct FileJob<A, B> {
    /// This rank's units of the file.
    units: Vec<Unit>,
    /// Units of this rank not yet done; the one that ends it finishes the file.
    left: AtomicUsize,
    /// Opened once for all units: `None` when the destination is already up to date.
    open: OnceCell<Option<Open<A, B>>>,
    error: Mutex<Option<StageError>>,
}

/// The [`FileJob`] of a copy from `S` to `D`.
type Job<S, D> = FileJob<<S as Tree>::Handle, <D as Tree>::Handle>;

struct Open<A, B> {
    src: A,
    dst: B,
    /// Nothing of an earlier copy is in the destination: all-zero ranges can stay holes.
    fresh: bool,
}

impl<A, B> FileJob<A, B> {
    fn failed(&self) -> bool {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    fn fail(&self, e: StageError) {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
    }
}

impl<S: Tree, D: Tree> Copier<S, D> {
    pub fn new(
        src: S,
        dst: D,
        entries: Vec<Entry>,
        shared: HashMap<usize, bool>,
        jobs: usize,
        verify: bool,
        progress: Progress,
    ) -> Self {
        Copier {
            src,
            dst,
            links: plan::hard_links(&entries),
            entries,
            shared,
            jobs: jobs.max(1),
            verify,
            progress,
            pool: Mutex::new(Vec::new()),
            fresh: Mutex::new(HashSet::new()),
            failed_shared: Mutex::new(Vec::new()),
        }
    }

    /// Reports one failed entry: a line on stderr, and the count.
    fn failure(&self, e: &StageError) {
        self.progress.println(&format!("benchfs: {e}"));
        self.progress.failed();
    }

    fn is_fresh(&self, dir: &str) -> bool {
        self.fresh.lock().unwrap_or_else(|p| p.into_inner()).contains(dir)
    }

    /// Copies `units` (this rank's share).
    pub async fn run(self: &Arc<Self>, units: Vec<Unit>) {
        self.make_dirs(&units).await;
        let mut per_file: HashMap<usize, Vec<Unit>> = HashMap::new();
        for u in units.iter().filter(|u| self.entries[u.entry].meta.kind == Kind::File) {
            per_file.entry(u.entry).or_default().push(*u);
        }
        let jobs: HashMap<usize, Arc<Job<S, D>>> = per_file
            .into_iter()
            .map(|(i, units)| {
                let left = AtomicUsize::new(units.len());
                (i, Arc::new(FileJob { units, left, open: OnceCell::new(), error: Mutex::new(None) }))
            })
            .collect();
        let tasks = units.into_iter().map(|u| {
            let (me, job) = (self.clone(), jobs.get(&u.entry).cloned());
            tokio::spawn(async move {
                match job {
                    Some(job) => me.file_unit(u, job).await,
                    None => me.other_unit(u.entry).await,
                }
            })
        });
        let mut done = stream::iter(tasks).buffer_unordered(self.jobs);
        while let Some(r) = done.next().await {
            if let Err(e) = r {
                self.failure(&StageError::Copy { path: self.dst.name(""), what: format!("copy task failed: {e}") });
            }
        }
    }

    /// Creates the destination root, the directories of this share and the parents of
    /// its entries, parents before children, one level at a time.
    async fn make_dirs(&self, units: &[Unit]) {
        let mut dirs: BTreeSet<(usize, String)> = BTreeSet::new();
        let mut mine = HashSet::new();
        for u in units {
            let e = &self.entries[u.entry];
            if e.meta.kind == Kind::Dir {
                mine.insert(e.dst.clone());
                dirs.insert((depth(&e.dst), e.dst.clone()));
            }
            let mut p = e.dst.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                dirs.insert((depth(parent), parent.to_string()));
                p = parent;
            }
        }
        dirs.insert((0, String::new()));
        let mut levels: Vec<Vec<String>> = Vec::new();
        for (d, path) in dirs {
            levels.resize_with(levels.len().max(d + 1), Vec::new);
            levels[d].push(path);
        }
        for level in levels {
            let made: Vec<_> = stream::iter(level)
                .map(|d| async move { (self.dst.mkdir(&d).await, d) })
                .buffer_unordered(self.jobs)
                .collect()
                .await;
            for (r, d) in made {
                let counted = mine.contains(&d);
                match r {
                    Ok(new) => {
                        if new {
                            self.fresh.lock().unwrap_or_else(|p| p.into_inner()).insert(d);
                        }
                        if counted {
                            if new {
                                self.progress.copied()
                            } else {
                                self.progress.skipped()
                            }
                        }
                    }
                    Err(e) if counted => self.failure(&e),
                    // Not this rank's directory: its files fail with their own reasons.
                    Err(_) => {}
                }
            }
        }
    }

    /// A link, or something that cannot be copied. (Directories are made beforehand.)
    async fn other_unit(&self, i: usize) {
        let e = &self.entries[i];
        let r = match e.meta.kind {
            Kind::Symlink => self.copy_link(e).await,
            // Directories are made beforehand, files have a FileJob.
            Kind::Dir | Kind::File => return,
            Kind::Other(what) => Err(StageError::Copy {
                path: self.src.name(&e.src),
                what: format!("a {what}: only files, directories and symbolic links are copied"),
            }),
        };
        match r {
            Ok(true) => self.progress.copied(),
            Ok(false) => self.progress.skipped(),
            Err(e) => self.failure(&e),
        }
    }

    /// Returns false when the link was already there.
    async fn copy_link(&self, e: &Entry) -> Res<bool> {
        let target = e.meta.target.as_deref().unwrap_or_default();
        match self.existing(&e.dst).await? {
            Some(m) if m.kind == Kind::Symlink && m.target.as_deref() == Some(target) && m.mtime == e.meta.mtime => {
                return Ok(false)
            }
            Some(m) if m.kind == Kind::Dir => return Err(self.in_the_way(e)),
            Some(_) => self.dst.remove(&e.dst).await?,
            None => {}
        }
        self.dst.symlink(target, &e.dst).await?;
        self.dst.set_attrs(&e.dst, &Attrs::of(&e.meta)).await?;
        Ok(true)
    }

    /// What is at `dst` now; no request when its directory is fresh.
    async fn existing(&self, dst: &str) -> Res<Option<super::tree::Meta>> {
        let parent = dst.rsplit_once('/').map_or("", |(p, _)| p);
        if self.is_fresh(parent) {
            return Ok(None);
        }
        self.dst.stat(dst).await
    }

    fn in_the_way(&self, e: &Entry) -> StageError {
        StageError::Copy { path: self.dst.name(&e.dst), what: "a directory is in the way".into() }
    }

    async fn file_unit(&self, u: Unit, job: Arc<FileJob<S::Handle, D::Handle>>) {
        let open = job.open.get_or_init(|| self.open(u.entry, &job)).await;
        match open {
            Some(o) if !job.failed() => match self.copy_range(u, o).await {
                Ok(()) => {}
                Err(e) => {
                    job.fail(e);
                    self.progress.passed(u.len);
                }
            },
            _ => self.progress.passed(u.len),
        }
        // Every other unit of the file in this rank has written (or failed) before this.
        if job.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.finish_file(u.entry, &job).await;
        }
    }

    /// Decides whether file `i` needs a copy and opens both sides; `None`: up to date
    /// (or failed, then recorded in `job`).
    async fn open(&self, i: usize, job: &FileJob<S::Handle, D::Handle>) -> Option<Open<S::Handle, D::Handle>> {
        let r: Res<Option<Open<S::Handle, D::Handle>>> = async {
            let e = &self.entries[i];
            let fresh = match self.existing(&e.dst).await? {
                Some(m) if m.kind == Kind::File && m.size == e.meta.size && m.mtime == e.meta.mtime => {
                    if !self.verify || self.same_bytes(e, &job.units).await? {
                        return Ok(None);
                    }
                    let what = "same size and mtime as the source, other bytes (--verify): copied again";
                    self.progress.println(&format!("benchfs: {}: {what}", self.dst.name(&e.dst)));
                    false
                }
                Some(m) if m.kind == Kind::Dir => return Err(self.in_the_way(e)),
                // A file others write ranges of is rewritten in place, every byte.
                Some(m) if m.kind == Kind::File && self.shared.contains_key(&i) => false,
                Some(_) => {
                    self.dst.remove(&e.dst).await?;
                    true
                }
                None => true,
            };
            let src = self.src.open_read(&e.src).await?;
            let dst = self.dst.open_write(&e.dst).await?;
            Ok(Some(Open { src, dst, fresh }))
        }
        .await;
        r.unwrap_or_else(|e| {
            job.fail(e);
            None
        })
    }

    async fn copy_range(&self, u: Unit, o: &Open<S::Handle, D::Handle>) -> Res<()> {
        let mut hash = self.verify.then(Xxh3::new);
        let end = u.off + u.len;
        let mut off = u.off;
        while off < end {
            let n = usize::try_from(end - off).map_or(BUF, |left| left.min(BUF));
            let (mut buf, got) = self.src.read(&o.src, self.take(), n, off).await?;
            if got < n {
                let what = "the source shrank while it was copied".into();
                return Err(StageError::Copy { path: self.src.name(&self.entries[u.entry].src), what });
            }
            if let Some(h) = hash.as_mut() {
                h.update(&buf[..n]);
            }
            if o.fresh && buf[..n].iter().all(|&b| b == 0) {
                self.progress.passed(n as u64); // a hole stays a hole
            } else {
                buf = self.dst.write(&o.dst, buf, n, off).await?;
                self.progress.wrote(n as u64);
            }
            self.give(buf);
            off += n as u64;
        }
        match hash {
            Some(h) if self.checksum(&self.dst, &o.dst, u).await? != h.digest() => Err(StageError::Copy {
                path: self.dst.name(&self.entries[u.entry].dst),
                what: format!("--verify: bytes {}..{end} differ from the source after the copy", u.off),
            }),
            _ => Ok(()),
        }
    }

    /// Whether the destination of `e` holds the source's bytes in `units` (this rank's
    /// share of the file): what `--verify` checks before it leaves a file alone.
    async fn same_bytes(&self, e: &Entry, units: &[Unit]) -> Res<bool> {
        let (src, dst) = (self.src.open_read(&e.src).await?, self.dst.open_read(&e.dst).await?);
        for &u in units {
            if self.checksum(&self.src, &src, u).await? != self.checksum(&self.dst, &dst, u).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The xxh3 of a unit's bytes as `tree` has them.
    async fn checksum<T: Tree>(&self, tree: &T, h: &T::Handle, u: Unit) -> Res<u64> {
        let mut sum = Xxh3::new();
        let mut off = u.off;
        while off < u.off + u.len {
            let n = usize::try_from(u.off + u.len - off).map_or(BUF, |left| left.min(BUF));
            let (mut buf, got) = tree.read(h, self.take(), n, off).await?;
            // Past the end the copy has so far: a trailing hole, sized when the file is finished.
            buf[got..n].fill(0);
            sum.update(&buf[..n]);
            self.give(buf);
            off += n as u64;
        }
        Ok(sum.digest())
    }

    async fn finish_file(&self, i: usize, job: &FileJob<S::Handle, D::Handle>) {
        let e = &self.entries[i];
        let shared = self.shared.contains_key(&i);
        let counted = self.shared.get(&i).copied().unwrap_or(true);
        let error = job.error.lock().unwrap_or_else(|p| p.into_inner()).take();
        let r = match (error, job.open.get()) {
            (Some(err), _) => Err(err),
            (None, Some(Some(o))) => {
                // Shared: publish this rank's ranges; the attributes come when all are in.
                let attrs = (!shared).then(|| Attrs::of(&e.meta));
                self.dst.finish(&o.dst, attrs.as_ref()).await.map(|()| true)
            }
            (None, _) => Ok(false),
        };
        match r {
            Ok(_) if !counted => {}
            Ok(true) => self.progress.copied(),
            Ok(false) => self.progress.skipped(),
            Err(err) => {
                if shared {
                    self.failed_shared.lock().unwrap_or_else(|p| p.into_inner()).push(i);
                }
                self.failure(&err);
            }
        }
    }

    fn take(&self) -> Vec<u8> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop().unwrap_or_else(|| vec![0; BUF])
    }

    fn give(&self, buf: Vec<u8>) {
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(buf);
    }

    /// The last step of a run, once every rank is done: attributes of the shared files
    /// (`skip`: those that failed somewhere), hard links, and attributes of every
    /// directory. Returns the links made and what could not be done (each reported).
    pub async fn finish_run(&self, skip: &HashSet<usize>) -> Totals {
        let files: Vec<usize> = self.shared.keys().copied().filter(|i| !skip.contains(i)).collect();
        let failed = self.set_attrs_of(files).await;
        let mut links = self.make_links().await;
        links.failed += failed + self.set_dir_attrs().await;
        links
    }

    /// Gives each further name of a file its copy's name (a hard link), unless it is
    /// that already.
    async fn make_links(&self) -> Totals {
        let mut links: Vec<(usize, usize)> = self.links.iter().map(|(&f, &l)| (f, l)).collect();
        links.sort_unstable();
        let results: Vec<Res<bool>> = stream::iter(links)
            .map(|(f, l)| async move {
                let (name, first) = (&self.entries[f].dst, &self.entries[l].dst);
                let Some(target) = self.dst.stat(first).await? else {
                    let what = format!("not linked: {} was not copied", self.dst.name(first));
                    return Err(StageError::Copy { path: self.dst.name(name), what });
                };
                match self.dst.stat(name).await? {
                    Some(m) if m.link_id.is_some() && m.link_id == target.link_id => return Ok(false),
                    Some(m) if m.kind == Kind::Dir => return Err(self.in_the_way(&self.entries[f])),
                    Some(_) => self.dst.remove(name).await?,
                    None => {}
                }
                self.dst.link(first, name).await.map(|()| true)
            })
            .buffered(self.jobs)
            .collect()
            .await;
        let mut t = Totals::default();
        for r in results {
            match r {
                Ok(true) => t.copied += 1,
                Ok(false) => t.skipped += 1,
                Err(e) => {
                    self.progress.println(&format!("benchfs: {e}"));
                    t.failed += 1;
                }
            }
        }
        t
    }

    /// Gives each of `entries` (indices, set in that order, `jobs` at a time) its
    /// source's mode and times. Returns how many could not be set (each reported).
    async fn set_attrs_of(&self, entries: Vec<usize>) -> u64 {
        let results: Vec<Res<()>> = stream::iter(entries)
            .map(|i| async move { self.dst.set_attrs(&self.entries[i].dst, &Attrs::of(&self.entries[i].meta)).await })
            .buffered(self.jobs)
            .collect()
            .await;
        let mut failed = 0;
        for e in results.into_iter().filter_map(Result::err) {
            self.progress.println(&format!("benchfs: {e}"));
            failed += 1;
        }
        failed
    }

    /// Gives every directory its source's mode and times, deepest first, after every
    /// entry in it exists. (A server's late update of a directory's times for an entry
    /// made before this never overwrites them: it is dropped when the directory changed
    /// since, see `MetaStore::touch_dir`.)
    async fn set_dir_attrs(&self) -> u64 {
        let mut dirs: Vec<usize> =
            (0..self.entries.len()).filter(|&i| self.entries[i].meta.kind == Kind::Dir).collect();
        dirs.sort_by_key(|&i| std::cmp::Reverse(depth(&self.entries[i].dst)));
        self.set_attrs_of(dirs).await
    }
}

/// Components of a relative path ("" is 0).
fn depth(rel: &str) -> usize {
    if rel.is_empty() {
        0
    } else {
        rel.matches('/').count() + 1
    }
}
