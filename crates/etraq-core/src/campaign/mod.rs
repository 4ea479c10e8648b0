//! Campaigns: permission-based mass mail. So far the audience (lists, subscribers, the
//! blocklist), its CSV import and export, the [`CampaignStore`] sub-trait, and templates
//! rendered in a sandbox. Sending and tracking build on these.

mod audience;
mod bots;
mod confirm;
mod event;
mod growth;
mod hits;
mod import;
mod report;
mod run;
mod score;
mod store;
pub(crate) mod template;
mod token;
mod tracking;

pub use audience::{
    BlockEntry, BlockReason, Blocked, JoinAs, ListSummary, MAX_LIST_NAME, MailingList,
    MemberStatus, Membership, MergeOutcome, OptIn, Subscriber, SubscriberInput, check_list_name,
    is_blocked, list_key, receiving_list,
};
pub use bots::{BURST_CLICKS, BURST_WINDOW, BotFlag, BotRule, HitFacts, TOO_SOON, bot_reason};
pub use confirm::confirmation_message;
pub use event::{EventKind, SubscriberEvent, is_hard_bounce};
pub use growth::{GrowthDay, MAX_GROWTH_DAYS, MemberFact, growth};
pub use hits::{
    Hit, HitBucket, HitKind, HitOutcome, LinkStats, TrackingCounts, count_hits, hit_series,
};
pub use import::{CsvRows, MAX_COLUMNS, MAX_FIELD_BYTES, Row, RowError, write_csv};
pub use report::{
    Bounce, DsnAction, DsnRecipient, FeedbackReport, MAX_DSN_RECIPIENTS, MAX_REPORT_BYTES,
    MAX_STATUS_PART_BYTES, Report, classify_bounce, read_report,
};
pub use run::{
    Campaign, CampaignStatus, LEASE_SECONDS, Lease, MAX_ATTEMPTS, MAX_CAMPAIGN_NAME, Recipient,
    RecipientCounts, RecipientState, SendOutcome, Settled, after_attempt, campaign_key,
    check_campaign_name, claim, retry_delay,
};
pub use score::{Engagement, HALF_LIFE_DAYS, hit_points};
pub use store::{CampaignStore, SubscriberQuery, TrackLookup};
pub use template::{
    CustomerFacts, FUEL, MAX_TEMPLATE_BYTES, MergeData, Named, Rendered, Renderer, Segment,
    SubscriberFields, TEXT_WIDTH, Template, TemplateError, TemplateKind, builtin_templates,
    check_template_name,
};
pub use token::{Signer, TAG_BYTES, Token, TokenKind, list_tag, new_secret, random_hex};
pub use tracking::{HONEYPOT, MAX_LINKS, TrackUrls, links_in, track_links};
