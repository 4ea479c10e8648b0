//! The commented `etraq.toml` that `etraq init` writes.

/// The commented `etraq.toml` that `etraq init` writes. Every setting is shown with its default;
/// only `local_domains` (and `store.url` when given) is set. Parsing it yields those defaults.
pub fn default_config_toml(local_domains: &[String], store_url: Option<&str>) -> String {
    let domains = local_domains
        .iter()
        .map(|d| format!("{d:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let store = match store_url {
        Some(u) => format!("url = {u:?}"),
        None => {
            "# url = \"sqlite:etraq-data/etraq.db\"   # or \"sled:etraq-data/sled\"".to_string()
        }
    };
    format!(
        r#"# etraq.toml: configuration of etraq (every key: docs/configuration.md).
# Every key has a default; uncomment a line to change it. Relative paths are
# resolved against the directory of this file.

# The company's own mail domains. Mail between these and any other domain is
# customer mail and is tracked.
local_domains = [{domains}]

# threads = 0             # server worker threads; 0 = one per CPU
# timeout_secs = 60       # general network timeout
# timezone = ""           # IANA zone for DR ids and times, e.g. "Asia/Kolkata"; "" = system

[smtp]
# listen = "127.0.0.1:2525"
# max_message_bytes = 26214400
# max_recipients = 100
# relay_networks = ["127.0.0.0/8", "::1/128"]   # clients allowed to send to other domains
# tls_cert = "cert.pem"   # enables STARTTLS
# tls_key = "key.pem"
# hostname = ""           # name in the greeting; "" = this host's name
# max_line_length = 4096
# command_timeout = "5m"  # time allowed for each command line, however slowly it arrives
# data_timeout = "10m"    # silence allowed while a message is sent
# session_timeout = "1h"  # longest a session may last in all
# max_header_bytes = 262144   # largest header section of a message
# max_header_line = 16384     # longest physical header line
# max_connections = 1000
# max_connections_per_ip = 20 # per client address outside relay_networks
# max_errors = 10
# shutdown_grace = "30s"  # how long in-flight sessions may finish on SIGTERM

# The company's mail server. Without this section `etraq serve` runs in
# evaluation mode and delivers into etraq-data/maildir instead of relaying.
# [upstream]
# host = "mail.example.com"
# port = 25
# helo = ""               # EHLO name towards the upstream; "" = smtp.hostname
# data_timeout = "10m"    # wait for the upstream's verdict after the data; if it
#                         # passes, the client gets 451 and retries, and a slow upstream
#                         # that did accept the mail then delivers it twice: keep it long
# starttls = false        # require STARTTLS for etraq's own mail (alerts) to the upstream
# keep_idle = 16          # upstream sessions kept open for the next client; 0 closes each
# keep_idle_timeout = "30s"   # below the upstream's idle timeout (Postfix smtpd_timeout: 300s)

[web]
# listen = "127.0.0.1:8080"
# public_listen = ""      # a second address serving only what campaign recipients reach
#                         # (/u, /v, /s, /t, POST /api/v1/conversions), e.g. "0.0.0.0:8081"
# public_url = ""         # the console's address in alert mail links; "" = http://<listen>
# tls_cert = "cert.pem"   # with tls_key: HTTPS only, Secure cookies
# tls_key = "key.pem"
# session_lifetime = "12h"   # a sign-in without "remember me"
# remember_lifetime = "30d"  # a sign-in with "remember me"
# login_attempts = 5      # failed sign-ins per account within login_window before 429
# login_window = "15m"
# public_rate_per_ip = 20 # requests/s per client address to the public pages (unsubscribe,
#                         # subscribe, tracking); bursts of 5x; past it 429

[logs]
# retention_days = 30     # log files older than this are deleted; 0 keeps them

[escalation]
# interval_minutes = 15
# warn_after = "4h"
# escalate_after = "1d"
# reescalate_every = "1d"  # unset: escalate once; set: one step further up the
#                          # supervisor chain every this long
# alerts_from = ""         # sender of alert mail; "" = etraq@<first local domain>
# Count only business time (remove the section for wall-clock time):
# [escalation.business_hours]
# weekdays = ["mon", "tue", "wed", "thu", "fri"]
# start = "09:00"
# end = "17:00"
# timezone = ""           # "" = the global timezone
# holidays = ["2026-12-25"]

[tracking]
# dr_prefix = "SUPP"
# subject_tag = true      # add [SUPP-MMDDYYYY.N] to the subject of tracked mail
# subject_tag_inbound = true   # also on customer mail (breaks its DKIM signature; see README)
# exclude_senders = ["noreply@example.net", "@newsletters.example"]
# track_unregistered_users = true   # track local addresses not added with `etraq user add`

# Per-department DR prefixes and escalation overrides:
# [departments.sales]
# prefix = "SALE"
# warn_after = "2h"
# escalate_after = "8h"

[store]
{store}
# cache_mb = 4            # SQLite: the writer's page cache in MiB

[validator]
# dns = ["192.0.2.53"]
# helo = "localhost"
# mail_from = "postmaster@localhost"
# smtp_port = 25
# threads = 8
# timeout = 20
# per_domain = 20
# top_mx_only = false
# exclude_user = []
# exclude_keyword = []
# exclude = []
# recheck_after = "15m"   # check greylisted (4xx) addresses again after this, in the same run
# per_mx = 2              # sessions in flight to one mail exchanger
# allow_quoted = false    # accept "quoted local parts"@example.com

[extractor]
# threads = 8
# retries = 2
# links_per_domain = 200
# max_sites = 10
# follow_external = false
# exclude_ext = [".jpg", ".png", ".pdf", ".zip", ...]   # default: images, media, fonts, archives, PDFs, CSS, JS
# depth = 3
# no_robots = false
# delay = 500               # milliseconds between two requests to one site
# timeout = 20              # seconds per request
# max_page_bytes = 5242880  # larger pages are skipped and reported
# max_redirects = 5

[campaigns]
# relay = ""                # host:port for campaign mail; "" = the [upstream] (evaluation mode: the Maildir)
# from = ""                 # "Name <address>"; "" = newsletter@ the first local domain
# public_url = ""           # base of unsubscribe and tracking links; "" = http:// and
#                           # web.public_listen, else web.listen
# bounce_domain = ""        # VERP return paths and Message-IDs; "" = the first local domain
# rate_per_second = 20      # across all connections
# concurrency = 4           # mails in flight at once
# on_restart = "skip"       # recipients a crash left in doubt: "skip" (listed) or "resend"
# soft_bounce_limit = 3     # soft bounces ...
# soft_bounce_window = 5    # ... in this many last sends blocklist an address

[support]
# transcript_on_close = false        # closing a DR mails the customer its transcript
# autoreply_per_sender_per_day = 3   # automatic acknowledgements to one sender a day, at most
# synonyms = []                      # e.g. [["refund", "money back", "reimburse"]]: the
#                                    # articles' word first, then what customers write
"#
    )
}
