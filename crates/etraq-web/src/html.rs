//! The building blocks of the server-rendered pages: the frame every page shares ([`Chrome`]),
//! tables, form fields, and formatting. Templates (askama, `templates/`) escape every value;
//! these types only carry text.

use etraq_core::access::Viewer;
use etraq_core::format_seconds;
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::auth::Signed;
use crate::state::AppState;

/// One tab of the navigation.
#[derive(Clone, Debug)]
pub struct Tab {
    /// Its URL.
    pub href: &'static str,
    /// Its label (with a count, when known).
    pub label: String,
    /// The page being shown.
    pub current: bool,
}

/// The frame of every page: title, tabs, who is signed in, the status bar.
#[derive(Clone, Debug)]
pub struct Chrome {
    /// The page title.
    pub title: String,
    /// The tabs the viewer may open.
    pub tabs: Vec<Tab>,
    /// Who is signed in, and as what.
    pub who: String,
    /// The status bar's left part ("Listening..." or "SMTP paused").
    pub listening: String,
    /// `ESCALATED : n, WARNED : n`.
    pub counters: String,
    /// A one-line message after an action ("DR closed").
    pub flash: Option<String>,
    /// Offer auto-refresh on this page.
    pub refresh: bool,
    /// What the search box at the top shows (the query on the search page).
    pub query: String,
}

impl Chrome {
    /// The frame for `page` (a tab's URL) as `signed` sees it.
    pub fn new(state: &AppState, signed: &Signed, page: &'static str, title: &str) -> Chrome {
        let stats = state.cached_stats();
        let count = |n: Option<u64>| n.map(|n| format!(" ({n})")).unwrap_or_default();
        let v = &signed.actor.viewer;
        let admin = v.is_admin();
        // The cached counts are company-wide, so only those who see the whole company get them
        // (a supervisor's Status page counts their own view, exactly).
        let counts = admin;
        let mut tabs = vec![
            ("/status", "Status".to_string()),
            (
                "/tracked",
                format!(
                    "Tracked Mails{}",
                    count(stats.as_ref().filter(|_| counts).map(|s| s.tracked))
                ),
            ),
            (
                "/untracked",
                format!(
                    "Untracked Mails{}",
                    count(stats.as_ref().filter(|_| counts).map(|s| s.untracked))
                ),
            ),
        ];
        if v.is_supervisor() {
            tabs.push(("/escalations", "Escalations".to_string()));
        }
        tabs.push(("/alerts", "Alerts".to_string()));
        if admin {
            tabs.push(("/logs", "Log Files".to_string()));
        }
        tabs.push(("/history", "History".to_string()));
        tabs.push(("/kb", "Support".to_string()));
        tabs.push(("/campaigns", "Campaigns".to_string()));
        if v.is_supervisor() {
            tabs.push(("/utilities", "Utilities".to_string()));
        }
        tabs.push(("/reports", "Reports".to_string()));
        if admin {
            tabs.push(("/config", "Configuration".to_string()));
            tabs.push(("/users", "Users".to_string()));
        }
        tabs.push(("/password", "Password".to_string()));
        let services = state.services().states();
        let listening = if services.smtp {
            "Listening...".to_string()
        } else {
            "SMTP paused".to_string()
        };
        let counters = match &stats {
            Some(s) => format!("ESCALATED : {}, WARNED : {}", s.escalated, s.warned),
            None => "ESCALATED : …, WARNED : …".to_string(),
        };
        Chrome {
            title: title.to_string(),
            tabs: tabs
                .into_iter()
                .map(|(href, label)| Tab {
                    href,
                    label,
                    current: href == page,
                })
                .collect(),
            who: who(v),
            listening,
            counters,
            flash: None,
            refresh: false,
            query: String::new(),
        }
    }

    /// With the search box showing `q`.
    pub fn query(mut self, q: &str) -> Chrome {
        self.query = q.to_string();
        self
    }

    /// With a message after an action.
    pub fn flash(mut self, msg: Option<String>) -> Chrome {
        self.flash = msg;
        self
    }

    /// With the auto-refresh switch.
    pub fn refreshing(mut self) -> Chrome {
        self.refresh = true;
        self
    }
}

/// "ann@example.com (agent)".
pub fn who(v: &Viewer) -> String {
    format!("{} ({})", v.login, v.role)
}

/// A column header; `sort` is the URL that sorts by it (toggling the direction).
#[derive(Clone, Debug, Default)]
pub struct Column {
    /// Header text.
    pub label: String,
    /// Link that sorts by this column.
    pub sort: Option<String>,
    /// `▲`, `▼` or empty.
    pub arrow: &'static str,
}

impl Column {
    /// A plain column.
    pub fn new(label: &str) -> Column {
        Column {
            label: label.to_string(),
            ..Column::default()
        }
    }

