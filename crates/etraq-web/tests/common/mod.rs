//! A real console on 127.0.0.1 over a real SQLite store, and an HTTP client that signs in.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use etraq_core::switches::Services;
use etraq_core::{Config, EmailAddress, Envelope, LiveConfig, Role, Store, Tracker, User};
use etraq_store_sqlite::SqliteStore;
use etraq_web::{AppState, ServerInfo, WebDeps, credentials};
use reqwest::header::{COOKIE, HeaderMap, HeaderValue, ORIGIN, SET_COOKIE};
use tokio::sync::watch;

pub const ADMIN_PW: &str = "admin-password-1";

pub struct Console {
    pub base: String,
    pub store: Arc<dyn Store>,
    pub tracker: Arc<Tracker>,
    pub services: Services,
    pub live: LiveConfig,
    pub config_path: PathBuf,
    pub logs_dir: PathBuf,
    pub state: Arc<AppState>,
    pub stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

pub fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

impl Console {
    pub async fn start() -> Console {
        Self::start_with("").await
    }

    /// Starts a console whose etraq.toml is the default one plus `web_keys` in `[web]`.
    pub async fn start_with(web_keys: &str) -> Console {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("etraq.toml");
        let text = etraq_core::config::default_config_toml(&["example.com".into()], None)
            .replacen("# timezone = \"\"", "timezone = \"UTC\"", 1)
            .replacen("[web]\n", &format!("[web]\n{web_keys}\n"), 1);
        std::fs::write(&config_path, &text).unwrap();
        let config = Config::load(&config_path).unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(dir.path().join("etraq.db"))
                .await
                .unwrap(),
        );
        let tracker = Arc::new(Tracker::new(
            store.clone(),
            config.tracking_rules().unwrap(),
        ));
        credentials::set_password(store.as_ref(), "admin", ADMIN_PW)
            .await
            .unwrap();
        let logs_dir = dir.path().join("logs");
        std::fs::create_dir_all(&logs_dir).unwrap();
        let services = Services::new();
        let live = LiveConfig::new(config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let local = listener.local_addr().unwrap();
        let state = AppState::new(WebDeps {
            mailer: Some(Arc::new(etraq_smtp::MaildirOutbound::new(Arc::new(
                dir.path().join("maildir"),
            )))),
            store: store.clone(),
            tracker: tracker.clone(),
            config: live.clone(),
            config_path: config_path.clone(),
            services: services.clone(),
            logs_dir: logs_dir.clone(),
            server: ServerInfo {
                smtp: Some("127.0.0.1:2525".into()),
                web: format!("http://{local}"),
                mode: "evaluation".into(),
                started_at: jiff::Timestamp::now(),
                store: "sqlite:test".into(),
            },
            tls: false,
        });
        state.refresh_stats().await;
        let (stop, rx) = watch::channel(false);
        tokio::spawn(etraq_web::serve(
            listener,
            etraq_web::app(state.clone()),
            None,
            rx,
        ));
        Console {
            base: format!("http://{local}"),
            store,
            tracker,
            services,
            live,
            config_path,
            logs_dir,
            state,
            stop,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Registers a user with a password.
    pub async fn user(&self, email: &str, role: Role, dept: Option<&str>, sup: Option<&str>) {
        let mut u = User::new(addr(email), email.split('@').next().unwrap());
        u.role = role;
        u.department = dept.map(String::from);
        u.supervisor = sup.map(addr);
        self.store.put_user(&u).await.unwrap();
        credentials::set_password(self.store.as_ref(), email, &format!("pw-{email}"))
            .await
            .unwrap();
    }

    /// Tracks a raw mail now; returns its DR id, if any.
    pub async fn mail(&self, raw: &str) -> Option<String> {
        let t = self
            .tracker
            .track(raw.as_bytes(), &Envelope::default(), jiff::Timestamp::now())
            .await
            .unwrap();
        t.dr.map(|d| d.to_string())
    }

    /// A customer's mail to `to`.
    pub async fn customer_mail(&self, from: &str, to: &str, subject: &str, id: &str) -> String {
        self.mail(&format!(
            "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nDate: Fri, 27 Nov 2026 09:00:00 +0000\r\n\r\nHello\r\n"
        ))
        .await
        .expect("tracked")
    }

    /// Signs in; panics on failure.
    pub async fn login(&self, login: &str, password: &str, remember: bool) -> Session {
        let (status, headers, _) = self.try_login(login, password, remember).await;
        assert_eq!(status, 303, "sign-in of {login} failed");
        let cookie = session_cookie(&headers).expect("a session cookie");
        Session {
            base: self.base.clone(),
            cookie: Some(cookie),
            bearer: None,
            client: client(),
        }
    }

    pub async fn login_as(&self, email: &str) -> Session {
        self.login(email, &format!("pw-{email}"), false).await
    }

    pub async fn admin(&self) -> Session {
        self.login("admin", ADMIN_PW, false).await
    }

    pub async fn try_login(
        &self,
        login: &str,
        password: &str,
        remember: bool,
    ) -> (u16, HeaderMap, String) {
        let mut form = vec![("login", login), ("password", password)];
        if remember {
            form.push(("remember", "on"));
        }
        let r = client()
            .post(self.url("/login"))
            .header(ORIGIN, &self.base)
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.text().await.unwrap())
    }

    pub fn anonymous(&self) -> Session {
        Session {
            base: self.base.clone(),
            cookie: None,
            bearer: None,
            client: client(),
        }
    }

    pub fn bearer(&self, token: &str) -> Session {
        Session {
            base: self.base.clone(),
            cookie: None,
            bearer: Some(token.to_string()),
            client: client(),
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

pub fn client() -> reqwest::Client {
    // When the whole workspace builds together, reqwest carries etraq-crawl's
    // `rustls-no-provider` feature and needs a process-wide provider even for plain HTTP.
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `etraq_session=…` pair of a Set-Cookie answer.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("etraq_session="))
        .map(|v| v.split(';').next().unwrap_or("").to_string())
}

/// A signed-in (or anonymous) client.
pub struct Session {
    pub base: String,
    pub cookie: Option<String>,
    pub bearer: Option<String>,
    pub client: reqwest::Client,
}

pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Session {
    fn auth(&self, mut rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if let Some(c) = &self.cookie {
            rb = rb.header(COOKIE, HeaderValue::from_str(c).unwrap());
        }
        if let Some(b) = &self.bearer {
            rb = rb.bearer_auth(b);
        }
        rb
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Answer {
        let r = self.auth(rb).send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        Answer {
            status,
            headers,
            body: r.text().await.unwrap(),
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    /// A same-origin form POST, as a browser sends it.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .header(ORIGIN, &self.base)
                .header("sec-fetch-site", "same-origin")
                .form(form),
        )
        .await
    }

    /// A POST with the given extra headers (CSRF tests).
    pub async fn post_with(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut rb = self.client.post(format!("{}{path}", self.base)).form(form);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        self.send(rb).await
    }

    /// A JSON POST (API).
    pub async fn post_json(&self, path: &str, body: &str) -> Answer {
        let mut rb = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        if self.cookie.is_some() {
            rb = rb.header(ORIGIN, &self.base);
        }
        self.send(rb).await
    }
}
