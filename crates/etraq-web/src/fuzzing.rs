//! Entry point of the `web_request` fuzz target, shared with its corpus test: arbitrary
//! requests (method, path and query, headers, body) to the whole console as a signed-in admin
//! (who reaches every handler). The property: no panic and no 5xx — every bad input is a 4xx.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use etraq_core::switches::Services;
use etraq_core::{Config, LiveConfig, Store, Tracker};
use tower::ServiceExt;

use crate::{AppState, ServerInfo, WebDeps, credentials};

/// The console over a store, with an admin session.
pub struct Harness {
    rt: tokio::runtime::Runtime,
    app: Router,
    cookie: String,
}

impl Harness {
    /// A console over `store` (the caller gives it a real store in a scratch directory), with
    /// `scratch` for the configuration file and logs.
    pub fn new(store: Arc<dyn Store>, scratch: &std::path::Path) -> Harness {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => panic!("a runtime: {e}"),
        };
        let config = Config {
            local_domains: vec!["example.com".into()],
            timezone: "UTC".into(),
            ..Config::default()
        };
        let rules = match config.tracking_rules() {
            Ok(r) => r,
            Err(e) => panic!("rules: {e}"),
        };
        let tracker = Arc::new(Tracker::new(store.clone(), rules));
        let cookie = rt.block_on(async {
            let seed = "From: a@cust.example\r\nTo: support@example.com\r\nSubject: hi\r\nMessage-ID: <fz1@cust.example>\r\n\r\nx\r\n";
            let _ = tracker
                .track(seed.as_bytes(), &etraq_core::Envelope::default(), jiff::Timestamp::now())
                .await;
            match credentials::create_session(
                store.as_ref(),
                "admin",
                false,
                86_400 * 365,
                jiff::Timestamp::now(),
            )
            .await
            {
                Ok((t, _)) => format!("etraq_session={t}"),
                Err(e) => panic!("a session: {e}"),
            }
        });
        let state = AppState::new(WebDeps {
            mailer: None,
            store,
            tracker,
            config: LiveConfig::new(config),
            config_path: scratch.join("etraq.toml"),
            services: Services::new(),
            logs_dir: scratch.join("logs"),
            server: ServerInfo {
                smtp: None,
                web: "fuzz".into(),
                mode: "fuzz".into(),
                started_at: jiff::Timestamp::now(),
                store: "fuzz".into(),
            },
            tls: false,
        });
        Harness {
            rt,
            app: crate::app(state),
            cookie,
        }
    }

    /// Decodes `data` as `METHOD-BYTE PATH\nHEADER: VALUE\n…\n\nBODY` and sends it; panics on a
    /// 5xx answer (a panic in a handler panics too).
    pub fn request(&self, data: &[u8]) {
        let Some((&m, rest)) = data.split_first() else {
            return;
        };
        let method = match m % 3 {
            0 => "GET",
            1 => "POST",
            _ => "HEAD",
        };
        let text = String::from_utf8_lossy(rest);
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let mut path = lines.next().unwrap_or("/").trim().to_string();
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        let mut builder = Request::builder()
            .method(method)
            .uri(path.as_str())
            .header("cookie", &self.cookie)
            .header("sec-fetch-site", "same-origin");
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                builder = builder.header(k.trim(), v.trim());
            }
        }
        let Ok(req) = builder.body(Body::from(body.to_string())) else {
            // Not a request hyper would ever hand us (bad URI or header bytes).
            return;
        };
        let status = self.rt.block_on(async {
            match self.app.clone().oneshot(req).await {
                Ok(r) => r.status(),
                Err(e) => match e {},
            }
        });
        assert!(
            !status.is_server_error(),
            "{method} {path} answered {status}"
        );
    }
}

/// Entry point of the `article_markdown` fuzz target: a knowledge-base article rendered for
/// the console. Never panics, and no tag that comes out is a script, a frame, an object, a
/// form or a style, or carries an event handler or a `javascript:` URL, whatever Markdown and
/// HTML went in. (Text may say anything: ammonia escapes every `<` that is not a tag it kept.)
pub fn article_markdown(data: &[u8]) {
    let md = String::from_utf8_lossy(data);
    let html = crate::markdown::article_html(&md).to_ascii_lowercase();
    let mut rest = html.as_str();
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>').unwrap_or(after.len());
        let tag = &after[..end];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(
            !matches!(
                name.as_str(),
                "script"
                    | "iframe"
                    | "frame"
                    | "object"
                    | "embed"
                    | "form"
                    | "input"
                    | "style"
                    | "base"
                    | "meta"
                    | "svg"
            ),
            "<{name}> survived in {html}"
        );
        assert!(
            !tag.contains("javascript:"),
            "a javascript: URL survived in {html}"
        );
        for attr in tag.split_whitespace().skip(1) {
            let attr_name: String = attr.chars().take_while(|c| *c != '=').collect();
            assert!(
                !(attr_name.starts_with("on") && attr.contains('=')),
                "an event attribute survived in {html}"
            );
        }
        rest = &after[end.min(after.len())..];
    }
}
