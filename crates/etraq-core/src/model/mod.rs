//! The domain model (docs/tracking.md): users, Discussion Reports, mail records and decisions.
//!
//! The string forms of [`MailType`], [`UntrackedReason`], [`DrStatus`] and [`Direction`] are
//! contract: they appear in JSON output and users' scripts match on them.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::address::EmailAddress;
use crate::mail::MessageId;

mod dr_id;
mod page;

pub use dr_id::{DrId, MAX_PREFIX_LEN, valid_prefix};
pub use page::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, page_size};

/// What a user may see and do in the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees the DRs they own or are CC'd on.
    #[default]
    Agent,
    /// Sees their department.
    Supervisor,
    /// Sees everything, plus configuration and users.
    Admin,
}

impl Role {
    /// The contract spelling (`agent`, `supervisor`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    /// Parses the contract spelling, case-insensitively.
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "agent" => Some(Role::Agent),
            "supervisor" => Some(Role::Supervisor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An employee registered in etraq.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user's mail address (a local address); the user's key.
    pub email: EmailAddress,
    /// Display name.
    pub name: String,
    /// Department; its prefix (if configured) starts the ids of DRs this user owns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// The user's supervisor, to whom escalations go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor: Option<EmailAddress>,
    /// Console role.
    #[serde(default)]
    pub role: Role,
    /// Whether mail to this user is tracked.
    pub tracking: bool,
    /// Whether escalation alerts are mailed to this user (they are recorded either way).
    #[serde(default = "yes")]
    pub alerts: bool,
}

fn yes() -> bool {
    true
}

impl Dr {
    /// The users the DR involves: its owner and its CC users, each once. A console user sees a
    /// DR when one of these is in their scope.
    pub fn users(&self) -> Vec<&EmailAddress> {
        let mut all: Vec<&EmailAddress> = std::iter::once(&self.owner)
            .chain(self.cc_users.iter())
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

impl User {
    /// A user with defaults: role agent, tracking on, no department or supervisor.
    pub fn new(email: EmailAddress, name: impl Into<String>) -> Self {
        User {
            email,
            name: name.into(),
            department: None,
            supervisor: None,
            role: Role::Agent,
            tracking: true,
            alerts: true,
        }
    }
}

/// The state of a DR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DrStatus {
    /// The customer awaits us.
    Open,
    /// We await the customer.
    Replied,
    /// Done; a customer reply reopens it.
    Closed,
}

impl DrStatus {
    /// The contract spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DrStatus::Open => "open",
            DrStatus::Replied => "replied",
            DrStatus::Closed => "closed",
        }
    }

    /// Parses the contract spelling, case-insensitively.
    pub fn parse(s: &str) -> Option<DrStatus> {
        match s.trim().to_ascii_lowercase().as_str() {
            "open" => Some(DrStatus::Open),
            "replied" => Some(DrStatus::Replied),
            "closed" => Some(DrStatus::Closed),
            _ => None,
        }
    }

    /// All statuses, in display order.
    pub const ALL: [DrStatus; 3] = [DrStatus::Open, DrStatus::Replied, DrStatus::Closed];
}

impl fmt::Display for DrStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which way a mail crosses the company boundary.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From a customer to the company.
    #[default]
    Inbound,
    /// From the company to a customer.
    Outbound,
    /// Between local addresses only.
    Internal,
    /// Neither side local (relayed for authorised clients only).
    External,
}

impl Direction {
    /// The contract spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Internal => "internal",
            Direction::External => "external",
        }
    }

    /// Parses the contract spelling.
    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "inbound" => Some(Direction::Inbound),
            "outbound" => Some(Direction::Outbound),
            "internal" => Some(Direction::Internal),
            "external" => Some(Direction::External),
            _ => None,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The type of a tracked mail (seed "Mail type" column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MailType {
    /// A customer's mail: a new DR or a further message on one.
    #[serde(rename = "Normal Mail")]
    Normal,
    /// An employee's reply to the customer.
    #[serde(rename = "Replied Mail")]
    Replied,
    /// A DR forwarded to a colleague, who becomes the owner.
    #[serde(rename = "Forwarded")]
    Forwarded,
    /// An internal mail about a DR that is not a forward.
    #[serde(rename = "Internal Note")]
    InternalNote,
    /// etraq's automatic acknowledgement of a customer's first mail: recorded on the DR, but
    /// not a response (no timer moves).
    #[serde(rename = "Auto Reply")]
    AutoReply,
}

impl MailType {
    /// The contract spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MailType::Normal => "Normal Mail",
            MailType::Replied => "Replied Mail",
            MailType::Forwarded => "Forwarded",
            MailType::InternalNote => "Internal Note",
            MailType::AutoReply => "Auto Reply",
        }
    }
}

