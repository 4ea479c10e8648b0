//! `etraq user add|set|list`: parse, call the user administration use cases as the
//! administrator, print.

use anyhow::Result;
use etraq_core::access::Actor;
use etraq_core::service::App;
use etraq_core::{Role, User};

use crate::cli::{OnOff, RoleArg, UserAddArgs, UserCommand, UserSetArgs};
use crate::commands::parse_address;
use crate::context::Context;
use crate::out::Out;
use crate::render;

pub async fn run(ctx: &Context, cmd: UserCommand) -> Result<()> {
    if let UserCommand::Passwd(a) = cmd {
        return crate::commands::auth::user_passwd(ctx, a).await;
    }
    let app = ctx.app().await?;
    let result = command(&app, cmd).await;
    app.store().close().await?;
    result
}

async fn command(app: &App, cmd: UserCommand) -> Result<()> {
    let who = Actor::admin();
    match cmd {
        UserCommand::Add(a) => add(app, &who, a).await,
        UserCommand::Set(a) => set(app, &who, a).await,
        UserCommand::Passwd(_) => Ok(()),
        UserCommand::List(a) => {
            let users = app.users(&who).await?;
            let mut out = Out::new();
            if a.json {
                out.line(serde_json::to_string_pretty(&users)?)?;
            } else {
                out.line(render::user_table(&users).to_string())?;
            }
            Ok(())
        }
    }
}

fn role(r: RoleArg) -> Role {
    match r {
        RoleArg::Agent => Role::Agent,
        RoleArg::Supervisor => Role::Supervisor,
        RoleArg::Admin => Role::Admin,
    }
}

fn optional(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// A use case's refusal of a field, worded for the command line.
fn refused(e: etraq_core::Error, email: &etraq_core::EmailAddress) -> anyhow::Error {
    match e {
        etraq_core::Error::InvalidField {
            field: "email",
            reason,
        } if reason.contains("already") => anyhow::anyhow!(
            "user {email} already exists; change it with `etraq user set {email} …`"
        ),
        etraq_core::Error::InvalidField { field, reason } => match field {
            "email" => anyhow::anyhow!("EMAIL: {reason}"),
            f => anyhow::anyhow!("--{f}: {reason}"),
        },
        etraq_core::Error::NotFound { .. } => {
            anyhow::anyhow!("no user {email}; add it with `etraq user add {email} --name …`")
        }
        other => other.into(),
    }
}

async fn add(app: &App, who: &Actor, a: UserAddArgs) -> Result<()> {
    let email = parse_address("EMAIL", &a.email)?;
    let mut user = User::new(email.clone(), a.name.trim());
    user.department = a.department.as_deref().and_then(optional);
    user.supervisor = a
        .supervisor
        .as_deref()
        .map(|s| parse_address("--supervisor", s))
        .transpose()?;
    user.role = role(a.role);
    user.tracking = !a.no_tracking;
    user.alerts = !a.no_alerts;
    let user = app
        .add_user(who, user)
        .await
        .map_err(|e| refused(e, &email))?;
    print_user(&user, a.json, "added")
}

async fn set(app: &App, who: &Actor, a: UserSetArgs) -> Result<()> {
    let email = parse_address("EMAIL", &a.email)?;
    let mut user = app
        .user(who, &email)
        .await
        .map_err(|e| refused(e, &email))?;
    if let Some(n) = a.name {
        user.name = n.trim().to_string();
    }
    if let Some(d) = a.department {
        user.department = optional(&d);
    }
    if let Some(s) = a.supervisor {
        user.supervisor = match optional(&s) {
            Some(s) => Some(parse_address("--supervisor", &s)?),
            None => None,
        };
    }
    if let Some(r) = a.role {
        user.role = role(r);
    }
    if let Some(t) = a.tracking {
        user.tracking = t == OnOff::On;
    }
    if let Some(t) = a.alerts {
        user.alerts = t == OnOff::On;
    }
    let user = app
        .update_user(who, user)
        .await
        .map_err(|e| refused(e, &email))?;
    print_user(&user, a.json, "updated")
}

fn print_user(user: &User, json: bool, verb: &str) -> Result<()> {
    let mut out = Out::new();
    if json {
        out.line(serde_json::to_string_pretty(user)?)?;
    } else {
        out.line(format!(
            "{verb} {} ({}), role {}, tracking {}, alert mail {}",
            user.email,
            user.name,
            user.role,
            if user.tracking { "on" } else { "off" },
            if user.alerts { "on" } else { "off" }
        ))?;
    }
    Ok(())
}
