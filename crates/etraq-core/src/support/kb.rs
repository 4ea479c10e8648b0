//! The knowledge base: articles agents write once and insert into replies, and that
//! acknowledgements offer customers as self-service answers.
//!
//! An [`Article`] is Markdown with a title, tags and a `public` flag (only public articles are
//! ever mailed to a customer). Search is full-text with bm25 over title, tags and body, done
//! by the store with the archive's engine (FTS5 with the Porter stemmer on SQLite, tantivy with
//! the English stemmer on sled). What the store is asked is a list of words: [`terms`] turns a
//! customer's message or a user's query into them, the same way for every store, so a long
//! mail with a greeting, a signature and quoted history asks only about what it says.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The most words a suggestion asks the index about: a long mail says what it is about in its
/// first lines, and every extra word costs an index lookup.
pub const MAX_TERMS: usize = 48;

/// The longest title.
pub const MAX_TITLE: usize = 200;

/// The largest body (Markdown), in bytes.
pub const MAX_BODY: usize = 256 * 1024;

/// The most tags on an article, and the longest tag.
pub const MAX_TAGS: usize = 20;
const MAX_TAG_LEN: usize = 40;

/// A knowledge-base article.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    /// Store-assigned id; 0 before insertion.
    pub id: u64,
    /// Its title: what a customer would ask, in a line.
    pub title: String,
    /// The answer, in Markdown.
    pub body: String,
    /// Tags, lower-case, each once.
    #[serde(default)]
    pub tags: Vec<String>,
    /// May be mailed to customers (in acknowledgements); private articles are for agents.
    #[serde(default)]
    pub public: bool,
    /// Who wrote this version (a login).
    pub author: String,
    /// When the article was first written.
    pub created_at: Timestamp,
    /// When this version was written.
    pub updated_at: Timestamp,
    /// 1 for the first version, +1 per change.
    pub version: u32,
}

/// One search answer: the contract row of `kb search --json` and `dr suggest --json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KbHit {
    /// The article's id.
    pub id: u64,
    /// Its title.
    pub title: String,
    /// Its relevance (higher is better; comparable within one answer only).
    pub score: f64,
}

/// What a user gives to write or change an article.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArticleInput {
    /// New title.
    pub title: Option<String>,
    /// New body.
    pub body: Option<String>,
    /// New tags (replacing the old ones).
    pub tags: Option<Vec<String>>,
    /// New public flag.
    pub public: Option<bool>,
}

impl ArticleInput {
    /// Applies the input to `article` (a new one when its id is 0), checking every field.
    pub fn apply(&self, mut article: Article, author: &str, now: Timestamp) -> Result<Article> {
        if let Some(t) = &self.title {
            article.title = t.trim().to_string();
        }
        if let Some(b) = &self.body {
            article.body = b.clone();
        }
        if let Some(tags) = &self.tags {
            article.tags = normalise_tags(tags)?;
        }
        if let Some(p) = self.public {
            article.public = p;
        }
        check(&article)?;
        article.author = author.to_string();
        article.updated_at = now;
        if article.id == 0 {
            article.created_at = now;
            article.version = 1;
        } else {
            article.version += 1;
        }
        Ok(article)
    }
}

/// A new, empty article (for [`ArticleInput::apply`]).
pub fn blank(now: Timestamp) -> Article {
    Article {
        id: 0,
        title: String::new(),
        body: String::new(),
        tags: Vec::new(),
        public: false,
        author: String::new(),
        created_at: now,
        updated_at: now,
        version: 0,
    }
}

/// Tags lower-cased, trimmed, each once, in the order given.
fn normalise_tags(tags: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = t.trim().to_lowercase();
        if t.is_empty() {
            continue;
        }
        if t.chars().count() > MAX_TAG_LEN || t.chars().any(|c| c.is_control()) {
            return Err(Error::InvalidField {
                field: "tag",
                reason: format!(
                    "{t:?} is not a tag (at most {MAX_TAG_LEN} characters, no control characters)"
                ),
            });
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(Error::InvalidField {
            field: "tag",
            reason: format!("an article has at most {MAX_TAGS} tags"),
        });
    }
    Ok(out)
}

/// Checks an article's fields.
pub fn check(a: &Article) -> Result<()> {
    if a.title.trim().is_empty() {
        return Err(Error::InvalidField {
            field: "title",
            reason: "an article needs a title".into(),
        });
    }
    if a.title.chars().count() > MAX_TITLE || a.title.chars().any(|c| c.is_control()) {
        return Err(Error::InvalidField {
            field: "title",
            reason: format!("a title is one line of at most {MAX_TITLE} characters"),
        });
    }
    if a.body.trim().is_empty() {
        return Err(Error::InvalidField {
            field: "body",
            reason: "an article needs a body".into(),
        });
    }
    if a.body.len() > MAX_BODY {
        return Err(Error::InvalidField {
            field: "body",
            reason: format!("the body is {} bytes; at most {MAX_BODY}", a.body.len()),
        });
    }
    Ok(())
}

