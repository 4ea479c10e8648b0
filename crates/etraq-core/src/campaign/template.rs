//! Campaign templates: what they hold, the five built-in ones, and rendering one for a
//! subscriber with minijinja, sandboxed.
//!
//! The sandbox:
//! - no loader, so `{% include %}` and `{% extends %}` of a path find nothing;
//! - a fuel limit, so a loop that never ends fails instead of hanging a sender;
//! - HTML auto-escaping in the HTML part, so merge data (`<script>` in a name) stays text.
//!
//! A template that names an unknown merge field fails when it is compiled, naming the part and
//! line, while a missing attribute renders empty (`| default("…")` works), so a typo is caught
//! before a campaign goes out and a sparse spreadsheet is not.

use std::collections::BTreeSet;

use jiff::Timestamp;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Fuel per rendering: enough for a long newsletter with loops, far below a minute of work.
pub const FUEL: u64 = 200_000;

/// The longest template part accepted, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 1024 * 1024;

/// Width of the generated text part.
pub const TEXT_WIDTH: usize = 78;

/// What a template is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TemplateKind {
    /// A regular issue of news.
    Newsletter,
    /// An offer.
    Promotion,
    /// News of a product, an event, a change.
    Announcement,
    /// A release for the press.
    PressRelease,
    /// A personal letter to customers.
    CustomerLetter,
    /// Anything else.
    Custom,
    /// An automatic acknowledgement of a customer's mail (`autoreply` rules): its fields are
    /// the DR's, not a subscriber's.
    Acknowledgement,
}

impl TemplateKind {
    /// Every kind.
    pub const ALL: [TemplateKind; 7] = [
        TemplateKind::Newsletter,
        TemplateKind::Promotion,
        TemplateKind::Announcement,
        TemplateKind::PressRelease,
        TemplateKind::CustomerLetter,
        TemplateKind::Custom,
        TemplateKind::Acknowledgement,
    ];

    /// The contract name.
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateKind::Newsletter => "newsletter",
            TemplateKind::Promotion => "promotion",
            TemplateKind::Announcement => "announcement",
            TemplateKind::PressRelease => "press-release",
            TemplateKind::CustomerLetter => "customer-letter",
            TemplateKind::Custom => "custom",
            TemplateKind::Acknowledgement => "acknowledgement",
        }
    }

    /// Parses a contract name.
    pub fn parse(s: &str) -> Result<TemplateKind> {
        TemplateKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Error::InvalidField {
                field: "kind",
                reason: format!(
                    "{s:?} is not one of newsletter, promotion, announcement, press-release, customer-letter, custom, acknowledgement"
                ),
            })
    }
}

/// A campaign template (contract rows: `name, kind, subject, builtin`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    /// Its name, unique whatever its case; a built-in one is named like its kind.
    pub name: String,
    /// What it is for.
    pub kind: TemplateKind,
    /// The subject line (a template too).
    pub subject: String,
    /// The HTML body.
    pub html: String,
    /// The text body; when absent it is generated from the rendered HTML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Shipped with etraq and read-only.
    #[serde(default)]
    pub builtin: bool,
    /// When it was added (the Unix epoch for built-in ones).
    pub created_at: Timestamp,
}

/// The five built-in templates, one per kind but `custom`: responsive HTML that reads well in
/// mail clients, with the unsubscribe and view-in-browser links in the footer, and a text part
/// of their own.
pub fn builtin_templates() -> Vec<Template> {
    macro_rules! builtin {
        ($kind:expr, $file:literal) => {
            Template {
                name: $kind.as_str().to_string(),
                kind: $kind,
                subject: include_str!(concat!("builtin/", $file, ".subject"))
                    .trim()
                    .to_string(),
                html: include_str!(concat!("builtin/", $file, ".html")).to_string(),
                // A text part written for plain-text readers, not converted from the HTML:
                // it reads better, and rendering it costs microseconds where html2text costs
                // a tenth of a millisecond per recipient.
                text: Some(include_str!(concat!("builtin/", $file, ".txt")).to_string()),
                builtin: true,
                created_at: Timestamp::UNIX_EPOCH,
            }
        };
    }
    vec![
        builtin!(TemplateKind::Newsletter, "newsletter"),
        builtin!(TemplateKind::Promotion, "promotion"),
        builtin!(TemplateKind::Announcement, "announcement"),
        builtin!(TemplateKind::PressRelease, "press-release"),
        builtin!(TemplateKind::CustomerLetter, "customer-letter"),
    ]
}