    /// Plain columns: a listing's shared headings (`etraq_core::views::columns`), then the
    /// page's own.
    pub fn all(shared: &[&str], own: &[&str]) -> Vec<Column> {
        shared.iter().chain(own).map(|c| Column::new(c)).collect()
    }
}

/// A table cell: text, optionally a link, optionally the full text as a tooltip.
#[derive(Clone, Debug, Default)]
pub struct Cell {
    /// Shown text.
    pub text: String,
    /// Link target.
    pub href: Option<String>,
    /// CSS class.
    pub class: &'static str,
}

impl Cell {
    /// Text.
    pub fn text(s: impl Into<String>) -> Cell {
        Cell {
            text: s.into(),
            ..Cell::default()
        }
    }

    /// A link.
    pub fn link(s: impl Into<String>, href: impl Into<String>) -> Cell {
        Cell {
            text: s.into(),
            href: Some(href.into()),
            class: "",
        }
    }

    /// With a CSS class.
    pub fn class(mut self, class: &'static str) -> Cell {
        self.class = class;
        self
    }
}

/// A table with keyset paging links.
#[derive(Clone, Debug, Default)]
pub struct Table {
    /// Headers.
    pub columns: Vec<Column>,
    /// Rows of cells.
    pub rows: Vec<Vec<Cell>>,
    /// Shown when there are no rows.
    pub empty: String,
    /// Link to the next page.
    pub next: Option<String>,
    /// Link back to the first page (on later pages).
    pub first: Option<String>,
    /// A line under the table (e.g. that a long thread was cut).
    pub note: Option<String>,
}

/// A form field.
#[derive(Clone, Debug, Default)]
pub struct Field {
    /// Form name.
    pub name: &'static str,
    /// Label.
    pub label: String,
    /// Current value.
    pub value: String,
    /// `text`, `password`, `number`, `email`, `datetime-local`, `checkbox`, `select`,
    /// `textarea`, `hidden`.
    pub kind: &'static str,
    /// Options of a `select`: (value, label, selected).
    pub options: Vec<(String, String, bool)>,
    /// Placeholder or hint inside the field.
    pub placeholder: String,
    /// Help text under the field.
    pub help: String,
    /// A validation error shown next to the field.
    pub error: Option<String>,
}

impl Field {
    /// A text field.
    pub fn text(name: &'static str, label: &str, value: impl Into<String>) -> Field {
        Field {
            name,
            label: label.to_string(),
            value: value.into(),
            kind: "text",
            ..Field::default()
        }
    }

    /// A field of another kind.
    pub fn kind(mut self, kind: &'static str) -> Field {
        self.kind = kind;
        self
    }

    /// A select with options (value, label); the current value is selected.
    pub fn select(
        name: &'static str,
        label: &str,
        value: &str,
        options: impl IntoIterator<Item = (String, String)>,
    ) -> Field {
        Field {
            name,
            label: label.to_string(),
            value: value.to_string(),
            kind: "select",
            options: options
                .into_iter()
                .map(|(v, l)| {
                    let sel = v == value;
                    (v, l, sel)
                })
                .collect(),
            ..Field::default()
        }
    }

    /// A checkbox.
    pub fn checkbox(name: &'static str, label: &str, checked: bool) -> Field {
        Field {
            name,
            label: label.to_string(),
            value: if checked { "on".into() } else { String::new() },
            kind: "checkbox",
            ..Field::default()
        }
    }

    /// With a placeholder.
    pub fn placeholder(mut self, p: &str) -> Field {
        self.placeholder = p.to_string();
        self
    }

    /// With help text.
    pub fn help(mut self, h: &str) -> Field {
        self.help = h.to_string();
        self
    }

    /// With an error.
    pub fn error(mut self, e: Option<String>) -> Field {
        self.error = e;
        self
    }

    /// Whether a checkbox is checked.
    pub fn checked(&self) -> bool {
        !self.value.is_empty()
    }
}

/// A time for tables, in the configured zone: `2026-11-27 09:00`.
pub fn time(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// An optional time.
pub fn opt_time(t: Option<Timestamp>, tz: &TimeZone) -> String {
    t.map(|t| time(t, tz)).unwrap_or_default()
}

/// A duration in seconds, for people: `2d 3h`.
pub fn duration(secs: i64) -> String {
    format_seconds(secs.max(0))
}

/// Shortens long text for a table cell (the full text is on the detail page).
pub fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A URL with query parameters (empty values left out), escaped.
pub fn url(path: &str, params: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = params
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    if kept.is_empty() {
        return path.to_string();
    }
    format!(
        "{path}?{}",
        serde_urlencoded::to_string(kept).unwrap_or_default()
    )
}

/// Characters left as they are in a path segment (DR ids and addresses stay readable).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@')
    .remove(b'+');

/// A path segment, percent-encoded (DR ids and addresses in URLs).
pub fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}
