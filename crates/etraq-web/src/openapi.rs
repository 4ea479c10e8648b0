//! The OpenAPI 3.1 document of the JSON API, served at `/api/v1/openapi.json`. Written out by
//! hand from one table ([`ROUTES`]) so it stays readable; a test checks that the table and the
//! router serve exactly the same (method, path) pairs, and that each schema's properties are the
//! field names the API really returns.

use serde_json::{Value, json};

/// Where a parameter goes.
#[derive(Clone, Copy, Debug)]
pub enum In {
    /// In the path.
    Path,
    /// In the query string.
    Query,
}

/// One documented route.
#[derive(Debug)]
pub struct RouteDoc {
    /// `get` or `post`.
    pub method: &'static str,
    /// OpenAPI path (`/api/v1/drs/{id}`).
    pub path: &'static str,
    /// One line.
    pub summary: &'static str,
    /// Parameters: name, place, description.
    pub params: &'static [(&'static str, In, &'static str)],
    /// The request body's schema name, if any.
    pub body: Option<&'static str>,
    /// The response schema: a schema name, `Listing:NAME` for a page of NAME, or `[NAME]` for
    /// an array.
    pub response: &'static str,
}

const PAGING: [(&str, In, &str); 2] = [
    ("after", In::Query, "cursor from the previous page's `next`"),
    ("limit", In::Query, "page size, 1 to 500 (default 100)"),
];

