//! Copying a whole store into another, of any backend (`etraq migrate`).
//!
//! A store is seen here as a fixed set of logical [`Table`]s whose [`Row`]s are the same in
//! every backend: a key, the record's stored JSON document (copied byte for byte, never decoded
//! and re-encoded) and, for mail, the raw message. Secondary indexes (the Message-ID and party
//! indexes, DR users, list members, full-text indexes) are not tables: each backend rebuilds its
//! own from the rows it imports, so a copy between backends loses nothing and carries nothing of
//! the source's layout.
//!
//! Ids are kept: a DR, a mail, an alert or a subscriber has the same number in the target, so
//! links, tokens in sent campaign mail and listings stay valid. After the last table
//! [`CopyStore::finish_import`] moves the target's id generators past the ids copied.
//!
//! Each table's [`Checksum`] adds up a hash of every row, so it does not depend on the order a
//! backend lists rows in: the copy is verified by exporting the target again and comparing count
//! and checksum table by table.

use async_trait::async_trait;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::Direction;

/// The logical tables, in copy order (a table's rows may refer to an earlier table's).
/// Serialised as its [`name`](Table::name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    /// The portable counters ([`COUNTERS`]): key = name, doc = the value in decimal.
    Counters,
    /// The key-value space (jobs, templates, console sessions, settings): doc = the value.
    Kv,
    /// Users: key = address.
    Users,
    /// DRs: key = number.
    Drs,
    /// Mail records: key = seq; the raw message rides along.
    Mails,
    /// The Message-ID index (only mail recorded with one): key = [`message_id_key`],
    /// doc = the seq in decimal.
    MessageIds,
    /// Response times: key = (`responded_at` as [`time_key`], number).
    Responses,
    /// Escalation cycles: key = id.
    Cycles,
    /// Alerts: key = id.
    Alerts,
    /// The gateway's delivery journal: key = id.
    Pending,
    /// etraq's own queued messages: key = id.
    Outbox,
    /// Mailing lists: key = the list's key.
    Lists,
    /// Subscribers (memberships included): key = id.
    Subscribers,
    /// The blocklist: key = the address or `@domain` key.
    Blocklist,
    /// Campaigns: key = id.
    Campaigns,
    /// Frozen campaign recipients: key = (campaign, id).
    Recipients,
    /// Subscriber events: key = (subscriber, number).
    Events,
    /// Campaign link books: key = (campaign, link number), doc = the URL.
    Links,
    /// Campaign hits: key = (campaign, number).
    Hits,
    /// Engagement scores: key = subscriber, doc = [`engagement_doc`].
    Engagement,
    /// Knowledge-base articles (their current version): key = id.
    KbArticles,
    /// Every version of every article: key = (article, version).
    KbHistory,
}

impl Table {
    /// Every table, in copy order.
    pub const ALL: [Table; 22] = [
        Table::Counters,
        Table::Kv,
        Table::Users,
        Table::Drs,
        Table::Mails,
        Table::MessageIds,
        Table::Responses,
        Table::Cycles,
        Table::Alerts,
        Table::Pending,
        Table::Outbox,
        Table::Lists,
        Table::Subscribers,
        Table::Blocklist,
        Table::Campaigns,
        Table::Recipients,
        Table::Events,
        Table::Links,
        Table::Hits,
        Table::Engagement,
        Table::KbArticles,
        Table::KbHistory,
    ];

    /// The table's name in progress lines and reports.
    pub fn name(self) -> &'static str {
        match self {
            Table::Counters => "counters",
            Table::Kv => "kv",
            Table::Users => "users",
            Table::Drs => "drs",
            Table::Mails => "mails",
            Table::MessageIds => "message_ids",
            Table::Responses => "responses",
            Table::Cycles => "cycles",
            Table::Alerts => "alerts",
            Table::Pending => "pending",
            Table::Outbox => "outbox",
            Table::Lists => "lists",
            Table::Subscribers => "subscribers",
            Table::Blocklist => "blocklist",
            Table::Campaigns => "campaigns",
            Table::Recipients => "recipients",
            Table::Events => "events",
            Table::Links => "campaign_links",
            Table::Hits => "hits",
            Table::Engagement => "engagement",
            Table::KbArticles => "kb_articles",
            Table::KbHistory => "kb_history",
        }
    }
}

