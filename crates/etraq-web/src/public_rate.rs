//! The per-address rate limit of the public endpoints (unsubscribe, subscribe, tracking): a
//! token bucket per client address, as the generic cell rate algorithm (one "theoretical
//! arrival time" per address). Pure: the caller passes `now` in seconds.

use std::collections::HashMap;
use std::net::IpAddr;

/// Most addresses remembered; past it, addresses whose bucket is full again are forgotten
/// first, and if none is, the request is refused (a flood of addresses cannot grow memory).
const MAX_KEYS: usize = 100_000;

/// A token bucket per client address.
#[derive(Debug)]
pub struct PublicRate {
    interval: f64,
    burst: f64,
    tat: HashMap<IpAddr, f64>,
}

impl PublicRate {
    /// `per_second` requests per second per address, with bursts of five seconds' worth.
    pub fn new(per_second: u32) -> PublicRate {
        let per_second = f64::from(per_second.max(1));
        PublicRate {
            interval: 1.0 / per_second,
            burst: 5.0,
            tat: HashMap::new(),
        }
    }

    /// `Ok` when a request from `ip` at `now` may go on, else the seconds to wait.
    pub fn check(&mut self, ip: IpAddr, now: f64) -> Result<(), f64> {
        if self.tat.len() >= MAX_KEYS && !self.tat.contains_key(&ip) {
            self.tat.retain(|_, t| *t > now);
            if self.tat.len() >= MAX_KEYS {
                return Err(1.0);
            }
        }
        let tat = self.tat.get(&ip).copied().unwrap_or(now).max(now);
        let allowed_at = tat - self.burst;
        if now < allowed_at {
            return Err(allowed_at - now);
        }
        self.tat.insert(ip, tat + self.interval);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds_per_address() {
        let mut r = PublicRate::new(10);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        // Five seconds' worth at once (50), and then one more.
        let passed = (0..60).filter(|_| r.check(a, 100.0).is_ok()).count();
        assert_eq!(passed, 51);
        assert!(r.check(a, 100.0).is_err());
        assert!(
            r.check(b, 100.0).is_ok(),
            "another address has its own bucket"
        );
        // A tenth of a second later, one more.
        assert!(r.check(a, 100.1).is_ok());
        assert!(r.check(a, 100.1).is_err());
        // After a long pause the whole burst is back.
        assert_eq!((0..60).filter(|_| r.check(a, 200.0).is_ok()).count(), 51);
    }

    #[test]
    fn memory_stays_bounded() {
        let mut r = PublicRate::new(1);
        for i in 0..(MAX_KEYS as u32 + 10) {
            let _ = r.check(IpAddr::from(i.to_be_bytes()), 0.0);
        }
        assert!(r.tat.len() <= MAX_KEYS);
    }
}
