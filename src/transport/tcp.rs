//! The cluster transport: one lazily (re)opened, multiplexed TCP connection per server
//! ([`crate::rpc::Connection`]), each checked at connect time: both sides prove they know
//! the cluster secret ([`crate::auth`]), and the server must serve the same ring as this
//! transport's server list (or, new, adopt it) so no key ever goes to a server that
//! would answer for a ring it does not belong to.

use std::io::ErrorKind;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::backoff::Backoff;
use super::{BoxFuture, Peers, Transport};
use crate::auth::{self, Secret};
use crate::error::{Error, Result};
use crate::placement::members_hash;
use crate::proto::{AdoptRing, Auth, Challenge, Hello, Op, Reply, ReplyBody, Request, RingId, Role};
use crate::rpc::Connection;

/// Tries to open one connection before its error reaches the caller, and the first pause
/// between them (doubling, jittered; see [`Backoff`]): enough to ride out a start-up
/// storm, short enough that a server that is really down fails within ~0.2 s.
const CONNECT_TRIES: u32 = 4;
const FIRST_CONNECT_PAUSE: Duration = Duration::from_millis(25);

/// Connect failures worth another try: the server turned the connection away (refused
/// while its accept queue was full or before it listened, reset or closed at its
/// connection limit), or this host was out of ephemeral ports for a moment.
fn transient(e: &Error) -> bool {
    match e {
        Error::Unreachable { source, .. } => matches!(
            source.kind(),
            ErrorKind::ConnectionRefused
                | ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::AddrNotAvailable
                | ErrorKind::AddrInUse
        ),
        Error::ConnectionLost { .. } => true,
        _ => false,
    }
}

#[derive(Debug, Clone)]
pub struct TcpOptions {
    /// Deadline of every call and of connecting.
    pub timeout: Duration,
    /// Requests in flight per connection before callers wait (flow control).
    pub max_in_flight: usize,
    pub secret: Option<Secret>,
}

pub struct TcpTransport {
    servers: Vec<String>,
    opts: TcpOptions,
    ring_hash: u64,
    /// Current connection per server. A std mutex: only cloned out, never held across `.await`.
    slots: Vec<Mutex<Option<Arc<Connection>>>>,
    /// Serialises reconnects to one server so a burst of callers opens one socket.
    connecting: Vec<tokio::sync::Mutex<()>>,
    /// Whether a server with no ring yet is asked to adopt this list ([`TcpTransport::forming`]).
    form: bool,
    /// Who this transport's connections say they are ([`TcpTransport::role`]).
    role: Role,
}

/// One typed request on a bare connection (the handshake, before the pool has it).
async fn typed<O: Op>(conn: &Connection, op: O) -> Result<O::Reply> {
    let (reply, _) = conn.call(&op.into(), &[]).await?;
    O::Reply::from_reply(reply).map_err(|got| Error::Protocol {
        server: conn.addr().to_string(),
        reason: format!("{} answered with {got}", O::NAME),
    })
}

/// Opens a connection to `addr` and authenticates it in `role`; returns it with the ring
/// the server serves (None: it has none yet). A peer proves the peer key, derived from
/// the secret, in place of the secret itself, and checks the server's proof with it.
pub async fn open(addr: &str, opts: &TcpOptions, role: Role) -> Result<(Connection, Option<RingId>)> {
    let conn = Connection::connect(addr, opts.timeout, opts.max_in_flight).await?;
    let mine = auth::nonce();
    let Challenge { nonce, required, proof, ring } = typed(&conn, Hello { nonce: mine, role }).await?;
    let auth_err = |m: &str| Error::Auth(format!("server {addr}: {m}"));
    match (required, &opts.secret) {
        (false, _) => {}
        (true, None) => {
            return Err(auth_err(
                "the cluster requires its secret (BENCHFS_SECRET_FILE, --secret-file, or the registry's secret file)",
            ))
        }
        (true, Some(secret)) => {
            let peer_key;
            let s = match role {
                Role::Client => secret,
                Role::Peer => {
                    peer_key = secret.peer_key();
                    &peer_key
                }
            };
            if !proof.is_some_and(|p| s.verify(auth::SERVER_LABEL, &mine, &p)) {
                return Err(auth_err("the server does not know this cluster's secret"));
            }
            typed(&conn, Auth { proof: s.proof(auth::CLIENT_LABEL, &nonce) }).await?;
        }
    }
    Ok((conn, ring))
}

impl TcpTransport {
    /// A transport over `servers`, which must be the cluster's whole member list in ring order.
    pub fn new(servers: Vec<String>, opts: TcpOptions) -> TcpTransport {
        let n = servers.len();
        TcpTransport {
            ring_hash: members_hash(&servers),
            servers,
            opts,
            slots: (0..n).map(|_| Mutex::new(None)).collect(),
            connecting: (0..n).map(|_| tokio::sync::Mutex::new(())).collect(),
            form: true,
            role: Role::Client,
        }
    }

