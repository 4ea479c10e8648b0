//! `etraq admin passwd`, `etraq user passwd`, `etraq token create|list|revoke`: the console's
//! credentials, from the command line (for a first setup, scripts, and a lost admin password).

use std::io::{BufRead, IsTerminal};

use anyhow::{Result, bail};
use etraq_core::access::ADMIN_LOGIN;
use etraq_web::credentials;

use crate::cli::{AdminCommand, TokenCommand, UserPasswdArgs};
use crate::commands::parse_address;
use crate::context::Context;
use crate::out::Out;
use crate::render::TableExt as _;

/// Reads a new password: twice, without echo, on a terminal; one line from standard input
/// otherwise (so scripts can pipe it).
fn read_new_password() -> Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let term = console::Term::stderr();
        term.write_str("New password: ")?;
        let a = term.read_secure_line()?;
        term.write_str("Again: ")?;
        let b = term.read_secure_line()?;
        if a != b {
            bail!("the two passwords differ; nothing changed");
        }
        Ok(a)
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        let pw = line.trim_end_matches(['\r', '\n']).to_string();
        if pw.is_empty() {
            bail!("no password on standard input; nothing changed");
        }
        Ok(pw)
    }
}

fn check(pw: &str) -> Result<()> {
    credentials::check_new_password(pw).map_err(|m| anyhow::anyhow!("password: {m}"))
}

/// `etraq admin passwd`.
pub async fn admin(ctx: &Context, cmd: AdminCommand) -> Result<()> {
    match cmd {
        AdminCommand::Passwd => {
            let pw = read_new_password()?;
            check(&pw)?;
            let store = ctx.open_store().await?;
            let r = credentials::change_password(store.as_ref(), ADMIN_LOGIN, &pw, None).await;
            store.close().await?;
            let changed = r.map_err(|e| anyhow::anyhow!("{e}"))?;
            Out::new().line(format!("admin password set{}", what_ended(changed)))?;
            Ok(())
        }
    }
}

/// `etraq user passwd EMAIL`.
pub async fn user_passwd(ctx: &Context, a: UserPasswdArgs) -> Result<()> {
    let email = parse_address("EMAIL", &a.email)?;
    let store = ctx.open_store().await?;
    let exists = store.get_user(&email).await;
    let exists = match exists {
        Ok(e) => e.is_some(),
        Err(e) => {
            store.close().await?;
            return Err(e.into());
        }
    };
    if !exists {
        store.close().await?;
        bail!("no user {email}; add it with `etraq user add {email} --name …`");
    }
    let pw = match read_new_password().and_then(|pw| check(&pw).map(|_| pw)) {
        Ok(pw) => pw,
        Err(e) => {
            store.close().await?;
            return Err(e);
        }
    };
    let r = credentials::change_password(store.as_ref(), email.as_str(), &pw, None).await;
    store.close().await?;
    let changed = r.map_err(|e| anyhow::anyhow!("{e}"))?;
    Out::new().line(format!("password set for {email}{}", what_ended(changed)))?;
    Ok(())
}

/// "; 2 session(s) signed out, 1 API token(s) revoked", or nothing when nothing was ended.
fn what_ended(c: credentials::PasswordChanged) -> String {
    let mut parts = Vec::new();
    if c.sessions_ended > 0 {
        parts.push(format!("{} session(s) signed out", c.sessions_ended));
    }
    if c.tokens_revoked > 0 {
        parts.push(format!("{} API token(s) revoked", c.tokens_revoked));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("; {}", parts.join(", "))
    }
}

/// `etraq token …`.
pub async fn token(ctx: &Context, cmd: TokenCommand) -> Result<()> {
    let store = ctx.open_store().await?;
    let r = token_inner(&*store, cmd).await;
    store.close().await?;
    r
}

async fn token_inner(store: &dyn etraq_core::Store, cmd: TokenCommand) -> Result<()> {
    let mut out = Out::new();
    match cmd {
        TokenCommand::Create(a) => {
            let login = a.login.trim().to_ascii_lowercase();
            if login != ADMIN_LOGIN {
                let email = parse_address("--login", &login)?;
                if store.get_user(&email).await?.is_none() {
                    bail!("--login {email}: no such user");
                }
            }
            let t = credentials::create_token(store, &login, &a.name, jiff::Timestamp::now())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            out.line(t)?;
        }
        TokenCommand::List(j) => {
            let tokens = credentials::list_tokens(store, None)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if j.json {
                out.line(serde_json::to_string_pretty(&tokens)?)?;
            } else {
                let mut t = crate::render::table(&["Id", "Login", "Name", "Created"]);
                for k in &tokens {
                    t.add_text_row(vec![
                        k.id.clone(),
                        k.record.login.clone(),
                        k.record.name.clone(),
                        k.record.created.to_string(),
                    ]);
                }
                out.line(t.to_string())?;
            }
        }
        TokenCommand::Revoke(a) => {
            if !credentials::revoke_token(store, &a.id, None)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                bail!("no token {:?} (see `etraq token list`)", a.id);
            }
            out.line(format!("token {} revoked", a.id))?;
        }
    }
    Ok(())
}
