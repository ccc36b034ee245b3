//! Seeded simulation: random operation sequences from several clients against a whole
//! cluster of 1-5 servers in this process ([`benchfs::testkit::InProcessCluster`]),
//! compared at every step with an in-memory model. The runtime is current-thread with a
//! paused clock, so a seed replays exactly: background work (batched directory touches,
//! dropping unlinked files' chunks, metadata commits) runs only when the clock moves:
//! at the sequence's `Tick`s and inside injected delays and retries.
//!
//! `BENCHFS_SIM_SEEDS=N` runs N seeds (default 128); `BENCHFS_SIM_SEED=S` replays seed S;
//! `BENCHFS_SIM_FIRST=S` starts the seeds at S; `BENCHFS_SIM_FAULTS=0` injects no faults
//! (else half the seeds delay replies on random calls of every link and answer some
//! client calls `Retry`); `BENCHFS_SIM_TRACE=1` prints every step. A divergence prints
//! the seed, the command that replays it and the operations up to it, then a shrunk
//! sequence (operations removed while it still diverges) with its own report.

use std::collections::BTreeMap;
use std::time::Instant;

use benchfs::proto::Status;
use benchfs::transport::faulty::{Fault, Match};
use benchfs::transport::local::Link;
use benchfs::{Client, File, FileKind, OpenOptions};
use benchfs_testkit::{in_process::InProcessCluster, pattern};

/// A small name space so that operations collide often.
const NAMES: [&str; 8] = ["/a", "/b", "/d", "/d/a", "/d/b", "/d/e", "/d/e/a", "/e"];
const MODES: [u32; 4] = [0o600, 0o640, 0o755, 0o700];
/// Small chunks: writes cross chunk (and so server) boundaries.
const CHUNK: u32 = 4096;

/// splitmix64: a generator whose sequence depends on the seed only.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
}

#[derive(Debug, Clone)]
enum Op {
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
}

/// A name: a directory, file or symbolic link by its index in [`Model::objs`] (hard
/// links are names with one index).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Node {
    File(usize),
    Symlink(usize),
    Dir(usize),
}

