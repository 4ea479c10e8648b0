//! `[support]`: customer service — transcripts, the acknowledgement limits, the thesaurus of
//! suggestions.

use serde::{Deserialize, Serialize};

/// `[support]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupportConfig {
    /// Closing a DR mails the customer its transcript unless the closer says otherwise.
    pub transcript_on_close: bool,
    /// At most this many automatic acknowledgements to one sender a day, whatever the rules.
    pub autoreply_per_sender_per_day: u32,
    /// The company's own synonyms for suggestions: each entry is a list whose first element
    /// is what the articles call a thing and the rest what customers write for it
    /// (`[["refund", "money back", "reimburse"]]`).
    pub synonyms: Vec<Vec<String>>,
}

impl Default for SupportConfig {
    fn default() -> Self {
        SupportConfig {
            transcript_on_close: false,
            autoreply_per_sender_per_day: 3,
            synonyms: Vec::new(),
        }
    }
}

impl SupportConfig {
    /// Checks the values; the error names the key.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.autoreply_per_sender_per_day == 0 {
            return Err((
                "autoreply_per_sender_per_day".into(),
                "must be at least 1 (remove the rules to send no acknowledgements)".into(),
            ));
        }
        for (i, group) in self.synonyms.iter().enumerate() {
            if group.len() < 2 || group.iter().any(|w| w.trim().is_empty()) {
                return Err((
                    format!("synonyms[{i}]"),
                    "each entry lists the article's word first, then at least one other way to say it, none empty".into(),
                ));
            }
        }
        Ok(())
    }

    /// The synonyms as the suggestion query uses them: (triggers, words added).
    pub fn thesaurus(&self) -> Vec<(Vec<String>, Vec<String>)> {
        self.synonyms
            .iter()
            .filter_map(|g| {
                let (first, rest) = g.split_first()?;
                let first = first.trim().to_lowercase();
                let triggers = rest.iter().map(|w| w.trim().to_lowercase()).collect();
                Some((
                    triggers,
                    first.split_whitespace().map(str::to_string).collect(),
                ))
            })
            .collect()
    }
}
