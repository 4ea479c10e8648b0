//! Signed tokens: what every campaign link, pixel, unsubscribe and VERP address carries.
//!
//! A token holds its kind, the campaign, the recipient and a link index, with an HMAC-SHA256
//! tag truncated to 80 bits, under a secret made at first start and kept in the store. It is
//! URL-safe base64 without padding, so it fits a URL path and an address's local part. A token
//! that does not verify (checked in constant time) is refused and changes nothing.

use data_encoding::{BASE32_DNSSEC, BASE64URL_NOPAD};
use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Bytes of the tag kept (80 bits).
pub const TAG_BYTES: usize = 10;

const BODY_BYTES: usize = 1 + 8 + 8 + 2;

/// What a token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// The open pixel.
    Open,
    /// A tracked link.
    Click,
    /// The unsubscribe page and the one-click POST.
    Unsubscribe,
    /// The VERP return path.
    Bounce,
    /// The view-in-browser page.
    View,
    /// A double opt-in confirmation link: `campaign` is the list's [`list_tag`], `recipient`
    /// the subscriber's id.
    Confirm,
    /// The `etraq` parameter a click's redirect carries to the shop, which reports a purchase
    /// with it (`link` is the link clicked).
    Convert,
}

impl TokenKind {
    fn code(self) -> u8 {
        match self {
            TokenKind::Open => 1,
            TokenKind::Click => 2,
            TokenKind::Unsubscribe => 3,
            TokenKind::Bounce => 4,
            TokenKind::View => 5,
            TokenKind::Confirm => 6,
            TokenKind::Convert => 7,
        }
    }

    fn from_code(c: u8) -> Option<TokenKind> {
        Some(match c {
            1 => TokenKind::Open,
            2 => TokenKind::Click,
            3 => TokenKind::Unsubscribe,
            4 => TokenKind::Bounce,
            5 => TokenKind::View,
            6 => TokenKind::Confirm,
            7 => TokenKind::Convert,
            _ => return None,
        })
    }
}

/// What a token says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Token {
    /// Its kind.
    pub kind: TokenKind,
    /// The campaign's id.
    pub campaign: u64,
    /// The recipient's id in the campaign.
    pub recipient: u64,
    /// The link's index (clicks; 0 otherwise).
    pub link: u16,
}

/// Signs and verifies tokens under one secret.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// A signer with `secret` (at least 32 bytes; see [`new_secret`]).
    pub fn new(secret: &[u8]) -> Signer {
        Signer {
            key: secret.to_vec(),
        }
    }

    fn mac(&self, body: &[u8]) -> HmacSha256 {
        // HMAC takes a key of any length.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(body);
        mac
    }

    /// The token's text.
    pub fn sign(&self, t: &Token) -> String {
        let mut bytes = Vec::with_capacity(BODY_BYTES + TAG_BYTES);
        bytes.push(t.kind.code());
        bytes.extend_from_slice(&t.campaign.to_be_bytes());
        bytes.extend_from_slice(&t.recipient.to_be_bytes());
        bytes.extend_from_slice(&t.link.to_be_bytes());
        let tag = self.mac(&bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag[..TAG_BYTES]);
        BASE64URL_NOPAD.encode(&bytes)
    }

    /// The token's text for the local part of an address (`bounce+TEXT@`,
    /// `unsubscribe+TEXT@`): lower-case base32hex, because mail systems may change the case
    /// of a local part (etraq itself compares addresses in lower case) and base64 would not
    /// survive that. 47 characters, within the 64 of a local part.
    pub fn address_token(&self, t: &Token) -> String {
        let text = self.sign(t);
        match BASE64URL_NOPAD.decode(text.as_bytes()) {
            Ok(bytes) => BASE32_DNSSEC.encode(&bytes),
            Err(_) => unreachable!("sign writes base64url"),
        }
    }

    /// What `text` says, when it is a token this signer made (in either form: the base64url of
    /// links or the base32hex of addresses, in any case); `None` otherwise.
    pub fn verify(&self, text: &str) -> Option<Token> {
        if text.len() > 64 {
            return None;
        }
        let bytes = BASE64URL_NOPAD
            .decode(text.as_bytes())
            .ok()
            .filter(|b| b.len() == BODY_BYTES + TAG_BYTES)
            .or_else(|| {
                BASE32_DNSSEC
                    .decode(text.to_ascii_lowercase().as_bytes())
                    .ok()
            })?;
        if bytes.len() != BODY_BYTES + TAG_BYTES {
            return None;
        }
        let (body, tag) = bytes.split_at(BODY_BYTES);
        // Constant time: a forger learns nothing from how long a refusal takes.
        self.mac(body).verify_truncated_left(tag).ok()?;
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&body[i..i + 8]);
            u64::from_be_bytes(b)
        };
        Some(Token {
            kind: TokenKind::from_code(body[0])?,
            campaign: u64_at(1),
            recipient: u64_at(9),
            link: u16::from_be_bytes([body[17], body[18]]),
        })
    }
}

/// A list's number in a token: the first 8 bytes of the SHA-256 of its key (its lower-case
/// name). Lists are few, so the list a token names is found by comparing tags; a renamed list
/// is a new list, and its old links stop working.
pub fn list_tag(list_key: &str) -> u64 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(list_key.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

/// A new random secret (32 bytes from the operating system).
pub fn new_secret() -> Result<Vec<u8>, getrandom::Error> {
    let mut key = vec![0u8; 32];
    getrandom::fill(&mut key)?;
    Ok(key)
}

/// Random hex (`n` bytes) for Message-IDs.
pub fn random_hex(n: usize) -> Result<String, getrandom::Error> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b)?;
    Ok(data_encoding::HEXLOWER.encode(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_token_verifies_and_any_change_is_refused() {
        let s = Signer::new(&[7u8; 32]);
        let t = Token {
            kind: TokenKind::Bounce,
            campaign: 12,
            recipient: 345_678,
            link: 0,
        };
        let text = s.sign(&t);
        assert!(
            text.len() <= 40
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{text}"
        );
        assert_eq!(s.verify(&text), Some(t));
        assert_eq!(
            Signer::new(&[8u8; 32]).verify(&text),
            None,
            "another secret"
        );
        let mut bytes = text.clone().into_bytes();
        for i in 0..bytes.len() {
            let orig = bytes[i];
            bytes[i] = if orig == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes.clone()).unwrap();
            if changed != text {
                assert_eq!(s.verify(&changed), None, "changed at {i}");
            }
            bytes[i] = orig;
        }
        for junk in ["", "x", "!!!!", &"A".repeat(200), &text[..text.len() - 1]] {
            assert_eq!(s.verify(junk), None, "{junk}");
        }
    }
}
