//! The log files (admins): listing and reading by name, never by path.

use crate::access::Actor;
use crate::error::Result;
use crate::logs::{self, LogFile};
use crate::service::App;

impl App {
    /// The log files, ordered by name (admins). Reads a directory: call it off the async
    /// runtime's workers when that matters.
    pub fn log_files(&self, who: &Actor) -> Result<Vec<LogFile>> {
        who.require_admin()?;
        logs::list(&self.logs_dir)
    }

    /// A log file's contents by name (admins); links are never followed.
    pub fn log_file(&self, who: &Actor, name: &str) -> Result<Vec<u8>> {
        who.require_admin()?;
        logs::read(&self.logs_dir, name)
    }
}
