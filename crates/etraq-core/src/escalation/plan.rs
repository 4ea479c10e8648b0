//! Escalation (docs/tracking.md#escalation): the pure planner.
//!
//! [`plan`] looks at DRs at `now` and says, for each, what fires and what its state becomes:
//! a **Warning** to the owner once the customer has waited `warn_after` (again after each
//! follow-up while still unanswered), an **Escalated** alert to the supervisor and the owner past
//! `escalate_after`, one step further up the supervisor chain every `reescalate_every`, and
//! **Reminder** alerts at the times users set. A DR with nothing to fire is bypassed. Waiting
//! time is business time when a [`Calendar`] applies. The planner reads no clock and no store;
//! it also computes each DR's next due time, so a cycle only ever looks at DRs that are due.
//!
//! Guarantees (property-tested): monotone in `now`; nothing but reminders fires for replied or
//! closed DRs; each level fires at most once per wait.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};

use crate::address::EmailAddress;
use crate::calendar::Calendar;
use crate::model::{AlertKind, Dr, DrId, DrStatus, User};

/// How long a customer may wait, for one department (or the default).
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Seconds until the owner is warned.
    pub warn_after: i64,
    /// Seconds until the DR is escalated.
    pub escalate_after: i64,
    /// Seconds between further escalation levels, if any.
    pub reescalate_every: Option<i64>,
    /// Business hours; `None`: wall-clock time.
    pub calendar: Option<Calendar>,
}

impl Policy {
    /// Waiting time between two instants under this policy.
    pub fn elapsed(&self, from: Timestamp, to: Timestamp) -> i64 {
        match &self.calendar {
            Some(c) => c.business_seconds(from, to),
            None => (to.as_second() - from.as_second()).max(0),
        }
    }

    /// The instant at which `secs` of waiting time have passed since `from`.
    pub fn deadline(&self, from: Timestamp, secs: i64) -> Option<Timestamp> {
        match &self.calendar {
            Some(c) => c.add_business(from, secs),
            None => from
                .checked_add(SignedDuration::from_secs(secs.max(0)))
                .ok(),
        }
    }

    /// The waiting time at which escalation level `level` (1, 2, …) is reached, if it exists.
    fn level_threshold(&self, level: u32) -> Option<i64> {
        match level {
            0 => Some(0),
            1 => Some(self.escalate_after),
            n => self.reescalate_every.map(|e| {
                self.escalate_after
                    .saturating_add(e.saturating_mul(i64::from(n - 1)))
            }),
        }
    }
}

/// The default policy and the departments' overrides.
#[derive(Clone, Debug, PartialEq)]
pub struct Policies {
    /// For owners without a department, or whose department has no overrides.
    pub default: Policy,
    /// Department name → policy.
    pub departments: HashMap<String, Policy>,
}

impl Policies {
    /// The policy for an owner in `department`.
    pub fn for_department(&self, department: Option<&str>) -> &Policy {
        department
            .and_then(|d| self.departments.get(d))
            .unwrap_or(&self.default)
    }
}

/// The users, by address: departments and the supervisor chain.
pub type Directory = HashMap<EmailAddress, User>;

/// The [`Directory`] of these users (as the store lists them).
pub fn directory(users: Vec<User>) -> Directory {
    users.into_iter().map(|u| (u.email.clone(), u)).collect()
}

/// An alert to raise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// Its kind.
    pub kind: AlertKind,
    /// Recipients (the owner last).
    pub to: Vec<EmailAddress>,
    /// Escalation level (0 for warnings and reminders).
    pub level: u32,
    /// Waiting time so far, seconds.
    pub waited_secs: i64,
}

/// What the planner decided for one DR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The DR's new state (not yet versioned: the caller writes it).
    pub next: Dr,
    /// Alerts to raise; empty: bypassed.
    pub notices: Vec<Notice>,
    /// Problems found on the way (a supervisor loop, a missing supervisor).
    pub problems: Vec<String>,
}

impl Outcome {
    /// True when nothing fired.
    pub fn bypassed(&self) -> bool {
        self.notices.is_empty()
    }

    /// True when the DR's state changed and must be written.
    pub fn changed(&self, before: &Dr) -> bool {
        self.next != *before
    }
}