/// Every API route.
pub const ROUTES: &[RouteDoc] = &[
    RouteDoc {
        method: "get",
        path: "/api/v1/status",
        summary: "Server state, counters (ESCALATED, WARNED) and counts, like `etraq status --json`",
        params: &[],
        body: None,
        response: "Status",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/drs",
        summary: "Tracked mails: the DRs you may see, like `etraq dr list --json`",
        params: &[
            ("status", In::Query, "open, replied, closed or all"),
            ("owner", In::Query, "owner's address"),
            ("customer", In::Query, "customer address or @domain"),
            (
                "sort",
                In::Query,
                "assigned (default), owner, customer or status",
            ),
            (
                "order",
                In::Query,
                "desc or asc (also newest, oldest); default desc for assigned, asc otherwise",
            ),
            PAGING[0],
            (
                "after_key",
                In::Query,
                "with sort other than assigned: the previous page's `next_key`",
            ),
            PAGING[1],
        ],
        body: None,
        response: "Listing:DrRow",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/drs/{id}",
        summary: "A DR with its thread, like `etraq dr show --json`",
        params: &[("id", In::Path, "DR id, e.g. SUPP-11272026.1")],
        body: None,
        response: "DrDetail",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/drs/{id}/close",
        summary: "Close a DR; `transcript=true` mails the customer its transcript (default: `support.transcript_on_close`)",
        params: &[
            ("id", In::Path, "DR id"),
            ("transcript", In::Query, "true or false"),
        ],
        body: None,
        response: "DrRow",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/drs/{id}/reopen",
        summary: "Reopen a DR",
        params: &[("id", In::Path, "DR id")],
        body: None,
        response: "DrRow",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/drs/{id}/assign",
        summary: "Give a DR to another registered user (the previous owner stays CC'd)",
        params: &[("id", In::Path, "DR id")],
        body: Some("AssignBody"),
        response: "DrRow",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/drs/{id}/remind",
        summary: "Set a reminder (a Reminder alert to the owner at the given time)",
        params: &[("id", In::Path, "DR id")],
        body: Some("RemindBody"),
        response: "DrRow",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/untracked",
        summary: "Untracked mails, like `etraq untracked list --json`",
        params: &[
            ("customer", In::Query, "address or @domain on the mail"),
            ("order", In::Query, "newest (default) or oldest"),
            PAGING[0],
            PAGING[1],
        ],
        body: None,
        response: "Listing:UntrackedRow",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/history",
        summary: "A customer's history, oldest first, like `etraq history --json`",
        params: &[
            ("q", In::Query, "customer address or @domain (required)"),
            PAGING[0],
            PAGING[1],
        ],
        body: None,
        response: "Listing:MailRow",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/search",
        summary: "Full-text search over the mail the caller may open, best first, like `etraq search --json`",
        params: &[
            (
                "q",
                In::Query,
                "the query: words, \"a phrase\", -word, from:, to:, subject:, dr:ID, has:attachment, before:DATE, after:DATE (required)",
            ),
            (
                "limit",
                In::Query,
                "at most this many results, 1-100 (default 20)",
            ),
        ],
        body: None,
        response: "[SearchRow]",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/alerts",
        summary: "Alerts, like `etraq alerts list --json`",
        params: &[
            ("user", In::Query, "only alerts to this user"),
            ("dr", In::Query, "only alerts about this DR"),
            PAGING[0],
            PAGING[1],
        ],
        body: None,
        response: "Listing:AlertRow",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/escalations",
        summary: "Escalation cycles with their decisions (supervisors and admins)",
        params: &[PAGING[0], PAGING[1]],
        body: None,
        response: "Listing:Cycle",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/users",
        summary: "Users, like `etraq user list --json` (admins)",
        params: &[],
        body: None,
        response: "[User]",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/reports/unreplied",
        summary: "Open DRs whose customer has waited longer than a duration, longest first",
        params: &[
            ("older_than", In::Query, "duration such as 4h or 2d 3h"),
            ("owner", In::Query, "owner's address"),
            ("department", In::Query, "owner's department"),
        ],
        body: None,
        response: "[UnrepliedRow]",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/reports/response-times",
        summary: "Response times per user (count, median, p90, max in seconds)",
        params: &[
            ("since", In::Query, "RFC 3339 time or a date"),
            ("owner", In::Query, "only this user"),
            ("business", In::Query, "true: count business hours only"),
        ],
        body: None,
        response: "[UserResponses]",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/reports/volume",
        summary: "Mail per local day, direction and decision",
        params: &[("days", In::Query, "days back, 1 to 366 (default 30)")],
        body: None,
        response: "[VolumeDay]",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/logs",
        summary: "Log files, like `etraq logs list --json` (admins)",
        params: &[],
        body: None,
        response: "[LogFile]",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/services",
        summary: "Pause or resume a service (admins); answers which services run",
        params: &[],
        body: Some("ServicesBody"),
        response: "ServiceStates",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/openapi.json",
        summary: "This document",
        params: &[],
        body: None,
        response: "OpenApi",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/lists",
        summary: "Mailing lists with their member counts, like `etraq list ls --json`",
        params: &[],
        body: None,
        response: "[List]",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/lists/{name}",
        summary: "One list with its counts",
        params: &[("name", In::Path, "the name (any case)")],
        body: None,
        response: "List",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/lists",
        summary: "Create a list (supervisors)",
        params: &[],
        body: Some("ListBody"),
        response: "List",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/lists/{name}",
        summary: "Change a list's description, opt-in mode or visibility (supervisors)",
        params: &[("name", In::Path, "the name (any case)")],
        body: Some("ListBody"),
        response: "List",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/lists/{name}/delete",
        summary: "Delete a list and its memberships (admins)",
        params: &[("name", In::Path, "the name (any case)")],
        body: None,
        response: "Deleted",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/lists/{name}/subscribers",
        summary: "Add one address to a list (supervisors); a double opt-in list mails a confirmation unless `confirmed`",
        params: &[("name", In::Path, "the name (any case)")],
        body: Some("AddSubscriberBody"),
        response: "Added",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/lists/{name}/import",
        summary: "Import a CSV (the request body, text/csv, at most 32 MiB) into a list, like `etraq subscriber import --json` (supervisors)",
        params: &[
            ("name", In::Path, "the name (any case)"),
            (
                "confirmed",
                In::Query,
                "true: you vouch for everyone's consent",
            ),
        ],
        body: None,
        response: "ImportReport",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/subscribers",
        summary: "Subscribers, like `etraq subscriber list --json`",
        params: &[
            ("list", In::Query, "only members of this list"),
            (
                "status",
                In::Query,
                "confirmed, unconfirmed or unsubscribed",
            ),
            ("q", In::Query, "addresses containing this text"),
            ("after", In::Query, "cursor from the previous page's `next`"),
            ("limit", In::Query, "page size, 1 to 10000 (default 100)"),
        ],
        body: None,
        response: "Listing:SubscriberRow",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/subscribers/{email}",
        summary: "One subscriber with lists and events, like `etraq subscriber show --json`",
        params: &[("email", In::Path, "the address")],
        body: None,
        response: "SubscriberRow",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/subscribers/{email}/unsubscribe",
        summary: "Unsubscribe from one list, or from every list (supervisors)",
        params: &[("email", In::Path, "the address")],
        body: Some("UnsubscribeBody"),
        response: "Unsubscribed",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/blocklist",
        summary: "The blocklist, like `etraq blocklist list --json`",
        params: &[],
        body: None,
        response: "[BlockEntry]",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/blocklist",
        summary: "Add an address or @domain to the blocklist (supervisors)",
        params: &[],
        body: Some("BlockBody"),
        response: "BlockEntry",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/blocklist/remove",
        summary: "Remove a blocklist entry (admins)",
        params: &[],
        body: Some("BlockBody"),
        response: "Deleted",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/templates",
        summary: "Templates, built-in ones first, like `etraq template list --json`",
        params: &[],
        body: None,
        response: "[TemplateRow]",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/templates/{name}",
        summary: "One template with its subject and bodies",
        params: &[("name", In::Path, "the name (any case)")],
        body: None,
        response: "Template",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/templates",
        summary: "Add or replace a template of your own; it must compile and name known merge fields (supervisors)",
        params: &[],
        body: Some("TemplateBody"),
        response: "TemplateRow",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/campaigns",
        summary: "Campaigns with their counts, like `etraq campaign list --json`",
        params: &[],
        body: None,
        response: "[Campaign]",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/campaigns/{name}",
        summary: "One campaign with its counts, like `etraq campaign show --json`",
        params: &[("name", In::Path, "the name (any case)")],
        body: None,
        response: "Campaign",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/campaigns",
        summary: "Create a campaign, like `etraq campaign create` (supervisors)",
        params: &[],
        body: Some("CampaignBody"),
        response: "Campaign",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/campaigns/{name}/start",
        summary: "Have the running server send it, now or `at` a time (supervisors)",
        params: &[("name", In::Path, "the name (any case)")],
        body: Some("StartBody"),
        response: "Campaign",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/campaigns/{name}/pause",
        summary: "Pause it: its sender stops within a second (supervisors)",
        params: &[("name", In::Path, "the name (any case)")],
        body: None,
        response: "Campaign",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/campaigns/{name}/resume",
        summary: "Resume a paused campaign (supervisors)",
        params: &[("name", In::Path, "the name (any case)")],
        body: None,
        response: "Campaign",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/campaigns/{name}/cancel",
        summary: "Cancel it for good (supervisors)",
        params: &[("name", In::Path, "the name (any case)")],
        body: None,
        response: "Campaign",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/conversions",
        summary: "Report a purchase after a campaign click (the `etraq` parameter of its redirect); one order_id counts once",
        params: &[],
        body: Some("ConversionBody"),
        response: "ConversionAnswer",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/campaigns/{name}/recipients",
        summary: "A campaign's recipients, like `etraq campaign recipients --json`",
        params: &[
            ("name", In::Path, "the name (any case)"),
            (
                "state",
                In::Query,
                "queued, sending, sent, failed, in_doubt or skipped",
            ),
            ("after", In::Query, "cursor from the previous page's `next`"),
            ("limit", In::Query, "page size, 1 to 10000 (default 100)"),
        ],
        body: None,
        response: "Listing:RecipientRow",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/jobs",
        summary: "Background jobs the caller may see (their own; admins all), newest first, like `etraq job list --json` (supervisors)",
        params: &[],
        body: None,
        response: "[Job]",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/jobs",
        summary: "Start a validation (`kind: validate`, `addresses`, `no_smtp`, `threads`, `top_mx_only`) or an extraction (`kind: extract`, `seeds` (http/https), `depth`, `links_per_domain`, `follow_external`); `etraq serve` runs it (supervisors)",
        params: &[],
        body: Some("JobSpec"),
        response: "Job",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/jobs/{id}",
        summary: "A job and its result rows so far, like `etraq job show ID --json`",
        params: &[
            ("id", In::Path, "the job's number"),
            (
                "results",
                In::Query,
                "false leaves the rows out (a progress poll)",
            ),
        ],
        body: None,
        response: "JobDetail",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/jobs/{id}/cancel",
        summary: "Ask a job to stop; its results so far are kept",
        params: &[("id", In::Path, "the job's number")],
        body: None,
        response: "Job",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/jobs/{id}/validate",
        summary: "Start a validation of the addresses an extraction found",
        params: &[("id", In::Path, "the extraction job's number")],
        body: None,
        response: "Job",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/jobs/{id}/import",
        summary: "Import the addresses a validation found safe into a list, like `subscriber import` (a double opt-in list mails each new member a confirmation)",
        params: &[("id", In::Path, "the validation job's number")],
        body: Some("JobImportBody"),
        response: "ImportReport",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/kb",
        summary: "Every knowledge-base article, like `etraq kb list --json`",
        params: &[],
        body: None,
        response: "[Article]",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/kb",
        summary: "Write an article (title, Markdown body, tags, public)",
        params: &[],
        body: Some("ArticleBody"),
        response: "Article",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/kb/search",
        summary: "The articles best matching any words (bm25 over title, tags and body), like `etraq kb search --json`",
        params: &[
            (
                "q",
                In::Query,
                "the words (a customer's question works as it is)",
            ),
            (
                "limit",
                In::Query,
                "at most this many, 1 to 100 (default 10)",
            ),
        ],
        body: None,
        response: "[KbHit]",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/kb/{id}",
        summary: "An article and every version of it, like `etraq kb show --json`",
        params: &[("id", In::Path, "the article's id")],
        body: None,
        response: "ArticleDetail",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/kb/{id}",
        summary: "Change an article (a new version; fields left out stay)",
        params: &[("id", In::Path, "the article's id")],
        body: Some("ArticleBody"),
        response: "Article",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/kb/{id}/delete",
        summary: "Delete an article and its history (supervisors)",
        params: &[("id", In::Path, "the article's id")],
        body: None,
        response: "Deleted",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/drs/{id}/suggestions",
        summary: "The top 3 articles for the customer's latest message, like `etraq dr suggest --json`",
        params: &[("id", In::Path, "DR id, e.g. SUPP-11272026.1")],
        body: None,
        response: "[KbHit]",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/drs/{id}/transcript",
        summary: "The transcript the customer would get (customer-visible messages only), like `etraq dr transcript`",
        params: &[("id", In::Path, "DR id, e.g. SUPP-11272026.1")],
        body: None,
        response: "Transcript",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/drs/{id}/reply",
        summary: "Reply to the customer: sent through the relay as the DR's owner (or `as`), recorded like a reply through the gateway, like `etraq dr reply`",
        params: &[("id", In::Path, "DR id, e.g. SUPP-11272026.1")],
        body: Some("ReplyBody"),
        response: "ReplyAnswer",
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/autoreplies",
        summary: "The acknowledgement rules in the order they are tried, like `etraq autoreply list --json`",
        params: &[],
        body: None,
        response: "[AutoReplyRule]",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/autoreplies",
        summary: "Add an acknowledgement rule, tried after the others (supervisors)",
        params: &[],
        body: Some("RuleBody"),
        response: "AutoReplyRule",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/autoreplies/{name}/delete",
        summary: "Delete a rule (supervisors)",
        params: &[("name", In::Path, "the rule's name")],
        body: None,
        response: "Deleted",
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/autoreplies/{name}/enable",
        summary: "Enable a rule its failing template disabled, once the template works (supervisors)",
        params: &[("name", In::Path, "the rule's name")],
        body: None,
        response: "AutoReplyRule",
    },
];

