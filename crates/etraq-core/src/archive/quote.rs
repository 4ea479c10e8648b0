//! Quoted history in a text body: the lines a reply quotes (`> …`), and everything after an
//! attribution line (`On … wrote:`) or an Outlook header block (`-----Original Message-----`),
//! so the console can fold them away and show the new text first.

/// A run of lines of a text body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Quoted history, not the sender's new words.
    pub quoted: bool,
    /// The lines, joined with `\n`.
    pub text: String,
}

fn starts_history(line: &str) -> bool {
    let t = line.trim();
    (t.starts_with("On ") && t.ends_with("wrote:"))
        || (t.starts_with("Am ") && t.ends_with("schrieb:"))
        || (t.starts_with("Le ") && t.ends_with("a écrit :"))
        || t.starts_with("-----Original Message-----")
        || t.starts_with("-----Ursprüngliche Nachricht-----")
}

/// The body as alternating new and quoted blocks, in order. Quoted: lines starting with `>`,
/// and everything from an attribution line or an "Original Message" line on.
pub fn quoted_blocks(text: &str) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut history = false;
    for line in text.lines() {
        history = history || starts_history(line);
        let quoted = history || line.trim_start().starts_with('>');
        match out.last_mut() {
            Some(b) if b.quoted == quoted => {
                b.text.push('\n');
                b.text.push_str(line);
            }
            _ => out.push(Block {
                quoted,
                text: line.to_string(),
            }),
        }
    }
    // A blank line between two quoted runs is no new text.
    out.retain(|b| b.quoted || !b.text.trim().is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_split_into_new_text_and_history() {
        let body = "Thanks, that worked.\n\nOn Mon, 1 Dec 2026, Sue <sue@example.com> wrote:\n> Try again.\n> Sue";
        let b = quoted_blocks(body);
        assert_eq!(b.len(), 2, "{b:?}");
        assert!(!b[0].quoted && b[0].text.starts_with("Thanks"));
        assert!(b[1].quoted && b[1].text.contains("Try again"));
    }

    #[test]
    fn interleaved_quotes_alternate() {
        let b = quoted_blocks("> question one\nanswer one\n> question two\nanswer two");
        let q: Vec<bool> = b.iter().map(|b| b.quoted).collect();
        assert_eq!(q, [true, false, true, false]);
    }

    #[test]
    fn outlook_history_is_quoted_and_plain_text_is_not() {
        let b = quoted_blocks("New\n-----Original Message-----\nFrom: x\nOld");
        assert_eq!(b.len(), 2);
        assert!(b[1].quoted && b[1].text.contains("Old"));
        assert_eq!(quoted_blocks("just text").len(), 1);
        assert!(quoted_blocks("").is_empty());
    }
}
