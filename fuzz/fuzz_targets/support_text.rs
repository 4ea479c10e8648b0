//! Fuzz target: `etraq_core::fuzzing::support_text` must never panic. Its corpus in `corpus/support_text/` also
//! runs as a plain test (`crates/etraq-core/tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    etraq_core::fuzzing::support_text(data);
});
