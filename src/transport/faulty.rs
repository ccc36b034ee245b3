//! A transport that misbehaves on purpose: the fault tests' way to lose, slow down or
//! cut calls at an exact point without SIGSTOP, sleeps or full disks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::{BoxFuture, Transport};
use crate::error::{Error, Result};
use crate::proto::{Reply, Request, Status};

#[derive(Debug, Clone)]
pub enum Fault {
    /// The request is lost: the caller gets a timeout after `deadline`.
    Drop { deadline: Duration },
    /// The reply comes `Duration` late.
    Delay(Duration),
    /// The request reaches the server, then the connection breaks before the reply.
    ResetAfterSend,
    /// The connection breaks before the request is sent.
    ResetBeforeSend,
    /// The server answers with this status.
    Fail(Status),
}

/// Which calls a fault applies to; `None` fields match every call.
#[derive(Debug, Clone, Default)]
pub struct Match {
    pub server: Option<usize>,
    /// A request name, as [`Request::name`] gives it ("Write", "Rename", ...).
    pub op: Option<&'static str>,
    /// Only the n-th matching call (1-based), counted per rule.
    pub nth: Option<u64>,
}

struct Rule {
    m: Match,
    fault: Fault,
    seen: AtomicU64,
}

pub struct FaultyTransport<T> {
    inner: T,
    rules: Mutex<Vec<Rule>>,
}

impl<T: Transport> FaultyTransport<T> {
    pub fn new(inner: T) -> FaultyTransport<T> {
        FaultyTransport { inner, rules: Mutex::new(Vec::new()) }
    }

    /// Adds a fault; rules are tried in order and the first that fires wins.
    pub fn inject(&self, m: Match, fault: Fault) {
        self.lock().push(Rule { m, fault, seen: AtomicU64::new(0) });
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Rule>> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fault_for(&self, server: usize, op: &str) -> Option<Fault> {
        self.lock().iter().find_map(|r| {
            let matches = r.m.server.is_none_or(|s| s == server) && r.m.op.is_none_or(|o| o == op);
            if !matches {
                return None;
            }
            let n = r.seen.fetch_add(1, Ordering::Relaxed) + 1;
            r.m.nth.is_none_or(|want| want == n).then(|| r.fault.clone())
        })
    }
}

impl<T: Transport> Transport for FaultyTransport<T> {
    fn servers(&self) -> &[String] {
        self.inner.servers()
    }

    fn call<'a>(&'a self, server: usize, req: Request, data: &'a [u8]) -> BoxFuture<'a, Result<(Reply, Vec<u8>)>> {
        let op = req.name();
        let addr = self.servers().get(server).cloned().unwrap_or_default();
        let fault = self.fault_for(server, op);
        Box::pin(async move {
            match fault {
                None => self.inner.call(server, req, data).await,
                Some(Fault::Drop { deadline }) => {
                    tokio::time::sleep(deadline).await;
                    Err(Error::Timeout { server: addr, op, secs: deadline.as_secs_f64() })
                }
                Some(Fault::Delay(d)) => {
                    tokio::time::sleep(d).await;
                    self.inner.call(server, req, data).await
                }
                Some(Fault::ResetAfterSend) => {
                    let _ = self.inner.call(server, req, data).await;
                    Err(Error::ConnectionLost { server: addr, reason: "reset by fault injection".into() })
                }
                Some(Fault::ResetBeforeSend) => {
                    Err(Error::ConnectionLost { server: addr, reason: "reset by fault injection".into() })
                }
                Some(Fault::Fail(status)) => Err(Error::from_status(status, format!("injected on {addr}"))),
            }
        })
    }
}
