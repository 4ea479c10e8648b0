//! The public unsubscribe endpoints on a real console: the GET changes nothing, the RFC 8058
//! one-click POST (as a mail provider sends it: no cookie, no Origin) unsubscribes with 200,
//! and a token that does not verify is a 404 that changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::*;
use etraq_core::access::Actor;
use etraq_core::campaign::{MemberStatus, SubscriberInput, Token, TokenKind};
use etraq_core::service::{CampaignDraft, ListSettings};
use jiff::Timestamp;

async fn status(c: &Console) -> MemberStatus {
    c.store
        .get_subscriber(&addr("ann@customer.test"))
        .await
        .unwrap()
        .unwrap()
        .membership("News")
        .unwrap()
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_one_click_post_unsubscribes_and_the_get_changes_nothing() {
    let c = Console::start().await;
    let app = &c.state.app;
    let who = Actor::admin();
    let now = Timestamp::now();
    app.create_list(&who, "News", &ListSettings::default(), now)
        .await
        .unwrap();
    let input = SubscriberInput {
        email: addr("ann@customer.test"),
        name: Some("Ann".into()),
        attribs: Default::default(),
    };
    app.add_subscriber(&who, "News", input, false, now)
        .await
        .unwrap();
    let draft = CampaignDraft {
        name: "Spring".into(),
        lists: vec!["News".into()],
        template: "newsletter".into(),
        ..Default::default()
    };
    let campaign = app.create_campaign(&who, draft, now).await.unwrap();
    app.start_campaign(&who, "Spring", false, now)
        .await
        .unwrap();
    let signer = app.token_signer().await.unwrap();
    let token = signer.sign(&Token {
        kind: TokenKind::Unsubscribe,
        campaign: campaign.id,
        recipient: 1,
        link: 0,
    });
    let wrong_kind = signer.sign(&Token {
        kind: TokenKind::Open,
        campaign: campaign.id,
        recipient: 1,
        link: 0,
    });
    let anon = c.anonymous();

    // The mail's view-in-browser link shows it as Ann got it, under the mail's own policy.
    let view = signer.sign(&Token {
        kind: TokenKind::View,
        campaign: campaign.id,
        recipient: 1,
        link: 0,
    });
    let page = anon.get(&format!("/v/{view}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Hello Ann"), "{}", page.body);
    assert!(
        page.body.contains(&format!("/u/{token}")),
        "the same unsubscribe link"
    );
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("sandbox") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    for bad in [token.as_str(), "not-a-token", &view[..view.len() - 1]] {
        assert_eq!(anon.get(&format!("/v/{bad}")).await.status, 404, "{bad}");
    }

    let page = anon.get(&format!("/u/{token}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"unsubscribe\""), "{}", page.body);
    assert!(page.body.contains("ann@customer.test"), "{}", page.body);
    assert_eq!(
        status(&c).await,
        MemberStatus::Confirmed,
        "a GET changes nothing"
    );

    let mut forged = token.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let client = reqwest::Client::new();
    let one_click = |t: &str| {
        client
            .post(c.url(&format!("/u/{t}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
    };
    for bad in [forged.as_str(), wrong_kind.as_str(), "not-a-token"] {
        assert_eq!(anon.get(&format!("/u/{bad}")).await.status, 404, "{bad}");
        assert_eq!(one_click(bad).await.unwrap().status(), 404, "{bad}");
    }
    assert_eq!(
        status(&c).await,
        MemberStatus::Confirmed,
        "a bad token changes nothing"
    );

    let r = one_click(&token).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(status(&c).await, MemberStatus::Unsubscribed);
    assert_eq!(
        one_click(&token).await.unwrap().status(),
        200,
        "twice is fine"
    );
    let page = anon.get(&format!("/u/{token}")).await;
    assert!(page.body.contains("not on this list"), "{}", page.body);
    // The page's own button (a same-origin form POST) says so too.
    let done = anon.post(&format!("/u/{token}"), &[]).await;
    assert_eq!(done.status, 200);
    assert!(done.body.contains("You are unsubscribed"), "{}", done.body);
}
