//! One server: its stores, its ring, and the rules every request passes before it
//! touches a store (validation, ownership, fences, claims).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::backend::device::blocking;
use super::backend::{ChunkBackend, StoreBackends};
use super::claims::Claims;
use super::dir_ids::DirIds;
use super::fence::{FenceRead, Fenced, Fences};
use super::membership::{Adopted, Membership};
use super::moves::Moves;
use super::tombstones::Tombstones;
use super::{MetaStore, StoreError};
use crate::auth::Secret;
use crate::error::Error;
use crate::meta::Attr;
use crate::proto::frame::{MAX_DATA, PROTOCOL_VERSION};
use crate::proto::*;
use crate::transport::local::Service;
use crate::transport::{BoxFuture, Peers};

/// Largest readdir page a server sends, whatever the client asks for.
const MAX_READDIR_PAGE: u32 = 1024;

/// Why a request failed, as it goes back on the wire.
#[derive(Debug)]
pub struct Fail {
    pub status: Status,
    pub message: String,
}

pub fn fail(status: Status, message: impl Into<String>) -> Fail {
    Fail { status, message: message.into() }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Fail {
        let status = match &e {
            StoreError::NotFound(_) => Status::NotFound,
            StoreError::Exists(_) => Status::Exists,
            StoreError::NotDir(_) => Status::NotDir,
            StoreError::IsDir(_) => Status::IsDir,
            StoreError::Invalid(_) => Status::Invalid,
            StoreError::NotFile(_, crate::meta::FileKind::Symlink) => Status::Loop,
            StoreError::NotFile(..) => Status::Unsupported,
            StoreError::Corrupt(_) => Status::Corrupt,
            e if e.is_no_space() => Status::NoSpace,
            _ => Status::Io,
        };
        // The whole chain: redb's and the OS's reasons stay in the message.
        let mut message = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            message = format!("{message}: {s}");
            src = s.source();
        }
        fail(status, message)
    }
}

/// A peer's answer turned back into a status (a coordinator relays it to its client).
impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        fail(e.status(), e.to_string())
    }
}

impl From<(Status, String)> for Fail {
    fn from((status, message): (Status, String)) -> Fail {
        fail(status, message)
    }
}

/// Checks `path` against the fences: held is `Retry`, below a removed directory `NotFound`.
pub fn check(fences: &FenceRead<'_>, path: &str) -> Result<(), Fail> {
    fences.check(path).map_err(|f| match f {
        Fenced::Retry => fail(Status::Retry, format!("{path}: a directory above it is being moved")),
        Fenced::Gone => fail(Status::NotFound, path.to_string()),
    })
}

pub struct Node {
    pub meta: MetaStore,
    pub chunks: Box<dyn ChunkBackend>,
    pub data_dir: PathBuf,
    /// When set, every connection must authenticate before it is served.
    pub secret: Option<Secret>,
    pub membership: Membership,
    pub(super) fences: Fences,
    pub(super) claims: Claims,
    pub(super) moves: Moves,
    /// Files whose chunks this server dropped: never written (nor read) again.
    pub(super) dropped: Tombstones,
    /// Other servers' directories' ids, for the identity check (see `identity`).
    pub(super) dir_ids: DirIds,
    /// Files unlinked here whose chunks every server is yet to drop (sent in batches).
    pub(super) unlinked: Mutex<Vec<FileId>>,
    /// Parent directories whose entries changed here, and the latest time each changed:
    /// sent to their owners in batches ([`Node::touch_dirs`]).
    pub(super) touched: Mutex<HashMap<String, ParentChange>>,
}

type Served = (Reply, Vec<u8>);

fn reply<R: ReplyBody>(r: R) -> Result<Served, Fail> {
    Ok((r.into_reply(), Vec::new()))
}

impl Node {
    /// Opens (or creates) the stores under `data_dir` for the server known as `addr`,
    /// which reaches the other members of its ring through `peers`.
    pub fn open(
        data_dir: &Path,
        addr: &str,
        secret: Option<Secret>,
        peers: Arc<dyn Peers>,
    ) -> Result<Node, StoreError> {
        Node::open_with(StoreBackends::files(data_dir)?, data_dir, addr, secret, peers)
    }

