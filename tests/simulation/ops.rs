//! The operations a sequence is made of: how one is drawn to fit the model's state, and
//! how it runs on the cluster through the clients.

use benchfs::{Client, File, FileKind, OpenOptions};

use crate::faults::Event;
use crate::model::Model;
use crate::Rng;
use benchfs_testkit::pattern;

/// A small name space so that operations collide often.
pub const NAMES: [&str; 8] = ["/a", "/b", "/d", "/d/a", "/d/b", "/d/e", "/d/e/a", "/e"];
const MODES: [u32; 4] = [0o600, 0o640, 0o755, 0o700];

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Create(usize, usize),
    /// Open, write at an offset, close.
    Write(usize, usize, u64, usize, u64),
    /// Open, write at the end the open saw, close.
    Append(usize, usize, usize, u64),
    Read(usize, usize, u64, usize),
    Truncate(usize, usize, u64),
    Rename(usize, usize, usize),
    Unlink(usize, usize),
    Mkdir(usize, usize),
    Rmdir(usize, usize),
    Readdir(usize, usize),
    Stat(usize, usize),
    Link(usize, usize, usize),
    Symlink(usize, usize, usize),
    Chmod(usize, usize, u32),
    Utimens(usize, usize, i64),
    /// A handle that stays open across the operations after it.
    Open(usize, usize),
    /// Through open handle h (index among the open ones): write, then publish the size.
    HWrite(usize, u64, usize, u64),
    HRead(usize, u64, usize),
    HClose(usize),
    /// Lets the clock run: the servers' background work happens.
    Tick(u64),
    /// Two clients' operations at once (each a namespace operation or a read).
    Both(Box<Op>, Box<Op>),
    /// A fault starts or ends (a server stops, a link is cut, ...): see [`Event`].
    Fault(Event),
}

impl Op {
    /// Whether the operation may run at once with another and be checked as if one went
    /// first: one request's change of the namespace, or a read. (A write is open, write,
    /// publish: with a truncate in between it is no serial order; two appends at once
    /// both write at the end they saw.)
    fn serialisable(&self) -> bool {
        matches!(
            self,
            Op::Create(..)
                | Op::Read(..)
                | Op::Rename(..)
                | Op::Unlink(..)
                | Op::Mkdir(..)
                | Op::Rmdir(..)
                | Op::Readdir(..)
                | Op::Stat(..)
                | Op::Link(..)
                | Op::Symlink(..)
                | Op::Chmod(..)
                | Op::Utimens(..)
        )
    }

    fn client(&self) -> Option<usize> {
        match *self {
            Op::Create(c, ..)
            | Op::Write(c, ..)
            | Op::Append(c, ..)
            | Op::Read(c, ..)
            | Op::Truncate(c, ..)
            | Op::Rename(c, ..)
            | Op::Unlink(c, ..)
            | Op::Mkdir(c, ..)
            | Op::Rmdir(c, ..)
            | Op::Readdir(c, ..)
            | Op::Stat(c, ..)
            | Op::Link(c, ..)
            | Op::Symlink(c, ..)
            | Op::Chmod(c, ..)
            | Op::Utimens(c, ..)
            | Op::Open(c, ..) => Some(c),
            _ => None,
        }
    }
}

/// A name for an operation: mostly one that exists (so that most operations do
/// something), else any.
fn name(m: &Model, rng: &mut Rng) -> usize {
    let there: Vec<usize> = (0..NAMES.len()).filter(|&i| m.has(NAMES[i])).collect();
    if there.is_empty() || rng.below(4) == 0 {
        rng.pick(NAMES.len())
    } else {
        there[rng.pick(there.len())]
    }
}

/// A random operation that fits the model's state (handle ops need open handles); one
/// in eight, with two clients or more, is a pair run at once.
pub fn gen(m: &Model, rng: &mut Rng, clients: usize) -> Op {
    let op = gen_one(m, rng, clients);
    if clients < 2 || !op.serialisable() || rng.below(8) != 0 {
        return op;
    }
    loop {
        let other = gen_one(m, rng, clients);
        if other.serialisable() && other.client() != op.client() {
            return Op::Both(Box::new(op), Box::new(other));
        }
    }
}

