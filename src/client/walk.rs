//! Walking a directory tree: `benchfs find` and IO500's find phase.
//!
//! Every readdir asks every server, so a walk costs (directories x servers) requests;
//! directories of one level are listed in parallel (at most [`DIRS_IN_FLIGHT`] at a
//! time, each itself a bounded fan-out), so the walk takes about one round of fan-outs
//! per level of the tree, not one per directory. Entries come with their attributes:
//! nothing is stat'ed again.

use futures::stream::{self, StreamExt};

use super::{Client, DirEntry};
use crate::error::Result;
use crate::path::normalize;

/// Directories listed at once.
const DIRS_IN_FLIGHT: usize = 16;

impl Client {
    /// Calls `visit(parent, entry)` for every entry below `root` (not `root` itself),
    /// level by level; subdirectories are entered, symbolic links are not followed.
    pub async fn walk(&self, root: &str, mut visit: impl FnMut(&str, &DirEntry)) -> Result<()> {
        let mut level = vec![normalize(root)?];
        while !level.is_empty() {
            let listed: Vec<(String, Result<Vec<DirEntry>>)> = stream::iter(level)
                .map(|dir| async move {
                    let entries = self.readdir(&dir).await;
                    (dir, entries)
                })
                .buffer_unordered(DIRS_IN_FLIGHT)
                .collect()
                .await;
            let mut next = Vec::new();
            for (dir, entries) in listed {
                for e in entries? {
                    visit(&dir, &e);
                    if e.attr.is_dir() {
                        next.push(if dir == "/" { format!("/{}", e.name) } else { format!("{dir}/{}", e.name) });
                    }
                }
            }
            level = next;
        }
        Ok(())
    }
}
