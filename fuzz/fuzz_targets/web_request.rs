//! Fuzz target: arbitrary requests to the whole console as a signed-in admin
//! (`etraq_web::fuzzing::Harness`) over a real SQLite store in a scratch directory: no panic and
//! no 5xx. Its corpus also runs as a plain test (`crates/etraq-web/tests/fuzz_corpus.rs`).
#![no_main]

use std::sync::{Arc, OnceLock};

use etraq_core::Store;
use etraq_web::fuzzing::Harness;

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("etraq-fuzz-web-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let store: Arc<dyn Store> = Arc::new(
            rt.block_on(etraq_store_sqlite::SqliteStore::open(dir.join("etraq.db")))
                .expect("store"),
        );
        Harness::new(store, &dir)
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness().request(data);
});
