//! Customer service (acknowledgements, replies, the knowledge base, transcripts), the pure parts. So far: [`ack`], the loop guard of automatic
//! acknowledgements — whether a customer's mail may be answered automatically at all. Rules,
//! replies from etraq, the knowledge base and transcripts build on it.

pub mod ack;

pub use ack::{AckHeaders, AckHistory, AckLimits, Refusal, is_noreply, may_acknowledge};
