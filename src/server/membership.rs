//! The ring this server belongs to: adopted once (from the first client or peer that
//! connects, which sends its member list), persisted in the data directory, and fixed
//! from then on. A stopped server stays a member: clients fail on its keys with an
//! error naming it, and no other server answers for them ([`Adopted::owns_path`]).
//!
//! A server whose data directory was made *after* its ring formed (its peers report an
//! older formation time) is a replacement of a lost member: its chunk store is empty, so
//! a read of a chunk it does not hold is reported lost, never served as a hole of zeros.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use futures::future::join_all;

use crate::placement::{members_hash, Ring};
use crate::proto::{FileId, RingId};
use crate::transport::{Peers, Transport};

/// Peers a server asks for the ring's formation time when it adopts a ring. All of them
/// would make forming a ring of N servers cost N x (N - 1) connections at once (10^6 at
/// 1,000 nodes); a replacement is recognised as soon as one asked peer answers with the
/// ring, so a few suffice.
const FORMATION_PROBES: usize = 16;

const RING_FILE: &str = "ring";
const BIRTH_FILE: &str = "birth";

/// A ring this server serves.
pub struct Adopted {
    pub id: RingId,
    pub members: Vec<String>,
    pub ring: Ring,
    /// This server's index in `members`.
    pub me: usize,
    /// This server replaced a member after the ring formed (see the module doc).
    pub replaced: bool,
    /// Connections to the other members (coordinated renames, fences, moves).
    pub peers: Arc<dyn Transport>,
}

impl Adopted {
    pub fn owns_path(&self, path: &str) -> bool {
        self.ring.meta_owner(path) == self.me
    }

    pub fn owns_chunk(&self, fid: FileId, index: u64) -> bool {
        self.ring.chunk_owner(fid, index) == self.me
    }
}

/// Why a server refuses a ring (status `Membership` on the wire).
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error("server {server} serves ring {ring} of {members} members; the list offered has {offered} members")]
    Other { server: String, ring: RingId, members: usize, offered: usize },
    #[error("server {0} is not in the offered member list")]
    NotMember(String),
    #[error(
        "server {server} expects {expected} servers (benchfsd --expect); the list offered has {offered}: \
         waiting for {offered} of {expected} servers"
    )]
    Waiting { server: String, expected: usize, offered: usize },
    #[error("this data directory's ring {ring} has {members} members, not {expected}")]
    StoredSize { ring: RingId, members: usize, expected: usize },
    #[error("the cluster's size was given twice")]
    SizeTwice,
    #[error("cannot record the ring: {0}")]
    Record(#[from] std::io::Error),
}

pub struct Membership {
    addr: String,
    dir: PathBuf,
    /// When this data directory was made (ns since the epoch; 0: before births were kept).
    birth: u64,
    /// How this server reaches the other members.
    connector: Arc<dyn Peers>,
    adopted: RwLock<Option<Arc<Adopted>>>,
    /// One adoption at a time.
    adopting: tokio::sync::Mutex<()>,
    /// The cluster's size when the server was told it (`benchfsd --expect N`): a ring
    /// of any other size is refused, so no client can form one from a partial registry.
    expected: std::sync::OnceLock<usize>,
}

pub fn now_ns() -> u64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Reads (or, for a new data directory, writes) the directory's birth time.
fn birth(dir: &Path, fresh: bool) -> std::io::Result<u64> {
    let f = dir.join(BIRTH_FILE);
    match std::fs::read_to_string(&f) {
        Ok(s) => Ok(s.trim().parse().unwrap_or(0)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let b = if fresh { now_ns() } else { 0 };
            crate::server::private::write_file(&f, format!("{b}\n").as_bytes())?;
            Ok(b)
        }
        Err(e) => Err(e),
    }
}

