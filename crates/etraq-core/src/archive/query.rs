//! The search query language (the contract): words (all must match), `"a phrase"`, `-word`,
//! `from:`, `to:`, `subject:`, `dr:ID`, `has:attachment`, `before:DATE`, `after:DATE`. Parsed
//! into a [`SearchQuery`] every store reads the same way. Never fails on odd input: an
//! unbalanced quote ends at the end of the query, syntax characters are just characters (every
//! term is quoted before it reaches a full-text engine); only too many terms, a bad date or an
//! unknown operator are errors, with words for people.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// The most terms a query may have.
pub const MAX_TERMS: usize = 32;

/// The longest term kept (characters).
pub const MAX_TERM_CHARS: usize = 100;

/// One condition on the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    /// Which field: `None` any, else `subject`, `sender` or `recipients`.
    pub field: Option<&'static str>,
    /// The words (a phrase when several).
    pub text: String,
    /// `-word`: must not match.
    pub negated: bool,
}

/// A parsed query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// Conditions on the text, all of which must hold.
    pub terms: Vec<Term>,
    /// `dr:ID`: only mail of this DR (its number).
    pub dr: Option<u64>,
    /// `has:attachment`.
    pub has_attachment: bool,
    /// `before:DATE`: received before the start of that day (in the configured time zone).
    pub before: Option<Timestamp>,
    /// `after:DATE`: received on or after the start of that day.
    pub after: Option<Timestamp>,
}

/// Why a query was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// More than [`MAX_TERMS`] terms.
    #[error("the query has {0} terms; at most {MAX_TERMS} are searched")]
    TooManyTerms(usize),
    /// A date that is not `YYYY-MM-DD`.
    #[error("{0:?} is not a date such as 2026-12-04")]
    BadDate(String),
    /// A `dr:` that is not a DR id or number.
    #[error("{0:?} is not a DR id such as SUPP-12042026.42")]
    BadDr(String),
    /// An operator that does not exist (`has:` takes only `attachment`).
    #[error(
        "unknown search operator {0:?}: from:, to:, subject:, dr:, has:attachment, before:, after:"
    )]
    UnknownOperator(String),
    /// Nothing to search for.
    #[error("the query is empty")]
    Empty,
}

impl SearchQuery {
    /// The positive words, for snippets.
    pub fn words(&self) -> Vec<String> {
        self.terms
            .iter()
            .filter(|t| !t.negated)
            .flat_map(|t| t.text.split_whitespace().map(str::to_string))
            .collect()
    }

    /// Whether a text condition must hold (else only filters: the newest mail first).
    pub fn has_text(&self) -> bool {
        self.terms.iter().any(|t| !t.negated)
    }

    /// The FTS5 `MATCH` expression over the columns `subject, sender, recipients, body,
    /// attachments`: every term a quoted string (its own `"` doubled), so no user text is
    /// FTS syntax. `None` when there is no positive term (FTS5 cannot match "NOT x" alone).
    pub fn fts5(&self) -> Option<String> {
        if !self.has_text() {
            return None;
        }
        let q = |t: &Term| {
            let s = format!("\"{}\"", t.text.replace('"', "\"\""));
            match t.field {
                Some(f) => format!("{f} : {s}"),
                None => s,
            }
        };
        let pos: Vec<String> = self.terms.iter().filter(|t| !t.negated).map(q).collect();
        let neg: Vec<String> = self.terms.iter().filter(|t| t.negated).map(q).collect();
        let mut e = pos.join(" AND ");
        for n in neg {
            e = format!("({e}) NOT {n}");
        }
        Some(e)
    }
}

impl SearchQuery {
    /// For a query without a positive word: the FTS5 expression matching any of its `-word`s
    /// (quoted like [`SearchQuery::fts5`]), whose mail the filters' listing leaves out.
    pub fn fts5_excluded(&self) -> Option<String> {
        if self.has_text() {
            return None;
        }
        let neg: Vec<String> = self
            .terms
            .iter()
            .filter(|t| t.negated)
            .map(|t| {
                let s = format!("\"{}\"", t.text.replace('"', "\"\""));
                match t.field {
                    Some(f) => format!("{f} : {s}"),
                    None => s,
                }
            })
            .collect();
        (!neg.is_empty()).then(|| neg.join(" OR "))
    }
}

/// The start of day `text` (`YYYY-MM-DD`) in `tz`: what `before:`/`after:` (and `archive
/// export --since/--until`) mean by a day.
pub fn day_start(text: &str, tz: &TimeZone) -> Result<Timestamp, QueryError> {
    let d: Date = text
        .parse()
        .map_err(|_| QueryError::BadDate(text.to_string()))?;
    d.to_zoned_datetime(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|_| QueryError::BadDate(text.to_string()))
}

