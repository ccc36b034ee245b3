//! One client connection on the server: a reader loop that validates frames and
//! spawns a handler per request, and a writer task that sends replies in the
//! order they complete.
//!
//! A malformed frame (bad magic, oversized length, bad checksum, undecodable
//! header, unknown op) closes this connection only; the server keeps serving others.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Semaphore};
use tracing::Instrument;

use super::{handler, State, MAX_IN_FLIGHT_PER_CONN};
use crate::proto::frame::{decode_header, encode_header, Kind};
use crate::proto::{Reply, Request, Status};
use crate::rpc::wire::{read_frame, write_frame};

struct Outgoing {
    id: u64,
    reply: Reply,
    data: Vec<u8>,
}

pub async fn serve(stream: TcpStream, peer: SocketAddr, state: Arc<State>, mut stop: watch::Receiver<bool>) {
    let span = tracing::info_span!("conn", %peer);
    async move {
        tracing::debug!("accepted");
        let (rd, mut wr) = stream.into_split();
        let mut rd = BufReader::with_capacity(1 << 16, rd);
        let (tx, mut rx) = mpsc::channel::<Outgoing>(MAX_IN_FLIGHT_PER_CONN);
        let writer = tokio::spawn(
            async move {
                while let Some(o) = rx.recv().await {
                    let header = match encode_header(&o.reply) {
                        Ok(h) => h,
                        Err(e) => {
                            tracing::error!(error = %e, "reply does not fit a frame");
                            break;
                        }
                    };
                    if let Err(e) = write_frame(&mut wr, Kind::Reply, o.id, &header, &o.data).await {
                        tracing::debug!(error = %e, "write failed");
                        break;
                    }
                }
            }
            .in_current_span(),
        );
        let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT_PER_CONN));
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
            // Back-pressure: stop reading from this client while it has the maximum in flight.
            let Ok(permit) = permits.clone().acquire_owned().await else { break };
            let (state, tx, id) = (state.clone(), tx.clone(), frame.id);
            tokio::spawn(
                async move {
                    let (reply, data) = handler::handle(&state, req, frame.data).await;
                    let _ = tx.send(Outgoing { id, reply, data }).await;
                    drop(permit);
                }
                .in_current_span(),
            );
        }
        // Let in-flight handlers finish and their replies go out before closing.
        let _ = permits.acquire_many(MAX_IN_FLIGHT_PER_CONN as u32).await;
        drop(tx);
        let _ = writer.await;
        tracing::debug!("closed");
    }
    .instrument(span)
    .await
}

/// Shorthand for an error reply.
pub fn error_reply(status: Status, message: impl Into<String>) -> Reply {
    Reply::Error { status, message: message.into() }
}
