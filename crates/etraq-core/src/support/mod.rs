//! Customer service, the pure parts and the store's part: [`ack`], the loop guard of
//! automatic acknowledgements (whether a customer's mail may be answered automatically at
//! all), and [`kb`], the knowledge base's articles and how a message becomes a search.

pub mod ack;
pub mod acknowledger;
pub mod autoreply;
pub mod kb;
pub mod reply;
mod store;
pub mod synonyms;
pub mod transcript;

pub use ack::{AckHeaders, AckHistory, AckLimits, Refusal, is_noreply, may_acknowledge};
pub use kb::{Article, ArticleInput, KbHit};
pub use store::SupportStore;
