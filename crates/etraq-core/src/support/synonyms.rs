//! The support thesaurus: how customers say what help articles call by another name.
//!
//! Customers write "money back", articles say "refund"; customers "swap" an item, articles
//! "exchange" it. bm25 only finds words that are there, and stemming only joins forms of one
//! word, so a suggestion for "my card keeps getting rejected" would miss "Your card was
//! declined". Each entry is a set of triggers (words, or phrases of a few words) and the words
//! an article would use for the same thing; when a trigger is in the message, those words are
//! added to the search. The table is about the vocabulary of customer service for shops and
//! subscriptions in general (accounts, payment, delivery, returns, products), not about one
//! knowledge base; a company adds its own with `support.synonyms` in `etraq.toml`.

/// (triggers, words added). Triggers match whole words, or consecutive whole words for a
/// phrase, after lower-casing; plurals and verb forms are listed where customers use them.
pub const THESAURUS: &[(&[&str], &[&str])] = &[
    // Money.
    (
        &[
            "money back",
            "reimburse",
            "reimbursed",
            "reimbursement",
            "repay",
            "repaid",
        ],
        &["refund"],
    ),
    (
        &[
            "rejected",
            "refused",
            "denied",
            "declines",
            "bounced",
            "not accepted",
            "doesn't go through",
            "won't go through",
        ],
        &["declined", "payment"],
    ),
    (
        &["twice", "two times", "double", "doubled", "duplicate"],
        &["charged", "duplicate"],
    ),
    (
        &["charged", "billed", "debited", "taken from", "withdrawn"],
        &["charge", "payment"],
    ),
    (
        &["bill", "receipt", "receipts", "tax receipt"],
        &["invoice"],
    ),
    (
        &["coupon", "promo", "promotion", "voucher code", "promo code"],
        &["discount", "code"],
    ),
    (
        &["voucher", "vouchers", "gift voucher", "present card"],
        &["gift", "card"],
    ),
    (
        &[
            "cheaper",
            "price dropped",
            "price drop",
            "lower price",
            "reduced",
            "on sale now",
        ],
        &["price", "difference"],
    ),
    (
        &["fee", "fees", "surcharge", "extra costs", "extra charges"],
        &["duties", "taxes", "charged"],
    ),
    (
        &["credit card", "debit card", "visa", "mastercard", "amex"],
        &["card", "payment"],
    ),
    // Delivery.
    (
        &["package", "packages", "shipment", "delivery box"],
        &["parcel"],
    ),
    (
        &[
            "come", "comes", "arrive", "arrives", "arriving", "get here", "turn up", "show up",
        ],
        &["delivery", "arrive"],
    ),
    (
        &[
            "delivered",
            "deliveries",
            "ship",
            "ships",
            "shipped",
            "sent out",
            "dispatch",
            "dispatched",
            "send it",
        ],
        &["delivery", "shipping"],
    ),
    (
        &[
            "where is",
            "hasn't arrived",
            "has not arrived",
            "not arrived",
            "nothing at",
            "never came",
            "never arrived",
            "missing",
            "lost",
            "stolen",
        ],
        &["missing", "arrived", "parcel"],
    ),
    (
        &["border", "abroad", "overseas", "outside the eu", "import"],
        &["customs", "international", "duties"],
    ),
    (
        &[
            "moving",
            "move house",
            "new flat",
            "new apartment",
            "new home",
            "relocating",
        ],
        &["address", "change"],
    ),
    (
        &["pick up", "pickup", "collect", "collection"],
        &["pickup", "store"],
    ),
    // Orders and returns.
    (
        &[
            "stop",
            "stop it",
            "terminate",
            "quit",
            "end",
            "don't want",
            "do not want",
            "no longer want",
        ],
        &["cancel"],
    ),
    (
        &[
            "send back",
            "sent back",
            "give back",
            "bring back",
            "return it",
            "returned",
        ],
        &["return"],
    ),
    (&["swap", "switch", "trade", "replace it"], &["exchange"]),
    (
        &[
            "bigger",
            "smaller",
            "larger",
            "too small",
            "too big",
            "too tight",
            "too large",
            "fit",
            "fits",
        ],
        &["size"],
    ),
    (
        &[
            "broken",
            "broke",
            "cracked",
            "smashed",
            "shattered",
            "in pieces",
            "crushed",
            "dented",
            "scratched",
        ],
        &["damaged", "broken"],
    ),
    (
        &[
            "instead",
            "wrong one",
            "not what i ordered",
            "different item",
            "mixed up",
        ],
        &["wrong", "item"],
    ),
    (
        &[
            "stopped working",
            "doesn't work",
            "does not work",
            "not working",
            "faulty",
            "defective",
            "dead",
            "silent",
            "no sound",
        ],
        &["fault", "warranty", "repair"],
    ),
    (&["guarantee", "guaranteed", "covered"], &["warranty"]),
    (
        &[
            "out of stock",
            "sold out",
            "unavailable",
            "not available",
            "restock",
            "back in stock",
        ],
        &["stock", "notify"],
    ),
    (
        &[
            "headphones",
            "earphones",
            "earbuds",
            "speaker",
            "laptop",
            "tablet",
            "charger",
            "camera",
            "coffee machine",
            "phone charger",
        ],
        &["electronics"],
    ),
    (
        &[
            "trousers", "jeans", "shirt", "jacket", "dress", "shoes", "sweater", "pants",
        ],
        &["size", "garment"],
    ),
    // Accounts and sign-in.
    (
        &[
            "log in",
            "login",
            "sign in",
            "signin",
            "get into",
            "get in",
            "access my account",
        ],
        &["sign", "login", "account"],
    ),
    (
        &[
            "forgot",
            "forgotten",
            "don't remember",
            "can't remember",
            "lost my password",
        ],
        &["forgot", "password", "reset"],
    ),
    (
        &["inbox", "e-mail", "mail", "mails", "emails", "spam"],
        &["email"],
    ),
    (
        &[
            "authenticator",
            "verification code",
            "6 digit",
            "six digit",
            "otp",
            "2fa",
            "second factor",
        ],
        &["two", "factor", "authentication"],
    ),
    (
        &[
            "locked out",
            "blocked",
            "suspended",
            "too many times",
            "too many attempts",
        ],
        &["locked"],
    ),
    (
        &["erase", "erased", "remove me", "forget me", "wipe"],
        &["delete", "data"],
    ),
    (
        &[
            "personal information",
            "my information",
            "my details",
            "gdpr",
        ],
        &["personal", "data", "privacy"],
    ),
    (
        &[
            "work address",
            "private address",
            "new address",
            "other address",
        ],
        &["change", "email"],
    ),
    // Subscriptions and mail from us.
    (
        &[
            "every month",
            "monthly",
            "each month",
            "membership",
            "subscribed",
        ],
        &["subscription"],
    ),
    (
        &[
            "holiday", "holidays", "vacation", "away", "on hold", "skip", "break",
        ],
        &["pause"],
    ),
    (
        &[
            "marketing",
            "promotional",
            "newsletter",
            "newsletters",
            "mailing list",
            "these emails",
            "opt out",
        ],
        &["newsletter", "unsubscribe"],
    ),
    (
        &[
            "upgrade",
            "downgrade",
            "bigger plan",
            "smaller plan",
            "different plan",
        ],
        &["plan", "change"],
    ),
    // Help and technical.
    (
        &[
            "call",
            "phone number",
            "telephone",
            "ring",
            "real person",
            "human",
            "someone to talk",
            "talk to",
        ],
        &["phone", "contact"],
    ),
    (
        &[
            "when are you open",
            "opening times",
            "office hours",
            "open on",
            "available on",
        ],
        &["hours"],
    ),
    (
        &[
            "crashes",
            "crashing",
            "shuts down",
            "closes",
            "freezes",
            "force close",
            "keeps closing",
        ],
        &["crash", "app"],
    ),
    (&["iphone", "android", "ipad", "mobile"], &["app"]),
    (
        &[
            "slow",
            "loading",
            "won't load",
            "doesn't load",
            "hangs",
            "spinning",
            "blank page",
        ],
        &["website", "load"],
    ),
    (
        &["points", "rewards", "bonus points", "collected"],
        &["loyalty", "points"],
    ),
    (
        &[
            "company",
            "companies",
            "corporate",
            "firm",
            "our business",
            "accounting department",
        ],
        &["business", "company"],
    ),
    (
        &[
            "how much is left",
            "remaining",
            "balance left",
            "left on it",
        ],
        &["balance"],
    ),
];

/// The words the thesaurus adds for `text` (lower-cased words of the message), each once,
/// none already in `have`.
pub fn expansions(
    text: &str,
    have: &[String],
    extra: &[(Vec<String>, Vec<String>)],
) -> Vec<String> {
    let words: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’' || c == '-'))
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase().replace('’', "'"))
        .collect();
    let contains = |phrase: &str| {
        let parts: Vec<&str> = phrase.split(' ').collect();
        !parts.is_empty()
            && words
                .windows(parts.len())
                .any(|w| w.iter().zip(&parts).all(|(a, b)| a == b))
    };
    let mut out: Vec<String> = Vec::new();
    let builtin = THESAURUS.iter().map(|(t, a)| {
        (
            t.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            a.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    });
    for (triggers, adds) in builtin.chain(extra.iter().cloned()) {
        if triggers.iter().any(|t| contains(t)) {
            for a in adds {
                if !have.contains(&a) && !out.contains(&a) {
                    out.push(a);
                }
            }
        }
    }
    out
}