    /// [`Node::open`] with its stores on `stores` (memory, failing: see
    /// [`StoreBackends`]). `data_dir` still holds the ring's small files.
    pub fn open_with(
        stores: StoreBackends,
        data_dir: &Path,
        addr: &str,
        secret: Option<Secret>,
        peers: Arc<dyn Peers>,
    ) -> Result<Node, StoreError> {
        let StoreBackends { chunks, meta } = stores;
        let fresh = meta.is_new();
        let on_disk = meta.on_disk();
        super::private::private_dir(data_dir)?;
        let meta = MetaStore::open(meta)?;
        let dropped = Tombstones::load(&meta)?;
        if on_disk {
            super::private::keep_ballast(data_dir, chunks.space()?.0);
        }
        Ok(Node {
            meta,
            chunks,
            membership: Membership::open(addr, data_dir, fresh, peers)?,
            data_dir: data_dir.to_path_buf(),
            secret,
            fences: Fences::default(),
            claims: Claims::default(),
            moves: Moves::default(),
            dropped,
            dir_ids: DirIds::default(),
            unlinked: Mutex::new(Vec::new()),
            touched: Mutex::new(HashMap::new()),
        })
    }

    /// A server of a one-member ring, called in-process (the embedded mount).
    pub async fn open_alone(data_dir: &Path) -> Result<Node, String> {
        // A member name of host:port shape; nothing connects to it.
        let name = "in-process:0".to_string();
        let node = Node::open(data_dir, &name, None, crate::transport::no_peers()).map_err(|e| e.to_string())?;
        node.membership.adopt(vec![name], None).await?;
        Ok(node)
    }

    pub fn addr(&self) -> &str {
        self.membership.addr()
    }

    /// The cluster has `n` servers (`benchfsd --expect`): only a ring of all of them forms.
    pub fn expect_members(&self, n: usize) -> Result<(), String> {
        self.membership.expect(n)
    }

