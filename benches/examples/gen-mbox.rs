//! Writes generated mail traffic as an mbox on standard output, for measuring `etraq ingest` and
//! for load scripts: `cargo run --release -p etraq-benches --example gen-mbox -- 100000 > t.mbox`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let seed: u64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(42);
    let mut traffic = etraq_benches::Traffic::new(seed);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for _ in 0..n {
        let mail = traffic.next_mail();
        let text = String::from_utf8_lossy(&mail).replace("\r\n", "\n");
        let mut body = String::with_capacity(text.len() + 64);
        body.push_str("From generator@etraq.invalid Fri Nov 27 09:00:00 2026\n");
        for line in text.lines() {
            // mboxrd quoting of body lines that look like separators.
            if line.trim_start_matches('>').starts_with("From ") {
                body.push('>');
            }
            body.push_str(line);
            body.push('\n');
        }
        body.push('\n');
        if out.write_all(body.as_bytes()).is_err() {
            return;
        }
    }
}
