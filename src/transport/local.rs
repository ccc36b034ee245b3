//! Servers in the same process: requests go straight to their handlers, with no socket,
//! no framing and no handshake. One server alone is the embedded mount's path; a
//! [`LocalNet`] of several is a whole cluster in one process (the simulation's), where
//! each server reaches its peers through the net, every link behind a
//! [`FaultyTransport`] that tests can make misbehave.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};

use super::faulty::FaultyTransport;
use super::{BoxFuture, Peers, Transport};
use crate::error::{Error, Result};
use crate::proto::{unwrap_reply, Reply, Request, RingId, Role};

/// What a [`LocalTransport`] calls: a server's request handler (`server::Node`).
pub trait Service: Send + Sync + 'static {
    /// The server's name in its ring.
    fn name(&self) -> &str;

    /// The ring the server serves (None: none yet).
    fn ring(&self) -> Option<RingId>;

    /// Serves one request from a caller in `role`: every request gets one reply.
    fn serve(&self, role: Role, req: Request, data: Vec<u8>) -> BoxFuture<'_, (Reply, Vec<u8>)>;
}

enum Targets {
    One(Arc<dyn Service>),
    Net(LocalNet),
}

pub struct LocalTransport {
    targets: Targets,
    servers: Vec<String>,
    role: Role,
}

impl LocalTransport {
    /// A transport to `service`, which must serve a one-member ring. Its calls are a
    /// client's ([`Role::Client`]).
    pub fn new(service: Arc<dyn Service>) -> LocalTransport {
        let servers = vec![service.name().to_string()];
        LocalTransport { targets: Targets::One(service), servers, role: Role::Client }
    }

    /// A transport to the servers named `servers` on `net`, calling in `role`. A server
    /// not on the net (not started yet, or stopped) is unreachable.
    pub fn on(net: &LocalNet, servers: Vec<String>, role: Role) -> LocalTransport {
        LocalTransport { targets: Targets::Net(net.clone()), servers, role }
    }

    /// The server to call and, on a net, the generation it was attached in.
    fn service(&self, server: usize) -> Result<(Arc<dyn Service>, Option<u64>)> {
        match &self.targets {
            Targets::One(s) => Ok((s.clone(), None)),
            Targets::Net(net) => net.service(self.name(server)).map(|(s, g)| (s, Some(g))),
        }
    }

    fn name(&self, server: usize) -> &str {
        self.servers.get(server).map(String::as_str).unwrap_or_default()
    }
}

impl Transport for LocalTransport {
    fn servers(&self) -> &[String] {
        &self.servers
    }

    fn call<'a>(&'a self, server: usize, req: &'a Request, data: &'a [u8]) -> BoxFuture<'a, Result<(Reply, Vec<u8>)>> {
        Box::pin(async move {
            let (service, generation) = self.service(server)?;
            let (reply, data) = service.serve(self.role, req.clone(), data.to_vec()).await;
            if let (Targets::Net(net), Some(g)) = (&self.targets, generation) {
                if !net.is_attached(self.name(server), g) {
                    // Stopped while serving this call: the work is done, the reply lost
                    // with the connection (as a real server stopping mid-request).
                    let reason = "the server stopped while serving the call".to_string();
                    return Err(Error::ConnectionLost { server: self.name(server).to_string(), reason });
                }
            }
            unwrap_reply(reply, data)
        })
    }
}

/// A link of a [`LocalNet`]: calls from one caller to the servers of a ring.
pub type Link = Arc<FaultyTransport<LocalTransport>>;

/// Servers of one process, by name, and the links between them. Cheap to clone (shared).
/// Servers are held weakly: the net does not keep a stopped server alive.
#[derive(Clone, Default)]
pub struct LocalNet {
    inner: Arc<NetInner>,
}

/// A server on the net and the generation it was attached in.
type Attached = (Weak<dyn Service>, u64);

#[derive(Default)]
struct NetInner {
    /// Each server and the generation it was attached in (a restarted server has a new
    /// one, so calls that reached the stopped one can tell).
    services: RwLock<HashMap<String, Attached>>,
    generations: std::sync::atomic::AtomicU64,
    /// Every peer link made so far, by the name of the server that calls through it.
    links: Mutex<Vec<(String, Link)>>,
}

impl LocalNet {
    pub fn new() -> LocalNet {
        LocalNet::default()
    }

    /// Puts `service` on the net under its name (replacing a stopped one of that name).
    pub fn attach(&self, service: &Arc<dyn Service>) {
        let generation = self.inner.generations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut services = self.inner.services.write().unwrap_or_else(|p| p.into_inner());
        services.insert(service.name().to_string(), (Arc::downgrade(service), generation));
    }

    /// Takes server `name` off the net: calls to it fail as unreachable from now on, and
    /// calls it is serving lose their replies (`ConnectionLost`).
    pub fn detach(&self, name: &str) {
        self.inner.services.write().unwrap_or_else(|p| p.into_inner()).remove(name);
    }

    fn service(&self, name: &str) -> Result<(Arc<dyn Service>, u64)> {
        let services = self.inner.services.read().unwrap_or_else(|p| p.into_inner());
        services.get(name).and_then(|(s, g)| Some((s.upgrade()?, *g))).ok_or_else(|| Error::Unreachable {
            server: name.to_string(),
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        })
    }

    fn is_attached(&self, name: &str, generation: u64) -> bool {
        let services = self.inner.services.read().unwrap_or_else(|p| p.into_inner());
        services.get(name).is_some_and(|(_, g)| *g == generation)
    }

    /// How server `me` reaches its peers on this net.
    pub fn peers_of(&self, me: &str) -> Arc<dyn Peers> {
        Arc::new(NetPeers { net: self.clone(), me: me.to_string() })
    }

    /// A client's link to `servers` on this net.
    pub fn client(&self, servers: Vec<String>) -> Link {
        Arc::new(FaultyTransport::new(LocalTransport::on(self, servers, Role::Client)))
    }

    /// The peer links server `me` made (one per ring it adopted: one), for injecting faults.
    pub fn links_of(&self, me: &str) -> Vec<Link> {
        let links = self.inner.links.lock().unwrap_or_else(|p| p.into_inner());
        links.iter().filter(|(from, _)| from == me).map(|(_, l)| l.clone()).collect()
    }
}

/// One server's way to its peers on a [`LocalNet`].
struct NetPeers {
    net: LocalNet,
    me: String,
}

impl Peers for NetPeers {
    fn connect(&self, members: &[String]) -> Arc<dyn Transport> {
        let link: Link = Arc::new(FaultyTransport::new(LocalTransport::on(&self.net, members.to_vec(), Role::Peer)));
        let mut links = self.net.inner.links.lock().unwrap_or_else(|p| p.into_inner());
        links.push((self.me.clone(), link.clone()));
        link
    }

    fn ring_of<'a>(&'a self, member: &'a str) -> BoxFuture<'a, Result<Option<RingId>>> {
        Box::pin(async move { Ok(self.net.service(member)?.0.ring()) })
    }
}