impl fmt::Display for MailType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a mail is not tracked (seed "Reason" column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UntrackedReason {
    /// Its Message-ID was already recorded in the same direction.
    Duplicate,
    /// An automatic mail (auto-reply, list mail, our own alert …).
    #[serde(rename = "Auto-generated")]
    AutoGenerated,
    /// A delivery status notification.
    Bounce,
    /// The sender is on `tracking.exclude_senders`.
    #[serde(rename = "Excluded Sender")]
    ExcludedSender,
    /// No local recipient has tracking on.
    #[serde(rename = "Tracking Disabled For Recipient")]
    TrackingDisabled,
    /// An employee's new mail to a customer; recorded so a reply threads to it.
    #[serde(rename = "Outbound New Mail")]
    OutboundNewMail,
    /// Local to local, about no DR.
    #[serde(rename = "Local Email")]
    LocalEmail,
    /// Neither side is local.
    #[serde(rename = "Not Local")]
    NotLocal,
    /// A campaign's mail to a subscriber, sent by etraq itself; recorded so a reply threads
    /// to it and the customer's history shows it.
    #[serde(rename = "Campaign Mail")]
    CampaignMail,
}

impl UntrackedReason {
    /// The contract spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            UntrackedReason::Duplicate => "Duplicate",
            UntrackedReason::AutoGenerated => "Auto-generated",
            UntrackedReason::Bounce => "Bounce",
            UntrackedReason::ExcludedSender => "Excluded Sender",
            UntrackedReason::TrackingDisabled => "Tracking Disabled For Recipient",
            UntrackedReason::OutboundNewMail => "Outbound New Mail",
            UntrackedReason::LocalEmail => "Local Email",
            UntrackedReason::NotLocal => "Not Local",
            UntrackedReason::CampaignMail => "Campaign Mail",
        }
    }
}

impl fmt::Display for UntrackedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one decision every mail gets: tracked with a mail type, or untracked with a reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "lowercase")]
pub enum Decision {
    /// Tracked on a DR.
    Tracked {
        /// Its type.
        mail_type: MailType,
    },
    /// Not tracked.
    Untracked {
        /// Why.
        reason: UntrackedReason,
    },
}

impl Decision {
    /// True for tracked mail.
    pub fn is_tracked(&self) -> bool {
        matches!(self, Decision::Tracked { .. })
    }

    /// The mail type, for tracked mail.
    pub fn mail_type(&self) -> Option<MailType> {
        match self {
            Decision::Tracked { mail_type } => Some(*mail_type),
            Decision::Untracked { .. } => None,
        }
    }

    /// The reason, for untracked mail.
    pub fn reason(&self) -> Option<UntrackedReason> {
        match self {
            Decision::Untracked { reason } => Some(*reason),
            Decision::Tracked { .. } => None,
        }
    }

    /// `tracked` or `untracked` (the contract `decision` field).
    pub fn kind(&self) -> &'static str {
        if self.is_tracked() {
            "tracked"
        } else {
            "untracked"
        }
    }
}

