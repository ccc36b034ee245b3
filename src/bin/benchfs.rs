//! `benchfs`: the command-line client (status, put, get, ls, stat, mkdir, mv, ln, find, rm,
//! stage-in, stage-out).

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use benchfs::config::ClusterArgs;
use benchfs::{Client, Config, FileKind, OpenOptions};
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(version, about = "Command-line client of a BenchFS cluster", after_help = PRECEDENCE)]
struct Cli {
    /// Servers, "host:port,host:port" [env: BENCHFS_SERVERS].
    #[arg(long, global = true)]
    servers: Option<String>,
    /// Registry directory the servers announced themselves in [env: BENCHFS_REGISTRY].
    #[arg(long, global = true)]
    registry: Option<PathBuf>,
    /// Cluster secret file [env: BENCHFS_SECRET_FILE; default with a registry: its `secret` file].
    #[arg(long, global = true)]
    secret_file: Option<PathBuf>,
    /// Seconds to wait for any server before failing [env: BENCHFS_TIMEOUT; default: 10].
    #[arg(long, global = true, value_parser = |s: &str| benchfs::config::parse_seconds("--timeout", s))]
    timeout: Option<std::time::Duration>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Each server: address, reachable, chunks and bytes stored, space.
    Status,
    /// Copy a local file into BenchFS.
    Put { local: PathBuf, remote: String },
    /// Copy a file out of BenchFS ("-" writes to stdout).
    Get { remote: String, local: PathBuf },
    /// List a directory.
    Ls {
        #[arg(short = 'l')]
        long: bool,
        #[arg(default_value = "/")]
        path: String,
    },
    /// Show a path's attributes.
    Stat { path: String },
    /// Create a directory.
    Mkdir {
        /// Create missing parents; no error if it exists.
        #[arg(short = 'p')]
        parents: bool,
        path: String,
    },
    /// Rename a file or directory.
    Mv { old: String, new: String },
    /// Make PATH a hard link to the file TARGET, or with -s a symbolic link pointing to TARGET.
    Ln {
        /// Symbolic: store TARGET as given (not resolved, may dangle).
        #[arg(short = 's')]
        symbolic: bool,
        target: String,
        path: String,
    },
    /// Copy a local tree (or file, or --files-from list) into BenchFS, in parallel.
    StageIn(benchfs::stage::StageArgs),
    /// Copy a BenchFS tree (or file, or --files-from list) out to the local file system.
    StageOut(benchfs::stage::StageArgs),
    /// Entries below PATH that match every test given (as GNU find's -name, -size Nc,
    /// -newer), listed in parallel; prints their paths, or with --count only
    /// "MATCHED <matches>/<entries examined>" (IO500's external find format).
    Find {
        path: String,
        /// Name pattern as GNU find's -name: *, ?, [...], [!...], [[:alpha:]], backslash escapes.
        #[arg(long)]
        name: Option<String>,
        /// Exact size in bytes, "3901" or "3901c" (find -size Nc).
        #[arg(long)]
        size: Option<String>,
        /// Modified after this *local* file (find -newer; IO500's timestamp file is local).
        #[arg(long)]
        newer: Option<PathBuf>,
        #[arg(long)]
        count: bool,
    },
    /// Remove a file (or, with -r, a directory tree).
    Rm {
        #[arg(short = 'r')]
        recursive: bool,
        path: String,
    },
}

/// The environment is read by [`Config::resolve`], not through clap's `env`: with both
/// variables set, clap would either reject every call or let a variable beat a flag.
const PRECEDENCE: &str = "Finding the cluster: command-line flags beat the environment, and a server \
list beats a registry at the same level: --servers, then --registry, then BENCHFS_SERVERS, then \
BENCHFS_REGISTRY. Likewise --secret-file beats BENCHFS_SECRET_FILE (then the registry's secret), \
and --timeout beats BENCHFS_TIMEOUT.";

