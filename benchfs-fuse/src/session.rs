//! One mount's life: choose the cluster (or start the embedded server), mount, serve until a
//! signal or an unmount, then stop cleanly.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use benchfs::caller_driven::Runtimes;
use benchfs::config::ClusterArgs;
use benchfs::{Client, Config};
use tokio::runtime::Runtime;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::oneshot;

use crate::cli::Args;
use crate::daemon::Ready;
use crate::embedded::{default_data_dir, Embedded, EmbeddedError};
use crate::fs::BenchFs;
use crate::fuse::{Driver, FuseAdapter, FuseOptions};
use crate::mount::{self, MountError, MountOptions, Unmounted};

/// Background requests the kernel keeps in flight (its default of 16 throttles read-ahead
/// and async direct I/O).
const MAX_BACKGROUND: u16 = 128;

/// Why a mount could not be started, served or stopped; its message is what the user sees.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Mount(#[from] MountError),
    /// The cluster description (flags, environment, registry, secret) is unusable.
    #[error(transparent)]
    Config(#[from] benchfs::Error),
    #[error(
        "--data-dir is for the embedded server, but a cluster was given \
         (--servers/--registry or BENCHFS_SERVERS/BENCHFS_REGISTRY)"
    )]
    DataDirWithCluster,
    #[error("--secret-file is for joining a cluster (--servers/--registry); the embedded server makes its own")]
    SecretWithoutCluster,
    #[error("data directory {}: {source}", path.display())]
    DataDir { path: PathBuf, source: io::Error },
    #[error("cannot reach the cluster: {0}")]
    Unreachable(#[source] benchfs::Error),
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] io::Error),
    #[error("signal handlers: {0}")]
    Signals(#[source] io::Error),
    #[error("cannot go to the background: {0}")]
    Daemon(#[source] io::Error),
}

/// Where the files live.
pub enum Backend {
    Cluster(Config),
    Embedded(PathBuf),
}

/// Everything checked before going to the background, so that mistakes are reported
/// directly by the command.
pub struct Prepared {
    mountpoint: PathBuf,
    backend: Backend,
}

/// Checks the mountpoint, /dev/fuse and the cluster description.
///
/// # Errors
/// What the user has to fix.
pub fn prepare(args: &Args) -> Result<Prepared, SessionError> {
    let mountpoint = mount::check_mountpoint(&args.mountpoint)?;
    mount::check_dev_fuse()?;
    Ok(Prepared { mountpoint, backend: backend(args)? })
}

/// The cluster by [`Config::resolve`]'s precedence, else the embedded server.
fn backend(args: &Args) -> Result<Backend, SessionError> {
    match Config::resolve_if_given(&args.cluster())? {
        Some(_) if args.data_dir.is_some() => Err(SessionError::DataDirWithCluster),
        Some(mut cfg) => {
            // The kernel has looked the parent up before any create or mkdir.
            cfg.check_parent = false;
            Ok(Backend::Cluster(cfg))
        }
        None if args.secret_file.is_some() => Err(SessionError::SecretWithoutCluster),
        None => {
            let dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
            let dir = std::path::absolute(&dir).map_err(|source| SessionError::DataDir { path: dir, source })?;
            Ok(Backend::Embedded(dir))
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP (a closed terminal), each a request to unmount.
struct Signals([Signal; 3]);

impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals([signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?, signal(SignalKind::hangup())?]))
    }

    async fn recv(&mut self) -> &'static str {
        let [int, term, hup] = &mut self.0;
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
            _ = hup.recv() => "SIGHUP",
        }
    }
}

/// Connections a mount may hold for its session threads to have one per server each
/// (`Runtimes::PerThread`): 64 servers at 16 threads. Beyond, the threads share one
/// runtime and one connection per server, as a server's `--max-connections` (8192 by
/// default) would otherwise be reached at about 500 nodes.
const MAX_PER_THREAD_CONNECTIONS: u64 = 1024;

