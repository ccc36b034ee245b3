//! `benchfsd`: one BenchFS server. Run one per node for the length of a job.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(version, about = "BenchFS server: pools this node's storage into the job's file system")]
struct Args {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, default_value = "0.0.0.0:7070")]
    listen: String,
    /// Address clients should use, when it differs from --listen (e.g. 0.0.0.0 binds).
    #[arg(long)]
    advertise: Option<String>,
    /// Directory holding this server's chunks and metadata (node-local: NVMe, tmpfs).
    #[arg(long)]
    data_dir: PathBuf,
    /// Shared directory where servers announce their addresses for clients.
    #[arg(long, env = "BENCHFS_REGISTRY")]
    registry: Option<PathBuf>,
    /// File holding the cluster secret every client must prove it knows (created with a
    /// random secret, mode 0600, if missing). Default with --registry: REGISTRY/secret.
    /// With neither, the server is open to anyone who can reach it.
    #[arg(long, env = "BENCHFS_SECRET_FILE")]
    secret_file: Option<PathBuf>,
    /// Worker threads of the server's runtime (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// How many servers the job has (the Slurm and mpirun scripts pass it): the ring
    /// forms only from a list of exactly N, and clients reading the registry wait until
    /// N servers registered. Without it, the first client's list is the ring.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    expect: Option<u32>,
    /// Client connections served at once; more are closed at accept.
    #[arg(long, default_value_t = benchfs::listen::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: logs redirected to files stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    check_fd_limit(args.max_connections);
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(t) = args.threads {
        rt.worker_threads(t.max(1));
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    match rt.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Descriptors beyond the client connections: the listener, the metadata store, chunk
/// files being read or written, and connections to peers (one per other member).
const FD_RESERVE: u64 = 1024;

/// Every connection is a descriptor: raise the soft limit to the hard one, and say at
/// start (not at the first refused connection) when the hard limit cannot hold
/// `--max-connections`.
fn check_fd_limit(max_connections: usize) {
    let want = u64::try_from(max_connections).unwrap_or(u64::MAX).saturating_add(FD_RESERVE);
    match benchfs::fd_limit::raise() {
        Ok(l) if l.soft < want => tracing::warn!(
            soft = l.soft,
            hard = l.hard,
            max_connections,
            "the open-file limit is lower than --max-connections plus {FD_RESERVE}: connections past it \
             fail at accept; raise the hard limit (ulimit -Hn) or lower --max-connections"
        ),
        Ok(l) => tracing::debug!(soft = l.soft, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("benchfsd: {msg}");
    ExitCode::FAILURE
}

async fn serve(args: Args) -> Result<(), String> {
    let secret_file =
        args.secret_file.clone().or_else(|| args.registry.as_ref().map(|r| r.join(benchfs::auth::REGISTRY_SECRET)));
    let secret = match &secret_file {
        Some(f) => {
            if let Some(dir) = f.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            Some(benchfs::auth::Secret::load_or_create(f).map_err(|e| e.to_string())?)
        }
        None => {
            tracing::warn!("no --secret-file or --registry: any client that can reach this server may use it");
            None
        }
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let addr = match &args.advertise {
        Some(a) => a.clone(),
        None if local.ip().is_unspecified() => {
            return Err(format!(
                "--listen {} binds every address: say which one clients use with --advertise",
                args.listen
            ))
        }
        None => local.to_string(),
    };
    // The ring names servers by address, so the node needs its own before it opens.
    let peers = Arc::new(benchfs::transport::tcp::TcpPeers::new(secret.clone()));
    let node = benchfs::server::Node::open(&args.data_dir, &addr, secret, peers)
        .map_err(|e| format!("cannot open data directory {}: {e}", args.data_dir.display()))?;
    let expect = args.expect.map(|n| n as usize);
    if let Some(n) = expect {
        node.expect_members(n).map_err(|e| format!("--expect {n}: {e}"))?;
    }
    if let Some(dir) = &args.registry {
        // The size first: a client that sees this server's entry also sees how many to wait for.
        if let Some(n) = expect {
            benchfs::registry::announce_expected(dir, n).map_err(|e| format!("--expect {n}: {e}"))?;
        }
        benchfs::registry::register(dir, &addr).map_err(|e| format!("cannot register in {}: {e}", dir.display()))?;
    }
    tracing::info!(%addr, data_dir = %args.data_dir.display(), "serving");
    // Tests and launch scripts wait for this exact line.
    println!("benchfsd listening on {addr}");
    // A stopped server stays in the registry: it is still a member of the job's ring,
    // and clients must fail on its keys, not build a smaller ring without it.
    let result = benchfs::listen::run(listener, Arc::new(node), args.max_connections, shutdown_signal()).await;
    result.map_err(|e| format!("shutdown: {e}"))?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {}
                _ = i.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
    tracing::info!("signal received");
}
