//! Several etraq nodes on one store: which node leads.
//!
//! Every node's gateway and console serve at once (they are stateless beside the store). The
//! work that must run once — the escalation cycle, the notifier mailing alerts and queued
//! messages, the campaign loop, the job runner — runs on the node holding the **leader lease**:
//! a row in the store with a holder and an expiry, taken when free or expired and renewed well
//! before it expires ([`LEASE_TTL`], renewed every [`RENEW_EVERY`]). When the leader dies its
//! lease runs out and another node takes it at its next renewal, so the work moves within
//! `LEASE_TTL + RENEW_EVERY`. A leader that cannot renew (its store connection is gone) stops
//! leading before its lease can have expired.
//!
//! The embedded stores serve one node, whose process always leads (the default methods).

use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;

/// How long a lease lasts unless renewed.
pub const LEASE_TTL: Duration = Duration::from_secs(20);

/// How often the leader renews its lease, and a follower tries to take it.
pub const RENEW_EVERY: Duration = Duration::from_secs(5);

/// The name of the leader lease.
pub const LEADER: &str = "leader";

/// Who holds a lease, as the store answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The holder's node name.
    pub holder: String,
    /// Whether that is the caller.
    pub mine: bool,
}

/// Leases, the store's part of choosing a leader. Object-safe.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the lease `name` for `node` for `ttl` if it is free, expired or `node`'s already
    /// (a renewal), by the store's own clock (so the nodes' clocks need not agree), and answers
    /// who holds it now.
    async fn hold_lease(&self, name: &str, node: &str, ttl: Duration) -> Result<LeaseHolder> {
        let _ = (name, ttl);
        Ok(LeaseHolder {
            holder: node.to_string(),
            mine: true,
        })
    }

    /// Gives the lease up if `node` holds it (a clean shutdown: the next node need not wait for
    /// it to expire).
    async fn release_lease(&self, name: &str, node: &str) -> Result<()> {
        let _ = (name, node);
        Ok(())
    }
}

/// This node's name in leases and logs: the host name and the process id, so two nodes on one
/// machine (or a restarted node) are told apart.
pub fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "etraq".into());
    format!("{host}/{}", std::process::id())
}
