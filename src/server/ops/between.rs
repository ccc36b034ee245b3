//! What only servers send each other ([`Class::Peer`]): the halves of coordinated
//! changes, chunk drops, batched parent times, and hard-linked files' inode records,
//! which live at the owner of the file id.

use super::{Handle, Payload};
use crate::proto::*;
use crate::server::node::{check, Fail, Node};

impl Handle for Insert {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<Removed, Fail> {
        node.own_path(&self.path)?;
        let old = {
            let fences = node.fences.read();
            if node.meta.get(&self.path).is_ok_and(|now| now == self.attr) {
                // This very record is there: an earlier send of this Insert landed and its
                // reply was lost (`Node::peer_again`). A coordinator's record is one of a
                // kind (a rename's has its new ctime, a link's pointer the link's time), so
                // nothing else put it there. Done, as it was then; what it replaced then
                // is not known any more.
                return Ok(Removed(None));
            }
            if !self.bypass_fence {
                check(&fences, &self.path)?;
            }
            node.meta.insert(&self.path, &self.attr, self.replace)?
        };
        // What arrived is what the name holds now (see `Moves::arrived`).
        node.moves.arrived(&self.path, self.attr.fid);
        if let Some(o) = old.as_ref().filter(|o| o.fid != self.attr.fid) {
            node.release(o).await;
        }
        Ok(Removed(old))
    }
}

impl Handle for Fence {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<Done, Fail> {
        node.fences.set(&self.dir, self.state);
        node.dir_ids.forget_below(&self.dir);
        let held = self.probe && !node.meta.readdir(&self.dir, None, 1)?.0.is_empty();
        Ok(Done(u32::from(held)))
    }
}

impl Handle for MoveTree {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<Done, Fail> {
        node.move_tree(&self.from, &self.to).await.map(Done)
    }
}

impl Handle for DropFiles {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<Done, Fail> {
        // Before the chunks go: see `tombstones` for why the order matters.
        node.dropped.add(&node.meta, &self.fids)?;
        for fid in self.fids {
            node.chunks.truncate(fid, 0, 1)?;
        }
        Ok(Done(0))
    }
}

impl Handle for Touch {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<Done, Fail> {
        let a = node.ring()?;
        let mut changed = 0u32;
        // Not fenced nor claimed: a time can only move forward, and a touch
        // that lands on a record being moved is lost with its old copy.
        for (dir, t) in self.dirs.iter().filter(|(d, _)| a.owns_path(d)) {
            changed += u32::from(node.meta.touch_dir(dir, *t)?);
        }
        for (dir, n) in self.subdirs.iter().filter(|(d, _)| a.owns_path(d)) {
            node.meta.count_subdirs(dir, *n)?;
        }
        Ok(Done(changed))
    }
}

impl Handle for InodeLink {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<AttrReply, Fail> {
        node.own_inode(self.attr.fid)?;
        Ok(AttrReply(node.meta.inode_link(&self.attr)?))
    }
}

impl Handle for InodeStat {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<AttrReply, Fail> {
        node.own_inode(self.fid)?;
        Ok(AttrReply(node.meta.inode(self.fid)?))
    }
}

impl Handle for InodeUpdate {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<AttrReply, Fail> {
        node.own_inode(self.fid)?;
        Ok(AttrReply(node.meta.inode_set(self.fid, &self.set)?))
    }
}

impl Handle for InodeUnlink {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<Removed, Fail> {
        node.own_inode(self.fid)?;
        let left = node.meta.inode_unlink(self.fid)?;
        if left.nlink > 0 {
            return Ok(Removed(Some(left)));
        }
        node.forget_file(&left);
        Ok(Removed(None))
    }
}
