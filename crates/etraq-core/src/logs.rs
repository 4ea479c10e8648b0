//! The log files in the data directory's `logs/` (the console's Log Files tab and `etraq logs`):
//! the daily server log `ETMMDDYYYY.LOG` and one `EscWarnings-YYYYMMDDHHMMSS.log` per escalation
//! cycle. Listing and opening them by name lives here so the CLI and the console refuse the same
//! names: only log files, never a path; and the escalator writes its cycle logs through here. This
//! is the one module of the core that touches files.

use std::path::{Path, PathBuf};

use std::io::Write;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::error::Error;
use crate::model::{CycleAction, CycleRecord};

/// One log file, as `etraq logs list --json` and the console show it.
#[derive(Clone, Debug, Serialize)]
pub struct LogFile {
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// When the file was created (when the file system records it).
    pub created: Option<Timestamp>,
    /// When it was last written.
    pub modified: Option<Timestamp>,
}

/// The log directory of a data directory.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("logs")
}

fn to_ts(t: std::io::Result<std::time::SystemTime>) -> Option<Timestamp> {
    t.ok().and_then(|t| Timestamp::try_from(t).ok())
}

/// Whether `name` is the name of an etraq log file.
pub fn is_log_name(name: &str) -> bool {
    let plain = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !name.contains("..");
    plain
        && ((name.starts_with("ET") && name.ends_with(".LOG"))
            || (name.starts_with("EscWarnings-") && name.ends_with(".log")))
}

/// The log files, ordered by name (daily logs and cycle logs each sort by date).
pub fn list(dir: &Path) -> Result<Vec<LogFile>, Error> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io(e)),
    };
    for e in entries {
        let e = e.map_err(io)?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !is_log_name(&name) {
            continue;
        }
        let Ok(meta) = e.metadata() else {
            // Deleted between listing and reading (retention): not there any more.
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        out.push(LogFile {
            name,
            size: meta.len(),
            created: to_ts(meta.created()),
            modified: to_ts(meta.modified()),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The path of a log file named by a user; refuses anything that is not a log file name
/// ([`Error::Invalid`]) and names that do not exist or are not regular files, symbolic links
/// included ([`Error::NotFound`]).
pub fn path_of(dir: &Path, name: &str) -> Result<PathBuf, Error> {
    if !is_log_name(name) {
        return Err(Error::Invalid(format!(
            "{name:?} is not a log file name (see `etraq logs list`)"
        )));
    }
    let p = dir.join(name);
    // `symlink_metadata` does not follow a link: a link named like a log file is no log file.
    match std::fs::symlink_metadata(&p) {
        Ok(m) if m.file_type().is_file() => Ok(p),
        _ => Err(Error::NotFound {
            what: "log file",
            key: name.to_string(),
        }),
    }
}

/// The contents of a log file named by a user, read without following links: the file is
/// checked with `lstat`, opened, and refused unless what was opened is that same regular file
/// (device and inode), so a link swapped in between the check and the open is not followed
/// either. Anyone who can write into the log directory could otherwise make the console or
/// `etraq logs show` read any file etraq can read.
pub fn read(dir: &Path, name: &str) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let p = path_of(dir, name)?;
    let io = |source| Error::Io {
        path: p.clone(),
        source,
    };
    let before = std::fs::symlink_metadata(&p).map_err(io)?;
    let mut f = std::fs::File::open(&p).map_err(io)?;
    let opened = f.metadata().map_err(io)?;
    if !same_file(&before, &opened) || !opened.is_file() {
        return Err(Error::NotFound {
            what: "log file",
            key: name.to_string(),
        });
    }
    let mut out = Vec::with_capacity(usize::try_from(opened.len()).unwrap_or(0).min(1 << 24));
    f.read_to_end(&mut out).map_err(io)?;
    Ok(out)
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.file_type().is_file() && b.len() == a.len()
}

/// Writes the log of one escalation cycle: every decision, then the totals.
pub fn write_cycle_log(dir: &Path, record: &CycleRecord, tz: &TimeZone) -> Result<PathBuf, Error> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let stamp = record
        .at
        .to_zoned_datetime(tz.clone())
        .strftime("%Y%m%d%H%M%S")
        .to_string();
    // `create_new` never follows a link and never overwrites: a name taken (by a file or a
    // link) moves on to the next one.
    let mut n = 0;
    let (path, mut f) = loop {
        let path = if n == 0 {
            dir.join(format!("EscWarnings-{stamp}.log"))
        } else {
            dir.join(format!("EscWarnings-{stamp}-{n}.log"))
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => break (path, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(io(&path)(e)),
        }
    };
    let local = record
        .at
        .to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%d %H:%M:%S %Z")
        .to_string();
    let mut text = format!("Escalation cycle {} at {local}\n", record.id);
    for d in &record.decisions {
        match d.action {
            CycleAction::Problem => text.push_str(&format!("Problem   {}: {}\n", d.dr, d.detail)),
            _ => text.push_str(&format!("{}\n", d.detail)),
        }
    }
    text.push_str(&format!(
        "WARNED: {}, ESCALATED: {}, REMINDED: {}, BYPASSED: {}\n",
        record.warned, record.escalated, record.reminded, record.bypassed
    ));
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(io(&path))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn links_in_the_log_directory_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret.txt");
        std::fs::write(&secret, "password hashes").unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        std::os::unix::fs::symlink(&secret, logs.join("ET11272026.LOG")).unwrap();
        std::fs::write(logs.join("ET11282026.LOG"), "a real log line\n").unwrap();
        assert!(matches!(
            read(&logs, "ET11272026.LOG"),
            Err(Error::NotFound { .. })
        ));
        assert_eq!(read(&logs, "ET11282026.LOG").unwrap(), b"a real log line\n");
        let names: Vec<String> = list(&logs).unwrap().into_iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            vec!["ET11282026.LOG"],
            "a link is listed as a log file"
        );
    }

    #[test]
    fn only_log_file_names_are_accepted() {
        for ok in [
            "ET11272026.LOG",
            "EscWarnings-20261127130000.log",
            "EscWarnings-20261127130000-1.log",
        ] {
            assert!(is_log_name(ok), "{ok}");
        }
        for bad in [
            "",
            "notes.txt",
            "../ET11272026.LOG",
            "ET/../../etc/passwd.LOG",
            "ET..LOG",
            "EscWarnings-x.log\0",
            "ET 1.LOG",
        ] {
            assert!(!is_log_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn listing_and_opening() {
        let dir = std::env::temp_dir().join(format!("etraq-logfiles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ET11272026.LOG"), "x").unwrap();
        std::fs::write(dir.join("notes.txt"), "x").unwrap();
        let names: Vec<String> = list(&dir).unwrap().into_iter().map(|f| f.name).collect();
        assert_eq!(names, vec!["ET11272026.LOG"]);
        assert!(path_of(&dir, "ET11272026.LOG").is_ok());
        assert!(matches!(
            path_of(&dir, "ET01012000.LOG"),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(path_of(&dir, "notes.txt"), Err(Error::Invalid(_))));
        assert!(list(&dir.join("missing")).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