impl Node {
    fn obj(self) -> usize {
        match self {
            Node::File(i) | Node::Symlink(i) | Node::Dir(i) => i,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Obj {
    data: Vec<u8>,
    mode: u32,
    /// The mtime a utimens set, while nothing changed it since.
    mtime: Option<i64>,
}

/// What an operation returned: an errno or a comparable value.
type Outcome = Result<String, i32>;

/// What the model allows: one outcome, or (a handle on a file with no name left, whose
/// data the servers drop at some tick) anything but a wrong success.
#[derive(Debug)]
enum Want {
    Exactly(Outcome),
    Orphan,
}

#[derive(Default)]
struct Model {
    names: BTreeMap<String, Node>,
    objs: Vec<Obj>,
    /// Open handles: the object each is on, and the name it was opened at as renames
    /// moved it (None: that name was removed or now holds something else).
    handles: Vec<(usize, Option<String>)>,
}

fn parent(p: &str) -> &str {
    match p.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &p[..i],
    }
}

fn within(p: &str, ancestor: &str) -> bool {
    p.starts_with(ancestor) && p.as_bytes().get(ancestor.len()) == Some(&b'/')
}

fn crc(d: &[u8], off: u64, len: usize) -> String {
    let s = (off as usize).min(d.len());
    let e = (off as usize + len).min(d.len());
    format!("{:x}", crc32c::crc32c(&d[s..e]))
}

fn write_into(d: &mut Vec<u8>, off: u64, data: &[u8]) {
    let off = off as usize;
    if d.len() < off + data.len() {
        d.resize(off + data.len(), 0);
    }
    d[off..off + data.len()].copy_from_slice(data);
}

impl Model {
    fn get(&self, p: &str) -> Option<Node> {
        if p == "/" {
            Some(Node::Dir(usize::MAX))
        } else {
            self.names.get(p).copied()
        }
    }

    fn new_obj(&mut self, mode: u32) -> usize {
        self.objs.push(Obj { mode, ..Obj::default() });
        self.objs.len() - 1
    }

    fn check_parent(&self, p: &str) -> Result<(), i32> {
        match self.get(parent(p)) {
            None => Err(libc::ENOENT),
            Some(Node::Dir(_)) => Ok(()),
            Some(_) => Err(libc::ENOTDIR),
        }
    }

    /// The object of the file at `p`, as opening it finds it (ELOOP: never follows).
    fn file(&self, p: &str) -> Result<usize, i32> {
        match self.names.get(p) {
            None => Err(libc::ENOENT),
            Some(Node::Dir(_)) => Err(libc::EISDIR),
            Some(Node::Symlink(_)) => Err(libc::ELOOP),
            Some(Node::File(i)) => Ok(*i),
        }
    }

    fn links(&self, n: Node) -> usize {
        self.names.values().filter(|v| **v == n).count()
    }

    fn named(&self, obj: usize) -> bool {
        self.names.values().any(|v| v.obj() == obj)
    }

    fn children(&self, d: &str) -> Vec<String> {
        self.names.keys().filter(|k| parent(k) == d).map(|k| k[k.rfind('/').unwrap_or(0) + 1..].to_string()).collect()
    }

    fn add(&mut self, p: &str, n: Node) -> Outcome {
        self.check_parent(p)?;
        if self.names.contains_key(p) {
            return Err(libc::EEXIST);
        }
        self.names.insert(p.into(), n);
        Ok(String::new())
    }

    fn stat(&self, p: &str) -> Outcome {
        match self.get(p).ok_or(libc::ENOENT)? {
            Node::Dir(_) => Ok("dir".into()),
            n @ Node::File(i) => {
                let o = &self.objs[i];
                let t = o.mtime.map_or(String::new(), |t| format!(" mtime {t}"));
                Ok(format!("file {} links {} mode {:o}{t}", o.data.len(), self.links(n), o.mode))
            }
            n @ Node::Symlink(_) => Ok(format!("symlink links {}", self.links(n))),
        }
    }

    fn apply(&mut self, op: &Op) -> Want {
        if let Op::HWrite(h, ..) | Op::HRead(h, ..) | Op::HClose(h) = *op {
            let obj = self.handles[h].0;
            if matches!(op, Op::HClose(_)) {
                self.handles.remove(h);
            }
            if !self.named(obj) {
                return Want::Orphan;
            }
        }
        Want::Exactly(self.outcome(op))
    }

    fn outcome(&mut self, op: &Op) -> Outcome {
        match *op {
            Op::Create(_, p) => {
                self.check_parent(NAMES[p])?;
                if self.names.contains_key(NAMES[p]) {
                    return Err(libc::EEXIST);
                }
                let i = self.new_obj(0o644);
                self.add(NAMES[p], Node::File(i))
            }
            Op::Write(_, p, off, len, seed) => {
                let i = self.file(NAMES[p])?;
                write_into(&mut self.objs[i].data, off, &pattern(seed, len));
                self.objs[i].mtime = None;
                Ok(len.to_string())
            }
            Op::Append(_, p, len, seed) => {
                let i = self.file(NAMES[p])?;
                let off = self.objs[i].data.len() as u64;
                write_into(&mut self.objs[i].data, off, &pattern(seed, len));
                self.objs[i].mtime = None;
                Ok(len.to_string())
            }
            Op::Read(_, p, off, len) => {
                let i = self.file(NAMES[p])?;
                Ok(crc(&self.objs[i].data, off, len))
            }
            Op::Truncate(_, p, size) => match self.file(NAMES[p]) {
                Err(libc::ELOOP) => Err(libc::EINVAL),
                i => {
                    let i = i?;
                    self.objs[i].data.resize(size as usize, 0);
                    self.objs[i].mtime = None;
                    Ok(String::new())
                }
            },
            Op::Rename(_, a, b) => {
                let (a, b) = (NAMES[a], NAMES[b]);
                let src = self.get(a).ok_or(libc::ENOENT)?;
                if a == b {
                    return Ok(String::new());
                }
                let src_dir = matches!(src, Node::Dir(_));
                if src_dir && within(b, a) {
                    return Err(libc::EINVAL);
                }
                self.check_parent(b)?;
                match (self.get(b), src_dir) {
                    (Some(dst), false) if dst == src => return Ok(String::new()),
                    (Some(Node::Dir(_)), true) if !self.children(b).is_empty() => return Err(libc::ENOTEMPTY),
                    (Some(Node::Dir(_)), true) | (None, _) => {}
                    (Some(_), true) => return Err(libc::ENOTDIR),
                    (Some(Node::Dir(_)), false) => return Err(libc::EISDIR),
                    (Some(_), false) => {}
                }
                let moved: Vec<(String, Node)> = self
                    .names
                    .iter()
                    .filter(|(k, _)| k.as_str() == a || within(k, a))
                    .map(|(k, v)| (k.clone(), *v))
                    .collect();
                for (k, _) in &moved {
                    self.names.remove(k);
                }
                for (_, at) in &mut self.handles {
                    if at.as_deref() == Some(b) {
                        *at = None;
                    }
                    if let Some(p) = at.as_mut().filter(|p| p.as_str() == a || within(p, a)) {
                        *p = format!("{b}{}", &p[a.len()..]);
                    }
                }
                for (k, v) in moved {
                    self.names.insert(format!("{b}{}", &k[a.len()..]), v);
                }
                Ok(String::new())
            }
            Op::Unlink(_, p) => match self.get(NAMES[p]) {
                None => Err(libc::ENOENT),
                Some(Node::Dir(_)) => Err(libc::EISDIR),
                Some(_) => {
                    self.names.remove(NAMES[p]);
                    for (_, at) in &mut self.handles {
                        if at.as_deref() == Some(NAMES[p]) {
                            *at = None;
                        }
                    }
                    Ok(String::new())
                }
            },
            Op::Mkdir(_, p) => {
                self.check_parent(NAMES[p])?;
                if self.names.contains_key(NAMES[p]) {
                    return Err(libc::EEXIST);
                }
                let i = self.new_obj(0o755);
                self.add(NAMES[p], Node::Dir(i))
            }
            Op::Rmdir(_, p) => {
                let p = NAMES[p];
                match self.get(p) {
                    None => Err(libc::ENOENT),
                    Some(Node::Dir(_)) if !self.children(p).is_empty() => Err(libc::ENOTEMPTY),
                    Some(Node::Dir(_)) => {
                        self.names.remove(p);
                        Ok(String::new())
                    }
                    Some(_) => Err(libc::ENOTDIR),
                }
            }
            Op::Readdir(_, p) => match self.get(NAMES[p]) {
                None => Err(libc::ENOENT),
                Some(Node::Dir(_)) => Ok(self.children(NAMES[p]).join(",")),
                Some(_) => Err(libc::ENOTDIR),
            },
            Op::Stat(_, p) => self.stat(NAMES[p]),
            Op::Link(_, a, b) => {
                self.check_parent(NAMES[b])?;
                match self.get(NAMES[a]) {
                    None => Err(libc::ENOENT),
                    Some(Node::Dir(_)) => Err(libc::EPERM),
                    Some(n) => self.add(NAMES[b], n),
                }
            }
            Op::Symlink(_, a, b) => {
                self.check_parent(NAMES[b])?;
                if self.names.contains_key(NAMES[b]) {
                    return Err(libc::EEXIST);
                }
                let i = self.new_obj(0o777);
                self.add(NAMES[b], Node::Symlink(i)).map(|_| NAMES[a].to_string())
            }
            Op::Chmod(_, p, mode) => {
                let n = self.get(NAMES[p]).ok_or(libc::ENOENT)?;
                self.objs[n.obj()].mode = mode;
                Ok(String::new())
            }
            Op::Utimens(_, p, t) => {
                let n = self.get(NAMES[p]).ok_or(libc::ENOENT)?;
                self.objs[n.obj()].mtime = Some(t);
                Ok(String::new())
            }
            Op::Open(_, p) => {
                let i = self.file(NAMES[p])?;
                self.handles.push((i, Some(NAMES[p].to_string())));
                Ok(String::new())
            }
            Op::HWrite(h, off, len, seed) => {
                let i = self.handles[h].0;
                write_into(&mut self.objs[i].data, off, &pattern(seed, len));
                self.objs[i].mtime = None;
                Ok(len.to_string())
            }
            Op::HRead(h, off, len) => Ok(crc(&self.objs[self.handles[h].0].data, off, len)),
            Op::HClose(_) | Op::Tick(_) => Ok(String::new()),
        }
    }

    /// Whether a scripted operation can run now: a handle operation needs its handle
    /// open (and, detached, is only a close; see [`Model::gen`]).
    fn runnable(&self, op: &Op) -> bool {
        match *op {
            Op::HWrite(h, ..) | Op::HRead(h, ..) => h < self.handles.len() && !self.detached(h),
            Op::HClose(h) => h < self.handles.len(),
            _ => true,
        }
    }

    fn detached(&self, h: usize) -> bool {
        self.handles[h].1.is_none() && self.named(self.handles[h].0)
    }

    /// A name for an operation: mostly one that exists (so that most operations do
    /// something), else any.
    fn name(&self, rng: &mut Rng) -> usize {
        let there: Vec<usize> = (0..NAMES.len()).filter(|&i| self.names.contains_key(NAMES[i])).collect();
        if there.is_empty() || rng.below(4) == 0 {
            rng.pick(NAMES.len())
        } else {
            there[rng.pick(there.len())]
        }
    }

    /// A random operation that fits the model's state (handle ops need open handles).
    fn gen(&self, rng: &mut Rng, clients: usize) -> Op {
        let c = rng.pick(clients);
        let p = self.name(rng);
        let q = if rng.below(2) == 0 { self.name(rng) } else { rng.pick(NAMES.len()) };
        let h = self.handles.len();
        // A handle whose name went while its file keeps another (a hard link) cannot
        // publish a size: the client asks by the name (ENOENT), a known limit. Such a
        // handle is only closed.
        loop {
            return match rng.below(26) {
                0 | 1 => Op::Create(c, rng.pick(NAMES.len())),
                2 | 3 => Op::Write(c, p, rng.below(30_000), 1 + rng.pick(12_000), rng.next()),
                4 => Op::Append(c, p, 1 + rng.pick(9_000), rng.next()),
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
                        _ if self.detached(h) => Op::HClose(h),
                        0 | 1 => Op::HWrite(h, rng.below(30_000), 1 + rng.pick(12_000), rng.next()),
                        2 => Op::HRead(h, rng.below(32_000), 1 + rng.pick(20_000)),
                        _ => Op::HClose(h),
                    }
                }
                24 | 25 => Op::Tick(1 + rng.below(150)),
                _ => continue,
            };
        }
    }
}

