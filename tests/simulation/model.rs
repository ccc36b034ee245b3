//! The model the cluster is compared with: the namespace and file contents a POSIX file
//! system would hold after the same operations, one operation at a time.

use std::collections::BTreeMap;

use crate::ops::{Op, NAMES};
use benchfs_testkit::pattern;

/// A name: a directory, file or symbolic link by its index in [`Model::objs`] (hard
/// links are names with one index).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Node {
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

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Obj {
    data: Vec<u8>,
    mode: u32,
    /// The mtime a utimens set, while nothing changed it since.
    mtime: Option<i64>,
    /// The bytes are not known: a write failed halfway (some chunks landed, others not),
    /// or a truncate failed after its size (chunks past it may be left). Reads of it
    /// return any data; the size is still known (each candidate has one).
    unknown: bool,
    /// Its link count is not known: a name of it was removed while a fault was on, and
    /// the server that removes a name does not fail when the inode owner cannot take
    /// the count down. An owner it could not reach gets the request again later (test
    /// `unreached`), but one whose reply was lost is never asked twice (`Node::release`:
    /// it may have counted, and a count too low frees data; one too high only keeps
    /// it), and the model cannot tell the two apart: without this, seeds 234 and 547
    /// (of 1000) diverge with a count one too high.
    links_unsure: bool,
}

/// What an operation returned: an errno or a comparable value.
pub type Outcome = Result<String, i32>;

/// What the model allows: one outcome, or anything but a wrong success: a handle on a
/// file with no name left (whose data the servers drop at some tick), or data that a
/// failed write left unknown.
#[derive(Debug, Clone, PartialEq)]
pub enum Want {
    Exactly(Outcome),
    Orphan,
    AnyData,
}

/// An open handle: the object it is on, and the name it was opened at as renames moved
/// it (None: that name was removed or now holds something else).
#[derive(Debug, Clone, PartialEq)]
struct Handle {
    obj: usize,
    at: Option<String>,
    /// Renamed since it was opened: the client finds it through the old name's server,
    /// which remembers the move in memory only (see [`Model::servers_restarted`]).
    moved: bool,
    /// That server restarted: the handle can no longer publish a size; only closed.
    stale: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    names: BTreeMap<String, Node>,
    objs: Vec<Obj>,
    handles: Vec<Handle>,
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

    pub fn has(&self, p: &str) -> bool {
        self.names.contains_key(p)
    }

