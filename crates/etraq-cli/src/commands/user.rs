//! `etraq user add|set|list`.

use anyhow::{Result, bail};
use etraq_core::{Role, User};

use crate::cli::{OnOff, RoleArg, UserAddArgs, UserCommand, UserSetArgs};
use crate::commands::parse_address;
use crate::context::Context;
use crate::out::Out;
use crate::render;

pub async fn run(ctx: &Context, cmd: UserCommand) -> Result<()> {
    let store = ctx.open_store().await?;
    let result = match cmd {
        UserCommand::Add(a) => add(ctx, &*store, a).await,
        UserCommand::Set(a) => set(ctx, &*store, a).await,
        UserCommand::Passwd(a) => {
            store.close().await?;
            return crate::commands::auth::user_passwd(ctx, a).await;
        }
        UserCommand::List(a) => {
            let users = store.list_users().await?;
            let mut out = Out::new();
            if a.json {
                out.line(serde_json::to_string_pretty(&users)?)?;
            } else {
                out.line(render::user_table(&users).to_string())?;
            }
            Ok(())
        }
    };
    store.close().await?;
    result
}

fn role(r: RoleArg) -> Role {
    match r {
        RoleArg::Agent => Role::Agent,
        RoleArg::Supervisor => Role::Supervisor,
        RoleArg::Admin => Role::Admin,
    }
}

fn check_local(ctx: &Context, email: &etraq_core::EmailAddress) -> Result<()> {
    let rules = ctx.config.tracking_rules()?;
    if !rules.local_domains.is_empty() && !rules.is_local(email) {
        bail!(
            "{email} is not in local_domains ({}); users are employees with a company address",
            rules.local_domains.join(", ")
        );
    }
    Ok(())
}

fn optional(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

async fn add(ctx: &Context, store: &dyn etraq_core::Store, a: UserAddArgs) -> Result<()> {
    let email = parse_address("EMAIL", &a.email)?;
    check_local(ctx, &email)?;
    if store.get_user(&email).await?.is_some() {
        bail!("user {email} already exists; change it with `etraq user set {email} …`");
    }
    let mut user = User::new(email, a.name.trim());
    user.department = a.department.as_deref().and_then(optional);
    user.supervisor = a
        .supervisor
        .as_deref()
        .map(|s| parse_address("--supervisor", s))
        .transpose()?;
    user.role = role(a.role);
    user.tracking = !a.no_tracking;
    user.alerts = !a.no_alerts;
    store.put_user(&user).await?;
    print_user(&user, a.json, "added")
}

async fn set(_ctx: &Context, store: &dyn etraq_core::Store, a: UserSetArgs) -> Result<()> {
    let email = parse_address("EMAIL", &a.email)?;
    let Some(mut user) = store.get_user(&email).await? else {
        bail!("no user {email}; add it with `etraq user add {email} --name …`");
    };
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
    store.put_user(&user).await?;
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
