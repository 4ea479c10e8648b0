//! Passwords, sessions and API tokens, kept in the store's key-value space.
//!
//! - Passwords are Argon2id PHC strings under `password:{login}` (`admin` for the built-in
//!   administrator, else the user's address). Hashing takes tens of milliseconds on purpose, so
//!   it runs on a blocking thread.
//! - A session is a random 256-bit token in an HttpOnly cookie; the store keeps only its SHA-256
//!   digest (`session:{digest}`), so a copy of the database does not let anyone sign in.
//! - An API token (`etq_…`) works the same way under `token:{digest}`, for scripts using
//!   `Authorization: Bearer`. A password change revokes the login's tokens and other sessions.
//! - Argon2 runs at most once per core at a time, with a bounded queue (503 past it), so
//!   sign-in floods cannot exhaust memory.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use etraq_core::Store;
use etraq_core::access::ADMIN_LOGIN;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::WebError;

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Longest password accepted (Argon2 handles any length; this bounds the work per request).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// A signed-in browser session, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// [`ADMIN_LOGIN`] or a user's address.
    pub login: String,
    /// When the session started.
    pub created: Timestamp,
    /// When it ends.
    pub expires: Timestamp,
    /// "Remember me": the cookie outlives the browser session.
    pub remember: bool,
}

/// An API token, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Whose rights the token carries.
    pub login: String,
    /// What the owner called it.
    pub name: String,
    /// When it was created.
    pub created: Timestamp,
}

/// A token listed for its owner: the id is the first 12 digits of its digest.
#[derive(Clone, Debug, Serialize)]
pub struct TokenInfo {
    /// Short id, to revoke it.
    pub id: String,
    /// Its record.
    #[serde(flatten)]
    pub record: TokenRecord,
}

fn random_hex(bytes: usize) -> Result<String, WebError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| WebError::Internal(format!("no randomness from the OS: {e}")))?;
    Ok(hex(&buf))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The SHA-256 digest of a secret, in hex: what the store keeps.
pub fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// The store key of a login's password.
fn password_key(login: &str) -> String {
    format!("password:{}", login.trim().to_ascii_lowercase())
}

/// Checks a new password's length; the message is shown next to the field.
pub fn check_new_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(format!(
            "use at least {MIN_PASSWORD_LEN} characters (got {n})"
        ));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(format!("use at most {MAX_PASSWORD_LEN} bytes"));
    }
    Ok(())
}

/// Bounds the Argon2 work a stranger can start. Each hash takes about 19 MiB for tens of
/// milliseconds; without a bound, 150 concurrent sign-ins with unknown logins took the server
/// from 19 MB to 3.7 GB. So at most one hash per core runs at a time, a bounded number of
/// requests wait their turn, and past that the answer is 503 with `Retry-After`.
struct HashGate {
    running: tokio::sync::Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
    max_waiting: usize,
}

/// Requests allowed to wait for a hashing slot, per slot.
const WAITING_PER_SLOT: usize = 16;

fn gate() -> &'static HashGate {
    static GATE: std::sync::LazyLock<HashGate> = std::sync::LazyLock::new(|| {
        let slots = std::thread::available_parallelism().map_or(2, |n| n.get());
        HashGate {
            running: tokio::sync::Semaphore::new(slots),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            max_waiting: slots * WAITING_PER_SLOT,
        }
    });
    &GATE
}

/// How many Argon2 computations may run at once (one per core), for tests and the docs.
pub fn hashing_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Runs one Argon2 computation on a blocking thread once a slot is free; `Busy` when too many
/// requests are already waiting.
async fn with_hashing<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, WebError> {
    use std::sync::atomic::Ordering;
    let g = gate();
    let permit = match g.running.try_acquire() {
        Ok(p) => p,
        Err(_) => {
            if g.waiting.fetch_add(1, Ordering::SeqCst) >= g.max_waiting {
                g.waiting.fetch_sub(1, Ordering::SeqCst);
                return Err(WebError::Busy { retry_after: 2 });
            }
            let p = g.running.acquire().await;
            g.waiting.fetch_sub(1, Ordering::SeqCst);
            p.map_err(|_| WebError::Internal(format!("{what}: the hashing gate is closed")))?
        }
    };
    let out = tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| WebError::Internal(format!("{what}: {e}")));
    drop(permit);
    out
}