/// The supervisors above `owner`, nearest first, stopping at a loop (reported) or after 32 steps.
pub fn supervisor_chain(
    owner: &EmailAddress,
    users: &Directory,
) -> (Vec<EmailAddress>, Option<String>) {
    let mut chain: Vec<EmailAddress> = Vec::new();
    let mut at = owner;
    for _ in 0..32 {
        let Some(sup) = users.get(at).and_then(|u| u.supervisor.as_ref()) else {
            return (chain, None);
        };
        if sup == owner || chain.contains(sup) {
            let path: Vec<String> = std::iter::once(owner.to_string())
                .chain(chain.iter().map(|a| a.to_string()))
                .chain(std::iter::once(sup.to_string()))
                .collect();
            return (
                chain,
                Some(format!("supervisor loop: {}", path.join(" → "))),
            );
        }
        chain.push(sup.clone());
        at = sup;
    }
    (
        chain,
        Some(format!(
            "supervisor chain above {owner} is longer than 32; cut there"
        )),
    )
}

/// The escalation level a wait of `waited` seconds reaches, capped by the available chain.
fn target_level(policy: &Policy, waited: i64, max_level: u32) -> u32 {
    if waited < policy.escalate_after {
        return 0;
    }
    let level = match policy.reescalate_every {
        Some(every) if every > 0 => {
            1 + u32::try_from((waited - policy.escalate_after) / every).unwrap_or(u32::MAX)
        }
        _ => 1,
    };
    level.min(max_level)
}

/// Plans one DR at `now`.
pub fn plan_one(policies: &Policies, now: Timestamp, dr: &Dr, users: &Directory) -> Outcome {
    let department = users.get(&dr.owner).and_then(|u| u.department.as_deref());
    let policy = policies.for_department(department);
    let (chain, loop_problem) = supervisor_chain(&dr.owner, users);
    let mut problems: Vec<String> = loop_problem.into_iter().collect();
    // With no supervisor, level 1 still fires (to the owner); higher levels need more people.
    let max_level = (chain.len() as u32).max(1);
    let mut next = dr.clone();
    let mut notices = Vec::new();

    if let Some(r) = dr.remind_at
        && r <= now
    {
        notices.push(Notice {
            kind: AlertKind::Reminder,
            to: vec![dr.owner.clone()],
            level: 0,
            waited_secs: dr.awaiting_since.map_or(0, |s| policy.elapsed(s, now)),
        });
        next.remind_at = None;
    }

    if dr.status == DrStatus::Open
        && let Some(since) = dr.awaiting_since
    {
        let waited = policy.elapsed(since, now);
        let target = target_level(policy, waited, max_level);
        if target > dr.escalation_level {
            let mut to: Vec<EmailAddress> = Vec::new();
            match chain.get(target as usize - 1) {
                Some(sup) => to.push(sup.clone()),
                None => problems.push(format!(
                    "{} has no supervisor to escalate {} to",
                    dr.owner, dr.id
                )),
            }
            if !to.contains(&dr.owner) {
                to.push(dr.owner.clone());
            }
            notices.push(Notice {
                kind: AlertKind::Escalated,
                to,
                level: target,
                waited_secs: waited,
            });
            next.escalation_level = target;
        } else if dr.escalation_level == 0 && waited >= policy.warn_after && needs_warning(dr) {
            notices.push(Notice {
                kind: AlertKind::Warning,
                to: vec![dr.owner.clone()],
                level: 0,
                waited_secs: waited,
            });
            next.warned_at = Some(now);
        }
    }
    next.due_at = next_due(policy, &next, max_level);
    Outcome {
        next,
        notices,
        problems,
    }
}

/// A warning is due unless one was given after the customer's latest mail in this wait.
fn needs_warning(dr: &Dr) -> bool {
    match (dr.warned_at, dr.last_customer_at) {
        (None, _) => true,
        (Some(w), Some(c)) => c > w,
        (Some(_), None) => false,
    }
}