/// Checks a template name: 1 to 100 characters, letters, digits, `-`, `_`, `.` and spaces.
pub fn check_template_name(name: &str) -> Result<&str> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.chars().count() <= 100
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    if ok {
        Ok(name)
    } else {
        Err(Error::InvalidField {
            field: "name",
            reason: format!(
                "{name:?}: a template name has 1 to 100 letters, digits, spaces, '-', '_' or '.'"
            ),
        })
    }
}

/// What etraq knows of a subscriber as a customer: the `customer.*` merge fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CustomerFacts {
    /// DRs with this address as the customer.
    pub drs: u64,
    /// Of those, the ones not closed.
    pub open_drs: u64,
    /// When the customer last wrote.
    pub last_seen: Option<Timestamp>,
}

/// The subscriber part of [`MergeData`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SubscriberFields {
    /// `subscriber.email`.
    pub email: String,
    /// `subscriber.name`.
    pub name: String,
    /// `subscriber.attribs.*`.
    pub attribs: serde_json::Map<String, serde_json::Value>,
    /// `subscriber.score`: the engagement score (filled only where a template or segment
    /// names it: it costs a store read).
    pub score: f64,
}

/// A name, for `campaign.name` and `list.name`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Named {
    /// The name.
    pub name: String,
}

/// Everything a template may use for one recipient.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MergeData {
    /// `subscriber.*`.
    pub subscriber: SubscriberFields,
    /// `campaign.name`.
    pub campaign: Named,
    /// `list.name`: the list the recipient came from.
    pub list: Named,
    /// `unsubscribe_url`.
    pub unsubscribe_url: String,
    /// `view_in_browser_url`.
    pub view_in_browser_url: String,
    /// `customer.*`.
    pub customer: CustomerFacts,
}

/// The merge fields a template may name (`subscriber.attribs.*` takes any attribute).
const FIELDS: &[&str] = &[
    "subscriber",
    "subscriber.email",
    "subscriber.name",
    "subscriber.attribs",
    "subscriber.score",
    "campaign",
    "campaign.name",
    "list",
    "list.name",
    "unsubscribe_url",
    "view_in_browser_url",
    "customer",
    "customer.drs",
    "customer.open_drs",
    "customer.last_seen",
];

/// minijinja's own global functions, which a template may call.
const GLOBALS: &[&str] = &["range", "dict", "namespace", "lipsum", "cycler", "joiner"];

/// A template that failed, naming the template, the part (`subject`, `html`, `text`) and the
/// line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("template {template:?}, {part}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
pub struct TemplateError {
    /// The template's name.
    pub template: String,
    /// Which part.
    pub part: &'static str,
    /// The line in that part, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl From<TemplateError> for Error {
    fn from(e: TemplateError) -> Error {
        if e.part == "segment" {
            return Error::InvalidField {
                field: "where",
                reason: match e.line {
                    Some(l) => format!("line {l}: {}", e.message),
                    None => e.message,
                },
            };
        }
        Error::InvalidField {
            field: "template",
            reason: e.to_string(),
        }
    }
}

/// A rendered message body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// The subject, on one line.
    pub subject: String,
    /// The HTML part.
    pub html: String,
    /// The text part.
    pub text: String,
}

/// A template's parts compiled in the sandbox (no loader, a fuel limit, HTML auto-escaping in
/// the HTML part) with the fields it names checked: what campaign templates ([`Renderer`]) and
/// acknowledgement templates (`support::autoreply::AckRenderer`) share.
pub(crate) struct Compiled {
    env: Environment<'static>,
    name: String,
    has_text: bool,
    /// Every field each part names, with its path (`subscriber.attribs.country`).
    pub(crate) names: BTreeSet<String>,
}