fn s(t: &str) -> Value {
    json!({ "type": t })
}

fn nullable(t: &str) -> Value {
    json!({ "type": [t, "null"] })
}

fn strings() -> Value {
    json!({ "type": "array", "items": { "type": "string" } })
}

fn object(props: &[(&str, Value)]) -> Value {
    let mut p = serde_json::Map::new();
    for (k, v) in props {
        p.insert((*k).to_string(), v.clone());
    }
    json!({ "type": "object", "properties": p })
}

fn dr_row_props() -> Vec<(&'static str, Value)> {
    vec![
        ("id", s("string")),
        ("owner", s("string")),
        ("sender", s("string")),
        ("recipient", nullable("string")),
        ("subject", s("string")),
        ("assigned_on", s("string")),
        ("cc_users", strings()),
        ("mail_type", s("string")),
        ("status", s("string")),
        ("escalation_level", s("integer")),
        ("customer", s("string")),
        ("awaiting_since", nullable("string")),
        ("first_response_at", nullable("string")),
        ("last_activity", s("string")),
    ]
}

fn job_props() -> Vec<(&'static str, Value)> {
    vec![
        ("id", s("integer")),
        ("owner", s("string")),
        ("spec", json!({ "$ref": "#/components/schemas/JobSpec" })),
        ("state", s("string")),
        ("done", s("integer")),
        ("total", s("integer")),
        ("rate", s("number")),
        ("results", s("integer")),
        ("chunks", s("integer")),
        ("cancel_requested", s("boolean")),
        ("error", s("string")),
        ("resumed", s("integer")),
        ("created_at", s("string")),
        ("started_at", s("string")),
        ("finished_at", s("string")),
        ("updated_at", s("string")),
    ]
}