impl Membership {
    /// `fresh`: the data directory was empty when the server opened it.
    pub fn open(addr: &str, dir: &Path, fresh: bool, connector: Arc<dyn Peers>) -> std::io::Result<Membership> {
        let m = Membership {
            addr: addr.to_string(),
            dir: dir.to_path_buf(),
            birth: birth(dir, fresh)?,
            connector,
            adopted: RwLock::new(None),
            adopting: tokio::sync::Mutex::new(()),
            expected: std::sync::OnceLock::new(),
        };
        if let Ok(text) = std::fs::read_to_string(dir.join(RING_FILE)) {
            let mut lines = text.lines();
            let formed = lines.next().and_then(|l| l.strip_prefix("formed ")).and_then(|v| v.parse().ok());
            let replaced = lines.next() == Some("replaced 1");
            let members: Vec<String> = lines.map(str::to_string).collect();
            match formed {
                Some(formed) if !members.is_empty() => {
                    m.set(members, formed, replaced)?;
                }
                _ => return Err(std::io::Error::other(format!("{} is damaged", dir.join(RING_FILE).display()))),
            }
        }
        Ok(m)
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Accepts only rings of `n` members from now on. Fails if the ring this server
    /// already serves (from its data directory) has another size.
    pub fn expect(&self, n: usize) -> Result<(), RingError> {
        if let Some(a) = self.current().filter(|a| a.members.len() != n) {
            return Err(RingError::StoredSize { ring: a.id, members: a.members.len(), expected: n });
        }
        self.expected.set(n).map_err(|_| RingError::SizeTwice)
    }

    pub fn current(&self) -> Option<Arc<Adopted>> {
        self.adopted.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, members: Vec<String>, formed: u64, replaced: bool) -> std::io::Result<Arc<Adopted>> {
        let me = members.iter().position(|m| *m == self.addr).ok_or_else(|| {
            std::io::Error::other(format!("this server ({}) is not in the member list {members:?}", self.addr))
        })?;
        let a = Arc::new(Adopted {
            id: RingId { members_hash: members_hash(&members), formed },
            ring: Ring::new(&members),
            peers: self.connector.connect(&members),
            members,
            me,
            replaced,
        });
        *self.adopted.write().unwrap_or_else(|p| p.into_inner()) = Some(a.clone());
        Ok(a)
    }

    /// Adopts `members` unless a ring is adopted already (then it must be the same list).
    /// The formation time is the oldest any reachable peer reports for this list, or now.
    pub async fn adopt(&self, members: Vec<String>, formed: Option<u64>) -> Result<Arc<Adopted>, RingError> {
        let _one = self.adopting.lock().await;
        let server = self.addr.clone();
        if let Some(a) = self.current() {
            return if a.id.members_hash == members_hash(&members) {
                Ok(a)
            } else {
                Err(RingError::Other { server, ring: a.id, members: a.members.len(), offered: members.len() })
            };
        }
        if !members.contains(&self.addr) {
            return Err(RingError::NotMember(server));
        }
        if let Some(&expected) = self.expected.get().filter(|&&n| n != members.len()) {
            return Err(RingError::Waiting { server, expected, offered: members.len() });
        }
        let formed = match formed {
            Some(f) => f,
            None => self.peers_formation(&members).await.unwrap_or_else(now_ns),
        };
        let replaced = self.birth > formed;
        if replaced {
            tracing::warn!(
                "this data directory is newer than the ring: serving as a replacement; \
                 chunks this server does not hold are reported lost, not read as holes"
            );
        }
        let text = format!("formed {formed}\nreplaced {}\n{}\n", u8::from(replaced), members.join("\n"));
        crate::server::private::write_file(&self.dir.join(RING_FILE), text.as_bytes())?;
        let a = self.set(members, formed, replaced)?;
        tracing::info!(ring = %a.id, members = a.members.len(), replaced, "ring adopted");
        Ok(a)
    }

    /// The oldest formation time of `members` among up to [`FORMATION_PROBES`] peers that
    /// answer (briefly): the members after this one in ring order, wrapping around.
    async fn peers_formation(&self, members: &[String]) -> Option<u64> {
        let hash = members_hash(members);
        let me = members.iter().position(|m| *m == self.addr).unwrap_or(0);
        let n = members.len();
        let asks = (1..n).take(FORMATION_PROBES).map(|k| self.connector.ring_of(&members[(me + k) % n]));
        join_all(asks)
            .await
            .into_iter()
            .filter_map(|r| r.ok().flatten())
            .filter(|r| r.members_hash == hash)
            .map(|r| r.formed)
            .min()
    }
}
