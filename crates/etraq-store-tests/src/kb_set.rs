//! A knowledge base of 40 articles from a small online shop with a subscription service, and
//! 30 customer questions, each with the article that answers it. The questions are written the
//! way customers write: in their own words, with greetings and context, rarely with the
//! article's title words. The suggestion-quality test (`support::kb_suggestions_find_the_right_article`)
//! measures how often the right article is among the first three.

/// An article: key (for the questions), title, tags, Markdown body.
pub type ArticleRow = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
);

/// The articles.
pub const ARTICLES: &[ArticleRow] = &[
    (
        "reset-password",
        "Reset a forgotten password",
        &["login", "account"],
        "Click **Forgot password** on the sign-in page and enter the email address of your account. We send a reset link that works for one hour. If the link has expired, request a new one. The link only works once.",
    ),
    (
        "reset-mail-missing",
        "The password reset email does not arrive",
        &["login", "email"],
        "Reset emails come from no-reply@shop.example and usually arrive within a minute. Check your spam or junk folder and any filters. Corporate mail servers sometimes delay or quarantine them; ask your IT team to allow our domain. You can request a new link after five minutes.",
    ),
    (
        "two-factor",
        "Two-factor authentication codes",
        &["login", "security", "2fa"],
        "Turn on two-factor authentication under Settings → Security. You then enter a six-digit code from your authenticator app at every sign-in. If your phone is lost, use one of the backup codes you saved when you turned it on, or contact us with proof of identity to remove it.",
    ),
    (
        "locked-account",
        "Account locked after too many sign-in attempts",
        &["login", "security"],
        "After ten failed sign-in attempts the account is locked for thirty minutes to protect it. Wait and try again, or reset your password, which unlocks it at once.",
    ),
    (
        "change-email",
        "Change the email address of your account",
        &["account", "profile"],
        "Go to Settings → Profile, enter the new address and confirm it with the link we send there. Until you confirm, we keep using the old address for receipts and notifications.",
    ),
    (
        "delete-account",
        "Close your account and delete your data",
        &["account", "privacy", "gdpr"],
        "Under Settings → Privacy choose **Close account**. We cancel any subscription, delete your profile and order history after 30 days, and keep invoices only as long as tax law requires. You can also ask us by mail to erase your personal data.",
    ),
    (
        "export-data",
        "Download a copy of your personal data",
        &["privacy", "gdpr"],
        "Settings → Privacy → **Export my data** prepares a ZIP file with your profile, orders and messages. We email a download link when it is ready, usually within an hour.",
    ),
    (
        "shipping-times",
        "Delivery times and carriers",
        &["shipping", "delivery"],
        "Orders placed before 2 pm on a working day leave our warehouse the same day. Standard delivery takes 2–4 working days within the country and 5–10 abroad. Express delivery arrives the next working day.",
    ),
    (
        "track-order",
        "Track your parcel",
        &["shipping", "tracking"],
        "When your order ships we email a tracking number and a link to the carrier's page. You also find it under Orders in your account. Tracking can take up to 24 hours to show the first scan.",
    ),
    (
        "parcel-lost",
        "A parcel that never arrived",
        &["shipping", "delivery", "missing"],
        "If tracking shows delivered but you have nothing, check with neighbours and your building's reception, then wait one more working day. Still missing? Tell us the order number and we open an investigation with the carrier and send a replacement or a refund.",
    ),
    (
        "damaged-item",
        "An item arrived broken or damaged",
        &["returns", "damaged"],
        "Sorry about that. Send us a photo of the item and of the box within 14 days of delivery, with your order number. We ship a replacement at no cost, or refund you if you prefer; you do not need to send the broken item back.",
    ),
    (
        "wrong-item",
        "You received the wrong item",
        &["returns", "orders"],
        "Tell us the order number and what arrived instead. We send the right item at once and a prepaid label to return the wrong one.",
    ),
    (
        "return-policy",
        "Returning an item within 30 days",
        &["returns", "refund"],
        "You may return unused items within 30 days of delivery. Start a return under Orders → Return, print the label and drop the parcel at any post office. Sale items and gift cards cannot be returned.",
    ),
    (
        "refund-timing",
        "When will my refund arrive?",
        &["refund", "billing"],
        "We refund within 3 working days of receiving the returned item, to the card or account you paid with. Your bank may take another 5–10 days to show it on your statement.",
    ),
    (
        "cancel-order",
        "Cancel an order before it ships",
        &["orders"],
        "You can cancel an order under Orders as long as its status is *Processing*. Once it has shipped, cancellation is no longer possible, but you can return it after delivery.",
    ),
    (
        "change-address-order",
        "Change the delivery address of an order",
        &["orders", "shipping"],
        "While an order is still processing, write to us with the new address and we update it. After dispatch we can ask the carrier to redirect the parcel, which is not always possible.",
    ),
    (
        "payment-methods",
        "Payment methods we accept",
        &["billing", "payment"],
        "We accept Visa, Mastercard, American Express, PayPal, Apple Pay and bank transfer. Cash on delivery is not available.",
    ),
    (
        "card-declined",
        "Your card was declined at checkout",
        &["billing", "payment"],
        "A declined payment usually comes from your bank: a daily limit, 3-D Secure not completed, or a billing address that does not match the card. Try again after checking those, use another card, or ask your bank to approve the charge.",
    ),
    (
        "double-charge",
        "Charged twice for one order",
        &["billing", "payment"],
        "A second charge is usually a pending authorisation from a failed attempt; it disappears within a few days without ever being taken. If both charges are still there after 7 days, send us a bank statement showing both and we refund the duplicate.",
    ),
    (
        "invoice-copy",
        "Get an invoice or a VAT receipt",
        &["billing", "invoice"],
        "Every order's invoice is under Orders → Invoice as a PDF. To add a company name or VAT number, enter it under Settings → Billing before ordering; we can reissue an invoice within 30 days.",
    ),
    (
        "vat-exempt",
        "Buying as a business without VAT",
        &["billing", "business", "vat"],
        "Businesses in the EU outside our country can buy without VAT: enter a valid VAT identification number under Settings → Billing. We check it against VIES before the order.",
    ),
    (
        "subscription-cancel",
        "Cancel your subscription",
        &["subscription"],
        "Cancel any time under Settings → Subscription → **Cancel**. You keep access until the end of the period you paid for; there is no charge after that and no cancellation fee.",
    ),
    (
        "subscription-pause",
        "Pause deliveries of your subscription",
        &["subscription"],
        "If you are away, pause your subscription for up to three months under Settings → Subscription → **Pause**. Nothing is sent or billed during the pause; it restarts by itself.",
    ),
    (
        "subscription-change-plan",
        "Upgrade or downgrade your plan",
        &["subscription", "plans"],
        "Change plans under Settings → Subscription. An upgrade starts at once and you pay the difference for the rest of the month; a downgrade starts at the next renewal.",
    ),
    (
        "renewal-reminder",
        "Automatic renewal and reminders",
        &["subscription", "billing"],
        "Annual plans renew automatically. We email a reminder 14 days before the renewal date with the amount, so you can cancel or change plan in time.",
    ),
    (
        "discount-code",
        "A discount code does not work",
        &["promotions", "checkout"],
        "Codes are case-sensitive, work once per customer and often have a minimum order value or an end date. Check the conditions in the mail that brought you the code. Only one code can be used per order.",
    ),
    (
        "gift-cards",
        "Gift cards and their balance",
        &["promotions", "gift"],
        "Gift cards are valid for two years. Enter the code at checkout; any balance left stays on the card. See the balance under Account → Gift cards. Lost cards cannot be replaced without the purchase receipt.",
    ),
    (
        "price-match",
        "Price drops after you bought",
        &["promotions", "price"],
        "If we lower the price of an item within 14 days of your purchase, we refund the difference on request. This does not apply to flash sales or to other shops' prices.",
    ),
    (
        "newsletter-unsubscribe",
        "Stop receiving our newsletter",
        &["email", "newsletter", "privacy"],
        "Every newsletter has an **Unsubscribe** link at the bottom; one click is enough. You can also turn off marketing email under Settings → Notifications. Order and shipping emails still arrive.",
    ),
    (
        "size-guide",
        "Choosing the right size",
        &["products", "sizing"],
        "Each product page has a size chart in centimetres and inches. Measure a garment that fits you well and compare. Between two sizes, take the larger one; exchanges for another size are free.",
    ),
    (
        "exchange-size",
        "Exchange an item for another size",
        &["returns", "sizing"],
        "Start an exchange under Orders → Return and choose **Exchange**. We send the new size as soon as the carrier scans your return, with free shipping both ways.",
    ),
    (
        "stock-notify",
        "Sold out: get notified when it is back",
        &["products", "stock"],
        "On a sold-out product page click **Notify me** and leave your email. We send one mail when it is back in stock; most items come back within three weeks.",
    ),
    (
        "warranty",
        "Warranty and repairs",
        &["products", "warranty"],
        "Electronics have a two-year warranty from the date of delivery. For a fault, contact us with the order number and a description; we arrange a repair, a replacement or a refund. Damage from drops or water is not covered.",
    ),
    (
        "international-shipping",
        "Shipping abroad, customs and duties",
        &["shipping", "international", "customs"],
        "We ship to 40 countries. Outside the EU, import duties and taxes may be charged by your country's customs on delivery; they are not included in our prices.",
    ),
    (
        "store-pickup",
        "Click and collect in a shop",
        &["shipping", "stores"],
        "Choose **Pick up in store** at checkout. We mail you when the order is ready, usually within two hours; bring the pickup code and an ID. Orders wait 7 days.",
    ),
    (
        "app-crash",
        "The mobile app closes or crashes",
        &["app", "technical"],
        "Update the app to the latest version from the App Store or Google Play, then restart your phone. If it still crashes, uninstall and reinstall it; your account and cart are kept on our side.",
    ),
    (
        "website-slow",
        "The website does not load or checkout hangs",
        &["technical", "website"],
        "Clear your browser cache and cookies, turn off ad blockers for our site, and try another browser. If the payment page hangs, do not pay twice: check Orders first, then contact us.",
    ),
    (
        "loyalty-points",
        "Loyalty points: how they work",
        &["loyalty", "promotions"],
        "You earn one point per euro spent, credited when the return period ends. 100 points give a 5 euro voucher at checkout. Points expire after 18 months without an order.",
    ),
    (
        "contact-hours",
        "Customer service opening hours and phone",
        &["contact"],
        "Our team answers email every day and the phone line Monday to Friday from 8 am to 6 pm. Outside those hours write to us; we answer the next morning.",
    ),
    (
        "bulk-order",
        "Large orders and quotes for companies",
        &["business", "orders"],
        "For orders of more than 50 items or for a quote on company letterhead, write to our business team with the products and quantities; volume discounts start at 50 units.",
    ),
];

