//! One handler per op: each request type of the op list ([`crate::proto::for_each_op`])
//! implements [`Handle`], whose answer can only be its own reply type, and
//! [`Node::dispatch`] is generated from the same list, so an op without a handler does
//! not compile. The handlers are grouped by what they touch: [`names`] (metadata, sent to
//! a path's owner), [`chunks`] (data and a server's own state), [`between`] (what only
//! servers send each other); the session's own requests are here.

mod between;
mod chunks;
mod names;

use std::future::Future;

use super::node::{fail, Fail, Node};
use crate::proto::frame::PROTOCOL_VERSION;
use crate::proto::*;
use crate::transport::BoxFuture;

/// A request's payload, and the reply's.
#[derive(Default)]
pub(crate) struct Payload {
    /// The bytes after the request's header (a chunk write's; empty for the rest).
    pub request: Vec<u8>,
    /// The bytes to send after the reply's header (a chunk read's).
    pub reply: Vec<u8>,
}

/// A server's handler of one op.
pub(crate) trait Handle: Rules {
    /// Serves the op, already validated ([`Rules::validate`]); `io` holds its payload.
    fn handle(self, node: &Node, io: &mut Payload) -> impl Future<Output = Result<Self::Reply, Fail>> + Send;
}

/// A reply with its payload, as it goes back.
pub(crate) type Served = (Reply, Vec<u8>);

macro_rules! dispatch {
    ($( $(#[$m:meta])* $name:ident { $($fields:tt)* } => $reply:ident [$class:ident] { $($rules:tt)* } ),* $(,)?) => {
        impl Node {
            /// Validation, then the request's handler. Not boxed: the recursion through
            /// coordinated operations is broken by [`Node::peer`]'s box and `Expect`'s,
            /// off the common path.
            pub(crate) async fn dispatch(&self, req: Request, data: Vec<u8>) -> Result<Served, Fail> {
                req.validate()?;
                if !data.is_empty() && !req.takes_payload() {
                    return Err(fail(Status::Invalid, format!("{} takes no payload", req.name())));
                }
                let mut io = Payload { request: data, reply: Vec::new() };
                let reply = match req {
                    $( Request::$name(op) => op.handle(self, &mut io).await?.into_reply(), )*
                };
                Ok((reply, io.reply))
            }
        }
    };
}

for_each_op!(dispatch);

impl Node {
    /// [`Node::dispatch`] behind a box, for a request inside another: a future may not
    /// contain itself. A plain function, so that the compiler sees its type, not the
    /// future's, from inside `Expect`'s handler.
    fn dispatch_boxed(&self, req: Request) -> BoxFuture<'_, Result<Served, Fail>> {
        Box::pin(self.dispatch(req, Vec::new()))
    }
}

impl Handle for Ping {
    async fn handle(self, _: &Node, _: &mut Payload) -> Result<Pong, Fail> {
        Ok(Pong { version: PROTOCOL_VERSION })
    }
}

/// The connection answers the handshake itself, before any request reaches a handler.
fn handshake_out_of_place() -> Fail {
    fail(Status::Invalid, "handshake out of place")
}

impl Handle for Hello {
    async fn handle(self, _: &Node, _: &mut Payload) -> Result<Challenge, Fail> {
        Err(handshake_out_of_place())
    }
}

impl Handle for Auth {
    async fn handle(self, _: &Node, _: &mut Payload) -> Result<Done, Fail> {
        Err(handshake_out_of_place())
    }
}

impl Handle for AdoptRing {
    async fn handle(self, node: &Node, _: &mut Payload) -> Result<RingInfo, Fail> {
        let a = node
            .membership
            .adopt(self.members, self.formed)
            .await
            .map_err(|e| fail(Status::Membership, e.to_string()))?;
        Ok(RingInfo { ring: a.id, members: a.members.clone() })
    }
}

impl Handle for Expect {
    /// Answered as its request is (see the op list).
    async fn handle(self, node: &Node, io: &mut Payload) -> Result<Reply, Fail> {
        node.check_ids(&self.expect).await?;
        let (reply, data) = node.dispatch_boxed(*self.request).await?;
        io.reply = data;
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "/" has no record: the client answers it without asking, the servers when asked,
    /// and both must say the same (they once said 0777 and 0755): `Attr::root`.
    #[tokio::test]
    async fn the_root_has_one_answer() {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::open_alone(dir.path()).await.unwrap();
        let (reply, _) = node.dispatch(Stat { path: "/".into() }.into(), Vec::new()).await.unwrap();
        let AttrReply(served) = AttrReply::from_reply(reply).unwrap();
        assert_eq!(served, Attr::root());
        assert_eq!(served.mode, crate::meta::ROOT_MODE);
    }

    /// A payload on anything but a chunk write is refused before a handler sees it.
    #[tokio::test]
    async fn only_a_write_takes_a_payload() {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::open_alone(dir.path()).await.unwrap();
        let err = node.dispatch(Stat { path: "/".into() }.into(), vec![1]).await.unwrap_err();
        assert_eq!(err.status, Status::Invalid);
        assert!(Request::from(Write { fid: 1, index: 0, offset: 0 }).takes_payload());
    }
}
