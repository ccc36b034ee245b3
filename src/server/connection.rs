//! One client connection on the server: a reader loop that validates frames,
//! answers metadata requests inline and spawns a task per data request; replies
//! are written by whoever produced them, under a lock on the socket's write half.
//!
//! Metadata requests are short (one redb transaction), so answering them in the
//! reader saves two task hops per request, which is most of a small RPC's latency.
//! Data requests may take long (a 64 MiB chunk, an fsync) and are spawned so many
//! run at once. A malformed frame (bad magic, oversized length, bad checksum,
//! undecodable header, unknown op) closes this connection only.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::BufReader;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{watch, Mutex, Semaphore};
use tracing::Instrument;

use super::{handler, State, MAX_IN_FLIGHT_PER_CONN};
use crate::auth;
use crate::proto::frame::{decode_header, encode_header, Kind};
use crate::proto::{Reply, Request, Status};
use crate::rpc::wire::{read_frame, write_frame};

/// The socket's write half. tokio's mutex: held across the `.await` of a frame write.
type Writer = Arc<Mutex<OwnedWriteHalf>>;

async fn send(w: &Writer, id: u64, reply: &Reply, data: &[u8]) {
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

/// Requests that touch chunk data (or wait for a device) run as their own task.
fn is_data_op(req: &Request) -> bool {
    matches!(
        req,
        Request::Write { .. }
            | Request::Read { .. }
            | Request::TruncateChunks { .. }
            | Request::Fsync { .. }
            | Request::StatFs { .. }
    )
}

pub async fn serve(stream: TcpStream, peer: SocketAddr, state: Arc<State>, mut stop: watch::Receiver<bool>) {
    let span = tracing::info_span!("conn", %peer);
    async move {
        tracing::debug!("accepted");
        let (rd, wr) = stream.into_split();
        let mut rd = BufReader::with_capacity(1 << 16, rd);
        let writer: Writer = Arc::new(Mutex::new(wr));
        let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT_PER_CONN));
        let mut authenticated = state.secret.is_none();
        let mut server_nonce = None;
        loop {
            let frame = tokio::select! {
                f = read_frame(&mut rd) => f,
                _ = stop.changed() => break,
            };
            let frame = match frame {
                Ok(Some(f)) => f,
                Ok(None) => break,
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
                Request::Hello { nonce } => {
                    let n = auth::nonce();
                    server_nonce = Some(n);
                    let proof = state.secret.as_ref().map(|s| s.proof(auth::SERVER_LABEL, nonce));
                    send(
                        &writer,
                        frame.id,
                        &Reply::Challenge { nonce: n, required: state.secret.is_some(), proof },
                        &[],
                    )
                    .await;
                    continue;
                }
                Request::Auth { proof } => {
                    let ok = match (&state.secret, server_nonce) {
                        (None, _) => true,
                        (Some(s), Some(n)) => s.verify(auth::CLIENT_LABEL, &n, proof),
                        (Some(_), None) => false,
                    };
                    if ok {
                        authenticated = true;
                        send(&writer, frame.id, &Reply::Done(0), &[]).await;
                        continue;
                    }
                    tracing::warn!("authentication failed; closing connection");
                    send(
                        &writer,
                        frame.id,
                        &error_reply(Status::Access, "authentication failed: wrong cluster secret"),
                        &[],
                    )
                    .await;
                    break;
                }
                _ if !authenticated => {
                    tracing::warn!(op = req.name(), "request before authentication; closing connection");
                    send(&writer, frame.id, &error_reply(Status::Access, "this server requires authentication"), &[])
                        .await;
                    break;
                }
                _ => {}
            }
            if !is_data_op(&req) {
                let (reply, data) = handler::handle(&state, req, frame.data).await;
                send(&writer, frame.id, &reply, &data).await;
                continue;
            }
            // Back-pressure: stop reading from this client while it has the maximum in flight.
            let Ok(permit) = permits.clone().acquire_owned().await else { break };
            let (state, writer, id) = (state.clone(), writer.clone(), frame.id);
            tokio::spawn(
                async move {
                    let (reply, data) = handler::handle(&state, req, frame.data).await;
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

/// Shorthand for an error reply.
pub fn error_reply(status: Status, message: impl Into<String>) -> Reply {
    Reply::Error { status, message: message.into() }
}
