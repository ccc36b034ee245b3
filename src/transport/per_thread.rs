//! One [`TcpTransport`] per calling thread, for callers that each drive a current-thread
//! runtime of their own (the mount's session threads).
//!
//! A connection's reply reader is a task of the runtime that opened it, so a connection
//! shared by threads that each drive their own runtime would only be read while its
//! opener is inside `block_on`. Sharing one runtime among those threads instead hands
//! the I/O driver from thread to thread: a reply is then read by whichever thread holds
//! the driver, which wakes the thread that waits for it (two wake-ups per call, not one).
//! Here every thread writes its requests and reads its replies on its own sockets. The
//! price is a connection per server per thread that calls it, opened on first use.

use std::sync::Arc;

use thread_local::ThreadLocal;

use super::tcp::{TcpOptions, TcpTransport};
use super::{BoxFuture, Transport};
use crate::error::Result;
use crate::proto::{Reply, Request};

pub struct PerThreadTcp {
    servers: Vec<String>,
    opts: TcpOptions,
    each: ThreadLocal<Arc<TcpTransport>>,
}

impl PerThreadTcp {
    /// A transport over `servers` (the cluster's whole member list in ring order).
    pub fn new(servers: Vec<String>, opts: TcpOptions) -> PerThreadTcp {
        PerThreadTcp { servers, opts, each: ThreadLocal::new() }
    }

    /// This thread's transport. Meant for threads that live as long as the transport:
    /// a slot left by a thread that exited may be handed to a later one, whose first call
    /// on each of those connections (of a runtime that may be gone) then fails.
    fn mine(&self) -> Arc<TcpTransport> {
        self.each.get_or(|| Arc::new(TcpTransport::new(self.servers.clone(), self.opts.clone()))).clone()
    }
}

impl Transport for PerThreadTcp {
    fn servers(&self) -> &[String] {
        &self.servers
    }

    fn call<'a>(&'a self, server: usize, req: &'a Request, data: &'a [u8]) -> BoxFuture<'a, Result<(Reply, Vec<u8>)>> {
        let mine = self.mine();
        Box::pin(async move { mine.call(server, req, data).await })
    }
}
