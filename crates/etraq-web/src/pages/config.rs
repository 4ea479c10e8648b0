//! Configuration: the original eTraq Server's fields (threads, timeout, console address and port, the mail
//! server etraq relays to, escalation interval, local domains) plus escalation thresholds, time
//! zone and tracking exclusions. Input is validated field by field and then as a whole, written
//! to `etraq.toml` (keeping its comments), and applied without a restart where possible.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use etraq_core::config::default_config_toml;
use etraq_core::{Config, HumanDuration};
use serde::Deserialize;
use toml_edit::{Array, DocumentMut, value};

use crate::auth::Signed;
use crate::error::WebError;
use crate::extract::{Form, Query};
use crate::html::{Chrome, Field};
use crate::pages::{back, done_message, render_status};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "config.html")]
struct ConfigPage {
    chrome: Chrome,
    path: String,
    restart: String,
    problem: Option<String>,
    fields: Vec<Field>,
}

/// The configuration form (every field as text, so a bad value comes back to the user as typed).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ConfigForm {
    threads: String,
    timeout_secs: String,
    web_ip: String,
    web_port: String,
    smtp_listen: String,
    upstream_host: String,
    upstream_port: String,
    interval_minutes: String,
    warn_after: String,
    escalate_after: String,
    reescalate_every: String,
    local_domains: String,
    timezone: String,
    exclude_senders: String,
    dr_prefix: String,
}

impl ConfigForm {
    fn from_config(c: &Config) -> ConfigForm {
        let (ip, port) = match c.web.listen.parse::<std::net::SocketAddr>() {
            Ok(a) => (a.ip().to_string(), a.port().to_string()),
            Err(_) => (c.web.listen.clone(), String::new()),
        };
        ConfigForm {
            threads: c.threads.to_string(),
            timeout_secs: c.timeout_secs.to_string(),
            web_ip: ip,
            web_port: port,
            smtp_listen: c.smtp.listen.clone(),
            upstream_host: c
                .upstream
                .as_ref()
                .map(|u| u.host.clone())
                .unwrap_or_default(),
            upstream_port: c
                .upstream
                .as_ref()
                .map(|u| u.port.to_string())
                .unwrap_or_default(),
            interval_minutes: c.escalation.interval_minutes.to_string(),
            warn_after: c.escalation.warn_after.to_string(),
            escalate_after: c.escalation.escalate_after.to_string(),
            reescalate_every: c
                .escalation
                .reescalate_every
                .map(|d| d.to_string())
                .unwrap_or_default(),
            local_domains: c.local_domains.join("\n"),
            timezone: c.timezone.clone(),
            exclude_senders: c.tracking.exclude_senders.join("\n"),
            dr_prefix: c.tracking.dr_prefix.clone(),
        }
    }