/// The component schemas: the JSON field names of every answer.
pub fn schemas() -> serde_json::Map<String, Value> {
    let stats = object(&[
        ("count", s("integer")),
        ("median", s("integer")),
        ("p90", s("integer")),
        ("max", s("integer")),
    ]);
    let mail_row = object(&[
        ("seq", s("integer")),
        ("message_id", s("string")),
        ("mailed_on", s("string")),
        ("direction", s("string")),
        ("sender", nullable("string")),
        ("recipient", nullable("string")),
        ("cc_users", strings()),
        ("subject", s("string")),
        ("decision", s("string")),
        ("mail_type", nullable("string")),
        ("reason", nullable("string")),
        ("dr", nullable("string")),
    ]);
    let mut detail = dr_row_props();
    detail.push(("participants", strings()));
    detail.push(("version", s("integer")));
    detail.push((
        "messages",
        json!({ "type": "array", "items": { "$ref": "#/components/schemas/MailRow" } }),
    ));
    detail.push(("truncated", s("boolean")));
    detail.push(("campaign", nullable("string")));
    let mut unreplied = dr_row_props();
    unreplied.push(("waiting_secs", s("integer")));
    unreplied.push(("department", nullable("string")));
    let services = object(&[
        ("smtp", s("boolean")),
        ("escalation", s("boolean")),
        ("notifications", s("boolean")),
    ]);
    let pairs: Vec<(&str, Value)> = vec![
        ("DrRow", object(&dr_row_props())),
        ("DrDetail", object(&detail)),
        ("UnrepliedRow", object(&unreplied)),
        ("MailRow", mail_row),
        (
            "SearchRow",
            object(&[
                ("seq", s("integer")),
                ("message_id", s("string")),
                ("dr", nullable("string")),
                ("date", s("string")),
                ("direction", s("string")),
                ("from", nullable("string")),
                ("to", strings()),
                ("subject", s("string")),
                ("snippet", s("string")),
                ("score", s("number")),
            ]),
        ),
        (
            "UntrackedRow",
            object(&[
                ("recipient", nullable("string")),
                ("sender", nullable("string")),
                ("subject", s("string")),
                ("cc_users", strings()),
                ("mailed_on", s("string")),
                ("reason", s("string")),
                ("message_id", s("string")),
                ("direction", s("string")),
                ("dr", nullable("string")),
                ("seq", s("integer")),
            ]),
        ),
        (
            "AlertRow",
            object(&[
                ("event_type", s("string")),
                ("user", s("string")),
                ("date_time", s("string")),
                ("source_dr", s("string")),
                ("assigned_on", s("string")),
                ("dr_owner", s("string")),
                ("id", s("integer")),
                ("level", s("integer")),
                ("customer", s("string")),
                ("subject", s("string")),
                ("waited_secs", s("integer")),
                ("mail", s("string")),
            ]),
        ),
        (
            "Cycle",
            object(&[
                ("id", s("integer")),
                ("at", s("string")),
                ("warned", s("integer")),
                ("escalated", s("integer")),
                ("reminded", s("integer")),
                ("bypassed", s("integer")),
                (
                    "decisions",
                    json!({"type": "array", "items": object(&[
                        ("dr", s("string")),
                        ("action", s("string")),
                        ("detail", s("string")),
                    ])}),
                ),
            ]),
        ),
        (
            "User",
            object(&[
                ("email", s("string")),
                ("name", s("string")),
                ("department", s("string")),
                ("supervisor", s("string")),
                ("role", s("string")),
                ("tracking", s("boolean")),
                ("alerts", s("boolean")),
            ]),
        ),
        (
            "UserResponses",
            object(&[
                ("user", s("string")),
                ("first", stats.clone()),
                ("all", stats),
            ]),
        ),
        (
            "VolumeDay",
            object(&[
                ("day", s("string")),
                ("direction", s("string")),
                ("tracked", s("integer")),
                ("untracked", s("integer")),
            ]),
        ),
        (
            "LogFile",
            object(&[
                ("name", s("string")),
                ("size", s("integer")),
                ("created", nullable("string")),
                ("modified", nullable("string")),
            ]),
        ),
        (
            "Status",
            object(&[
                ("running", s("boolean")),
                ("listening", strings()),
                ("mode", nullable("string")),
                ("started_at", nullable("string")),
                ("uptime_secs", nullable("integer")),
                ("tracked", s("integer")),
                ("untracked", s("integer")),
                ("open", s("integer")),
                ("replied", s("integer")),
                ("closed", s("integer")),
                ("users", s("integer")),
                ("ESCALATED", s("integer")),
                ("WARNED", s("integer")),
                ("outbox", s("integer")),
                ("store", s("string")),
                ("services", services.clone()),
            ]),
        ),
        ("ServiceStates", services),
        ("AssignBody", object(&[("owner", s("string"))])),
        ("RemindBody", object(&[("at", s("string"))])),
        (
            "ServicesBody",
            object(&[("service", s("string")), ("paused", s("boolean"))]),
        ),
        (
            "List",
            object(&[
                ("name", s("string")),
                ("description", s("string")),
                ("opt_in", s("string")),
                ("public", s("boolean")),
                ("created_at", s("string")),
                ("confirmed", s("integer")),
                ("unconfirmed", s("integer")),
                ("unsubscribed", s("integer")),
            ]),
        ),
        (
            "ListBody",
            object(&[
                ("name", s("string")),
                ("description", s("string")),
                ("double_opt_in", s("boolean")),
                ("public", s("boolean")),
            ]),
        ),
        ("Deleted", object(&[("deleted", s("string"))])),
        (
            "AddSubscriberBody",
            object(&[
                ("email", s("string")),
                ("name", s("string")),
                ("attribs", s("object")),
                ("confirmed", s("boolean")),
            ]),
        ),
        (
            "Added",
            object(&[
                ("email", s("string")),
                ("outcome", s("string")),
                ("confirmation_queued", s("boolean")),
            ]),
        ),
        ("Job", object(&job_props())),
        (
            "JobDetail",
            object(&[
                ("job", json!({ "$ref": "#/components/schemas/Job" })),
                (
                    "results",
                    json!({"type": "array", "items": object(&[
                        ("address", s("string")),
                        ("verdict", s("string")),
                        ("reason", s("string")),
                        ("source_url", s("string")),
                        ("pages", s("integer")),
                    ])}),
                ),
            ]),
        ),
        (
            "JobSpec",
            object(&[
                ("kind", s("string")),
                ("addresses", strings()),
                ("no_smtp", s("boolean")),
                ("threads", nullable("integer")),
                ("top_mx_only", s("boolean")),
                ("seeds", strings()),
                ("depth", nullable("integer")),
                ("links_per_domain", nullable("integer")),
                ("follow_external", s("boolean")),
            ]),
        ),
        ("JobImportBody", object(&[("list", s("string"))])),
        (
            "ImportReport",
            object(&[
                ("imported", s("integer")),
                ("updated", s("integer")),
                ("skipped", s("integer")),
                (
                    "errors",
                    json!({"type": "array", "items": object(&[("line", s("integer")), ("reason", s("string"))])}),
                ),
                ("error_count", s("integer")),
                ("confirmations", s("integer")),
            ]),
        ),
        (
            "SubscriberRow",
            object(&[
                ("email", s("string")),
                ("name", s("string")),
                ("attribs", s("object")),
                ("blocklisted", s("boolean")),
                ("blocklist_entry", s("object")),
                (
                    "lists",
                    json!({"type": "array", "items": object(&[("name", s("string")), ("status", s("string")), ("updated_at", s("string"))])}),
                ),
                (
                    "events",
                    json!({"type": "array", "items": object(&[("kind", s("string")), ("campaign", s("string")), ("at", s("string")), ("detail", s("string"))])}),
                ),
                ("score", s("number")),
                ("created_at", s("string")),
            ]),
        ),
        ("UnsubscribeBody", object(&[("list", s("string"))])),
        (
            "Unsubscribed",
            object(&[("email", s("string")), ("unsubscribed_from", strings())]),
        ),
        (
            "BlockEntry",
            object(&[
                ("address", s("string")),
                ("reason", s("string")),
                ("created_at", s("string")),
            ]),
        ),
        (
            "BlockBody",
            object(&[("address", s("string")), ("reason", s("string"))]),
        ),
        (
            "TemplateRow",
            object(&[
                ("name", s("string")),
                ("kind", s("string")),
                ("subject", s("string")),
                ("builtin", s("boolean")),
            ]),
        ),
        (
            "Template",
            object(&[
                ("name", s("string")),
                ("kind", s("string")),
                ("subject", s("string")),
                ("html", s("string")),
                ("text", s("string")),
                ("builtin", s("boolean")),
                ("created_at", s("string")),
            ]),
        ),
        (
            "TemplateBody",
            object(&[
                ("name", s("string")),
                ("kind", s("string")),
                ("subject", s("string")),
                ("html", s("string")),
                ("text", s("string")),
            ]),
        ),
        (
            "Campaign",
            object(&[
                ("name", s("string")),
                ("status", s("string")),
                ("owner", nullable("string")),
                ("lists", strings()),
                ("template", s("string")),
                ("subject", nullable("string")),
                ("from", s("string")),
                ("created_at", s("string")),
                ("send_at", nullable("string")),
                ("started_at", nullable("string")),
                ("finished_at", nullable("string")),
                ("recipients", s("integer")),
                ("queued", s("integer")),
                ("sending", s("integer")),
                ("sent", s("integer")),
                ("failed", s("integer")),
                ("in_doubt", s("integer")),
                ("skipped", s("integer")),
                ("bounced_hard", s("integer")),
                ("bounced_soft", s("integer")),
                ("complaints", s("integer")),
                ("unsubscribed", s("integer")),
                ("replies", s("integer")),
                ("opens", s("integer")),
                ("unique_opens", s("integer")),
                ("human_opens", s("integer")),
                ("clicks", s("integer")),
                ("unique_clicks", s("integer")),
                ("human_clicks", s("integer")),
                ("conversions", s("integer")),
                ("revenue", s("number")),
                (
                    "links",
                    json!({"type": "array", "items": object(&[
                        ("link", s("integer")),
                        ("url", s("string")),
                        ("clicks", s("integer")),
                        ("unique_clicks", s("integer")),
                        ("human_clicks", s("integer")),
                        ("conversions", s("integer")),
                        ("revenue", s("number")),
                    ])}),
                ),
            ]),
        ),
        (
            "ConversionBody",
            object(&[
                ("token", s("string")),
                ("value", s("number")),
                ("currency", s("string")),
                ("order_id", s("string")),
            ]),
        ),
        ("ConversionAnswer", object(&[("recorded", s("boolean"))])),
        (
            "CampaignBody",
            object(&[
                ("name", s("string")),
                ("lists", strings()),
                ("template", s("string")),
                ("subject", s("string")),
                ("from", s("string")),
                ("reply_to", s("string")),
                ("owner", s("string")),
                ("where", s("string")),
                ("at", s("string")),
                ("rate", s("integer")),
            ]),
        ),
        ("StartBody", object(&[("at", s("string"))])),
        (
            "RecipientRow",
            object(&[
                ("id", s("integer")),
                ("email", s("string")),
                ("state", s("string")),
                ("message_id", nullable("string")),
                ("sent_at", nullable("string")),
                ("error", nullable("string")),
                ("opened", s("boolean")),
                ("clicked", s("boolean")),
                ("bounced", s("boolean")),
            ]),
        ),
        (
            "Article",
            object(&[
                ("id", s("integer")),
                ("title", s("string")),
                ("body", s("string")),
                ("tags", strings()),
                ("public", s("boolean")),
                ("author", s("string")),
                ("created_at", s("string")),
                ("updated_at", s("string")),
                ("version", s("integer")),
            ]),
        ),
        (
            "ArticleBody",
            object(&[
                ("title", s("string")),
                ("body", s("string")),
                ("tags", strings()),
                ("public", s("boolean")),
            ]),
        ),
        (
            "ArticleDetail",
            object(&[
                ("article", json!({"$ref": "#/components/schemas/Article"})),
                (
                    "history",
                    json!({"type": "array", "items": {"$ref": "#/components/schemas/Article"}}),
                ),
            ]),
        ),
        (
            "KbHit",
            object(&[
                ("id", s("integer")),
                ("title", s("string")),
                ("score", s("number")),
            ]),
        ),
        ("Deleted", object(&[("deleted", s("boolean"))])),
        (
            "Transcript",
            object(&[
                ("subject", s("string")),
                ("text", s("string")),
                ("html", s("string")),
            ]),
        ),
        (
            "ReplyBody",
            object(&[
                ("body", s("string")),
                ("cc", strings()),
                ("as", s("string")),
            ]),
        ),
        (
            "ReplyAnswer",
            object(&[
                ("dr", s("string")),
                ("to", s("string")),
                ("subject", s("string")),
                ("message_id", s("string")),
                ("mail_type", nullable("string")),
            ]),
        ),
        (
            "AutoReplyRule",
            object(&[
                ("name", s("string")),
                ("template", s("string")),
                ("to", strings()),
                ("department", nullable("string")),
                ("subject_matches", nullable("string")),
                ("window_secs", s("integer")),
                ("position", s("integer")),
                ("created_at", s("string")),
                ("author", s("string")),
                ("error", nullable("string")),
            ]),
        ),
        (
            "RuleBody",
            object(&[
                ("name", s("string")),
                ("template", s("string")),
                ("to", strings()),
                ("department", s("string")),
                ("subject_matches", s("string")),
                ("window", s("string")),
            ]),
        ),
        ("Error", object(&[("error", s("string"))])),
        ("OpenApi", s("object")),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn response_schema(r: &str) -> Value {
    if let Some(item) = r.strip_prefix("Listing:") {
        let mut props = vec![
            (
                "items",
                json!({"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}}),
            ),
            ("next", nullable("integer")),
        ];
        if item == "DrRow" {
            props.push(("next_key", s("string")));
        }
        return object(&props);
    }
    if let Some(item) = r.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        return json!({"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}});
    }
    json!({"$ref": format!("#/components/schemas/{r}")})
}

/// The document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    let error = json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    for r in ROUTES {
        let params: Vec<Value> = r
            .params
            .iter()
            .map(|(name, place, desc)| {
                json!({
                    "name": name,
                    "in": match place { In::Path => "path", In::Query => "query" },
                    "required": matches!(place, In::Path) || (*name == "q"),
                    "description": desc,
                    "schema": {"type": if matches!(*name, "after" | "limit" | "days") { "integer" } else { "string" }},
                })
            })
            .collect();
        let mut op = json!({
            "summary": r.summary,
            "parameters": params,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": response_schema(r.response)}}},
                "400": error.clone(),
                "401": error.clone(),
                "403": error.clone(),
                "404": error.clone(),
            },
        });
        if let Some(b) = r.body {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{b}")}}}});
        }
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "etraq API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The etraq console's data as JSON. Field names are those of the CLI's --json output. Sign in with a session cookie or send Authorization: Bearer TOKEN (create tokens on the console's Password page or with `etraq token create`).",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": crate::auth::COOKIE},
            },
        },
    })
}
