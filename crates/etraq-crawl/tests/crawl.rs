//! The extractor against a real local web site over real HTTP (reqwest, axum on 127.0.0.1).
//! Each test asserts the exact set of addresses found and which pages were and were not
//! fetched.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod site;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use etraq_core::extract::normalize_extensions;
use etraq_core::extract::{CrawlPolicy, CrawlReport, FailureKind, SiteReport, SiteVerdict};
use etraq_crawl::{Crawl, FetchOptions, ReqwestFetch};
use site::{Page, Site, cloudflare, html};

fn policy() -> CrawlPolicy {
    CrawlPolicy {
        depth: 3,
        links_per_site: 200,
        max_sites: 10,
        follow_external: false,
        exclude_ext: normalize_extensions(&["pdf".into(), "jpg".into()]),
        robots: true,
        robots_agent: "etraq".into(),
        delay: Duration::ZERO,
        retries: 2,
        retry_base: Duration::from_millis(100),
        parallel_per_site: 4,
    }
}

async fn crawl(policy: CrawlPolicy, seeds: &[String]) -> CrawlReport {
    // Names resolve from this table only: `www.acme-tools.test` and `shop.bolt-supply.test` are
    // 127.0.0.1 (sites by Host name), everything else is a DNS failure. No real resolver is
    // ever asked.
    let hosts = [
        ("www.acme-tools.test", "127.0.0.1"),
        ("shop.bolt-supply.test", "127.0.0.1"),
    ]
    .into_iter()
    .map(|(n, ip)| (n.to_string(), ip.parse().unwrap_or_else(|e| panic!("{e}"))))
    .collect();
    let fetch = ReqwestFetch::new(&FetchOptions {
        timeout: Duration::from_secs(5),
        max_redirects: 4,
        max_body: 1024 * 1024,
        hosts: Some(hosts),
        ..FetchOptions::default()
    })
    .unwrap_or_else(|e| panic!("client: {e}"));
    Crawl {
        policy,
        fetch: Arc::new(fetch),
        threads: 8,
    }
    .run(seeds, |_, _| {}, std::future::pending())
    .await
}

fn addresses(report: &CrawlReport) -> BTreeSet<&str> {
    report
        .addresses
        .iter()
        .map(|a| a.address.as_str())
        .collect()
}

fn site_report<'a>(report: &'a CrawlReport, site: &Site) -> &'a SiteReport {
    let key = site.addr.to_string();
    report
        .sites
        .iter()
        .find(|s| s.site == key)
        .unwrap_or_else(|| panic!("no report for {key}: {report:#?}"))
}

