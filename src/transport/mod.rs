//! The seam between the client and the servers: one [`Transport`] trait with three
//! implementations, so the client and the mount never name a socket.
//!
//! - [`tcp::TcpTransport`]: multiplexed TCP connections (the cluster);
//! - [`local::LocalTransport`]: calls a server in the same process (the embedded mount);
//! - [`faulty::FaultyTransport`]: wraps another and drops, delays, resets or fails calls,
//!   for tests that would otherwise need SIGSTOP, sleeps and full disks.
//!
//! A transport returns the server's reply, or an [`Error`] for a `Reply::Error` and for
//! every transport failure; pairing replies with their request types is the client's
//! job ([`crate::client::Client::op`]).

pub mod backoff;
pub mod faulty;
pub mod local;
pub mod per_thread;
pub mod tcp;

use std::future::Future;
use std::pin::Pin;

use crate::error::{Error, Result};
use crate::proto::{Reply, Request};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait Transport: Send + Sync + 'static {
    /// The servers, in ring order; `call`'s `server` indexes this list.
    fn servers(&self) -> &[String];

    /// Sends `req` with `data` as payload to server `server` and waits for its reply and
    /// payload, within the transport's deadline.
    /// Borrowed: the client sends a request again after `Retry` without copying it.
    fn call<'a>(&'a self, server: usize, req: &'a Request, data: &'a [u8]) -> BoxFuture<'a, Result<(Reply, Vec<u8>)>>;
}

/// A reply as the caller sees it: `Reply::Error` becomes the matching [`Error`].
pub fn unwrap_reply(reply: Reply, data: Vec<u8>) -> Result<(Reply, Vec<u8>)> {
    match reply {
        Reply::Error { status, message } => Err(Error::from_status(status, message)),
        r => Ok((r, data)),
    }
}