fn gen_one(m: &Model, rng: &mut Rng, clients: usize) -> Op {
    let c = rng.pick(clients);
    let p = name(m, rng);
    let q = if rng.below(2) == 0 { name(m, rng) } else { rng.pick(NAMES.len()) };
    let h = m.handles();
    // A detached handle (see `Model::detached`) is only closed.
    loop {
        return match rng.below(26) {
            0 | 1 => Op::Create(c, rng.pick(NAMES.len())),
            2 | 3 => Op::Write(c, p, rng.below(30_000), 1 + rng.pick(12_000), rng.draw()),
            4 => Op::Append(c, p, 1 + rng.pick(9_000), rng.draw()),
            5 => Op::Read(c, p, rng.below(32_000), 1 + rng.pick(20_000)),
            6 => Op::Truncate(c, p, rng.below(30_000)),
            7 | 8 => Op::Rename(c, p, q),
            9 => Op::Unlink(c, p),
            10 => Op::Mkdir(c, rng.pick(NAMES.len())),
            11 => Op::Rmdir(c, p),
            12 => Op::Readdir(c, p),
            13 => Op::Stat(c, p),
            14 => Op::Link(c, p, q),
            15 => Op::Symlink(c, p, q),
            16 => Op::Chmod(c, p, MODES[rng.pick(MODES.len())]),
            17 => Op::Utimens(c, p, 1_000_000 + rng.below(1_000_000) as i64),
            18 | 19 => Op::Open(c, p),
            20..=23 if h > 0 => {
                let h = rng.pick(h);
                match rng.below(4) {
                    _ if m.detached(h) => Op::HClose(h),
                    0 | 1 => Op::HWrite(h, rng.below(30_000), 1 + rng.pick(12_000), rng.draw()),
                    2 => Op::HRead(h, rng.below(32_000), 1 + rng.pick(20_000)),
                    _ => Op::HClose(h),
                }
            }
            24 | 25 => Op::Tick(1 + rng.below(150)),
            _ => continue,
        };
    }
}

type Ran = benchfs::Result<String>;

fn done<T>(r: benchfs::Result<T>) -> Ran {
    r.map(|_| String::new())
}

/// Runs one operation (not a pair, not a fault) on the cluster through client
/// `clients[c]`; open handles live in `handles`.
pub async fn run(clients: &[Client], handles: &mut Vec<File>, op: &Op) -> Ran {
    match *op {
        Op::Open(c, p) => {
            let f = clients[c].open(NAMES[p], &rw()).await?;
            handles.push(f);
            Ok(String::new())
        }
        Op::HWrite(h, off, len, seed) => {
            let f = &handles[h];
            let n = f.write_at(&pattern(seed, len), off).await?;
            f.flush().await?;
            Ok(n.to_string())
        }
        Op::HRead(h, off, len) => {
            let mut buf = vec![0u8; len];
            let n = handles[h].read_at(&mut buf, off).await?;
            Ok(format!("{:x}", crc32c::crc32c(&buf[..n])))
        }
        Op::HClose(h) => done(handles.remove(h).close().await),
        Op::Tick(ms) => {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            Ok(String::new())
        }
        _ => run_shared(clients, op).await,
    }
}

fn rw() -> OpenOptions {
    OpenOptions { write: true, ..OpenOptions::default() }
}

/// The operations that need no handle, so that two can run at once.
pub async fn run_shared(clients: &[Client], op: &Op) -> Ran {
    match *op {
        Op::Create(c, p) => done(clients[c].create(NAMES[p], 0o644).await?.close().await),
        Op::Write(c, p, off, len, seed) => {
            let f = clients[c].open(NAMES[p], &rw()).await?;
            let n = f.write_at(&pattern(seed, len), off).await?;
            f.close().await?;
            Ok(n.to_string())
        }
        Op::Append(c, p, len, seed) => {
            let f = clients[c].open(NAMES[p], &rw()).await?;
            let n = f.write_at(&pattern(seed, len), f.size()).await?;
            f.close().await?;
            Ok(n.to_string())
        }
        Op::Read(c, p, off, len) => {
            let f = clients[c].open(NAMES[p], &OpenOptions::default()).await?;
            let mut buf = vec![0u8; len];
            let n = f.read_at(&mut buf, off).await?;
            Ok(format!("{:x}", crc32c::crc32c(&buf[..n])))
        }
        Op::Truncate(c, p, size) => done(clients[c].truncate(NAMES[p], size).await),
        Op::Rename(c, a, b) => done(clients[c].rename(NAMES[a], NAMES[b]).await),
        Op::Unlink(c, p) => done(clients[c].unlink(NAMES[p]).await),
        Op::Mkdir(c, p) => done(clients[c].mkdir(NAMES[p], 0o755).await),
        Op::Rmdir(c, p) => done(clients[c].rmdir(NAMES[p]).await),
        Op::Readdir(c, p) => {
            Ok(clients[c].readdir(NAMES[p]).await?.into_iter().map(|d| d.name).collect::<Vec<_>>().join(","))
        }
        Op::Stat(c, p) => clients[c].stat(NAMES[p]).await.map(|a| match a.kind {
            FileKind::Dir => "dir".into(),
            FileKind::Symlink => format!("symlink links {}", a.nlink),
            _ => format!("file {} links {} mode {:o} mtime {}", a.size, a.nlink, a.mode & 0o7777, a.mtime.0),
        }),
        Op::Link(c, a, b) => done(clients[c].link(NAMES[a], NAMES[b]).await),
        Op::Symlink(c, a, b) => clients[c].symlink(NAMES[a], NAMES[b]).await.map(|_| NAMES[a].to_string()),
        Op::Chmod(c, p, mode) => done(clients[c].chmod(NAMES[p], mode).await),
        Op::Utimens(c, p, t) => done(clients[c].utimens(NAMES[p], Some((t, 0)), Some((t, 0))).await),
        _ => unreachable!("{op:?} needs a handle or is no file system operation"),
    }
}
