//! Standard output for listings, with a closed pipe (`etraq dr list | head`) ending the command
//! quietly instead of panicking.

use std::io::{self, BufWriter, Stdout, Write};

/// Buffered standard output.
pub struct Out {
    w: BufWriter<Stdout>,
}

impl Out {
    /// Standard output, buffered.
    pub fn new() -> Self {
        Out {
            w: BufWriter::new(io::stdout()),
        }
    }

    /// Writes one line.
    pub fn line(&mut self, s: impl AsRef<str>) -> io::Result<()> {
        self.w.write_all(s.as_ref().as_bytes())?;
        self.w.write_all(b"\n")
    }

    /// Writes text as is.
    pub fn text(&mut self, s: impl AsRef<str>) -> io::Result<()> {
        self.w.write_all(s.as_ref().as_bytes())
    }

    /// Flushes what was written (do it before a slow step so the user sees progress).
    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        let _ = self.w.flush();
    }
}

/// True when the error is a write to a closed pipe.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
