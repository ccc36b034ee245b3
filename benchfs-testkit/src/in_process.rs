//! A whole cluster in this process: servers reach each other and their clients through
//! `benchfs::transport`'s in-process links, so a test can inject faults on any link and
//! replay a seed exactly. It lives in the library (`benchfs::testkit`), which the
//! simulation needs from inside; this is its place among the other set-ups.

pub use benchfs::testkit::InProcessCluster;
