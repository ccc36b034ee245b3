//! A server in the same process: requests go straight to its dispatcher, with no
//! socket, no framing and no handshake (the embedded mount's path).

use std::sync::Arc;

use super::{unwrap_reply, BoxFuture, Transport};
use crate::error::Result;
use crate::proto::{Reply, Request, Role};
use crate::server::Node;

pub struct LocalTransport {
    node: Arc<Node>,
    servers: Vec<String>,
}

impl LocalTransport {
    /// A transport to `node`, which must serve a one-member ring.
    pub fn new(node: Arc<Node>) -> LocalTransport {
        let servers = vec![node.addr().to_string()];
        LocalTransport { node, servers }
    }
}

impl Transport for LocalTransport {
    fn servers(&self) -> &[String] {
        &self.servers
    }

    fn call<'a>(&'a self, _server: usize, req: &'a Request, data: &'a [u8]) -> BoxFuture<'a, Result<(Reply, Vec<u8>)>> {
        Box::pin(async move {
            let (reply, data) = self.node.serve(Role::Client, req.clone(), data.to_vec()).await;
            unwrap_reply(reply, data)
        })
    }
}
