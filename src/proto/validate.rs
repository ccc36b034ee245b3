//! The server's one decode-and-validate step: every path in a request is canonical
//! (absolute, no empty, `.` or `..` components, no NUL, no trailing slash), each
//! component at most [`MAX_NAME`] bytes and the whole at most [`MAX_PATH`]; anything
//! else is refused before a handler sees it, so `/x/y\0z` and `/x\0y/z` can never alias
//! one store key and `/a/../b` can never file a record under a missing parent.

use super::{Class, FileId, Request, Status, MAX_EXPECT};
use crate::meta::{Attr, FileKind, MAX_TARGET};
use crate::path::{MAX_NAME, MAX_PATH};

/// Most members a ring may have (a bound on what `AdoptRing` may make a server store).
pub const MAX_MEMBERS: usize = 1 << 16;

/// Why a request was refused: its status and a message.
pub type Invalid = (Status, String);

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

pub fn name(n: &str) -> Result<(), Invalid> {
    if n.is_empty() || n.len() > MAX_NAME || n.contains(['/', '\0']) {
        return Err(bad(Status::Invalid, format!("{n:?} is not a file name")));
    }
    Ok(())
}

/// Checks a symbolic link's target: not empty, at most [`MAX_TARGET`] bytes, no NUL.
pub fn target(t: &str) -> Result<(), Invalid> {
    if t.len() > MAX_TARGET {
        return Err(bad(Status::NameTooLong, format!("link target of {} bytes (limit {MAX_TARGET})", t.len())));
    }
    if t.is_empty() || t.contains('\0') {
        return Err(bad(Status::Invalid, "a link target is not empty and has no NUL byte".into()));
    }
    Ok(())
}

/// A record as a peer sends it: a target exactly when it is a symbolic link, valid.
pub fn record(a: &Attr) -> Result<(), Invalid> {
    match (&a.kind, &a.target) {
        (FileKind::Symlink, Some(t)) => target(t),
        (FileKind::Symlink, None) | (_, Some(_)) => {
            Err(bad(Status::Invalid, "a record has a link target exactly when it is a symbolic link".into()))
        }
        _ => Ok(()),
    }
}

/// An [`super::Expect`]'s own bounds: 1 to [`MAX_EXPECT`] canonical paths, around a
/// metadata request ([`Class::Meta`]: never a nested Expect, a request between servers
/// or one on chunks), itself valid.
pub fn expect(paths: &[(String, FileId)], request: &Request) -> Result<(), Invalid> {
    if paths.is_empty() || paths.len() > MAX_EXPECT {
        return Err(bad(Status::Invalid, format!("an Expect names 1 to {MAX_EXPECT} paths")));
    }
    paths.iter().try_for_each(|(p, _)| canonical(p, true))?;
    if request.class() != Class::Meta {
        return Err(bad(Status::Invalid, format!("{} cannot be sent as an Expect", request.name())));
    }
    request.validate()
}

/// Mknod makes FIFOs, sockets and devices only.
pub fn mknod_kind(kind: FileKind) -> Result<(), Invalid> {
    if !kind.is_special() {
        return Err(bad(Status::Invalid, format!("mknod makes FIFOs, sockets and devices, not {kind:?}")));
    }
    Ok(())
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

    #[test]
    fn link_targets() {
        assert!(target("../a/./b//c").is_ok() && target("/").is_ok());
        assert_eq!(target("").unwrap_err().0, Status::Invalid);
        assert_eq!(target("a\0b").unwrap_err().0, Status::Invalid);
        assert!(target(&"x".repeat(MAX_TARGET)).is_ok());
        assert_eq!(target(&"x".repeat(MAX_TARGET + 1)).unwrap_err().0, Status::NameTooLong);
        let mk =
            |kind| Request::Mknod(crate::proto::Mknod { path: "/f".into(), kind, mode: 0, rdev: 0, uid: 0, gid: 0 });
        assert!(mk(FileKind::Fifo).validate().is_ok());
        assert!(mk(FileKind::File).validate().is_err() && mk(FileKind::Symlink).validate().is_err());
        let mut a = Attr::new(FileKind::Symlink, 0o777, (0, 0), (0, 0), 1, 0);
        assert!(record(&a).is_err());
        a.target = Some("t".into());
        assert!(record(&a).is_ok());
        a.kind = FileKind::File;
        assert!(record(&a).is_err());
    }
}
