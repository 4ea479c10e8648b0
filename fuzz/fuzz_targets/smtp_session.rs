//! Fuzz target: the SMTP session state machine fed arbitrary client bytes
//! (`etraq_smtp::fuzzing::session`): no panic, no endless loop, no message accepted without a
//! complete DATA. Its corpus also runs as a plain test (`crates/etraq-smtp/tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    etraq_smtp::fuzzing::session(data);
});
