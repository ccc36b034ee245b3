//! Property test: random sequences of namespace and data operations on a 3-server
//! cluster give the same results (data and errno) as an in-memory model, hard links
//! and symbolic links included.

use std::collections::BTreeMap;

use benchfs::{Client, FileKind, OpenOptions};
use benchfs_testkit::{pattern, runtime, Cluster};
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, TestCaseError, TestRunner};

/// A small name space so that operations collide often.
const NAMES: [&str; 8] = ["/a", "/b", "/d", "/d/a", "/d/b", "/d/e", "/d/e/a", "/e"];

#[derive(Debug, Clone)]
enum Op {
    Create(usize),
    Write(usize, u64, usize, u64),
    Read(usize, u64, usize),
    Truncate(usize, u64),
    Rename(usize, usize),
    Unlink(usize),
    Mkdir(usize),
    Rmdir(usize),
    Readdir(usize),
    Stat(usize),
    /// link(2) of the first name at the second.
    Link(usize, usize),
    /// A symbolic link at the second name pointing to the first (never followed).
    Symlink(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let p = 0..NAMES.len();
    prop_oneof![
        p.clone().prop_map(Op::Create),
        (p.clone(), 0..40_000u64, 1..20_000usize, any::<u64>()).prop_map(|(p, o, l, s)| Op::Write(p, o, l, s)),
        (p.clone(), 0..50_000u64, 1..30_000usize).prop_map(|(p, o, l)| Op::Read(p, o, l)),
        (p.clone(), 0..50_000u64).prop_map(|(p, s)| Op::Truncate(p, s)),
        (p.clone(), p.clone()).prop_map(|(a, b)| Op::Rename(a, b)),
        p.clone().prop_map(Op::Unlink),
        p.clone().prop_map(Op::Mkdir),
        p.clone().prop_map(Op::Rmdir),
        p.clone().prop_map(Op::Readdir),
        p.clone().prop_map(Op::Stat),
        (p.clone(), p.clone()).prop_map(|(a, b)| Op::Link(a, b)),
        (p.clone(), p).prop_map(|(a, b)| Op::Symlink(a, b)),
    ]
}

/// A name: a directory, or a file or symbolic link by its index in [`Model::files`]
/// (hard links are names with one index).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Node {
    File(usize),
    Symlink(usize),
    Dir,
}

/// What an operation returned: an errno or a comparable value.
type Outcome = Result<String, i32>;

#[derive(Default)]
struct Model {
    names: BTreeMap<String, Node>,
    /// Contents of every file ever made (symbolic links have none).
    files: Vec<Vec<u8>>,
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

impl Model {
    fn get(&self, p: &str) -> Option<Node> {
        if p == "/" {
            Some(Node::Dir)
        } else {
            self.names.get(p).copied()
        }
    }

    /// ENOENT/ENOTDIR unless the parent is a directory (the client checks the parent itself).
    fn check_parent(&self, p: &str) -> Result<(), i32> {
        match self.get(parent(p)) {
            None => Err(libc::ENOENT),
            Some(Node::Dir) => Ok(()),
            Some(_) => Err(libc::ENOTDIR),
        }
    }

    /// The contents of the file at `p`, as opening it finds them (ELOOP: never follows).
    fn file(&mut self, p: &str) -> Result<&mut Vec<u8>, i32> {
        match self.names.get(p) {
            None => Err(libc::ENOENT),
            Some(Node::Dir) => Err(libc::EISDIR),
            Some(Node::Symlink(_)) => Err(libc::ELOOP),
            Some(Node::File(i)) => Ok(&mut self.files[*i]),
        }
    }

    fn links(&self, n: Node) -> usize {
        self.names.values().filter(|v| **v == n).count()
    }

    fn children(&self, d: &str) -> Vec<String> {
        self.names.keys().filter(|k| parent(k) == d).map(|k| k[k.rfind('/').unwrap_or(0) + 1..].to_string()).collect()
    }

