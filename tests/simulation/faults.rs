//! The faults a seed injects, drawn from their own stream (so a seed's operations are
//! the same with and without them): rules on links that fire on chosen calls (a reply
//! late, a request dropped, a reply lost, a `Retry` answer), and events between
//! operations (a server stopped and started again from its data directory, a server
//! or one link cut off, then healed).

use std::time::Duration;

use benchfs::proto::Status;
use benchfs::testkit::InProcessCluster;
use benchfs::transport::faulty::{Fault, Match};
use benchfs::transport::local::Link;
use benchfs::Error;

use crate::Rng;

/// A fault that starts or ends between two operations.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Server i stops (clean shutdown); calls to it fail until [`Event::Start`].
    Stop(usize),
    Start(usize),
    /// Server i stops and starts again at once.
    Restart(usize),
    /// Server i is cut off from every client and server until [`Event::Heal`].
    Partition(usize),
    /// Client c's link to server s is cut until [`Event::Heal`].
    CutClient(usize, usize),
    /// Server a's link to server b is cut until [`Event::Heal`].
    CutPeer(usize, usize),
    Heal,
}

/// Which faults a run injects (`BENCHFS_SIM_FAULTS`): none, those that only delay or
/// make the client send again (no outcome changes), or every kind (the default).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Level {
    None,
    Harmless,
    All,
}

/// Adds fault rules to `link`: up to 12, each on 1-3 calls from a random call on. On a
/// client's link some answer `Retry` (sent again); with [`Level::All`] some drop the
/// request (a connection error or, after a while, a timeout) or lose the reply after
/// the server did the work. Returns how many.
///
/// On a server's link a lost reply is what the coordinated operations must survive: a
/// rename whose `Insert` reply was lost once left the file under both names, two records
/// of one file id that were not hard links (seed 816 of 300 before the coordinator sent
/// its `Insert` again to find out whether it landed: `Node::peer_again`).
pub fn inject_rules(rng: &mut Rng, link: &Link, client: bool, steps: usize, level: Level) -> usize {
    let rules = rng.pick(12);
    for _ in 0..rules {
        let m = Match { nth: Some(1 + rng.below(4 * steps as u64)), times: Some(1 + rng.below(3)), ..Match::default() };
        let fault = match rng.below(6) {
            0 if client => Fault::Fail(Status::Retry),
            1 if level == Level::All => Fault::ResetBeforeSend,
            2 if level == Level::All => Fault::ResetAfterSend,
            3 if level == Level::All => Fault::Drop { deadline: Duration::from_millis(100 + rng.below(2000)) },
            _ => Fault::Delay(Duration::from_millis(1 + rng.below(40))),
        };
        link.inject(m, fault);
    }
    rules
}

/// When events happen: at most one fault at a time, each lasting 1-8 operations.
#[derive(Default)]
pub struct Schedule {
    /// The event that ends the current fault and the step it is due at.
    pending: Option<(usize, Event)>,
    /// Servers stopped and whether links are cut, as the events run tell.
    down: std::collections::BTreeSet<usize>,
    cut: bool,
}

impl Schedule {
    /// Whether a fault is on now (a server stopped or a link cut).
    pub fn active(&self) -> bool {
        self.cut || !self.down.is_empty()
    }

    /// Follows an event that ran (drawn here or from a script).
    pub fn ran(&mut self, e: &Event) {
        match *e {
            Event::Stop(i) => {
                self.down.insert(i);
            }
            Event::Start(i) => {
                self.down.remove(&i);
            }
            Event::Partition(_) | Event::CutClient(..) | Event::CutPeer(..) => self.cut = true,
            Event::Heal => self.cut = false,
            Event::Restart(_) => {}
        }
    }

    /// The event to run before step `step`, if any.
    pub fn next(&mut self, rng: &mut Rng, step: usize, servers: usize, clients: usize) -> Option<Event> {
        if let Some(due) = self.pending.as_ref().map(|(due, _)| *due) {
            return if due <= step { self.pending.take().map(|(_, e)| e) } else { None };
        }
        if rng.below(10) != 0 {
            return None;
        }
        let i = rng.pick(servers);
        let end = step + 1 + rng.pick(8);
        let (start, stop) = match rng.below(5) {
            0 => return Some(Event::Restart(i)),
            1 => (Event::Stop(i), Event::Start(i)),
            2 => (Event::Partition(i), Event::Heal),
            3 => (Event::CutClient(rng.pick(clients), i), Event::Heal),
            _ if servers > 1 => (Event::CutPeer(i, (i + 1 + rng.pick(servers - 1)) % servers), Event::Heal),
            _ => return None,
        };
        self.pending = Some((end, stop));
        Some(start)
    }
}

/// Makes `e` happen on the cluster (`clients`: the clients' links).
pub async fn apply(cluster: &mut InProcessCluster, clients: &[Link], e: &Event) -> Result<(), String> {
    match *e {
        Event::Stop(i) => cluster.stop_node(i).await,
        Event::Start(i) => cluster.start_node(i),
        Event::Restart(i) => cluster.restart(i).await,
        Event::Partition(i) => {
            cluster.partition(i);
            Ok(())
        }
        Event::CutClient(c, s) => {
            clients[c].cut(s);
            Ok(())
        }
        Event::CutPeer(a, b) => {
            if let Some(l) = cluster.peer_link(a) {
                l.cut(b);
            }
            Ok(())
        }
        Event::Heal => {
            cluster.heal();
            Ok(())
        }
    }
}

/// How many calls faults changed so far on every link, clients' and servers'.
pub fn fired(cluster: &InProcessCluster, clients: &[Link]) -> u64 {
    let peers = cluster.names().iter().flat_map(|n| cluster.net().links_of(n));
    clients.iter().cloned().chain(peers).map(|l| l.fired()).sum()
}

/// Whether an error is one a lost request or reply explains: the caller cannot tell
/// whether the operation took effect. A connection error, a timeout, or `Io`: what a
/// server relays when its own call to a peer was lost (it cannot tell either). Only
/// while a fault was on: otherwise every error must be the model's exactly.
pub fn lost_in_transit(e: &Error) -> bool {
    matches!(e, Error::Timeout { .. } | Error::Unreachable { .. } | Error::ConnectionLost { .. } | Error::Io(_))
}
