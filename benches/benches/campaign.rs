//! What one campaign recipient costs on the sender's CPU, step by step: rendering the template
//! (minijinja, then the text part from the HTML with html2text), formatting the message (lettre,
//! multipart/alternative), and its record (the header parsed back). Each step's figure is
//! meaningful beside the others in the same run: `cargo bench -p etraq-benches --bench campaign`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use etraq_core::campaign::{MergeData, Named, Renderer, SubscriberFields, builtin_templates};

fn data() -> MergeData {
    let mut attribs = serde_json::Map::new();
    attribs.insert("country".into(), "DE".into());
    MergeData {
        subscriber: SubscriberFields {
            email: "person42@customer7.test".into(),
            name: "Person 42".into(),
            attribs,
            score: 0.0,
        },
        campaign: Named {
            name: "Bench".into(),
        },
        list: Named {
            name: "News".into(),
        },
        unsubscribe_url: "http://127.0.0.1:8080/u/BAAAAAAAAAABAAAAAAAAACoAAPS8yHoT0Y8".into(),
        view_in_browser_url: "http://127.0.0.1:8080/v/BQAAAAAAAAABAAAAAAAAACoAAN1EXn6dXyM".into(),
        customer: Default::default(),
    }
}

fn bench(c: &mut Criterion) {
    let t = builtin_templates()
        .into_iter()
        .find(|t| t.name == "newsletter")
        .unwrap();
    let renderer = Renderer::new(&t).unwrap();
    let d = data();
    let rendered = renderer.render(&d).unwrap();
    let mut with_text = t.clone();
    with_text.text = Some(rendered.text.clone());
    let renderer_text = Renderer::new(&with_text).unwrap();
    let headers = vec![
        (
            "List-Unsubscribe".to_string(),
            "<http://127.0.0.1:8080/u/x>, <mailto:unsubscribe+x@example.com>".to_string(),
        ),
        ("Precedence".to_string(), "bulk".to_string()),
    ];
    let mail = || etraq_smtp::CampaignMail {
        from: "Shop <news@example.com>",
        reply_to: None,
        to: "person42@customer7.test",
        to_name: "Person 42",
        message_id: "1.42.abcdef@example.com",
        rendered: &rendered,
        headers: &headers,
    };
    let bytes = etraq_smtp::format_campaign(&mail()).unwrap();
    let outgoing = etraq_core::service::OutgoingMail {
        mail_from: "bounce+x@example.com".into(),
        to: "person42@customer7.test".into(),
        to_name: "Person 42".into(),
        from: "Shop <news@example.com>".into(),
        reply_to: None,
        message_id: "1.42.abcdef@example.com".into(),
        rendered: rendered.clone(),
        headers: headers.clone(),
    };
    let now: jiff::Timestamp = "2026-12-04T12:00:00Z".parse().unwrap();
    let mut g = c.benchmark_group("campaign_recipient");
    g.bench_function("render (template + text part from the HTML)", |b| {
        b.iter(|| renderer.render(&d).unwrap())
    });
    g.bench_function("render (template with its own text part)", |b| {
        b.iter(|| renderer_text.render(&d).unwrap())
    });
    g.bench_function("format (lettre multipart)", |b| {
        b.iter(|| etraq_smtp::format_campaign(&mail()).unwrap())
    });
    g.bench_function("record (header parsed back)", |b| {
        b.iter(|| etraq_core::service::campaign_record(&outgoing, &bytes, now))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
