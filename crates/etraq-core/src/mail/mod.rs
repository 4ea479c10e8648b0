//! Mail as it arrives: raw bytes parsed into the facts classification reads ([`ParsedMail`]),
//! strict Message-IDs ([`MessageId`]), the SMTP envelope, and the DR tag in subjects.

mod envelope;
mod message;
pub(crate) mod msgid;
mod subject;

pub use envelope::{Envelope, ResolvedEnvelope, ReversePath, unknown_sender};
pub use message::{AutoMarker, DERIVED_ID_DOMAIN, MAX_REFERENCES, MAX_SUBJECT_CHARS, ParsedMail};
pub use msgid::MessageId;
pub use subject::{
    add_tag, base_subject, find_tags, has_tag, is_forward_subject, leading_prefixes_len,
};
