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

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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

/// Bounds the Argon2 work a stranger can start. Each hash needs about 19 MiB for tens of
/// milliseconds; without a bound, 150 concurrent sign-ins with unknown logins took the server
/// from 19 MB to 3.7 GB. So hashing runs on a small pool of its own threads (one per core), a
/// bounded number of requests wait their turn, and past that the answer is 503 with
/// `Retry-After`.
///
/// Each hashing thread also keeps its Argon2 working memory and reuses it. Allocating it per
/// hash is not enough: the system allocator kept every freed 19 MiB block (measured, with only
/// two hashes at a time: 400 MiB after 35 sign-ins on two threads of our own, 650 MiB on tokio's
/// blocking pool). With the memory kept, the pool costs one block per thread, once.
struct HashPool {
    jobs: std::sync::mpsc::SyncSender<Job>,
}

/// Work for a hashing thread, given the thread's Argon2 memory.
type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// Requests allowed to wait for a hashing thread, per thread.
const WAITING_PER_SLOT: usize = 16;

/// One hashing thread's Argon2 working memory, grown to the largest cost seen and reused.
struct Memory(Vec<Block>);

impl Memory {
    fn blocks(&mut self, n: usize) -> &mut [Block] {
        if self.0.len() < n {
            self.0.resize(n, Block::new());
        }
        &mut self.0[..n]
    }
}

fn pool() -> Option<&'static HashPool> {
    static POOL: std::sync::LazyLock<Option<HashPool>> = std::sync::LazyLock::new(|| {
        let slots = hashing_slots();
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(slots * WAITING_PER_SLOT);
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..slots {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("etraq-argon2-{i}"))
                .spawn(move || {
                    let mut memory = Memory(Vec::new());
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(p) => p.into_inner().recv(),
                        };
                        match job {
                            Ok(job) => job(&mut memory),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
                return None;
            }
        }
        Some(HashPool { jobs: tx })
    });
    POOL.as_ref()
}

/// How many Argon2 computations may run at once (one per core).
pub fn hashing_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Runs one Argon2 computation on the hashing pool; `Busy` when too many requests are already
/// waiting for it.
async fn with_hashing<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce(&mut Memory) -> T + Send + 'static,
) -> Result<T, WebError> {
    let pool = pool().ok_or_else(|| WebError::Internal(format!("{what}: no hashing threads")))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move |memory: &mut Memory| {
        let _ = tx.send(work(memory));
    });
    match pool.jobs.try_send(job) {
        Ok(()) => {}
        Err(std::sync::mpsc::TrySendError::Full(_)) => {
            return Err(WebError::Busy { retry_after: 2 });
        }
        Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
            return Err(WebError::Internal(format!(
                "{what}: the hashing threads stopped"
            )));
        }
    }
    rx.await
        .map_err(|_| WebError::Internal(format!("{what}: the hashing thread failed")))
}

/// An Argon2id PHC string for `password` with a fresh random salt and the default (OWASP)
/// parameters, computed in `memory`.
fn argon2_hash(password: &[u8], memory: &mut Memory) -> Result<String, String> {
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness from the OS: {e}"))?;
    let salt = Salt::new(&salt).map_err(|e| e.to_string())?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon
        .hash_password_into_with_memory(
            password,
            &salt,
            &mut out,
            memory.blocks(params.block_count()),
        )
        .map_err(|e| e.to_string())?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `phc`, computed in `memory`; the comparison is
/// constant-time (`Output`'s equality). A malformed stored hash never matches.
fn argon2_verify(password: &[u8], phc: &str, memory: &mut Memory) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    if argon
        .hash_password_into_with_memory(
            password,
            salt,
            &mut out,
            memory.blocks(params.block_count()),
        )
        .is_err()
    {
        return false;
    }
    Output::new(&out).is_ok_and(|computed| computed == *expected)
}

/// Hashes a password with Argon2id (on the hashing pool).
pub async fn hash_password(password: &str) -> Result<String, WebError> {
    let pw = password.to_string();
    with_hashing("hashing a password", move |memory| {
        argon2_hash(pw.as_bytes(), memory)
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
    with_hashing("checking a password", move |memory| match stored {
        Some(phc) => argon2_verify(pw.as_bytes(), &phc, memory),
        None => {
            // The same work as for a real login, so timing does not tell which logins exist.
            let _ = argon2_hash(pw.as_bytes(), memory);
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

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher;

    #[test]
    fn hashes_made_before_verify_and_ours_verify_with_argon2_itself() {
        let mut memory = Memory(Vec::new());
        // A hash stored by an earlier etraq (argon2's own hasher).
        let old = Argon2::default()
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        assert!(argon2_verify(b"correct horse", &old, &mut memory));
        assert!(!argon2_verify(b"wrong horse", &old, &mut memory));
        // Ours is a standard Argon2id PHC string that argon2's verifier accepts.
        let ours = argon2_hash(b"battery staple", &mut memory).unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        use argon2::password_hash::PasswordVerifier;
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"battery staple", &parsed)
                .is_ok()
        );
        assert!(argon2_verify(b"battery staple", &ours, &mut memory));
        assert!(!argon2_verify(b"battery staple", "not a hash", &mut memory));
        // The memory is allocated once and reused.
        assert_eq!(memory.0.len(), Params::default().block_count());
    }
}
