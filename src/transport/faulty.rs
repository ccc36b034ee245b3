//! A transport that misbehaves on purpose: the fault tests' way to lose, slow down or
//! cut calls at an exact point without SIGSTOP, sleeps or full disks.
//!
//! Two kinds of fault: rules ([`FaultyTransport::inject`]) that fire on chosen calls
//! (drop, delay, reset, a failing status), and cuts ([`FaultyTransport::cut`]) that
//! partition the link from some servers until healed. [`FaultyTransport::fired`] counts
//! the calls any of them changed, so a test can tell a fault's error from a bug's.

use std::collections::BTreeSet;
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
    /// The reply comes `Duration` late. The inner transport's own deadline starts after
    /// the delay, so a delay alone never times out: use `Drop` for a call that does.
    Delay(Duration),
    /// The request reaches the server, then the connection breaks before the reply.
    ResetAfterSend,
    /// The connection breaks before the request is sent.
    ResetBeforeSend,
    /// The server answers with this status.
    Fail(Status),
}

/// Which calls a fault applies to; `None` fields match every call.
///
/// Every rule counts every call that matches its `server` and `op`, whether or not an
/// earlier rule fired on it, so `nth` means the n-th such call the transport saw since
/// the rule was added.
#[derive(Debug, Clone, Default)]
pub struct Match {
    pub server: Option<usize>,
    /// A request name, as [`Request::name`] gives it ("Write", "Rename", ...).
    pub op: Option<&'static str>,
    /// The first matching call it fires on (1-based); `None`: the first.
    pub nth: Option<u64>,
    /// How many matching calls it fires on, from `nth` on. `None`: one call when `nth`
    /// is set, every call when it is not; `Some(u64::MAX)`: every call from `nth` on (a
    /// server that dies at that call); `Some(3)` without `nth`: the first three calls.
    pub times: Option<u64>,
}

impl Match {
    /// Whether the `n`-th matching call (1-based) is one this rule fires on.
    fn fires_at(&self, n: u64) -> bool {
        let first = self.nth.unwrap_or(1);
        let times = self.times.unwrap_or(if self.nth.is_some() { 1 } else { u64::MAX });
        n >= first && n - first < times
    }
}

struct Rule {
    m: Match,
    fault: Fault,
    seen: AtomicU64,
}

pub struct FaultyTransport<T> {
    inner: T,
    rules: Mutex<Vec<Rule>>,
    /// Servers (indices) this link is partitioned from: see [`FaultyTransport::cut`].
    cut: Mutex<BTreeSet<usize>>,
    /// Calls a rule or a cut changed (failed, delayed, or whose reply was lost).
    fired: AtomicU64,
}

impl<T: Transport> FaultyTransport<T> {
    pub fn new(inner: T) -> FaultyTransport<T> {
        FaultyTransport {
            inner,
            rules: Mutex::new(Vec::new()),
            cut: Mutex::new(BTreeSet::new()),
            fired: AtomicU64::new(0),
        }
    }

    /// Partitions this link from `server` until [`FaultyTransport::heal`]: a call to it
    /// fails as unreachable without reaching it, and a call in flight when the cut comes
    /// is served but its reply is lost (`ConnectionLost`). Rules still count calls to a
    /// cut server.
    pub fn cut(&self, server: usize) {
        self.cut.lock().unwrap_or_else(|p| p.into_inner()).insert(server);
    }

    /// Ends the partition from `server` (`None`: from every server).
    pub fn heal(&self, server: Option<usize>) {
        let mut cut = self.cut.lock().unwrap_or_else(|p| p.into_inner());
        match server {
            Some(s) => {
                cut.remove(&s);
            }
            None => cut.clear(),
        }
    }

    fn is_cut(&self, server: usize) -> bool {
        self.cut.lock().unwrap_or_else(|p| p.into_inner()).contains(&server)
    }

    /// How many calls a fault changed so far (a delay counts too).
    pub fn fired(&self) -> u64 {
        self.fired.load(Ordering::Relaxed)
    }

