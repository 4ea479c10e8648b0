//! The command line (contract names; every command and flag: docs/cli-commands.md): argument definitions only.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// etraq: email-tracking CRM. Tracks every customer conversation as a Discussion Report (DR).
#[derive(Debug, Parser)]
#[command(name = "etraq", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, global = true, value_name = "PATH", env = "ETRAQ_CONFIG")]
    pub config: Option<PathBuf>,

    /// Store to use instead of the configured one: sqlite:PATH, sled:PATH or
    /// postgres://USER:PASSWORD@HOST:PORT/DATABASE.
    #[arg(long, global = true, value_name = "URL", env = "ETRAQ_STORE")]
    pub store: Option<String>,

    /// Log lines on standard error: text (coloured on a terminal) or json (one object a line).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = LogFormat::Text,
        value_name = "text|json",
        hide_possible_values = true,
        env = "ETRAQ_LOG_FORMAT"
    )]
    pub log_format: LogFormat,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The shape of log lines on standard error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines; ANSI colour only when standard error is a terminal.
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, target, fields), never coloured.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write etraq.toml with commented defaults and create the store.
    Init(InitArgs),
    /// Run the server: SMTP gateway, web console, escalation scheduler and alert notifier.
    Serve(ServeArgs),
    /// Manage the employees etraq knows.
    #[command(subcommand)]
    User(UserCommand),
    /// Track mail from .eml files, mbox files, Maildir folders or standard input.
    Ingest(IngestArgs),
    /// List and act on Discussion Reports.
    #[command(subcommand)]
    Dr(DrCommand),
    /// Mail etraq saw but did not track.
    #[command(subcommand)]
    Untracked(UntrackedCommand),
    /// A customer's full history: every mail with an address or a whole @domain.
    History(HistoryArgs),
    /// Full-text search over every recorded mail.
    ///
    /// The query: words (all must match), "a phrase", -word, from:, to:, subject:, dr:ID,
    /// has:attachment, before:DATE, after:DATE (YYYY-MM-DD, in the configured time zone).
    /// Best match first.
    Search(SearchArgs),
    /// The archive of raw messages.
    #[command(subcommand)]
    Archive(ArchiveCommand),
    /// Run one escalation cycle now (the server runs one every escalation.interval_minutes).
    Escalate(EscalateArgs),
    /// Alerts raised by the escalation server.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Counters, counts and the state of a running server.
    Status(JsonFlag),
    /// Copy a whole store into an empty one of any backend, verified table by table.
    ///
    /// Backends: sqlite:PATH, sled:PATH, postgres://. Each table's row count and checksum are
    /// compared after the copy. Stop the server first. Ids are kept, so DR numbers, links in sent mail and tokens stay
    /// valid; search indexes are rebuilt in the target.
    Migrate(MigrateArgs),
    /// Unreplied DRs, response times, mail volume.
    #[command(subcommand)]
    Report(ReportCommand),
    /// The log files in the data directory's logs/.
    #[command(subcommand)]
    Logs(LogsCommand),
    /// The console's built-in administrator.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// API tokens for `Authorization: Bearer` on /api/v1.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Crawl web sites for email addresses, politely and within bounds.
    Extract(ExtractArgs),
    /// Check addresses: syntax, DNS (MX) and an SMTP probe that never sends mail.
    Validate(ValidateArgs),
    /// Mailing lists for campaigns.
    #[command(subcommand)]
    List(ListCommand),
    /// The people on mailing lists: add, import and export CSV, look up, unsubscribe.
    #[command(subcommand)]
    Subscriber(SubscriberCommand),
    /// Addresses and @domains no campaign mail is ever sent to.
    #[command(subcommand)]
    Blocklist(BlocklistCommand),
    /// Campaign templates: the five built-in ones and your own.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Campaigns: create, send (exactly accounted, resumable), and their recipients.
    #[command(subcommand)]
    Campaign(CampaignCommand),
    /// Background jobs: validations and extractions run by serve.
    #[command(subcommand)]
    Job(JobCommand),
    /// The knowledge base: articles agents insert into replies and acknowledgements suggest.
    #[command(subcommand)]
    Kb(KbCommand),
    /// Rules that acknowledge a customer's first mail automatically (loop-safe).
    #[command(subcommand)]
    Autoreply(AutoreplyCommand),
}

/// `etraq kb`.
#[derive(Debug, Subcommand)]
pub enum KbCommand {
    /// Write an article from a Markdown file.
    Add(KbAddArgs),
    /// Change an article (a new version; the old ones stay in its history).
    Set(KbSetArgs),
    /// Every article.
    List(JsonFlag),
    /// One article, its Markdown and its history.
    Show(KbIdArgs),
    /// The articles best matching some words, best first.
    Search(KbSearchArgs),
    /// Delete an article and its history.
    Delete(KbIdArgs),
}