/// A customer's question and the key of the article that answers it.
pub type QuestionRow = (&'static str, &'static str);

/// The questions.
pub const QUESTIONS: &[QuestionRow] = &[
    (
        "Hello, I forgot what my password was and now I can't get into my account. What should I do?",
        "reset-password",
    ),
    (
        "I clicked 'forgot password' three times already but nothing ever comes to my inbox. Is your system broken?",
        "reset-mail-missing",
    ),
    (
        "I got a new phone and the authenticator app is gone, so I can't enter the six digit code anymore. Help!",
        "two-factor",
    ),
    (
        "It says my account is locked. I guess I typed the wrong password too many times. How long do I have to wait?",
        "locked-account",
    ),
    (
        "I changed jobs and want my receipts to go to my private mail address instead of the old work one.",
        "change-email",
    ),
    (
        "Please remove me completely from your systems, I want all my personal information erased.",
        "delete-account",
    ),
    (
        "My order was supposed to come days ago. When does stuff normally get delivered?",
        "shipping-times",
    ),
    (
        "The carrier website says my package was delivered yesterday but there is nothing at my door.",
        "parcel-lost",
    ),
    (
        "The glass vase I ordered came in pieces, the box was crushed.",
        "damaged-item",
    ),
    (
        "I ordered a blue jacket but you sent me a red sweater instead.",
        "wrong-item",
    ),
    (
        "I sent back the shoes two weeks ago and still no money on my card. When do I get it back?",
        "refund-timing",
    ),
    (
        "I placed an order by mistake this morning, can I stop it before you send it?",
        "cancel-order",
    ),
    (
        "I'm moving next week, can the parcel from my order yesterday go to my new flat instead?",
        "change-address-order",
    ),
    (
        "Can I pay with PayPal or only with a credit card?",
        "payment-methods",
    ),
    (
        "My Visa keeps getting rejected when I try to buy, but there is money on it.",
        "card-declined",
    ),
    (
        "My bank statement shows the same amount taken two times for one purchase!",
        "double-charge",
    ),
    (
        "Our accounting department needs a proper invoice with our company details for order 4711.",
        "invoice-copy",
    ),
    (
        "I don't want to pay for the box every month anymore, how do I stop it?",
        "subscription-cancel",
    ),
    (
        "We are on holiday for six weeks this summer, can we put the monthly deliveries on hold?",
        "subscription-pause",
    ),
    (
        "The code from your email gives an error at the checkout, it says invalid.",
        "discount-code",
    ),
    (
        "My aunt gave me a voucher card for my birthday, how much is left on it?",
        "gift-cards",
    ),
    (
        "Two days after I bought the coffee machine it became 40 euros cheaper. Do I get the difference?",
        "price-match",
    ),
    (
        "Please stop sending me all these marketing emails every week.",
        "newsletter-unsubscribe",
    ),
    (
        "I'm not sure whether to take M or L for the trousers, how do your sizes run?",
        "size-guide",
    ),
    (
        "The trousers are too small, can I swap them for a bigger pair?",
        "exchange-size",
    ),
    (
        "My headphones stopped working after 8 months, one side is silent. Is that covered?",
        "warranty",
    ),
    (
        "I live in Switzerland, will I have to pay extra fees when the package crosses the border?",
        "international-shipping",
    ),
    (
        "Your iPhone app shuts down every time I open my basket.",
        "app-crash",
    ),
    (
        "What can I do with the points I've collected?",
        "loyalty-points",
    ),
    (
        "Is there a number I can call to talk to a real person, and when?",
        "contact-hours",
    ),
];

