//! Property test: random sequences of namespace and data operations on a 3-server
//! cluster give the same results (data and errno) as an in-memory model.

mod common;

use std::collections::BTreeMap;

use benchfs::{Client, OpenOptions};
use common::{pattern, runtime, Cluster};
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
        p.prop_map(Op::Stat),
    ]
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    File(Vec<u8>),
    Dir,
}

/// What an operation returned: an errno or a comparable value.
type Outcome = Result<String, i32>;

struct Model(BTreeMap<String, Node>);

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
    fn get(&self, p: &str) -> Option<&Node> {
        if p == "/" {
            Some(&Node::Dir)
        } else {
            self.0.get(p)
        }
    }

    /// ENOENT/ENOTDIR unless the parent is a directory (the client checks the parent itself).
    fn check_parent(&self, p: &str) -> Result<(), i32> {
        match self.get(parent(p)) {
            None => Err(libc::ENOENT),
            Some(Node::File(_)) => Err(libc::ENOTDIR),
            Some(Node::Dir) => Ok(()),
        }
    }

    fn file(&mut self, p: &str) -> Result<&mut Vec<u8>, i32> {
        match self.0.get_mut(p) {
            None => Err(libc::ENOENT),
            Some(Node::Dir) => Err(libc::EISDIR),
            Some(Node::File(d)) => Ok(d),
        }
    }

    fn children(&self, d: &str) -> Vec<String> {
        self.0.keys().filter(|k| parent(k) == d).map(|k| k[k.rfind('/').unwrap_or(0) + 1..].to_string()).collect()
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        match *op {
            Op::Create(p) => {
                let p = NAMES[p];
                self.check_parent(p)?;
                if self.0.contains_key(p) {
                    return Err(libc::EEXIST);
                }
                self.0.insert(p.into(), Node::File(Vec::new()));
                Ok(String::new())
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
            Op::Truncate(p, size) => {
                self.file(NAMES[p])?.resize(size as usize, 0);
                Ok(String::new())
            }
            Op::Rename(a, b) => {
                let (a, b) = (NAMES[a], NAMES[b]);
                let src = self.get(a).cloned().ok_or(libc::ENOENT)?;
                if a == b {
                    return Ok(String::new());
                }
                if src == Node::Dir && within(b, a) {
                    return Err(libc::EINVAL);
                }
                self.check_parent(b)?;
                match (self.get(b), &src) {
                    (Some(Node::File(_)), Node::Dir) => return Err(libc::ENOTDIR),
                    (Some(Node::Dir), Node::File(_)) => return Err(libc::EISDIR),
                    (Some(Node::Dir), Node::Dir) if !self.children(b).is_empty() => return Err(libc::ENOTEMPTY),
                    _ => {}
                }
                let moved: Vec<(String, Node)> = self
                    .0
                    .iter()
                    .filter(|(k, _)| k.as_str() == a || within(k, a))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                for (k, _) in &moved {
                    self.0.remove(k);
                }
                for (k, v) in moved {
                    self.0.insert(format!("{b}{}", &k[a.len()..]), v);
                }
                Ok(String::new())
            }
            Op::Unlink(p) => {
                self.file(NAMES[p])?;
                self.0.remove(NAMES[p]);
                Ok(String::new())
            }
            Op::Mkdir(p) => {
                let p = NAMES[p];
                self.check_parent(p)?;
                if self.0.contains_key(p) {
                    return Err(libc::EEXIST);
                }
                self.0.insert(p.into(), Node::Dir);
                Ok(String::new())
            }
            Op::Rmdir(p) => {
                let p = NAMES[p];
                match self.get(p) {
                    None => Err(libc::ENOENT),
                    Some(Node::File(_)) => Err(libc::ENOTDIR),
                    Some(Node::Dir) if !self.children(p).is_empty() => Err(libc::ENOTEMPTY),
                    Some(Node::Dir) => {
                        self.0.remove(p);
                        Ok(String::new())
                    }
                }
            }
            Op::Readdir(p) => match self.get(NAMES[p]) {
                None => Err(libc::ENOENT),
                Some(Node::File(_)) => Err(libc::ENOTDIR),
                Some(Node::Dir) => Ok(self.children(NAMES[p]).join(",")),
            },
            Op::Stat(p) => match self.get(NAMES[p]) {
                None => Err(libc::ENOENT),
                Some(Node::Dir) => Ok("dir".into()),
                Some(Node::File(d)) => Ok(format!("file {}", d.len())),
            },
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
        Op::Stat(p) => {
            c.stat(&at(p)).await.map_err(e).map(|a| if a.is_dir() { "dir".into() } else { format!("file {}", a.size) })
        }
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
            let mut model = Model(BTreeMap::new());
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