    fn fields(&self, errors: &BTreeMap<&'static str, String>) -> Vec<Field> {
        let e = |k: &str| errors.get(k).cloned();
        vec![
            Field::text("threads", "Threads", &self.threads)
                .kind("number")
                .help("Maximum number of worker threads; 0 = one per CPU.")
                .error(e("threads")),
            Field::text("timeout_secs", "Timeout (secs)", &self.timeout_secs)
                .kind("number")
                .help("General network timeout.")
                .error(e("timeout_secs")),
            Field::text("web_ip", "HTTP IP", &self.web_ip)
                .help("Address the console listens on (127.0.0.1 keeps it on this machine).")
                .error(e("web_ip")),
            Field::text("web_port", "Port No", &self.web_port)
                .kind("number")
                .help("Port of the console.")
                .error(e("web_port")),
            Field::text("smtp_listen", "etraq SMTP listener", &self.smtp_listen)
                .placeholder("0.0.0.0:25")
                .help("Where etraq accepts mail (address:port).")
                .error(e("smtp_listen")),
            Field::text("upstream_host", "SMTP IP", &self.upstream_host)
                .placeholder("mail.example.com")
                .help("Your mail server, to which etraq relays every accepted mail. Empty: evaluation mode (mail goes to a Maildir).")
                .error(e("upstream_host")),
            Field::text("upstream_port", "SMTP Port", &self.upstream_port)
                .kind("number")
                .placeholder("25")
                .error(e("upstream_port")),
            Field::text("interval_minutes", "Escalation (minutes)", &self.interval_minutes)
                .kind("number")
                .help("How often the escalation server runs.")
                .error(e("interval_minutes")),
            Field::text("warn_after", "Warn the owner after", &self.warn_after)
                .placeholder("4h")
                .error(e("warn_after")),
            Field::text("escalate_after", "Escalate after", &self.escalate_after)
                .placeholder("1d")
                .error(e("escalate_after")),
            Field::text("reescalate_every", "Escalate again every", &self.reescalate_every)
                .placeholder("1d (empty: never)")
                .error(e("reescalate_every")),
            Field::text("local_domains", "Local Domains", &self.local_domains)
                .kind("textarea")
                .placeholder("example.com")
                .help("The company's mail domains, one per line.")
                .error(e("local_domains")),
            Field::text("timezone", "Time zone", &self.timezone)
                .placeholder("Europe/Berlin (empty: the system's)")
                .error(e("timezone")),
            Field::text("exclude_senders", "Never track mail from", &self.exclude_senders)
                .kind("textarea")
                .placeholder("newsletter@vendor.example or @vendor.example")
                .help("One address or @domain per line.")
                .error(e("exclude_senders")),
            Field::text("dr_prefix", "DR prefix", &self.dr_prefix)
                .placeholder("SUPP")
                .error(e("dr_prefix")),
        ]
    }
}

/// `?done=&restart=` after a save.
#[derive(Debug, Default, Deserialize)]
pub struct ConfigQuery {
    done: Option<String>,
    restart: Option<String>,
}

/// `GET /config` (admins).
pub async fn page(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<ConfigQuery>,
) -> Result<Response, WebError> {
    let form = ConfigForm::from_config(&state.config());
    show(
        &state,
        &signed,
        &form,
        &BTreeMap::new(),
        None,
        q.restart.unwrap_or_default(),
        done_message(q.done.as_deref()),
        StatusCode::OK,
    )
}

#[allow(clippy::too_many_arguments)]
fn show(
    state: &AppState,
    signed: &Signed,
    form: &ConfigForm,
    errors: &BTreeMap<&'static str, String>,
    problem: Option<String>,
    restart: String,
    flash: Option<String>,
    status: StatusCode,
) -> Result<Response, WebError> {
    render_status(
        status,
        &ConfigPage {
            chrome: Chrome::new(state, signed, "/config", "Configuration").flash(flash),
            path: state.config_path.display().to_string(),
            restart,
            problem,
            fields: form.fields(errors),
        },
    )
}