/// Fifteen more questions, written after the support thesaurus was fixed and never used to
/// tune it: the figure on these says how well suggestions do on wording nobody planned for.
pub const HELD_OUT: &[QuestionRow] = &[
    (
        "Hi, my login doesn't work anymore, I think I mixed up my password. Can you send me a new one?",
        "reset-password",
    ),
    (
        "Where is my order? I ordered on Monday and there is still no sign of it.",
        "track-order",
    ),
    (
        "I want to give back the lamp, I don't like it. How does that work?",
        "return-policy",
    ),
    ("Do you take Apple Pay?", "payment-methods"),
    (
        "Can you make the bill out to my company, with our VAT number?",
        "invoice-copy",
    ),
    (
        "How do I switch from the small plan to the family plan?",
        "subscription-change-plan",
    ),
    (
        "The blender you sent has a crack in the jug.",
        "damaged-item",
    ),
    (
        "When will the red dress in size 38 be available again?",
        "stock-notify",
    ),
    (
        "Can I get my order in your shop in town instead of having it delivered?",
        "store-pickup",
    ),
    (
        "Your site just keeps spinning when I try to pay.",
        "website-slow",
    ),
    (
        "I need 200 mugs with our logo for a conference, can you make us an offer?",
        "bulk-order",
    ),
    (
        "Surprised to see you took 89 euros from me today for another year, I didn't get any warning!",
        "renewal-reminder",
    ),
    (
        "How can I get a file with everything you store about me?",
        "export-data",
    ),
    (
        "I don't receive emails for my order any more and want to update where you send them.",
        "change-email",
    ),
    (
        "We're a company in Belgium, can we order without paying VAT?",
        "vat-exempt",
    ),
];
