//! The public subscribe form and the double opt-in confirmation on a real console: a private
//! list is a 404, a double opt-in list mails a confirmation link (queued in the outbox) whose
//! GET changes nothing and whose POST confirms, a forged or wrong-kind token is a 404 that
//! changes nothing, nobody learns whether an address is on a list or blocklisted, and the
//! public pages are rate-limited per address.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::*;
use etraq_core::access::Actor;
use etraq_core::campaign::{MemberStatus, SubscriberInput, Token, TokenKind};
use etraq_core::outbox::Delivery;
use etraq_core::service::{CONFIRM_KIND, ListSettings};
use jiff::Timestamp;

async fn status(c: &Console, email: &str, list: &str) -> Option<MemberStatus> {
    c.store
        .get_subscriber(&addr(email))
        .await
        .unwrap()
        .and_then(|s| s.membership(list).map(|m| m.status))
}

async fn confirmations(c: &Console) -> Vec<etraq_core::outbox::QueuedMail> {
    c.store.queued_mail(CONFIRM_KIND, 100).await.unwrap()
}

/// The confirmation link in a queued mail's text part.
fn link(text: &str) -> String {
    let start = text.find("/s/confirm/").unwrap();
    text[start..].split_whitespace().next().unwrap().to_string()
}

async fn lists(c: &Console) {
    let app = &c.state.app;
    let who = Actor::admin();
    let now = Timestamp::now();
    let public = |double| ListSettings {
        description: Some("Product news, monthly".into()),
        double_opt_in: Some(double),
        public: Some(true),
    };
    app.create_list(&who, "Beta", &public(true), now)
        .await
        .unwrap();
    app.create_list(&who, "Open", &public(false), now)
        .await
        .unwrap();
    app.create_list(&who, "Staff", &ListSettings::default(), now)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_opt_in_mails_a_link_whose_get_changes_nothing_and_whose_post_confirms() {
    let c = Console::start().await;
    lists(&c).await;
    let anon = c.anonymous();

    let index = anon.get("/s").await;
    assert_eq!(index.status, 200);
    assert!(
        index.body.contains("/s/Beta") && index.body.contains("/s/Open"),
        "{}",
        index.body
    );
    assert!(
        !index.body.contains("Staff"),
        "private lists are not listed"
    );
    assert_eq!(
        anon.get("/s/Staff").await.status,
        404,
        "a private list has no form"
    );
    assert_eq!(anon.get("/s/Nope").await.status, 404);
    assert_eq!(
        anon.post("/s/Staff", &[("email", "x@customer.test")])
            .await
            .status,
        404
    );

    let form = anon.get("/s/Beta").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("id=\"subscribe\"") && form.body.contains("Product news"));

    let bad = anon.post("/s/Beta", &[("email", "not an address")]).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("not an email address"), "{}", bad.body);

    let r = anon
        .post(
            "/s/Beta",
            &[("email", "Ann@Customer.test"), ("name", "Ann")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("id=\"check-inbox\""), "{}", r.body);
    assert_eq!(
        status(&c, "ann@customer.test", "Beta").await,
        Some(MemberStatus::Unconfirmed)
    );
    let queued = confirmations(&c).await;
    assert_eq!(queued.len(), 1);
    let mail = &queued[0];
    assert_eq!(mail.message.to, addr("ann@customer.test"));
    assert!(matches!(
        mail.delivery,
        Delivery::Pending { attempts: 0, .. }
    ));
    assert!(mail.message.subject.contains("Beta"));
    assert!(
        mail.message
            .headers
            .iter()
            .any(|(k, v)| k == "Auto-Submitted" && v == "auto-generated"),
        "{:?}",
        mail.message.headers
    );
    let path = link(&mail.message.text);
    assert!(mail.message.html.as_deref().unwrap().contains(&path));

    // The GET is a page with a button; nothing changes (link scanners follow GETs).
    let page = anon.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"confirm\"") && page.body.contains("ann@customer.test"));
    assert_eq!(
        status(&c, "ann@customer.test", "Beta").await,
        Some(MemberStatus::Unconfirmed)
    );

    // Forged, truncated and wrong-kind tokens are 404s that change nothing.
    let token = path.trim_start_matches("/s/confirm/");
    let mut forged = token.as_bytes().to_vec();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let signer = c.state.app.token_signer().await.unwrap();
    let verified = signer.verify(token).unwrap();
    let wrong_kind = signer.sign(&Token {
        kind: TokenKind::Unsubscribe,
        ..verified
    });
    let other_subscriber = signer.sign(&Token {
        recipient: verified.recipient + 1000,
        ..verified
    });
    for t in [
        forged.as_str(),
        &token[..token.len() - 2],
        wrong_kind.as_str(),
        other_subscriber.as_str(),
        "x",
    ] {
        assert_eq!(
            anon.get(&format!("/s/confirm/{t}")).await.status,
            404,
            "{t}"
        );
        assert_eq!(
            anon.post(&format!("/s/confirm/{t}"), &[]).await.status,
            404,
            "{t}"
        );
    }
    assert_eq!(
        status(&c, "ann@customer.test", "Beta").await,
        Some(MemberStatus::Unconfirmed)
    );

    let done = anon.post(&path, &[]).await;
    assert_eq!(done.status, 200);
    assert!(done.body.contains("id=\"confirmed\""), "{}", done.body);
    assert_eq!(
        status(&c, "ann@customer.test", "Beta").await,
        Some(MemberStatus::Confirmed)
    );
    // Twice is fine, and the page then says so.
    assert_eq!(anon.post(&path, &[]).await.status, 200);
    assert!(anon.get(&path).await.body.contains("id=\"confirmed\""));

    // Asking again for a confirmed address says the same as for anyone, and sends nothing.
    let again = anon
        .post(
            "/s/Beta",
            &[("email", "ann@customer.test"), ("name", "Eve")],
        )
        .await;
    assert!(again.body.contains("id=\"check-inbox\""));
    assert_eq!(confirmations(&c).await.len(), 1);
    let ann = c
        .store
        .get_subscriber(&addr("ann@customer.test"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ann.name, "Ann",
        "a stranger cannot rename someone through the form"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_opt_in_joins_at_once_but_a_returning_or_blocked_address_needs_its_own_consent() {
    let c = Console::start().await;
    lists(&c).await;
    let app = &c.state.app;
    let who = Actor::admin();
    let now = Timestamp::now();
    let anon = c.anonymous();

    let r = anon
        .post("/s/Open", &[("email", "bob@customer.test")])
        .await;
    assert!(r.body.contains("id=\"subscribed\""), "{}", r.body);
    assert_eq!(
        status(&c, "bob@customer.test", "Open").await,
        Some(MemberStatus::Confirmed)
    );
    assert!(
        confirmations(&c).await.is_empty(),
        "single opt-in sends no confirmation"
    );

    // Bob leaves; someone puts him back through the form: he gets a confirmation mail and
    // stays unsubscribed until he follows it.
    app.unsubscribe(&who, &addr("bob@customer.test"), Some("Open"), now)
        .await
        .unwrap();
    let r = anon
        .post("/s/Open", &[("email", "bob@customer.test")])
        .await;
    assert!(r.body.contains("id=\"check-inbox\""), "{}", r.body);
    assert_eq!(
        status(&c, "bob@customer.test", "Open").await,
        Some(MemberStatus::Unsubscribed)
    );
    let queued = confirmations(&c).await;
    assert_eq!(queued.len(), 1);
    let path = link(&queued[0].message.text);
    anon.post(&path, &[]).await;
    assert_eq!(
        status(&c, "bob@customer.test", "Open").await,
        Some(MemberStatus::Confirmed)
    );

    // A blocklisted address hears the same words and nothing is sent or stored.
    app.block(
        &who,
        "@spam.test",
        etraq_core::campaign::BlockReason::Manual,
        now,
    )
    .await
    .unwrap();
    let r = anon.post("/s/Beta", &[("email", "eve@spam.test")]).await;
    assert!(r.body.contains("id=\"check-inbox\""));
    assert_eq!(confirmations(&c).await.len(), 1);
    assert_eq!(status(&c, "eve@spam.test", "Beta").await, None);

    // An admin adding someone to a double opt-in list without vouching sends the same mail.
    let input = SubscriberInput {
        email: addr("cid@customer.test"),
        name: Some("Cid".into()),
        attribs: Default::default(),
    };
    let (_, queued) = app
        .add_subscriber(&who, "Beta", input, false, now)
        .await
        .unwrap();
    assert!(queued);
    assert_eq!(confirmations(&c).await.len(), 2);
    let input = SubscriberInput {
        email: addr("dan@customer.test"),
        name: None,
        attribs: Default::default(),
    };
    let (_, queued) = app
        .add_subscriber(&who, "Beta", input, true, now)
        .await
        .unwrap();
    assert!(!queued, "--confirmed vouches for consent: no mail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_pages_are_rate_limited_per_address() {
    let c = Console::start_with("public_rate_per_ip = 2").await;
    lists(&c).await;
    let anon = c.anonymous();
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(anon.get("/s/Beta").await.status);
    }
    // Bursts of five seconds' worth (10) and one more pass; the rest wait.
    assert!(statuses[..10].iter().all(|s| *s == 200), "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    let r = client().get(c.url("/s/Beta")).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // The signed-in console is not limited by it.
    assert_eq!(c.admin().await.get("/status").await.status, 200);
}