impl Compiled {
    /// Compiles `t`; a field for which `known` is false fails, its message listing `known_list`.
    pub(crate) fn new(
        t: &Template,
        known: &dyn Fn(&str) -> bool,
        known_list: &str,
    ) -> std::result::Result<Compiled, TemplateError> {
        let fail = |part: &'static str, line: Option<usize>, message: String| TemplateError {
            template: t.name.clone(),
            part,
            line,
            message,
        };
        // `new` brings the built-in filters, tests and functions, and no loader.
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_fuel(Some(FUEL));
        env.set_auto_escape_callback(|name| {
            if name == "html" {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        let sources = [
            ("subject", Some(t.subject.as_str())),
            ("html", Some(t.html.as_str())),
            ("text", t.text.as_deref()),
        ];
        for (part, source) in sources {
            let Some(source) = source else { continue };
            if source.len() > MAX_TEMPLATE_BYTES {
                return Err(fail(
                    part,
                    None,
                    format!("longer than {MAX_TEMPLATE_BYTES} bytes"),
                ));
            }
            env.add_template_owned(part, source.to_string())
                .map_err(|e| fail(part, e.line(), describe(&e)))?;
        }
        let mut all = BTreeSet::new();
        for (part, source) in sources {
            let Some(source) = source else { continue };
            let tmpl = env
                .get_template(part)
                .map_err(|e| fail(part, e.line(), describe(&e)))?;
            let names: BTreeSet<String> = tmpl.undeclared_variables(true).into_iter().collect();
            for name in names {
                if !known(&name) {
                    let top = name.split('.').next().unwrap_or(&name);
                    let line = source.lines().position(|l| l.contains(top)).map(|i| i + 1);
                    return Err(fail(
                        part,
                        line,
                        format!("unknown merge field `{name}` (known: {known_list})"),
                    ));
                }
                all.insert(name);
            }
        }
        Ok(Compiled {
            env,
            name: t.name.clone(),
            has_text: t.text.is_some(),
            names: all,
        })
    }

    /// Whether any part names the top-level field `top`.
    pub(crate) fn names_top(&self, top: &str) -> bool {
        ["subject", "html", "text"].iter().any(|part| {
            self.env
                .get_template(part)
                .is_ok_and(|t| t.undeclared_variables(false).iter().any(|n| n == top))
        })
    }

    /// Renders the parts with `ctx`; without a text part, it is made from the HTML.
    pub(crate) fn render(&self, ctx: &Value) -> std::result::Result<Rendered, TemplateError> {
        let part = |part: &'static str| -> std::result::Result<String, TemplateError> {
            self.env
                .get_template(part)
                .and_then(|t| t.render(ctx))
                .map_err(|e| TemplateError {
                    template: self.name.clone(),
                    part,
                    line: e.line(),
                    message: describe(&e),
                })
        };
        let subject = one_line(&part("subject")?);
        let html = part("html")?;
        let text = if self.has_text {
            part("text")?
        } else {
            text_from_html(&html).map_err(|e| TemplateError {
                template: self.name.clone(),
                part: "text",
                line: None,
                message: format!("cannot make the text part from the HTML: {e}"),
            })?
        };
        Ok(Rendered {
            subject,
            html,
            text,
        })
    }
}

/// A compiled template, ready to render for any number of recipients.
pub struct Renderer {
    compiled: Compiled,
    /// Worked out once at compile time: a sender asks for every recipient.
    needs_customer: bool,
    /// Likewise for `subscriber.score`.
    needs_score: bool,
}

impl Renderer {
    /// Compiles a template's parts and checks the merge fields they name.
    pub fn new(t: &Template) -> std::result::Result<Renderer, TemplateError> {
        let compiled = Compiled::new(
            t,
            &known_field,
            "subscriber.email, subscriber.name, subscriber.attribs.*, subscriber.score, \
             campaign.name, list.name, unsubscribe_url, view_in_browser_url, customer.drs, \
             customer.open_drs, customer.last_seen",
        )?;
        let needs_customer = compiled.names_top("customer");
        let needs_score = names_score(&compiled.names.iter().cloned().collect());
        Ok(Renderer {
            compiled,
            needs_customer,
            needs_score,
        })
    }

    /// Whether the template names a `customer.*` field, so a sender must read the CRM facts for
    /// each recipient (they cost a store query; nothing else does).
    pub fn needs_customer(&self) -> bool {
        self.needs_customer
    }

    /// Whether the template names `subscriber.score` (a store read per recipient).
    pub fn needs_score(&self) -> bool {
        self.needs_score
    }