/// When something can next fire for this DR (its reminder, its warning, its next escalation
/// level), or `None`. It depends on the DR's state alone: whatever fired in this cycle changed
/// that state (warned, level raised, reminder cleared), so its time is no longer considered and
/// a planned DR is not picked up again until something is really due.
pub fn next_due(policy: &Policy, dr: &Dr, max_level: u32) -> Option<Timestamp> {
    let mut due: Option<Timestamp> = dr.remind_at;
    let mut consider = |t: Option<Timestamp>| {
        if let Some(t) = t {
            due = Some(due.map_or(t, |d| d.min(t)));
        }
    };
    if dr.status == DrStatus::Open
        && let Some(since) = dr.awaiting_since
    {
        if dr.escalation_level == 0 && needs_warning(dr) {
            consider(policy.deadline(since, policy.warn_after));
        }
        let next_level = dr.escalation_level + 1;
        if next_level <= max_level
            && let Some(threshold) = policy.level_threshold(next_level)
        {
            consider(policy.deadline(since, threshold));
        }
    }
    due
}

/// Plans every DR given (those the store found due).
pub fn plan(policies: &Policies, now: Timestamp, drs: &[Dr], users: &Directory) -> Vec<Outcome> {
    drs.iter()
        .map(|dr| plan_one(policies, now, dr, users))
        .collect()
}

