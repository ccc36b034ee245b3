//! The async client: the namespace operations of BenchFS over the servers' RPCs.
//!
//! Metadata requests go to the owner of the path ([`Ring::meta_owner`]); data
//! requests go to the owner of each chunk; readdir, statfs and emptiness checks
//! fan out to every server. See [`File`] for reads and writes.

mod dir_cache;
mod file;
mod namespace;
mod walk;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use file::File;
pub use namespace::OpenOptions;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::fan_out;
use crate::meta::{Attr, FileId};
use crate::placement::Ring;
use crate::proto::{Expecting, Fsync, Op, Ping, Reply, ReplyBody, Request, StatFs, TruncateChunks, Usage};
use crate::transport::per_thread::PerThreadTcp;
use crate::transport::tcp::{TcpOptions, TcpTransport};
use crate::transport::Transport;

/// Longest pause between two tries of a request that met a moving directory.
const MAX_RETRY_PAUSE: Duration = Duration::from_millis(50);

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
    /// Paths and the ids they must still hold for this client's metadata requests to be
    /// served ([`Client::expecting`]); empty for a plain client.
    expect: Arc<[(String, FileId)]>,
}

struct Inner {
    cfg: Config,
    transport: Arc<dyn Transport>,
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
    /// Builds a client and checks that every server answers (and serves this client's
    /// ring); the error names the first server that does not.
    pub async fn connect(cfg: Config) -> Result<Client> {
        Client::new_lazy(cfg).checked().await
    }

    /// [`Client::connect`] with connections of its own for each calling thread
    /// ([`PerThreadTcp`]): for long-lived threads that each drive a current-thread runtime.
    pub async fn connect_per_thread(cfg: Config) -> Result<Client> {
        let opts = Client::tcp_options(&cfg);
        let transport = Arc::new(PerThreadTcp::new(cfg.servers.clone(), opts));
        Client::with_transport(cfg, transport).checked().await
    }

    /// This client, once every server has answered.
    async fn checked(self) -> Result<Client> {
        for r in fan_out::each(self.server_count(), |i| self.op(i, Ping {})).await {
            r?;
        }
        Ok(self)
    }

    /// Builds a client over TCP without contacting anyone; connections open on first use.
    pub fn new_lazy(cfg: Config) -> Client {
        let opts = Client::tcp_options(&cfg);
        let transport = Arc::new(TcpTransport::new(cfg.servers.clone(), opts).forming(cfg.form_ring));
        Client::with_transport(cfg, transport)
    }

    fn tcp_options(cfg: &Config) -> TcpOptions {
        // One descriptor per server: a client of a large cluster needs more than 1024.
        crate::fd_limit::raise_once();
        TcpOptions { timeout: cfg.timeout, max_in_flight: cfg.max_in_flight, secret: cfg.secret.clone() }
    }

    /// Builds a client over any transport; its server list must be `cfg.servers`.
    pub fn with_transport(mut cfg: Config, transport: Arc<dyn Transport>) -> Client {
        cfg.servers = transport.servers().to_vec();
        let ring = Ring::new(&cfg.servers);
        let dirs = dir_cache::DirCache::new(cfg.dir_cache_ttl);
        Client { inner: Arc::new(Inner { cfg, transport, ring, dirs }), expect: Arc::new([]) }
    }

    /// This client, with every metadata request it sends made on behalf of known files:
    /// served only while each path of `expect` still holds the record with that id (the
    /// root is id 0), else failing with [`Error::Stale`] (or [`Error::Moved`] with where
    /// the one named record went). What a mount sends for a kernel inode, and an open
    /// handle for its file, so that neither acts on another file that took the name.
    pub fn expecting(&self, expect: Vec<(String, FileId)>) -> Client {
        Client { inner: self.inner.clone(), expect: expect.into() }
    }

    /// This client without expectations (what an open handle keeps: it checks its own
    /// file id, at whatever path the file is by then).
    fn plain(&self) -> Client {
        Client { inner: self.inner.clone(), expect: Arc::new([]) }
    }

