//! Chunk data, sent to the owner of (file id, chunk index), and a server's own state.

use super::{Handle, Payload};
use crate::proto::*;
use crate::server::backend::device::blocking;
use crate::server::node::{fail, Fail, Node};
use crate::server::StoreError;

impl Handle for Write {
    async fn handle(self, node: &Node, io: &mut Payload) -> Result<Done, Fail> {
        node.own_chunk(self.fid, self.index)?;
        let data = std::mem::take(&mut io.request);
        let n = u32::try_from(data.len()).map_err(|_| fail(Status::Invalid, "payload too large"))?;
        node.refuse_dropped(self.fid)?;
        node.chunks.write(self.fid, self.index, self.offset, &data)?;
        if node.dropped.contains(self.fid) {
            // Dropped while this wrote: the drop may have run before these bytes
            // landed, so they go too.
            node.chunks.truncate(self.fid, 0, 1)?;
            node.refuse_dropped(self.fid)?;
        }
        Ok(Done(n))
    }
}

impl Handle for Read {
    async fn handle(self, node: &Node, io: &mut Payload) -> Result<Done, Fail> {
        let a = node.own_chunk(self.fid, self.index)?;
        node.refuse_dropped(self.fid)?;
        if self.len > frame::MAX_DATA {
            return Err(fail(Status::Invalid, format!("read of {} bytes exceeds the frame limit", self.len)));
        }
        let v = node.chunks.read(self.fid, self.index, self.offset, self.len)?;
        if v.is_empty() && a.replaced && !node.chunks.has_chunk(self.fid, self.index) {
            return Err(fail(
                Status::Lost,
                format!(
                    "chunk {} of {:032x}: server {} replaced a lost member and does not hold it",
                    self.index,
                    self.fid,
                    node.addr()
                ),
            ));
        }
        let n = u32::try_from(v.len()).unwrap_or(u32::MAX);
        io.reply = v;
        Ok(Done(n))
    }
}

impl Handle for TruncateChunks {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<Done, Fail> {
        node.chunks.truncate(self.fid, self.size, self.chunk_size)?;
        Ok(Done(0))
    }
}

impl Handle for Fsync {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<Done, Fail> {
        blocking(move || {
            match self.fid {
                Some(fid) => node.chunks.sync_file(fid)?,
                None => node.chunks.sync_all()?,
            }
            node.sync_meta()
        })?;
        Ok(Done(0))
    }
}

impl Handle for Usage {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<UsageReply, Fail> {
        let (total_bytes, free_bytes, avail_bytes) = node.chunks.space().map_err(StoreError::from)?;
        let (chunks, chunk_bytes) = if self.detail { node.chunks.usage().map_err(StoreError::from)? } else { (0, 0) };
        let inodes = node.meta.count()?;
        Ok(UsageReply(StatFs { total_bytes, free_bytes, avail_bytes, chunks, chunk_bytes, inodes }))
    }
}
