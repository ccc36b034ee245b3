//! The client's side of one server connection: many requests in flight, replies
//! matched by request id, every call bounded by a deadline.
//!
//! Writers share the socket's write half behind an async mutex (held only while a
//! frame is written); one reader task per connection routes replies to waiting
//! callers through oneshot channels. When the socket fails, every waiting caller
//! gets `ConnectionLost` and the connection is marked closed, so the pool opens a
//! new one on the next call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::BufReader;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;

use super::wire::{read_frame, write_frame, RawFrame, ReadError};
use crate::error::{Error, Result};
use crate::proto::frame::{decode_header, encode_header, FrameError, Kind, PROTOCOL_VERSION};
use crate::proto::{Reply, Request};

type Waiter = oneshot::Sender<Result<RawFrame>>;

pub struct Connection {
    addr: String,
    timeout: Duration,
    /// Held across the `.await` of a frame write, hence tokio's mutex.
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    /// Callers waiting for a reply. A std mutex: never held across an `.await`.
    pending: Arc<Mutex<HashMap<u64, Waiter>>>,
    closed: Arc<AtomicBool>,
    next_id: AtomicU64,
    /// Caps requests in flight on this connection (flow control toward the server).
    in_flight: Semaphore,
    reader: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Marks the connection closed if a frame write is abandoned half-way (the
/// caller's future was dropped or timed out): the stream is no longer in sync.
struct WriteGuard<'a> {
    closed: &'a AtomicBool,
    done: bool,
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.closed.store(true, Ordering::Release);
        }
    }
}

impl Connection {
    /// Opens a connection; the caller runs the handshake (the transport's `tcp::open`).
    pub async fn connect(addr: &str, timeout: Duration, max_in_flight: usize) -> Result<Connection> {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return Err(Error::Unreachable { server: addr.to_string(), source: crate::fd_limit::explain(e) })
            }
            Err(_) => {
                return Err(Error::Timeout { server: addr.to_string(), op: "connect", secs: timeout.as_secs_f64() })
            }
        };
        stream.set_nodelay(true).map_err(|source| Error::Unreachable { server: addr.to_string(), source })?;
        let (rd, wr) = stream.into_split();
        let pending: Arc<Mutex<HashMap<u64, Waiter>>> = Arc::default();
        let closed = Arc::new(AtomicBool::new(false));
        let reader = tokio::spawn(read_replies(
            addr.to_string(),
            BufReader::with_capacity(crate::rpc::wire::READ_BUFFER, rd),
            pending.clone(),
            closed.clone(),
        ));
        let conn = Connection {
            addr: addr.to_string(),
            timeout,
            writer: tokio::sync::Mutex::new(wr),
            pending,
            closed,
            next_id: AtomicU64::new(1),
            in_flight: Semaphore::new(max_in_flight.max(1)),
            reader,
        };
        Ok(conn)
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn is_open(&self) -> bool {
        !self.closed.load(Ordering::Acquire)
    }

    /// Sends `req` with `data` as payload and waits for the reply and its payload.
    /// A reply of `Reply::Error` becomes the matching [`Error`].
    pub async fn call(&self, req: &Request, data: &[u8]) -> Result<(Reply, Vec<u8>)> {
        let op = req.name();
        match tokio::time::timeout(self.timeout, self.call_inner(req, data)).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout { server: self.addr.clone(), op, secs: self.timeout.as_secs_f64() }),
        }
    }

    async fn call_inner(&self, req: &Request, data: &[u8]) -> Result<(Reply, Vec<u8>)> {
        let header = encode_header(req).map_err(|e| Error::Invalid(e.to_string()))?;
        let _permit = self.in_flight.acquire().await.map_err(|_| self.lost("connection shut down"))?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        // Removes our waiter whatever happens below (timeout included).
        let _unregister = Unregister { pending: &self.pending, id };
        // Checked after registering: the reader marks `closed` before draining `pending`,
        // so a waiter added after the drain sees the flag here instead of waiting forever.
        if !self.is_open() {
            return Err(self.lost("connection closed"));
        }
        {
            let mut w = self.writer.lock().await;
            let mut guard = WriteGuard { closed: &self.closed, done: false };
            if let Err(e) = write_frame(&mut *w, Kind::Request, id, &header, data).await {
                return Err(self.lost(&e.to_string()));
            }
            guard.done = true;
        }
        let frame = rx.await.map_err(|_| self.lost("reader stopped"))??;
        let reply: Reply = decode_header(&frame.header).map_err(|e| self.protocol(&e.to_string()))?;
        crate::proto::unwrap_reply(reply, frame.data)
    }

    fn lost(&self, reason: &str) -> Error {
        self.closed.store(true, Ordering::Release);
        Error::ConnectionLost { server: self.addr.clone(), reason: reason.to_string() }
    }

    pub(crate) fn protocol(&self, reason: &str) -> Error {
        Error::Protocol { server: self.addr.clone(), reason: reason.to_string() }
    }
}

struct Unregister<'a> {
    pending: &'a Mutex<HashMap<u64, Waiter>>,
    id: u64,
}

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        lock(self.pending).remove(&self.id);
    }
}

/// Locks a std mutex, ignoring poisoning: the maps it guards stay valid if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn read_replies<R: tokio::io::AsyncRead + Unpin>(
    addr: String,
    mut rd: R,
    pending: Arc<Mutex<HashMap<u64, Waiter>>>,
    closed: Arc<AtomicBool>,
) {
    let reason = loop {
        match read_frame(&mut rd).await {
            Ok(Some(f)) if f.kind == Kind::Reply => {
                if let Some(w) = lock(&pending).remove(&f.id) {
                    let _ = w.send(Ok(f));
                }
            }
            Ok(Some(_)) => break "server sent a request frame".to_string(),
            Ok(None) => break "server closed the connection".to_string(),
            Err(ReadError::Frame(FrameError::BadVersion(v))) => {
                break format!("this client speaks protocol {PROTOCOL_VERSION}, the server speaks {v}")
            }
            Err(e) => break e.to_string(),
        }
    };
    tracing::debug!(server = %addr, %reason, "connection closed");
    closed.store(true, Ordering::Release);
    for (_, w) in lock(&pending).drain() {
        let _ = w.send(Err(Error::ConnectionLost { server: addr.clone(), reason: reason.clone() }));
    }
}
