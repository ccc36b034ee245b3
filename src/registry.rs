//! The registry directory: each server writes its address there; clients list it.
//!
//! One file per server, written to a temporary name and renamed so a reader never sees
//! half an entry (the directory may be on NFS). The address is in the file's *name*
//! (`server-` and the address with `%`, `/` and `:` escaped as `%XX`), so a client
//! reads the whole list with one directory listing: with 1,000 servers and every rank
//! of a job reading the registry, one open per entry would be millions of metadata
//! requests to the shared file system. The file also holds the address, for people and
//! for names written before the escaping (`server-HOST_PORT`), which are read as before.

use std::path::Path;

use crate::error::{Error, Result};

const PREFIX: &str = "server-";

fn file_name(addr: &str) -> String {
    let mut name = String::from(PREFIX);
    for c in addr.chars() {
        match c {
            '%' | '/' | ':' => name.push_str(&format!("%{:02X}", u32::from(c))),
            c => name.push(c),
        }
    }
    name
}

/// The address a file name carries, or `None` for a name without escapes (an older
/// server's entry: its file must be read).
fn addr_of(name: &str) -> Option<String> {
    let escaped = name.strip_prefix(PREFIX).filter(|n| n.contains('%'))?;
    let mut out = String::new();
    let mut rest = escaped;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())?;
        out.push(char::from(code));
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// Announces `addr` in `dir` (created if missing).
pub fn register(dir: &Path, addr: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let name = file_name(addr);
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    std::fs::write(&tmp, format!("{addr}\n"))?;
    std::fs::rename(&tmp, dir.join(name))
}

/// Removes `addr` from `dir` (clean shutdown).
pub fn unregister(dir: &Path, addr: &str) -> std::io::Result<()> {
    match std::fs::remove_file(dir.join(file_name(addr))) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Lists the addresses registered in `dir`, sorted and without duplicates.
pub fn read(dir: &Path) -> Result<Vec<String>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::Config(format!("registry {}: {e}", dir.display())))?;
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| Error::Config(format!("registry {}: {e}", dir.display())))?;
        let name = ent.file_name().to_string_lossy().into_owned();
        if !name.starts_with(PREFIX) {
            continue;
        }
        if let Some(addr) = addr_of(&name) {
            out.push(addr);
            continue;
        }
        let text = std::fs::read_to_string(ent.path())
            .map_err(|e| Error::Config(format!("registry {}: {e}", ent.path().display())))?;
        let addr = text.trim();
        if !addr.is_empty() {
            out.push(addr.to_string());
        }
    }
    if out.is_empty() {
        return Err(Error::Config(format!("registry {} lists no servers", dir.display())));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_address() {
        for a in ["127.0.0.1:7070", "[::1]:7070", "node-1.cluster:70", "odd%host/x:1"] {
            assert_eq!(addr_of(&file_name(a)).as_deref(), Some(a));
        }
        assert_eq!(addr_of("server-127.0.0.1_7070"), None);
        assert_eq!(addr_of("server-bad%4"), None);
    }

    #[test]
    fn a_thousand_entries_and_older_ones_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let addrs: Vec<String> = (0..1000).map(|i| format!("10.0.{}.{}:7070", i / 256, i % 256)).collect();
        for a in &addrs {
            register(dir.path(), a).unwrap();
        }
        // An entry as servers wrote them before names carried the address.
        std::fs::write(dir.path().join("server-10.9.9.9_7070"), "10.9.9.9:7070\n").unwrap();
        std::fs::write(dir.path().join("secret"), "not an entry").unwrap();
        let mut want = addrs.clone();
        want.push("10.9.9.9:7070".into());
        want.sort();
        assert_eq!(read(dir.path()).unwrap(), want);
        unregister(dir.path(), &addrs[0]).unwrap();
        assert_eq!(read(dir.path()).unwrap().len(), 1000);
    }
}