    /// Renders the template for one recipient.
    pub fn render(&self, data: &MergeData) -> std::result::Result<Rendered, TemplateError> {
        let ctx = minijinja::context! {
            subscriber => Value::from(minijinja::value::Serde(&data.subscriber)),
            campaign => Value::from(minijinja::value::Serde(&data.campaign)),
            list => Value::from(minijinja::value::Serde(&data.list)),
            customer => Value::from(minijinja::value::Serde(&data.customer)),
            // etraq's own links go in as they are: HTML-escaping would turn every `/` into
            // `&#x2f;`, which mail clients decode but link checkers and the eye do not.
            unsubscribe_url => link(&data.unsubscribe_url),
            view_in_browser_url => link(&data.view_in_browser_url),
        };
        self.compiled.render(&ctx)
    }
}

/// A segment: a minijinja expression over the merge fields (`subscriber.attribs.country == "DE"
/// and customer.open_drs == 0`), compiled once and evaluated per subscriber.
pub struct Segment {
    env: Environment<'static>,
    expr: String,
}

impl Segment {
    /// Compiles `expr`. It must be one expression (nothing that closes a tag) and name only
    /// known merge fields.
    pub fn new(expr: &str) -> std::result::Result<Segment, TemplateError> {
        let fail = |line: Option<usize>, message: String| TemplateError {
            template: "--where".into(),
            part: "segment",
            line,
            message,
        };
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_fuel(Some(FUEL));
        if expr.trim().is_empty() {
            return Err(fail(None, "the segment is empty".into()));
        }
        if expr.len() > 64 * 1024 {
            return Err(fail(None, "longer than 64 KiB".into()));
        }
        // Parsed alone first: an expression cannot close the tag it is put in below.
        let names: BTreeSet<String> = env
            .compile_expression(expr)
            .map_err(|e| fail(e.line(), describe(&e)))?
            .undeclared_variables(true)
            .into_iter()
            .collect();
        if let Some(name) = names.iter().find(|n| !known_field(n)) {
            return Err(fail(None, format!("unknown merge field `{name}`")));
        }
        env.add_template_owned("segment", format!("{{% if ({expr}) %}}1{{% endif %}}"))
            .map_err(|e| fail(e.line(), describe(&e)))?;
        Ok(Segment {
            env,
            expr: expr.to_string(),
        })
    }

    /// Whether the expression names a `customer.*` field, so the CRM facts must be looked up
    /// for each subscriber (they cost a store read; attributes do not).
    pub fn needs_customer(&self) -> bool {
        self.env
            .get_template("segment")
            .map(|t| {
                t.undeclared_variables(false)
                    .iter()
                    .any(|n| n == "customer")
            })
            .unwrap_or(true)
    }

    /// Whether the expression names `subscriber.score`, so each subscriber's engagement must
    /// be read.
    pub fn needs_score(&self) -> bool {
        self.env
            .get_template("segment")
            .map(|t| names_score(&t.undeclared_variables(true)))
            .unwrap_or(true)
    }