impl Serialize for Table {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// The counters every backend keeps by these names: the last DR number handed out, and the
/// warnings and escalations raised so far. (A backend's own id generators are not copied; they
/// are moved past the copied ids instead.)
pub const COUNTERS: [&str; 3] = ["dr", "warned", "escalated"];

/// A row's key. Each table uses one form (see [`Table`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// A number: a DR number, a seq, an id.
    Num(u64),
    /// Two numbers: (campaign, recipient) and the like.
    Pair(u64, u64),
    /// A text: an address, a kv key, a list key.
    Text(String),
}

impl Key {
    /// The number of a [`Key::Num`], or an error naming `table`.
    pub fn num(&self, table: Table) -> Result<u64> {
        match self {
            Key::Num(n) => Ok(*n),
            other => Err(wrong_key(table, other)),
        }
    }

    /// The numbers of a [`Key::Pair`], or an error naming `table`.
    pub fn pair(&self, table: Table) -> Result<(u64, u64)> {
        match self {
            Key::Pair(a, b) => Ok((*a, *b)),
            other => Err(wrong_key(table, other)),
        }
    }

    /// The text of a [`Key::Text`], or an error naming `table`.
    pub fn text(&self, table: Table) -> Result<&str> {
        match self {
            Key::Text(t) => Ok(t),
            other => Err(wrong_key(table, other)),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            Key::Num(n) => format!("n{n}").into_bytes(),
            Key::Pair(a, b) => format!("p{a}/{b}").into_bytes(),
            Key::Text(t) => {
                let mut v = b"t".to_vec();
                v.extend_from_slice(t.as_bytes());
                v
            }
        }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Num(n) => write!(f, "{n}"),
            Key::Pair(a, b) => write!(f, "{a}/{b}"),
            Key::Text(t) => write!(f, "{:?}", t.replace('\0', " ")),
        }
    }
}

/// A row's document decoded as the record it holds; a row that does not decode is named by
/// table and key, with what is wrong, so a damaged source record can be found.
pub fn decode<T: serde::de::DeserializeOwned>(table: Table, row: &Row) -> Result<T> {
    serde_json::from_str(&row.doc).map_err(|e| {
        Error::Invalid(format!(
            "row {} of table {} is not a valid record: {e}",
            row.key,
            table.name()
        ))
    })
}

fn wrong_key(table: Table, key: &Key) -> Error {
    Error::Invalid(format!(
        "a row of {} has a key of the wrong form: {key:?}",
        table.name()
    ))
}

/// One record of a table, as every backend exports and imports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Where the record lies (its form depends on the table).
    pub key: Key,
    /// The stored JSON document (or the plain value of the tables that keep one).
    pub doc: String,
    /// The raw message of a mail record; `None` elsewhere.
    pub raw: Option<Vec<u8>>,
}

impl Row {
    /// A row without raw bytes.
    pub fn new(key: Key, doc: impl Into<String>) -> Row {
        Row {
            key,
            doc: doc.into(),
            raw: None,
        }
    }

    /// About the bytes the row holds.
    pub fn size(&self) -> usize {
        self.doc.len() + self.raw.as_ref().map_or(0, Vec::len) + 16
    }

    /// The document parsed as a number (counters, the Message-ID index), or an error naming
    /// `table`.
    pub fn doc_number(&self, table: Table) -> Result<u64> {
        self.doc.trim().parse().map_err(|_| {
            Error::Invalid(format!(
                "a row of {} holds {:?}, not a number",
                table.name(),
                self.doc
            ))
        })
    }
}

/// A store that can list every row of each [`Table`] and take rows into an empty store.
/// Every backend implements it; `etraq migrate` drives it through [`copy_table`].
#[async_trait]
pub trait CopyStore: Send + Sync {
    /// Up to `limit` rows of `table` after `after` (the key of the last row of the previous
    /// page; `None` for the first page), in the backend's own order.
    async fn export(&self, table: Table, after: Option<Key>, limit: usize) -> Result<Vec<Row>>;

