//! One client connection on the server: a reader loop that validates frames, answers
//! short requests inline and spawns a task per long one; replies are written by whoever
//! produced them, under a lock on the socket's write half.
//!
//! Until the caller has authenticated it may send only small frames (the handshake) and
//! must finish within [`HANDSHAKE_DEADLINE`]; a frame once begun must arrive within
//! [`FRAME_DEADLINE`]. A malformed frame closes this connection only; a frame of another
//! protocol version is answered with this server's version first, so the client can say
//! which versions differ.
//!
//! A connection serves as a client's unless its `Hello` said it is a peer's (another
//! server of the cluster) and, when the server has a secret, its `Auth` proved the peer
//! key: [`Node::serve`] refuses requests between servers to anyone else.

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::sync::{watch, Mutex, Semaphore};
use tracing::Instrument;

use super::{Node, MAX_IN_FLIGHT_PER_CONN};
use crate::auth::{self, Secret};
use crate::proto::frame::{decode_header, encode_header, FrameError, Kind};
use crate::proto::{Challenge, Done, Reply, ReplyBody, Request, Role, Status};
use crate::rpc::wire::{read_frame_within, write_frame, Limits, ReadError};

/// How long a new connection may take to authenticate.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// How long the rest of a frame may take once its first byte came.
pub const FRAME_DEADLINE: Duration = Duration::from_secs(30);
/// Before authentication: a handshake frame is a few dozen bytes.
const PRE_AUTH: Limits = Limits { max_header: 4096, max_data: 0, frame_timeout: Some(HANDSHAKE_DEADLINE) };
const SERVING: Limits = Limits { frame_timeout: Some(FRAME_DEADLINE), ..Limits::FULL };

/// The connection's write half. tokio's mutex: held across the `.await` of a frame write.
type Writer<W> = Arc<Mutex<W>>;

async fn send<W: AsyncWrite + Unpin>(w: &Writer<W>, id: u64, reply: &Reply, data: &[u8]) {
    let header = match encode_header(reply) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "reply does not fit a frame");
            return;
        }
    };
    if let Err(e) = write_frame(&mut *w.lock().await, Kind::Reply, id, &header, data).await {
        tracing::debug!(error = %e, "write failed");
    }
}

/// The key a caller in `role` proves: the secret for a client, the peer key for a peer.
fn key(secret: &Secret, role: Role) -> Secret {
    match role {
        Role::Client => secret.clone(),
        Role::Peer => secret.peer_key(),
    }
}

fn error_reply(status: Status, message: &str) -> Reply {
    Reply::Error { status, message: message.to_string() }
}

/// Serves one connection, given as its two halves (any byte stream: the accept loop's
/// TCP sockets, `crate::listen`), until the caller closes it or `stop` changes.
pub async fn serve<R, W>(rd: R, wr: W, peer: impl Display, node: Arc<Node>, mut stop: watch::Receiver<bool>)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let span = tracing::info_span!("conn", %peer);
    async move {
        tracing::debug!("accepted");
        let mut rd = BufReader::with_capacity(crate::rpc::wire::READ_BUFFER, rd);
        let writer: Writer<W> = Arc::new(Mutex::new(wr));
        let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT_PER_CONN));
        let mut authenticated = node.secret.is_none();
        let mut server_nonce = None;
        // The role the last Hello claimed, and the one this connection is served in: a
        // client's until a peer's is proved (claimed, when there is no secret to prove).
        let mut claimed = Role::Client;
        let mut role = Role::Client;
        let deadline = tokio::time::Instant::now() + HANDSHAKE_DEADLINE;
        loop {
            let limits = if authenticated { SERVING } else { PRE_AUTH };
            let frame = tokio::select! {
                f = read_frame_within(&mut rd, limits) => f,
                _ = stop.changed() => break,
                _ = tokio::time::sleep_until(deadline), if !authenticated => {
                    tracing::warn!("no authentication within {HANDSHAKE_DEADLINE:?}; closing connection");
                    break;
                }
            };
            let frame = match frame {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(ReadError::Frame(FrameError::BadVersion(v))) => {
                    tracing::warn!(client_version = v, "client speaks another protocol version; closing connection");
                    // A bare reply preamble in our version: the client reports both.
                    let _ = write_frame(&mut *writer.lock().await, Kind::Reply, 0, &[], &[]).await;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "bad frame; closing connection");
                    break;
                }
            };
            if frame.kind != Kind::Request {
                tracing::warn!("client sent a reply frame; closing connection");
                break;
            }
            let req: Request = match decode_header(&frame.header) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "undecodable request; closing connection");
                    break;
                }
            };
            match &req {
                Request::Hello(h) => {
                    let n = auth::nonce();
                    server_nonce = Some(n);
                    claimed = h.role;
                    if node.secret.is_none() {
                        role = h.role;
                    }
                    let proof = node.secret.as_ref().map(|s| key(s, h.role).proof(auth::SERVER_LABEL, &h.nonce));
                    let ring = node.membership.current().map(|a| a.id);
                    let challenge = Challenge { nonce: n, required: node.secret.is_some(), proof, ring };
                    send(&writer, frame.id, &challenge.into_reply(), &[]).await;
                    continue;
                }
                Request::Auth(a) => {
                    let ok = match (&node.secret, server_nonce) {
                        (None, _) => true,
                        (Some(s), Some(n)) => key(s, claimed).verify(auth::CLIENT_LABEL, &n, &a.proof),
                        (Some(_), None) => false,
                    };
                    if ok {
                        authenticated = true;
                        role = claimed;
                        send(&writer, frame.id, &Done(0).into_reply(), &[]).await;
                        continue;
                    }
                    tracing::warn!(role = ?claimed, "authentication failed; closing connection");
                    let r = error_reply(Status::Access, "authentication failed: wrong cluster secret");
                    send(&writer, frame.id, &r, &[]).await;
                    break;
                }
                _ if !authenticated => {
                    tracing::warn!(op = req.name(), "request before authentication; closing connection");
                    let r = error_reply(Status::Access, "this server requires authentication");
                    send(&writer, frame.id, &r, &[]).await;
                    break;
                }
                _ => {}
            }
            // Those that may take long (device I/O, calls to peers) run as their own task.
            if !req.runs_apart() {
                let (reply, data) = node.serve(role, req, frame.data).await;
                send(&writer, frame.id, &reply, &data).await;
                continue;
            }
            // Back-pressure: stop reading from this client while it has the maximum in flight.
            let Ok(permit) = permits.clone().acquire_owned().await else { break };
            let (node, writer, id) = (node.clone(), writer.clone(), frame.id);
            tokio::spawn(
                async move {
                    let (reply, data) = node.serve(role, req, frame.data).await;
                    send(&writer, id, &reply, &data).await;
                    drop(permit);
                }
                .in_current_span(),
            );
        }
        // Let in-flight handlers finish and their replies go out before closing.
        let _ = permits.acquire_many(MAX_IN_FLIGHT_PER_CONN as u32).await;
        tracing::debug!("closed");
    }
    .instrument(span)
    .await
}
