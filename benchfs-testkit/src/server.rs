//! Starting a real `benchfsd` for a test or benchmark: the one place that knows its
//! command line and its "benchfsd listening on ADDR" line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// What `benchfsd` prints on stdout once it accepts connections.
pub const READY_PREFIX: &str = "benchfsd listening on ";

/// How long a server may take to print its ready line (a loaded CI machine can be slow).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// `BIN --listen LISTEN --data-dir DATA_DIR`, outside any registry or secret the
/// environment names; callers add arguments, environment and stderr.
pub fn command(bin: &Path, listen: &str, data_dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(["--listen", listen, "--data-dir"])
        .arg(data_dir)
        .env_remove("BENCHFS_REGISTRY")
        .env_remove("BENCHFS_SECRET_FILE")
        .stdin(Stdio::null());
    cmd
}

/// Spawns `cmd` (a `benchfsd`, or something that execs one) with stdout piped and waits
/// up to [`START_TIMEOUT`] for its ready line. Returns the process and the address it
/// listens on; stdout keeps being drained, so the server never blocks on it. On failure
/// (it could not start, exited, or timed out) the process is killed and reaped, and the
/// error says what happened.
pub fn start(cmd: &mut Command) -> Result<(Child, String), String> {
    let mut child = cmd.stdout(Stdio::piped()).spawn().map_err(|e| format!("cannot spawn {cmd:?}: {e}"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            match (line.trim().strip_prefix(READY_PREFIX), tx.take()) {
                (Some(addr), Some(tx)) => drop(tx.send(Ok(addr.trim().to_string()))),
                (None, Some(tx)) => drop(tx.send(Err(format!("unexpected first line {line:?}")))),
                (_, None) => {}
            }
        }
    });
    let why = match rx.recv_timeout(START_TIMEOUT) {
        Ok(Ok(addr)) => return Ok((child, addr)),
        Ok(Err(why)) => why,
        Err(mpsc::RecvTimeoutError::Timeout) => format!("no {READY_PREFIX:?} line within {START_TIMEOUT:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => "stdout closed before a ready line".to_string(),
    };
    let _ = child.kill();
    let status = child.wait().ok();
    Err(format!("benchfsd did not start ({cmd:?}, exit status {status:?}): {why}"))
}

/// [`command`] plus `extra` arguments and `stderr`, started with [`start`]; panics if it
/// does not start (its stderr, wherever it went, says why).
pub fn spawn_benchfsd(bin: &Path, listen: &str, data_dir: &Path, stderr: Stdio, extra: &[String]) -> (Child, String) {
    start(command(bin, listen, data_dir).args(extra).stderr(stderr)).unwrap_or_else(|e| panic!("{e}"))
}

/// Servers a benchmark started, killed (SIGKILL) and reaped when dropped.
pub struct Servers(pub Vec<Child>);

impl Drop for Servers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
