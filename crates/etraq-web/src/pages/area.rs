//! What the Campaigns tab's pages share: one page layout ([`AreaPage`]: a sub-navigation,
//! facts, a live progress bar, action buttons, tables and forms) and its parts.

use askama::Template;
use serde::Deserialize;

use crate::auth::Signed;
use crate::html::{Chrome, Field, Table, segment};
use crate::state::AppState;

/// A button that posts.
#[derive(Clone, Debug)]
pub(crate) struct Action {
    pub(crate) action: String,
    pub(crate) label: String,
    pub(crate) id: String,
    pub(crate) help: String,
    pub(crate) hidden: Vec<(String, String)>,
}

impl Action {
    pub(crate) fn new(action: String, label: &str, id: &str) -> Action {
        Action {
            action,
            label: label.to_string(),
            id: id.to_string(),
            help: String::new(),
            hidden: Vec::new(),
        }
    }

    pub(crate) fn hidden(mut self, k: &str, v: &str) -> Action {
        self.hidden.push((k.to_string(), v.to_string()));
        self
    }

    pub(crate) fn help(mut self, h: &str) -> Action {
        self.help = h.to_string();
        self
    }
}

/// A form on the page.
#[derive(Clone, Debug)]
pub(crate) struct FormBox {
    pub(crate) title: String,
    /// `post`, or `get` for a form that only looks (a filter, a preview).
    pub(crate) method: &'static str,
    pub(crate) help: String,
    pub(crate) action: String,
    pub(crate) fields: Vec<Field>,
    pub(crate) button: String,
    pub(crate) id: String,
    pub(crate) multipart: bool,
}

/// A titled table.
#[derive(Clone, Debug)]
pub(crate) struct Section {
    pub(crate) title: String,
    pub(crate) id: String,
    pub(crate) table: Table,
}

/// The live progress of a campaign (polled by `app.js` from `src`).
#[derive(Clone, Debug)]
pub(crate) struct Progress {
    pub(crate) src: String,
    pub(crate) status: String,
    pub(crate) done: u64,
    pub(crate) total: u64,
    pub(crate) sent: u64,
    pub(crate) failed: u64,
    pub(crate) in_doubt: u64,
    pub(crate) skipped: u64,
}

/// An import's outcome, shown above the list.
#[derive(Clone, Debug)]
pub(crate) struct ReportBox {
    pub(crate) summary: String,
    pub(crate) lines: Vec<(u64, String)>,
}

#[derive(Template)]
#[template(path = "campaign_area.html")]
pub(crate) struct AreaPage {
    pub(crate) chrome: Chrome,
    pub(crate) sub: Vec<(&'static str, &'static str, bool)>,
    pub(crate) intro: String,
    pub(crate) problem: Option<String>,
    pub(crate) report: Option<ReportBox>,
    pub(crate) facts: Vec<(String, String)>,
    pub(crate) progress: Option<Progress>,
    pub(crate) actions: Vec<Action>,
    pub(crate) sections: Vec<Section>,
    /// Tables shown before the charts (a campaign's results), the other sections after them.
    pub(crate) lead: Vec<Section>,
    /// Server-side SVG charts (already escaped by [`crate::chart`]), each with its id.
    pub(crate) charts: Vec<(String, String)>,
    pub(crate) preview: Option<String>,
    pub(crate) source: Option<String>,
    pub(crate) forms: Vec<FormBox>,
}

impl AreaPage {
    pub(crate) fn new(
        state: &AppState,
        signed: &Signed,
        here: &'static str,
        title: &str,
    ) -> AreaPage {
        let sub = [
            ("/campaigns", "Campaigns"),
            ("/lists", "Lists"),
            ("/subscribers", "Subscribers"),
            ("/templates", "Templates"),
            ("/blocklist", "Blocklist"),
        ]
        .into_iter()
        .map(|(h, l)| (h, l, h == here))
        .collect();
        AreaPage {
            chrome: Chrome::new(state, signed, "/campaigns", title),
            sub,
            intro: String::new(),
            problem: None,
            report: None,
            facts: Vec::new(),
            progress: None,
            actions: Vec::new(),
            sections: Vec::new(),
            lead: Vec::new(),
            charts: Vec::new(),
            preview: None,
            source: None,
            forms: Vec::new(),
        }
    }
}

/// `?done=` after an action.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Done {
    pub(crate) done: Option<String>,
}

pub(crate) fn supervisor(signed: &Signed) -> bool {
    signed.actor.viewer.is_supervisor()
}

pub(crate) fn path(prefix: &str, name: &str) -> String {
    format!("{prefix}/{}", segment(name))
}