/// `etraq kb add`.
#[derive(Debug, Args)]
pub struct KbAddArgs {
    /// The title.
    pub title: String,
    /// The body, Markdown (- for standard input).
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,
    /// A tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// May be mailed to customers (acknowledgements suggest public articles only).
    #[arg(long)]
    pub public: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `etraq kb set`.
#[derive(Debug, Args)]
pub struct KbSetArgs {
    /// The article's id.
    pub id: u64,
    /// A new title.
    #[arg(long)]
    pub title: Option<String>,
    /// A new body, Markdown (- for standard input).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The tags, replacing the old ones (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Remove every tag.
    #[arg(long, conflicts_with = "tags")]
    pub no_tags: bool,
    /// Make it public.
    #[arg(long, conflicts_with = "private")]
    pub public: bool,
    /// Make it private (for agents only).
    #[arg(long)]
    pub private: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// An article id argument.
#[derive(Debug, Args)]
pub struct KbIdArgs {
    /// The article's id.
    pub id: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `etraq kb search`.
#[derive(Debug, Args)]
pub struct KbSearchArgs {
    /// Any words: a customer's question works as it is.
    pub query: String,
    /// At most this many.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Print JSON rows: id, title, score.
    #[arg(long)]
    pub json: bool,
}

/// `etraq autoreply`.
#[derive(Debug, Subcommand)]
pub enum AutoreplyCommand {
    /// Add a rule, tried after the existing ones; the first rule that matches answers.
    Add(AutoreplyAddArgs),
    /// The rules, in the order they are tried.
    List(JsonFlag),
    /// One rule.
    Show(AutoreplyNameArgs),
    /// Delete a rule.
    Delete(AutoreplyNameArgs),
    /// Enable a rule a failing template disabled, once its template works.
    Enable(AutoreplyNameArgs),
}

/// `etraq autoreply add`.
#[derive(Debug, Args)]
pub struct AutoreplyAddArgs {
    /// The rule's name.
    pub name: String,
    /// The template: acknowledgement (built in) or one of kind acknowledgement.
    #[arg(long, value_name = "T", default_value = "acknowledgement")]
    pub template: String,
    /// Only mail to this address (repeatable; none: any).
    #[arg(long = "to", value_name = "ADDR")]
    pub to: Vec<String>,
    /// Only DRs of this department.
    #[arg(long, value_name = "D")]
    pub department: Option<String>,
    /// Only subjects matching this regular expression (case-insensitive).
    #[arg(long, value_name = "REGEX")]
    pub subject_matches: Option<String>,
    /// A sender answered within this long is not answered again.
    #[arg(long, value_name = "D", default_value = "1d")]
    pub window: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// A rule name argument.
#[derive(Debug, Args)]
pub struct AutoreplyNameArgs {
    /// The rule's name.
    pub name: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `etraq job`.
#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Every job, newest first, with its progress.
    List(JsonFlag),
    /// One job: its state, progress and results.
    Show(JobIdArgs),
    /// Ask a job to stop; serve stops it within seconds, keeping its results.
    Cancel(JobIdArgs),
}

/// A job by number.
#[derive(Debug, Args)]
pub struct JobIdArgs {
    /// The job's number.
    pub id: u64,
    /// Print JSON (the job and its result rows).
    #[arg(long)]
    pub json: bool,
}

/// `etraq campaign`.
#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Create a campaign; its template is tried on its first 100 recipients.
    Create(CampaignCreateArgs),
    /// Send in the foreground with a progress bar (no `serve` needed); run it again to resume.
    Run(CampaignRunArgs),
    /// Send one rendered copy to an address, not counted (the subject says [test]).
    Test(CampaignTestArgs),
    /// Have the running `etraq serve` send it, now or `--at` a time.
    Start(CampaignStartArgs),
    /// Pause a campaign: its sender stops within a second; `resume` and `run` go on.
    Pause(CampaignNameArgs),
    /// Resume a paused campaign (a running `etraq serve`, or `run`, sends the rest).
    Resume(CampaignNameArgs),
    /// Cancel a campaign for good: nobody not yet sent to gets it.
    Cancel(CampaignNameArgs),
    /// Every campaign with its counts.
    List(JsonFlag),
    /// One campaign with its counts.
    Show(CampaignNameArgs),
    /// A campaign's recipients and where each one's mail is.
    Recipients(CampaignRecipientsArgs),
}

/// `etraq campaign create`.
#[derive(Debug, Args)]
pub struct CampaignCreateArgs {
    /// The campaign's name.
    pub name: String,
    /// A list to send to (repeatable).
    #[arg(long = "list", value_name = "L", required = true)]
    pub lists: Vec<String>,
    /// The template.
    #[arg(long, value_name = "T")]
    pub template: String,
    /// A subject replacing the template's.
    #[arg(long, value_name = "S")]
    pub subject: Option<String>,
    /// The From mailbox (default: campaigns.from).
    #[arg(long, value_name = "A")]
    pub from: Option<String>,
    /// Where replies go.
    #[arg(long, value_name = "A")]
    pub reply_to: Option<String>,
    /// The user whose DRs replies become.
    #[arg(long, value_name = "EMAIL")]
    pub owner: Option<String>,
    /// A segment: a minijinja expression over the merge fields.
    #[arg(long = "where", value_name = "EXPR")]
    pub segment: Option<String>,
    /// Mails per second (default: campaigns.rate_per_second).
    #[arg(long, value_name = "N")]
    pub rate: Option<u32>,
    /// Schedule it: a running `etraq serve` starts sending at this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Print the campaign as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `etraq campaign start`.
#[derive(Debug, Args)]
pub struct CampaignStartArgs {
    /// The campaign's name.
    pub name: String,
    /// Start at this time instead of now (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `etraq campaign test`.
#[derive(Debug, Args)]
pub struct CampaignTestArgs {
    /// The campaign's name.
    pub name: String,
    /// Where the copy goes (rendered with its data when it is a subscriber).
    #[arg(long, value_name = "ADDR")]
    pub to: String,
}

/// `etraq campaign run`.
#[derive(Debug, Args)]
pub struct CampaignRunArgs {
    /// The campaign's name.
    pub name: String,
    /// Print the final counts as JSON (and no progress bar).
    #[arg(long)]
    pub json: bool,
}

/// A campaign's name and `--json`.
#[derive(Debug, Args)]
pub struct CampaignNameArgs {
    /// The campaign's name.
    pub name: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `etraq campaign recipients`.
#[derive(Debug, Args)]
pub struct CampaignRecipientsArgs {
    /// The campaign's name.
    pub name: String,
    /// Only recipients in this state: queued, sending, sent, failed, in_doubt, skipped.
    #[arg(long, value_name = "S")]
    pub state: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `etraq template`.
#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Every template (built-in ones first).
    List(JsonFlag),
    /// One template's subject and bodies.
    Show(TemplateShowArgs),
    /// Add (or replace) a template of your own; it must compile and name known merge fields.
    Add(TemplateAddArgs),
    /// Delete a template of your own.
    Delete(TemplateShowArgs),
    /// Print the message a subscriber would get.
    Preview(TemplatePreviewArgs),
}

/// A template kind as a flag gives it.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum TemplateKindArg {
    /// A regular issue of news.
    Newsletter,
    /// An offer.
    Promotion,
    /// News of a product, an event, a change.
    Announcement,
    /// A release for the press.
    PressRelease,
    /// A personal letter to customers.
    CustomerLetter,
    /// Anything else.
    Custom,
    /// An automatic acknowledgement (`autoreply` rules), with the DR's fields.
    Acknowledgement,
}

/// `etraq template show` and `delete`.
#[derive(Debug, Args)]
pub struct TemplateShowArgs {
    /// The template's name.
    pub name: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `etraq template add`.
#[derive(Debug, Args)]
pub struct TemplateAddArgs {
    /// The template's name.
    pub name: String,
    /// What it is for.
    #[arg(long, value_enum, value_name = "K")]
    pub kind: TemplateKindArg,
    /// The subject line (merge fields allowed).
    #[arg(long, value_name = "S")]
    pub subject: String,
    /// The HTML body (a file).
    #[arg(long, value_name = "FILE")]
    pub html: std::path::PathBuf,
    /// The text body (a file); without it, it is made from the HTML.
    #[arg(long, value_name = "FILE")]
    pub text: Option<std::path::PathBuf>,
    /// Print the template as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `etraq template preview`.
#[derive(Debug, Args)]
pub struct TemplatePreviewArgs {
    /// The template's name.
    pub name: String,
    /// Render for this subscriber (default: a sample with no name or attributes).
    #[arg(long, value_name = "EMAIL")]
    pub subscriber: Option<String>,
    /// Render as this campaign (its name in `campaign.name`).
    #[arg(long, value_name = "NAME")]
    pub campaign: Option<String>,
}

/// `etraq list`.
#[derive(Debug, Subcommand)]
pub enum ListCommand {
    /// Create a mailing list (single opt-in unless --double-opt-in).
    Create(ListCreateArgs),
    /// Change a list's description, opt-in mode or visibility.
    Set(ListSetArgs),
    /// Every list with its member counts.
    Ls(JsonFlag),
    /// One list with its member counts.
    Show(ListNameArgs),
    /// Delete a list and its memberships (the subscribers stay).
    Delete(ListNameArgs),
}

/// `etraq list create`.
#[derive(Debug, Args)]
pub struct ListCreateArgs {
    /// The list's name (unique whatever its case).
    pub name: String,
    /// What the list is for.
    #[arg(long, value_name = "D")]
    pub description: Option<String>,
    /// New members stay unconfirmed until they follow a confirmation link.
    #[arg(long)]
    pub double_opt_in: bool,
    /// The public subscribe form serves this list.
    #[arg(long)]
    pub public: bool,
    /// Print the list as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `etraq list set`.
#[derive(Debug, Args)]
pub struct ListSetArgs {
    /// The list's name.
    pub name: String,
    /// What the list is for.
    #[arg(long, value_name = "D")]
    pub description: Option<String>,
    /// Switch to double opt-in.
    #[arg(long, conflicts_with = "single_opt_in")]
    pub double_opt_in: bool,
    /// Switch to single opt-in.
    #[arg(long)]
    pub single_opt_in: bool,
    /// Serve the list on the public subscribe form.
    #[arg(long, conflicts_with = "private")]
    pub public: bool,
    /// Take the list off the public subscribe form.
    #[arg(long)]
    pub private: bool,
    /// Print the list as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A list's name and `--json`.
#[derive(Debug, Args)]
pub struct ListNameArgs {
    /// The list's name.
    pub name: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// A member status as a flag gives it.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum MemberStatusArg {
    /// Receives the list's campaigns.
    Confirmed,
    /// Waiting for the double opt-in confirmation.
    Unconfirmed,
    /// Left the list.
    Unsubscribed,
}

/// `etraq subscriber`.
#[derive(Debug, Subcommand)]
pub enum SubscriberCommand {
    /// Add one address to a list.
    Add(SubscriberAddArgs),
    /// Import a CSV file; a bad row is reported with its line and never stops the rest.
    ///
    /// The file needs a header row with an `email` column; `name` is optional, a `status`
    /// column (as `export` writes it) is ignored, and every other column becomes an attribute.
    /// Importing the same file again updates rather than duplicates. An address that
    /// unsubscribed from the list or is blocklisted is skipped, never added back.
    Import(SubscriberImportArgs),
    /// Write subscribers as CSV (the import format) to standard output.
    Export(SubscriberListArgs),
    /// List subscribers.
    List(SubscriberListArgs),
    /// One subscriber: name, attributes, lists, blocklist entry.
    Show(SubscriberShowArgs),
    /// Unsubscribe an address from one list, or from every list.
    Unsubscribe(SubscriberUnsubscribeArgs),
}

/// `etraq subscriber add`.
#[derive(Debug, Args)]
pub struct SubscriberAddArgs {
    /// The address.
    pub email: String,
    /// The list to add it to.
    #[arg(long, value_name = "NAME")]
    pub list: String,
    /// The subscriber's name.
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    /// An attribute for merge fields and segments (repeatable).
    #[arg(long = "attr", value_name = "KEY=VALUE")]
    pub attrs: Vec<String>,
    /// Vouch for consent: confirmed at once, even on a double opt-in list.
    #[arg(long)]
    pub confirmed: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `etraq subscriber import`.
#[derive(Debug, Args)]
pub struct SubscriberImportArgs {
    /// The CSV file, or - for standard input.
    #[arg(value_name = "FILE|-")]
    pub file: String,
    /// The list to import into.
    #[arg(long, value_name = "NAME")]
    pub list: String,
    /// Vouch for consent: every imported address is confirmed at once.
    #[arg(long)]
    pub confirmed: bool,
    /// Print the report as JSON (and no progress bar).
    #[arg(long)]
    pub json: bool,
}

/// `etraq subscriber list` and `export`.
#[derive(Debug, Args)]
pub struct SubscriberListArgs {
    /// Only members of this list.
    #[arg(long, value_name = "NAME")]
    pub list: Option<String>,
    /// Only members with this status (on --list, or on any list).
    #[arg(long, value_enum, value_name = "S")]
    pub status: Option<MemberStatusArg>,
    /// Only addresses containing this text.
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// Only the recipients a campaign to --list with this segment would have now (a minijinja
    /// expression over the merge fields, e.g. 'subscriber.attribs.country == "DE"'): members
    /// who receive the list's mail, minus the blocklist, matching the expression.
    #[arg(long = "where", value_name = "EXPR", requires = "list")]
    pub segment: Option<String>,
    /// At most this many (0: all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Print JSON (list only).
    #[arg(long)]
    pub json: bool,
}

/// `etraq subscriber show`.
#[derive(Debug, Args)]
pub struct SubscriberShowArgs {
    /// The address.
    pub email: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `etraq subscriber unsubscribe`.
#[derive(Debug, Args)]
pub struct SubscriberUnsubscribeArgs {
    /// The address.
    pub email: String,
    /// Only from this list (default: every list).
    #[arg(long, value_name = "NAME")]
    pub list: Option<String>,
    /// Print the lists left as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `etraq blocklist`.
#[derive(Debug, Subcommand)]
pub enum BlocklistCommand {
    /// Block an address or a whole @domain.
    Add(BlocklistAddArgs),
    /// Remove an entry.
    Remove(BlocklistRemoveArgs),
    /// Every entry.
    List(JsonFlag),
}

/// A blocklist reason as a flag gives it.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum BlockReasonArg {
    /// Added by a person.
    Manual,
    /// A permanent delivery failure.
    HardBounce,
    /// Too many temporary failures.
    SoftBounces,
    /// A spam complaint.
    Complaint,
}

/// `etraq blocklist add`.
#[derive(Debug, Args)]
pub struct BlocklistAddArgs {
    /// An address, or @domain for every address of a domain.
    #[arg(value_name = "EMAIL|@DOMAIN")]
    pub address: String,
    /// Why.
    #[arg(long, value_enum, default_value = "manual", value_name = "R")]
    pub reason: BlockReasonArg,
    /// Print the entry as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `etraq blocklist remove`.
#[derive(Debug, Args)]
pub struct BlocklistRemoveArgs {
    /// The address or @domain.
    #[arg(value_name = "EMAIL|@DOMAIN")]
    pub address: String,
}

/// `etraq validate`. Every option defaults to `[validator]` in etraq.toml.
#[derive(Debug, Args)]
#[command(
    after_help = "Verdicts (is_reachable): safe, risky (catch-all, full inbox, disposable, \
    role account), invalid, unknown (blocked, greylisted, unreachable; `deferred` marks 4xx).\n\n\
    Examples:\n  etraq validate ann@shop.example\n  \
    etraq validate --list customers.txt --json > verdicts.json\n  \
    etraq validate --list customers.txt --jsonl | jq -c 'select(.is_reachable == \"safe\")'\n  \
    etraq validate --extract-from newsletter.eml --csv"
)]
pub struct ValidateArgs {
    /// Addresses to check.
    #[arg(value_name = "ADDR")]
    pub addresses: Vec<String>,
    /// A file of addresses: one per line, or a .csv whose fields holding an `@` are addresses.
    #[arg(long, value_name = "FILE")]
    pub list: Option<PathBuf>,
    /// Find the addresses in a text, HTML, CSV or .eml file and check them.
    #[arg(long, value_name = "FILE")]
    pub extract_from: Option<PathBuf>,
    /// SMTP sessions in flight at once.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Seconds to wait for DNS, a connection or any SMTP reply.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Addresses checked in one SMTP session.
    #[arg(long, value_name = "N")]
    pub per_domain: Option<usize>,
    /// SMTP sessions in flight to one mail exchanger.
    #[arg(long, value_name = "N")]
    pub per_mx: Option<usize>,
    /// User names (local parts) never checked, comma-separated.
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub exclude_user: Option<Vec<String>>,
    /// Keywords: addresses containing one are never checked, comma-separated.
    #[arg(long, value_name = "WORDS", value_delimiter = ',')]
    pub exclude_keyword: Option<Vec<String>>,
    /// Addresses never checked, comma-separated.
    #[arg(long, value_name = "ADDRS", value_delimiter = ',')]
    pub exclude: Option<Vec<String>>,
    /// DNS servers as IP[:port], primary first (repeat or comma-separate; default: the system's).
    #[arg(long, value_name = "IP[:PORT]", value_delimiter = ',')]
    pub dns: Option<Vec<String>>,
    /// The EHLO name of the probe.
    #[arg(long, value_name = "NAME")]
    pub helo: Option<String>,
    /// The MAIL FROM of the probe ("" for the null sender).
    #[arg(long, value_name = "ADDR")]
    pub mail_from: Option<String>,
    /// Probe only the most preferred MX (`--top-mx-only=false` turns it off).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub top_mx_only: Option<bool>,
    /// The SMTP port of the mail exchangers.
    #[arg(long, value_name = "PORT")]
    pub smtp_port: Option<u16>,
    /// Check greylisted (4xx) addresses again after this long, in the same run (e.g. 15m).
    #[arg(long, value_name = "DURATION")]
    pub recheck_after: Option<String>,
    /// Accept quoted local parts.
    #[arg(long)]
    pub allow_quoted: bool,
    /// Check syntax and DNS only; no SMTP connection.
    #[arg(long)]
    pub no_smtp: bool,
    /// Print one JSON array of results in input order (check-if-email-exists field names).
    #[arg(long, conflicts_with_all = ["csv", "jsonl"])]
    pub json: bool,
    /// Print one JSON object per line as each address is decided, for streaming into a pipe.
    #[arg(long, conflicts_with = "csv")]
    pub jsonl: bool,
    /// Print CSV with a header, in input order.
    #[arg(long)]
    pub csv: bool,
}

/// `etraq extract`. Every option defaults to `[extractor]` in etraq.toml.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  etraq extract https://shop.example/contact\n  \
    etraq extract --seeds sites.txt --depth 2 --follow-external --max-sites 20 --json > found.json\n\n\
    Ctrl-C stops the crawl and still prints what was found (exit status 130)."
)]
pub struct ExtractArgs {
    /// Seed URLs (`https://…`; a bare `host/path` means http).
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,
    /// A file of seed URLs, one per line (`#` starts a comment).
    #[arg(long, value_name = "FILE")]
    pub seeds: Option<PathBuf>,
    /// Fetches in flight at once.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Retries of a page after a 429, a 5xx, a timeout or a refused connection.
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// Pages fetched per site at most (0: unlimited).
    #[arg(long, value_name = "N")]
    pub links_per_domain: Option<usize>,
    /// Sites visited at most, seeds included (0: unlimited).
    #[arg(long, value_name = "N")]
    pub max_sites: Option<usize>,
    /// Follow links to other sites (`--follow-external=false` turns it off).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub follow_external: Option<bool>,
    /// Link extensions never fetched, comma-separated (replaces the configured list; `none`
    /// clears it).
    #[arg(long, value_name = "EXTS", value_delimiter = ',')]
    pub exclude_ext: Option<Vec<String>>,
    /// Link depth from the seeds.
    #[arg(long, value_name = "N")]
    pub depth: Option<u32>,
    /// Ignore robots.txt (`--no-robots=false` obeys it again).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub no_robots: Option<bool>,
    /// Milliseconds between two requests to one site (robots.txt's Crawl-delay may ask more).
    #[arg(long, value_name = "MS")]
    pub delay: Option<u64>,
    /// Seconds per request.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Largest page read, in bytes; larger pages are skipped and reported.
    #[arg(long, value_name = "BYTES")]
    pub max_page_bytes: Option<u64>,
    /// Redirects followed per request.
    #[arg(long, value_name = "N")]
    pub max_redirects: Option<usize>,
    /// Print one JSON array of found addresses: address, source_url, count.
    #[arg(long, conflicts_with_all = ["csv", "jsonl"])]
    pub json: bool,
    /// Print the same objects one per line (JSON Lines), for streaming into other tools.
    #[arg(long, conflicts_with = "csv")]
    pub jsonl: bool,
    /// Print CSV with a header: address,source_url,count.
    #[arg(long)]
    pub csv: bool,
}

/// `etraq admin …`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Set the admin password (read from standard input when it is not a terminal).
    Passwd,
}

/// `etraq token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token carrying a login's rights; prints it once.
    Create(TokenCreateArgs),
    /// List tokens (not their secrets).
    List(JsonFlag),
    /// Revoke a token by the id `token list` shows.
    Revoke(TokenRevokeArgs),
}

/// `etraq token create`.
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// Whose rights: `admin` or a user's address.
    #[arg(long, value_name = "LOGIN", default_value = "admin")]
    pub login: String,
    /// A name to recognise it by.
    #[arg(long)]
    pub name: String,
}

/// `etraq token revoke`.
#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    /// The token's id.
    pub id: String,
}

/// `etraq escalate`.
#[derive(Debug, Args)]
pub struct EscalateArgs {
    /// Run a single cycle and exit (required: `etraq serve` runs them on a schedule).
    #[arg(long)]
    pub once: bool,
    /// The cycle's time (RFC 3339); default now.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Print `{warned, escalated, bypassed, alerts}` as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `etraq alerts …`.
#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// List alerts, newest first.
    List(AlertListArgs),
    /// Mail the alerts waiting in the outbox now (when no server runs the notifier).
    Send(JsonFlag),
}

/// `etraq alerts list`.
#[derive(Debug, Args)]
pub struct AlertListArgs {
    /// Only alerts to this user.
    #[arg(long, value_name = "EMAIL")]
    pub user: Option<String>,
    /// Only alerts about this DR.
    #[arg(long, value_name = "ID")]
    pub dr: Option<String>,
    #[command(flatten)]
    pub paging: Paging,
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
}

/// `etraq report …`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Open DRs whose customer has waited longer than a duration.
    Unreplied(UnrepliedArgs),
    /// Response times per user: count, median, p90 and max, first and all responses.
    ResponseTimes(ResponseTimesArgs),
    /// Mail volume per day by direction and decision.
    Volume(VolumeArgs),
}

/// `etraq report unreplied`.
#[derive(Debug, Args)]
pub struct UnrepliedArgs {
    /// Only DRs waiting longer than this (e.g. 2d, 4h); default: all open DRs.
    #[arg(long, value_name = "DURATION")]
    pub older_than: Option<String>,
    /// Only this owner's DRs.
    #[arg(long, value_name = "EMAIL")]
    pub owner: Option<String>,
    /// Only DRs owned by this department's members.
    #[arg(long)]
    pub department: Option<String>,
    /// The report's time (RFC 3339); default now.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
}

/// `etraq report response-times`.
#[derive(Debug, Args)]
pub struct ResponseTimesArgs {
    /// Only responses since this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only this user.
    #[arg(long, value_name = "EMAIL")]
    pub owner: Option<String>,
    /// Count business hours only ([escalation.business_hours]).
    #[arg(long)]
    pub business_hours: bool,
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
}

/// `etraq report volume`.
#[derive(Debug, Args)]
pub struct VolumeArgs {
    /// From this time (RFC 3339); default 30 days ago.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Until this time (RFC 3339); default now.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
}

/// `etraq logs …`.
#[derive(Debug, Subcommand)]
pub enum LogsCommand {
    /// List the log files: name, size, created, modified.
    List(JsonFlag),
    /// Print a log file.
    Show(LogShowArgs),
}

/// `etraq logs show`.
#[derive(Debug, Args)]
pub struct LogShowArgs {
    /// The file name, as `etraq logs list` shows it.
    pub name: String,
}

/// `etraq init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Overwrite an existing configuration file.
    #[arg(long)]
    pub force: bool,
    /// A local (company) mail domain; repeat for several.
    #[arg(long = "local-domain", value_name = "DOMAIN")]
    pub local_domains: Vec<String>,
}

/// `etraq serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listen for SMTP here instead of `smtp.listen`.
    #[arg(long, value_name = "ADDR:PORT", env = "ETRAQ_SMTP_LISTEN")]
    pub smtp_listen: Option<String>,
    /// Serve the console here instead of `web.listen`.
    #[arg(long, value_name = "ADDR:PORT", env = "ETRAQ_WEB_LISTEN")]
    pub web_listen: Option<String>,
}

/// `etraq user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Register an employee.
    Add(UserAddArgs),
    /// Change an employee's settings.
    Set(UserSetArgs),
    /// List employees.
    List(JsonFlag),
    /// Set an employee's console password (read from standard input when it is not a terminal).
    Passwd(UserPasswdArgs),
}

