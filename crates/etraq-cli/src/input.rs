//! Where `etraq ingest` reads mail from: `.eml` files, mbox files, Maildir folders and standard
//! input. Every input is checked before anything is ingested, so a typo in the fifth path does not
//! leave the first four half-imported; errors name the input.
//!
//! mbox splitting is mail-parser's (`mailbox::mbox`, with `>From ` unquoting). Maildir messages are
//! read in delivery order (the time prefix of their file names), so replies follow what they
//! answer.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use mail_parser::mailbox::mbox::MessageIterator;

/// One input, classified.
#[derive(Debug, Clone)]
pub enum Source {
    /// Standard input (an mbox or a single message).
    Stdin,
    /// A single message.
    Eml(PathBuf),
    /// An mbox file.
    Mbox(PathBuf),
    /// A Maildir folder (with Maildir++ subfolders).
    Maildir(PathBuf),
}

impl Source {
    /// Bytes to read, when known in advance (for the progress bar).
    pub fn size(&self) -> Option<u64> {
        match self {
            Source::Stdin => None,
            Source::Eml(p) | Source::Mbox(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            Source::Maildir(p) => Some(
                maildir_files(p)
                    .ok()?
                    .iter()
                    .filter_map(|f| std::fs::metadata(f).ok())
                    .map(|m| m.len())
                    .sum(),
            ),
        }
    }
}

/// One message read from an input.
pub struct RawMail {
    /// Where it came from: the file, or `file.mbox#3` for the third message of an mbox.
    pub origin: String,
    /// The raw bytes.
    pub bytes: Vec<u8>,
}

/// Checks and classifies every input before anything is read.
pub fn inspect(inputs: &[PathBuf]) -> Result<Vec<Source>> {
    let mut out = Vec::with_capacity(inputs.len());
    let mut stdin_seen = false;
    for p in inputs {
        if p.as_os_str() == "-" {
            if stdin_seen {
                bail!("standard input (-) is given more than once");
            }
            stdin_seen = true;
            out.push(Source::Stdin);
            continue;
        }
        let meta = std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
        if meta.is_dir() {
            if !p.join("cur").is_dir() && !p.join("new").is_dir() {
                bail!(
                    "{} is a directory but not a Maildir (it has no cur/ or new/)",
                    p.display()
                );
            }
            out.push(Source::Maildir(p.clone()));
            continue;
        }
        let mut head = [0u8; 5];
        let n = File::open(p)
            .and_then(|mut f| read_up_to(&mut f, &mut head))
            .with_context(|| format!("cannot read {}", p.display()))?;
        if n == 0 {
            bail!("{} is empty: not a mail, an mbox or a Maildir", p.display());
        }
        let looks_mbox = &head[..n] == b"From ";
        let mbox_name = p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "mbox" | "mbx"));
        if mbox_name && !looks_mbox {
            bail!(
                "{} is not a valid mbox file: it must start with a \"From \" separator line",
                p.display()
            );
        }
        out.push(if looks_mbox {
            Source::Mbox(p.clone())
        } else {
            Source::Eml(p.clone())
        });
    }
    Ok(out)
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The messages of one input, lazily, in order.
pub fn messages(source: &Source) -> Result<Box<dyn Iterator<Item = Result<RawMail>> + Send>> {
    Ok(match source {
        Source::Eml(p) => {
            let p = p.clone();
            Box::new(std::iter::once_with(move || {
                let bytes =
                    std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
                Ok(RawMail {
                    origin: p.display().to_string(),
                    bytes,
                })
            }))
        }
        Source::Mbox(p) => {
            let f = File::open(p).with_context(|| format!("cannot read {}", p.display()))?;
            mbox(
                BufReader::with_capacity(1 << 20, f),
                p.display().to_string(),
            )
        }
        Source::Stdin => {
            let mut r = BufReader::with_capacity(1 << 20, std::io::stdin());
            let head = r.fill_buf().context("cannot read standard input")?;
            if head.is_empty() {
                bail!("standard input is empty: expected a mail or an mbox");
            }
            if head.starts_with(b"From ") {
                mbox(r, "stdin".into())
            } else {
                let mut bytes = Vec::new();
                r.read_to_end(&mut bytes)
                    .context("cannot read standard input")?;
                Box::new(std::iter::once(Ok(RawMail {
                    origin: "stdin".into(),
                    bytes,
                })))
            }
        }
        Source::Maildir(p) => {
            let files =
                maildir_files(p).with_context(|| format!("cannot read Maildir {}", p.display()))?;
            Box::new(files.into_iter().map(|f| {
                let bytes =
                    std::fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?;
                Ok(RawMail {
                    origin: f.display().to_string(),
                    bytes,
                })
            }))
        }
    })
}

fn mbox<R: BufRead + Send + 'static>(
    reader: R,
    name: String,
) -> Box<dyn Iterator<Item = Result<RawMail>> + Send> {
    Box::new(MessageIterator::new(reader).enumerate().map(move |(i, m)| {
        let m = m.map_err(|e| anyhow!("{name}: cannot read message {}: {e}", i + 1))?;
        Ok(RawMail {
            origin: format!("{name}#{}", i + 1),
            bytes: m.unwrap_contents(),
        })
    }))
}

/// The message files of a Maildir and its Maildir++ subfolders (`.Name/`), in delivery order:
/// Maildir file names start with the delivery time in seconds.
fn maildir_files(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut folders = vec![root.to_path_buf()];
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') && entry.path().join("cur").is_dir() {
            folders.push(entry.path());
        }
    }
    let mut files: Vec<(u64, String, PathBuf)> = Vec::new();
    for folder in folders {
        for sub in ["new", "cur"] {
            let dir = folder.join(sub);
            if !dir.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                if !entry.file_type()?.is_file() {
                    continue;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let time = name
                    .split(['.', '_'])
                    .next()
                    .and_then(|t| t.parse::<u64>().ok())
                    .unwrap_or(u64::MAX);
                files.push((time, name, entry.path()));
            }
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, _, p)| p).collect())
}
