//! Namespace changes that span servers, each coordinated by one server so that racing
//! clients are serialised in one place (DESIGN.md, "Namespace operations"):
//!
//! - **rename** goes to the source's owner, which claims the source (a second rename of
//!   it waits, then finds it gone), inserts the record at the target's owner, and only
//!   then removes its own: exactly one of two racing renames succeeds, and a crash in
//!   between leaves two names, never none.
//! - **directory rename and rmdir** fence the directory on every server first (requests
//!   under it are answered `Retry`), so a create cannot land behind the move; each
//!   server moves its own records; the old name is then marked gone (requests below it
//!   are `NotFound`), so a create that checked its parent before the move fails instead
//!   of vanishing.

use futures::stream::{self, StreamExt, TryStreamExt};

use super::membership::Adopted;
use super::node::{check, fail, Fail, Node};
use crate::meta::Attr;
use crate::path::is_within;
use crate::proto::*;

/// Records a server moves at once during a directory rename.
const MOVES_IN_FLIGHT: usize = 32;

impl Node {
    pub(super) async fn mkdir(&self, m: Mkdir) -> Result<Attr, Fail> {
        let a = self.ring()?;
        if !a.owns_path(&m.path) {
            return Err(fail(Status::WrongOwner, format!("server {} does not hold {}", self.addr(), m.path)));
        }
        let _claim = self.claims.claim(&m.path).await;
        let was_gone = self.fences.read().is_gone(&m.path);
        if was_gone {
            // The name was a directory that was removed or moved: let creates below it
            // through again before it exists again.
            self.broadcast(&a, Fence { dir: m.path.clone(), state: FenceState::Lift, probe: false }).await?;
        }
        let fences = self.fences.read();
        check(&fences, &m.path)?;
        let attr = self.meta.mkdir(&m.path, m.mode, m.uid, m.gid)?;
        self.touch_parent_counting(&m.path, attr.ctime, 1);
        Ok(attr)
    }

    /// The reply carries the time the parents' owners get (none for a rename onto itself)
    /// and the record the target replaced.
    pub(super) async fn rename(&self, r: Rename) -> Result<Changed, Fail> {
        let a = self.ring()?;
        if !a.owns_path(&r.from) {
            return Err(fail(Status::WrongOwner, format!("server {} does not hold {}", self.addr(), r.from)));
        }
        let _claim = self.claims.claim(&r.from).await;
        let mut src = {
            let fences = self.fences.read();
            check(&fences, &r.from)?;
            self.meta.get(&r.from)?
        };
        if r.from == r.to {
            return Ok(Changed { at: None, removed: None });
        }
        // A rename changes the record itself (its ctime) and both parent directories.
        let t = crate::meta::now();
        src.ctime = t;
        let dir = src.is_dir();
        let renamed = if dir { self.rename_dir(&a, &r, src).await } else { self.rename_file(&a, &r, src).await };
        if let Ok(replaced) = &renamed {
            // A directory leaves one parent and joins the other, unless it replaced one.
            let (away, into) = match (dir, replaced) {
                (false, _) => (0, 0),
                (true, Some(_)) => (-1, 0),
                (true, None) => (-1, 1),
            };
            self.touch_parent_counting(&r.from, t, away);
            self.touch_parent_counting(&r.to, t, into);
        }
        renamed.map(|removed| Changed { at: Some(t), removed })
    }

