//! The seam between the client and the servers: one [`Transport`] trait with three
//! implementations, so the client and the mount never name a socket.
//!
//! - [`tcp::TcpTransport`]: multiplexed TCP connections (the cluster);
//! - [`local::LocalTransport`]: calls a server in the same process (the embedded mount);
//! - [`faulty::FaultyTransport`]: wraps another and drops, delays, resets or fails calls,
//!   for tests that would otherwise need SIGSTOP, sleeps and full disks.
//!
//! A server reaches its peers the same way, through a [`Peers`] it is given when it
//! opens: [`tcp::TcpPeers`] in `benchfsd`, [`local::LocalNet`] for a cluster of servers
//! in one process.
//!
//! A transport returns the server's reply, or an error for a `Reply::Error`
//! ([`crate::proto::unwrap_reply`]) and for every transport failure; pairing replies
//! with their request types is the client's job.

pub mod backoff;
pub mod faulty;
pub mod local;
pub mod per_thread;
pub mod tcp;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::Result;
use crate::proto::{Reply, Request, RingId};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait Transport: Send + Sync + 'static {
    /// The servers, in ring order; `call`'s `server` indexes this list.
    fn servers(&self) -> &[String];

    /// Sends `req` with `data` as payload to server `server` and waits for its reply and
    /// payload, within the transport's deadline.
    /// Borrowed: the client sends a request again after `Retry` without copying it.
    fn call<'a>(&'a self, server: usize, req: &'a Request, data: &'a [u8]) -> BoxFuture<'a, Result<(Reply, Vec<u8>)>>;
}

/// How a server reaches the other members of its ring: what it is given when it opens, so
/// that the server names no socket (TCP in `benchfsd`, in-process in tests).
pub trait Peers: Send + Sync + 'static {
    /// A transport to `members` (the ring, in ring order) whose calls are a peer's
    /// ([`crate::proto::Role::Peer`]).
    fn connect(&self, members: &[String]) -> Arc<dyn Transport>;

    /// Asks `member`, briefly, which ring it serves (None: none yet), without making it
    /// adopt one: a joining server's probe for the ring's formation time.
    fn ring_of<'a>(&'a self, member: &'a str) -> BoxFuture<'a, Result<Option<RingId>>>;
}

/// Peers for a server of a one-member ring, which never calls one.
pub fn no_peers() -> Arc<dyn Peers> {
    local::LocalNet::new().peers_of("")
}
