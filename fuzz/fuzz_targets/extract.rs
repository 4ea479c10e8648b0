//! Fuzz target: the extractor's address finder, false-positive filter and crawl policy on
//! arbitrary HTML, text and robots.txt (`etraq_core::fuzzing::extract`) never panic. Its corpus
//! in `corpus/extract/` also runs as a plain test (`crates/etraq-core/tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    etraq_core::fuzzing::extract(data);
});