    /// Adds a fault; rules are tried in order and the first that fires wins.
    pub fn inject(&self, m: Match, fault: Fault) {
        self.lock().push(Rule { m, fault, seen: AtomicU64::new(0) });
    }

    /// How many calls rule `rule` (0-based, in the order of [`FaultyTransport::inject`])
    /// has matched so far, fired on or not: lets a test check that its fault was hit.
    pub fn seen(&self, rule: usize) -> u64 {
        self.lock().get(rule).map_or(0, |r| r.seen.load(Ordering::Relaxed))
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Rule>> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fault_for(&self, server: usize, op: &str) -> Option<Fault> {
        let mut fired = None;
        for r in self.lock().iter() {
            if r.m.server.is_none_or(|s| s == server) && r.m.op.is_none_or(|o| o == op) {
                // Counted by every matching rule, also after an earlier one fired.
                let n = r.seen.fetch_add(1, Ordering::Relaxed) + 1;
                if fired.is_none() && r.m.fires_at(n) {
                    fired = Some(r.fault.clone());
                }
            }
        }
        fired
    }
}

impl<T: Transport> Transport for FaultyTransport<T> {
    fn servers(&self) -> &[String] {
        self.inner.servers()
    }

    fn call<'a>(&'a self, server: usize, req: &'a Request, data: &'a [u8]) -> BoxFuture<'a, Result<(Reply, Vec<u8>)>> {
        // A fault on an op hits it also when wrapped in an identity check (`Expect`).
        let op = req.asked().name();
        let addr = self.servers().get(server).cloned().unwrap_or_default();
        let fault = self.fault_for(server, op);
        let cut = self.is_cut(server);
        if fault.is_some() || cut {
            self.fired.fetch_add(1, Ordering::Relaxed);
        }
        Box::pin(async move {
            if cut {
                let source = std::io::Error::new(std::io::ErrorKind::HostUnreachable, "partitioned by fault injection");
                return Err(Error::Unreachable { server: addr, source });
            }
            let served = match fault {
                None => self.inner.call(server, req, data).await,
                Some(Fault::Drop { deadline }) => {
                    tokio::time::sleep(deadline).await;
                    Err(Error::Timeout { server: addr.clone(), op, secs: deadline.as_secs_f64() })
                }
                Some(Fault::Delay(d)) => {
                    tokio::time::sleep(d).await;
                    self.inner.call(server, req, data).await
                }
                Some(Fault::ResetAfterSend) => {
                    let _ = self.inner.call(server, req, data).await;
                    Err(Error::ConnectionLost { server: addr.clone(), reason: "reset by fault injection".into() })
                }
                Some(Fault::ResetBeforeSend) => {
                    Err(Error::ConnectionLost { server: addr.clone(), reason: "reset by fault injection".into() })
                }
                Some(Fault::Fail(status)) => Err(Error::from_status(status, format!("injected on {addr}"))),
            };
            if self.is_cut(server) {
                // Cut while the call was in flight: the server did the work, the reply is lost.
                self.fired.fetch_add(1, Ordering::Relaxed);
                return Err(Error::ConnectionLost { server: addr, reason: "partitioned by fault injection".into() });
            }
            served
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fired(m: Match, calls: u64) -> Vec<u64> {
        (1..=calls).filter(|&n| m.fires_at(n)).collect()
    }

    #[test]
    fn nth_and_times_select_calls() {
        assert_eq!(fired(Match::default(), 4), [1, 2, 3, 4]);
        assert_eq!(fired(Match { nth: Some(3), ..Default::default() }, 6), [3]);
        assert_eq!(fired(Match { nth: Some(3), times: Some(2), ..Default::default() }, 6), [3, 4]);
        assert_eq!(fired(Match { nth: Some(2), times: Some(u64::MAX), ..Default::default() }, 5), [2, 3, 4, 5]);
        assert_eq!(fired(Match { times: Some(2), ..Default::default() }, 5), [1, 2]);
        assert_eq!(fired(Match { times: Some(0), ..Default::default() }, 5), [] as [u64; 0]);
    }
}
