//! RPC over TCP: frame I/O shared by both sides, and the client's multiplexed connection.

mod connection;
pub mod wire;

pub use connection::Connection;
