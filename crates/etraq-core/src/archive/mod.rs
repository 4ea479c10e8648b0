//! The archive: what the recorded raw messages are for people. So far, reading one message
//! ([`read_message`]: its text, its HTML as written (the console sanitises it), its
//! attachments with safe names) and telling quoted history from the new text
//! ([`quoted_blocks`]); what search indexes of a mail ([`index_doc`]) and the query language
//! ([`parse_query`]). Export builds on these.

mod body;
mod index;
pub mod mbox;
mod query;
mod quote;

pub use body::{
    Attachment, MAX_NAME_CHARS, MessageBody, attachment_bytes, inline_image, read_message,
    safe_file_name,
};
pub use index::{IndexDoc, MAX_INDEXED_BODY, fold, index_doc, snippet};
pub use query::{MAX_TERM_CHARS, MAX_TERMS, QueryError, SearchQuery, Term, day_start, parse_query};
pub use quote::{Block, quoted_blocks};
