//! Open and click tracking on a real console: a campaign mail is made as the sender makes it
//! (its links signed click links, a pixel, a honeypot), and fetched like a mail client and a
//! scanner would. Redirects go only to the stored link; every tampered token of every kind is
//! a 404 with no `Location` and changes nothing; the bot rules flag proxies, HEAD, the
//! honeypot and bursts; unique counts hold under concurrent duplicate hits; an order counts once.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::*;
use etraq_core::access::Actor;
use etraq_core::campaign::{Settled, SubscriberInput, Token, TokenKind};
use etraq_core::service::{CampaignDraft, LinkBook, ListSettings, NextStep, SendSettings};
use jiff::Timestamp;

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36";

/// A campaign to two subscribers whose mail has two links; answers the campaign's name and
/// each recipient's tracked HTML part.
async fn campaign_mail(c: &Console) -> Vec<String> {
    let app = &c.state.app;
    let who = Actor::admin();
    let now = Timestamp::now();
    app.create_list(&who, "News", &ListSettings::default(), now)
        .await
        .unwrap();
    for (e, n) in [("ann@customer.test", "Ann"), ("bob@customer.test", "Bob")] {
        let input = SubscriberInput {
            email: addr(e),
            name: Some(n.into()),
            attribs: Default::default(),
        };
        app.add_subscriber(&who, "News", input, true, now)
            .await
            .unwrap();
    }
    app.save_template(
        &who,
        etraq_core::campaign::Template {
            name: "Links".into(),
            kind: etraq_core::campaign::TemplateKind::Custom,
            subject: "News".into(),
            html: "<html><body><p>Hi {{ subscriber.name }}</p>\
                   <a href=\"https://shop.example/spring?x=1\">Shop</a> \
                   <a href=\"https://blog.example/post#top\">Blog</a> \
                   <a href=\"{{ unsubscribe_url }}\">Unsubscribe</a></body></html>"
                .into(),
            text: None,
            builtin: false,
            created_at: now,
        },
        now,
    )
    .await
    .unwrap();
    let draft = CampaignDraft {
        name: "Spring".into(),
        lists: vec!["News".into()],
        template: "Links".into(),
        ..Default::default()
    };
    let camp = app.create_campaign(&who, draft, now).await.unwrap();
    app.start_campaign(&who, "Spring", false, now)
        .await
        .unwrap();
    let camp = app.campaign(&who, &camp.name).await.unwrap();
    let renderer = app.campaign_renderer(&who, &camp).await.unwrap();
    let signer = app.token_signer().await.unwrap();
    let settings = SendSettings::from_config(&c.live.get());
    let context = app.send_context(&camp).await.unwrap();
    let book = LinkBook::default();
    let mut out = Vec::new();
    let mut settled = None;
    // Sent an hour ago, as far as the bot rules know.
    let sent_at = now - jiff::SignedDuration::from_hours(1);
    while let Some((mut r, s)) = app
        .store()
        .settle_and_take(camp.id, settled.take())
        .await
        .unwrap()
    {
        let NextStep::Send(mail) = app
            .next_step(&camp, &r, s, &renderer, &signer, &settings, &context, &book)
            .await
            .unwrap()
        else {
            panic!("a send")
        };
        out.push(mail.rendered.html.clone());
        r.state = etraq_core::campaign::RecipientState::Sent;
        r.sent_at = Some(sent_at);
        settled = Some(Settled::row(r));
    }
    app.store().settle_and_take(camp.id, settled).await.unwrap();
    out
}

/// The URLs of a kind (`/t/c/`, `/t/o/`) in an HTML part, as paths.
fn paths(html: &str, base: &str, kind: &str) -> Vec<String> {
    html.split('"')
        .filter(|s| s.starts_with(base) && s.contains(kind))
        .map(|s| s[base.len()..].to_string())
        .collect()
}

async fn get_as(c: &Console, path: &str, ua: Option<&str>, head: bool) -> reqwest::Response {
    let client = client();
    let mut rb = if head {
        client.head(c.url(path))
    } else {
        client.get(c.url(path))
    };
    if let Some(ua) = ua {
        rb = rb.header("user-agent", ua);
    }
    rb.send().await.unwrap()
}