/// The runtimes the session threads drive themselves (fuse.rs, `Driver::Caller`).
fn session_runtimes(backend: &Backend, args: &Args) -> std::io::Result<Runtimes> {
    let connections = match backend {
        Backend::Cluster(cfg) => args.threads.saturating_mul(cfg.servers.len() as u64),
        Backend::Embedded(_) => 0,
    };
    let per_thread = !args.shared_connections && connections <= MAX_PER_THREAD_CONNECTIONS;
    tracing::debug!(per_thread, connections, "session runtimes");
    Runtimes::new(per_thread)
}

/// Connects to the cluster, or starts the embedded server (on `rt`) and connects to it.
/// When the session threads drive their own runtimes (`io`), each has its own connections.
fn connect(backend: Backend, rt: &Runtime, io: Option<&Runtimes>) -> Result<(Client, Option<Embedded>), SessionError> {
    match backend {
        Backend::Cluster(cfg) => {
            let client = match io {
                Some(io @ Runtimes::PerThread(_)) => io.block_on(Client::connect_per_thread(cfg)),
                Some(io @ Runtimes::Shared(_)) => io.block_on(Client::connect(cfg)),
                None => Ok(rt.block_on(Client::connect(cfg))),
            };
            Ok((client.map_err(SessionError::Runtime)?.map_err(SessionError::Unreachable)?, None))
        }
        Backend::Embedded(dir) => rt.block_on(embedded(&dir)),
    }
}

/// Starts the embedded server and a client calling it in-process.
async fn embedded(dir: &std::path::Path) -> Result<(Client, Option<Embedded>), SessionError> {
    let emb = Embedded::start(dir).await?;
    // The embedded server's address is the `--servers` flag; the environment's tuning applies.
    let args = ClusterArgs { servers: Some(emb.addr().to_string()), ..ClusterArgs::default() };
    match Config::resolve(&args) {
        Ok(mut cfg) => {
            cfg.check_parent = false;
            Ok((emb.client(cfg), Some(emb)))
        }
        Err(e) => {
            let _ = emb.stop().await;
            Err(e.into())
        }
    }
}

/// Tells a waiting parent (daemon mode) how starting went; a no-op in the foreground.
struct Reporter {
    ready: Option<Ready>,
    keep_stderr: bool,
}

impl Reporter {
    fn ok(&mut self) {
        if let Some(r) = self.ready.take() {
            r.report(Ok(()), self.keep_stderr);
        }
    }

    /// Reports `e` and hands it back for the foreground's own error path.
    fn fail(&mut self, e: impl Into<SessionError>) -> SessionError {
        let e = e.into();
        if let Some(r) = self.ready.take() {
            r.report(Err(&e.to_string()), self.keep_stderr);
        }
        e
    }
}

/// Mounts and serves until unmounted. `ready` (daemon mode) is told once the mount is live
/// or why it could not be made.
///
/// # Errors
/// What stopped the mount, for the user.
pub fn run(args: &Args, prep: Prepared, ready: Option<Ready>) -> Result<(), SessionError> {
    let keep_stderr = args.debug || std::env::var_os("RUST_LOG").is_some();
    let mut reporter = Reporter { ready, keep_stderr };
    // The service runtime: signals, the embedded server's background work, and with
    // --runtime-threads the requests themselves. Otherwise one worker is plenty.
    let workers = usize::try_from(args.runtime_threads).unwrap_or(1).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .thread_name("benchfs-rt")
        .build()
        .map_err(|e| reporter.fail(SessionError::Runtime(e)))?;
    let io = match args.runtime_threads {
        0 => {
            Some(Arc::new(session_runtimes(&prep.backend, args).map_err(|e| reporter.fail(SessionError::Runtime(e)))?))
        }
        _ => None,
    };
    let result = serve(args, prep, &rt, io.clone(), &mut reporter);
    rt.shutdown_timeout(Duration::from_secs(2));
    result
}