fn errno(e: benchfs::Error) -> i32 {
    e.errno()
}

fn done<T>(r: benchfs::Result<T>) -> Outcome {
    r.map(|_| String::new()).map_err(errno)
}

/// Runs `op` on the cluster through client `clients[c]`; open handles live in `handles`.
async fn run(clients: &[Client], handles: &mut Vec<File>, op: &Op) -> Outcome {
    let rw = OpenOptions { write: true, ..OpenOptions::default() };
    match *op {
        Op::Create(c, p) => {
            clients[c].create(NAMES[p], 0o644).await.map_err(errno)?.close().await.map(|_| String::new()).map_err(errno)
        }
        Op::Write(c, p, off, len, seed) => {
            let f = clients[c].open(NAMES[p], &rw).await.map_err(errno)?;
            let n = f.write_at(&pattern(seed, len), off).await.map_err(errno)?;
            f.close().await.map_err(errno)?;
            Ok(n.to_string())
        }
        Op::Append(c, p, len, seed) => {
            let f = clients[c].open(NAMES[p], &rw).await.map_err(errno)?;
            let n = f.write_at(&pattern(seed, len), f.size()).await.map_err(errno)?;
            f.close().await.map_err(errno)?;
            Ok(n.to_string())
        }
        Op::Read(c, p, off, len) => {
            let f = clients[c].open(NAMES[p], &OpenOptions::default()).await.map_err(errno)?;
            let mut buf = vec![0u8; len];
            let n = f.read_at(&mut buf, off).await.map_err(errno)?;
            Ok(format!("{:x}", crc32c::crc32c(&buf[..n])))
        }
        Op::Truncate(c, p, size) => done(clients[c].truncate(NAMES[p], size).await),
        Op::Rename(c, a, b) => done(clients[c].rename(NAMES[a], NAMES[b]).await),
        Op::Unlink(c, p) => done(clients[c].unlink(NAMES[p]).await),
        Op::Mkdir(c, p) => done(clients[c].mkdir(NAMES[p], 0o755).await),
        Op::Rmdir(c, p) => done(clients[c].rmdir(NAMES[p]).await),
        Op::Readdir(c, p) => clients[c]
            .readdir(NAMES[p])
            .await
            .map(|v| v.into_iter().map(|d| d.name).collect::<Vec<_>>().join(","))
            .map_err(errno),
        Op::Stat(c, p) => clients[c].stat(NAMES[p]).await.map_err(errno).map(|a| match a.kind {
            FileKind::Dir => "dir".into(),
            FileKind::Symlink => format!("symlink links {}", a.nlink),
            _ => format!("file {} links {} mode {:o} mtime {}", a.size, a.nlink, a.mode & 0o7777, a.mtime.0),
        }),
        Op::Link(c, a, b) => done(clients[c].link(NAMES[a], NAMES[b]).await),
        Op::Symlink(c, a, b) => {
            clients[c].symlink(NAMES[a], NAMES[b]).await.map(|_| NAMES[a].to_string()).map_err(errno)
        }
        Op::Chmod(c, p, mode) => done(clients[c].chmod(NAMES[p], mode).await),
        Op::Utimens(c, p, t) => done(clients[c].utimens(NAMES[p], Some((t, 0)), Some((t, 0))).await),
        Op::Open(c, p) => {
            let f = clients[c].open(NAMES[p], &rw).await.map_err(errno)?;
            handles.push(f);
            Ok(String::new())
        }
        Op::HWrite(h, off, len, seed) => {
            let f = &handles[h];
            let n = f.write_at(&pattern(seed, len), off).await.map_err(errno)?;
            f.flush().await.map_err(errno)?;
            Ok(n.to_string())
        }
        Op::HRead(h, off, len) => {
            let mut buf = vec![0u8; len];
            let n = handles[h].read_at(&mut buf, off).await.map_err(errno)?;
            Ok(format!("{:x}", crc32c::crc32c(&buf[..n])))
        }
        Op::HClose(h) => done(handles.remove(h).close().await),
        Op::Tick(ms) => {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            Ok(String::new())
        }
    }
}

