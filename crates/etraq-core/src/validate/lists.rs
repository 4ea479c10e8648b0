//! The shipped lists: disposable domains and role-account names, and the user's exclusions.
//!
//! Both lists are data files in `crates/etraq-core/data/` whose headers name their source and
//! licence; they are compiled in and indexed on first use.

use std::collections::HashSet;
use std::sync::LazyLock;

const DISPOSABLE: &str = include_str!("../../data/disposable_domains.txt");
const ROLES: &str = include_str!("../../data/role_accounts.txt");

fn entries(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Exact disposable domains, and those whose every subdomain is disposable (`*.` entries).
static DISPOSABLE_SET: LazyLock<(HashSet<&'static str>, HashSet<&'static str>)> =
    LazyLock::new(|| {
        let mut exact = HashSet::new();
        let mut wildcard = HashSet::new();
        for e in entries(DISPOSABLE) {
            match e.strip_prefix("*.") {
                Some(w) => {
                    wildcard.insert(w);
                }
                None => {
                    exact.insert(e);
                }
            }
        }
        (exact, wildcard)
    });

static ROLE_SET: LazyLock<HashSet<&'static str>> = LazyLock::new(|| entries(ROLES).collect());

/// Whether `domain` (lower-case ASCII) is a throw-away mail provider.
pub fn is_disposable(domain: &str) -> bool {
    let (exact, wildcard) = &*DISPOSABLE_SET;
    if exact.contains(domain) {
        return true;
    }
    let mut rest = domain;
    while let Some((_, parent)) = rest.split_once('.') {
        if wildcard.contains(parent) || exact.contains(parent) {
            return true;
        }
        rest = parent;
    }
    false
}

/// Whether a local part names a function (`info`, `sales`, `noreply`) rather than a person.
/// `+tags` are ignored: `sales+eu` is `sales`.
pub fn is_role_account(local: &str) -> bool {
    let base = local
        .split('+')
        .next()
        .unwrap_or(local)
        .to_ascii_lowercase();
    ROLE_SET.contains(base.as_str())
}

/// The user's exclusions: whole addresses, user names (local parts) and keywords anywhere in
/// the address. Excluded addresses are never probed.
#[derive(Clone, Debug, Default)]
pub struct Exclusions {
    addresses: HashSet<String>,
    users: HashSet<String>,
    keywords: Vec<String>,
}

impl Exclusions {
    /// From the configured lists (case-insensitive).
    pub fn new(addresses: &[String], users: &[String], keywords: &[String]) -> Self {
        let low = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|s| s.trim().to_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        };
        Exclusions {
            addresses: low(addresses).into_iter().collect(),
            users: low(users).into_iter().collect(),
            keywords: low(keywords),
        }
    }

    /// Why `address` (`local@domain`) is excluded, if it is.
    pub fn why(&self, address: &str) -> Option<String> {
        let a = address.to_lowercase();
        if self.addresses.contains(&a) {
            return Some("excluded address".into());
        }
        let local = a.rsplit_once('@').map_or(a.as_str(), |(l, _)| l);
        if self.users.contains(local) {
            return Some(format!("excluded user name {local:?}"));
        }
        self.keywords
            .iter()
            .find(|k| a.contains(k.as_str()))
            .map(|k| format!("excluded keyword {k:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_know_their_classics() {
        assert!(is_disposable("mailinator.com"));
        assert!(!is_disposable("gmail.com"));
        assert!(is_role_account("info"));
        assert!(is_role_account("Sales+eu"));
        assert!(!is_role_account("jane.doe"));
    }

    #[test]
    fn exclusions_match_address_user_and_keyword() {
        let x = Exclusions::new(
            &["Boss@Acme.test".into()],
            &["abuse".into()],
            &["spamtrap".into()],
        );
        assert!(x.why("boss@acme.test").is_some());
        assert!(x.why("abuse@other.test").is_some());
        assert!(x.why("my-spamtrap-1@x.test").is_some());
        assert!(x.why("jane@acme.test").is_none());
    }
}
