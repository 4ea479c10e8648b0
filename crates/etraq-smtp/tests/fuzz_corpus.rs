//! The `smtp_session` fuzz corpus replayed as a plain test, with truncations and byte flips.

use std::path::PathBuf;

#[test]
fn smtp_session_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/smtp_session");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 20, "the corpus is too small");
    for path in files {
        let data = std::fs::read(&path).unwrap();
        let run = |d: &[u8]| std::panic::catch_unwind(|| etraq_smtp::fuzzing::session(d)).is_ok();
        assert!(run(&data), "panicked on {}", path.display());
        for cut in [1, data.len() / 2, data.len().saturating_sub(3)] {
            assert!(
                run(&data[..cut.min(data.len())]),
                "panicked on {} cut at {cut}",
                path.display()
            );
        }
        let mut flipped = data.clone();
        for i in (1..flipped.len()).step_by(11) {
            flipped[i] ^= 0x20;
        }
        assert!(run(&flipped), "panicked on flipped {}", path.display());
    }
}

#[test]
fn validate_probe_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/validate");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the corpus is too small");
    for path in files {
        let data = std::fs::read(&path).unwrap();
        let run =
            |d: &[u8]| std::panic::catch_unwind(|| etraq_smtp::fuzzing::probe_replies(d)).is_ok();
        assert!(run(&data), "panicked on {}", path.display());
        for cut in [1, data.len() / 2, data.len().saturating_sub(3)] {
            assert!(
                run(&data[..cut.min(data.len())]),
                "panicked on {} cut at {cut}",
                path.display()
            );
        }
    }
}
