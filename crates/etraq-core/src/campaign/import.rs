//! Reading subscribers from CSV: a header row with an `email` column, an optional `name`
//! column, and any other columns as attributes (except `status`, which an export writes and an
//! import ignores).
//!
//! Bad rows are reported with their file line and a reason and never stop the rest; only a
//! file without a usable header stops the import. Lines count from 1 (the header), and a
//! quoted field that spans lines counts every line it holds, so a reported line is where an
//! editor shows the row.

use std::io::Read;

use crate::address::EmailAddress;
use crate::campaign::audience::SubscriberInput;
use crate::error::{Error, Result};
use crate::validate::check_syntax;

/// The longest field accepted, in bytes. A longer one is an error for its row, not for the file.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// Most attribute columns.
pub const MAX_COLUMNS: usize = 200;

/// A row that could not be imported (contract: `{line, reason}`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RowError {
    /// The file line where the row starts (the header is line 1).
    pub line: u64,
    /// Why, in words.
    pub reason: String,
}

/// One data row of the file, read or refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Row {
    /// A usable row.
    Ok {
        /// Its file line.
        line: u64,
        /// What it brings.
        input: SubscriberInput,
    },
    /// A refused row.
    Bad(RowError),
}

/// Streams the rows of a subscriber CSV. Construct with [`CsvRows::new`], which reads the
/// header; then iterate.
pub struct CsvRows<R: Read> {
    reader: csv::Reader<Tail<R>>,
    tail: std::sync::Arc<TailState>,
    email: usize,
    name: Option<usize>,
    /// `(column index, attribute name)` of every other column.
    attribs: Vec<(usize, String)>,
    columns: usize,
    record: csv::ByteRecord,
    done: bool,
}

