//! The use cases: every action a user or a schedule takes, as one function each, on [`App`].
//! The web pages, the JSON API and the CLI call these and only parse, call and format; the
//! checks — who may (through [`crate::access::Actor`]), within which limits, on which input —
//! are made here, once.

mod alerts;
mod app;
mod audience;
mod bounces;
mod campaigns;
mod control;
mod drs;
mod escalate;
mod jobs;
mod logs;
mod mails;
mod queries;
mod reports;
mod stats;
mod subscribe;
mod support;
mod templates;
mod tracking;
mod users;

pub use app::App;
pub use audience::{
    Audience, AudienceCursor, IMPORT_BATCH, ImportReport, ListSettings, MAX_REPORTED_ERRORS,
    SubscriberDetail,
};
pub use bounces::{OwnMail, OwnMailOutcome};
pub use campaigns::{
    CampaignAction, CampaignDraft, NextStep, OutgoingMail, SendContext, SendSettings,
    TRIAL_RECIPIENTS, UnsubscribeTarget, campaign_record,
};
pub use control::restart_keys;
pub use drs::{DrFilter, DrPage, MAX_THREAD, PageRequest};
pub use escalate::{CycleReport, Escalator, Notifier, NotifyReport};
pub use mails::{ExportFilter, MAX_SEARCH_SCAN};
pub use queries::UnrepliedQuery;
pub use stats::{DurationStats, UserResponses, VolumeDay, response_times, volume_by_day};
pub use subscribe::{CONFIRM_KIND, ConfirmTarget, Subscribed};
pub use support::{
    ArticleDetail, ReplyDraft, ReplyInput, ReplySent, RuleInput, SUGGESTIONS, SupportPanel,
};
pub use templates::Preview;
pub use tracking::{LinkBook, Purchase, Visit, with_conversion_param};
pub use users::{MAX_NAME_CHARS, user_problems};
