//! The extractor's two targets (issue 7):
//! - extraction throughput on a 1 MB HTML page, ≥ 50 MB/s — against the bare `scraper` parse
//!   of the same page, the floor any HTML-aware finder pays;
//! - a crawl of a local 5,000-page site with 16 threads, ≥ 300 pages/s — against plain reqwest
//!   GETs of the same 5,000 pages with the same concurrency, the floor of the HTTP stack.
//!
//! `cargo bench -p etraq-benches --bench extract`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use etraq_core::extract::normalize_extensions;
use etraq_core::extract::{CrawlPolicy, find_in_html};
use etraq_crawl::{Crawl, FetchOptions, ReqwestFetch};

/// About 1 MB of a realistic page: text, links, images with retina names, a few addresses in
/// every form the finder reads.
fn big_page() -> String {
    let mut s =
        String::from("<html><head><title>Directory</title><style>@media x{}</style></head><body>");
    let mut i = 0;
    while s.len() < 1_000_000 {
        s.push_str(&format!(
            r#"<div class="card"><h3>Member {i}</h3>
            <p>Our team at the office handles orders, returns and questions about the catalogue.
            We answer within a day. See the <a href="/members/{i}">profile</a> and
            <a href="/members/{i}/products?page=2#top">products</a>.</p>
            <img src="/img/member{i}@2x.png" srcset="/img/member{i}@3x.png 3x" alt="member{i}@2x.png">
            "#
        ));
        match i % 10 {
            0 => s.push_str(&format!(
                r#"<p><a href="mailto:member{i}@acme-tools.com?subject=Hello">Mail</a></p>"#
            )),
            3 => s.push_str(&format!("<p>member{i} [at] acme-tools [dot] com</p>")),
            6 => s.push_str(&format!("<p>Write to member{i}&#64;acme-tools.com</p>")),
            _ => {}
        }
        s.push_str("</div>\n");
        i += 1;
    }
    s.push_str("</body></html>");
    s
}

fn extraction(c: &mut Criterion) {
    let page = big_page();
    let base = url::Url::parse("http://acme-tools.test/members").unwrap_or_else(|e| panic!("{e}"));
    let found = find_in_html(&page, &base);
    assert!(found.addresses.len() > 500, "{}", found.addresses.len());
    let mut g = c.benchmark_group("extract_1mb");
    g.throughput(Throughput::Bytes(page.len() as u64));
    g.sample_size(30);
    g.bench_function("baseline: scraper parse only", |b| {
        b.iter(|| scraper::Html::parse_document(std::hint::black_box(&page)))
    });
    g.bench_function("find_in_html", |b| {
        b.iter(|| find_in_html(std::hint::black_box(&page), &base))
    });
    g.finish();
}

const PAGES: usize = 5_000;

/// Serves `/p/N` for N < 5,000 on its own thread: each page links to its five children
/// (5N+1 … 5N+5) and holds one address, in ~4 KB.
fn start_site() -> std::net::SocketAddr {
    use axum::extract::Path;
    use axum::response::Html;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/p/{n}",
                axum::routing::get(|Path(n): Path<usize>| async move {
                    let mut s = format!(
                        "<html><body><h1>Page {n}</h1><p>Contact: page{n}@acme-tools.com</p>"
                    );
                    for k in 1..=5 {
                        let child = n * 5 + k;
                        if child < PAGES {
                            s.push_str(&format!(r#"<a href="/p/{child}">child {child}</a> "#));
                        }
                    }
                    s.push_str(
                        &"<p>Filler text about products and services, shipping and returns.</p>"
                            .repeat(50),
                    );
                    s.push_str("</body></html>");
                    Html(s)
                }),
            );
            let Ok(listener) = tokio::net::TcpListener::bind("127.0.0.1:0").await else {
                return;
            };
            let Ok(addr) = listener.local_addr() else {
                return;
            };
            let _ = tx.send(addr);
            let _ = axum::serve(listener, app).await;
        });
    });
    rx.recv()
        .unwrap_or_else(|e| panic!("site did not start: {e}"))
}

fn crawl(c: &mut Criterion) {
    let addr = start_site();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let options = FetchOptions {
        timeout: Duration::from_secs(20),
        ..FetchOptions::default()
    };
    let policy = CrawlPolicy {
        depth: 20,
        links_per_site: 0,
        max_sites: 0,
        follow_external: false,
        exclude_ext: normalize_extensions(&[".pdf".into()]),
        robots: true,
        robots_agent: "etraq".into(),
        delay: Duration::ZERO,
        retries: 2,
        retry_base: Duration::from_secs(1),
        parallel_per_site: 16,
    };
    let seed = vec![format!("http://{addr}/p/0")];
    let mut g = c.benchmark_group("crawl_5000_pages_16_threads");
    g.throughput(Throughput::Elements(PAGES as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("baseline: reqwest GET of the same pages", |b| {
        // reqwest is built with `rustls-no-provider` (etraq-crawl): give it ring, as the
        // adapter does.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        b.iter(|| {
            rt.block_on(async {
                let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                let mut tasks = tokio::task::JoinSet::new();
                for _ in 0..16 {
                    let (client, next) = (client.clone(), next.clone());
                    tasks.spawn(async move {
                        loop {
                            let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if n >= PAGES {
                                break;
                            }
                            if let Ok(r) = client.get(format!("http://{addr}/p/{n}")).send().await {
                                let _ = r.bytes().await;
                            }
                        }
                    });
                }
                while tasks.join_next().await.is_some() {}
            })
        })
    });
    g.bench_function("etraq crawl", |b| {
        b.iter(|| {
            let fetch = ReqwestFetch::new(&options).unwrap_or_else(|e| panic!("{e}"));
            let report = rt.block_on(
                Crawl {
                    policy: policy.clone(),
                    fetch: Arc::new(fetch),
                    threads: 16,
                }
                .run(&seed, |_, _| {}, std::future::pending()),
            );
            assert_eq!(report.pages_fetched as usize, PAGES);
            assert_eq!(report.addresses.len(), PAGES);
        })
    });
    g.finish();
}

criterion_group!(benches, extraction, crawl);
criterion_main!(benches);