    pub fn handles(&self) -> usize {
        self.handles.len()
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

    /// The link count a stat shows: `?` where it is not known.
    fn links_of(&self, n: Node) -> String {
        if self.objs[n.obj()].links_unsure {
            return "?".into();
        }
        self.links(n).to_string()
    }

    /// A fault was on while `op` ran: the files it could take a name from may keep a
    /// count too high.
    pub fn faulted(&mut self, op: &Op) {
        let names: &[usize] = match op {
            Op::Unlink(_, p) => &[*p],
            Op::Rename(_, a, b) => &[*a, *b],
            _ => &[],
        };
        for &p in names {
            if let Some(Node::File(i) | Node::Symlink(i)) = self.get(NAMES[p]) {
                self.objs[i].links_unsure = true;
            }
        }
    }

    /// A server stopped: handles that were renamed since they opened can no longer find
    /// their file (the moves it remembered are gone).
    pub fn servers_restarted(&mut self) {
        for h in self.handles.iter_mut().filter(|h| h.moved) {
            h.stale = true;
        }
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
                Ok(format!("file {} links {} mode {:o}{t}", o.data.len(), self.links_of(n), o.mode))
            }
            n @ Node::Symlink(_) => Ok(format!("symlink links {}", self.links_of(n))),
        }
    }

    /// Applies `op` as the file system should, and says what it should return.
    pub fn apply(&mut self, op: &Op) -> Want {
        if let Op::HWrite(h, ..) | Op::HRead(h, ..) | Op::HClose(h) = *op {
            let obj = self.handles[h].obj;
            if matches!(op, Op::HClose(_)) {
                self.handles.remove(h);
            }
            if !self.named(obj) {
                return Want::Orphan;
            }
        }
        let unknown = |m: &Model, i: usize| m.objs[i].unknown;
        match (self.outcome(op), op) {
            (Ok(_), Op::Read(_, p, ..)) if self.file(NAMES[*p]).is_ok_and(|i| unknown(self, i)) => Want::AnyData,
            (Ok(_), Op::HRead(h, ..)) if unknown(self, self.handles[*h].obj) => Want::AnyData,
            (w, _) => Want::Exactly(w),
        }
    }

    /// `op` failed in a way that leaves open whether it took effect (its request or reply
    /// was lost): this state, `applied` or not, with what the client side holds. An open
    /// that failed gave no handle; a write that failed may have landed in part; a handle
    /// whose write failed is closed.
    pub fn lost(&mut self, op: &Op, applied: bool) {
        let before = self.handles.len();
        if applied {
            self.apply(op);
        } else if let Op::HClose(h) = *op {
            self.handles.remove(h);
        }
        if let Op::HWrite(h, ..) = *op {
            // The simulation closes a handle whose write failed so (see `simulate`).
            let obj = self.handles.remove(h).obj;
            self.objs[obj].unknown = true;
        }
        if matches!(op, Op::Open(..)) && self.handles.len() > before {
            self.handles.pop();
        }
        let touched = match *op {
            Op::Write(_, p, ..) | Op::Append(_, p, ..) => self.file(NAMES[p]).ok(),
            Op::Truncate(_, p, _) if applied => self.file(NAMES[p]).ok(),
            _ => None,
        };
        if let Some(i) = touched {
            self.objs[i].unknown = true;
        }
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
                self.write(i, off, len, seed)
            }
            Op::Append(_, p, len, seed) => {
                let i = self.file(NAMES[p])?;
                let off = self.objs[i].data.len() as u64;
                self.write(i, off, len, seed)
            }
            Op::Read(_, p, off, len) => {
                let i = self.file(NAMES[p])?;
                Ok(crc(&self.objs[i].data, off, len))
            }
            Op::Truncate(_, p, size) => match self.file(NAMES[p]) {
                Err(libc::ELOOP) => Err(libc::EINVAL),
                i => {
                    let o = &mut self.objs[i?];
                    o.data.resize(size as usize, 0);
                    o.mtime = None;
                    // Every chunk went: nothing a failed write left behind is there.
                    o.unknown &= size > 0;
                    Ok(String::new())
                }
            },
            Op::Rename(_, a, b) => self.rename(NAMES[a], NAMES[b]),
            Op::Unlink(_, p) => match self.get(NAMES[p]) {
                None => Err(libc::ENOENT),
                Some(Node::Dir(_)) => Err(libc::EISDIR),
                Some(_) => {
                    self.names.remove(NAMES[p]);
                    for h in &mut self.handles {
                        if h.at.as_deref() == Some(NAMES[p]) {
                            h.at = None;
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
                self.handles.push(Handle { obj: i, at: Some(NAMES[p].to_string()), moved: false, stale: false });
                Ok(String::new())
            }
            Op::HWrite(h, off, len, seed) => self.write(self.handles[h].obj, off, len, seed),
            Op::HRead(h, off, len) => Ok(crc(&self.objs[self.handles[h].obj].data, off, len)),
            Op::HClose(_) | Op::Tick(_) => Ok(String::new()),
            Op::Both(..) => unreachable!("a pair is checked as its two operations"),
            Op::Fault(_) => Ok(String::new()),
        }
    }

    fn write(&mut self, i: usize, off: u64, len: usize, seed: u64) -> Outcome {
        write_into(&mut self.objs[i].data, off, &pattern(seed, len));
        self.objs[i].mtime = None;
        Ok(len.to_string())
    }

    fn rename(&mut self, a: &str, b: &str) -> Outcome {
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
        let moved: Vec<(String, Node)> =
            self.names.iter().filter(|(k, _)| k.as_str() == a || within(k, a)).map(|(k, v)| (k.clone(), *v)).collect();
        for (k, _) in &moved {
            self.names.remove(k);
        }
        for h in &mut self.handles {
            if h.at.as_deref() == Some(b) {
                h.at = None;
            }
            if let Some(p) = h.at.as_mut().filter(|p| p.as_str() == a || within(p, a)) {
                *p = format!("{b}{}", &p[a.len()..]);
                h.moved = true;
            }
        }
        for (k, v) in moved {
            self.names.insert(format!("{b}{}", &k[a.len()..]), v);
        }
        Ok(String::new())
    }

    /// Whether a scripted operation can run now: a handle operation needs its handle
    /// open (and, detached, is only a close; see [`crate::ops::gen`]).
    pub fn runnable(&self, op: &Op) -> bool {
        match op {
            Op::HWrite(h, ..) | Op::HRead(h, ..) => *h < self.handles.len() && !self.detached(*h),
            Op::HClose(h) => *h < self.handles.len(),
            Op::Both(a, b) => self.runnable(a) && self.runnable(b),
            _ => true,
        }
    }

    /// A handle whose name went while its file keeps another (a hard link) cannot
    /// publish a size: the client asks by the name (ENOENT), a known limit.
    pub fn detached(&self, h: usize) -> bool {
        let h = &self.handles[h];
        (h.at.is_none() && self.named(h.obj)) || h.stale
    }
}

/// Whether `got` is what the model allows; a stat's mtime is compared only when the
/// model knows it (a utimens set it and nothing changed it since).
pub fn allowed(want: &Want, got: &Outcome, op: &Op) -> bool {
    match want {
        Want::Orphan => match got {
            Ok(_) => true,
            Err(e) => [libc::ESTALE, libc::ENOENT].contains(e),
        },
        Want::AnyData => got.is_ok(),
        Want::Exactly(w) => match (op, w, got) {
            (Op::Stat(..), Ok(w), Ok(g)) => {
                let (w, g) = (w.split(' ').collect::<Vec<_>>(), g.split(' ').collect::<Vec<_>>());
                // The mtime counts only where the model knows it, the links where known.
                let known = if w.contains(&"mtime") { g.len() } else { g.len().min(w.len()) };
                w.len() <= g.len() && (0..known).all(|i| w[i] == g[i] || (w[i] == "?" && i > 0 && w[i - 1] == "links"))
            }
            _ => w == got,
        },
    }
}
