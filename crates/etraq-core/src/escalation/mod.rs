//! Escalation (the contract's warning, escalation and reminder rules): the pure planner over
//! policies and a business-hours calendar, the alert mail it leads to, and
//! [`EscalationStore`], this area's part of the store contract. Running cycles and mailing the
//! outbox are use cases, in [`crate::service`].

mod alert_mail;
mod plan;
mod store;

pub use crate::outbox::{Outbound, backoff};
pub use alert_mail::alert_message;
pub use plan::{
    Directory, Notice, Outcome, Policies, Policy, describe, directory, next_due, plan, plan_one,
    supervisor_chain,
};
pub use store::{AlertQuery, CycleWrite, EscalationStore};