/// The form field that shows an error about a config key.
fn field_of_key(key: &str) -> &'static str {
    let base = key.split('[').next().unwrap_or(key);
    match base {
        "threads" => "threads",
        "timeout_secs" => "timeout_secs",
        "web.listen" => "web_port",
        "smtp.listen" => "smtp_listen",
        "upstream.host" | "upstream" => "upstream_host",
        "upstream.port" => "upstream_port",
        "escalation.interval_minutes" => "interval_minutes",
        "escalation.warn_after" => "warn_after",
        "escalation.escalate_after" => "escalate_after",
        "escalation.reescalate_every" => "reescalate_every",
        "local_domains" => "local_domains",
        "timezone" => "timezone",
        "tracking.exclude_senders" => "exclude_senders",
        "tracking.dr_prefix" => "dr_prefix",
        _ => "",
    }
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// Checks each field on its own; returns the edits to make, or the errors by field.
fn check_fields(f: &ConfigForm) -> BTreeMap<&'static str, String> {
    let mut errors = BTreeMap::new();
    let mut num = |name: &'static str, v: &str, max: u64| match v.trim().parse::<u64>() {
        Ok(n) if n <= max => {}
        _ => {
            errors.insert(
                name,
                format!("{:?} is not a whole number from 0 to {max}", v.trim()),
            );
        }
    };
    num("threads", &f.threads, 1024);
    num("timeout_secs", &f.timeout_secs, 86_400);
    num("web_port", &f.web_port, 65_535);
    num("interval_minutes", &f.interval_minutes, 10_080);
    if !f.upstream_host.trim().is_empty() {
        num("upstream_port", &f.upstream_port, 65_535);
    }
    if f.web_ip.trim().parse::<IpAddr>().is_err() {
        errors.insert(
            "web_ip",
            format!(
                "{:?} is not an IP address such as 127.0.0.1 or ::",
                f.web_ip.trim()
            ),
        );
    }
    if f.smtp_listen
        .trim()
        .parse::<std::net::SocketAddr>()
        .is_err()
    {
        errors.insert(
            "smtp_listen",
            format!(
                "{:?} is not an address:port such as 0.0.0.0:25",
                f.smtp_listen.trim()
            ),
        );
    }
    let host = f.upstream_host.trim();
    if !host.is_empty()
        && (host.len() > 253
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b)))
    {
        errors.insert(
            "upstream_host",
            format!("{host:?} is not a host name or IP address"),
        );
    }
    for (name, v, optional) in [
        ("warn_after", &f.warn_after, false),
        ("escalate_after", &f.escalate_after, false),
        ("reescalate_every", &f.reescalate_every, true),
    ] {
        if optional && v.trim().is_empty() {
            continue;
        }
        if let Err(e) = HumanDuration::parse(v.trim()) {
            errors.insert(name, e.to_string());
        }
    }
    for d in lines(&f.local_domains) {
        if let Err(e) = etraq_core::normalize_domain(&d) {
            errors.insert("local_domains", e.to_string());
            break;
        }
    }
    errors
}

/// Applies the form to the TOML document, keeping every other key and comment.
fn edit(doc: &mut DocumentMut, f: &ConfigForm) {
    let n = |s: &str| s.trim().parse::<i64>().unwrap_or(0);
    doc["threads"] = value(n(&f.threads));
    doc["timeout_secs"] = value(n(&f.timeout_secs));
    doc["local_domains"] = value(Array::from_iter(lines(&f.local_domains)));
    doc["timezone"] = value(f.timezone.trim());
    let ip: IpAddr = f
        .web_ip
        .trim()
        .parse()
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    let port = u16::try_from(n(&f.web_port)).unwrap_or(8080);
    doc["web"]["listen"] = value(std::net::SocketAddr::new(ip, port).to_string());
    doc["smtp"]["listen"] = value(f.smtp_listen.trim());
    if f.upstream_host.trim().is_empty() {
        doc.remove("upstream");
    } else {
        doc["upstream"]["host"] = value(f.upstream_host.trim());
        doc["upstream"]["port"] = value(n(&f.upstream_port));
    }
    doc["escalation"]["interval_minutes"] = value(n(&f.interval_minutes));
    doc["escalation"]["warn_after"] = value(f.warn_after.trim());
    doc["escalation"]["escalate_after"] = value(f.escalate_after.trim());
    if f.reescalate_every.trim().is_empty() {
        if let Some(t) = doc["escalation"].as_table_like_mut() {
            t.remove("reescalate_every");
        }
    } else {
        doc["escalation"]["reescalate_every"] = value(f.reescalate_every.trim());
    }
    doc["tracking"]["exclude_senders"] = value(Array::from_iter(lines(&f.exclude_senders)));
    doc["tracking"]["dr_prefix"] = value(f.dr_prefix.trim());
}

