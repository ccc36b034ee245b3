//! The identity check of [`Expect`]: a request made on behalf of a file or directory the
//! client holds (a kernel inode, an open handle, the directory a name is looked up in) is
//! served only while each path it names still holds that record. A client that remembered
//! a path must never act on whatever now has the name (DESIGN.md, "Identity, not
//! remembered paths").
//!
//! Checked in this one place, before the request's handler runs: on the path's owner
//! from its own records (and, when the record moved away from here lately, answered
//! `Moved` with where it went, so the client can follow a renamed file or directory), on
//! any other server by asking the owner the same question (remembered for directories:
//! [`super::dir_ids::DirIds`]).
//!
//! The check and the request are two steps: a rename that lands between them is not seen.
//! Callers that need more ride on checks of their own that are atomic with the change
//! (`Update` with a file id, the chunk servers' tombstones).

use super::node::{check, fail, Fail, Node};
use crate::meta::FileId;
use crate::proto::{AttrReply, Expecting, Stat, Status};

impl Node {
    /// Fails with `Moved` or `Stale` unless every path of `expect` holds the record `fid`.
    pub(super) async fn check_ids(&self, expect: &[(String, FileId)]) -> Result<(), Fail> {
        for (path, fid) in expect {
            self.check_id(path, *fid).await?;
        }
        Ok(())
    }

    async fn check_id(&self, path: &str, fid: FileId) -> Result<(), Fail> {
        if path == "/" {
            return if fid == 0 { Ok(()) } else { Err(stale(path, fid)) };
        }
        let a = self.ring()?;
        if !a.owns_path(path) {
            let (generation, known) = self.dir_ids.get(path);
            if known == Some(fid) {
                return Ok(());
            }
            // The owner answers the same question (and knows where the record went).
            let ask = Expecting { expect: vec![(path.to_string(), fid)], op: Stat { path: path.to_string() } };
            let AttrReply(attr) = self.peer(&a, a.ring.meta_owner(path), ask).await?;
            if attr.is_dir() {
                self.dir_ids.put(generation, path, fid);
            }
            return Ok(());
        }
        let found = {
            let fences = self.fences.read();
            match check(&fences, path) {
                Ok(()) => self.meta.get(path).ok().map(|r| r.fid),
                // Below a directory moved or removed lately: the record may have moved
                // with it, which `moves` knows (a NotFound here lost the file: seed 9 of
                // the two-mount differential opened a hard link ENOENT).
                Err(f) if f.status == Status::NotFound => None,
                Err(f) => return Err(f),
            }
        };
        if found == Some(fid) {
            return Ok(());
        }
        Err(match self.moves.find(path, fid) {
            Some(to) => fail(Status::Moved, to),
            None => stale(path, fid),
        })
    }
}

fn stale(path: &str, fid: FileId) -> Fail {
    fail(Status::Stale, format!("{path} no longer holds file {fid:032x}"))
}