async fn report(c: &Console) -> etraq_core::views::CampaignView {
    c.state
        .app
        .campaign_report(&Actor::admin(), "Spring")
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opens_and_clicks_are_counted_all_unique_and_human_and_redirect_only_to_the_link() {
    let c = Console::start().await;
    let mails = campaign_mail(&c).await;
    let base = SendSettings::from_config(&c.live.get()).public_url;
    let (ann, bob) = (&mails[0], &mails[1]);
    assert!(
        ann.contains("Hi Ann") && !ann.contains("href=\"https://shop.example"),
        "{ann}"
    );
    assert!(
        ann.contains(&format!("{base}/u/")),
        "the unsubscribe link stays etraq's own"
    );
    let ann_clicks = paths(ann, &base, "/t/c/");
    assert_eq!(
        ann_clicks.len(),
        3,
        "two links and the honeypot: {ann_clicks:?}"
    );
    let ann_open = &paths(ann, &base, "/t/o/")[0];

    // Ann's mail client opens it; Gmail's proxy fetches the pixel too.
    let r = get_as(&c, ann_open, Some(BROWSER), false).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/gif");
    assert_eq!(r.headers()["cache-control"], "no-store");
    get_as(
        &c,
        ann_open,
        Some("Mozilla/5.0 (via ggpht.com GoogleImageProxy)"),
        false,
    )
    .await;
    // Ann clicks the shop link: a 302 to it, with the signed conversion parameter.
    let r = get_as(&c, &ann_clicks[0], Some(BROWSER), false).await;
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("https://shop.example/spring?x=1&etraq="),
        "{location}"
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    let r = get_as(&c, &ann_clicks[1], Some(BROWSER), false).await;
    let blog = r.headers()["location"].to_str().unwrap();
    assert!(
        blog.starts_with("https://blog.example/post?etraq=") && blog.ends_with("#top"),
        "{blog}"
    );

    // Bob's copy meets a link scanner: HEAD first, then every link within a second, the
    // honeypot too.
    let bob_clicks = paths(bob, &base, "/t/c/");
    let r = get_as(&c, &bob_clicks[0], Some(BROWSER), true).await;
    assert_eq!(r.status(), 302, "HEAD is answered like GET");
    for p in &bob_clicks {
        get_as(&c, p, Some(BROWSER), false).await;
    }
    let rep = report(&c).await;
    assert_eq!(
        (rep.opens, rep.unique_opens, rep.human_opens),
        (2, 1, 1),
        "{rep:?}"
    );
    assert_eq!((rep.unique_clicks, rep.human_clicks), (2, 1), "{rep:?}");
    let shop = rep
        .links
        .iter()
        .find(|l| l.url.starts_with("https://shop"))
        .unwrap();
    assert_eq!((shop.unique_clicks, shop.human_clicks), (2, 1), "{shop:?}");

    // Concurrent duplicate opens: unique stays one.
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let url = c.url(ann_open);
        tasks.push(tokio::spawn(async move {
            client()
                .get(url)
                .header("user-agent", BROWSER)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let rep = report(&c).await;
    assert_eq!((rep.opens, rep.unique_opens, rep.human_opens), (32, 1, 1));

    // The shop reports Ann's purchase twice (pixel, then API): one conversion.
    let convert = location.split("etraq=").nth(1).unwrap().to_string();
    let r = get_as(
        &c,
        &format!("/t/v/{convert}?value=49.90&currency=eur&order_id=A-1"),
        Some(BROWSER),
        false,
    )
    .await;
    assert_eq!(r.status(), 200);
    let admin = c.admin().await;
    let again = admin
        .post_json(
            "/api/v1/conversions",
            &format!(
                r#"{{"token": "{convert}", "value": 49.9, "currency": "EUR", "order_id": "A-1"}}"#
            ),
        )
        .await;
    assert_eq!(again.json()["recorded"], false, "{}", again.body);
    let rep = report(&c).await;
    assert_eq!((rep.conversions, rep.revenue), (1, 49.9));
    assert_eq!(rep.links.iter().map(|l| l.conversions).sum::<u64>(), 1);
    let bad = admin
        .post_json(
            "/api/v1/conversions",
            &format!(r#"{{"token": "{convert}", "value": -5, "order_id": "B"}}"#),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_token_of_any_kind_is_a_404_without_location_and_changes_nothing() {
    let c = Console::start().await;
    let mails = campaign_mail(&c).await;
    let base = SendSettings::from_config(&c.live.get()).public_url;
    let click = paths(&mails[0], &base, "/t/c/")[0].clone();
    let open = paths(&mails[0], &base, "/t/o/")[0].clone();
    let signer = c.state.app.token_signer().await.unwrap();
    let t = signer.verify(click.rsplit('/').next().unwrap()).unwrap();
    let mut bad: Vec<String> = Vec::new();
    for path in [&click, &open] {
        let tok = path.rsplit('/').next().unwrap();
        let prefix = &path[..path.len() - tok.len()];
        for i in 0..tok.len() {
            let mut b = tok.as_bytes().to_vec();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(b).unwrap();
            if forged != tok {
                bad.push(format!("{prefix}{forged}"));
            }
        }
    }
    // Well signed, but of another kind, or naming a link the book does not hold.
    for kind in [
        TokenKind::Open,
        TokenKind::Unsubscribe,
        TokenKind::Bounce,
        TokenKind::View,
        TokenKind::Confirm,
        TokenKind::Convert,
    ] {
        bad.push(format!("/t/c/{}", signer.sign(&Token { kind, ..t })));
    }
    bad.push(format!("/t/c/{}", signer.sign(&Token { link: 77, ..t })));
    bad.push(format!(
        "/t/c/{}",
        signer.sign(&Token { campaign: 999, ..t })
    ));
    bad.push(format!(
        "/t/o/{}",
        signer.sign(&Token {
            kind: TokenKind::Click,
            ..t
        })
    ));
    bad.push(format!(
        "/t/v/{}",
        signer.sign(&Token {
            kind: TokenKind::Click,
            ..t
        })
    ));
    bad.extend(["/t/c/x".to_string(), "/t/o/".to_string() + &"A".repeat(300)]);
    for path in &bad {
        let r = get_as(&c, path, Some(BROWSER), false).await;
        assert!(r.status().is_client_error(), "{path}: {}", r.status());
        assert!(r.headers().get("location").is_none(), "{path}");
    }
    let rep = report(&c).await;
    assert_eq!(
        (rep.opens, rep.clicks, rep.conversions),
        (0, 0, 0),
        "nothing recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_pages_show_the_results_the_charts_and_the_comparison() {
    let c = Console::start().await;
    let mails = campaign_mail(&c).await;
    let base = SendSettings::from_config(&c.live.get()).public_url;
    let ann = &mails[0];
    let open = &paths(ann, &base, "/t/o/")[0];
    let clicks = paths(ann, &base, "/t/c/");
    get_as(&c, open, Some(BROWSER), false).await;
    get_as(&c, &clicks[0], Some(BROWSER), false).await;
    get_as(&c, &clicks[0], Some("Barracuda Sentinel (EE)"), false).await;
    let admin = c.admin().await;

    let page = admin.get("/campaigns/Spring").await;
    assert_eq!(page.status, 200);
    let html = &page.body;
    assert!(html.contains("id=\"results\""), "{html}");
    // Recipients who opened: 1 of 2 sent.
    assert!(html.contains("Recipients who opened"));
    assert!(html.contains(">50.0%<"), "{html}");
    assert!(html.contains("id=\"chart-over-time\""));
    assert!(
        html.contains("Opens and clicks per 5 minutes"),
        "a fresh campaign in detail"
    );
    // The human series and the all series are both drawn.
    assert!(html.contains("class=\"line s1\"") && html.contains("class=\"line s4\""));
    assert!(html.contains("id=\"chart-links\""));
    assert!(
        html.contains("https://shop.example"),
        "the link is labelled"
    );
    assert!(html.contains("id=\"chart-came-back\""));

    let list = admin.get("/campaigns").await;
    assert!(list.body.contains("id=\"compare\""), "{}", list.body);
    assert!(list.body.contains("Click-to-open"));

    let news = admin.get("/lists/News").await;
    assert!(news.body.contains("id=\"chart-growth\""), "{}", news.body);
    assert!(news.body.contains("Members per day"));
}

/// `web.public_listen`: a second listener that serves what recipients reach (tracking, the
/// unsubscribe and subscribe pages, the stylesheet) and nothing of the console.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_listener_serves_the_public_endpoints_alone() {
    let c = Console::start().await;
    let mails = campaign_mail(&c).await;
    let base = SendSettings::from_config(&c.live.get()).public_url;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(etraq_web::serve(
        listener,
        etraq_web::public_app(c.state.clone()),
        None,
        c.stop.subscribe(),
    ));
    let get = |path: String| {
        let url = format!("{public}{path}");
        async move {
            client()
                .get(url)
                .header("user-agent", BROWSER)
                .send()
                .await
                .unwrap()
        }
    };
    let ann = &mails[0];
    let open = paths(ann, &base, "/t/o/")[0].clone();
    let click = paths(ann, &base, "/t/c/")[0].clone();
    assert_eq!(get(open).await.status(), 200);
    let r = get(click).await;
    assert_eq!(r.status(), 302);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("https://shop.example/spring")
    );
    assert_eq!(get("/assets/style.css".into()).await.status(), 200);
    assert_eq!(get("/s".into()).await.status(), 200, "the public lists");
    // Nothing of the console: not the sign-in page, the pages, the API or its script.
    for path in [
        "/login",
        "/",
        "/campaigns",
        "/api/v1/campaigns",
        "/api/v1/status",
        "/assets/app.js",
    ] {
        let r = get(path.into()).await;
        assert_eq!(r.status(), 404, "{path} must not be served");
        assert!(r.headers().get("location").is_none(), "{path}");
    }
    let r = report(&c).await;
    assert_eq!((r.opens, r.clicks), (1, 1), "the hits counted");
}
