//! A whole cluster in one process, for tests: N servers ([`Node`]s), each with its own
//! data directory, reaching each other over a [`LocalNet`], and clients connected the
//! same way. Every link (server to server, client to cluster) is a
//! [`crate::transport::faulty::FaultyTransport`] that a test can make drop, delay or
//! fail calls, or cut ([`InProcessCluster::partition`]); a server can be stopped and
//! started again from its data directory ([`InProcessCluster::restart`]). Nothing here
//! opens a socket, so on a current-thread runtime a test replays exactly.
//!
//! The servers' stores are files in their data directories unless the cluster starts
//! with other backends ([`InProcessCluster::start_with`]): memory
//! ([`InProcessCluster::start_in_memory`]), or a node's stores wrapped in injected
//! failures ([`StoreBackends::failing`]). A memory-backed server loses its data when it
//! stops, and [`InProcessCluster::start_node`] refuses to start it again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::proto::{AdoptRing, Op, ReplyBody, Request, Role};
use crate::server::{Node, StoreBackends, StoreError};
use crate::transport::local::{Link, LocalNet, Service};
use crate::Client;

/// One server of an [`InProcessCluster`], with its background work.
struct Member {
    node: Arc<Node>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), StoreError>>>,
}

/// Makes server `i`'s store backends, given its data directory.
pub type MakeStores = dyn Fn(usize, &Path) -> Result<StoreBackends, StoreError> + Send + Sync;

pub struct InProcessCluster {
    net: LocalNet,
    names: Vec<String>,
    dirs: Vec<PathBuf>,
    /// Server `i`, or None while it is stopped.
    members: Vec<Option<Member>>,
    /// Every client link made ([`InProcessCluster::client_with`]), for partitions.
    client_links: Mutex<Vec<Link>>,
    /// Makes server `i`'s store backends (again at a restart).
    stores: Arc<MakeStores>,
}

/// How long a stopping server waits for the requests it is serving (simulated time on a
/// paused clock) before it gives up on stopping.
const STOP_DRAIN: Duration = Duration::from_secs(600);

/// Makes the file ids the servers on this thread assign a sequence fixed by `seed`
/// (they are random otherwise): placement of chunks and inodes follows file ids, so a
/// seeded run on a current-thread runtime then replays exactly.
pub fn seed_file_ids(seed: u64) {
    crate::server::seed_file_ids(seed);
}

/// The member name of server `i` (host:port shaped, sorted in index order).
pub fn member_name(i: usize) -> String {
    format!("sim-{i:02}:{}", 7000 + i)
}

impl InProcessCluster {
    /// Starts `n` servers with data directories `base/node<i>` (made if missing) and forms
    /// their ring. Must run inside a tokio runtime.
    pub async fn start(base: &Path, n: usize) -> Result<InProcessCluster, String> {
        InProcessCluster::start_with(base, n, |_, dir| StoreBackends::files(dir)).await
    }

    /// [`InProcessCluster::start`] with every store in memory: nothing is written to
    /// `base` but each server's ring file.
    pub async fn start_in_memory(base: &Path, n: usize) -> Result<InProcessCluster, String> {
        InProcessCluster::start_with(base, n, |_, _| Ok(StoreBackends::memory())).await
    }

    /// [`InProcessCluster::start`] with server `i`'s stores on `stores(i, its data
    /// directory)`; e.g. one node's stores failing:
    /// `|i, d| Ok(if i == 0 { StoreBackends::files(d)?.failing(&faults) } else { StoreBackends::files(d)? })`.
    pub async fn start_with(
        base: &Path,
        n: usize,
        stores: impl Fn(usize, &Path) -> Result<StoreBackends, StoreError> + Send + Sync + 'static,
    ) -> Result<InProcessCluster, String> {
        let net = LocalNet::new();
        let names: Vec<String> = (0..n).map(member_name).collect();
        let dirs: Vec<PathBuf> = (0..n).map(|i| base.join(format!("node{i}"))).collect();
        let mut c = InProcessCluster {
            net,
            names,
            dirs,
            members: Vec::new(),
            client_links: Mutex::default(),
            stores: Arc::new(stores),
        };
        for i in 0..n {
            let m = c.open_member(i)?;
            c.members.push(Some(m));
        }
        for m in c.members.iter().flatten() {
            let req: Request = AdoptRing { members: c.names.clone(), formed: None }.into();
            let (reply, _) = m.node.serve(Role::Client, req, Vec::new()).await;
            <AdoptRing as Op>::Reply::from_reply(reply).map_err(|r| format!("forming the ring: {r}"))?;
        }
        Ok(c)
    }

