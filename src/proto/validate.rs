//! The server's one decode-and-validate step: every path in a request is canonical
//! (absolute, no empty, `.` or `..` components, no NUL, no trailing slash), each
//! component at most [`MAX_NAME`] bytes and the whole at most [`MAX_PATH`]; anything
//! else is refused before a handler sees it, so `/x/y\0z` and `/x\0y/z` can never alias
//! one store key and `/a/../b` can never file a record under a missing parent.

use super::{Request, Status};
use crate::path::{MAX_NAME, MAX_PATH};

/// Most members a ring may have (a bound on what `AdoptRing` may make a server store).
pub const MAX_MEMBERS: usize = 1 << 16;

type Invalid = (Status, String);

fn bad(status: Status, why: String) -> Invalid {
    (status, why)
}

/// Checks that `p` is canonical; `root_ok` says whether "/" itself is acceptable.
pub fn canonical(p: &str, root_ok: bool) -> Result<(), Invalid> {
    if p.len() > MAX_PATH {
        return Err(bad(Status::NameTooLong, format!("path of {} bytes (limit {MAX_PATH})", p.len())));
    }
    if p == "/" {
        return if root_ok { Ok(()) } else { Err(bad(Status::Invalid, "the root cannot be the target".into())) };
    }
    let Some(rest) = p.strip_prefix('/') else {
        return Err(bad(Status::Invalid, format!("path {p:?} is not absolute")));
    };
    for c in rest.split('/') {
        match c {
            "" | "." | ".." => return Err(bad(Status::Invalid, format!("path {p:?} is not canonical"))),
            c if c.len() > MAX_NAME => {
                return Err(bad(Status::NameTooLong, format!("component of {} bytes (limit {MAX_NAME})", c.len())))
            }
            c if c.contains('\0') => return Err(bad(Status::Invalid, "path contains a NUL byte".into())),
            _ => {}
        }
    }
    Ok(())
}

fn name(n: &str) -> Result<(), Invalid> {
    if n.is_empty() || n.len() > MAX_NAME || n.contains(['/', '\0']) {
        return Err(bad(Status::Invalid, format!("{n:?} is not a file name")));
    }
    Ok(())
}

impl Request {
    /// Refuses a request whose paths are not canonical or whose fields are out of bounds.
    pub fn validate(&self) -> Result<(), Invalid> {
        match self {
            Request::Ping(_)
            | Request::Hello(_)
            | Request::Auth(_)
            | Request::Write(_)
            | Request::Read(_)
            | Request::TruncateChunks(_)
            | Request::Fsync(_)
            | Request::Usage(_)
            | Request::DropFiles(_) => Ok(()),
            Request::AdoptRing(r) => {
                if r.members.is_empty() || r.members.len() > MAX_MEMBERS || r.members.iter().any(|m| m.len() > 256) {
                    return Err(bad(Status::Invalid, "ring member list out of bounds".into()));
                }
                Ok(())
            }
            Request::Create(r) => canonical(&r.path, false),
            Request::Mkdir(r) => canonical(&r.path, false),
            Request::Stat(r) => canonical(&r.path, true),
            Request::Update(r) => canonical(&r.path, false),
            Request::Unlink(r) => canonical(&r.path, false),
            Request::Rmdir(r) => canonical(&r.path, false),
            Request::Rename(r) => canonical(&r.from, false).and(canonical(&r.to, false)),
            Request::Readdir(r) => canonical(&r.dir, true).and(r.after.as_deref().map_or(Ok(()), name)),
            Request::Insert(r) => canonical(&r.path, false),
            Request::Fence(r) => canonical(&r.dir, false),
            Request::MoveTree(r) => canonical(&r.from, false).and(canonical(&r.to, false)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alias_is_refused() {
        for p in ["/a/../b", "/a/./b", "//a", "/a/", "a/b", "/x/y\0z", "/x\0y/z", "", "/.."] {
            assert!(canonical(p, false).is_err(), "{p:?} accepted");
        }
        assert_eq!(canonical(&format!("/{}", "x".repeat(256)), false).unwrap_err().0, Status::NameTooLong);
        assert_eq!(canonical(&"/abcd".repeat(1000), false).unwrap_err().0, Status::NameTooLong);
        assert!(canonical("/a/b c/d", false).is_ok());
        assert!(canonical("/", true).is_ok() && canonical("/", false).is_err());
    }
}
