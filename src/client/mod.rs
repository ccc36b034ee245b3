//! The async client: the namespace operations of BenchFS over the servers' RPCs.
//!
//! Metadata requests go to the owner of the path ([`Ring::meta_owner`]); data
//! requests go to the owner of each chunk; readdir, statfs and emptiness checks
//! fan out to every server. See [`File`] for reads and writes.

mod dir_cache;
mod file;
mod namespace;
mod pool;

use std::sync::Arc;

use futures::future::join_all;

pub use file::File;
pub use namespace::OpenOptions;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::placement::Ring;
use crate::proto::{Attr, FileId, Reply, Request, StatFs};
use pool::Pool;

/// A directory entry as returned by [`Client::readdir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub attr: Attr,
}

/// Handle to a cluster. Cheap to clone; all clones share connections.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    ring: Ring,
    dirs: dir_cache::DirCache,
}

/// One server's answer to [`Client::server_status`].
#[derive(Debug)]
pub struct ServerStatus {
    pub addr: String,
    pub result: Result<StatFs>,
}

impl Client {
    /// Builds a client and checks that every server answers; the error names the
    /// first server that does not.
    pub async fn connect(cfg: Config) -> Result<Client> {
        let c = Client::new_lazy(cfg);
        for r in join_all((0..c.server_count()).map(|i| c.call(i, Request::Ping, &[]))).await {
            r?;
        }
        Ok(c)
    }

    /// Builds a client without contacting anyone; connections open on first use.
    pub fn new_lazy(cfg: Config) -> Client {
        let ring = Ring::new(&cfg.servers);
        let dirs = dir_cache::DirCache::new(cfg.dir_cache_ttl);
        Client { inner: Arc::new(Inner { pool: Pool::new(cfg), ring, dirs }) }
    }

    pub fn config(&self) -> &Config {
        self.inner.pool.config()
    }

    pub fn servers(&self) -> &[String] {
        &self.config().servers
    }

    pub fn server_count(&self) -> usize {
        self.servers().len()
    }

    pub fn ring(&self) -> &Ring {
        &self.inner.ring
    }

    /// One request to server `i`.
    pub(crate) async fn call(&self, i: usize, req: Request, data: &[u8]) -> Result<(Reply, Vec<u8>)> {
        let conn = self.inner.pool.get(i).await?;
        conn.call(&req, data).await
    }

    /// One request to the metadata owner of `path`.
    async fn meta_call(&self, path: &str, req: Request) -> Result<Reply> {
        Ok(self.call(self.ring().meta_owner(path), req, &[]).await?.0)
    }

    /// The same request to every server, answers in server order.
    async fn fan_out(&self, req: Request) -> Vec<Result<Reply>> {
        join_all((0..self.server_count()).map(|i| {
            let req = req.clone();
            async move { Ok(self.call(i, req, &[]).await?.0) }
        }))
        .await
    }

    /// Drops the chunks of `fid` at or beyond `size`. With `known_end`, only the servers
    /// that can hold chunks of bytes `size..known_end` are asked (cheap for small files);
    /// without, every server is (safe when unpublished writes may lie past the size).
    async fn truncate_chunks(&self, fid: FileId, chunk_size: u32, size: u64, known_end: Option<u64>) -> Result<()> {
        let cs = u64::from(chunk_size.max(1));
        let n = self.server_count();
        let mut targets = vec![known_end.is_none(); n];
        if let Some(end) = known_end {
            let (first, last) = (size / cs, end.div_ceil(cs));
            if last - first.min(last) > 4 * n as u64 {
                targets.iter_mut().for_each(|t| *t = true);
            } else {
                (first..last).for_each(|k| targets[self.ring().chunk_owner(fid, k)] = true);
            }
        }
        let req = Request::TruncateChunks { fid, size, chunk_size };
        let calls = targets.iter().enumerate().filter(|(_, t)| **t).map(|(i, _)| self.call(i, req.clone(), &[]));
        for r in join_all(calls).await {
            r?;
        }
        Ok(())
    }

    /// Space summed over all servers (the detail walk is skipped: this serves `df`).
    pub async fn statfs(&self) -> Result<StatFs> {
        let mut sum = StatFs::default();
        for r in self.fan_out(Request::StatFs { detail: false }).await {
            let Reply::StatFs(s) = r? else { return Err(unexpected("statfs")) };
            sum.total_bytes += s.total_bytes;
            sum.free_bytes += s.free_bytes;
            sum.avail_bytes += s.avail_bytes;
            sum.inodes += s.inodes;
        }
        Ok(sum)
    }

    /// Every server's usage with chunk counts, or why it could not be reached.
    pub async fn server_status(&self) -> Vec<ServerStatus> {
        let rs = self.fan_out(Request::StatFs { detail: true }).await;
        self.servers()
            .iter()
            .zip(rs)
            .map(|(addr, r)| ServerStatus {
                addr: addr.clone(),
                result: r.and_then(|r| match r {
                    Reply::StatFs(s) => Ok(s),
                    _ => Err(unexpected("statfs")),
                }),
            })
            .collect()
    }

    /// Makes all metadata and data on every server durable.
    pub async fn sync_all(&self) -> Result<()> {
        for r in self.fan_out(Request::Fsync { fid: None }).await {
            r?;
        }
        Ok(())
    }
}

fn unexpected(op: &str) -> Error {
    Error::Io(format!("unexpected reply to {op}"))
}
