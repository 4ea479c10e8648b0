//! Full-text search on PostgreSQL: a `tsvector` per mail, written in the mail's own transaction
//! (`mail_search`), with a GIN index over everything and one vector per field for `from:`,
//! `to:`, `subject:` and the ranking.
//!
//! Text is cut into words here, not by PostgreSQL's parser, so every store sees the same words:
//! accents folded ([`etraq_core::archive::fold`], `ß` kept), lower-cased, split at anything
//! that is not a letter or digit (as SQLite's `unicode61` does: `carol@cust.example` is the
//! words `carol`, `cust`, `example`, so `from:carol` finds it). The words go to the `simple`
//! configuration (no stemming, no stopwords, like the archive's other indexes). User text is
//! only ever a bound parameter of `phraseto_tsquery`, never query syntax.
//!
//! Ranking matches the SQLite store's: the newest matches (at least [`RANK_WINDOW`]) are scored
//! by where the query's words hit (subject 8, sender 3, recipients and attachment names 2,
//! anywhere 1), best first, then the newest.

use deadpool_postgres::GenericClient;
use etraq_core::Result;
use etraq_core::archive::{IndexDoc, SearchQuery, fold};
use tokio_postgres::types::ToSql;

use crate::rows::limit as lim;

/// How many of the newest matches a query ranks (at least; a deeper page widens it).
const RANK_WINDOW: usize = 2_000;

/// The ranking's weight of a word found in each field (a match anywhere counts 1).
const FIELD_WEIGHTS: [(&str, i32); 4] = [
    ("subject", 8),
    ("sender", 3),
    ("recipients", 2),
    ("attachments", 2),
];

/// `text` as the index's words, separated by spaces.
pub(crate) fn words(text: &str) -> String {
    let folded = fold(text).to_lowercase();
    let mut out = String::with_capacity(folded.len());
    for w in folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        // PostgreSQL refuses lexemes of 2 KiB and more; no one searches for those.
        .filter(|w| w.len() < 256)
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// The most positions PostgreSQL keeps of one lexeme, and the highest position.
const MAX_POSITIONS: usize = 256;
const MAX_POSITION: usize = 16_383;

/// `words` (space-separated, as [`words`] makes them) as a `tsvector` literal, numbering
/// positions from `first`; answers the literal and the next free position.
fn vector(words: &str, first: usize) -> (String, usize) {
    let mut at: std::collections::BTreeMap<&str, Vec<usize>> = std::collections::BTreeMap::new();
    let mut pos = first;
    for w in words.split(' ').filter(|w| !w.is_empty()) {
        let p = at.entry(w).or_default();
        let clamped = pos.min(MAX_POSITION);
        if p.len() < MAX_POSITIONS && p.last() != Some(&clamped) {
            p.push(clamped);
        }
        pos += 1;
    }
    let mut out = String::new();
    for (w, ps) in at {
        if !out.is_empty() {
            out.push(' ');
        }
        // Words are letters and digits only: nothing in them needs escaping.
        out.push('\'');
        out.push_str(w);
        out.push_str("':");
        for (i, p) in ps.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&p.to_string());
        }
    }
    (out, pos)
}

/// A mail's vectors: everything (its fields in turn: subject, sender, recipients, body,
/// attachment names), then subject, sender, recipients and attachment names alone.
pub(crate) fn vectors(d: &IndexDoc) -> [String; 5] {
    let fields = [
        words(&d.subject),
        words(&d.sender),
        words(&d.recipients),
        words(&d.body),
        words(&d.attachments),
    ];
    let mut all = String::new();
    for f in &fields {
        if !f.is_empty() {
            if !all.is_empty() {
                all.push(' ');
            }
            all.push_str(f);
        }
    }
    [
        vector(&all, 1).0,
        vector(&fields[0], 1).0,
        vector(&fields[1], 1).0,
        vector(&fields[2], 1).0,
        vector(&fields[4], 1).0,
    ]
}

/// A term's words as a phrase query (`'a' <-> 'b'`), built here like the vectors, so the
/// index and the query cut words the same way.
fn phrase(words: &str) -> String {
    words
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" <-> ")
}

/// A term's column: the field it is limited to, else everything.
fn column(field: Option<&str>) -> &'static str {
    match field {
        Some("subject") => "s.subject",
        Some("sender") => "s.sender",
        Some("recipients") => "s.recipients",
        _ => "s.everything",
    }
}