/// What changed that only a restart applies.
/// Writes `text` to `path` atomically (temporary file, fsync, rename), keeping the previous
/// file as `PATH.bak`.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "etraq.toml".into())
    ));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    if path.exists() {
        let mut bak = path.as_os_str().to_owned();
        bak.push(".bak");
        std::fs::copy(path, &bak)?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// `POST /config` (admins): validate, write, apply.
pub async fn save(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Form(form): Form<ConfigForm>,
) -> Result<Response, WebError> {
    let _guard = state.config_lock.lock().await;
    let errors = check_fields(&form);
    if !errors.is_empty() {
        return show(
            &state,
            &signed,
            &form,
            &errors,
            Some("Please correct the fields marked below.".into()),
            String::new(),
            None,
            StatusCode::BAD_REQUEST,
        );
    }
    let path = state.config_path.clone();
    let old = state.config();
    let current_text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            default_config_toml(&old.local_domains, None)
        }
        Err(e) => {
            return Err(WebError::Internal(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    let mut doc: DocumentMut = current_text.parse().map_err(|e| {
        WebError::BadRequest(format!(
            "{} is not valid TOML, so it cannot be edited here: {e}",
            path.display()
        ))
    })?;
    edit(&mut doc, &form);
    let text = doc.to_string();
    let new = match Config::from_toml(&text, &path) {
        Ok(c) => c,
        Err(etraq_core::Error::Config { key, message, .. }) => {
            let field = field_of_key(&key);
            let mut errors = BTreeMap::new();
            let problem = if field.is_empty() {
                Some(format!("{key}: {message}"))
            } else {
                errors.insert(field, message);
                Some("Please correct the fields marked below.".into())
            };
            return show(
                &state,
                &signed,
                &form,
                &errors,
                problem,
                String::new(),
                None,
                StatusCode::BAD_REQUEST,
            );
        }
        Err(e) => return Err(e.into()),
    };
    // Compiles before anything is written, so a file is never saved that cannot be applied.
    new.tracking_rules()?;
    write_atomically(&path, &text)
        .map_err(|e| WebError::Internal(format!("cannot write {}: {e}", path.display())))?;
    let restart = state.app.apply_config(&signed.actor, new)?;
    tracing::warn!(by = %signed.actor.viewer.login, path = %path.display(), "configuration saved from the console");
    if restart.is_empty() {
        Ok(back("/config", "saved"))
    } else {
        let q = serde_urlencoded::to_string([("restart", restart.join(", "))]).unwrap_or_default();
        Ok(back(&format!("/config?{q}"), "saved-restart"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keep_comments_and_unrelated_keys() {
        let mut doc: DocumentMut =
            "# my comment\nlocal_domains = [\"a.test\"]\n[logs]\nretention_days = 7\n"
                .parse()
                .unwrap();
        let mut f = ConfigForm::from_config(&Config::default());
        f.local_domains = "b.test\nc.test".into();
        f.upstream_host = "mail.b.test".into();
        f.upstream_port = "2525".into();
        edit(&mut doc, &f);
        let text = doc.to_string();
        assert!(text.contains("# my comment"));
        assert!(text.contains("retention_days = 7"));
        let c = Config::from_toml(&text, Path::new("etraq.toml")).unwrap();
        assert_eq!(c.local_domains, vec!["b.test", "c.test"]);
        assert_eq!(c.upstream.unwrap().port, 2525);
        f.upstream_host.clear();
        edit(&mut doc, &f);
        let c = Config::from_toml(&doc.to_string(), Path::new("etraq.toml")).unwrap();
        assert!(
            c.upstream.is_none(),
            "an empty SMTP IP means evaluation mode"
        );
    }

    #[test]
    fn bad_fields_are_reported_by_name() {
        let mut f = ConfigForm::from_config(&Config::default());
        f.threads = "many".into();
        f.web_ip = "localhost:80".into();
        f.warn_after = "soon".into();
        f.local_domains = "exa mple.com".into();
        let errors = check_fields(&f);
        for k in ["threads", "web_ip", "warn_after", "local_domains"] {
            assert!(errors.contains_key(k), "{k}: {errors:?}");
        }
        assert_eq!(field_of_key("local_domains[2]"), "local_domains");
        assert_eq!(field_of_key("escalation.warn_after"), "warn_after");
    }
}
