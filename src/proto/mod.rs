//! Wire messages: requests, replies and the status codes that cross the network.
//!
//! Messages are serialized with postcard into the frame header (see [`frame`]);
//! bulk data (chunk contents) never goes through serde: it travels as raw bytes
//! after the header.

pub mod frame;
mod message;
mod ops;
mod status;
pub(crate) mod validate;

pub use message::*;
pub use ops::*;
pub use status::{unwrap_reply, Status};