/// Hashes a password with Argon2id (on a blocking thread, within the hashing bound).
pub async fn hash_password(password: &str) -> Result<String, WebError> {
    let pw = password.to_string();
    with_hashing("hashing a password", move || {
        Argon2::default()
            .hash_password(pw.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| WebError::Internal(format!("hashing a password: {e}")))
    })
    .await?
}

/// Sets `login`'s password.
pub async fn set_password(store: &dyn Store, login: &str, password: &str) -> Result<(), WebError> {
    check_new_password(password).map_err(WebError::BadRequest)?;
    let phc = hash_password(password).await?;
    store.kv_put(&password_key(login), Some(&phc)).await?;
    Ok(())
}

/// Whether `login` has a password (a user without one cannot sign in).
pub async fn has_password(store: &dyn Store, login: &str) -> Result<bool, WebError> {
    Ok(store.kv_get(&password_key(login)).await?.is_some())
}

/// Checks `password` against `login`'s stored hash. A login without a password never matches;
/// a hash is still computed then, so timing does not tell which logins exist.
pub async fn verify_password(
    store: &dyn Store,
    login: &str,
    password: &str,
) -> Result<bool, WebError> {
    if password.len() > MAX_PASSWORD_LEN {
        return Ok(false);
    }
    let stored = store.kv_get(&password_key(login)).await?;
    let pw = password.to_string();
    with_hashing("checking a password", move || match stored {
        Some(phc) => Argon2::default()
            .verify_password(pw.as_bytes(), phc.as_str())
            .is_ok(),
        None => {
            let _ = Argon2::default().hash_password(pw.as_bytes());
            false
        }
    })
    .await
}

/// What a password change did besides setting the password.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PasswordChanged {
    /// Browser sessions signed out.
    pub sessions_ended: usize,
    /// API tokens revoked.
    pub tokens_revoked: usize,
}

/// Changes `login`'s password and ends everything the old one gave: every browser session
/// but `keep` (the digest of the session making the change, if any) and every API token. A
/// token made while someone else knew the password must not outlive the change.
pub async fn change_password(
    store: &dyn Store,
    login: &str,
    password: &str,
    keep: Option<&str>,
) -> Result<PasswordChanged, WebError> {
    set_password(store, login, password).await?;
    Ok(PasswordChanged {
        sessions_ended: end_sessions_of(store, login, keep).await?,
        tokens_revoked: revoke_tokens_of(store, login).await?,
    })
}

