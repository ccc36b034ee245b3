//! The runtime tests drive their clients on.

/// Two worker threads: enough for a client's concurrency, few enough for a small
/// machine that also runs the servers.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}
