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

/// Streams rows as one JSON array: the `--json` shape of every listing. Rows are written as
/// they come, so a long listing neither waits nor holds every row in memory.
pub struct JsonArray<'a> {
    out: &'a mut Out,
    first: bool,
}

impl<'a> JsonArray<'a> {
    /// Opens the array.
    pub fn start(out: &'a mut Out) -> anyhow::Result<Self> {
        out.text("[")?;
        Ok(JsonArray { out, first: true })
    }

    /// Writes one element.
    pub fn push<T: serde::Serialize>(&mut self, row: &T) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(row)?;
        let sep = if self.first { "\n" } else { ",\n" };
        self.first = false;
        self.out.text(sep)?;
        self.out.text(text)?;
        Ok(())
    }

    /// Closes the array (an empty one is `[]`).
    pub fn finish(self) -> anyhow::Result<()> {
        self.out.line(if self.first { "]" } else { "\n]" })?;
        Ok(())
    }
}

/// True when the error is a write to a closed pipe.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