fn serve(
    args: &Args,
    prep: Prepared,
    rt: &Runtime,
    io: Option<Arc<Runtimes>>,
    reporter: &mut Reporter,
) -> Result<(), SessionError> {
    // Installed before mounting: from here on a signal unmounts instead of killing us.
    let mut signals = rt.block_on(async { Signals::new() }).map_err(|e| reporter.fail(SessionError::Signals(e)))?;
    let description = benchfs::mount_info::encode(
        match &prep.backend {
            Backend::Cluster(cfg) => Some(cfg),
            Backend::Embedded(_) => None,
        },
        args.attr_ttl(),
    );
    let (client, embedded) = connect(prep.backend, rt, io.as_deref()).map_err(|e| reporter.fail(e))?;
    let (destroyed_tx, mut destroyed) = oneshot::channel();
    let fuse_opts = FuseOptions {
        attr_ttl: args.attr_ttl(),
        direct_io: args.direct_io,
        max_write: args.max_write,
        read_ahead: args.read_ahead,
        max_background: MAX_BACKGROUND,
    };
    let fs = Arc::new(BenchFs::with_root_mode(client, args.root_mode).with_dir_ttl(args.attr_ttl()));
    let driver = match io {
        Some(io) => Driver::Caller(io),
        None => Driver::Tasks(rt.handle().clone()),
    };
    let adapter = FuseAdapter::new(fs.clone(), driver, fuse_opts, destroyed_tx).with_description(description);
    let mount_opts = MountOptions {
        allow_other: args.allow_other,
        threads: usize::try_from(args.threads).unwrap_or(1),
        fsname: "benchfs".into(),
        read_ahead_kib: (!args.direct_io).then_some(args.read_ahead / 1024),
    };
    let mounted = match mount::mount(adapter, &prep.mountpoint, &mount_opts) {
        Ok(m) => m,
        Err(e) => {
            if let Some(emb) = embedded {
                let _ = rt.block_on(emb.stop());
            }
            return Err(reporter.fail(e));
        }
    };
    fs.set_kernel_names(mounted.kernel_names());
    reporter.ok();
    let cluster = embedded.as_ref().map_or_else(
        || "cluster".to_string(),
        |e| format!("embedded server {} on {}", e.addr(), e.data_dir().display()),
    );
    tracing::info!(mountpoint = %mounted.path().display(), %cluster, threads = mount_opts.threads, "mounted");

    let stop = rt.block_on(async {
        tokio::select! {
            _ = &mut destroyed => None,
            s = signals.recv() => Some(s),
        }
    });
    let result = match stop {
        None => {
            tracing::info!("unmounted from outside; stopping");
            mounted.join();
            Ok(())
        }
        Some(sig) => {
            tracing::info!(signal = sig, "unmounting");
            match mounted.unmount() {
                Ok(Unmounted::Clean) => Ok(()),
                Ok(Unmounted::Detached) => {
                    // Serve the remaining users of the detached mount until they let go.
                    rt.block_on(async {
                        tokio::select! {
                            _ = &mut destroyed => {}
                            s = signals.recv() => tracing::warn!(signal = s, "second signal: exiting now"),
                        }
                    });
                    Ok(())
                }
                Err(e) => Err(e.into()),
            }
        }
    };
    if let Some(emb) = embedded {
        rt.block_on(emb.stop())?;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_errors_keep_their_source() {
        use std::error::Error as _;
        let e = SessionError::Unreachable(benchfs::Error::Io("down".into()));
        assert_eq!(e.to_string(), format!("cannot reach the cluster: {}", benchfs::Error::Io("down".into())));
        assert!(e.source().is_some());
        let e = SessionError::from(EmbeddedError::CreateDir {
            path: "/d".into(),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        });
        assert!(e.to_string().starts_with("cannot open data directory /d: permission denied (is another"), "{e}");
        assert!(e.source().is_some());
    }
}
