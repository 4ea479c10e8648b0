//! Fuzz target: `etraq_web::fuzzing::article_markdown` must never panic nor let a script
//! through. Its corpus in `corpus/article_markdown/` also runs as a plain test
//! (`crates/etraq-web/tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    etraq_web::fuzzing::article_markdown(data);
});