    async fn rename_file(&self, a: &Adopted, r: &Rename, src: Attr) -> Result<Option<Attr>, Fail> {
        let to_owner = a.ring.meta_owner(&r.to);
        let (fid, linked) = (src.fid, src.linked);
        let insert = Insert { path: r.to.clone(), attr: src, replace: !r.noreplace, bypass_fence: false };
        // Sent again if its reply is lost: the source goes exactly when the target came.
        let Removed(replaced) = self.peer_again(a, to_owner, insert).await?;
        if replaced.as_ref().is_some_and(|o| o.linked && o.fid == fid) {
            // Two names of one file: rename(2) does nothing (the insert put back an
            // equivalent pointer).
            return Ok(None);
        }
        // Still ours: the claim kept every other change of it out.
        self.meta.take(&r.from)?;
        self.moves.record(&r.from, fid, &r.to);
        if linked {
            // A rename changes the file's ctime, which is in its inode record.
            let touch = InodeUpdate { fid, set: crate::meta::SetAttr::default() };
            if let Err(f) = self.inode_op(fid, touch).await {
                tracing::warn!(error = %f.message, "could not update the ctime of a renamed hard-linked file");
            }
        }
        Ok(replaced)
    }

    async fn rename_dir(&self, a: &Adopted, r: &Rename, src: Attr) -> Result<Option<Attr>, Fail> {
        if is_within(&r.to, &r.from) {
            return Err(fail(Status::Invalid, format!("cannot move {} into itself", r.from)));
        }
        let to_owner = a.ring.meta_owner(&r.to);
        let dst = match self.peer(a, to_owner, Stat { path: r.to.clone() }).await {
            Ok(AttrReply(d)) => Some(d),
            Err(f) if f.status == Status::NotFound => None,
            Err(f) => return Err(f),
        };
        match &dst {
            Some(_) if r.noreplace => return Err(fail(Status::Exists, r.to.clone())),
            Some(d) if !d.is_dir() => return Err(fail(Status::NotDir, r.to.clone())),
            _ => {}
        }
        let moved = async {
            self.broadcast(a, Fence { dir: r.from.clone(), state: FenceState::Hold, probe: false }).await?;
            let held = Fence { dir: r.to.clone(), state: FenceState::Hold, probe: dst.is_some() };
            if self.broadcast(a, held).await?.iter().any(|d| d.0 > 0) {
                return Err(fail(Status::NotEmpty, r.to.clone()));
            }
            self.broadcast(a, MoveTree { from: r.from.clone(), to: r.to.clone() }).await?;
            let id = src.fid;
            let insert = Insert { path: r.to.clone(), attr: src, replace: true, bypass_fence: true };
            self.peer_again(a, to_owner, insert).await?;
            self.meta.take(&r.from)?;
            // Clients holding the directory by its old path follow it (server::identity).
            self.moves.record(&r.from, id, &r.to);
            Ok(dst)
        }
        .await;
        // The target's subtree is the moved one now: a `Gone` mark left below it by an
        // earlier removal or move of a directory there must not hide what arrived.
        let (from_state, to_state) =
            if moved.is_ok() { (FenceState::Gone, FenceState::Arrived) } else { (FenceState::Lift, FenceState::Lift) };
        let lifts = futures::future::join(
            self.broadcast(a, Fence { dir: r.from.clone(), state: from_state, probe: false }),
            self.broadcast(a, Fence { dir: r.to.clone(), state: to_state, probe: false }),
        )
        .await;
        if let (Err(f), _) | (_, Err(f)) = lifts {
            tracing::warn!(error = %f.message, "a fence could not be lifted on every server");
        }
        moved
    }