    fn open_member(&self, i: usize) -> Result<Member, String> {
        let name = &self.names[i];
        std::fs::create_dir_all(&self.dirs[i]).map_err(|e| e.to_string())?;
        let stores = (self.stores)(i, &self.dirs[i]).map_err(|e| e.to_string())?;
        // Server i ran before (the cluster has all its members): a restart.
        if self.members.len() > i && !stores.meta.on_disk() {
            return Err(format!("server {i} keeps its stores in memory: it cannot be restarted with its data"));
        }
        let node =
            Node::open_with(stores, &self.dirs[i], name, None, self.net.peers_of(name)).map_err(|e| e.to_string())?;
        let node = Arc::new(node);
        let service: Arc<dyn Service> = node.clone();
        self.net.attach(&service);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(crate::server::run_in_process(node.clone(), async {
            let _ = rx.await;
        }));
        Ok(Member { node, stop: Some(tx), task: Some(task) })
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn net(&self) -> &LocalNet {
        &self.net
    }

    /// Server `i`'s node; None while it is stopped.
    pub fn node(&self, i: usize) -> Option<&Arc<Node>> {
        self.members[i].as_ref().map(|m| &m.node)
    }

    pub fn is_up(&self, i: usize) -> bool {
        self.members[i].is_some()
    }

    /// Stops server `i` as a clean shutdown would: it leaves the net at once (calls to it
    /// fail as unreachable; calls it is serving are finished but their replies are lost),
    /// its background work ends, and once nothing serves through it any more its stores
    /// are flushed and closed. Nothing is lost that a restart would not find.
    pub async fn stop_node(&mut self, i: usize) -> Result<(), String> {
        let Some(mut m) = self.members[i].take() else { return Ok(()) };
        self.net.detach(&self.names[i]);
        finish(&mut m).await?;
        // Requests that reached it before the stop still hold it: let them end (they fail
        // or finish on their own, driven by the paused clock), so that the next open of
        // the data directory is the only one.
        let mut waited = Duration::ZERO;
        while Arc::strong_count(&m.node) > 1 {
            if waited > STOP_DRAIN {
                return Err(format!("server {i} still serves requests {} s after its stop", waited.as_secs()));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
            waited += Duration::from_millis(1);
        }
        // What those requests changed after the stop's own flush.
        m.node.flush().map_err(|e| e.to_string())
    }

    /// Starts server `i` again from its data directory (it finds its ring there).
    pub fn start_node(&mut self, i: usize) -> Result<(), String> {
        if self.members[i].is_none() {
            self.members[i] = Some(self.open_member(i)?);
        }
        Ok(())
    }

    /// Stops server `i` and starts it again (see [`InProcessCluster::stop_node`]).
    pub async fn restart(&mut self, i: usize) -> Result<(), String> {
        self.stop_node(i).await?;
        self.start_node(i)
    }

    /// Cuts server `i` off: every client's link and every other server's link to it,
    /// and its own links to the others, until [`InProcessCluster::heal`].
    pub fn partition(&self, i: usize) {
        for link in self.links_to() {
            link.cut(i);
        }
        for link in self.net.links_of(&self.names[i]) {
            (0..self.len()).filter(|&j| j != i).for_each(|j| link.cut(j));
        }
    }

    /// Ends every partition (of servers and of single links).
    pub fn heal(&self) {
        for link in self.links_to() {
            link.heal(None);
        }
    }

    /// Every link that calls servers: the clients' and every server's peer links.
    fn links_to(&self) -> Vec<Link> {
        let mut links = self.client_links.lock().unwrap_or_else(|p| p.into_inner()).clone();
        links.extend(self.names.iter().flat_map(|n| self.net.links_of(n)));
        links
    }

    /// A client of the cluster (`tune` adjusts its configuration) and its link, on which
    /// faults can be injected.
    pub fn client_with(&self, tune: impl FnOnce(&mut Config)) -> Result<(Client, Link), String> {
        let mut cfg = Config::new(self.names.clone()).map_err(|e| e.to_string())?;
        tune(&mut cfg);
        let link = self.net.client(self.names.clone());
        self.client_links.lock().unwrap_or_else(|p| p.into_inner()).push(link.clone());
        Ok((Client::with_transport(cfg, link.clone()), link))
    }

    /// The peer link of server `i` (its calls to the other members); a restarted server
    /// has a new one.
    pub fn peer_link(&self, i: usize) -> Option<Link> {
        self.net.links_of(&self.names[i]).pop()
    }

    /// Stops every server: background work ends, the stores are flushed.
    pub async fn stop(mut self) -> Result<(), String> {
        for m in self.members.iter().flatten() {
            self.net.detach(m.node.addr());
        }
        for m in self.members.iter_mut().flatten() {
            finish(m).await?;
        }
        Ok(())
    }
}

/// Ends a member's background work, which flushes its stores.
async fn finish(m: &mut Member) -> Result<(), String> {
    if let Some(tx) = m.stop.take() {
        let _ = tx.send(());
    }
    if let Some(t) = m.task.take() {
        t.await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
    }
    Ok(())
}