impl<R: Read> CsvRows<R> {
    /// Reads the header. Fails (naming line 1) when it is missing, not UTF-8, has no `email`
    /// column, or names a column twice.
    pub fn new(input: R) -> Result<CsvRows<R>> {
        let tail = std::sync::Arc::new(TailState::default());
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::None)
            .from_reader(Tail {
                inner: input,
                state: tail.clone(),
            });
        let header = |reason: String| Error::InvalidField {
            field: "csv",
            reason: format!("line 1 (the header): {reason}"),
        };
        let headers = reader
            .byte_headers()
            .map_err(|e| header(csv_reason(&e)))?
            .clone();
        if headers.is_empty() || headers.iter().all(|h| h.is_empty()) {
            return Err(header(
                "the file is empty; it needs a header row with an `email` column".into(),
            ));
        }
        if headers.len() > MAX_COLUMNS + 2 {
            return Err(header(format!("more than {} columns", MAX_COLUMNS + 2)));
        }
        let mut names = Vec::with_capacity(headers.len());
        for (i, h) in headers.iter().enumerate() {
            let h = std::str::from_utf8(h)
                .map_err(|_| header(format!("column {} is not UTF-8", i + 1)))?;
            // A spreadsheet's byte-order mark sticks to the first name.
            let h = h.trim_start_matches('\u{feff}').trim();
            if h.is_empty() {
                return Err(header(format!("column {} has no name", i + 1)));
            }
            let lower = h.to_lowercase();
            if names.iter().any(|(_, n): &(String, String)| *n == lower) {
                return Err(header(format!("the column {h:?} appears twice")));
            }
            names.push((h.to_string(), lower));
        }
        let find = |want: &str| names.iter().position(|(_, l)| l == want);
        let Some(email) = find("email") else {
            return Err(header(format!(
                "no `email` column (the columns are: {})",
                names
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let name = find("name");
        // A `status` column is what an export of one list writes: it is the list's to keep
        // (an import never changes a standing), so it is no attribute either.
        let status = find("status");
        let attribs = names
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != email && Some(*i) != name && Some(*i) != status)
            .map(|(i, (n, _))| (i, n.clone()))
            .collect();
        Ok(CsvRows {
            reader,
            tail,
            email,
            name,
            attribs,
            columns: headers.len(),
            record: csv::ByteRecord::new(),
            done: false,
        })
    }

    /// The attribute columns, in file order.
    pub fn attribute_columns(&self) -> impl Iterator<Item = &str> {
        self.attribs.iter().map(|(_, n)| n.as_str())
    }

    fn row(&self, line: u64) -> Row {
        let bad = |reason: String| Row::Bad(RowError { line, reason });
        let r = &self.record;
        if r.len() > self.columns {
            return bad(format!(
                "{} fields, but the header has {} columns",
                r.len(),
                self.columns
            ));
        }
        if let Some(i) = r.iter().position(|f| f.len() > MAX_FIELD_BYTES) {
            return bad(format!(
                "field {} is longer than {} bytes",
                i + 1,
                MAX_FIELD_BYTES
            ));
        }
        let text = |i: usize| -> std::result::Result<&str, String> {
            let f = r.get(i).unwrap_or(b"");
            std::str::from_utf8(f)
                .map_err(|e| format!("field {} is not UTF-8 (at byte {})", i + 1, e.valid_up_to()))
        };
        let raw = match text(self.email) {
            Ok(t) => t.trim(),
            Err(e) => return bad(e),
        };
        if raw.is_empty() {
            return bad("no email address".into());
        }
        let syntax = check_syntax(raw, false);
        if !syntax.is_valid_syntax {
            let why = syntax.error.unwrap_or_else(|| "invalid syntax".into());
            return bad(format!("{raw:?} is not a valid address: {why}"));
        }
        let email = match EmailAddress::parse(syntax.address.as_deref().unwrap_or(raw)) {
            Ok(a) => a,
            Err(e) => return bad(e.to_string()),
        };
        let name = match self.name.map(text).transpose() {
            Ok(n) => n.map(|n| n.trim().to_string()),
            Err(e) => return bad(e),
        };
        let mut attribs = serde_json::Map::new();
        for (i, key) in &self.attribs {
            match text(*i) {
                // An empty cell sets nothing: a second file with fewer facts keeps the first's.
                Ok(v) if v.trim().is_empty() => {}
                Ok(v) => {
                    attribs.insert(key.clone(), serde_json::Value::String(v.trim().to_string()));
                }
                Err(e) => return bad(e),
            }
        }
        Row::Ok {
            line,
            input: SubscriberInput {
                email,
                name,
                attribs,
            },
        }
    }
}

impl<R: Read> Iterator for CsvRows<R> {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        if self.done {
            return None;
        }
        loop {
            let before = self.reader.position().line();
            match self.reader.read_byte_record(&mut self.record) {
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Ok(true) => {
                    let line = self.start_line(before);
                    // A blank line is no row.
                    if self.record.len() == 1 && self.record.get(0).is_some_and(|f| f.is_empty()) {
                        continue;
                    }
                    return Some(self.row(line));
                }
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(before);
                    if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                        // The input itself failed: nothing after this can be read.
                        self.done = true;
                    }
                    return Some(Row::Bad(RowError {
                        line,
                        reason: csv_reason(&e),
                    }));
                }
            }
        }
    }
}

impl<R: Read> CsvRows<R> {
    /// The line the record just read starts on. The csv crate dates a record from where the
    /// read began, before any blank lines it skipped, so the line is counted back from where
    /// the record ended instead: the reader stands on the next line when the record had a line
    /// end, and on its last line when it was the file's unterminated last line.
    fn start_line(&self, before: u64) -> u64 {
        let after = self.reader.position();
        let newlines = self
            .record
            .iter()
            .map(|f| memchr::memchr_iter(b'\n', f).count() as u64)
            .sum::<u64>();
        let unterminated = self.tail.eof.load(std::sync::atomic::Ordering::Relaxed)
            && self.tail.total.load(std::sync::atomic::Ordering::Relaxed) == after.byte()
            && !matches!(
                self.tail.last.load(std::sync::atomic::Ordering::Relaxed),
                b'\n' | b'\r'
            );
        let end = if unterminated {
            after.line()
        } else {
            after.line().saturating_sub(1)
        };
        end.saturating_sub(newlines).max(before)
    }
}

