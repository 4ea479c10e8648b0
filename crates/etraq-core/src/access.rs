//! Who may see what: the visibility rules of the console and the JSON API.
//!
//! The console holds every customer conversation of the company, so what a signed-in person sees
//! is decided here, once, as pure functions of the person and the user directory — never in a
//! page handler. An **agent** sees the DRs they own or are CC'd on, a **supervisor** sees their
//! department (and everyone who reports to them), an **admin** sees everything. The same
//! [`Scope`] filters listings (as the stores' `involving` filter, an index lookup) and checks a
//! single record opened by URL.

use std::collections::BTreeSet;

use crate::address::EmailAddress;
use crate::model::{Alert, Dr, MailRecord, Role, User};

/// The login name of the built-in administrator (`etraq admin passwd`), who is not a mail user.
pub const ADMIN_LOGIN: &str = "admin";

/// A signed-in person: the built-in administrator or a registered user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Viewer {
    /// What they signed in as: [`ADMIN_LOGIN`] or the user's address.
    pub login: String,
    /// The user record, for registered users.
    pub user: Option<User>,
    /// Their role (the built-in administrator is an admin).
    pub role: Role,
}

impl Viewer {
    /// The built-in administrator.
    pub fn admin() -> Viewer {
        Viewer {
            login: ADMIN_LOGIN.to_string(),
            user: None,
            role: Role::Admin,
        }
    }

    /// A registered user, with the role of their record.
    pub fn user(user: User) -> Viewer {
        Viewer {
            login: user.email.to_string(),
            role: user.role,
            user: Some(user),
        }
    }

    /// True for admins: configuration, users, services and log files are theirs alone.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// True for supervisors and admins, who see escalation cycles.
    pub fn is_supervisor(&self) -> bool {
        matches!(self.role, Role::Supervisor | Role::Admin)
    }

    /// The user's address, for registered users.
    pub fn email(&self) -> Option<&EmailAddress> {
        self.user.as_ref().map(|u| &u.email)
    }
}

/// Someone acting through a use case of [`crate::service`]: who they are and what they see. The
/// console and the API make one per request from the sign-in; the CLI acts as the built-in
/// administrator, since whoever runs it has the store's files anyway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// Who.
    pub viewer: Viewer,
    /// What they may see.
    pub scope: Scope,
}

impl Actor {
    /// The built-in administrator (the CLI, schedules).
    pub fn admin() -> Actor {
        Actor {
            viewer: Viewer::admin(),
            scope: Scope::All,
        }
    }

    /// `viewer` with their scope given the user directory.
    pub fn new(viewer: Viewer, users: &[User]) -> Actor {
        let scope = Scope::of(&viewer, users);
        Actor { viewer, scope }
    }

    /// Fails unless an admin acts: configuration, users, services and log files.
    pub fn require_admin(&self) -> crate::error::Result<()> {
        if self.viewer.is_admin() {
            Ok(())
        } else {
            Err(crate::error::Error::Forbidden(
                "only administrators may do this".into(),
            ))
        }
    }

    /// Fails unless a supervisor or an admin acts: escalation cycles.
    pub fn require_supervisor(&self) -> crate::error::Result<()> {
        if self.viewer.is_supervisor() {
            Ok(())
        } else {
            Err(crate::error::Error::Forbidden(
                "only supervisors and administrators may do this".into(),
            ))
        }
    }
}

/// What a viewer may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything (admins).
    All,
    /// DRs and mail involving one of these users.
    Users(BTreeSet<EmailAddress>),
}

impl Scope {
    /// The scope of `viewer`, given every user record. An agent's scope is themself; a
    /// supervisor's is themself, every user of their department, and everyone whose supervisor
    /// chain leads to them; an admin's is everything.
    pub fn of(viewer: &Viewer, users: &[User]) -> Scope {
        if viewer.role == Role::Admin {
            return Scope::All;
        }
        let Some(me) = &viewer.user else {
            return Scope::Users(BTreeSet::new());
        };
        let mut set = BTreeSet::from([me.email.clone()]);
        if viewer.role == Role::Supervisor {
            if let Some(dept) = me.department.as_deref().filter(|d| !d.is_empty()) {
                for u in users {
                    if u.department.as_deref() == Some(dept) {
                        set.insert(u.email.clone());
                    }
                }
            }
            for u in users {
                if reports_to(u, &me.email, users) {
                    set.insert(u.email.clone());
                }
            }
        }
        Scope::Users(set)
    }