/// Whether `got` is what the model allows; a stat's mtime is compared only when the
/// model knows it (a utimens set it and nothing changed it since).
fn allowed(want: &Want, got: &Outcome, op: &Op) -> bool {
    match want {
        Want::Orphan => match got {
            Ok(_) => true,
            Err(e) => [libc::ESTALE, libc::ENOENT].contains(e),
        },
        Want::Exactly(w) => {
            match (op, w, got) {
                // The mtime counts only where the model knows it.
                (Op::Stat(..), Ok(w), Ok(g)) if !w.contains(" mtime ") => g.split(" mtime ").next() == Some(w.as_str()),
                _ => w == got,
            }
        }
    }
}

/// Faults that change no outcome, on every link: replies late (the clock runs meanwhile,
/// so the servers' background work lands inside operations), and, on clients' links,
/// `Retry` answers that the client sends again. Drawn from their own stream, so that a
/// seed's operations are the same with and without them.
fn inject_faults(rng: &mut Rng, link: &Link, client: bool, steps: usize) -> usize {
    let rules = rng.pick(12);
    for _ in 0..rules {
        let m = Match { nth: Some(1 + rng.below(4 * steps as u64)), times: Some(1 + rng.below(3)), ..Match::default() };
        let fault = if client && rng.below(3) == 0 {
            Fault::Fail(Status::Retry)
        } else {
            Fault::Delay(std::time::Duration::from_millis(1 + rng.below(40)))
        };
        link.inject(m, fault);
    }
    rules
}