    /// A new name `p` for `n` (EEXIST if taken), after checking its parent.
    fn add(&mut self, p: &str, n: Node) -> Outcome {
        self.check_parent(p)?;
        if self.names.contains_key(p) {
            return Err(libc::EEXIST);
        }
        self.names.insert(p.into(), n);
        Ok(String::new())
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        match *op {
            Op::Create(p) => {
                self.files.push(Vec::new());
                self.add(NAMES[p], Node::File(self.files.len() - 1))
            }
            Op::Write(p, off, len, seed) => {
                let d = self.file(NAMES[p])?;
                let (off, data) = (off as usize, pattern(seed, len));
                if d.len() < off + len {
                    d.resize(off + len, 0);
                }
                d[off..off + len].copy_from_slice(&data);
                Ok(len.to_string())
            }
            Op::Read(p, off, len) => {
                let d = self.file(NAMES[p])?;
                let s = (off as usize).min(d.len());
                let e = (off as usize + len).min(d.len());
                Ok(format!("{:x}", crc32c::crc32c(&d[s..e])))
            }
            Op::Truncate(p, size) => match self.file(NAMES[p]) {
                // Only a regular file has a size to change.
                Err(libc::ELOOP) => Err(libc::EINVAL),
                d => {
                    d?.resize(size as usize, 0);
                    Ok(String::new())
                }
            },
            Op::Rename(a, b) => {
                let (a, b) = (NAMES[a], NAMES[b]);
                let src = self.get(a).ok_or(libc::ENOENT)?;
                if a == b {
                    return Ok(String::new());
                }
                if src == Node::Dir && within(b, a) {
                    return Err(libc::EINVAL);
                }
                self.check_parent(b)?;
                match (self.get(b), src) {
                    // Two names of one file: nothing happens.
                    (Some(dst), _) if dst == src && src != Node::Dir => return Ok(String::new()),
                    (Some(Node::Dir), Node::Dir) if !self.children(b).is_empty() => return Err(libc::ENOTEMPTY),
                    (Some(Node::Dir), Node::Dir) | (None, _) => {}
                    (Some(_), Node::Dir) => return Err(libc::ENOTDIR),
                    (Some(Node::Dir), _) => return Err(libc::EISDIR),
                    (Some(_), _) => {}
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
                for (k, v) in moved {
                    self.names.insert(format!("{b}{}", &k[a.len()..]), v);
                }
                Ok(String::new())
            }
            Op::Unlink(p) => match self.get(NAMES[p]) {
                None => Err(libc::ENOENT),
                Some(Node::Dir) => Err(libc::EISDIR),
                Some(_) => {
                    self.names.remove(NAMES[p]);
                    Ok(String::new())
                }
            },
            Op::Mkdir(p) => self.add(NAMES[p], Node::Dir),
            Op::Rmdir(p) => {
                let p = NAMES[p];
                match self.get(p) {
                    None => Err(libc::ENOENT),
                    Some(Node::Dir) if !self.children(p).is_empty() => Err(libc::ENOTEMPTY),
                    Some(Node::Dir) => {
                        self.names.remove(p);
                        Ok(String::new())
                    }
                    Some(_) => Err(libc::ENOTDIR),
                }
            }
            Op::Readdir(p) => match self.get(NAMES[p]) {
                None => Err(libc::ENOENT),
                Some(Node::Dir) => Ok(self.children(NAMES[p]).join(",")),
                Some(_) => Err(libc::ENOTDIR),
            },
            Op::Stat(p) => match self.get(NAMES[p]) {
                None => Err(libc::ENOENT),
                Some(Node::Dir) => Ok("dir".into()),
                Some(n @ Node::File(i)) => Ok(format!("file {} links {}", self.files[i].len(), self.links(n))),
                Some(n @ Node::Symlink(_)) => Ok(format!("symlink links {}", self.links(n))),
            },
            Op::Link(a, b) => {
                self.check_parent(NAMES[b])?;
                match self.get(NAMES[a]) {
                    None => Err(libc::ENOENT),
                    Some(Node::Dir) => Err(libc::EPERM),
                    Some(n) => self.add(NAMES[b], n),
                }
            }
            Op::Symlink(a, b) => {
                self.files.push(Vec::new());
                let n = Node::Symlink(self.files.len() - 1);
                self.add(NAMES[b], n).map(|_| NAMES[a].to_string())
            }
        }
    }
}

/// Runs `op` under the directory `root` of the real cluster.
async fn run(c: &Client, root: &str, op: &Op) -> Outcome {
    let at = |i: usize| format!("{root}{}", NAMES[i]);
    let e = |e: benchfs::Error| e.errno();
    let rw = OpenOptions { write: true, ..OpenOptions::default() };
    match *op {
        Op::Create(p) => c.create(&at(p), 0o644).await.map_err(e)?.close().await.map(|_| String::new()).map_err(e),
        Op::Write(p, off, len, seed) => {
            let f = c.open(&at(p), &rw).await.map_err(e)?;
            let n = f.write_at(&pattern(seed, len), off).await.map_err(e)?;
            f.close().await.map_err(e)?;
            Ok(n.to_string())
        }
        Op::Read(p, off, len) => {
            let f = c.open(&at(p), &OpenOptions::default()).await.map_err(e)?;
            let mut buf = vec![0u8; len];
            let n = f.read_at(&mut buf, off).await.map_err(e)?;
            Ok(format!("{:x}", crc32c::crc32c(&buf[..n])))
        }
        Op::Truncate(p, size) => c.truncate(&at(p), size).await.map(|_| String::new()).map_err(e),
        Op::Rename(a, b) => c.rename(&at(a), &at(b)).await.map(|_| String::new()).map_err(e),
        Op::Unlink(p) => c.unlink(&at(p)).await.map(|_| String::new()).map_err(e),
        Op::Mkdir(p) => c.mkdir(&at(p), 0o755).await.map(|_| String::new()).map_err(e),
        Op::Rmdir(p) => c.rmdir(&at(p)).await.map(|_| String::new()).map_err(e),
        Op::Readdir(p) => {
            c.readdir(&at(p)).await.map(|v| v.into_iter().map(|d| d.name).collect::<Vec<_>>().join(",")).map_err(e)
        }
        Op::Stat(p) => c.stat(&at(p)).await.map_err(e).map(|a| match a.kind {
            FileKind::Dir => "dir".into(),
            FileKind::Symlink => format!("symlink links {}", a.nlink),
            _ => format!("file {} links {}", a.size, a.nlink),
        }),
        Op::Link(a, b) => c.link(&at(a), &at(b)).await.map(|_| String::new()).map_err(e),
        Op::Symlink(a, b) => c.symlink(NAMES[a], &at(b)).await.map(|_| NAMES[a].to_string()).map_err(e),
    }
}

#[test]
fn random_operation_sequences_match_the_model() {
    let cluster = Cluster::start(3);
    let rt = runtime();
    // Small chunks so that writes cross chunk (and so server) boundaries.
    let client = rt.block_on(cluster.client_with(|c| c.chunk_size = 8192));
    let cases = std::env::var("BENCHFS_MODEL_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(256);
    let mut runner = TestRunner::new(PtConfig { cases, failure_persistence: None, ..PtConfig::default() });
    let case = std::sync::atomic::AtomicU32::new(0);
    let result = runner.run(&proptest::collection::vec(op(), 1..60), |ops| {
        // Each case (and each shrink step) works in a fresh directory of its own.
        let root = format!("/case{}", case.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        rt.block_on(async {
            client.mkdir(&root, 0o755).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut model = Model::default();
            for (i, op) in ops.iter().enumerate() {
                let want = model.apply(op);
                let got = run(&client, &root, op).await;
                prop_assert_eq!(&got, &want, "step {} {:?} of {:?}", i, op, ops);
            }
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