/// Splits the query into tokens: a quoted run (to its closing quote, or the end) is one token,
/// and `op:"a phrase"` keeps its phrase.
fn tokens(q: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut in_quote = false;
    for c in q.chars() {
        match c {
            '"' if in_quote => {
                in_quote = false;
            }
            '"' => {
                in_quote = true;
                quoted = true;
            }
            c if c.is_whitespace() && !in_quote => {
                if !cur.is_empty() {
                    out.push((quoted, std::mem::take(&mut cur)));
                }
                quoted = false;
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push((quoted, cur));
    }
    out
}

/// Parses a query; `tz` says when a `before:`/`after:` day starts.
pub fn parse_query(q: &str, tz: &TimeZone) -> Result<SearchQuery, QueryError> {
    let toks = tokens(q);
    if toks.len() > MAX_TERMS {
        return Err(QueryError::TooManyTerms(toks.len()));
    }
    let mut out = SearchQuery::default();
    for (_quoted, tok) in toks {
        let (negated, tok) = match tok.strip_prefix('-') {
            Some(rest) if !rest.is_empty() => (true, rest.to_string()),
            _ => (false, tok),
        };
        let (op, value) = match tok.split_once(':') {
            Some((op, v)) if !v.is_empty() && op.chars().all(|c| c.is_ascii_alphabetic()) => {
                (Some(op.to_ascii_lowercase()), v.to_string())
            }
            _ => (None, tok.clone()),
        };
        let field = match op.as_deref() {
            None => None,
            Some("from") => Some("sender"),
            Some("to") => Some("recipients"),
            Some("subject") => Some("subject"),
            Some("dr") => {
                let n = value
                    .rsplit('.')
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .ok_or_else(|| QueryError::BadDr(value.clone()))?;
                out.dr = Some(n);
                continue;
            }
            Some("has") if value.eq_ignore_ascii_case("attachment") => {
                out.has_attachment = true;
                continue;
            }
            Some("before") => {
                out.before = Some(day_start(&value, tz)?);
                continue;
            }
            Some("after") => {
                out.after = Some(day_start(&value, tz)?);
                continue;
            }
            // `http://…` or `note:` in a word is text, not an operator.
            Some("http" | "https" | "mailto") => None,
            Some(o) => return Err(QueryError::UnknownOperator(format!("{o}:"))),
        };
        let text: String = (if field.is_none() && op.is_some() {
            tok
        } else {
            value
        })
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_TERM_CHARS)
        .collect();
        if text.trim().is_empty() {
            continue;
        }
        out.terms.push(Term {
            field,
            text,
            negated,
        });
    }
    if out.terms.is_empty()
        && out.dr.is_none()
        && !out.has_attachment
        && out.before.is_none()
        && out.after.is_none()
    {
        return Err(QueryError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(q: &str) -> SearchQuery {
        parse_query(q, &TimeZone::UTC).unwrap()
    }

    #[test]
    fn words_phrases_negations_and_fields() {
        let q = p("parcel \"never arrived\" -refund from:carol subject:order");
        assert_eq!(
            q.fts5().unwrap(),
            "(\"parcel\" AND \"never arrived\" AND sender : \"carol\" AND subject : \"order\") NOT \"refund\""
        );
        assert_eq!(q.words(), ["parcel", "never", "arrived", "carol", "order"]);
        let q = p("to:\"ann@example.com\"");
        assert_eq!(q.fts5().unwrap(), "recipients : \"ann@example.com\"");
    }

    #[test]
    fn filters() {
        let q = p("dr:SUPP-12042026.42 has:attachment after:2026-12-01 before:2026-12-04");
        assert_eq!(q.dr, Some(42));
        assert!(q.has_attachment && !q.has_text() && q.fts5().is_none());
        assert_eq!(q.after.unwrap().to_string(), "2026-12-01T00:00:00Z");
        assert_eq!(q.before.unwrap().to_string(), "2026-12-04T00:00:00Z");
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let q = parse_query("after:2026-12-01", &berlin).unwrap();
        assert_eq!(q.after.unwrap().to_string(), "2026-11-30T23:00:00Z");
    }

    #[test]
    fn syntax_characters_are_text() {
        // FTS5 syntax in user input stays inside a quoted string.
        let q = p("NEAR(a b) OR x* ^y \"unbalanced");
        let e = q.fts5().unwrap();
        assert!(
            e.contains("\"NEAR(a\"") && e.contains("\"x*\"") && e.contains("\"unbalanced\""),
            "{e}"
        );
        assert_eq!(p("say \"\"\"hi").terms.len(), 2);
        let q = p("a\"b");
        assert!(q.fts5().unwrap().contains("\"ab\""), "{:?}", q.fts5());
        // A URL is a word, not an operator.
        assert!(p("https://shop.example/x").has_text());
    }

    #[test]
    fn bad_queries_say_why() {
        let many = vec!["w"; 10_000].join(" ");
        assert_eq!(
            parse_query(&many, &TimeZone::UTC),
            Err(QueryError::TooManyTerms(10_000))
        );
        assert!(matches!(
            parse_query("before:yesterday", &TimeZone::UTC),
            Err(QueryError::BadDate(_))
        ));
        assert!(matches!(
            parse_query("has:pdf", &TimeZone::UTC),
            Err(QueryError::UnknownOperator(_))
        ));
        assert!(matches!(
            parse_query("color:red", &TimeZone::UTC),
            Err(QueryError::UnknownOperator(_))
        ));
        assert_eq!(parse_query("   ", &TimeZone::UTC), Err(QueryError::Empty));
        assert!(matches!(
            parse_query("dr:nope", &TimeZone::UTC),
            Err(QueryError::BadDr(_))
        ));
    }
}
