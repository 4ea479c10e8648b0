//! Telling machines from people: the rules that flag an open or a click as a bot's, in one pure
//! function. Mail-privacy proxies fetch every image of every mail, and link scanners follow
//! every link, so counting them would make every campaign look opened and clicked; reports
//! therefore show all, unique and human counts.

use jiff::{SignedDuration, Timestamp};

/// An open or click within this long of the send is a machine's (scanners act on arrival).
pub const TOO_SOON: SignedDuration = SignedDuration::from_secs(10);

/// Clicks of one recipient within this window make a burst: nobody reads that fast.
pub const BURST_WINDOW: SignedDuration = SignedDuration::from_secs(2);

/// This many clicks (on different links) within [`BURST_WINDOW`] are a burst.
pub const BURST_CLICKS: usize = 3;

/// User agents of mail-privacy proxies, link scanners and scripts (lower case, matched as
/// substrings).
const MACHINE_AGENTS: &[(&str, &str)] = &[
    ("googleimageproxy", "Gmail image proxy"),
    ("ggpht.com", "Gmail image proxy"),
    ("yahoomailproxy", "Yahoo mail proxy"),
    ("barracuda", "Barracuda link scanner"),
    ("mimecast", "Mimecast link scanner"),
    ("proofpoint", "Proofpoint link scanner"),
    ("ppops", "Proofpoint link scanner"),
    ("symantec", "Symantec link scanner"),
    ("trend micro", "Trend Micro link scanner"),
    ("sophos", "Sophos link scanner"),
    ("ironport", "Cisco link scanner"),
    ("safelinks", "Microsoft Safe Links"),
    ("ms-office", "Microsoft Office link preview"),
    ("microsoft office", "Microsoft Office link preview"),
    ("bot", "a bot's user agent"),
    ("crawl", "a crawler's user agent"),
    ("spider", "a crawler's user agent"),
    ("slurp", "a crawler's user agent"),
    ("headless", "a headless browser"),
    ("phantomjs", "a headless browser"),
    ("preview", "a link preview"),
    ("facebookexternalhit", "a link preview"),
    ("whatsapp", "a link preview"),
    ("curl/", "a script (curl)"),
    ("wget/", "a script (wget)"),
    ("python-", "a script (Python)"),
    ("go-http-client", "a script (Go)"),
    ("java/", "a script (Java)"),
    ("okhttp", "a script (OkHttp)"),
    ("libwww-perl", "a script (Perl)"),
    ("axios/", "a script (axios)"),
    ("node-fetch", "a script (Node)"),
];

/// Which rule flagged a hit as a machine's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BotRule {
    /// A `HEAD` request.
    Head,
    /// The hidden honeypot link, or a click of a recipient who followed it: flags all of that
    /// recipient's clicks in the campaign.
    Honeypot,
    /// No user agent, or one of a proxy, a scanner or a script.
    Agent,
    /// Within seconds of the send.
    TooSoon,
    /// Several links within two seconds: flags all of that recipient's clicks in the campaign.
    Burst,
}

impl BotRule {
    /// Whether the rule speaks for the recipient's every click in the campaign, not just this
    /// one (the clicks before a honeypot or a burst were the same machine's).
    pub fn flags_recipient(self) -> bool {
        matches!(self, BotRule::Honeypot | BotRule::Burst)
    }
}

/// A hit's bot flag: the rule and the reason in words.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BotFlag {
    /// The rule.
    pub rule: BotRule,
    /// Why, in words (shown in reports).
    pub reason: String,
}

/// What is known of one open or click when it arrives.
#[derive(Clone, Debug, Default)]
pub struct HitFacts<'a> {
    /// The request was a `HEAD`.
    pub head: bool,
    /// Its `User-Agent`, if any.
    pub user_agent: Option<&'a str>,
    /// When the campaign's mail was sent to this recipient.
    pub sent_at: Option<Timestamp>,
    /// It is a click (not an open).
    pub click: bool,
    /// The link is the hidden honeypot.
    pub honeypot: bool,
    /// This recipient's earlier clicks in this campaign: (when, link).
    pub earlier_clicks: &'a [(Timestamp, u16)],
    /// This recipient already followed the honeypot in this campaign.
    pub honeypot_seen: bool,
}