    /// Writes `rows` (one page of an export) into `table` with the indexes they need, in one
    /// transaction. The store is expected to be empty of this table's keys.
    async fn import(&self, table: Table, rows: Vec<Row>) -> Result<()>;

    /// Runs once after the last table: moves id generators past the ids copied and brings
    /// derived indexes up to date, durably.
    async fn finish_import(&self) -> Result<()>;
}

/// An order-independent checksum of a table's rows: the wrapping sum of the first 16 bytes of
/// each row's SHA-256 (over its key, document and raw bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checksum {
    /// Rows added.
    pub rows: u64,
    sum: u128,
}

impl Checksum {
    /// Adds one row.
    pub fn add(&mut self, row: &Row) {
        let mut h = Sha256::new();
        h.update(row.key.bytes());
        h.update([0]);
        h.update(row.doc.as_bytes());
        h.update([0]);
        if let Some(raw) = &row.raw {
            h.update([1]);
            h.update(raw);
        }
        let digest = h.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        self.sum = self.sum.wrapping_add(u128::from_be_bytes(first));
        self.rows += 1;
    }

    /// The sum in hex, for reports.
    pub fn hex(&self) -> String {
        format!("{:032x}", self.sum)
    }
}

/// What copying one table did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableReport {
    /// The table.
    pub table: Table,
    /// Rows read from the source.
    pub rows: u64,
    /// The source's checksum.
    pub checksum: String,
    /// Whether the target, read back, has the same count and checksum.
    pub verified: bool,
}

/// Most rows per page of a copy: large enough that a transaction per page costs little.
pub const PAGE: usize = 500;

/// About the most bytes per page: a page of mail carries raw messages, so after each page the
/// next one's row count is cut to what fits in this at the rows' average size.
pub const PAGE_BYTES: usize = 16 << 20;

/// Walks a table page by page (see [`PAGE`], [`PAGE_BYTES`]).
struct Pager {
    table: Table,
    after: Option<Key>,
    limit: usize,
    done: bool,
}

impl Pager {
    fn new(table: Table) -> Pager {
        Pager {
            table,
            after: None,
            limit: PAGE,
            done: false,
        }
    }

    /// The next page, or `None` after the last.
    async fn next(&mut self, store: &dyn CopyStore) -> Result<Option<Vec<Row>>> {
        if self.done {
            return Ok(None);
        }
        let rows = store
            .export(self.table, self.after.take(), self.limit)
            .await?;
        self.done = rows.len() < self.limit;
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        self.after = Some(last.key.clone());
        let bytes: usize = rows.iter().map(Row::size).sum();
        self.limit = (PAGE_BYTES / (bytes / rows.len()).max(1)).clamp(1, PAGE);
        Ok(Some(rows))
    }
}