/// Revokes every API token of `login`; returns how many.
pub async fn revoke_tokens_of(store: &dyn Store, login: &str) -> Result<usize, WebError> {
    let mut n = 0;
    for (key, value) in store.kv_scan("token:").await? {
        let mine = serde_json::from_str::<TokenRecord>(&value)
            .map(|r| r.login.eq_ignore_ascii_case(login))
            .unwrap_or(false);
        if mine {
            store.kv_put(&key, None).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// A new random password: 20 characters that are hard to misread.
pub fn generate_password() -> Result<String, WebError> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut buf = [0u8; 20];
    getrandom::fill(&mut buf)
        .map_err(|e| WebError::Internal(format!("no randomness from the OS: {e}")))?;
    // 256 % 54 leaves a slight bias; at 20 characters the password keeps over 110 bits.
    Ok(buf
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect())
}

/// On a server's first start: when the built-in administrator has no password, generates one,
/// stores its hash and returns it (to be printed once).
pub async fn ensure_admin_password(store: &dyn Store) -> Result<Option<String>, WebError> {
    if has_password(store, ADMIN_LOGIN).await? {
        return Ok(None);
    }
    let pw = generate_password()?;
    set_password(store, ADMIN_LOGIN, &pw).await?;
    Ok(Some(pw))
}

/// Starts a session for `login`; returns the cookie's token.
pub async fn create_session(
    store: &dyn Store,
    login: &str,
    remember: bool,
    lifetime_secs: i64,
    now: Timestamp,
) -> Result<(String, SessionRecord), WebError> {
    // Sweep expired sessions now and then (sign-ins are rare next to page views).
    for (key, value) in store.kv_scan("session:").await? {
        let expired = serde_json::from_str::<SessionRecord>(&value)
            .map(|s| s.expires <= now)
            .unwrap_or(true);
        if expired {
            store.kv_put(&key, None).await?;
        }
    }
    let token = random_hex(32)?;
    let expires = Timestamp::from_second(now.as_second().saturating_add(lifetime_secs.max(60)))
        .unwrap_or(Timestamp::MAX);
    let record = SessionRecord {
        login: login.to_string(),
        created: now,
        expires,
        remember,
    };
    let json = serde_json::to_string(&record)
        .map_err(|e| WebError::Internal(format!("encoding a session: {e}")))?;
    store
        .kv_put(&format!("session:{}", digest(&token)), Some(&json))
        .await?;
    Ok((token, record))
}

/// The live session of a cookie token, if any.
pub async fn session(
    store: &dyn Store,
    token: &str,
    now: Timestamp,
) -> Result<Option<SessionRecord>, WebError> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let key = format!("session:{}", digest(token));
    let Some(v) = store.kv_get(&key).await? else {
        return Ok(None);
    };
    match serde_json::from_str::<SessionRecord>(&v) {
        Ok(s) if s.expires > now => Ok(Some(s)),
        _ => {
            store.kv_put(&key, None).await?;
            Ok(None)
        }
    }
}

/// Ends the session of a cookie token (sign-out).
pub async fn end_session(store: &dyn Store, token: &str) -> Result<(), WebError> {
    store
        .kv_put(&format!("session:{}", digest(token)), None)
        .await?;
    Ok(())
}

/// Ends every session of `login` except `keep` (a token digest): after a password change or
/// when a user is removed.
pub async fn end_sessions_of(
    store: &dyn Store,
    login: &str,
    keep: Option<&str>,
) -> Result<usize, WebError> {
    let mut n = 0;
    for (key, value) in store.kv_scan("session:").await? {
        let mine = serde_json::from_str::<SessionRecord>(&value)
            .map(|s| s.login.eq_ignore_ascii_case(login))
            .unwrap_or(false);
        let kept = keep.is_some_and(|k| key.strip_prefix("session:") == Some(k));
        if mine && !kept {
            store.kv_put(&key, None).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// Creates an API token for `login`; returns the token (shown once).
pub async fn create_token(
    store: &dyn Store,
    login: &str,
    name: &str,
    now: Timestamp,
) -> Result<String, WebError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(WebError::BadRequest(
            "a token needs a name of 1 to 100 characters".into(),
        ));
    }
    let token = format!("etq_{}", random_hex(24)?);
    let record = TokenRecord {
        login: login.to_string(),
        name: name.to_string(),
        created: now,
    };
    let json = serde_json::to_string(&record)
        .map_err(|e| WebError::Internal(format!("encoding a token: {e}")))?;
    store
        .kv_put(&format!("token:{}", digest(&token)), Some(&json))
        .await?;
    Ok(token)
}

/// The record of a bearer token, if it is valid.
pub async fn token(store: &dyn Store, token: &str) -> Result<Option<TokenRecord>, WebError> {
    if !token.starts_with("etq_") || token.len() > 100 {
        return Ok(None);
    }
    match store.kv_get(&format!("token:{}", digest(token))).await? {
        Some(v) => Ok(serde_json::from_str(&v).ok()),
        None => Ok(None),
    }
}

/// The tokens of `login` (all tokens when `None`).
pub async fn list_tokens(
    store: &dyn Store,
    login: Option<&str>,
) -> Result<Vec<TokenInfo>, WebError> {
    let mut out = Vec::new();
    for (key, value) in store.kv_scan("token:").await? {
        let Ok(record) = serde_json::from_str::<TokenRecord>(&value) else {
            continue;
        };
        if login.is_some_and(|l| !record.login.eq_ignore_ascii_case(l)) {
            continue;
        }
        let id = key.trim_start_matches("token:").chars().take(12).collect();
        out.push(TokenInfo { id, record });
    }
    out.sort_by_key(|t| t.record.created);
    Ok(out)
}

/// Revokes a token by its short id; only `login`'s own tokens unless `login` is `None`.
/// Returns whether one was revoked.
pub async fn revoke_token(
    store: &dyn Store,
    id: &str,
    login: Option<&str>,
) -> Result<bool, WebError> {
    if id.len() < 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(false);
    }
    for (key, value) in store
        .kv_scan(&format!("token:{}", id.to_ascii_lowercase()))
        .await?
    {
        let owner_ok = match login {
            None => true,
            Some(l) => serde_json::from_str::<TokenRecord>(&value)
                .map(|r| r.login.eq_ignore_ascii_case(l))
                .unwrap_or(false),
        };
        if owner_ok {
            store.kv_put(&key, None).await?;
            return Ok(true);
        }
    }
    Ok(false)
}