/// `etraq user passwd`.
#[derive(Debug, Args)]
pub struct UserPasswdArgs {
    /// The employee's address.
    pub email: String,
}

/// On or off.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OnOff {
    /// On.
    On,
    /// Off.
    Off,
}

/// A console role.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum RoleArg {
    /// Sees the DRs they own or are CC'd on.
    Agent,
    /// Sees their department.
    Supervisor,
    /// Sees everything.
    Admin,
}

/// `etraq user add`.
#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// The employee's mail address (in a local domain).
    pub email: String,
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// Department (its prefix, if configured, starts the ids of DRs they own).
    #[arg(long)]
    pub department: Option<String>,
    /// Supervisor, to whom escalations go.
    #[arg(long, value_name = "EMAIL")]
    pub supervisor: Option<String>,
    /// Console role.
    #[arg(long, value_enum, default_value = "agent")]
    pub role: RoleArg,
    /// Do not track mail to this employee.
    #[arg(long)]
    pub no_tracking: bool,
    /// Do not mail escalation alerts to this employee (they are still recorded).
    #[arg(long)]
    pub no_alerts: bool,
    /// Print the user as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `etraq user set`.
#[derive(Debug, Args)]
pub struct UserSetArgs {
    /// The employee's mail address.
    pub email: String,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// Department ("" removes it).
    #[arg(long)]
    pub department: Option<String>,
    /// Supervisor ("" removes it).
    #[arg(long, value_name = "EMAIL")]
    pub supervisor: Option<String>,
    /// Console role.
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
    /// Track mail to this employee.
    #[arg(long, value_enum)]
    pub tracking: Option<OnOff>,
    /// Mail escalation alerts to this employee.
    #[arg(long, value_enum)]
    pub alerts: Option<OnOff>,
    /// Print the user as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A lone `--json` flag.
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `etraq migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The store to copy (default: the configured store, or --store).
    #[arg(long, value_name = "URL")]
    pub from: Option<String>,
    /// The empty store to copy into: sqlite:PATH, sled:PATH or postgres://USER:PASSWORD@HOST/DB.
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Print the report as JSON (and no progress).
    #[arg(long)]
    pub json: bool,
}

/// `etraq ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// .eml files, mbox files, Maildir folders, or - for standard input.
    #[arg(required = true, value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
    /// Time the mail counts as received (RFC 3339). Default: each mail's Date header, when it is
    /// not in the future, else now.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Envelope sender (default: Return-Path, else From). `<>` is the null sender.
    #[arg(long, value_name = "ADDR")]
    pub mail_from: Option<String>,
    /// Envelope recipient; repeat for several (default: To, Cc and Bcc).
    #[arg(long, value_name = "ADDR")]
    pub rcpt: Vec<String>,
    /// Print one JSON line per message.
    #[arg(long)]
    pub json: bool,
    /// On a terminal, also print one line per message (off a terminal they are always printed).
    #[arg(long, short)]
    pub verbose: bool,
    /// Messages per commit.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch: u32,
}