/// A Discussion Report: one customer conversation with an owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dr {
    /// `PREFIX-MMDDYYYY.N`.
    pub id: DrId,
    /// The employee responsible.
    pub owner: EmailAddress,
    /// Other employees who follow it.
    pub cc_users: Vec<EmailAddress>,
    /// The customer who started it (or who answered an employee's first mail).
    pub customer: EmailAddress,
    /// Other external addresses seen on its mails; they may use its subject tag.
    pub participants: Vec<EmailAddress>,
    /// The subject of its first mail.
    pub subject: String,
    /// Open, replied or closed.
    pub status: DrStatus,
    /// When it was created and first assigned.
    pub assigned_on: Timestamp,
    /// When an employee first replied.
    pub first_response_at: Option<Timestamp>,
    /// Since when the customer has been waiting (set while `open`).
    pub awaiting_since: Option<Timestamp>,
    /// Time of its latest mail or change.
    pub last_activity: Timestamp,
    /// Escalation level: 0 none, 1 escalated to the supervisor, 2 one step higher …
    pub escalation_level: u32,
    /// Sender of its latest tracked mail (the listing's "Sender").
    pub last_sender: EmailAddress,
    /// First recipient of its latest tracked mail (the listing's "Recipient").
    pub last_recipient: Option<EmailAddress>,
    /// Type of its latest tracked mail.
    pub last_mail_type: MailType,
    /// When the customer last wrote in the current wait (a follow-up re-arms the warning).
    #[serde(default)]
    pub last_customer_at: Option<Timestamp>,
    /// When the owner was last warned in the current wait.
    #[serde(default)]
    pub warned_at: Option<Timestamp>,
    /// A reminder a user set on the DR.
    #[serde(default)]
    pub remind_at: Option<Timestamp>,
    /// When the escalation server should next look at this DR (its due index); `None` when
    /// nothing can fire.
    #[serde(default)]
    pub due_at: Option<Timestamp>,
    /// Optimistic-concurrency version: 1 when created, +1 on every write.
    pub version: u64,
}

/// A mail as recorded: every mail etraq sees, tracked or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailRecord {
    /// Store-assigned sequence number, increasing in insertion order; 0 before insertion.
    pub seq: u64,
    /// The Message-ID without angle brackets (derived from the content when missing).
    pub message_id: MessageId,
    /// True when `message_id` was derived by etraq because the mail had none.
    pub derived_message_id: bool,
    /// Which way it went.
    pub direction: Direction,
    /// Envelope sender (`None` for the null sender `<>`).
    pub mail_from: Option<EmailAddress>,
    /// Envelope recipients.
    pub rcpt_to: Vec<EmailAddress>,
    /// The author (From header, or the envelope sender when From is missing or unusable).
    pub sender: Option<EmailAddress>,
    /// The author's display name.
    pub sender_name: Option<String>,
    /// To header addresses.
    pub to: Vec<EmailAddress>,
    /// Cc header addresses.
    pub cc: Vec<EmailAddress>,
    /// Decoded subject.
    pub subject: String,
    /// When etraq received it.
    pub received_at: Timestamp,
    /// The Date header, when present and parseable.
    pub sent_at: Option<Timestamp>,
    /// Tracked or untracked, with type or reason.
    #[serde(flatten)]
    pub decision: Decision,
    /// The DR it belongs to (also for untracked mail attached to a DR's history).
    pub dr: Option<DrId>,
    /// External addresses on it (customer side); its history is found through them.
    pub parties: Vec<EmailAddress>,
    /// Size of the raw message in bytes.
    pub size: u64,
}

impl MailRecord {
    /// The first recipient, as the listings show it: the first To address, else the first
    /// envelope recipient.
    pub fn recipient(&self) -> Option<&EmailAddress> {
        self.to.first().or_else(|| self.rcpt_to.first())
    }

    /// Every address on the mail, each once, sorted: author, envelope, To, Cc and the customer
    /// parties. Stores index all of them, so a customer's history and an employee's view of
    /// their own mail are both one index lookup.
    pub fn addresses(&self) -> Vec<&EmailAddress> {
        let mut all: Vec<&EmailAddress> = self
            .sender
            .iter()
            .chain(self.mail_from.iter())
            .chain(self.rcpt_to.iter())
            .chain(self.to.iter())
            .chain(self.cc.iter())
            .chain(self.parties.iter())
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

/// A recorded response time: an employee answered a waiting customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseTime {
    /// The DR answered.
    pub dr: DrId,
    /// The employee who answered.
    pub user: EmailAddress,
    /// Since when the customer had been waiting.
    pub awaiting_since: Timestamp,
    /// When the answer went out.
    pub responded_at: Timestamp,
    /// Wall-clock seconds waited.
    pub seconds: i64,
    /// True for the first response on the DR.
    pub first: bool,
}

/// The kind of an alert (`event_type`, contract).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AlertKind {
    /// The customer has waited past `warn_after`.
    Warning,
    /// The customer has waited past `escalate_after` (and further levels).
    Escalated,
    /// A reminder a user set on the DR.
    Reminder,
}

