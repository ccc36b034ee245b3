//! A whole cluster in one process, for tests: N servers ([`Node`]s), each with its own
//! data directory, reaching each other over a [`LocalNet`], and clients connected the
//! same way. Every link (server to server, client to cluster) is a
//! [`crate::transport::faulty::FaultyTransport`] that a test can make drop, delay or
//! fail calls. Nothing here opens a socket, so on a current-thread runtime a test
//! replays exactly.
//!
//! The servers' stores are files in their data directories unless the cluster starts
//! with other backends ([`InProcessCluster::start_with`]): memory
//! ([`InProcessCluster::start_in_memory`]), or a node's stores wrapped in injected
//! failures ([`StoreBackends::failing`]). A memory-backed server loses its data when it
//! stops: it cannot be restarted with it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    members: Vec<Member>,
    stores: Arc<MakeStores>,
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
        let mut c = InProcessCluster { net, names, dirs, members: Vec::new(), stores: Arc::new(stores) };
        for i in 0..n {
            let m = c.open_member(i)?;
            c.members.push(m);
        }
        for m in &c.members {
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

    pub fn node(&self, i: usize) -> &Arc<Node> {
        &self.members[i].node
    }

    /// A client of the cluster (`tune` adjusts its configuration) and its link, on which
    /// faults can be injected.
    pub fn client_with(&self, tune: impl FnOnce(&mut Config)) -> Result<(Client, Link), String> {
        let mut cfg = Config::new(self.names.clone()).map_err(|e| e.to_string())?;
        tune(&mut cfg);
        let link = self.net.client(self.names.clone());
        Ok((Client::with_transport(cfg, link.clone()), link))
    }

    /// The peer link of server `i` (its calls to the other members).
    pub fn peer_link(&self, i: usize) -> Option<Link> {
        self.net.links_of(&self.names[i]).pop()
    }

    /// Stops every server: background work ends, the stores are flushed.
    pub async fn stop(mut self) -> Result<(), String> {
        for m in &mut self.members {
            self.net.detach(m.node.addr());
            if let Some(tx) = m.stop.take() {
                let _ = tx.send(());
            }
        }
        for m in &mut self.members {
            if let Some(t) = m.task.take() {
                t.await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }
}
