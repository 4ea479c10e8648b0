//! `[logs]`: how long log files are kept.

use serde::{Deserialize, Serialize};

/// `[logs]`: log files in the data directory's `logs/`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogsConfig {
    /// Days log files are kept; 0 keeps them forever.
    pub retention_days: u32,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig { retention_days: 30 }
    }
}
