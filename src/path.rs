//! Path canonicalisation: every path that reaches a server is absolute, has no
//! empty, "." or ".." components, no trailing slash, and fits the limits below.

use crate::error::{Error, Result};

/// Longest path accepted, in bytes (PATH_MAX including the NUL).
pub const MAX_PATH: usize = 4095;
/// Longest single component, in bytes (NAME_MAX).
pub const MAX_NAME: usize = 255;

/// Name prefix under which a FUSE mount keeps a file unlinked (or replaced) while open
/// until its last close (as NFS clients do). Servers do not count the final removal of
/// such a name as a change of its directory: the change the application made was the
/// unlink, when the name was hidden (so a directory's times set after it stay).
pub const HIDDEN_PREFIX: &str = ".benchfs-unlinked-";

/// Returns the canonical form of `p`; ".." is resolved lexically (BenchFS has no symlinks).
pub fn normalize(p: &str) -> Result<String> {
    if !p.starts_with('/') {
        return Err(Error::Invalid(format!("path must be absolute: {p:?}")));
    }
    if p.contains('\0') {
        return Err(Error::Invalid("path contains a NUL byte".into()));
    }
    if p.len() > MAX_PATH {
        return Err(Error::NameTooLong(format!("{}...", &p[..p.floor_char_boundary(64)])));
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c if c.len() > MAX_NAME => return Err(Error::NameTooLong(c.to_string())),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Ok("/".to_string());
    }
    let mut out = String::with_capacity(p.len());
    for c in parts {
        out.push('/');
        out.push_str(c);
    }
    Ok(out)
}

/// Splits a canonical path into (parent, name); the root has no parent.
pub fn split(p: &str) -> Option<(&str, &str)> {
    if p == "/" {
        return None;
    }
    let i = p.rfind('/')?;
    Some((if i == 0 { "/" } else { &p[..i] }, &p[i + 1..]))
}

/// Joins a canonical directory path and a name.
pub fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// True when `p` is `ancestor` itself or lies below it.
pub fn is_within(p: &str, ancestor: &str) -> bool {
    ancestor == "/" || p == ancestor || (p.starts_with(ancestor) && p.as_bytes().get(ancestor.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(normalize("/").unwrap(), "/");
        assert_eq!(normalize("//a//b/./c/").unwrap(), "/a/b/c");
        assert_eq!(normalize("/a/../b").unwrap(), "/b");
        assert_eq!(normalize("/..").unwrap(), "/");
        assert!(matches!(normalize("a/b"), Err(Error::Invalid(_))));
        assert!(matches!(normalize(&format!("/{}", "x".repeat(256))), Err(Error::NameTooLong(_))));
        assert!(matches!(normalize(&"/abc".repeat(1100)), Err(Error::NameTooLong(_))));
    }

    #[test]
    fn splits_and_joins() {
        assert_eq!(split("/a"), Some(("/", "a")));
        assert_eq!(split("/a/b"), Some(("/a", "b")));
        assert_eq!(split("/"), None);
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert!(is_within("/a/b", "/a"));
        assert!(!is_within("/ab", "/a"));
        assert!(is_within("/a", "/a"));
    }
}