    /// link(2): `l.to` becomes a further name of the file at `l.from`. The first link
    /// makes the file's inode record (at its inode owner) and turns this name's record
    /// into a pointer to it. Counted before the name is added, so a crash in between
    /// leaves a count too high (data kept), never a name without its data.
    pub(super) async fn link(&self, l: Link) -> Result<Attr, Fail> {
        let a = self.ring()?;
        if !a.owns_path(&l.from) {
            return Err(fail(Status::WrongOwner, format!("server {} does not hold {}", self.addr(), l.from)));
        }
        let _claim = self.claims.claim(&l.from).await;
        let src = {
            let fences = self.fences.read();
            check(&fences, &l.from)?;
            self.meta.get(&l.from)?
        };
        if src.is_dir() {
            return Err(fail(Status::Perm, format!("{}: a directory cannot have a second name", l.from)));
        }
        if l.from == l.to {
            // Said before anything is counted; an `Insert` would find the fresh pointer
            // just put at `from` and take it for its own (see `Insert`'s handler).
            return Err(fail(Status::Exists, l.to.clone()));
        }
        let fid = src.fid;
        // Its own ctime makes this pointer one of a kind: an `Insert` sent again finds it
        // there only if the first send landed (a further name that was already there
        // stays `Exists`). A pointer's times are never shown: the inode record's are.
        let pointer = Attr { linked: true, ctime: crate::meta::now(), ..src.clone() };
        let AttrReply(attr) = self.inode_op(fid, InodeLink { attr: src.clone() }).await?;
        if !src.linked {
            // Still ours: the claim kept every other change of it out.
            self.meta.insert(&l.from, &pointer, true)?;
        }
        let insert = Insert { path: l.to.clone(), attr: pointer, replace: false, bypass_fence: false };
        if let Err(f) = self.peer_again(&a, a.ring.meta_owner(&l.to), insert).await {
            if let Err(u) = self.inode_op(fid, InodeUnlink { fid }).await {
                tracing::warn!(error = %u.message, "could not take back the count of a failed link");
            }
            return Err(f);
        }
        self.touch_parent(&l.to, attr.ctime);
        Ok(attr)
    }

    /// Returns when the directory went: the time its parent's owner gets.
    pub(super) async fn rmdir(&self, path: &str) -> Result<(i64, u32), Fail> {
        let a = self.ring()?;
        if !a.owns_path(path) {
            return Err(fail(Status::WrongOwner, format!("server {} does not hold {path}", self.addr())));
        }
        let _claim = self.claims.claim(path).await;
        {
            let fences = self.fences.read();
            check(&fences, path)?;
            if !self.meta.get(path)?.is_dir() {
                return Err(fail(Status::NotDir, path.to_string()));
            }
        }
        let probe = Fence { dir: path.to_string(), state: FenceState::Hold, probe: true };
        let removed = match self.broadcast(&a, probe).await {
            Ok(held) if held.iter().any(|d| d.0 > 0) => Err(fail(Status::NotEmpty, path.to_string())),
            Ok(_) => {
                let removed = self.meta.remove(path, true).map(|_| crate::meta::now()).map_err(Fail::from);
                if let Ok(t) = removed {
                    self.touch_parent_counting(path, t, -1);
                }
                removed
            }
            Err(f) => Err(f),
        };
        let state = if removed.is_ok() { FenceState::Gone } else { FenceState::Lift };
        if let Err(f) = self.broadcast(&a, Fence { dir: path.to_string(), state, probe: false }).await {
            tracing::warn!(error = %f.message, "a fence could not be set on every server");
        }
        removed
    }

    /// Moves this server's records below `from` to the same places below `to` (under a
    /// fence: nothing new arrives below `from` meanwhile). Returns how many moved.
    pub(super) async fn move_tree(&self, from: &str, to: &str) -> Result<u32, Fail> {
        let a = self.ring()?;
        let moves = self.meta.descendants(from).into_iter().map(|old| {
            let a = a.clone();
            async move {
                // A rename of this very record may be half done: let it finish first.
                let _claim = self.claims.claim(&old).await;
                let Ok(attr) = self.meta.get(&old) else { return Ok::<u32, Fail>(0) };
                let new = format!("{to}{}", &old[from.len()..]);
                let owner = a.ring.meta_owner(&new);
                let fid = attr.fid;
                let insert = Insert { path: new.clone(), attr, replace: true, bypass_fence: true };
                self.peer_again(&a, owner, insert).await?;
                self.meta.take(&old)?;
                self.moves.record(&old, fid, &new);
                Ok(1)
            }
        });
        stream::iter(moves).buffer_unordered(MOVES_IN_FLIGHT).try_fold(0u32, |n, k| async move { Ok(n + k) }).await
    }
}