/// The main site: obfuscations, false positives, robots.txt, exclusions, a 429, a redirect
/// loop, an oversized page, a non-HTML page and links to two external sites.
async fn main_site(external: &Site) -> Site {
    let big = format!(
        "<html><body><p>big@acme-tools.com</p>{}</body></html>",
        "<p>filler filler filler filler</p>".repeat(60_000)
    );
    Site::start(vec![
        ("/robots.txt", Page::Ok("text/plain", "User-agent: *\nDisallow: /private/\n".into())),
        (
            "/",
            html(format!(
                r#"<html><head><title>Acme Tools</title></head><body>
                <img src="/img/logo@2x.png" alt="logo@2x.png"> <p>icon@3x.webp, jquery@3.6.0</p>
                <p>Sales: <a href="mailto:Sales%40Acme-Tools.com?subject=Quote%20please">write to us</a></p>
                <p>Anna: anna [at] acme-tools [dot] com</p>
                <a href="/contact">Contact</a> <a href="/team">Team</a>
                <a href="/private/secret.html">Private</a> <a href="/brochure.pdf">Brochure</a>
                <a href="/photo.JPG">Photo</a> <a href="/limited">Limited</a>
                <a href="/loop1">Loop</a> <a href="/big">Big</a> <a href="/logo.png">Logo</a>
                <a href="/missing">Missing</a>
                <a href="{}">Partner</a>
                <script>var x = "script@acme-tools.com";</script>
                </body></html>"#,
                external.url("/")
            )),
        ),
        (
            "/contact",
            html(format!(
                r#"<p>Support: <span class="__cf_email__" data-cfemail="{}">[email&#160;protected]</span></p>
                <p>Jane: j.doe&#64;acme-tools&#46;com</p><p>Bob: bob(at)acme-tools.com</p>
                <a href="/">Home</a> <a href="/team#people">Team</a>"#,
                cloudflare("cf@acme-tools.com", 0x5a)
            )),
        ),
        (
            "/team",
            html(r#"<p>Dora: dora at acme-tools dot com</p><p>Sales again: sales@acme-tools.com</p>"#),
        ),
        ("/private/secret.html", html("<p>secret@acme-tools.com</p>")),
        ("/brochure.pdf", html("<p>pdf@acme-tools.com</p>")),
        ("/photo.JPG", html("<p>jpg@acme-tools.com</p>")),
        (
            "/limited",
            Page::LimitedThen(1, 1, Box::new(html("<p>patient@acme-tools.com</p>"))),
        ),
        ("/loop1", Page::Redirect("/loop2".into())),
        ("/loop2", Page::Redirect("/loop1".into())),
        ("/big", html(big)),
        ("/logo.png", Page::Ok("image/png", "img@acme-tools.com".into())),
    ])
    .await
}

async fn partner_site(third: &Site) -> Site {
    Site::start(vec![(
        "/",
        html(format!(
            r#"<p>partner@bolt-supply.com</p><a href="{}">Corner shop</a>"#,
            third.url("/")
        )),
    )])
    .await
}

async fn third_site() -> Site {
    Site::start(vec![("/", html("<p>owner@corner-shop.net</p>"))]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finds_exactly_the_real_addresses_and_fetches_only_what_it_may() {
    let third = third_site().await;
    let partner = partner_site(&third).await;
    let main = main_site(&partner).await;
    let report = crawl(policy(), &[main.url("/")]).await;

    assert_eq!(
        addresses(&report),
        BTreeSet::from([
            "anna@acme-tools.com",
            "bob@acme-tools.com",
            "cf@acme-tools.com",
            "dora@acme-tools.com",
            "j.doe@acme-tools.com",
            "patient@acme-tools.com",
            "sales@acme-tools.com",
        ]),
        "{report:#?}"
    );
    let sales = report
        .addresses
        .iter()
        .find(|a| a.address == "sales@acme-tools.com")
        .unwrap_or_else(|| panic!("sales missing"));
    assert_eq!(sales.source_url, main.url("/"));
    assert_eq!(sales.count, 2, "on the home page and on /team");

    let hits = main.hits();
    for fetched in [
        "/robots.txt",
        "/",
        "/contact",
        "/team",
        "/loop1",
        "/loop2",
        "/big",
        "/logo.png",
    ] {
        assert!(
            hits.iter().any(|h| h == fetched),
            "{fetched} not fetched: {hits:?}"
        );
    }
    for never in ["/private/secret.html", "/brochure.pdf", "/photo.JPG"] {
        assert!(
            !hits.iter().any(|h| h == never),
            "{never} fetched: {hits:?}"
        );
    }
    assert_eq!(main.hits_of("/limited"), 2, "one 429, then the page");
    assert_eq!(main.hits_of("/robots.txt"), 1);
    assert_eq!(main.hits_of("/"), 1, "each page once");
    assert_eq!(
        main.hits_of("/team"),
        1,
        "#fragment links are the same page"
    );
    assert!(
        partner.hits().is_empty(),
        "external sites are not followed by default"
    );
    assert!(third.hits().is_empty());

    let site = site_report(&report, &main);
    assert_eq!(site.robots_disallowed, 1);
    assert_eq!(site.excluded, 2);
    assert_eq!(site.rate_limited, 1);
    assert_eq!(site.gave_up_rate_limited, 0);
    assert_eq!(site.not_html, 1);
    assert_eq!(site.not_found, 1);
    assert!(
        site.failures.contains(&(FailureKind::TooManyRedirects, 1)),
        "{site:?}"
    );
    assert!(
        site.failures.contains(&(FailureKind::TooLarge, 1)),
        "{site:?}"
    );
    assert_eq!(site.pages_fetched, 4, "/, /contact, /team, /limited");
    assert_eq!(site.verdict(), SiteVerdict::Found);
    assert!(!report.interrupted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_sites_are_followed_up_to_max_sites() {
    let third = third_site().await;
    let partner = partner_site(&third).await;
    let main = Site::start(vec![(
        "/",
        html(format!(
            r#"<p>home@acme-tools.com</p><a href="{}">p</a>"#,
            partner.url("/")
        )),
    )])
    .await;
    let mut p = policy();
    p.follow_external = true;
    p.robots = false;
    p.max_sites = 2;
    let report = crawl(p.clone(), &[main.url("/")]).await;
    assert_eq!(
        addresses(&report),
        BTreeSet::from(["home@acme-tools.com", "partner@bolt-supply.com"])
    );
    assert_eq!(partner.hits(), ["/"]);
    assert!(third.hits().is_empty(), "the third site is over max_sites");

    p.max_sites = 0;
    let report = crawl(p, &[main.url("/")]).await;
    assert!(addresses(&report).contains("owner@corner-shop.net"));
    assert_eq!(third.hits(), ["/"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_budget_and_depth_bound_a_site() {
    let links: String = (0..50)
        .map(|i| format!(r#"<a href="/p{i}">{i}</a>"#))
        .collect();
    let mut pages = vec![("/", html(links))];
    let paths: Vec<String> = (0..50).map(|i| format!("/p{i}")).collect();
    for (i, path) in paths.iter().enumerate() {
        pages.push((
            path.as_str(),
            html(format!(
                r#"<p>p{i}@acme-tools.com</p><a href="/deep{i}">d</a>"#
            )),
        ));
    }
    let site = Site::start(pages).await;
    let mut p = policy();
    p.robots = false;
    p.links_per_site = 5;
    let report = crawl(p.clone(), &[site.url("/")]).await;
    let hits: BTreeSet<String> = site.hits().into_iter().collect();
    assert_eq!(
        hits,
        ["/", "/p0", "/p1", "/p2", "/p3"].map(String::from).into()
    );
    assert_eq!(site.hits().len(), 5);
    assert_eq!(report.addresses.len(), 4);
    assert_eq!(site_report(&report, &site).over_budget, 46 + 4);

    let site = Site::start(vec![
        ("/", html(r#"<a href="/one">1</a>"#)),
        (
            "/one",
            html(r#"<p>one@acme-tools.com</p><a href="/two">2</a>"#),
        ),
        ("/two", html(r#"<p>two@acme-tools.com</p>"#)),
    ])
    .await;
    p.links_per_site = 0;
    p.depth = 1;
    let report = crawl(p, &[site.url("/")]).await;
    assert_eq!(addresses(&report), BTreeSet::from(["one@acme-tools.com"]));
    assert_eq!(site.hits(), ["/", "/one"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_rate_limited_and_unreachable_are_told_apart_from_nothing_found() {
    let robots_blocked = Site::start(vec![
        (
            "/robots.txt",
            Page::Ok("text/plain", "User-agent: etraq\nDisallow: /\n".into()),
        ),
        ("/", html("<p>hidden@acme-tools.com</p>")),
    ])
    .await;
    let forbidden = Site::start(vec![("/", Page::Status(403, None))]).await;
    let limited = Site::start(vec![("/", Page::Status(429, Some(0)))]).await;
    let empty = Site::start(vec![("/", html("<p>Welcome! No addresses here.</p>"))]).await;
    let closed = site::closed_port().await;
    let tls = site::start_untrusted_tls().await;
    let mut p = policy();
    p.retries = 1;
    let report = crawl(
        p,
        &[
            robots_blocked.url("/"),
            forbidden.url("/"),
            limited.url("/"),
            empty.url("/"),
            format!("http://{closed}/"),
            format!("https://{tls}/"),
            format!("http://nowhere.acme-tools.test:{}/", empty.addr.port()),
            "not a url at all".into(),
        ],
    )
    .await;
    assert!(report.addresses.is_empty(), "{report:#?}");
    assert_eq!(robots_blocked.hits(), ["/robots.txt"]);
    assert_eq!(
        site_report(&report, &robots_blocked).verdict(),
        SiteVerdict::Blocked
    );
    assert_eq!(
        site_report(&report, &forbidden).verdict(),
        SiteVerdict::Blocked
    );
    let l = site_report(&report, &limited);
    assert_eq!(
        (l.verdict(), l.rate_limited, l.gave_up_rate_limited),
        (SiteVerdict::RateLimited, 2, 1)
    );
    assert_eq!(limited.hits_of("/"), 2, "one retry, then given up");
    assert_eq!(
        site_report(&report, &empty).verdict(),
        SiteVerdict::NothingFound
    );
    let by_key = |key: String| {
        report
            .sites
            .iter()
            .find(|s| s.site == key)
            .unwrap_or_else(|| panic!("no report for {key}"))
    };
    let c = by_key(closed.to_string());
    assert_eq!(c.verdict(), SiteVerdict::Unreachable);
    assert!(
        c.failures.iter().any(|(k, _)| *k == FailureKind::Connect),
        "{c:?}"
    );
    let t = by_key(tls.to_string());
    assert_eq!(t.verdict(), SiteVerdict::Unreachable);
    assert!(
        t.failures.iter().any(|(k, _)| *k == FailureKind::Tls),
        "{t:?}"
    );
    let d = by_key(format!("nowhere.acme-tools.test:{}", empty.addr.port()));
    assert_eq!(d.verdict(), SiteVerdict::Unreachable);
    assert!(
        d.failures.iter().any(|(k, _)| *k == FailureKind::Dns),
        "{d:?}"
    );
    assert_eq!(report.invalid_seeds.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sites_by_host_name_on_one_server_are_told_apart() {
    // One server, two names: each name is its own site with its own robots.txt and budget.
    let server = Site::start(vec![
        (
            "/",
            html(r#"<p>home@acme-tools.com</p><a href="/next">n</a>"#),
        ),
        ("/next", html("<p>next@acme-tools.com</p>")),
    ])
    .await;
    let port = server.addr.port();
    let mut p = policy();
    p.links_per_site = 1;
    let report = crawl(
        p,
        &[
            format!("http://www.acme-tools.test:{port}/"),
            format!("http://shop.bolt-supply.test:{port}/"),
        ],
    )
    .await;
    let sites: BTreeSet<&str> = report.sites.iter().map(|s| s.site.as_str()).collect();
    assert_eq!(
        sites,
        BTreeSet::from([
            format!("www.acme-tools.test:{port}").as_str(),
            format!("shop.bolt-supply.test:{port}").as_str()
        ])
    );
    for s in &report.sites {
        assert_eq!((s.pages_fetched, s.over_budget), (1, 1), "{s:?}");
    }
    assert_eq!(server.hits_of("/robots.txt"), 2, "robots.txt per site");
    assert_eq!(server.hits_of("/"), 2);
    assert_eq!(server.hits_of("/next"), 0, "each site's budget is one page");
}
