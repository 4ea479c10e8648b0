//! Sign-in throttling: after too many failures for one account (or from one client address)
//! within a window, further attempts are refused with 429 until the oldest failure leaves the
//! window. Pure: the caller passes `now`.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use jiff::Timestamp;

/// Most keys remembered; beyond this, keys whose failures have all expired are dropped first.
const MAX_KEYS: usize = 100_000;

/// Failure counts per account and per client address.
#[derive(Debug)]
pub struct Throttle {
    window_secs: i64,
    per_account: usize,
    per_ip: usize,
    failures: HashMap<String, VecDeque<i64>>,
}

impl Throttle {
    /// Allows `per_account` failures per account (and ten times as many per client address)
    /// within `window_secs`.
    pub fn new(per_account: u32, window_secs: i64) -> Throttle {
        let per_account = per_account.max(1) as usize;
        Throttle {
            window_secs: window_secs.max(1),
            per_account,
            per_ip: per_account.saturating_mul(10),
            failures: HashMap::new(),
        }
    }

    fn keys(account: &str, ip: IpAddr) -> [(String, bool); 2] {
        [
            (format!("a:{}", account.trim().to_ascii_lowercase()), true),
            (format!("i:{ip}"), false),
        ]
    }

    /// `Some(seconds)` to wait when this attempt must be refused, `None` when it may proceed.
    pub fn blocked(&mut self, account: &str, ip: IpAddr, now: Timestamp) -> Option<i64> {
        let now = now.as_second();
        let mut wait: Option<i64> = None;
        for (key, is_account) in Self::keys(account, ip) {
            let limit = if is_account {
                self.per_account
            } else {
                self.per_ip
            };
            if let Some(q) = self.failures.get_mut(&key) {
                while q.front().is_some_and(|t| *t <= now - self.window_secs) {
                    q.pop_front();
                }
                if q.len() >= limit
                    && let Some(oldest) = q.front()
                {
                    let w = oldest + self.window_secs - now;
                    wait = Some(wait.map_or(w, |x| x.max(w)));
                }
            }
        }
        wait
    }

    /// Starts a sign-in attempt: refused (`Err(seconds to wait)`) when blocked, else counted as
    /// a failure *before* the password is checked. Checking takes tens of milliseconds; counting
    /// only afterwards let 45 concurrent guesses all be checked against a limit of 5. A correct
    /// password then takes its own mark back with [`Throttle::succeeded`].
    pub fn begin(&mut self, account: &str, ip: IpAddr, now: Timestamp) -> Result<Attempt, i64> {
        if let Some(wait) = self.blocked(account, ip, now) {
            return Err(wait);
        }
        self.failed(account, ip, now);
        Ok(Attempt {
            ip,
            at: now.as_second(),
        })
    }

    /// Records a failed attempt.
    pub fn failed(&mut self, account: &str, ip: IpAddr, now: Timestamp) {
        if self.failures.len() >= MAX_KEYS {
            let horizon = now.as_second() - self.window_secs;
            self.failures
                .retain(|_, q| q.back().is_some_and(|t| *t > horizon));
        }
        for (key, _) in Self::keys(account, ip) {
            let q = self.failures.entry(key).or_default();
            q.push_back(now.as_second());
            // Never more than the largest limit is needed.
            while q.len() > self.per_ip {
                q.pop_front();
            }
        }
    }

    /// A successful sign-in clears the account's failures and takes back the mark its own
    /// attempt left on the address (earlier failures from the address stay).
    pub fn succeeded(&mut self, account: &str, attempt: Attempt) {
        self.failures
            .remove(&format!("a:{}", account.trim().to_ascii_lowercase()));
        let key = format!("i:{}", attempt.ip);
        if let Some(q) = self.failures.get_mut(&key) {
            if let Some(pos) = q.iter().rposition(|t| *t == attempt.at) {
                q.remove(pos);
            }
            if q.is_empty() {
                self.failures.remove(&key);
            }
        }
    }
}

/// A sign-in attempt in progress (counted as failed until [`Throttle::succeeded`]).
#[derive(Debug)]
#[must_use = "a successful sign-in must hand its attempt back"]
pub struct Attempt {
    ip: IpAddr,
    at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn an_account_is_locked_after_the_limit_until_the_window_passes() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut th = Throttle::new(3, 600);
        for i in 0..3 {
            assert_eq!(th.blocked("Ann@x.test", ip, t(i)), None);
            th.failed("ann@x.test", ip, t(i));
        }
        assert_eq!(th.blocked("ann@x.test", ip, t(10)), Some(590));
        // Another account from the same address is not locked (yet).
        assert_eq!(th.blocked("bob@x.test", ip, t(10)), None);
        // The first failure leaves the window at t=600.
        assert_eq!(th.blocked("ann@x.test", ip, t(600)), None);
        let attempt = Attempt { ip, at: 0 };
        th.succeeded("ANN@x.test", attempt);
        assert_eq!(th.blocked("ann@x.test", ip, t(11)), None);
    }

    #[test]
    fn attempts_are_counted_before_they_are_checked() {
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let mut th = Throttle::new(5, 600);
        // 45 attempts start before any of them has been checked: only 5 may proceed.
        let started: Vec<_> = (0..45).map(|_| th.begin("ann@x.test", ip, t(0))).collect();
        assert_eq!(started.iter().filter(|a| a.is_ok()).count(), 5);
        assert!(started[5..].iter().all(|a| a.is_err()));
        // A correct password on a fresh account takes back its own mark on the address.
        let mut th = Throttle::new(5, 600);
        for _ in 0..30 {
            let a = th.begin("bob@x.test", ip, t(1)).unwrap();
            th.succeeded("bob@x.test", a);
        }
        assert_eq!(
            th.blocked("carol@x.test", ip, t(2)),
            None,
            "successes counted against the address"
        );
    }

    #[test]
    fn one_address_trying_many_accounts_is_locked() {
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let mut th = Throttle::new(2, 60);
        for i in 0..20 {
            th.failed(&format!("u{i}@x.test"), ip, t(0));
        }
        assert!(th.blocked("fresh@x.test", ip, t(1)).is_some());
        let other: IpAddr = "2001:db8::2".parse().unwrap();
        assert_eq!(th.blocked("fresh@x.test", other, t(1)), None);
    }
}