/// Why an open or a click is a machine's, if it is: the first rule that fires, in words
/// (stored with the hit and shown in reports).
pub fn bot_reason(f: &HitFacts<'_>, now: Timestamp, link: u16) -> Option<BotFlag> {
    let flag = |rule, reason: String| Some(BotFlag { rule, reason });
    if f.head {
        return flag(BotRule::Head, "HEAD request".into());
    }
    if f.honeypot {
        return flag(
            BotRule::Honeypot,
            "followed the hidden honeypot link".into(),
        );
    }
    let ua = f.user_agent.map(str::trim).unwrap_or("");
    if ua.is_empty() {
        return flag(BotRule::Agent, "no user agent".into());
    }
    let lower = ua.to_ascii_lowercase();
    if let Some((_, what)) = MACHINE_AGENTS.iter().find(|(k, _)| lower.contains(k)) {
        return flag(BotRule::Agent, format!("{what} ({})", short(ua)));
    }
    if let Some(sent) = f.sent_at
        && now.duration_since(sent) < TOO_SOON
    {
        return flag(
            BotRule::TooSoon,
            format!("within {} seconds of the send", TOO_SOON.as_secs()),
        );
    }
    if f.click {
        if f.honeypot_seen {
            return flag(
                BotRule::Honeypot,
                "this recipient followed the honeypot link".into(),
            );
        }
        let recent: std::collections::BTreeSet<u16> = f
            .earlier_clicks
            .iter()
            .filter(|(at, l)| *l != link && now.duration_since(*at) <= BURST_WINDOW)
            .map(|(_, l)| *l)
            .collect();
        if recent.len() + 1 >= BURST_CLICKS {
            return flag(
                BotRule::Burst,
                format!(
                    "{} links clicked within {} seconds",
                    recent.len() + 1,
                    BURST_WINDOW.as_secs()
                ),
            );
        }
    }
    None
}

/// A user agent cut for a reason text.
fn short(ua: &str) -> String {
    let s: String = ua.chars().take(60).collect();
    if ua.chars().count() > 60 {
        format!("{s}…")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36";

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn person<'a>() -> HitFacts<'a> {
        HitFacts {
            user_agent: Some(BROWSER),
            sent_at: Some(t(0)),
            ..HitFacts::default()
        }
    }

    #[test]
    fn a_person_in_a_browser_is_no_bot() {
        assert_eq!(bot_reason(&person(), t(3600), 0), None);
        let click = HitFacts {
            click: true,
            earlier_clicks: &[(t(3599), 1)],
            ..person()
        };
        assert_eq!(
            bot_reason(&click, t(3600), 0),
            None,
            "two links in a second is a person"
        );
        let later = HitFacts {
            click: true,
            earlier_clicks: &[(t(3000), 1), (t(3001), 2)],
            ..person()
        };
        assert_eq!(bot_reason(&later, t(3600), 0), None, "clicks minutes apart");
    }

    #[test]
    fn head_requests_are_bots() {
        let f = HitFacts {
            head: true,
            ..person()
        };
        assert_eq!(bot_reason(&f, t(3600), 0).unwrap().rule, BotRule::Head);
    }

    #[test]
    fn proxies_scanners_scripts_and_no_agent_are_bots() {
        for ua in [
            "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
            "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
            "Barracuda Sentinel (EE)",
            "python-requests/2.31",
            "curl/8.5.0",
            "Mozilla/5.0 (compatible; bingbot/2.0)",
        ] {
            let f = HitFacts {
                user_agent: Some(ua),
                ..person()
            };
            assert!(bot_reason(&f, t(3600), 0).is_some(), "{ua}");
        }
        let none = HitFacts {
            user_agent: None,
            ..person()
        };
        assert_eq!(
            bot_reason(&none, t(3600), 0).unwrap().reason,
            "no user agent"
        );
    }

    #[test]
    fn a_hit_right_after_the_send_is_a_bot() {
        assert!(
            bot_reason(&person(), t(3), 0)
                .unwrap()
                .reason
                .contains("within 10 seconds")
        );
        assert_eq!(bot_reason(&person(), t(11), 0), None);
    }

    #[test]
    fn a_burst_of_links_within_two_seconds_is_a_bot() {
        let f = HitFacts {
            click: true,
            earlier_clicks: &[(t(3599), 1), (t(3599), 2)],
            ..person()
        };
        assert!(
            bot_reason(&f, t(3600), 3)
                .unwrap()
                .reason
                .contains("3 links")
        );
        // The same link again is no burst of links.
        let same = HitFacts {
            click: true,
            earlier_clicks: &[(t(3599), 3), (t(3599), 3)],
            ..person()
        };
        assert_eq!(bot_reason(&same, t(3600), 3), None);
    }

    #[test]
    fn the_honeypot_flags_its_click_and_the_recipients_others() {
        let f = HitFacts {
            click: true,
            honeypot: true,
            ..person()
        };
        assert_eq!(
            bot_reason(&f, t(3600), u16::MAX).unwrap().rule,
            BotRule::Honeypot
        );
        let after = HitFacts {
            click: true,
            honeypot_seen: true,
            ..person()
        };
        assert_eq!(
            bot_reason(&after, t(3600), 0).unwrap().rule,
            BotRule::Honeypot
        );
        let open = HitFacts {
            honeypot_seen: true,
            ..person()
        };
        assert_eq!(
            bot_reason(&open, t(3600), 0),
            None,
            "an open is not a click"
        );
    }
}