/// What [`Tail`] saw of its input: bytes read, the last one, and whether it ended.
#[derive(Default)]
struct TailState {
    total: std::sync::atomic::AtomicU64,
    last: std::sync::atomic::AtomicU8,
    eof: std::sync::atomic::AtomicBool,
}

/// A reader that remembers how its input ended, so the last row's line can be told whether it
/// had a line end.
struct Tail<R> {
    inner: R,
    state: std::sync::Arc<TailState>,
}

impl<R: Read> Read for Tail<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::sync::atomic::Ordering::Relaxed;
        let n = self.inner.read(buf)?;
        if n == 0 {
            if !buf.is_empty() {
                self.state.eof.store(true, Relaxed);
            }
        } else {
            self.state.total.fetch_add(n as u64, Relaxed);
            self.state.last.store(buf[n - 1], Relaxed);
        }
        Ok(n)
    }
}

fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Io(io) => format!("cannot read the file: {io}"),
        csv::ErrorKind::Utf8 { err, .. } => format!("field {} is not UTF-8", err.field() + 1),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields, but the header has {expected_len} columns"),
        _ => e.to_string(),
    }
}

/// Writes subscribers as CSV in the import format (`email, name`, then each attribute seen),
/// so an export imports back unchanged. `status` adds a column with the status on `list`.
pub fn write_csv<W: std::io::Write>(
    out: W,
    subscribers: &[crate::campaign::audience::Subscriber],
    list: Option<&str>,
) -> Result<()> {
    let mut keys: Vec<&str> = Vec::new();
    for s in subscribers {
        for k in s.attribs.keys() {
            let lower = k.to_lowercase();
            if lower != "email"
                && lower != "name"
                && lower != "status"
                && !keys.contains(&k.as_str())
            {
                keys.push(k);
            }
        }
    }
    let io = |e: csv::Error| Error::Invalid(format!("cannot write the CSV: {e}"));
    let mut w = csv::Writer::from_writer(out);
    let mut header = vec!["email", "name"];
    if list.is_some() {
        header.push("status");
    }
    header.extend(keys.iter().copied());
    w.write_record(&header).map_err(io)?;
    for s in subscribers {
        let mut row: Vec<String> = vec![s.email.to_string(), s.name.clone()];
        if let Some(l) = list {
            row.push(
                s.membership(l)
                    .map(|m| m.status.as_str().to_string())
                    .unwrap_or_default(),
            );
        }
        for k in &keys {
            row.push(match s.attribs.get(*k) {
                Some(serde_json::Value::String(v)) => v.clone(),
                Some(serde_json::Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            });
        }
        w.write_record(&row).map_err(io)?;
    }
    w.flush()
        .map_err(|e| Error::Invalid(format!("cannot write the CSV: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &[u8]) -> Vec<Row> {
        CsvRows::new(text).unwrap().collect()
    }

    fn errors(rows: &[Row]) -> Vec<(u64, String)> {
        rows.iter()
            .filter_map(|r| match r {
                Row::Bad(e) => Some((e.line, e.reason.clone())),
                Row::Ok { .. } => None,
            })
            .collect()
    }

    fn good(rows: &[Row]) -> Vec<(u64, String)> {
        rows.iter()
            .filter_map(|r| match r {
                Row::Ok { line, input } => Some((*line, input.email.to_string())),
                Row::Bad(_) => None,
            })
            .collect()
    }

    #[test]
    fn columns_become_name_and_attributes_and_quoted_commas_stay_in_their_field() {
        let r = rows(b"Email,Name,Country,Note\nAnn@Example.com,\"Smith, Ann\",DE,\"a, b\"\n");
        let Row::Ok { line, input } = &r[0] else {
            panic!("{r:?}")
        };
        assert_eq!(*line, 2);
        assert_eq!(input.email.as_str(), "ann@example.com");
        assert_eq!(input.name.as_deref(), Some("Smith, Ann"));
        assert_eq!(input.attribs["Country"], "DE");
        assert_eq!(input.attribs["Note"], "a, b");
    }

    #[test]
    fn bad_rows_name_their_line_and_never_stop_the_rest() {
        let mut text = b"email,name\n".to_vec();
        text.extend_from_slice(b"not-an-address,X\n"); // 2
        text.extend_from_slice(b"ok1@example.com,\"two\nlines\"\n"); // 3-4
        text.extend_from_slice(b"bad\xff@example.com,Y\n"); // 5
        text.extend_from_slice(b"ok2@example.com,\xfe\n"); // 6
        text.extend_from_slice(b"\n"); // 7, blank
        text.extend_from_slice(b"big@example.com,"); // 8
        text.extend(std::iter::repeat_n(b'x', 1024 * 1024));
        text.extend_from_slice(b"\n,Nobody\n"); // 9
        text.extend_from_slice(b"a@example.com,b,c\n"); // 10
        text.extend_from_slice(b"\n\nok3@example.com,Z"); // 11-12 blank, 13 without a line end
        let r = rows(&text);
        assert_eq!(
            good(&r),
            vec![
                (3, "ok1@example.com".into()),
                (13, "ok3@example.com".into())
            ]
        );
        let e = errors(&r);
        let lines: Vec<u64> = e.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![2, 5, 6, 8, 9, 10], "{e:?}");
        assert!(e[0].1.contains("not a valid address"), "{e:?}");
        assert!(e[1].1.contains("not UTF-8"), "{e:?}");
        assert!(e[2].1.contains("field 2 is not UTF-8"), "{e:?}");
        assert!(e[3].1.contains("longer than"), "{e:?}");
        assert!(e[4].1.contains("no email"), "{e:?}");
        assert!(e[5].1.contains("3 fields"), "{e:?}");
    }

    #[test]
    fn a_header_without_email_stops_the_import_naming_line_1() {
        for (text, want) in [
            (&b"name,country\nAnn,DE\n"[..], "no `email` column"),
            (b"", "empty"),
            (b"email,Email\n", "twice"),
            (b"email,\n", "column 2 has no name"),
        ] {
            let e = CsvRows::new(text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("line 1") && e.contains(want), "{e}");
        }
        // A byte-order mark from a spreadsheet is not part of the first name.
        assert_eq!(
            good(&rows(b"\xef\xbb\xbfemail\nann@example.com\n")).len(),
            1
        );
    }

    #[test]
    fn an_export_imports_back_the_same() {
        let r = rows(b"email,name,city\nann@example.com,\"Ann, A.\",Berlin\nbob@example.com,,\n");
        let subs: Vec<_> = r
            .iter()
            .filter_map(|r| match r {
                Row::Ok { input, .. } => Some(crate::campaign::audience::Subscriber {
                    id: 0,
                    email: input.email.clone(),
                    name: input.name.clone().unwrap_or_default(),
                    attribs: input.attribs.clone(),
                    lists: Default::default(),
                    created_at: jiff::Timestamp::UNIX_EPOCH,
                }),
                Row::Bad(_) => None,
            })
            .collect();
        let mut with_status = Vec::new();
        write_csv(&mut with_status, &subs, Some("news")).unwrap();
        assert!(with_status.starts_with(b"email,name,status,city\n"));
        assert_eq!(rows(&with_status), r, "the status column is no attribute");
        let mut out = Vec::new();
        write_csv(&mut out, &subs, None).unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "email,name,city\nann@example.com,\"Ann, A.\",Berlin\nbob@example.com,,\n"
        );
        assert_eq!(rows(&out), r);
    }
}
