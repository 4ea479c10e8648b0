//! Parse + classify per message, against mail-parser's parse alone in the same run.
//!
//! Target (issue "Tracking core"): classification adds at most 50 % to the parse. Both sides
//! parse the same 1,000 realistic messages; "etraq" also extracts the header facts, normalises
//! every address, resolves the envelope, sorts the parties, builds the store query and
//! classifies.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use etraq_benches::{Traffic, rules};
use etraq_core::tracking::{self as classify, ThreadFacts};
use etraq_core::{Envelope, ParsedMail};
use mail_parser::MessageParser;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let mails = Traffic::new(7).take(1_000);
    let rules = rules();
    let facts = ThreadFacts::default();
    let mut g = c.benchmark_group("per_message");
    g.throughput(Throughput::Elements(mails.len() as u64));
    g.bench_function("mail_parser_parse (baseline)", |b| {
        let parser = MessageParser::default();
        b.iter(|| {
            for m in &mails {
                black_box(parser.parse(black_box(m)));
            }
        })
    });
    g.bench_function("etraq_parse_and_classify", |b| {
        b.iter(|| {
            for m in &mails {
                let mail = ParsedMail::parse(black_box(m));
                let env = Envelope::default().resolve(&mail);
                let parties = classify::parties(&rules, &env, &mail);
                let q = classify::facts_query(&mail, &parties, &rules);
                black_box(&q);
                black_box(classify::classify(&rules, &env, &mail, &parties, &facts));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