    /// The expression as given.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// Whether the recipient described by `data` is in the segment.
    pub fn matches(&self, data: &MergeData) -> std::result::Result<bool, TemplateError> {
        let ctx = minijinja::context! {
            subscriber => Value::from(minijinja::value::Serde(&data.subscriber)),
            campaign => Value::from(minijinja::value::Serde(&data.campaign)),
            list => Value::from(minijinja::value::Serde(&data.list)),
            customer => Value::from(minijinja::value::Serde(&data.customer)),
        };
        self.env
            .get_template("segment")
            .and_then(|t| t.render(ctx))
            .map(|out| out == "1")
            .map_err(|e| TemplateError {
                template: "--where".into(),
                part: "segment",
                line: e.line(),
                message: describe(&e),
            })
    }
}

/// The text part of an HTML mail. Mail layouts are tables, so they are read as one column (no
/// borders, no padding to a grid); links keep their URL as a footnote, and trailing spaces and
/// runs of blank lines are dropped.
fn text_from_html(html: &str) -> std::result::Result<String, html2text::Error> {
    let raw = html2text::config::plain()
        .raw_mode(true)
        .string_from_read(html.as_bytes(), TEXT_WIDTH)?;
    let mut out = String::with_capacity(raw.len());
    let mut blank = 0;
    for line in raw.lines().map(str::trim_end) {
        if line.is_empty() {
            blank += 1;
            if blank > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

/// A URL etraq made, marked safe for HTML when it cannot break out of an attribute.
fn link(url: &str) -> Value {
    if url
        .chars()
        .any(|c| matches!(c, '"' | '\'' | '<' | '>' | '&') || c.is_whitespace())
    {
        Value::from(url)
    } else {
        Value::from_safe_string(url.to_string())
    }
}

/// Whether a template's variables (nested) reach `subscriber.score`.
fn names_score(names: &std::collections::HashSet<String>) -> bool {
    names
        .iter()
        .any(|n| n == "subscriber" || n == "subscriber.score")
}

fn known_field(name: &str) -> bool {
    FIELDS.contains(&name)
        || GLOBALS.contains(&name)
        || name.starts_with("subscriber.attribs.")
        || name.starts_with("loop.")
}

/// minijinja's message without its debug dump.
fn describe(e: &minijinja::Error) -> String {
    match e.kind() {
        minijinja::ErrorKind::OutOfFuel => {
            "the template did too much work (a loop that does not end?) and was stopped".into()
        }
        minijinja::ErrorKind::TemplateNotFound => format!(
            "{} (templates cannot include or extend files or other templates)",
            e.detail().unwrap_or("a template was not found")
        ),
        _ => match e.detail() {
            Some(d) => format!("{}: {d}", e.kind()),
            None => e.kind().to_string(),
        },
    }
}

/// A subject on one line: line breaks would end the header (header injection).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(subject: &str, html: &str, text: Option<&str>) -> Template {
        Template {
            name: "t".into(),
            kind: TemplateKind::Custom,
            subject: subject.into(),
            html: html.into(),
            text: text.map(str::to_string),
            builtin: false,
            created_at: Timestamp::UNIX_EPOCH,
        }
    }

    fn data(name: &str) -> MergeData {
        let mut d = MergeData::default();
        d.subscriber.email = "ann@example.org".into();
        d.subscriber.name = name.into();
        d.campaign.name = "Spring".into();
        d.unsubscribe_url = "https://etraq.example/u/TOKEN".into();
        d
    }

    #[test]
    fn merge_data_is_escaped_in_html_and_not_in_text() {
        let r = Renderer::new(&custom(
            "Hi {{ subscriber.name }}\r\nBcc: x@evil.test",
            "<p>{{ subscriber.name }}</p>",
            Some("Hi {{ subscriber.name }}"),
        ))
        .unwrap();
        let out = r.render(&data("<script>alert(1)</script>")).unwrap();
        assert_eq!(
            out.html,
            "<p>&lt;script&gt;alert(1)&lt;&#x2f;script&gt;</p>"
        );
        assert_eq!(out.text, "Hi <script>alert(1)</script>");
        assert!(
            !out.subject.contains('\n') && !out.subject.contains('\r'),
            "{}",
            out.subject
        );
    }

    #[test]
    fn a_missing_attribute_renders_empty_and_an_unknown_field_fails_naming_the_line() {
        let r = Renderer::new(&custom(
            "s",
            "<p>{{ subscriber.attribs.city }}|{{ subscriber.attribs.city | default('nowhere') }}</p>",
            None,
        ))
        .unwrap();
        assert!(
            r.render(&data("Ann"))
                .unwrap()
                .html
                .contains("<p>|nowhere</p>")
        );
        let e = Renderer::new(&custom("s", "<p>\n\n{{ subscribr.name }}</p>", None))
            .err()
            .unwrap();
        assert_eq!((e.part, e.line), ("html", Some(3)), "{e}");
        assert!(e.to_string().contains("subscribr.name"), "{e}");
    }

    #[test]
    fn syntax_errors_name_the_part_and_line() {
        let e = Renderer::new(&custom("s", "<p>\n{% if %}</p>", None))
            .err()
            .unwrap();
        assert_eq!((e.part, e.line), ("html", Some(2)), "{e}");
        let e = Renderer::new(&custom("{{ ", "<p></p>", None))
            .err()
            .unwrap();
        assert_eq!(e.part, "subject", "{e}");
    }

    #[test]
    fn an_endless_loop_runs_out_of_fuel() {
        let r = Renderer::new(&custom(
            "s",
            "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}",
            None,
        ))
        .unwrap();
        let e = r.render(&data("Ann")).unwrap_err();
        assert!(e.message.contains("too much work"), "{e}");
    }

    #[test]
    fn templates_cannot_read_files() {
        for html in [
            r#"{% include "/etc/passwd" %}"#,
            r#"{% extends "/etc/passwd" %}"#,
            r#"{% import "/etc/passwd" as p %}"#,
        ] {
            let outcome =
                Renderer::new(&custom("s", html, None)).and_then(|r| r.render(&data("A")));
            let e = outcome.err().unwrap_or_else(|| panic!("{html} rendered"));
            assert!(!e.message.contains("root:"), "{e}");
        }
    }

    #[test]
    fn the_text_part_is_made_from_the_html_when_absent() {
        let r = Renderer::new(&custom(
            "s",
            "<h1>Hello {{ subscriber.name }}</h1><p>See <a href=\"https://example.com/x\">this</a>.</p>",
            None,
        ))
        .unwrap();
        let out = r.render(&data("Ann")).unwrap();
        assert!(out.text.contains("Hello Ann"), "{}", out.text);
        assert!(out.text.contains("https://example.com/x"), "{}", out.text);
        assert!(!out.text.contains("<h1>"), "{}", out.text);
    }

    #[test]
    fn segments_select_by_attribute_and_crm_facts_and_refuse_what_is_no_expression() {
        let seg = Segment::new(r#"subscriber.attribs.country == "DE" and customer.open_drs == 0"#)
            .unwrap();
        let mut d = data("Ann");
        assert!(!seg.matches(&d).unwrap(), "no country: not in");
        d.subscriber
            .attribs
            .insert("country".into(), serde_json::Value::String("DE".into()));
        assert!(seg.matches(&d).unwrap());
        d.customer.open_drs = 1;
        assert!(!seg.matches(&d).unwrap());
        for bad in [
            "",
            "subscriber.name ==",
            "true %}{% include 'x' %}{% if true",
            "subscribr.name == 'x'",
        ] {
            assert!(Segment::new(bad).is_err(), "{bad:?} compiled");
        }
        let endless = Segment::new("range(10000) | map('string') | join | length > 0 and range(10000) | map('string') | join | length > 0").unwrap();
        // Bounded work either way: it answers or runs out of fuel, it never hangs.
        let _ = endless.matches(&d);
    }

    #[test]
    fn every_builtin_compiles_and_renders_with_and_without_attributes() {
        let all = builtin_templates();
        assert_eq!(all.len(), 5);
        for t in &all {
            assert_eq!(t.name, t.kind.as_str());
            let r = Renderer::new(t).unwrap_or_else(|e| panic!("{e}"));
            let bare = r.render(&MergeData::default()).unwrap();
            let mut full = data("Ann Smith");
            full.subscriber
                .attribs
                .insert("plan".into(), serde_json::Value::String("pro".into()));
            full.customer.drs = 3;
            full.list.name = "Customers".into();
            let rich = r.render(&full).unwrap();
            for out in [&bare, &rich] {
                assert!(!out.subject.is_empty(), "{}", t.name);
                assert!(out.html.contains("<!DOCTYPE html>"), "{}", t.name);
                assert!(!out.text.trim().is_empty(), "{}", t.name);
            }
            assert!(
                rich.html.contains("https://etraq.example/u/TOKEN"),
                "{}",
                t.name
            );
            assert!(rich.text.contains("Unsubscribe"), "{}", t.name);
            // The hand-written text part carries the same personal data and links as the
            // HTML part, and no template syntax is left over.
            assert!(t.text.is_some(), "{}", t.name);
            if rich.html.contains("Ann Smith") {
                assert!(rich.text.contains("Ann Smith"), "{}: {}", t.name, rich.text);
            }
            assert!(
                rich.text.contains("https://etraq.example/u/TOKEN"),
                "{}",
                t.name
            );
            assert!(rich.text.contains("Customers"), "{}", t.name);
            for html_link in rich.html.split("href=\"").skip(1) {
                let url = html_link.split('"').next().unwrap_or("");
                if url.starts_with("http") {
                    assert!(
                        rich.text.contains(url),
                        "{}: the text part lacks {url}",
                        t.name
                    );
                }
            }
            for out in [&bare, &rich] {
                assert!(
                    !out.text.contains("{{") && !out.text.contains("{%"),
                    "{}",
                    t.name
                );
            }
        }
    }
}
