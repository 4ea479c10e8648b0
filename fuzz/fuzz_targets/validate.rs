//! Fuzz target: arbitrary bytes as a mail exchanger's side of the validator's probe dialogue,
//! and as an address for the mailbox syntax checker (`etraq_smtp::fuzzing::probe_replies`):
//! never panics, stops cleanly on garbage. Its corpus in `corpus/validate/` also runs as a plain
//! test (`crates/etraq-smtp/tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    etraq_smtp::fuzzing::probe_replies(data);
});