struct Seed {
    faults: usize,
    /// The operations run (up to a divergence).
    ops: Vec<Op>,
    divergence: Option<String>,
}

/// One seed: a cluster of 1-5 servers, 1-3 clients, 20-100 operations; with `script`,
/// those operations instead of the generated ones (a handle operation whose handle is
/// not open is skipped), for shrinking.
fn simulate(seed: u64, script: Option<&[Op]>) -> Seed {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    let base =
        tempfile::tempdir_in(if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" }).unwrap();
    let mut rng = Rng(seed);
    let nodes = 1 + rng.pick(5);
    let nclients = 1 + rng.pick(3);
    let steps = 20 + rng.pick(81);
    rt.block_on(async {
        let cluster = InProcessCluster::start(base.path(), nodes).await.unwrap();
        let mut frng = Rng(seed ^ 0x5eed_fa17_0000_0000);
        let faulty = env("BENCHFS_SIM_FAULTS") != Some(0) && frng.below(2) == 0;
        let mut faults = 0;
        let mut clients = Vec::new();
        for _ in 0..nclients {
            let (client, link) = cluster
                .client_with(|c| {
                    c.chunk_size = CHUNK;
                    // No cached directories: another client's change shows at once.
                    c.dir_cache_ttl = std::time::Duration::ZERO;
                })
                .unwrap();
            if faulty {
                faults += inject_faults(&mut frng, &link, true, steps);
            }
            clients.push(client);
        }
        for i in (0..nodes).filter(|_| faulty) {
            if let Some(link) = cluster.peer_link(i) {
                faults += inject_faults(&mut frng, &link, false, steps);
            }
        }
        let mut model = Model::default();
        let mut handles = Vec::new();
        let mut done_ops: Vec<Op> = Vec::new();
        let mut divergence = None;
        let trace = std::env::var_os("BENCHFS_SIM_TRACE").is_some();
        let steps = script.map_or(steps, <[Op]>::len);
        for step in 0..steps {
            let op = match script {
                None => model.gen(&mut rng, nclients),
                Some(ops) if model.runnable(&ops[step]) => ops[step].clone(),
                Some(_) => continue,
            };
            let want = model.apply(&op);
            let got = run(&clients, &mut handles, &op).await;
            done_ops.push(op.clone());
            if trace {
                eprintln!("{step:3} {op:?}: {got:?} (model: {want:?})");
            }
            if !allowed(&want, &got, &op) {
                let list: Vec<String> = done_ops.iter().enumerate().map(|(i, o)| format!("  {i:3} {o:?}")).collect();
                divergence = Some(format!(
                    "seed {seed} ({nodes} servers, {nclients} clients, {faults} fault rules): step {} {op:?}: got {got:?}, \
                     the model allows {want:?}\nreplay: BENCHFS_SIM_SEED={seed} cargo test --test simulation -- \
                     --nocapture\noperations:\n{}",
                    done_ops.len() - 1,
                    list.join("\n")
                ));
                break;
            }
        }
        for f in handles {
            let _ = f.close().await;
        }
        drop(clients);
        cluster.stop().await.unwrap();
        Seed { faults, ops: done_ops, divergence }
    })
}

/// The shortest sequence found that still diverges, by removing runs of operations (from
/// half the sequence down to single ones) while it does: its divergence report.
fn shrink(seed: u64, mut ops: Vec<Op>) -> String {
    let mut report = String::from("(no shorter sequence diverges)");
    let mut tries = 0;
    let mut size = ops.len() / 2;
    while size >= 1 && tries < 400 {
        let mut i = 0;
        while i + size <= ops.len() && tries < 400 {
            let mut fewer = ops.clone();
            fewer.drain(i..i + size);
            tries += 1;
            match simulate(seed, Some(&fewer)) {
                Seed { divergence: Some(d), ops: ran, .. } => {
                    ops = ran;
                    report = d;
                }
                _ => i += size,
            }
        }
        size /= 2;
    }
    report
}

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

#[test]
fn seeded_operation_sequences_match_the_model() {
    let started = Instant::now();
    let seeds: Vec<u64> = match env("BENCHFS_SIM_SEED") {
        Some(s) => vec![s],
        None => {
            let first = env("BENCHFS_SIM_FIRST").unwrap_or(0);
            (first..first + env("BENCHFS_SIM_SEEDS").unwrap_or(128)).collect()
        }
    };
    let (mut ops, mut faults, mut divergences) = (0usize, 0usize, Vec::new());
    for &seed in &seeds {
        let s = simulate(seed, None);
        ops += s.ops.len();
        faults += s.faults;
        if let Some(d) = s.divergence {
            eprintln!("{d}\n");
            eprintln!("shrunk: {}\n", shrink(seed, s.ops));
            divergences.push(seed);
        }
    }
    println!(
        "simulation: {} seeds, {ops} operations, {} divergences ({faults} fault rules; {:.1} s)",
        seeds.len(),
        divergences.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(divergences.is_empty(), "diverging seeds: {divergences:?}");
}