    pub fn config(&self) -> &Config {
        &self.inner.cfg
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

    /// One request to server `i`. A server fencing the path (a directory above it is
    /// being moved) answers `Retry`: sent again with backoff until the deadline.
    pub(crate) async fn call(&self, i: usize, req: Request, data: &[u8]) -> Result<(Reply, Vec<u8>)> {
        let deadline = Instant::now() + self.config().timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            match self.inner.transport.call(i, &req, data).await {
                Err(Error::Retry(_)) if Instant::now() + pause < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_RETRY_PAUSE);
                }
                Err(Error::Retry(m)) => {
                    return Err(Error::Timeout {
                        server: format!("{} ({m})", self.servers()[i]),
                        op: req.name(),
                        secs: self.config().timeout.as_secs_f64(),
                    })
                }
                r => return r,
            }
        }
    }

    /// One typed request with a payload; the reply must be the request's reply type.
    pub(crate) async fn op_data<O: Op>(&self, i: usize, op: O, data: &[u8]) -> Result<(O::Reply, Vec<u8>)> {
        let (reply, payload) = self.call(i, op.into(), data).await?;
        let body = O::Reply::from_reply(reply).map_err(|got| Error::Protocol {
            server: self.servers()[i].clone(),
            reason: format!("{} answered with {got}", O::NAME),
        })?;
        Ok((body, payload))
    }

    /// One typed request to server `i`.
    pub(crate) async fn op<O: Op>(&self, i: usize, op: O) -> Result<O::Reply> {
        Ok(self.op_data(i, op, &[]).await?.0)
    }

    /// One typed request to the metadata owner of `path`.
    async fn meta_op<O: Op>(&self, path: &str, op: O) -> Result<O::Reply> {
        self.named_op(self.ring().meta_owner(path), op).await
    }

    /// One typed metadata request to server `i`, with this client's expectations.
    async fn named_op<O: Op>(&self, i: usize, op: O) -> Result<O::Reply> {
        if self.expect.is_empty() {
            return self.op(i, op).await;
        }
        self.op(i, Expecting { expect: self.expect.to_vec(), op }).await
    }

    /// The same request to every server, answers in server order.
    async fn fan_out<O: Op + Clone>(&self, op: O) -> Vec<Result<O::Reply>> {
        fan_out::each(self.server_count(), |i| self.op(i, op.clone())).await
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
        let req = TruncateChunks { fid, size, chunk_size };
        let targets: Vec<usize> = targets.iter().enumerate().filter_map(|(i, t)| t.then_some(i)).collect();
        for r in fan_out::all(targets.into_iter().map(|i| self.op(i, req.clone()))).await {
            r?;
        }
        Ok(())
    }

    /// Space summed over all servers (the detail walk is skipped: this serves `df`).
    pub async fn statfs(&self) -> Result<StatFs> {
        let mut sum = StatFs::default();
        for r in self.fan_out(Usage { detail: false }).await {
            let s = r?.0;
            sum.total_bytes += s.total_bytes;
            sum.free_bytes += s.free_bytes;
            sum.avail_bytes += s.avail_bytes;
            sum.inodes += s.inodes;
        }
        Ok(sum)
    }

    /// Every server's usage with chunk counts, or why it could not be reached.
    pub async fn server_status(&self) -> Vec<ServerStatus> {
        let rs = self.fan_out(Usage { detail: true }).await;
        self.servers()
            .iter()
            .zip(rs)
            .map(|(addr, r)| ServerStatus { addr: addr.clone(), result: r.map(|u| u.0) })
            .collect()
    }

    /// The ring each server serves (None: it has none yet), asked without adopting
    /// anything, or why it could not be asked.
    pub async fn server_rings(&self) -> Vec<Result<Option<crate::proto::RingId>>> {
        let probe = TcpTransport::new(self.servers().to_vec(), Client::tcp_options(self.config()));
        fan_out::each(self.server_count(), |i| probe.ring_of(i)).await
    }

    /// Makes all metadata and data on every server durable.
    pub async fn sync_all(&self) -> Result<()> {
        for r in self.fan_out(Fsync { fid: None }).await {
            r?;
        }
        Ok(())
    }
}
