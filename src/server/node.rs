//! One server: its stores, its ring, and the rules every request passes before it
//! touches a store (validation, ownership, fences, claims).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::backend::{ChunkBackend, StoreBackends};
use super::claims::Claims;
use super::dir_ids::DirIds;
use super::fence::{FenceRead, Fenced, Fences};
use super::membership::{Adopted, Membership, RingError};
use super::moves::Moves;
use super::tombstones::Tombstones;
use super::{MetaStore, StoreError};
use crate::auth::Secret;
use crate::error::Error;
use crate::meta::Attr;
use crate::proto::*;
use crate::transport::local::Service;
use crate::transport::{BoxFuture, Peers};

/// Largest readdir page a server sends, whatever the client asks for.
pub(super) const MAX_READDIR_PAGE: u32 = 1024;

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

/// A reply with its payload, as it goes back.
pub(crate) type Served = (Reply, Vec<u8>);

/// Why a server could not start: its stores, or its ring.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ring(#[from] RingError),
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
    /// Hard-linked files that lost a name here while their inode owner could not be
    /// reached: their count is taken down with the background work ([`Node::drop_unlinked`]).
    pub(super) unlinks: Mutex<Vec<FileId>>,
    /// Parent directories whose entries changed here, and the latest time each changed:
    /// sent to their owners in batches ([`Node::touch_dirs`]).
    pub(super) touched: Mutex<HashMap<String, ParentChange>>,
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
            unlinks: Mutex::new(Vec::new()),
            touched: Mutex::new(HashMap::new()),
        })
    }

    /// A server of a one-member ring, called in-process (the embedded mount).
    pub async fn open_alone(data_dir: &Path) -> Result<Node, StartError> {
        // A member name of host:port shape; nothing connects to it.
        let name = "in-process:0".to_string();
        let node = Node::open(data_dir, &name, None, crate::transport::no_peers())?;
        node.membership.adopt(vec![name], None).await?;
        Ok(node)
    }

    pub fn addr(&self) -> &str {
        self.membership.addr()
    }

    /// The cluster has `n` servers (`benchfsd --expect`): only a ring of all of them forms.
    pub fn expect_members(&self, n: usize) -> Result<(), RingError> {
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
    pub(super) fn own_path(&self, path: &str) -> Result<Arc<Adopted>, Fail> {
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

    pub(super) fn own_inode(&self, fid: FileId) -> Result<Arc<Adopted>, Fail> {
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

    pub(super) fn own_chunk(&self, fid: FileId, index: u64) -> Result<Arc<Adopted>, Fail> {
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
        self.unlink_inode(attr.fid).await;
    }

    /// Takes one name off hard-linked file `fid`'s count at its inode owner. When the
    /// request surely did not arrive (the owner was unreachable), it is queued and sent
    /// again with the background work, so the count comes down once the owner is back.
    /// Any other failure may have been counted (a lost reply): never sent twice, since a
    /// count too low frees data another name still holds; one left too high only keeps
    /// the data.
    async fn unlink_inode(&self, fid: FileId) {
        let Ok(a) = self.ring() else { return self.queue_unlink(fid) };
        let owner = a.ring.inode_owner(fid);
        let sent = if owner == a.me {
            self.peer(&a, owner, InodeUnlink { fid }).await.map(drop)
        } else {
            match a.peers.call(owner, &InodeUnlink { fid }.into(), &[]).await {
                Err(Error::Unreachable { .. }) => return self.queue_unlink(fid),
                r => r.map_err(Fail::from).and_then(|(reply, _)| typed::<InodeUnlink>(&a, owner, reply)).map(drop),
            }
        };
        if let Err(f) = sent {
            tracing::warn!(error = %f.message, "could not drop a name from a hard-linked file's count");
        }
    }

    fn queue_unlink(&self, fid: FileId) {
        self.unlinks.lock().unwrap_or_else(|p| p.into_inner()).push(fid);
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
    pub(super) async fn drop_truncated(&self, a: &Adopted, attr: &Attr, size: u64) -> Result<(), Fail> {
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
    pub(super) async fn open_linked(&self, fid: FileId, truncate: bool) -> Result<Created, Fail> {
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
            typed::<O>(a, i, reply)
        })
    }

    /// [`Node::peer`] for a request that does the same when it arrives twice (idempotent):
    /// after a connection error or a timeout, which may have lost only its reply (the peer
    /// did the work), it is sent again a few times, so that the caller learns what happened
    /// instead of answering an error for a change that was made (a rename whose `Insert`
    /// landed kept its source: two names of one file that were not hard links). Bounded:
    /// when the peer stays silent, the caller still gets the error.
    pub(super) async fn peer_again<O: Op>(&self, a: &Adopted, i: usize, op: O) -> Result<O::Reply, Fail> {
        if i == a.me {
            return self.peer(a, i, op).await;
        }
        let req: Request = op.into();
        let (mut pause, mut lost) = (RESEND_PAUSE, false);
        for _ in 0..RESENDS {
            match a.peers.call(i, &req, &[]).await {
                // Once a reply may have been lost, an unreachable peer says nothing either.
                Err(e) if maybe_done(&e) || lost && e.is_transport() => {
                    tracing::debug!(op = O::NAME, peer = %a.members[i], error = %e, "sending again");
                    lost |= maybe_done(&e);
                }
                r => return typed::<O>(a, i, r?.0),
            }
            // Not jittered (unlike `Backoff`): one server resends, not a whole job at once,
            // and a seeded simulation replays only with pauses the seed fixes.
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        typed::<O>(a, i, a.peers.call(i, &req, &[]).await?.0)
    }

    /// The same request to every member; the first failure wins. Only for requests that do
    /// the same when they arrive twice: each is sent again when its reply may be lost.
    pub(super) async fn broadcast<O: Op + Clone>(&self, a: &Adopted, op: O) -> Result<Vec<O::Reply>, Fail> {
        let calls = (0..a.members.len()).map(|i| self.peer_again(a, i, op.clone()));
        crate::fan_out::all(calls).await.into_iter().collect()
    }

    /// `Stale` for a file whose chunks this server dropped (its last name was removed).
    pub(super) fn refuse_dropped(&self, fid: FileId) -> Result<(), Fail> {
        if self.dropped.contains(fid) {
            return Err(fail(Status::Stale, format!("file {fid:032x} was removed: its data is gone")));
        }
        Ok(())
    }

    /// Sends every queued unlinked file to every member, which drops its chunks; first the
    /// hard-linked files' counts that could not be taken down before (which may free some).
    pub async fn drop_unlinked(&self) {
        let unlinks = std::mem::take(&mut *self.unlinks.lock().unwrap_or_else(|p| p.into_inner()));
        for fid in unlinks {
            self.unlink_inode(fid).await;
        }
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

/// First pause before a request whose reply may be lost is sent again ([`Node::peer_again`]);
/// it doubles with each of the [`RESENDS`] sends after the first (0.05 + 0.1 + 0.2 + 0.4 s,
/// plus each try's own timeout).
const RESEND_PAUSE: Duration = Duration::from_millis(50);
const RESENDS: u32 = 4;

/// Whether a failed call may have done its work: the request went out and its reply was
/// lost (connection broken after sending, or no reply in time).
fn maybe_done(e: &Error) -> bool {
    matches!(e, Error::ConnectionLost { .. } | Error::Timeout { .. })
}

/// A peer's reply as the one `O` expects.
fn typed<O: Op>(a: &Adopted, i: usize, reply: Reply) -> Result<O::Reply, Fail> {
    O::Reply::from_reply(reply)
        .map_err(|got| fail(Status::Io, format!("peer {} answered {} with {got}", a.members[i], O::NAME)))
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
