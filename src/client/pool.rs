//! One lazily (re)opened connection per server.

use std::sync::{Arc, Mutex};

use crate::config::Config;
use crate::error::Result;
use crate::rpc::Connection;

pub struct Pool {
    cfg: Config,
    /// Current connection per server. A std mutex: only cloned out, never held across `.await`.
    slots: Vec<Mutex<Option<Arc<Connection>>>>,
    /// Serialises reconnects to one server so a burst of callers opens one socket.
    connecting: Vec<tokio::sync::Mutex<()>>,
}

impl Pool {
    pub fn new(cfg: Config) -> Pool {
        let n = cfg.servers.len();
        Pool {
            cfg,
            slots: (0..n).map(|_| Mutex::new(None)).collect(),
            connecting: (0..n).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    fn current(&self, i: usize) -> Option<Arc<Connection>> {
        let slot = self.slots[i].lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref().filter(|c| c.is_open()).cloned()
    }

    /// The open connection to server `i`, connecting first if needed.
    pub async fn get(&self, i: usize) -> Result<Arc<Connection>> {
        if let Some(c) = self.current(i) {
            return Ok(c);
        }
        let _g = self.connecting[i].lock().await;
        if let Some(c) = self.current(i) {
            return Ok(c);
        }
        let c = Arc::new(
            Connection::connect(
                &self.cfg.servers[i],
                self.cfg.timeout,
                self.cfg.max_in_flight,
                self.cfg.secret.as_ref(),
            )
            .await?,
        );
        *self.slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(c.clone());
        Ok(c)
    }
}
