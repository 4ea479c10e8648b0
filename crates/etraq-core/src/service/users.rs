//! User administration (admins): list, add, change. The rules of a user record are checked
//! here, once, whichever frontend asks: a company address, a name, no self-supervision. (A
//! supervisor who is not registered yet is allowed: users are often added in any order, and the
//! escalation planner reports a chain that leads nowhere.)

use crate::access::Actor;
use crate::address::EmailAddress;
use crate::error::{Error, Result};
use crate::model::User;
use crate::service::App;

/// Longest user name accepted.
pub const MAX_NAME_CHARS: usize = 200;

/// The problems of a user record, by field (empty when it may be saved). Pure, so a form can
/// show every problem at once.
pub fn user_problems(user: &User, local_domains: &[String]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if !local_domains.is_empty() && !local_domains.iter().any(|d| d == user.email.domain()) {
        out.push((
            "email",
            format!(
                "{} is not in local_domains ({}); users are employees with a company address",
                user.email,
                local_domains.join(", ")
            ),
        ));
    }
    let n = user.name.trim().chars().count();
    if n == 0 || n > MAX_NAME_CHARS {
        out.push((
            "name",
            format!("enter a name of 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    if user.supervisor.as_ref() == Some(&user.email) {
        out.push(("supervisor", "a user cannot supervise themself".into()));
    }
    out
}

impl App {
    /// Every user, ordered by address (admins).
    pub async fn users(&self, who: &Actor) -> Result<Vec<User>> {
        who.require_admin()?;
        self.store.list_users().await
    }

    /// A user by address (admins).
    pub async fn user(&self, who: &Actor, email: &EmailAddress) -> Result<User> {
        who.require_admin()?;
        self.store
            .get_user(email)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "user",
                key: email.to_string(),
            })
    }

    /// The problems `user` would have if saved (see [`user_problems`]).
    pub fn check_user(&self, user: &User) -> Result<Vec<(&'static str, String)>> {
        let rules = self.config().tracking_rules()?;
        Ok(user_problems(user, &rules.local_domains))
    }

    /// The problems a new user would have if added: [`App::check_user`]'s, and an address
    /// registered already.
    pub async fn check_new_user(&self, user: &User) -> Result<Vec<(&'static str, String)>> {
        let mut problems = self.check_user(user)?;
        if self.store.get_user(&user.email).await?.is_some() {
            problems.insert(0, ("email", format!("{} is already a user", user.email)));
        }
        Ok(problems)
    }

    /// The users a DR can be given to, for any signed-in person choosing a new owner.
    pub async fn assignable_owners(&self, _who: &Actor) -> Result<Vec<User>> {
        self.store.list_users().await
    }

    /// Adds a user (admins); refused when the address is registered already.
    pub async fn add_user(&self, who: &Actor, mut user: User) -> Result<User> {
        who.require_admin()?;
        if self.store.get_user(&user.email).await?.is_some() {
            return Err(Error::InvalidField {
                field: "email",
                reason: format!("user {} already exists", user.email),
            });
        }
        user.name = user.name.trim().to_string();
        self.save_user(who, user).await
    }

    /// Replaces a registered user's record (admins).
    pub async fn update_user(&self, who: &Actor, mut user: User) -> Result<User> {
        who.require_admin()?;
        if self.store.get_user(&user.email).await?.is_none() {
            return Err(Error::NotFound {
                what: "user",
                key: user.email.to_string(),
            });
        }
        user.name = user.name.trim().to_string();
        self.save_user(who, user).await
    }

    async fn save_user(&self, who: &Actor, user: User) -> Result<User> {
        if let Some((field, reason)) = self.check_user(&user)?.into_iter().next() {
            return Err(Error::InvalidField { field, reason });
        }
        self.store.put_user(&user).await?;
        tracing::info!(user = %user.email, by = %who.viewer.login, "user saved");
        Ok(user)
    }
}
