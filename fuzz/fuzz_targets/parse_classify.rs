//! Fuzz target: `etraq_core::fuzzing::parse_and_classify` must never panic. Its corpus in `corpus/parse_classify/` also
//! runs as a plain test (`crates/etraq-core/tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    etraq_core::fuzzing::parse_and_classify(data);
});