/// Size of one copy buffer: a few chunks, written with one call so they go out in parallel.
const COPY_BUF: usize = 16 << 20;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: logs redirected to files stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("benchfs: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("benchfs: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The cluster by [`PRECEDENCE`] ([`Config::resolve`]).
fn config(cli: &Cli) -> benchfs::Result<Config> {
    Config::resolve(&ClusterArgs {
        servers: cli.servers.clone(),
        registry: cli.registry.clone(),
        secret_file: cli.secret_file.clone(),
        timeout: cli.timeout,
    })
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    let mut cfg = config(&cli).map_err(|e| e.to_string())?;
    if let Cmd::Status = cli.cmd {
        // A look, not a use: a cluster still starting must not get its ring from here.
        cfg.form_ring = false;
        return Ok(status(Client::new_lazy(cfg)).await);
    }
    let c = Client::new_lazy(cfg);
    let r = match &cli.cmd {
        Cmd::Status => unreachable!("handled above"),
        Cmd::StageIn(a) => return stage(c, benchfs::stage::Direction::In, a).await,
        Cmd::StageOut(a) => return stage(c, benchfs::stage::Direction::Out, a).await,
        Cmd::Put { local, remote } => put(&c, local, remote).await,
        Cmd::Get { remote, local } => get(&c, remote, local).await,
        Cmd::Ls { long, path } => ls(&c, path, *long).await,
        Cmd::Stat { path } => stat(&c, path).await,
        Cmd::Mkdir { parents, path } => mkdir(&c, path, *parents).await,
        Cmd::Ln { symbolic: true, target, path } => c.symlink(target, path).await.map(drop).map_err(|e| e.to_string()),
        Cmd::Ln { symbolic: false, target, path } => c.link(target, path).await.map(drop).map_err(|e| e.to_string()),
        Cmd::Mv { old, new } => c.rename(old, new).await.map_err(|e| e.to_string()),
        Cmd::Rm { recursive, path } => rm(&c, path, *recursive).await.map_err(|e| e.to_string()),
        Cmd::Find { path, name, size, newer, count } => {
            find(&c, path, name.as_deref(), size.as_deref(), newer.as_ref(), *count).await
        }
    };
    r.map(|()| ExitCode::SUCCESS)
}

async fn stage(c: Client, d: benchfs::stage::Direction, a: &benchfs::stage::StageArgs) -> Result<ExitCode, String> {
    let all_copied = benchfs::stage::stage(c, d, a).await.map_err(|e| e.to_string())?;
    Ok(if all_copied { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn status(c: Client) -> ExitCode {
    let mut ok = true;
    println!(
        "{:<24} {:<11} {:>10} {:>14} {:>14} {:>10}  RING",
        "SERVER", "STATE", "CHUNKS", "CHUNK BYTES", "FREE BYTES", "RECORDS"
    );
    let (usage, rings) = futures::join!(c.server_status(), c.server_rings());
    for (s, ring) in usage.into_iter().zip(rings) {
        let ring = match ring {
            // The member list's hash: servers that formed the ring at one instant may
            // each have stamped their own formation time.
            Ok(Some(r)) => format!("{:016x}", r.members_hash),
            // Formed by the first client that uses the cluster, never by this command.
            Ok(None) => "not formed yet".to_string(),
            Err(_) => "?".to_string(),
        };
        match s.result {
            Ok(st) => println!(
                "{:<24} {:<11} {:>10} {:>14} {:>14} {:>10}  {ring}",
                s.addr, "reachable", st.chunks, st.chunk_bytes, st.avail_bytes, st.inodes
            ),
            Err(e) => {
                ok = false;
                println!("{:<24} {:<11} {e}", s.addr, "UNREACHABLE");
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("benchfs: some servers are unreachable");
        ExitCode::FAILURE
    }
}

fn progress(total: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() || total < (64 << 20) {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(total);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bytes}/{total_bytes} {wide_bar} {binary_bytes_per_sec} eta {eta}")
    {
        pb.set_style(style);
    }
    pb
}

async fn put(c: &Client, local: &PathBuf, remote: &str) -> Result<(), String> {
    let local_err = |e: std::io::Error| format!("{}: {e}", local.display());
    let mut src = std::fs::File::open(local).map_err(local_err)?;
    let total = src.metadata().map(|m| m.len()).unwrap_or(0);
    let mut buf = vec![0u8; COPY_BUF];
    // The first read comes before the destination is created or truncated: a source that
    // is missing, a directory or unreadable never costs an existing remote file its content.
    let mut n = read_full(&mut src, &mut buf).map_err(local_err)?;
    let opts = OpenOptions { read: false, write: true, create: true, truncate: true, ..OpenOptions::default() };
    let f = c.open(remote, &opts).await.map_err(|e| e.to_string())?;
    let pb = progress(total);
    let mut off = 0u64;
    while n > 0 {
        f.write_at(&buf[..n], off).await.map_err(|e| e.to_string())?;
        off += n as u64;
        pb.set_position(off);
        n = read_full(&mut src, &mut buf).map_err(local_err)?;
    }
    pb.finish_and_clear();
    f.close().await.map_err(|e| e.to_string())
}

/// Fills `buf` as far as the source allows (a pipe returns short reads).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

async fn get(c: &Client, remote: &str, local: &PathBuf) -> Result<(), String> {
    let f = c.open(remote, &OpenOptions::default()).await.map_err(|e| e.to_string())?;
    let mut out: Box<dyn Write> = if local.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(local).map_err(|e| format!("{}: {e}", local.display()))?)
    };
    let pb = progress(f.size());
    let mut buf = vec![0u8; COPY_BUF];
    let mut off = 0u64;
    loop {
        let n = f.read_at(&mut buf, off).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(|e| format!("{}: {e}", local.display()))?;
        off += n as u64;
        pb.set_position(off);
    }
    pb.finish_and_clear();
    out.flush().map_err(|e| format!("{}: {e}", local.display()))
}

fn kind_char(k: FileKind) -> char {
    match k {
        FileKind::Dir => 'd',
        FileKind::File => '-',
        FileKind::Symlink => 'l',
        FileKind::Fifo => 'p',
        FileKind::Socket => 's',
        FileKind::CharDev => 'c',
        FileKind::BlockDev => 'b',
    }
}

fn mode_string(a: &benchfs::Attr) -> String {
    let mut s = String::from(kind_char(a.kind));
    for shift in [6, 3, 0] {
        let b = (a.mode >> shift) & 7;
        s.push(if b & 4 != 0 { 'r' } else { '-' });
        s.push(if b & 2 != 0 { 'w' } else { '-' });
        s.push(if b & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// A device's "major, minor" (as ls -l shows it), else the size.
fn size_column(a: &benchfs::Attr) -> String {
    match a.kind {
        FileKind::CharDev | FileKind::BlockDev => format!("{}, {}", libc::major(a.rdev), libc::minor(a.rdev)),
        _ => a.size.to_string(),
    }
}

fn kind_name(k: FileKind) -> &'static str {
    match k {
        FileKind::Dir => "directory",
        FileKind::File => "file",
        FileKind::Symlink => "symbolic link",
        FileKind::Fifo => "fifo",
        FileKind::Socket => "socket",
        FileKind::CharDev => "character device",
        FileKind::BlockDev => "block device",
    }
}

async fn ls(c: &Client, path: &str, long: bool) -> Result<(), String> {
    let a = c.stat(path).await.map_err(|e| e.to_string())?;
    let entries = if a.is_dir() {
        c.readdir(path).await.map_err(|e| e.to_string())?
    } else {
        vec![benchfs::DirEntry { name: path.to_string(), attr: a }]
    };
    let mut out = std::io::stdout().lock();
    for e in entries {
        let r = if long {
            writeln!(
                out,
                "{} {:>3} {:>5} {:>5} {:>12} {:>10} {}{}",
                mode_string(&e.attr),
                e.attr.nlink,
                e.attr.uid,
                e.attr.gid,
                size_column(&e.attr),
                e.attr.mtime.0,
                e.name,
                e.attr.target.as_ref().map(|t| format!(" -> {t}")).unwrap_or_default()
            )
        } else {
            writeln!(out, "{}", e.name)
        };
        r.map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn stat(c: &Client, path: &str) -> Result<(), String> {
    let a = c.stat(path).await.map_err(|e| e.to_string())?;
    println!(
        "path: {path}\ntype: {}\nmode: {:o} ({})\nlinks: {}\nuid: {}\ngid: {}\nsize: {}",
        kind_name(a.kind),
        a.mode,
        mode_string(&a),
        a.nlink,
        a.uid,
        a.gid,
        a.size
    );
    println!("mtime: {}.{:09}\nctime: {}.{:09}", a.mtime.0, a.mtime.1, a.ctime.0, a.ctime.1);
    match a.kind {
        FileKind::File => println!("file id: {:032x}\nchunk size: {}", a.fid, a.chunk_size),
        FileKind::Symlink => println!("target: {}", a.target.as_deref().unwrap_or_default()),
        FileKind::CharDev | FileKind::BlockDev => {
            println!("device: {}, {}", libc::major(a.rdev), libc::minor(a.rdev))
        }
        _ => {}
    }
    Ok(())
}

async fn mkdir(c: &Client, path: &str, parents: bool) -> Result<(), String> {
    if !parents {
        return c.mkdir(path, 0o755).await.map(|_| ()).map_err(|e| e.to_string());
    }
    let p = benchfs::path::normalize(path).map_err(|e| e.to_string())?;
    let mut cur = String::new();
    for comp in p.split('/').filter(|s| !s.is_empty()) {
        cur.push('/');
        cur.push_str(comp);
        match c.mkdir(&cur, 0o755).await {
            Ok(_) => {}
            Err(benchfs::Error::Exists(_)) if c.stat(&cur).await.is_ok_and(|a| a.is_dir()) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

async fn find(
    c: &Client,
    root: &str,
    name: Option<&str>,
    size: Option<&str>,
    newer: Option<&PathBuf>,
    count: bool,
) -> Result<(), String> {
    let pat = match name {
        Some(n) => Some(benchfs::name_pattern::NamePattern::new(n).map_err(|e| format!("--name {n}: {e}"))?),
        None => None,
    };
    let size = match size {
        Some(s) => Some(s.trim_end_matches('c').parse::<u64>().map_err(|e| format!("--size {s}: {e}"))?),
        None => None,
    };
    let after = match newer {
        Some(f) => {
            let m = std::fs::metadata(f).map_err(|e| format!("--newer {}: {e}", f.display()))?;
            let t = m.modified().map_err(|e| e.to_string())?;
            let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            Some((i64::try_from(d.as_secs()).unwrap_or(i64::MAX), d.subsec_nanos()))
        }
        None => None,
    };
    let (mut matched, mut total) = (0u64, 0u64);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    c.walk(root, |dir, e| {
        total += 1;
        let hit = pat.as_ref().is_none_or(|p| p.matches(&e.name))
            && size.is_none_or(|s| e.attr.is_file() && e.attr.size == s)
            && after.is_none_or(|t| e.attr.mtime > t);
        if hit {
            matched += 1;
            if !count {
                let _ = writeln!(out, "{}/{}", dir.trim_end_matches('/'), e.name);
            }
        }
    })
    .await
    .map_err(|e| e.to_string())?;
    if count {
        writeln!(out, "MATCHED {matched}/{total}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}

/// `benchfs rm`: refuses the root up front, however it is spelled ("/", "//", "/x/.."),
/// as rm(1) does; a recursive removal would otherwise empty the whole cluster.
async fn rm(c: &Client, path: &str, recursive: bool) -> benchfs::Result<()> {
    if benchfs::path::normalize(path)? == "/" {
        return Err(benchfs::Error::Invalid(format!("refusing to remove the root directory ({path})")));
    }
    rm_tree(c, path, recursive).await
}

async fn rm_tree(c: &Client, path: &str, recursive: bool) -> benchfs::Result<()> {
    let a = c.stat(path).await?;
    if !a.is_dir() {
        return c.unlink(path).await;
    }
    if !recursive {
        return Err(benchfs::Error::IsDir(format!("{path} (use -r)")));
    }
    let p = benchfs::path::normalize(path)?;
    for e in c.readdir(&p).await? {
        Box::pin(rm_tree(c, &benchfs::path::join(&p, &e.name), true)).await?;
    }
    c.rmdir(&p).await
}