/// Words that say nothing about what a message is about: English function words and the
/// greetings and sign-offs of mail. They are left out of a search, so they neither match
/// every article nor crowd out the words that matter.
const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "anyone",
    "anything",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "best",
    "between",
    "both",
    "but",
    "by",
    "can",
    "cannot",
    "could",
    "dear",
    "did",
    "do",
    "does",
    "doing",
    "done",
    "down",
    "during",
    "each",
    "else",
    "etc",
    "even",
    "ever",
    "every",
    "few",
    "for",
    "from",
    "further",
    "get",
    "gets",
    "getting",
    "got",
    "had",
    "has",
    "have",
    "having",
    "he",
    "hello",
    "her",
    "here",
    "hers",
    "herself",
    "hey",
    "hi",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "kind",
    "know",
    "let",
    "like",
    "me",
    "might",
    "more",
    "most",
    "much",
    "must",
    "my",
    "myself",
    "need",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "one",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "please",
    "pls",
    "re",
    "really",
    "regards",
    "same",
    "she",
    "should",
    "so",
    "some",
    "someone",
    "something",
    "still",
    "such",
    "sure",
    "team",
    "than",
    "thank",
    "thanks",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "thing",
    "things",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "us",
    "very",
    "want",
    "was",
    "way",
    "we",
    "were",
    "what",
    "when",
    "where",
    "whether",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "yes",
    "yet",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "fwd",
    "fw",
    "cheers",
    "best",
    "kindly",
    "tell",
    "wondering",
    "wonder",
    "anybody",
    "ok",
    "okay",
    "im",
    "ive",
    "dont",
    "doesnt",
    "didnt",
    "cant",
    "wont",
    "isnt",
    "youre",
    "id",
    "already",
    "ago",
    "anymore",
    "always",
    "never",
    "nothing",
    "back",
    "come",
    "comes",
    "came",
    "go",
    "goes",
    "going",
    "put",
    "say",
    "says",
    "said",
    "see",
    "seems",
    "try",
    "tried",
    "trying",
    "make",
    "made",
    "take",
    "took",
    "keep",
    "keeps",
    "today",
    "morning",
    "yesterday",
    "time",
    "times",
    "guess",
    "supposed",
    "normally",
    "usually",
    "stuff",
    "help",
    "hope",
    "since",
];

