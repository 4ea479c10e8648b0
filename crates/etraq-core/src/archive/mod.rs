//! The archive: what the recorded raw messages are for people. So far, reading one message
//! ([`read_message`]: its text, its HTML as written (the console sanitises it), its
//! attachments with safe names) and telling quoted history from the new text
//! ([`quoted_blocks`]). Search and export build on these.

mod body;
mod quote;

pub use body::{
    Attachment, MAX_NAME_CHARS, MessageBody, attachment_bytes, inline_image, read_message,
    safe_file_name,
};
pub use quote::{Block, quoted_blocks};