/// Whether `store` holds no row of any table (a copy refuses a target that does).
pub async fn first_nonempty(store: &dyn CopyStore) -> Result<Option<Table>> {
    for t in Table::ALL {
        if !store.export(t, None, 1).await?.is_empty() {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// Copies `table` from `from` to `to` page by page, calling `progress` with the rows copied
/// so far (and `false`), then reads the target back (calling `progress` with the rows read and
/// `true`) and compares count and checksum.
pub async fn copy_table(
    from: &dyn CopyStore,
    to: &dyn CopyStore,
    table: Table,
    progress: &(dyn Fn(u64, bool) + Send + Sync),
) -> Result<TableReport> {
    let mut source = Checksum::default();
    let mut pages = Pager::new(table);
    while let Some(rows) = pages.next(from).await? {
        rows.iter().for_each(|r| source.add(r));
        to.import(table, rows).await?;
        progress(source.rows, false);
    }
    let mut target = Checksum::default();
    let mut pages = Pager::new(table);
    while let Some(rows) = pages.next(to).await? {
        rows.iter().for_each(|r| target.add(r));
        progress(target.rows, true);
    }
    Ok(TableReport {
        table,
        rows: source.rows,
        checksum: source.hex(),
        verified: target == source,
    })
}

/// The key of a Message-ID index row: the Message-ID, NUL, the direction's name. (Message-IDs
/// never hold a NUL.)
pub fn message_id_key(message_id: &str, direction: Direction) -> String {
    format!("{message_id}\0{}", direction.as_str())
}

/// The Message-ID and direction of a [`message_id_key`].
pub fn split_message_id_key(key: &str) -> Result<(&str, Direction)> {
    key.rsplit_once('\0')
        .and_then(|(m, d)| Some((m, Direction::parse(d)?)))
        .ok_or_else(|| Error::Invalid(format!("{key:?} is not a Message-ID index key")))
}

/// Where an export of the Message-ID index resumes: the Message-ID and direction name of the
/// cursor, or the start (`""`, `""`, before every row).
pub fn message_id_cursor(after: Option<&Key>) -> Result<(String, &'static str)> {
    match after {
        Some(k) => {
            let (m, d) = split_message_id_key(k.text(Table::MessageIds)?)?;
            Ok((m.to_string(), d.as_str()))
        }
        None => Ok((String::new(), "")),
    }
}

/// Where an export of response times resumes: the cursor's `responded_at` seconds and number,
/// or the start (before every row).
pub fn response_cursor(after: Option<&Key>) -> Result<(i64, i64)> {
    match after {
        Some(k) => {
            let (t, n) = k.pair(Table::Responses)?;
            let n = i64::try_from(n)
                .map_err(|_| Error::Invalid(format!("response number {n} is out of range")))?;
            Ok((time_of_key(t), n))
        }
        None => Ok((i64::MIN, 0)),
    }
}

/// A signed time in seconds as an order-preserving unsigned number (the first half of a
/// response's key).
pub fn time_key(secs: i64) -> u64 {
    (secs as u64) ^ (1 << 63)
}

/// The seconds of a [`time_key`].
pub fn time_of_key(key: u64) -> i64 {
    (key ^ (1 << 63)) as i64
}

/// An engagement score as a row's document: thousandths of a point and the Unix second they
/// are as of.
pub fn engagement_doc(millis: u64, at: i64) -> String {
    format!("{millis} {at}")
}

/// The thousandths and seconds of an [`engagement_doc`].
pub fn parse_engagement_doc(doc: &str) -> Result<(u64, i64)> {
    doc.split_once(' ')
        .and_then(|(m, a)| Some((m.parse().ok()?, a.parse().ok()?)))
        .ok_or_else(|| Error::Invalid(format!("{doc:?} is not an engagement score")))
}

/// Where a table lies in the SQL stores (SQLite and PostgreSQL name their tables and columns
/// alike): the table, its key columns in order, and the expression of its document. `None` for
/// the tables each SQL store exports in its own way (mail with its raw message, the Message-ID
/// index, response times).
#[derive(Clone, Copy, Debug)]
pub struct SqlLayout {
    /// The SQL table.
    pub table: &'static str,
    /// The key columns (one, or two for [`Key::Pair`] tables).
    pub key: &'static [&'static str],
    /// Whether the key is text.
    pub text_key: bool,
    /// The document's column or expression.
    pub doc: &'static str,
    /// A condition on the rows exported, if any.
    pub filter: Option<&'static str>,
}

impl Table {
    /// The table's [`SqlLayout`], for the tables exported as plain key and document.
    pub fn sql_layout(self) -> Option<SqlLayout> {
        let (table, key, text_key, doc): (_, &'static [&'static str], _, _) = match self {
            Table::Counters => ("counters", &["name"], true, "CAST(value AS TEXT)"),
            Table::Kv => ("kv", &["key"], true, "value"),
            Table::Users => ("users", &["email"], true, "data"),
            Table::Drs => ("drs", &["number"], false, "data"),
            Table::Cycles => ("cycles", &["id"], false, "data"),
            Table::Alerts => ("alerts", &["id"], false, "data"),
            Table::Pending => ("pending", &["id"], false, "data"),
            Table::Outbox => ("outbox", &["id"], false, "data"),
            Table::Lists => ("lists", &["key"], true, "data"),
            Table::Subscribers => ("subscribers", &["id"], false, "data"),
            Table::Blocklist => ("blocklist", &["address"], true, "data"),
            Table::Campaigns => ("campaigns", &["id"], false, "data"),
            Table::Recipients => ("recipients", &["campaign", "id"], false, "data"),
            Table::Events => ("events", &["subscriber", "n"], false, "data"),
            Table::Links => ("campaign_links", &["campaign", "n"], false, "url"),
            Table::Hits => ("hits", &["campaign", "n"], false, "data"),
            Table::Engagement => (
                "engagement",
                &["subscriber"],
                false,
                "CAST(millis AS TEXT) || ' ' || CAST(at AS TEXT)",
            ),
            Table::KbArticles => ("kb_articles", &["id"], false, "data"),
            Table::KbHistory => ("kb_history", &["article", "version"], false, "data"),
            Table::Mails | Table::MessageIds | Table::Responses => return None,
        };
        Some(SqlLayout {
            table,
            key,
            text_key,
            doc,
            filter: matches!(self, Table::Counters)
                .then_some("name IN ('dr', 'warned', 'escalated')"),
        })
    }
}

impl SqlLayout {
    /// The export query: key columns and document, in key order, after the cursor unless
    /// `first` (parameters 1… are the cursor's parts, the last one the limit). `param` writes
    /// the n-th parameter (`?1` or `$1`); `collate` follows each text key column (PostgreSQL
    /// sorts bytewise with `COLLATE "C"`).
    pub fn export_sql(&self, first: bool, param: fn(usize) -> String, collate: &str) -> String {
        let cols: Vec<String> = self
            .key
            .iter()
            .map(|c| {
                if self.text_key {
                    format!("{c} {collate}")
                } else {
                    (*c).to_string()
                }
            })
            .collect();
        let mut conds: Vec<String> = self.filter.iter().map(|f| f.to_string()).collect();
        let mut n = 0;
        if !first {
            let ps: Vec<String> = (1..=cols.len()).map(param).collect();
            n = cols.len();
            conds.push(format!("({}) > ({})", cols.join(", "), ps.join(", ")));
        }
        let wh = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        format!(
            "SELECT {}, {} FROM {}{wh} ORDER BY {} LIMIT {}",
            self.key.join(", "),
            self.doc,
            self.table,
            cols.join(", "),
            param(n + 1)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_ignore_order_but_not_content() {
        let a = Row::new(Key::Num(1), "{\"a\":1}");
        let b = Row::new(Key::Num(2), "{\"a\":2}");
        let (mut x, mut y) = (Checksum::default(), Checksum::default());
        x.add(&a);
        x.add(&b);
        y.add(&b);
        y.add(&a);
        assert_eq!(x, y);
        let mut z = Checksum::default();
        z.add(&a);
        z.add(&Row::new(Key::Num(2), "{\"a\":3}"));
        assert_ne!(x, z);
        let mut w = Checksum::default();
        w.add(&a);
        w.add(&Row::new(Key::Num(3), "{\"a\":2}"));
        assert_ne!(x, w, "the key counts");
    }

    #[test]
    fn the_sql_counter_filter_names_the_portable_counters() {
        let filter = Table::Counters
            .sql_layout()
            .and_then(|l| l.filter)
            .unwrap_or("");
        for c in COUNTERS {
            assert!(
                filter.contains(&format!("'{c}'")),
                "{c} missing from {filter}"
            );
        }
        assert_eq!(filter.matches('\'').count(), 2 * COUNTERS.len());
    }

    #[test]
    fn keys_round_trip() {
        let k = message_id_key("a@b", Direction::Outbound);
        assert_eq!(
            split_message_id_key(&k).ok(),
            Some(("a@b", Direction::Outbound))
        );
        assert!(split_message_id_key("nonsense").is_err());
        for s in [-5, 0, 1_700_000_000] {
            assert_eq!(time_of_key(time_key(s)), s);
        }
        assert!(time_key(-1) < time_key(0));
        assert_eq!(
            parse_engagement_doc(&engagement_doc(1500, -3)).ok(),
            Some((1500, -3))
        );
    }
}
