//! The log files in the data directory's `logs/` (the console's Log Files tab): the daily server
//! log `ETMMDDYYYY.LOG` and one `EscWarnings-YYYYMMDDHHMMSS.log` per escalation cycle.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use jiff::Timestamp;
use jiff::tz::TimeZone;

pub use etraq_core::logs::{LogFile, dir, list as list_core};

/// The log files, ordered by name.
pub fn list(dir: &Path) -> Result<Vec<LogFile>> {
    Ok(list_core(dir)?)
}

/// The path of a log file named by the user.
#[cfg(test)]
pub fn path_of(dir: &Path, name: &str) -> Result<PathBuf> {
    Ok(etraq_core::logs::path_of(dir, name)?)
}

/// Deletes log files not modified for `days` days (0 keeps everything). Returns how many.
pub fn prune(dir: &Path, days: u32, now: Timestamp) -> Result<usize> {
    if days == 0 {
        return Ok(0);
    }
    let cutoff = now.as_second() - i64::from(days) * 86_400;
    let mut removed = 0;
    for f in list(dir)? {
        if f.modified.is_some_and(|m| m.as_second() < cutoff) {
            std::fs::remove_file(dir.join(&f.name))
                .with_context(|| format!("cannot delete {}", f.name))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The daily server log: writes go to `ETMMDDYYYY.LOG` for the current local date, switching
/// files at midnight. Used behind tracing-appender's non-blocking writer.
pub struct DailyLog {
    dir: PathBuf,
    tz: TimeZone,
    current: Option<(String, std::fs::File)>,
}

impl DailyLog {
    /// A daily log in `dir`, dated in `tz`.
    pub fn new(dir: PathBuf, tz: TimeZone) -> Self {
        DailyLog {
            dir,
            tz,
            current: None,
        }
    }

    fn file(&mut self) -> std::io::Result<&mut std::fs::File> {
        let name = format!(
            "ET{}.LOG",
            Timestamp::now()
                .to_zoned_datetime(self.tz.clone())
                .strftime("%m%d%Y")
        );
        if self.current.as_ref().is_none_or(|(n, _)| *n != name) {
            std::fs::create_dir_all(&self.dir)?;
            let f = open_for_append(&self.dir.join(&name))?;
            self.current = Some((name, f));
        }
        match self.current.as_mut() {
            Some((_, f)) => Ok(f),
            None => Err(std::io::ErrorKind::NotFound.into()),
        }
    }
}

/// Opens a log file for appending without following a link: a new file is created with
/// `create_new` (which refuses a link in its place), an existing one must be a regular file and
/// still the same file once opened.
fn open_for_append(path: &Path) -> std::io::Result<std::fs::File> {
    let refuse = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} is not a regular file; not writing to it",
                path.display()
            ),
        )
    };
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path),
        Err(e) => Err(e),
        Ok(m) if !m.file_type().is_file() => Err(refuse()),
        Ok(before) => {
            let f = std::fs::OpenOptions::new().append(true).open(path)?;
            let after = f.metadata()?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                if before.dev() != after.dev() || before.ino() != after.ino() {
                    return Err(refuse());
                }
            }
            #[cfg(not(unix))]
            let _ = (&before, &after);
            Ok(f)
        }
    }
}

impl Write for DailyLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file()?.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.current.as_mut() {
            Some((_, f)) => f.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etraq_core::logs::write_cycle_log;
    use etraq_core::model::CycleRecord;

    #[cfg(unix)]
    /// A cycle run on 2026-11-27 at 13:00 UTC.
    fn cycle_at_13h(id: u64, warned: u64, bypassed: u64) -> CycleRecord {
        CycleRecord {
            id,
            at: "2026-11-27T13:00:00Z".parse().unwrap(),
            warned,
            escalated: 0,
            reminded: 0,
            bypassed,
            decisions: vec![],
        }
    }

    #[test]
    fn logs_are_never_written_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "keep me").unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        let today = format!(
            "ET{}.LOG",
            Timestamp::now()
                .to_zoned_datetime(TimeZone::UTC)
                .strftime("%m%d%Y")
        );
        std::os::unix::fs::symlink(&victim, logs.join(&today)).unwrap();
        let mut log = DailyLog::new(logs.clone(), TimeZone::UTC);
        assert!(log.write(b"a log line\n").is_err());
        // A cycle log name taken by a link goes to the next name.
        let rec = cycle_at_13h(1, 0, 0);
        std::os::unix::fs::symlink(&victim, logs.join("EscWarnings-20261127130000.log")).unwrap();
        let p = write_cycle_log(&logs, &rec, &TimeZone::UTC).unwrap();
        assert!(p.ends_with("EscWarnings-20261127130000-1.log"));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    }

    #[test]
    fn cycle_logs_are_named_listed_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let rec = cycle_at_13h(7, 1, 2);
        let a = write_cycle_log(dir.path(), &rec, &TimeZone::UTC).unwrap();
        let b = write_cycle_log(dir.path(), &rec, &TimeZone::UTC).unwrap();
        assert!(a.ends_with("EscWarnings-20261127130000.log"));
        assert!(
            b.ends_with("EscWarnings-20261127130000-1.log"),
            "a second cycle in the same second overwrote the first"
        );
        std::fs::write(dir.path().join("ET11272026.LOG"), "x").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let names: Vec<String> = list(dir.path())
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(path_of(dir.path(), "ET11272026.LOG").is_ok());
        assert!(path_of(dir.path(), "notes.txt").is_err());
        assert!(path_of(dir.path(), "../ET11272026.LOG").is_err());
        // Nothing is old yet; 30 days later everything is.
        assert_eq!(prune(dir.path(), 30, Timestamp::now()).unwrap(), 0);
        let later = Timestamp::now()
            .checked_add(jiff::SignedDuration::from_hours(24 * 31))
            .unwrap();
        assert_eq!(
            prune(dir.path(), 0, later).unwrap(),
            0,
            "0 keeps everything"
        );
        assert_eq!(prune(dir.path(), 30, later).unwrap(), 3);
        assert!(
            dir.path().join("notes.txt").exists(),
            "only log files are pruned"
        );
    }
}
