//! `benchfs-fuse [OPTIONS] MOUNTPOINT`: mount a BenchFS cluster, or an embedded server.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::process::ExitCode;

use benchfs_fuse::session::SessionError;
use benchfs_fuse::{cli::Args, daemon, session};
use clap::Parser;

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = match std::env::var("RUST_LOG") {
        Ok(f) if !f.is_empty() => f,
        _ if args.debug => "debug".to_string(),
        _ => "warn,benchfs_fuse=info".to_string(),
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: logs redirected to files stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let prepared = match session::prepare(&args) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    // Still single-threaded here, as fork requires.
    let ready = if args.foreground {
        None
    } else {
        match daemon::daemonize() {
            Ok(r) => Some(r),
            Err(e) => return fail(&SessionError::Daemon(e)),
        }
    };
    let in_background = ready.is_some();
    match session::run(&args, prepared, ready) {
        Ok(()) => ExitCode::SUCCESS,
        // The waiting parent has printed it (or, once the mount was up, stderr is detached).
        Err(e) if in_background => {
            tracing::debug!("{e}");
            ExitCode::FAILURE
        }
        Err(e) => fail(&e),
    }
}

fn fail(msg: &SessionError) -> ExitCode {
    eprintln!("benchfs-fuse: {msg}");
    ExitCode::FAILURE
}