/// The mails matching `q`, best first, as `(seq, score)`.
pub(crate) async fn search<C: GenericClient>(
    c: &C,
    q: &SearchQuery,
    offset: usize,
    limit: usize,
) -> Result<Vec<(u64, f64)>> {
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut arg = |v: Box<dyn ToSql + Sync + Send>| {
        params.push(v);
        format!("${}", params.len())
    };
    let mut conds: Vec<String> = Vec::new();
    let mut score = String::from("1");
    let mut positive = false;
    for t in &q.terms {
        let text = words(&t.text);
        if text.is_empty() {
            if t.negated {
                continue;
            }
            // A word made only of punctuation matches nothing.
            return Ok(Vec::new());
        }
        let p = arg(Box::new(phrase(&text)));
        let tsq = format!("{p}::text::tsquery");
        let col = column(t.field);
        if t.negated {
            conds.push(format!("NOT ({col} @@ {tsq})"));
            continue;
        }
        positive = true;
        // The GIN index serves `everything`; a field's own vector then narrows.
        conds.push(format!("s.everything @@ {tsq}"));
        if t.field.is_some() {
            conds.push(format!("{col} @@ {tsq}"));
        } else {
            for (f, w) in FIELD_WEIGHTS {
                score.push_str(&format!(" + CASE WHEN s.{f} @@ {tsq} THEN {w} ELSE 0 END"));
            }
        }
    }
    if let Some(dr) = q.dr.and_then(|n| i64::try_from(n).ok()) {
        let p = arg(Box::new(dr));
        conds.push(format!("m.dr_number = {p}"));
    }
    if q.has_attachment {
        conds.push("m.has_attachment".into());
    }
    if let Some(t) = q.before {
        let p = arg(Box::new(t.as_second()));
        conds.push(format!("m.received_at < {p}"));
    }
    if let Some(t) = q.after {
        let p = arg(Box::new(t.as_second()));
        conds.push(format!("m.received_at >= {p}"));
    }
    let filter = if conds.is_empty() {
        "TRUE".to_string()
    } else {
        conds.join(" AND ")
    };
    let refs: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|b| b.as_ref() as &(dyn ToSql + Sync))
        .collect();
    if !positive {
        // Filters alone (and any `-word`s): the newest first.
        let sql = format!(
            "SELECT m.seq FROM mails m JOIN mail_search s ON s.seq = m.seq WHERE {filter}
             ORDER BY m.seq DESC LIMIT {} OFFSET {}",
            lim(limit),
            lim(offset)
        );
        let rows = c
            .query(&sql, &refs)
            .await
            .map_err(|e| crate::error::db_error("searching", &e))?;
        return Ok(rows
            .iter()
            .map(|r| (crate::rows::unsigned(r.get(0)), 0.0))
            .collect());
    }
    let window = RANK_WINDOW.max(offset.saturating_add(limit));
    let sql = format!(
        "SELECT m.seq, ({score})::float8 FROM mail_search s JOIN mails m ON m.seq = s.seq
         WHERE {filter} ORDER BY s.seq DESC LIMIT {}",
        lim(window)
    );
    let rows = c
        .query(&sql, &refs)
        .await
        .map_err(|e| crate::error::db_error("searching", &e))?;
    let mut scored: Vec<(u64, f64)> = rows
        .iter()
        .map(|r| (crate::rows::unsigned(r.get(0)), r.get(1)))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
    Ok(scored.into_iter().skip(offset).take(limit).collect())
}

#[cfg(test)]
mod tests {
    use super::words;

    #[test]
    fn vectors_and_phrases_are_literals_postgresql_reads() {
        let (v, next) = super::vector("parcel never arrived parcel", 1);
        assert_eq!(v, "'arrived':3 'never':2 'parcel':1,4");
        assert_eq!(next, 5);
        assert_eq!(super::phrase("order 1234"), "'order' <-> '1234'");
        let long = vec!["x"; 20_000].join(" ");
        let (v, _) = super::vector(&long, 1);
        assert_eq!(
            v.matches(',').count(),
            super::MAX_POSITIONS - 1,
            "positions are capped"
        );
    }

    #[test]
    fn words_are_folded_lowered_and_split_like_unicode61() {
        assert_eq!(
            words("Carol <carol@cust.example>"),
            "carol carol cust example"
        );
        assert_eq!(words("Grüße aus KÖLN!"), "gruße aus koln");
        assert_eq!(words("invoice-4711.pdf"), "invoice 4711 pdf");
        assert_eq!(words("«»…"), "");
    }
}