/// The customer's own words in a message: quoted lines (`>`) and everything after a
/// signature separator (`-- `) are somebody else's words or boilerplate.
fn own_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(64 * 1024));
    for line in text.lines() {
        if line == "-- " || line.trim_end() == "--" || out.len() > 64 * 1024 {
            break;
        }
        if line.trim_start().starts_with('>') {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The words of `text` worth searching for: letters and digits, lower-cased, apostrophes
/// dropped (`don't` → `dont`), without stopwords or one-letter words, each once, in order, at
/// most [`MAX_TERMS`]. Quoted lines and the signature are skipped.
pub fn terms(text: &str) -> Vec<String> {
    words_of(&own_text(text))
}

fn words_of(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’')) {
        let word: String = raw
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        if word.chars().count() < 2 || word.len() > 40 || STOPWORDS.contains(&word.as_str()) {
            continue;
        }
        if !out.contains(&word) {
            out.push(word);
            if out.len() == MAX_TERMS {
                break;
            }
        }
    }
    out
}

/// What a message asks the knowledge base: its [`terms`] and the words the support thesaurus
/// ([`crate::support::synonyms`]) adds for what it says in other words, at most
/// [`MAX_TERMS`] + 16. `extra` is the company's own thesaurus (`support.synonyms`).
pub fn query(text: &str, extra: &[(Vec<String>, Vec<String>)]) -> Vec<String> {
    let own = own_text(text);
    let mut words = words_of(&own);
    let added = crate::support::synonyms::expansions(&own, &words, extra);
    words.extend(added.into_iter().take(16));
    words
}

/// Below this many articles a search asks about every word it was given (the index is small, and
/// document frequencies mean little).
pub const PRUNE_FROM: u64 = 100;

/// The most words one search asks a full-text index about: each costs a walk of its postings
/// and a score per matching article, so a long customer mail must not ask about all of its
/// words.
pub const MAX_QUERY_TERMS: usize = 16;

/// Which words a knowledge-base search asks its index about, from `counted` (each word with
/// the number of articles it appears in, more than none, in the query's order) and the
/// article count: in a knowledge base of at least [`PRUNE_FROM`] articles, the words in more
/// than half of them go (their bm25 weight is nothing, and they cost the most to walk; unless
/// every word is such); of the rest, the [`MAX_QUERY_TERMS`] rarest, ties in query order. One
/// rule for every store.
pub fn rarest_terms<T>(counted: Vec<(u64, T)>, total: u64) -> Vec<T> {
    let mut counted = counted;
    if total >= PRUNE_FROM && counted.iter().any(|(df, _)| df * 2 <= total) {
        counted.retain(|(df, _)| df * 2 <= total);
    }
    counted.sort_by_key(|(df, _)| *df);
    counted.truncate(MAX_QUERY_TERMS);
    counted.into_iter().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rarest_words_are_asked_and_the_common_ones_dropped() {
        // A small knowledge base keeps every word, rarest first, ties in query order.
        assert_eq!(
            rarest_terms(vec![(3, "a"), (1, "b"), (1, "c")], 10),
            ["b", "c", "a"]
        );
        // A large one drops words in more than half of the articles …
        assert_eq!(
            rarest_terms(vec![(900, "the"), (4, "refund")], 1000),
            ["refund"]
        );
        // … unless nothing else is left.
        assert_eq!(rarest_terms(vec![(900, "the")], 1000), ["the"]);
        let many: Vec<(u64, usize)> = (0..40).map(|i| (i as u64 + 1, i)).collect();
        assert_eq!(rarest_terms(many, 1000).len(), MAX_QUERY_TERMS);
    }

    #[test]
    fn terms_keep_what_a_message_is_about() {
        let t = terms(
            "Hi team,\n\nI can't log in to my account since yesterday. Password reset doesn't arrive!\n\n> earlier quoted text about invoices\n-- \nAnn, ACME",
        );
        assert_eq!(t, ["log", "account", "password", "reset", "arrive"]);
    }

    #[test]
    fn a_query_adds_what_articles_call_it() {
        let q = query("I want my money back for the broken vase", &[]);
        assert!(q.contains(&"refund".to_string()), "{q:?}");
        assert!(q.contains(&"damaged".to_string()), "{q:?}");
        // Quoted text adds nothing.
        let q = query("Thanks!\n> send me the money back\n", &[]);
        assert!(!q.contains(&"refund".to_string()), "{q:?}");
        // A company's own entries.
        let extra = vec![(vec!["widget".to_string()], vec!["gadget".to_string()])];
        assert!(query("my widget", &extra).contains(&"gadget".to_string()));
    }

    #[test]
    fn terms_are_bounded_and_unique() {
        let text: String = (0..500).map(|i| format!("word{i} word{i} ")).collect();
        let t = terms(&text);
        assert_eq!(t.len(), MAX_TERMS);
        assert_eq!(t[0], "word0");
        assert!(terms("").is_empty());
        assert!(terms("the and of a").is_empty());
    }

    #[test]
    fn terms_fold_case_and_keep_letters_of_any_script() {
        assert_eq!(terms("Rückerstattung RÜCKERSTATTUNG"), ["rückerstattung"]);
        assert_eq!(
            terms("\"quoted\" OR NEAR(x) col:umn"),
            ["quoted", "near", "col", "umn"]
        );
    }

    #[test]
    fn an_article_needs_a_title_and_a_body_and_sane_tags() {
        let now = Timestamp::UNIX_EPOCH;
        let ok = ArticleInput {
            title: Some("  Reset your password ".into()),
            body: Some("Use the link.".into()),
            tags: Some(vec!["Login".into(), "login".into(), " ".into()]),
            public: Some(true),
        };
        let a = ok.apply(blank(now), "ann@example.com", now).unwrap();
        assert_eq!(a.title, "Reset your password");
        assert_eq!(a.tags, ["login"]);
        assert_eq!(a.version, 1);
        let b = ArticleInput {
            body: Some("Better".into()),
            ..ArticleInput::default()
        }
        .apply(Article { id: 7, ..a.clone() }, "bob@example.com", now)
        .unwrap();
        assert_eq!((b.version, b.author.as_str()), (2, "bob@example.com"));
        for bad in [
            ArticleInput {
                title: Some(" ".into()),
                ..ok.clone()
            },
            ArticleInput {
                body: Some("\n".into()),
                ..ok.clone()
            },
            ArticleInput {
                title: Some("a\nb".into()),
                ..ok.clone()
            },
            ArticleInput {
                tags: Some(vec!["x".repeat(41)]),
                ..ok.clone()
            },
            ArticleInput {
                body: Some("x".repeat(MAX_BODY + 1)),
                ..ok.clone()
            },
        ] {
            assert!(
                bad.apply(blank(now), "ann@example.com", now).is_err(),
                "{bad:?}"
            );
        }
    }
}