    /// Makes everything durable: metadata commit and a sync of the data file system.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.sync_meta()?;
        self.chunks.sync_all()?;
        Ok(())
    }

    /// Commits metadata durably. If the device is full (something else filled it: the
    /// chunk store keeps its own reserve), the ballast is freed and the commit retried,
    /// so acknowledged namespace changes are not lost to a full disk.
    pub fn sync_meta(&self) -> Result<(), StoreError> {
        match self.meta.sync() {
            Err(e) if e.is_no_space() && super::private::release_ballast(&self.data_dir) => {
                tracing::warn!(
                    "device full: freed the metadata ballast to commit; free space on {}",
                    self.data_dir.display()
                );
                self.meta.sync()
            }
            r => r,
        }
    }

    /// Serves one request from a caller in `role` (as its connection proved it): every
    /// request gets exactly one reply, never a panic. Requests between servers are
    /// refused (`Perm`) to anyone but a peer, before they touch anything.
    pub async fn serve(&self, role: Role, req: Request, data: Vec<u8>) -> Served {
        let name = req.name();
        if role != Role::Peer && req.from_peers_only() {
            tracing::warn!(op = name, "a request between servers on a client's connection; refused");
            let message = format!("{name} is sent only between servers; this connection is not a server's");
            return (Reply::Error { status: Status::Perm, message }, Vec::new());
        }
        match self.dispatch(req, data).await {
            Ok(r) => r,
            Err(f) => {
                match f.status {
                    Status::Io | Status::NoSpace | Status::Corrupt | Status::Lost => {
                        tracing::warn!(op = name, error = %f.message, "request failed")
                    }
                    _ => tracing::debug!(op = name, error = %f.message, "request failed"),
                }
                (Reply::Error { status: f.status, message: f.message }, Vec::new())
            }
        }
    }

    pub(super) fn ring(&self) -> Result<Arc<Adopted>, Fail> {
        self.membership
            .current()
            .ok_or_else(|| fail(Status::Membership, format!("server {} has no ring yet", self.addr())))
    }

    /// The ring, if `path`'s record is this server's in it.
    fn own_path(&self, path: &str) -> Result<Arc<Adopted>, Fail> {
        let a = self.ring()?;
        if !a.owns_path(path) {
            let owner = &a.members[a.ring.meta_owner(path)];
            return Err(fail(
                Status::WrongOwner,
                format!("server {} does not hold {path} in ring {} (its owner is {owner})", self.addr(), a.id),
            ));
        }
        Ok(a)
    }

    fn own_inode(&self, fid: FileId) -> Result<Arc<Adopted>, Fail> {
        let a = self.ring()?;
        let owner = a.ring.inode_owner(fid);
        if owner != a.me {
            return Err(fail(
                Status::WrongOwner,
                format!(
                    "server {} does not hold the inode of {fid:032x} (its owner is {})",
                    self.addr(),
                    a.members[owner]
                ),
            ));
        }
        Ok(a)
    }

    fn own_chunk(&self, fid: FileId, index: u64) -> Result<Arc<Adopted>, Fail> {
        let a = self.ring()?;
        if !a.owns_chunk(fid, index) {
            let owner = &a.members[a.ring.chunk_owner(fid, index)];
            return Err(fail(
                Status::WrongOwner,
                format!("server {} does not hold chunk {index} of {fid:032x} (its owner is {owner})", self.addr()),
            ));
        }
        Ok(a)
    }

    /// Queues the chunks of an unlinked or replaced file for dropping everywhere.
    pub(super) fn forget_file(&self, attr: &Attr) {
        // Only regular files have chunks (a link's or special file's id is identity only).
        if attr.is_file() {
            self.unlinked.lock().unwrap_or_else(|p| p.into_inner()).push(attr.fid);
        }
    }

    /// Gives up one name of `attr`'s file: a hard-linked file loses one count at its inode
    /// owner (which frees the data after the last), any other file is freed here.
    pub(super) async fn release(&self, attr: &Attr) {
        if !attr.linked {
            return self.forget_file(attr);
        }
        if let Err(f) = self.inode_op(attr.fid, InodeUnlink { fid: attr.fid }).await {
            // The name is gone either way; a count left too high only keeps the data.
            tracing::warn!(error = %f.message, "could not drop a name from a hard-linked file's count");
        }
    }

    /// A request about hard-linked file `fid`, to its inode owner.
    pub(super) async fn inode_op<O: Op>(&self, fid: FileId, op: O) -> Result<O::Reply, Fail> {
        let a = self.ring()?;
        self.peer(&a, a.ring.inode_owner(fid), op).await
    }

    /// A truncate (an `Update` of the size without a handle's file id; a handle's size
    /// publication never drops anything) set the size of the file `attr` to `size`: its
    /// chunks past it go now, on every server. After the size, under the name's claim: a
    /// reader that finds a chunk gone asks the size and finds the new one, so it ends its
    /// read there instead of reading zeros nobody wrote; the servers drive it, so a client
    /// killed halfway leaves nothing behind. (A server that fails between the two leaves
    /// the chunks past the new size; the truncate then fails with its error.)
    async fn drop_truncated(&self, a: &Adopted, attr: &Attr, size: u64) -> Result<(), Fail> {
        if !attr.is_file() {
            return Ok(());
        }
        self.broadcast(a, TruncateChunks { fid: attr.fid, size, chunk_size: attr.chunk_size }).await.map(|_| ())
    }

    /// The attributes of the file a name's record stands for: the record itself, or for
    /// a hard-linked file its inode record.
    pub(super) async fn resolve(&self, attr: Attr) -> Result<Attr, Fail> {
        if !attr.linked {
            return Ok(attr);
        }
        Ok(self.inode_op(attr.fid, InodeStat { fid: attr.fid }).await?.0)
    }

    /// Create's answer for an existing hard-linked file: its inode record, emptied with
    /// `truncate`, and the size it had.
    async fn open_linked(&self, fid: FileId, truncate: bool) -> Result<Created, Fail> {
        let AttrReply(attr) = self.inode_op(fid, InodeStat { fid }).await?;
        let previous_size = Some(attr.size);
        if !truncate || attr.size == 0 {
            return Ok(Created { attr, previous_size });
        }
        let set = SetAttr { size: Some(0), ..SetAttr::default() };
        let AttrReply(attr) = self.inode_op(fid, InodeUpdate { fid, set }).await?;
        Ok(Created { attr, previous_size })
    }

    /// Queues a change of the entries of `path`'s parent directory at `t`: its mtime and
    /// ctime move to `t` within ~5 ms ([`super::TOUCH_INTERVAL`]), when a batch reaches
    /// its owner. Off the reply path on purpose: a create costs a server ~30 us (about
    /// 34,000 creates/s through one client in `bench/namespace`), and a synchronous Touch
    /// to the parent's owner (another server for most paths) would add a peer round trip
    /// of about as much to every create, mkdir, unlink and rename. The price: a stat of
    /// the directory right after the change may see its old times for up to ~5 ms.
    pub(super) fn touch_parent(&self, path: &str, t: (i64, u32)) {
        self.touch_parent_counting(path, t, 0);
    }

    /// [`Node::touch_parent`] for a change that adds `subdirs` subdirectories to the
    /// parent (mkdir 1, rmdir -1, a directory renamed away -1 or in 1): the count rides
    /// with the touch, so a directory's `nlink` costs no round trip of its own.
    pub(super) fn touch_parent_counting(&self, path: &str, t: (i64, u32), subdirs: i32) {
        // The root has no record: nothing to touch (its nlink is 1, "unknown").
        let Some((parent, _)) = crate::path::split(path).filter(|(p, _)| *p != "/") else { return };
        let mut touched = self.touched.lock().unwrap_or_else(|p| p.into_inner());
        let (old, count) = touched.entry(parent.to_string()).or_insert((t, 0));
        *old = (*old).max(t);
        *count += subdirs;
    }

    /// One typed request to member `i`: in-process when it is this server.
    pub(super) fn peer<'a, O: Op>(&'a self, a: &'a Adopted, i: usize, op: O) -> BoxFuture<'a, Result<O::Reply, Fail>> {
        Box::pin(async move {
            let (reply, _) = if i == a.me {
                self.dispatch(op.into(), Vec::new()).await?
            } else {
                a.peers.call(i, &op.into(), &[]).await?
            };
            O::Reply::from_reply(reply)
                .map_err(|got| fail(Status::Io, format!("peer {} answered {} with {got}", a.members[i], O::NAME)))
        })
    }

    /// The same request to every member; the first failure wins.
    pub(super) async fn broadcast<O: Op + Clone>(&self, a: &Adopted, op: O) -> Result<Vec<O::Reply>, Fail> {
        let calls = (0..a.members.len()).map(|i| self.peer(a, i, op.clone()));
        crate::fan_out::all(calls).await.into_iter().collect()
    }

    /// Validation, then the request's handler. Not boxed: the recursion through
    /// coordinated operations is broken by [`Node::peer`]'s box, off the common path.
    pub(super) async fn dispatch(&self, req: Request, data: Vec<u8>) -> Result<Served, Fail> {
        req.validate()?;
        if !data.is_empty() && !matches!(req, Request::Write(_)) {
            return Err(fail(Status::Invalid, format!("{} takes no payload", req.name())));
        }
        match req {
            Request::Ping(_) => reply(Pong { version: PROTOCOL_VERSION }),
            // The connection answers these itself, before any request reaches here.
            Request::Hello(_) | Request::Auth(_) => Err(fail(Status::Invalid, "handshake out of place")),
            Request::AdoptRing(r) => {
                let a = self.membership.adopt(r.members, r.formed).await.map_err(|e| fail(Status::Membership, e))?;
                reply(RingInfo { ring: a.id, members: a.members.clone() })
            }
            Request::Create(c) => {
                self.own_path(&c.path)?;
                if c.chunk_size == 0 || c.chunk_size > MAX_DATA {
                    return Err(fail(Status::Invalid, format!("chunk size {}", c.chunk_size)));
                }
                let _claim = self.claims.claim(&c.path).await;
                let (attr, previous_size) = {
                    let fences = self.fences.read();
                    check(&fences, &c.path)?;
                    self.meta.create(&c.path, c.mode, c.uid, c.gid, c.chunk_size, c.exclusive, c.truncate)?
                };
                if previous_size.is_none() {
                    self.touch_parent(&c.path, attr.ctime);
                }
                if attr.linked {
                    return reply(self.open_linked(attr.fid, c.truncate).await?);
                }
                reply(Created { attr, previous_size })
            }
            Request::Mkdir(m) => self.mkdir(m).await,
            Request::Stat(s) => {
                if s.path == "/" {
                    return reply(AttrReply(Attr::synthetic_dir(0o755)));
                }
                self.own_path(&s.path)?;
                let attr = {
                    let fences = self.fences.read();
                    check(&fences, &s.path)?;
                    self.meta.get(&s.path)?
                };
                reply(AttrReply(self.resolve(attr).await?))
            }
            Request::Update(u) => {
                let a = self.own_path(&u.path)?;
                let _claim = self.claims.claim(&u.path).await;
                let linked = {
                    let fences = self.fences.read();
                    let fenced = check(&fences, &u.path);
                    if let Some(fid) = u.fid {
                        let here = fenced.is_ok().then(|| self.meta.get(&u.path).ok()).flatten();
                        let retry = matches!(&fenced, Err(f) if f.status == Status::Retry);
                        if !retry && here.is_none_or(|a| a.fid != fid) {
                            return Err(match self.moves.find(&u.path, fid) {
                                Some(to) => fail(Status::Moved, to),
                                None => fail(Status::NotFound, u.path.clone()),
                            });
                        }
                    }
                    fenced?;
                    self.meta.linked_fid(&u.path)
                };
                // Still under the claim: the name cannot go away meanwhile.
                let attr = match linked {
                    Some(fid) => self.inode_op(fid, InodeUpdate { fid, set: u.set.clone() }).await?.0,
                    None => self.meta.set_attr(&u.path, &u.set)?,
                };
                if let (None, Some(size)) = (u.fid, u.set.size) {
                    self.drop_truncated(&a, &attr, size).await?;
                }
                reply(AttrReply(attr))
            }
            Request::Unlink(u) => {
                self.own_path(&u.path)?;
                let _claim = self.claims.claim(&u.path).await;
                let attr = {
                    let fences = self.fences.read();
                    check(&fences, &u.path)?;
                    self.meta.remove(&u.path, false)?
                };
                let hidden =
                    crate::path::split(&u.path).is_some_and(|(_, n)| n.starts_with(crate::path::HIDDEN_PREFIX));
                // A mount's own hidden names (unlinked open files) are not shown: their
                // removal changes nothing anyone saw.
                let at = (!hidden).then(crate::meta::now);
                if let Some(t) = at {
                    self.touch_parent(&u.path, t);
                }
                self.release(&attr).await;
                reply(Changed { at, removed: Some(attr) })
            }
            Request::Rmdir(r) => {
                let at = self.rmdir(&r.path).await?;
                reply(Changed { at: Some(at), removed: None })
            }
            Request::Rename(r) => reply(self.rename(r).await?),
            Request::Readdir(r) => {
                let (list, more) = {
                    let fences = self.fences.read();
                    if r.dir != "/" {
                        check(&fences, &r.dir)?;
                    }
                    let limit = r.limit.clamp(1, MAX_READDIR_PAGE) as usize;
                    self.meta.readdir(&r.dir, r.after.as_deref(), limit)?
                };
                let entries = if list.iter().any(|(_, a)| a.linked) {
                    // Hard-linked files' attributes are in their inode records (one call
                    // each: only pages holding linked files pay it).
                    futures::future::try_join_all(list.into_iter().map(|(name, attr)| async move {
                        Ok::<_, Fail>(DirEntryWire { name, attr: self.resolve(attr).await? })
                    }))
                    .await?
                } else {
                    list.into_iter().map(|(name, attr)| DirEntryWire { name, attr }).collect()
                };
                reply(Entries { entries, more })
            }
            Request::Write(w) => {
                self.own_chunk(w.fid, w.index)?;
                let n = u32::try_from(data.len()).map_err(|_| fail(Status::Invalid, "payload too large"))?;
                self.refuse_dropped(w.fid)?;
                self.chunks.write(w.fid, w.index, w.offset, &data)?;
                if self.dropped.contains(w.fid) {
                    // Dropped while this wrote: the drop may have run before these bytes
                    // landed, so they go too.
                    self.chunks.truncate(w.fid, 0, 1)?;
                    self.refuse_dropped(w.fid)?;
                }
                reply(Done(n))
            }
            Request::Read(r) => {
                let a = self.own_chunk(r.fid, r.index)?;
                self.refuse_dropped(r.fid)?;
                if r.len > MAX_DATA {
                    return Err(fail(Status::Invalid, format!("read of {} bytes exceeds the frame limit", r.len)));
                }
                let v = self.chunks.read(r.fid, r.index, r.offset, r.len)?;
                if v.is_empty() && a.replaced && !self.chunks.has_chunk(r.fid, r.index) {
                    return Err(fail(
                        Status::Lost,
                        format!(
                            "chunk {} of {:032x}: server {} replaced a lost member and does not hold it",
                            r.index,
                            r.fid,
                            self.addr()
                        ),
                    ));
                }
                let n = u32::try_from(v.len()).unwrap_or(u32::MAX);
                Ok((Reply::Done(Done(n)), v))
            }
            Request::TruncateChunks(t) => {
                self.chunks.truncate(t.fid, t.size, t.chunk_size)?;
                reply(Done(0))
            }
            Request::Fsync(f) => {
                blocking(move || {
                    match f.fid {
                        Some(fid) => self.chunks.sync_file(fid)?,
                        None => self.chunks.sync_all()?,
                    }
                    self.sync_meta()
                })?;
                reply(Done(0))
            }
            Request::Usage(u) => {
                let (total_bytes, free_bytes, avail_bytes) = self.chunks.space().map_err(StoreError::from)?;
                let (chunks, chunk_bytes) =
                    if u.detail { self.chunks.usage().map_err(StoreError::from)? } else { (0, 0) };
                let inodes = self.meta.count()?;
                reply(UsageReply(StatFs { total_bytes, free_bytes, avail_bytes, chunks, chunk_bytes, inodes }))
            }
            Request::Insert(i) => {
                self.own_path(&i.path)?;
                let old = {
                    let fences = self.fences.read();
                    if !i.bypass_fence {
                        check(&fences, &i.path)?;
                    }
                    self.meta.insert(&i.path, &i.attr, i.replace)?
                };
                // What arrived is what the name holds now (see `Moves::arrived`).
                self.moves.arrived(&i.path, i.attr.fid);
                if let Some(o) = old.as_ref().filter(|o| o.fid != i.attr.fid) {
                    self.release(o).await;
                }
                reply(Removed(old))
            }
            Request::Fence(f) => {
                self.fences.set(&f.dir, f.state);
                self.dir_ids.forget_below(&f.dir);
                let held = f.probe && !self.meta.readdir(&f.dir, None, 1)?.0.is_empty();
                reply(Done(u32::from(held)))
            }
            Request::MoveTree(m) => self.move_tree(&m.from, &m.to).await.and_then(|n| reply(Done(n))),
            Request::DropFiles(d) => {
                // Before the chunks go: see `tombstones` for why the order matters.
                self.dropped.add(&self.meta, &d.fids)?;
                for fid in d.fids {
                    self.chunks.truncate(fid, 0, 1)?;
                }
                reply(Done(0))
            }
            Request::Symlink(l) => {
                self.own_path(&l.path)?;
                let _claim = self.claims.claim(&l.path).await;
                let fences = self.fences.read();
                check(&fences, &l.path)?;
                let attr = self.meta.symlink(&l.path, &l.target, l.uid, l.gid)?;
                self.touch_parent(&l.path, attr.ctime);
                reply(AttrReply(attr))
            }
            Request::Mknod(m) => {
                self.own_path(&m.path)?;
                let _claim = self.claims.claim(&m.path).await;
                let fences = self.fences.read();
                check(&fences, &m.path)?;
                let attr = self.meta.mknod(&m.path, m.kind, m.mode, m.rdev, m.uid, m.gid)?;
                self.touch_parent(&m.path, attr.ctime);
                reply(AttrReply(attr))
            }
            Request::Touch(t) => {
                let a = self.ring()?;
                let mut changed = 0u32;
                // Not fenced nor claimed: a time can only move forward, and a touch
                // that lands on a record being moved is lost with its old copy.
                for (dir, t) in t.dirs.iter().filter(|(d, _)| a.owns_path(d)) {
                    changed += u32::from(self.meta.touch_dir(dir, *t)?);
                }
                for (dir, n) in t.subdirs.iter().filter(|(d, _)| a.owns_path(d)) {
                    self.meta.count_subdirs(dir, *n)?;
                }
                reply(Done(changed))
            }
            Request::Link(l) => reply(AttrReply(self.link(l).await?)),
            Request::InodeLink(l) => {
                self.own_inode(l.attr.fid)?;
                reply(AttrReply(self.meta.inode_link(&l.attr)?))
            }
            Request::InodeStat(s) => {
                self.own_inode(s.fid)?;
                reply(AttrReply(self.meta.inode(s.fid)?))
            }
            Request::InodeUpdate(u) => {
                self.own_inode(u.fid)?;
                reply(AttrReply(self.meta.inode_set(u.fid, &u.set)?))
            }
            Request::InodeUnlink(u) => {
                self.own_inode(u.fid)?;
                let left = self.meta.inode_unlink(u.fid)?;
                if left.nlink > 0 {
                    return reply(Removed(Some(left)));
                }
                self.forget_file(&left);
                reply(Removed(None))
            }
            Request::Expect(e) => {
                self.check_ids(&e.expect).await?;
                // Boxed: a request's future may not contain itself.
                Box::pin(self.dispatch(*e.request, data)).await
            }
        }
    }

    /// `Stale` for a file whose chunks this server dropped (its last name was removed).
    fn refuse_dropped(&self, fid: FileId) -> Result<(), Fail> {
        if self.dropped.contains(fid) {
            return Err(fail(Status::Stale, format!("file {fid:032x} was removed: its data is gone")));
        }
        Ok(())
    }

    /// Sends every queued unlinked file to every member, which drops its chunks.
    pub async fn drop_unlinked(&self) {
        let fids = std::mem::take(&mut *self.unlinked.lock().unwrap_or_else(|p| p.into_inner()));
        let Ok(a) = self.ring() else { return };
        if fids.is_empty() {
            return;
        }
        if let Err(f) = self.broadcast(&a, DropFiles { fids }).await {
            // Space only: the names are gone. A member that was down keeps the chunks.
            tracing::warn!(error = %f.message, "could not drop the chunks of unlinked files everywhere");
        }
    }
}

