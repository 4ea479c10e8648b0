//! The fuzz targets' corpora, replayed as plain tests: every input must go through its target
//! without a panic. New crash reproducers found by `cargo fuzz` go into the corpus, so they stay
//! fixed.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the corpus {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "the {target} corpus is too small: {}",
        files.len()
    );
    files
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect()
}

fn replay(target: &str, f: fn(&[u8])) {
    for (path, data) in corpus(target) {
        let r = std::panic::catch_unwind(|| f(&data));
        assert!(r.is_ok(), "{target} panicked on {}", path.display());
        // Truncations and byte flips of each input too, as the fuzzer would try.
        for cut in [
            1,
            data.len() / 3,
            data.len() / 2,
            data.len().saturating_sub(1),
        ] {
            let r = std::panic::catch_unwind(|| f(&data[..cut.min(data.len())]));
            assert!(
                r.is_ok(),
                "{target} panicked on {} cut at {cut}",
                path.display()
            );
        }
        let mut flipped = data.clone();
        for i in (0..flipped.len()).step_by(7) {
            flipped[i] ^= 0x80;
        }
        assert!(
            std::panic::catch_unwind(|| f(&flipped)).is_ok(),
            "{target} panicked on flipped {}",
            path.display()
        );
    }
}

#[test]
fn parse_classify_corpus() {
    replay("parse_classify", etraq_core::fuzzing::parse_and_classify);
}

#[test]
fn subject_tag_corpus() {
    replay("subject_tag", etraq_core::fuzzing::subject_tag);
}

#[test]
fn address_corpus() {
    replay("address", etraq_core::fuzzing::address);
}

#[test]
fn extract_corpus() {
    replay("extract", etraq_core::fuzzing::extract);
}

#[test]
fn report_corpus() {
    replay("report", etraq_core::fuzzing::report);
}

#[test]
fn token_corpus() {
    replay("token", etraq_core::fuzzing::token);
}

#[test]
fn search_query_corpus() {
    replay("search_query", etraq_core::fuzzing::search_query);
}

#[test]
fn read_message_corpus() {
    replay("read_message", etraq_core::fuzzing::read_message);
}

#[test]
fn support_text_corpus() {
    replay("support_text", etraq_core::fuzzing::support_text);
}
