//! The server's switchable services: the console's "Stop all services" (the process keeps
//! running; the console and the CLI still work).
//!
//! One [`Services`] value is shared by the SMTP gateway (which answers new connections with
//! `421` while paused, so senders queue and retry — no mail is refused for good), the escalation
//! scheduler (which skips its cycles) and the alert notifier (which leaves the outbox alone).
//! Resuming picks up where they stopped: due DRs are still due and queued alerts still queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

/// A service that can be paused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// The SMTP listener.
    Smtp,
    /// The escalation cycles.
    Escalation,
    /// The alert mail notifier.
    Notifications,
}

impl Service {
    /// Every service, in display order.
    pub const ALL: [Service; 3] = [Service::Smtp, Service::Escalation, Service::Notifications];

    /// The name used in forms, the API and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Smtp => "smtp",
            Service::Escalation => "escalation",
            Service::Notifications => "notifications",
        }
    }

    /// Parses [`Service::as_str`].
    pub fn parse(s: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// A label for people.
    pub fn label(self) -> &'static str {
        match self {
            Service::Smtp => "SMTP listener",
            Service::Escalation => "Escalation server",
            Service::Notifications => "Alert notifications",
        }
    }
}

/// Pause switches, cheap to clone and share; also the doorbell of `serve`'s job runner (the
/// console rings it when it queues a job, so the job starts at once rather than at the
/// runner's next look).
#[derive(Clone, Debug, Default)]
pub struct Services {
    paused: Arc<[AtomicBool; 3]>,
    jobs: Arc<tokio::sync::Notify>,
}

/// Whether each service runs, for the status page and `GET /api/v1/status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceStates {
    /// The SMTP listener accepts mail.
    pub smtp: bool,
    /// Escalation cycles run.
    pub escalation: bool,
    /// Alert mail goes out.
    pub notifications: bool,
}

impl Services {
    /// All services running.
    pub fn new() -> Services {
        Services::default()
    }

    fn slot(s: Service) -> usize {
        match s {
            Service::Smtp => 0,
            Service::Escalation => 1,
            Service::Notifications => 2,
        }
    }

    /// Whether `s` is paused.
    pub fn is_paused(&self, s: Service) -> bool {
        self.paused[Self::slot(s)].load(Ordering::Relaxed)
    }

    /// Pauses or resumes `s`; returns whether that changed anything.
    pub fn set_paused(&self, s: Service, paused: bool) -> bool {
        self.paused[Self::slot(s)].swap(paused, Ordering::Relaxed) != paused
    }

    /// Pauses or resumes every service at once.
    pub fn set_all_paused(&self, paused: bool) {
        for s in Service::ALL {
            self.set_paused(s, paused);
        }
    }

    /// Tells the job runner a job was queued or asked to stop.
    pub fn wake_jobs(&self) {
        self.jobs.notify_one();
    }

    /// Waits until [`Services::wake_jobs`] is called (a call made while nobody waits is kept
    /// for the next wait).
    pub async fn jobs_woken(&self) {
        self.jobs.notified().await;
    }

    /// Which services run.
    pub fn states(&self) -> ServiceStates {
        ServiceStates {
            smtp: !self.is_paused(Service::Smtp),
            escalation: !self.is_paused(Service::Escalation),
            notifications: !self.is_paused(Service::Notifications),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_are_shared_between_clones() {
        let a = Services::new();
        let b = a.clone();
        assert!(!a.is_paused(Service::Smtp));
        assert!(b.set_paused(Service::Smtp, true));
        assert!(!b.set_paused(Service::Smtp, true), "already paused");
        assert!(a.is_paused(Service::Smtp));
        assert!(!a.is_paused(Service::Escalation));
        a.set_all_paused(true);
        assert_eq!(
            b.states(),
            ServiceStates {
                smtp: false,
                escalation: false,
                notifications: false
            }
        );
        for s in Service::ALL {
            assert_eq!(Service::parse(s.as_str()), Some(s));
        }
        assert_eq!(Service::parse("web"), None);
    }
}