    /// Connects as `role`: a server reaching its peers says [`Role::Peer`] (and proves
    /// the peer key); everyone else is a client.
    pub fn role(mut self, role: Role) -> TcpTransport {
        self.role = role;
        self
    }

    /// With `false`, a server that has no ring yet is used as it is (only requests that
    /// need no ring, such as `Usage`, succeed there) and never bound to this list: a
    /// read-only look at a cluster that is still starting must not fix its membership.
    pub fn forming(mut self, form: bool) -> TcpTransport {
        self.form = form;
        self
    }

    fn current(&self, i: usize) -> Option<Arc<Connection>> {
        let slot = self.slots[i].lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref().filter(|c| c.is_open()).cloned()
    }

    /// The open connection to server `i`, connecting (and checking its ring) first if needed.
    async fn get(&self, i: usize) -> Result<Arc<Connection>> {
        if let Some(c) = self.current(i) {
            return Ok(c);
        }
        let _g = self.connecting[i].lock().await;
        if let Some(c) = self.current(i) {
            return Ok(c);
        }
        let addr = &self.servers[i];
        let (conn, ring) = self.open_retrying(addr).await?;
        let ring = match ring {
            Some(r) => Some(r),
            None if self.form => {
                Some(typed(&conn, AdoptRing { members: self.servers.clone(), formed: None }).await?.ring)
            }
            None => None,
        };
        if let Some(ring) = ring.filter(|r| r.members_hash != self.ring_hash) {
            return Err(Error::Membership(format!(
                "server {addr} belongs to a cluster of other members (ring {ring}); this client's list of {} \
                 servers hashes to {:016x}: give the exact server list the job started with",
                self.servers.len(),
                self.ring_hash
            )));
        }
        let c = Arc::new(conn);
        *self.slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(c.clone());
        Ok(c)
    }

    /// [`open`], tried again after a jittered pause while it fails with a [`transient`] error.
    /// When every try fails, the first error is the one reported: it says what began the
    /// trouble (a server of another protocol version closes the connection after saying
    /// so, and the tries after it only find the connection refused).
    async fn open_retrying(&self, addr: &str) -> Result<(Connection, Option<RingId>)> {
        let deadline = Instant::now() + self.opts.timeout;
        let mut backoff = Backoff::new(FIRST_CONNECT_PAUSE, 8 * FIRST_CONNECT_PAUSE, CONNECT_TRIES - 1, deadline);
        let mut first = None;
        loop {
            match open(addr, &self.opts, self.role).await {
                Err(e) if transient(&e) && backoff.wait().await => {
                    tracing::debug!(server = addr, error = %e, "retrying connect");
                    first.get_or_insert(e);
                }
                Err(e) => return Err(first.unwrap_or(e)),
                ok => return ok,
            }
        }
    }

    /// Asks server `i` for its ring without adopting anything (a joining server's probe).
    pub async fn ring_of(&self, i: usize) -> Result<Option<RingId>> {
        Ok(open(&self.servers[i], &self.opts, self.role).await?.1)
    }
}

impl Transport for TcpTransport {
    fn servers(&self) -> &[String] {
        &self.servers
    }

    fn call<'a>(&'a self, server: usize, req: &'a Request, data: &'a [u8]) -> BoxFuture<'a, Result<(Reply, Vec<u8>)>> {
        Box::pin(async move {
            let conn = self.get(server).await?;
            conn.call(req, data).await
        })
    }
}

/// Deadline of a call from a server to a peer.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests in flight on one peer connection before callers wait.
const PEER_MAX_IN_FLIGHT: usize = 64;
/// Deadline of a joining server's probe of a peer's ring ([`Peers::ring_of`]).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A server's peers over TCP (`benchfsd`), connecting as [`Role::Peer`].
pub struct TcpPeers {
    opts: TcpOptions,
}

impl TcpPeers {
    /// Peers of a cluster with `secret` (None: an open cluster).
    pub fn new(secret: Option<Secret>) -> TcpPeers {
        TcpPeers { opts: TcpOptions { timeout: PEER_TIMEOUT, max_in_flight: PEER_MAX_IN_FLIGHT, secret } }
    }
}

impl Peers for TcpPeers {
    fn connect(&self, members: &[String]) -> Arc<dyn Transport> {
        Arc::new(TcpTransport::new(members.to_vec(), self.opts.clone()).role(Role::Peer))
    }

    fn ring_of<'a>(&'a self, member: &'a str) -> BoxFuture<'a, Result<Option<RingId>>> {
        Box::pin(async move {
            let opts = TcpOptions { timeout: PROBE_TIMEOUT, ..self.opts.clone() };
            Ok(open(member, &opts, Role::Peer).await?.1)
        })
    }
}
