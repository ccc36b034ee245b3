//! A BenchFS directory as one side of a copy, through the async client (never the mount).

use std::sync::Arc;

use super::tree::{join, Attrs, Kind, Listing, Meta, Res, Tree};
use super::StageError;
use crate::meta::SetAttr;
use crate::{Attr, Client, Error, File, FileKind, OpenOptions};

#[derive(Clone)]
pub struct Remote {
    client: Client,
    root: String,
}

impl Remote {
    pub fn new(client: Client, root: &str) -> Result<Remote, Error> {
        Ok(Remote { client, root: crate::path::normalize(root)? })
    }

    fn err(&self, rel: &str) -> impl FnOnce(Error) -> StageError {
        let path = self.name(rel);
        move |source| StageError::Remote { path, source }
    }
}

/// An open BenchFS file and its name for messages.
pub struct Handle {
    file: File,
    name: String,
}

pub fn meta_of(a: &Attr) -> Meta {
    let kind = match a.kind {
        FileKind::File => Kind::File,
        FileKind::Dir => Kind::Dir,
        FileKind::Symlink => Kind::Symlink,
        FileKind::Fifo => Kind::Other("FIFO"),
        FileKind::Socket => Kind::Other("socket"),
        FileKind::CharDev | FileKind::BlockDev => Kind::Other("device"),
    };
    Meta {
        kind,
        size: if kind == Kind::File { a.size } else { 0 },
        mode: a.mode & 0o7777,
        atime: a.atime,
        mtime: a.mtime,
        target: a.target.clone(),
        chunk: u64::from(a.chunk_size),
        link_id: (kind == Kind::File && a.nlink > 1).then_some(a.fid),
    }
}

impl Tree for Remote {
    type Handle = Arc<Handle>;

    fn name(&self, rel: &str) -> String {
        join(&self.root, rel)
    }

    fn at(&self, root: &str) -> Result<Remote, StageError> {
        Remote::new(self.client.clone(), root).map_err(|source| StageError::Remote { path: root.to_string(), source })
    }

    fn chunk_size(&self) -> u64 {
        u64::from(self.client.config().chunk_size)
    }

    async fn stat(&self, rel: &str) -> Res<Option<Meta>> {
        match self.client.stat(&self.name(rel)).await {
            Ok(a) => Ok(Some(meta_of(&a))),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(self.err(rel)(e)),
        }
    }

    async fn list(&self, rel: &str) -> Res<Listing> {
        let (entries, e) = self.client.readdir_partial(&self.name(rel)).await.map_err(self.err(rel))?;
        let listed = entries.into_iter().map(|e| (e.name, meta_of(&e.attr))).collect();
        Ok((listed, e.map(self.err(rel))))
    }

    async fn mkdir(&self, rel: &str) -> Res<bool> {
        let p = self.name(rel);
        let parents: Vec<&str> = if rel.is_empty() {
            // The root with its parents, as mkdir -p.
            p.match_indices('/').map(|(i, _)| &p[..i]).filter(|d| !d.is_empty()).chain([p.as_str()]).collect()
        } else {
            vec![p.as_str()]
        };
        let mut new = false;
        for d in parents.into_iter().filter(|d| *d != "/") {
            new = match self.client.mkdir(d, 0o755).await {
                Ok(_) => true,
                Err(Error::Exists(_)) => match self.client.stat(d).await {
                    Ok(a) if a.is_dir() => false,
                    // Below the root, a link in the way is replaced (as on a local side).
                    Ok(a) if a.kind == FileKind::Symlink && !rel.is_empty() => {
                        match self.client.unlink(d).await {
                            Ok(()) | Err(Error::NotFound(_)) => {}
                            Err(e) => return Err(self.err(rel)(e)),
                        }
                        self.client.mkdir(d, 0o755).await.map_err(self.err(rel))?;
                        true
                    }
                    _ => return Err(self.err(rel)(Error::Exists(d.to_string()))),
                },
                Err(e) => return Err(self.err(rel)(e)),
            };
        }
        Ok(new)
    }

    async fn remove(&self, rel: &str) -> Res<()> {
        self.client.unlink(&self.name(rel)).await.map_err(self.err(rel))
    }

    async fn symlink(&self, target: &str, rel: &str) -> Res<()> {
        self.client.symlink(target, &self.name(rel)).await.map(drop).map_err(self.err(rel))
    }

    async fn link(&self, existing: &str, rel: &str) -> Res<()> {
        self.client.link(&self.name(existing), &self.name(rel)).await.map(drop).map_err(self.err(rel))
    }

    async fn open_read(&self, rel: &str) -> Res<Arc<Handle>> {
        let name = self.name(rel);
        let file = self.client.open(&name, &OpenOptions::default()).await.map_err(self.err(rel))?;
        Ok(Arc::new(Handle { file, name }))
    }

    async fn read(&self, r: &Arc<Handle>, mut buf: Vec<u8>, len: usize, off: u64) -> Res<(Vec<u8>, usize)> {
        let mut done = 0;
        while done < len {
            let n = r.file.read_at(&mut buf[done..len], off + done as u64).await;
            match n.map_err(|source| StageError::Remote { path: r.name.clone(), source })? {
                0 => break,
                n => done += n,
            }
        }
        Ok((buf, done))
    }

    async fn open_write(&self, rel: &str) -> Res<Arc<Handle>> {
        let name = self.name(rel);
        let o = OpenOptions { read: true, write: true, create: true, mode: 0o600, ..OpenOptions::default() };
        let file = self.client.open(&name, &o).await.map_err(self.err(rel))?;
        Ok(Arc::new(Handle { file, name }))
    }

    async fn write(&self, w: &Arc<Handle>, buf: Vec<u8>, len: usize, off: u64) -> Res<Vec<u8>> {
        w.file
            .write_at(&buf[..len], off)
            .await
            .map_err(|source| StageError::Remote { path: w.name.clone(), source })?;
        Ok(buf)
    }

    async fn finish(&self, w: &Arc<Handle>, a: Option<&Attrs>) -> Res<()> {
        // Size, mode and times travel with the publication: one request per file.
        let set = a.map(|a| set_attr(a, true)).unwrap_or_default();
        w.file.publish(set).await.map_err(|source| StageError::Remote { path: w.name.clone(), source })
    }

    async fn set_attrs(&self, rel: &str, a: &Attrs) -> Res<()> {
        self.client.set_attr(&self.name(rel), set_attr(a, false)).await.map(drop).map_err(self.err(rel))
    }
}

/// `a` as a BenchFS change; `grow` raises the size to `a.size` (a fresh file published by
/// its only writer) instead of cutting to it (which costs a request to every server).
fn set_attr(a: &Attrs, grow: bool) -> SetAttr {
    let (size, grow_to) = if grow { (None, a.size) } else { (a.size, None) };
    SetAttr {
        size,
        grow_to,
        mode: a.mode,
        atime: a.times.map(|t| t.0),
        mtime: a.times.map(|t| t.1),
        ..SetAttr::default()
    }
}