/// The in-process transport's way in (the embedded mount).
impl Service for Node {
    fn name(&self) -> &str {
        self.addr()
    }

    fn ring(&self) -> Option<RingId> {
        self.membership.current().map(|a| a.id)
    }

    fn serve(&self, role: Role, req: Request, data: Vec<u8>) -> BoxFuture<'_, Served> {
        Box::pin(Node::serve(self, role, req, data))
    }
}

/// A directory and when an entry of it changed.
type Touched = (String, (i64, u32));

/// What a directory's owner is to hear of it: the latest change of an entry, and how many
/// subdirectories it gained (or lost) since the last batch.
pub(super) type ParentChange = ((i64, u32), i32);

/// One owner's batch being filled: times, subdirectory counts, bytes of paths.
type TouchBatch = (Vec<Touched>, Vec<(String, i32)>, usize);

/// Most bytes of paths in one `Touch` (well below the 1 MiB header limit).
const TOUCH_BATCH_BYTES: usize = 256 << 10;

impl Node {
    /// Sends every queued directory touch to the directory's owner (this server's own
    /// in-process), one batch per owner.
    pub async fn touch_dirs(&self) {
        let touched = std::mem::take(&mut *self.touched.lock().unwrap_or_else(|p| p.into_inner()));
        let Ok(a) = self.ring() else { return };
        if touched.is_empty() {
            return;
        }
        // Per owner: the batch being filled and its bytes; full batches go to `sends`.
        let mut open: HashMap<usize, TouchBatch> = HashMap::new();
        let mut sends = Vec::new();
        for (dir, (t, n)) in touched {
            let owner = a.ring.meta_owner(&dir);
            let (batch, subdirs, bytes) = open.entry(owner).or_default();
            if *bytes + 2 * dir.len() > TOUCH_BATCH_BYTES && !batch.is_empty() {
                let (dirs, subdirs) = (std::mem::take(batch), std::mem::take(subdirs));
                sends.push(self.peer(&a, owner, Touch { dirs, subdirs }));
                *bytes = 0;
            }
            *bytes += dir.len() + 16;
            if n != 0 {
                *bytes += dir.len() + 8;
                subdirs.push((dir.clone(), n));
            }
            batch.push((dir, t));
        }
        sends.extend(open.into_iter().map(|(owner, (dirs, subdirs, _))| self.peer(&a, owner, Touch { dirs, subdirs })));
        for r in crate::fan_out::all(sends).await {
            if let Err(f) = r {
                // Times only: the namespace change itself is done.
                tracing::warn!(error = %f.message, "could not update the times of a parent directory");
            }
        }
    }
}
