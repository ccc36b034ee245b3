//! Metadata requests, each sent to the owner of its path. The changes that span servers
//! are coordinated in [`super::super::namespace`].

use super::{Handle, Payload};
use crate::proto::*;
use crate::server::node::{check, fail, Fail, Node, MAX_READDIR_PAGE};
use crate::server::{MetaStore, StoreError};

impl Handle for Create {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<Created, Fail> {
        node.own_path(&self.path)?;
        if self.chunk_size == 0 || self.chunk_size > frame::MAX_DATA {
            return Err(fail(Status::Invalid, format!("chunk size {}", self.chunk_size)));
        }
        let _claim = node.claims.claim(&self.path).await;
        let (attr, previous_size) = {
            let fences = node.fences.read();
            check(&fences, &self.path)?;
            let c = &self;
            node.meta.create(&c.path, c.mode, c.uid, c.gid, c.chunk_size, c.exclusive, c.truncate)?
        };
        if previous_size.is_none() {
            node.touch_parent(&self.path, attr.ctime);
        }
        if attr.linked {
            return node.open_linked(attr.fid, self.truncate).await;
        }
        Ok(Created { attr, previous_size })
    }
}

impl Handle for Mkdir {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<AttrReply, Fail> {
        node.mkdir(self).await.map(AttrReply)
    }
}

impl Handle for Stat {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<AttrReply, Fail> {
        if self.path == "/" {
            return Ok(AttrReply(Attr::root()));
        }
        node.own_path(&self.path)?;
        let attr = {
            let fences = node.fences.read();
            check(&fences, &self.path)?;
            node.meta.get(&self.path)?
        };
        Ok(AttrReply(node.resolve(attr).await?))
    }
}

impl Handle for Update {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<AttrReply, Fail> {
        let a = node.own_path(&self.path)?;
        let _claim = node.claims.claim(&self.path).await;
        let linked = {
            let fences = node.fences.read();
            let fenced = check(&fences, &self.path);
            if let Some(fid) = self.fid {
                let here = fenced.is_ok().then(|| node.meta.get(&self.path).ok()).flatten();
                let retry = matches!(&fenced, Err(f) if f.status == Status::Retry);
                if !retry && here.is_none_or(|a| a.fid != fid) {
                    return Err(match node.moves.find(&self.path, fid) {
                        Some(to) => fail(Status::Moved, to),
                        None => fail(Status::NotFound, self.path.clone()),
                    });
                }
            }
            fenced?;
            node.meta.linked_fid(&self.path)
        };
        // Still under the claim: the name cannot go away meanwhile.
        let attr = match linked {
            Some(fid) => node.inode_op(fid, InodeUpdate { fid, set: self.set.clone() }).await?.0,
            None => node.meta.set_attr(&self.path, &self.set)?,
        };
        if let (None, Some(size)) = (self.fid, self.set.size) {
            node.drop_truncated(&a, &attr, size).await?;
        }
        Ok(AttrReply(attr))
    }
}

impl Handle for Unlink {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<Changed, Fail> {
        node.own_path(&self.path)?;
        let _claim = node.claims.claim(&self.path).await;
        let attr = {
            let fences = node.fences.read();
            check(&fences, &self.path)?;
            node.meta.remove(&self.path, false)?
        };
        let hidden = crate::path::split(&self.path).is_some_and(|(_, n)| n.starts_with(crate::path::HIDDEN_PREFIX));
        // A mount's own hidden names (unlinked open files) are not shown: their
        // removal changes nothing anyone saw.
        let at = (!hidden).then(crate::meta::now);
        if let Some(t) = at {
            node.touch_parent(&self.path, t);
        }
        node.release(&attr).await;
        Ok(Changed { at, removed: Some(attr) })
    }
}

impl Handle for Rmdir {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<Changed, Fail> {
        let at = node.rmdir(&self.path).await?;
        Ok(Changed { at: Some(at), removed: None })
    }
}

impl Handle for Rename {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<Changed, Fail> {
        node.rename(self).await
    }
}

impl Handle for Readdir {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<Entries, Fail> {
        let (list, more) = {
            let fences = node.fences.read();
            if self.dir != "/" {
                check(&fences, &self.dir)?;
            }
            let limit = self.limit.clamp(1, MAX_READDIR_PAGE) as usize;
            node.meta.readdir(&self.dir, self.after.as_deref(), limit)?
        };
        let entries = if list.iter().any(|(_, a)| a.linked) {
            // Hard-linked files' attributes are in their inode records (one call
            // each: only pages holding linked files pay it).
            futures::future::try_join_all(list.into_iter().map(|(name, attr)| async move {
                Ok::<_, Fail>(DirEntryWire { name, attr: node.resolve(attr).await? })
            }))
            .await?
        } else {
            list.into_iter().map(|(name, attr)| DirEntryWire { name, attr }).collect()
        };
        Ok(Entries { entries, more })
    }
}

impl Handle for Symlink {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<AttrReply, Fail> {
        make_record(node, &self.path, |meta| meta.symlink(&self.path, &self.target, self.uid, self.gid)).await
    }
}

impl Handle for Mknod {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<AttrReply, Fail> {
        let m = &self;
        make_record(node, &m.path, |meta| meta.mknod(&m.path, m.kind, m.mode, m.rdev, m.uid, m.gid)).await
    }
}

/// A record without data (a symbolic link, a special file) made at `path` by `make`,
/// under the name's claim and past the fences.
async fn make_record(
    node: &Node,
    path: &str,
    make: impl FnOnce(&MetaStore) -> Result<Attr, StoreError>,
) -> Result<AttrReply, Fail> {
    node.own_path(path)?;
    let _claim = node.claims.claim(path).await;
    let fences = node.fences.read();
    check(&fences, path)?;
    let attr = make(&node.meta)?;
    node.touch_parent(path, attr.ctime);
    Ok(AttrReply(attr))
}

impl Handle for Link {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<AttrReply, Fail> {
        node.link(self).await.map(AttrReply)
    }
}
