//! Dispatch of one request to the stores. Every request gets exactly one reply;
//! store failures become `Reply::Error` with a protocol status, never a panic.

use super::connection::error_reply;
use super::{State, StoreError};
use crate::proto::frame::PROTOCOL_VERSION;
use crate::proto::{DirEntryWire, Reply, Request, StatFs, Status};

/// Largest readdir page a server sends, whatever the client asks for.
const MAX_READDIR_PAGE: u32 = 1024;

#[tracing::instrument(level = "trace", skip_all, fields(op = req.name()))]
pub async fn handle(state: &State, req: Request, data: Vec<u8>) -> (Reply, Vec<u8>) {
    match dispatch(state, req, data).await {
        Ok(r) => r,
        Err(e) => {
            let status = e.status();
            match status {
                Status::Io | Status::NoSpace | Status::Corrupt => tracing::warn!(error = %e, "request failed"),
                _ => tracing::debug!(error = %e, "request failed"),
            }
            (error_reply(status, e.to_string()), Vec::new())
        }
    }
}

fn reply(r: Reply) -> Result<(Reply, Vec<u8>), StoreError> {
    Ok((r, Vec::new()))
}

async fn dispatch(state: &State, req: Request, data: Vec<u8>) -> Result<(Reply, Vec<u8>), StoreError> {
    if !data.is_empty() && !matches!(req, Request::Write { .. }) {
        return Err(StoreError::Status(Status::Invalid, format!("{} takes no payload", req.name())));
    }
    match req {
        Request::Ping => reply(Reply::Pong { version: PROTOCOL_VERSION }),
        // The connection answers these itself, before any request reaches the stores.
        Request::Hello { .. } | Request::Auth { .. } => {
            Err(StoreError::Status(Status::Invalid, "handshake out of place".into()))
        }
        Request::Create { path, mode, uid, gid, chunk_size, exclusive, truncate } => {
            if chunk_size == 0 {
                return Err(StoreError::Status(Status::Invalid, "chunk size 0".into()));
            }
            let (attr, previous_size) = state.meta.create(&path, mode, uid, gid, chunk_size, exclusive, truncate)?;
            reply(Reply::Created { attr, previous_size })
        }
        Request::Mkdir { path, mode, uid, gid } => reply(Reply::Attr(state.meta.mkdir(&path, mode, uid, gid)?)),
        Request::Stat { path } => reply(Reply::Attr(state.meta.get(&path)?)),
        Request::SetAttr { path, set } => reply(Reply::Attr(state.meta.set_attr(&path, &set)?)),
        Request::Remove { path, dir } => reply(Reply::Removed(Some(state.meta.remove(&path, dir)?))),
        Request::Insert { path, attr, replace } => reply(Reply::Removed(state.meta.insert(&path, &attr, replace)?)),
        Request::Readdir { dir, after, limit } => {
            let (list, more) = state.meta.readdir(&dir, after.as_deref(), limit.clamp(1, MAX_READDIR_PAGE) as usize)?;
            let entries = list.into_iter().map(|(name, attr)| DirEntryWire { name, attr }).collect();
            reply(Reply::Entries { entries, more })
        }
        Request::Write { fid, index, offset, .. } => {
            let n = u32::try_from(data.len())
                .map_err(|_| StoreError::Status(Status::Invalid, "payload too large".into()))?;
            state.chunks.write(fid, index, offset, &data)?;
            reply(Reply::Done(n))
        }
        Request::Read { fid, index, offset, len } => {
            if len > crate::proto::frame::MAX_DATA {
                return Err(StoreError::Status(
                    Status::Invalid,
                    format!("read of {len} bytes exceeds the frame limit"),
                ));
            }
            let v = state.chunks.read(fid, index, offset, len)?;
            let n = u32::try_from(v.len()).unwrap_or(u32::MAX);
            Ok((Reply::Done(n), v))
        }
        Request::TruncateChunks { fid, size, chunk_size } => {
            state.chunks.truncate(fid, size, chunk_size)?;
            reply(Reply::Done(0))
        }
        Request::Fsync { fid } => {
            blocking(state, move |s| {
                match fid {
                    Some(f) => s.chunks.sync_file(f)?,
                    None => s.chunks.sync_all()?,
                }
                s.meta.sync()
            })
            .await?;
            reply(Reply::Done(0))
        }
        Request::StatFs { detail } => {
            let (total_bytes, free_bytes, avail_bytes) = state.chunks.space()?;
            let (chunks, chunk_bytes) = if detail { state.chunks.usage()? } else { (0, 0) };
            let inodes = state.meta.count()?;
            reply(Reply::StatFs(StatFs { total_bytes, free_bytes, avail_bytes, chunks, chunk_bytes, inodes }))
        }
    }
}

/// Runs device-waiting work (fsync) without stalling the other tasks of a worker.
async fn blocking(state: &State, f: impl FnOnce(&State) -> Result<(), StoreError>) -> Result<(), StoreError> {
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::CurrentThread => f(state),
        _ => tokio::task::block_in_place(|| f(state)),
    }
}