impl AlertKind {
    /// The contract spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Warning => "Warning",
            AlertKind::Escalated => "Escalated",
            AlertKind::Reminder => "Reminder",
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an alert's mail went out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum AlertMail {
    /// Waiting in the outbox.
    Pending {
        /// Attempts made so far.
        attempts: u32,
        /// When to try next.
        next_attempt_at: Timestamp,
        /// Why the last attempt failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_error: Option<String>,
    },
    /// Delivered to the upstream.
    Sent {
        /// When.
        at: Timestamp,
        /// Attempts it took.
        attempts: u32,
    },
    /// Not mailed: the user turned alert mail off.
    Disabled,
    /// Claimed by a notifier and being handed to the relay. Never taken again: if the node
    /// sending it dies before recording the outcome, it stays here, in doubt, rather than
    /// risking a second copy.
    Sending {
        /// The attempt this is.
        attempts: u32,
        /// When it was claimed.
        since: Timestamp,
    },
}

/// An alert raised by the escalation server (docs/tracking.md#alerts). Stored first, mailed later from the
/// outbox, so a failed mail never loses it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Store-assigned id; 0 before insertion.
    pub id: u64,
    /// Warning, Escalated or Reminder.
    pub event_type: AlertKind,
    /// The recipient.
    pub user: EmailAddress,
    /// When it was raised.
    pub date_time: Timestamp,
    /// The DR it is about.
    pub source_dr: DrId,
    /// When that DR was first assigned.
    pub assigned_on: Timestamp,
    /// The DR's owner.
    pub dr_owner: EmailAddress,
    /// Escalation level (0 for warnings and reminders).
    pub level: u32,
    /// The DR's customer.
    pub customer: EmailAddress,
    /// The DR's subject.
    pub subject: String,
    /// How long the customer had waited (business time when business hours apply), seconds.
    pub waited_secs: i64,
    /// The escalation cycle that raised it.
    pub cycle: u64,
    /// The mail's delivery state.
    pub mail: AlertMail,
}

/// What one decision of an escalation cycle was. Stored and shown as `Warning`, `Escalated`,
/// `Reminder` or `Problem`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CycleAction {
    /// An alert of this kind was raised.
    #[serde(rename = "Warning")]
    Warning,
    /// An escalation alert was raised.
    #[serde(rename = "Escalated")]
    Escalated,
    /// A reminder fired.
    #[serde(rename = "Reminder")]
    Reminder,
    /// The DR could not be planned as configured (a supervisor loop, an unknown owner…).
    #[serde(rename = "Problem")]
    Problem,
}

impl CycleAction {
    /// The action of an alert of `kind`.
    pub fn of(kind: AlertKind) -> CycleAction {
        match kind {
            AlertKind::Warning => CycleAction::Warning,
            AlertKind::Escalated => CycleAction::Escalated,
            AlertKind::Reminder => CycleAction::Reminder,
        }
    }

    /// The stored and shown spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CycleAction::Warning => "Warning",
            CycleAction::Escalated => "Escalated",
            CycleAction::Reminder => "Reminder",
            CycleAction::Problem => "Problem",
        }
    }
}

impl fmt::Display for CycleAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One decision of an escalation cycle, for its log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleDecision {
    /// The DR.
    pub dr: DrId,
    /// What was decided.
    pub action: CycleAction,
    /// Details: recipients, level, how long the customer waited.
    pub detail: String,
}

/// A run of the escalation server (the console's Escalations page, the `EscWarnings` log).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleRecord {
    /// Store-assigned id; 0 before insertion.
    pub id: u64,
    /// The `now` the cycle ran at.
    pub at: Timestamp,
    /// DRs that got a warning.
    pub warned: u64,
    /// DRs that were escalated.
    pub escalated: u64,
    /// Reminders that fired.
    pub reminded: u64,
    /// DRs the cycle examined (they were due) that needed nothing.
    pub bypassed: u64,
    /// Every decision taken (bypassed DRs are counted, not listed).
    pub decisions: Vec<CycleDecision>,
}
