//! The `smtp_session` and `validate` fuzz corpora replayed as plain tests, with truncations
//! (and, for the session, byte flips).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;

/// The files of `fuzz/corpus/<target>`, at least `min` of them.
fn corpus(target: &str, min: usize) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= min, "the {target} corpus is too small");
    files
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect()
}

/// Runs `f` on each input and on cuts of it; `flip` also on a byte-flipped copy.
fn replay(target: &str, min: usize, f: fn(&[u8]), flip: bool) {
    for (path, data) in corpus(target, min) {
        let run = |d: &[u8]| std::panic::catch_unwind(|| f(d)).is_ok();
        assert!(run(&data), "panicked on {}", path.display());
        for cut in [1, data.len() / 2, data.len().saturating_sub(3)] {
            assert!(
                run(&data[..cut.min(data.len())]),
                "panicked on {} cut at {cut}",
                path.display()
            );
        }
        if flip {
            let mut flipped = data.clone();
            for i in (1..flipped.len()).step_by(11) {
                flipped[i] ^= 0x20;
            }
            assert!(run(&flipped), "panicked on flipped {}", path.display());
        }
    }
}

#[test]
fn smtp_session_corpus() {
    replay("smtp_session", 20, etraq_smtp::fuzzing::session, true);
}

#[test]
fn validate_probe_corpus() {
    replay("validate", 10, etraq_smtp::fuzzing::probe_replies, false);
}
