//! The registry directory: each server writes its address there; clients list it.
//!
//! One file per server, named after its address, written to a temporary name and
//! renamed so a reader never sees half an address (the directory may be on NFS).

use std::path::Path;

use crate::error::{Error, Result};

fn file_name(addr: &str) -> String {
    format!("server-{}", addr.replace(['/', ':'], "_"))
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

/// Lists the addresses registered in `dir`, sorted.
pub fn read(dir: &Path) -> Result<Vec<String>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::Config(format!("registry {}: {e}", dir.display())))?;
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| Error::Config(format!("registry {}: {e}", dir.display())))?;
        if !ent.file_name().to_string_lossy().starts_with("server-") {
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
    Ok(out)
}