    /// The store filter for listings: `None` for everything, else the users.
    pub fn involving(&self) -> Option<Vec<EmailAddress>> {
        match self {
            Scope::All => None,
            Scope::Users(set) => Some(set.iter().cloned().collect()),
        }
    }

    /// Whether `addr` is in scope.
    pub fn includes(&self, addr: &EmailAddress) -> bool {
        match self {
            Scope::All => true,
            Scope::Users(set) => set.contains(addr),
        }
    }

    /// Whether the viewer may open this DR: its owner or a CC user is in scope.
    pub fn sees_dr(&self, dr: &Dr) -> bool {
        dr.users().into_iter().any(|u| self.includes(u))
    }

    /// Whether the viewer may open this mail: an address on it is in scope, or it belongs to a
    /// DR they see (`dr_visible`).
    pub fn sees_mail(&self, mail: &MailRecord, dr_visible: bool) -> bool {
        dr_visible || mail.addresses().into_iter().any(|a| self.includes(a))
    }

    /// Whether the viewer sees this alert: it went to someone in scope.
    pub fn sees_alert(&self, alert: &Alert) -> bool {
        self.includes(&alert.user) || self.includes(&alert.dr_owner)
    }
}

/// Whether `user`'s supervisor chain reaches `boss` (cycles in the directory are cut).
fn reports_to(user: &User, boss: &EmailAddress, users: &[User]) -> bool {
    let mut seen = BTreeSet::new();
    let mut cur = user.supervisor.clone();
    while let Some(s) = cur {
        if &s == boss {
            return true;
        }
        if !seen.insert(s.clone()) {
            return false;
        }
        cur = users
            .iter()
            .find(|u| u.email == s)
            .and_then(|u| u.supervisor.clone());
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> EmailAddress {
        EmailAddress::parse(s).unwrap()
    }

    fn user(e: &str, dept: Option<&str>, sup: Option<&str>, role: Role) -> User {
        let mut u = User::new(addr(e), e);
        u.department = dept.map(String::from);
        u.supervisor = sup.map(addr);
        u.role = role;
        u
    }

    fn directory() -> Vec<User> {
        vec![
            user("ann@x.test", Some("SUPP"), Some("sue@x.test"), Role::Agent),
            user("bob@x.test", Some("SUPP"), Some("sue@x.test"), Role::Agent),
            user("cat@x.test", Some("SALES"), Some("sam@x.test"), Role::Agent),
            user(
                "sue@x.test",
                Some("SUPP"),
                Some("boss@x.test"),
                Role::Supervisor,
            ),
            user(
                "sam@x.test",
                Some("SALES"),
                Some("boss@x.test"),
                Role::Supervisor,
            ),
            user("boss@x.test", None, None, Role::Supervisor),
            // A loop in the directory must not hang the scope computation.
            user("l1@x.test", None, Some("l2@x.test"), Role::Agent),
            user("l2@x.test", None, Some("l1@x.test"), Role::Agent),
        ]
    }

    fn scope_of(e: &str) -> Scope {
        let users = directory();
        let u = users
            .iter()
            .find(|u| u.email.as_str() == e)
            .unwrap()
            .clone();
        Scope::of(&Viewer::user(u), &users)
    }

    fn set(v: &[&str]) -> Scope {
        Scope::Users(v.iter().map(|s| addr(s)).collect())
    }

    #[test]
    fn an_agent_sees_only_themself() {
        assert_eq!(scope_of("ann@x.test"), set(&["ann@x.test"]));
    }

    #[test]
    fn a_supervisor_sees_their_department_and_reports() {
        assert_eq!(
            scope_of("sue@x.test"),
            set(&["ann@x.test", "bob@x.test", "sue@x.test"])
        );
        // No department of their own, but two supervisors (and their teams) report to them.
        assert_eq!(
            scope_of("boss@x.test"),
            set(&[
                "ann@x.test",
                "bob@x.test",
                "boss@x.test",
                "cat@x.test",
                "sam@x.test",
                "sue@x.test"
            ])
        );
        assert_eq!(scope_of("l1@x.test"), set(&["l1@x.test"]));
    }

    #[test]
    fn admins_see_everything_and_unknown_viewers_nothing() {
        assert_eq!(Scope::of(&Viewer::admin(), &directory()), Scope::All);
        let ghost = Viewer {
            login: "ghost".into(),
            user: None,
            role: Role::Agent,
        };
        assert_eq!(
            Scope::of(&ghost, &directory()),
            Scope::Users(BTreeSet::new())
        );
        assert_eq!(
            Scope::of(&ghost, &directory()).involving(),
            Some(Vec::new())
        );
    }
}