/// The DR a notice is about, for messages.
pub fn describe(dr: &DrId, n: &Notice) -> String {
    let to: Vec<String> = n.to.iter().map(|a| a.to_string()).collect();
    let level = if n.kind == AlertKind::Escalated {
        format!(" level {}", n.level)
    } else {
        String::new()
    };
    format!(
        "{}{level} for {dr} to {} after {}",
        n.kind,
        to.join(", "),
        crate::duration::format_seconds(n.waited_secs)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MailType;
    use proptest::prelude::*;

    fn addr(s: &str) -> EmailAddress {
        EmailAddress::parse(s).unwrap()
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn plus(ts: Timestamp, secs: i64) -> Timestamp {
        ts.checked_add(SignedDuration::from_secs(secs)).unwrap()
    }

    const H: i64 = 3600;

    fn policies(reescalate: Option<i64>) -> Policies {
        Policies {
            default: Policy {
                warn_after: 4 * H,
                escalate_after: 24 * H,
                reescalate_every: reescalate,
                calendar: None,
            },
            departments: HashMap::new(),
        }
    }

    fn open_dr(since: Timestamp) -> Dr {
        Dr {
            id: DrId::parse("SUPP-11272026.1").unwrap(),
            owner: addr("agent@example.com"),
            cc_users: vec![],
            customer: addr("c@customer.test"),
            participants: vec![],
            subject: "help".into(),
            status: DrStatus::Open,
            assigned_on: since,
            first_response_at: None,
            awaiting_since: Some(since),
            last_activity: since,
            escalation_level: 0,
            last_sender: addr("c@customer.test"),
            last_recipient: None,
            last_mail_type: MailType::Normal,
            last_customer_at: Some(since),
            warned_at: None,
            remind_at: None,
            due_at: Some(since),
            version: 1,
        }
    }

    fn directory() -> Directory {
        let mut d = Directory::new();
        for (who, sup) in [
            ("agent@example.com", Some("lead@example.com")),
            ("lead@example.com", Some("head@example.com")),
            ("head@example.com", None),
        ] {
            let mut u = User::new(addr(who), who);
            u.supervisor = sup.map(addr);
            d.insert(u.email.clone(), u);
        }
        d
    }

    fn kinds(o: &Outcome) -> Vec<(AlertKind, u32)> {
        o.notices.iter().map(|n| (n.kind, n.level)).collect()
    }

    #[test]
    fn warns_exactly_at_warn_after_then_escalates_up_the_chain() {
        let t0 = t("2026-11-27T09:00:00Z");
        let p = policies(Some(8 * H));
        let users = directory();
        let dr = open_dr(t0);
        assert!(plan_one(&p, plus(t0, 4 * H - 1), &dr, &users).bypassed());
        let warned = plan_one(&p, plus(t0, 4 * H), &dr, &users);
        assert_eq!(kinds(&warned), vec![(AlertKind::Warning, 0)]);
        assert_eq!(warned.notices[0].to, vec![addr("agent@example.com")]);
        assert_eq!(
            warned.next.due_at,
            Some(plus(t0, 24 * H)),
            "next: the escalation"
        );
        let esc = plan_one(&p, plus(t0, 24 * H), &warned.next, &users);
        assert_eq!(kinds(&esc), vec![(AlertKind::Escalated, 1)]);
        assert_eq!(
            esc.notices[0].to,
            vec![addr("lead@example.com"), addr("agent@example.com")]
        );
        assert_eq!(esc.next.due_at, Some(plus(t0, 32 * H)));
        let esc2 = plan_one(&p, plus(t0, 32 * H), &esc.next, &users);
        assert_eq!(kinds(&esc2), vec![(AlertKind::Escalated, 2)]);
        assert_eq!(
            esc2.notices[0].to,
            vec![addr("head@example.com"), addr("agent@example.com")]
        );
        // The chain ends at head: nothing further is due.
        assert_eq!(esc2.next.due_at, None);
        assert!(plan_one(&p, plus(t0, 1000 * H), &esc2.next, &users).bypassed());
    }

    #[test]
    fn a_missed_cycle_jumps_to_the_current_level_once() {
        let t0 = t("2026-11-27T09:00:00Z");
        let o = plan_one(
            &policies(Some(8 * H)),
            plus(t0, 40 * H),
            &open_dr(t0),
            &directory(),
        );
        assert_eq!(
            kinds(&o),
            vec![(AlertKind::Escalated, 2)],
            "no warning and no level 1 on the way"
        );
    }

    #[test]
    fn a_follow_up_rearms_the_warning_but_not_the_escalation() {
        let t0 = t("2026-11-27T09:00:00Z");
        let p = policies(None);
        let users = directory();
        let warned = plan_one(&p, plus(t0, 5 * H), &open_dr(t0), &users).next;
        let mut nudged = warned.clone();
        nudged.last_customer_at = Some(plus(t0, 6 * H));
        nudged.due_at = Some(plus(t0, 6 * H));
        let again = plan_one(&p, plus(t0, 6 * H), &nudged, &users);
        assert_eq!(kinds(&again), vec![(AlertKind::Warning, 0)]);
        let esc = plan_one(&p, plus(t0, 24 * H), &again.next, &users);
        assert_eq!(kinds(&esc), vec![(AlertKind::Escalated, 1)]);
        let mut nudged = esc.next.clone();
        nudged.last_customer_at = Some(plus(t0, 25 * H));
        assert!(
            plan_one(&p, plus(t0, 25 * H), &nudged, &users).bypassed(),
            "escalated DRs are not warned again"
        );
    }

    #[test]
    fn reminders_fire_once_for_any_status() {
        let t0 = t("2026-11-27T09:00:00Z");
        let mut dr = open_dr(t0);
        dr.status = DrStatus::Closed;
        dr.awaiting_since = None;
        dr.remind_at = Some(plus(t0, H));
        let p = policies(None);
        assert!(plan_one(&p, plus(t0, H - 1), &dr, &directory()).bypassed());
        let o = plan_one(&p, plus(t0, H), &dr, &directory());
        assert_eq!(kinds(&o), vec![(AlertKind::Reminder, 0)]);
        assert_eq!(o.next.remind_at, None);
        assert_eq!(o.next.due_at, None);
    }

    #[test]
    fn supervisor_loops_are_reported_not_followed() {
        let mut users = directory();
        if let Some(u) = users.get_mut(&addr("head@example.com")) {
            u.supervisor = Some(addr("agent@example.com"));
        }
        let (chain, problem) = supervisor_chain(&addr("agent@example.com"), &users);
        assert_eq!(
            chain,
            vec![addr("lead@example.com"), addr("head@example.com")]
        );
        assert!(problem.unwrap().contains("supervisor loop"));
        let t0 = t("2026-11-27T09:00:00Z");
        let o = plan_one(&policies(Some(H)), plus(t0, 100 * H), &open_dr(t0), &users);
        assert_eq!(kinds(&o), vec![(AlertKind::Escalated, 2)]);
        assert!(!o.problems.is_empty());
    }

    #[test]
    fn business_hours_delay_everything() {
        let cal = Calendar::new(
            jiff::tz::TimeZone::UTC,
            &[
                "mon".into(),
                "tue".into(),
                "wed".into(),
                "thu".into(),
                "fri".into(),
            ],
            "09:00",
            "17:00",
            &[],
        )
        .unwrap();
        let mut p = policies(None);
        p.default.calendar = Some(cal);
        // Friday 15:00: 4 business hours are reached Monday 11:00.
        let dr = open_dr(t("2026-11-27T15:00:00Z"));
        assert!(plan_one(&p, t("2026-11-29T23:00:00Z"), &dr, &directory()).bypassed());
        let o = plan_one(&p, t("2026-11-30T11:00:00Z"), &dr, &directory());
        assert_eq!(kinds(&o), vec![(AlertKind::Warning, 0)]);
        assert_eq!(
            plan_one(&p, t("2026-11-27T15:00:00Z"), &dr, &directory())
                .next
                .due_at,
            Some(t("2026-11-30T11:00:00Z"))
        );
    }

    fn arb_dr() -> impl Strategy<Value = Dr> {
        (
            0i64..200,
            0u32..4,
            any::<bool>(),
            0usize..3,
            proptest::option::of(0i64..300),
        )
            .prop_map(|(since_h, level, warned, status, remind)| {
                let t0 = t("2026-11-27T00:00:00Z");
                let mut dr = open_dr(plus(t0, since_h * H));
                dr.escalation_level = level;
                dr.warned_at = warned.then(|| plus(t0, since_h * H + 1));
                dr.status = [DrStatus::Open, DrStatus::Replied, DrStatus::Closed][status];
                if dr.status != DrStatus::Open {
                    dr.awaiting_since = None;
                    dr.escalation_level = 0;
                }
                dr.remind_at = remind.map(|h| plus(t0, h * H));
                dr
            })
    }

    fn rank(o: &Outcome) -> u32 {
        o.notices
            .iter()
            .map(|n| match n.kind {
                AlertKind::Escalated => 1 + n.level,
                AlertKind::Warning => 1,
                AlertKind::Reminder => 0,
            })
            .max()
            .unwrap_or(0)
    }

    proptest! {
        /// Later `now`, at least as much fires.
        #[test]
        fn monotone_in_now(dr in arb_dr(), a in 0i64..400, b in 0i64..400, re in proptest::option::of(1i64..48)) {
            let (a, b) = (a.min(b), a.max(b));
            let t0 = t("2026-11-27T00:00:00Z");
            let p = policies(re.map(|h| h * H));
            let users = directory();
            let early = plan_one(&p, plus(t0, a * H), &dr, &users);
            let late = plan_one(&p, plus(t0, b * H), &dr, &users);
            prop_assert!(rank(&late) >= rank(&early));
            prop_assert!(late.next.escalation_level >= early.next.escalation_level);
            let reminded = |o: &Outcome| o.notices.iter().any(|n| n.kind == AlertKind::Reminder);
            prop_assert!(!reminded(&early) || reminded(&late));
        }

        /// Replied and closed DRs get nothing but their reminders.
        #[test]
        fn nothing_fires_for_replied_or_closed(mut dr in arb_dr(), h in 0i64..400) {
            if dr.status == DrStatus::Open {
                dr.status = DrStatus::Replied;
                dr.awaiting_since = None;
            }
            let o = plan_one(&policies(Some(H)), plus(t("2026-11-27T00:00:00Z"), h * H), &dr, &directory());
            prop_assert!(o.notices.iter().all(|n| n.kind == AlertKind::Reminder));
        }

        /// Cycles at increasing times over one wait: each level fires at most once, and a cycle
        /// run twice at the same `now` adds nothing.
        #[test]
        fn each_level_at_most_once_per_wait(start in 0i64..100, steps in proptest::collection::vec(0i64..20, 1..40), re in proptest::option::of(1i64..24)) {
            let t0 = t("2026-11-27T00:00:00Z");
            let p = policies(re.map(|h| h * H));
            let users = directory();
            let mut dr = open_dr(plus(t0, start * H));
            let mut now = plus(t0, start * H);
            let mut fired: Vec<(AlertKind, u32)> = Vec::new();
            for s in steps {
                now = plus(now, s * H);
                let o = plan_one(&p, now, &dr, &users);
                fired.extend(kinds(&o));
                dr = o.next;
                prop_assert!(plan_one(&p, now, &dr, &users).bypassed(), "a second cycle at the same now fired again");
                prop_assert!(dr.due_at.is_none_or(|d| d > now), "due again at or before now");
            }
            let mut seen = fired.clone();
            seen.sort_by_key(|(k, l)| (k.as_str(), *l));
            seen.dedup();
            prop_assert_eq!(seen.len(), fired.len(), "a level fired twice: {:?}", fired);
        }
    }
}