/// Paging flags of listings.
#[derive(Debug, Args)]
pub struct Paging {
    /// Show at most this many rows (default: all).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Continue after this cursor (printed at the end of a limited listing).
    #[arg(long, value_name = "CURSOR")]
    pub after: Option<u64>,
}

/// `etraq dr …`.
#[derive(Debug, Subcommand)]
pub enum DrCommand {
    /// List DRs, newest first.
    List(DrListArgs),
    /// A DR and its whole thread.
    Show(DrIdArgs),
    /// Close a DR (a customer reply reopens it); --transcript mails the customer its transcript.
    Close(DrCloseArgs),
    /// Reopen a DR: the customer is waiting again.
    Reopen(DrIdArgs),
    /// Give a DR to another owner.
    Assign(DrAssignArgs),
    /// Set a reminder: a Reminder alert to the owner at that time.
    Remind(DrRemindArgs),
    /// Reply to the customer from etraq, recorded like a reply through the gateway.
    Reply(DrReplyArgs),
    /// The knowledge-base articles suggested for the customer's latest message.
    Suggest(DrIdArgs),
    /// Print the transcript the customer would get.
    Transcript(DrTranscriptArgs),
}

/// `etraq dr close`.
#[derive(Debug, Args)]
pub struct DrCloseArgs {
    /// The DR id.
    pub id: String,
    /// Mail the customer the transcript (default: support.transcript_on_close).
    #[arg(long, conflicts_with = "no_transcript")]
    pub transcript: bool,
    /// Send no transcript, whatever support.transcript_on_close says.
    #[arg(long)]
    pub no_transcript: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `etraq dr reply`.
#[derive(Debug, Args)]
pub struct DrReplyArgs {
    /// The DR id.
    pub id: String,
    /// The reply's text (- for standard input).
    #[arg(long, value_name = "F")]
    pub body_file: PathBuf,
    /// A copy to this address (repeatable).
    #[arg(long = "cc", value_name = "A")]
    pub cc: Vec<String>,
    /// Send as this user (default: the DR's owner).
    #[arg(long = "as", value_name = "EMAIL")]
    pub as_user: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `etraq dr transcript`.
#[derive(Debug, Args)]
pub struct DrTranscriptArgs {
    /// The DR id.
    pub id: String,
    /// Print the HTML version.
    #[arg(long)]
    pub html: bool,
}

/// `etraq dr remind`.
#[derive(Debug, Args)]
pub struct DrRemindArgs {
    /// The DR id.
    pub id: String,
    /// When (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub at: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// A DR status filter.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum StatusArg {
    /// The customer awaits us.
    Open,
    /// We await the customer.
    Replied,
    /// Closed.
    Closed,
    /// Any status.
    All,
}

/// `etraq dr list`.
#[derive(Debug, Args)]
pub struct DrListArgs {
    /// Only DRs with this status.
    #[arg(long, value_enum, default_value = "all")]
    pub status: StatusArg,
    /// Only DRs owned by this employee.
    #[arg(long, value_name = "EMAIL")]
    pub owner: Option<String>,
    /// Only DRs of this customer: an address or @domain.
    #[arg(long, value_name = "ADDRESS|@DOMAIN")]
    pub customer: Option<String>,
    #[command(flatten)]
    pub paging: Paging,
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
}

/// A DR id argument.
#[derive(Debug, Args)]
pub struct DrIdArgs {
    /// The DR id, e.g. SUPP-11102003.2512.
    pub id: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `etraq dr assign`.
#[derive(Debug, Args)]
pub struct DrAssignArgs {
    /// The DR id.
    pub id: String,
    /// The new owner.
    pub email: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `etraq untracked …`.
#[derive(Debug, Subcommand)]
pub enum UntrackedCommand {
    /// List untracked mail, newest first.
    List(UntrackedListArgs),
}

/// `etraq untracked list`.
#[derive(Debug, Args)]
pub struct UntrackedListArgs {
    #[command(flatten)]
    pub paging: Paging,
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
}

/// `etraq archive`.
#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// Write the raw messages to an mbox (legal hold), oldest first, streaming.
    Export(ExportArgs),
}

/// `etraq archive export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only mail received at or after this day (YYYY-MM-DD, in the configured time zone) or
    /// time (RFC 3339).
    #[arg(long, value_name = "T")]
    pub since: Option<String>,
    /// Only mail received before this day or time.
    #[arg(long, value_name = "T")]
    pub until: Option<String>,
    /// Only mail with this address, or anyone @domain, on it.
    #[arg(long, value_name = "ADDR|@DOMAIN")]
    pub party: Option<String>,
    /// The mbox file to write (standard output when absent). An existing file is refused.
    #[arg(long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

/// `etraq search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query, e.g. 'parcel "never arrived" from:carol after:2026-11-01'.
    #[arg(value_name = "QUERY", required = true, num_args = 1..)]
    pub query: Vec<String>,
    /// At most this many results (1–100).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub limit: u16,
    /// Print a JSON array (rows: message_id, dr, date, direction, from, to, subject, snippet,
    /// score).
    #[arg(long)]
    pub json: bool,
}

/// `etraq history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// A customer address, or @domain for everybody there.
    #[arg(value_name = "ADDRESS|@DOMAIN")]
    pub party: String,
    #[command(flatten)]
    pub paging: Paging,
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
}
