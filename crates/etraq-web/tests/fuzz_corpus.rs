//! The `web_request` fuzz corpus replayed as a plain test (with truncations and byte flips)
//! against the console over a real SQLite store: never a panic, never a 5xx.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;

use etraq_core::Store;
use etraq_store_sqlite::SqliteStore;
use etraq_web::fuzzing::Harness;

#[test]
fn web_request_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = {
        let rt = tokio::runtime::Runtime::new().unwrap();
        Arc::new(
            rt.block_on(SqliteStore::open(dir.path().join("etraq.db")))
                .unwrap(),
        )
    };
    let h = Harness::new(store, dir.path());
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/web_request");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", corpus.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 30, "the corpus is too small");
    for path in files {
        let data = std::fs::read(&path).unwrap();
        h.request(&data);
        for cut in [1, data.len() / 2, data.len().saturating_sub(3)] {
            h.request(&data[..cut.min(data.len())]);
        }
        let mut flipped = data.clone();
        for i in (1..flipped.len()).step_by(7) {
            flipped[i] ^= 0x20;
        }
        h.request(&flipped);
    }
}

#[test]
fn article_markdown_corpus() {
    let corpus =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/article_markdown");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", corpus.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the corpus is too small");
    for path in files {
        let data = std::fs::read(&path).unwrap();
        etraq_web::fuzzing::article_markdown(&data);
        for cut in [1, data.len() / 2, data.len().saturating_sub(3)] {
            etraq_web::fuzzing::article_markdown(&data[..cut.min(data.len())]);
        }
    }
}
