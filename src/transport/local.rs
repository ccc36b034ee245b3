//! A server in the same process: requests go straight to its handler, with no socket,
//! no framing and no handshake (the embedded mount's path).

use std::sync::Arc;

use super::{BoxFuture, Transport};
use crate::error::Result;
use crate::proto::{unwrap_reply, Reply, Request, Role};

/// What a [`LocalTransport`] calls: a server's request handler (`server::Node`).
pub trait Service: Send + Sync + 'static {
    /// The server's name in its ring.
    fn name(&self) -> &str;

    /// Serves one request from a caller in `role`: every request gets one reply.
    fn serve(&self, role: Role, req: Request, data: Vec<u8>) -> BoxFuture<'_, (Reply, Vec<u8>)>;
}

pub struct LocalTransport {
    service: Arc<dyn Service>,
    servers: Vec<String>,
}

impl LocalTransport {
    /// A transport to `service`, which must serve a one-member ring. Its calls are a
    /// client's ([`Role::Client`]).
    pub fn new(service: Arc<dyn Service>) -> LocalTransport {
        let servers = vec![service.name().to_string()];
        LocalTransport { service, servers }
    }
}

impl Transport for LocalTransport {
    fn servers(&self) -> &[String] {
        &self.servers
    }

    fn call<'a>(&'a self, _server: usize, req: &'a Request, data: &'a [u8]) -> BoxFuture<'a, Result<(Reply, Vec<u8>)>> {
        Box::pin(async move {
            let (reply, data) = self.service.serve(Role::Client, req.clone(), data.to_vec()).await;
            unwrap_reply(reply, data)
        })
    }
}
