//! Where accepted mail goes: the company's mail server (the upstream), or in evaluation mode a
//! Maildir on disk.
//!
//! [`Upstream`] is a small SMTP client built on smtp-proto's reply parser. It mirrors the client's
//! transaction: one MAIL, each RCPT forwarded as it comes (so every recipient gets the upstream's
//! own verdict), then DATA. Any failure to reach or talk to the upstream becomes a 4xx reply, so
//! the client keeps the mail and retries; etraq never generates a bounce.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use etraq_core::{EmailAddress, ReversePath};
use smtp_proto::response::parser::ResponseReceiver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::reply::{Reply, replies};
use crate::rewrite::{DotStuffer, Outgoing};
use crate::session::MailParams;

/// One client session's view of the destination.
#[async_trait]
pub trait Transport: Send {
    /// Starts a transaction. `raw` is the reverse path exactly as the client wrote it; that is
    /// what an SMTP destination receives.
    async fn mail(&mut self, from: &ReversePath, raw: &str, params: &MailParams) -> Reply;
    /// Adds a recipient. `raw` is the forward path exactly as the client wrote it (quoting
    /// included); that is what an SMTP destination receives, never a rewritten form.
    async fn rcpt(&mut self, to: &EmailAddress, raw: &str) -> Reply;
    /// Asks the destination to take a message (SMTP's `DATA` and its `354`), so that this round
    /// trip can overlap other work (the delivery journal). A reply other than 354 is the
    /// destination's refusal. Nothing is delivered until [`Transport::data`] sends the message;
    /// [`Transport::abort`] drops a started message.
    async fn start_data(&mut self) -> Reply {
        Reply {
            code: 354,
            esc: None,
            text: "Go ahead".into(),
        }
    }
    /// Tells the transport that the client's next command, already received, is `DATA`: the
    /// next [`Transport::rcpt`] may send the destination's `DATA` with the recipient, as a
    /// pipelining client does (RFC 2920), and [`Transport::start_data`] then only reads its
    /// answer. A hint; ignoring it is always correct.
    fn data_follows(&mut self) {}
    /// Sends the message (after [`Transport::start_data`], or starting it); the reply is the
    /// destination's verdict.
    async fn data(&mut self, message: &Outgoing<'_>) -> Reply;
    /// Abandons a message started with [`Transport::start_data`] without delivering it.
    async fn abort(&mut self) {}
    /// Aborts the transaction.
    async fn rset(&mut self);
    /// Ends the session.
    async fn quit(&mut self);
}

/// Where the gateway delivers.
#[derive(Clone, Debug)]
pub enum Target {
    /// Relay to the company's mail server.
    Upstream(Arc<UpstreamConfig>),
    /// Evaluation mode: deliver (fsynced) into a Maildir.
    Maildir(Arc<PathBuf>),
}

impl Target {
    /// A transport for one client session.
    pub fn transport(&self) -> Box<dyn Transport> {
        match self {
            Target::Upstream(cfg) => Box::new(Upstream::new(cfg.clone())),
            Target::Maildir(dir) => Box::new(Maildir { dir: dir.clone() }),
        }
    }
}

/// How to reach the upstream.
#[derive(Clone, Debug)]
pub struct UpstreamConfig {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Our EHLO name.
    pub helo: String,
    /// Timeout for connecting and for each reply.
    pub timeout: Duration,
    /// Timeout for the reply after the message data.
    pub data_timeout: Duration,
    /// Idle upstream sessions kept for the next client (see [`Pool`]).
    pub pool: Arc<Pool>,
}

/// Upstream sessions kept open between client sessions.
///
/// Opening a session with the upstream costs a connection, its greeting, EHLO and, at the end,
/// QUIT: more round trips than the mail itself for a client that sends one message per
/// connection, as most do. A session that ended cleanly (its last transaction finished, or was
/// reset) is kept here and the next client's MAIL goes over it. A kept session never carries
/// anything of the previous client: it is only kept between transactions, after a positive
/// reply or a successful RSET, and the upstream starts every transaction afresh at MAIL.
/// One that is older than the idle time, or that the upstream closed or wrote to meanwhile
/// (a `421` on idle timeout), is dropped instead of used.
pub struct Pool {
    idle: std::sync::Mutex<Vec<(Conn, std::time::Instant)>>,
    max: usize,
    max_idle: Duration,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("max", &self.max)
            .field("max_idle", &self.max_idle)
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool keeping at most `max` idle sessions, each for at most `max_idle` (0: none kept).
    pub fn new(max: usize, max_idle: Duration) -> Pool {
        Pool {
            idle: std::sync::Mutex::new(Vec::new()),
            max,
            max_idle,
        }
    }

    /// How many sessions are kept now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Conn, std::time::Instant)>> {
        // The list holds whole connections only; a panic elsewhere cannot leave it half-changed.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The most recently kept session that is still usable.
    fn take(&self) -> Option<Conn> {
        loop {
            let (conn, since) = self.lock().pop()?;
            if since.elapsed() < self.max_idle && conn.is_quiet() {
                return Some(conn);
            }
            // Too old, closed or talking: dropped (closing the socket).
        }
    }

    /// Keeps `conn` if there is room; otherwise gives it back to be closed.
    fn keep(&self, conn: Conn) -> Option<Conn> {
        let mut idle = self.lock();
        if idle.len() < self.max {
            idle.push((conn, std::time::Instant::now()));
            None
        } else {
            Some(conn)
        }
    }
}

/// Chunk size when streaming a message upstream.
const CHUNK: usize = 64 * 1024;

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    smtputf8: bool,
    eight_bit: bool,
    size: bool,
    pipelining: bool,
}

/// A session with the upstream, opened at the first MAIL and reused for later transactions of
/// the same client session.
pub struct Upstream {
    cfg: Arc<UpstreamConfig>,
    conn: Option<Conn>,
    in_transaction: bool,
    /// Whether `conn` came from the pool and has not answered yet in this client session: a
    /// failure on it is no verdict on the mail, so a fresh session is tried once.
    kept: bool,
    /// The MAIL command of this transaction, held back to travel with the first RCPT when the
    /// upstream offers PIPELINING (RFC 2920): one write and one round trip for both.
    deferred_mail: Option<DeferredMail>,
    /// The upstream's refusal of a deferred MAIL, given to every RCPT of the transaction.
    mail_refused: Option<Reply>,
    /// The upstream answered 354 and waits for the message.
    data_started: bool,
    /// The client's next command is DATA ([`Transport::data_follows`]): the next RCPT carries
    /// the upstream's DATA in the same write.
    fold_data: bool,
    /// The upstream's answer to a DATA sent with the last RCPT, for [`Transport::start_data`].
    early_data: Option<Reply>,
}

/// A MAIL command waiting to go out with the first RCPT.
struct DeferredMail {
    from: ReversePath,
    raw: String,
    params: MailParams,
}

/// Why talking to the upstream failed.
#[derive(Debug)]
enum Failure {
    /// Could not connect or greet.
    Connect(Reply),
    /// The connection broke, or the upstream sent something that is not SMTP.
    Io(String),
    /// The upstream did not answer in time.
    Timeout,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect(r) => write!(f, "could not open a session ({r})"),
            Failure::Io(e) => f.write_str(e),
            Failure::Timeout => f.write_str("no answer within the timeout"),
        }
    }
}

impl Conn {
    /// Nothing waits to be read and the peer has not closed: the session is as we left it.
    fn is_quiet(&self) -> bool {
        if self.pos < self.buf.len() {
            return false;
        }
        let mut probe = [0u8; 1];
        matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    async fn read_reply(&mut self, timeout: Duration) -> Result<Reply, Failure> {
        let mut receiver = ResponseReceiver::default();
        loop {
            if self.pos < self.buf.len() {
                let mut it = self.buf[self.pos..].iter();
                let before = it.len();
                let r = receiver.parse(&mut it);
                self.pos += before - it.len();
                match r {
                    Ok(resp) => {
                        if self.pos == self.buf.len() {
                            self.buf.clear();
                            self.pos = 0;
                        }
                        return Ok(Reply::from_upstream(&resp));
                    }
                    Err(smtp_proto::Error::NeedsMoreData { .. }) => {}
                    Err(e) => return Err(Failure::Io(format!("unparseable reply: {e:?}"))),
                }
            }
            if self.buf.len() > 64 * 1024 {
                return Err(Failure::Io("a reply longer than 64 KiB".into()));
            }
            let mut chunk = [0u8; 4096];
            let n = match tokio::time::timeout(timeout, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) => return Err(Failure::Io("the connection was closed".into())),
                Ok(Err(e)) => return Err(Failure::Io(e.to_string())),
                Err(_) => return Err(Failure::Timeout),
                Ok(Ok(n)) => n,
            };
            if self.pos == self.buf.len() {
                self.buf.clear();
                self.pos = 0;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn write(&mut self, bytes: &[u8], timeout: Duration) -> Result<(), Failure> {
        match tokio::time::timeout(timeout, self.stream.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Failure::Io(e.to_string())),
            Err(_) => Err(Failure::Timeout),
        }
    }

    async fn command(&mut self, line: &str, timeout: Duration) -> Result<Reply, Failure> {
        self.write(line.as_bytes(), timeout).await?;
        self.read_reply(timeout).await
    }
}

impl Upstream {
    /// A session towards the configured upstream (connected lazily).
    pub fn new(cfg: Arc<UpstreamConfig>) -> Self {
        Upstream {
            cfg,
            conn: None,
            in_transaction: false,
            kept: false,
            deferred_mail: None,
            mail_refused: None,
            data_started: false,
            fold_data: false,
            early_data: None,
        }
    }

    async fn connect(&self) -> Result<Conn, Failure> {
        let addr = (self.cfg.host.as_str(), self.cfg.port);
        let stream = match tokio::time::timeout(self.cfg.timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::warn!(host = %self.cfg.host, port = self.cfg.port, error = %e, "cannot connect to the upstream");
                return Err(Failure::Connect(replies::upstream_unavailable()));
            }
            Err(_) => {
                tracing::warn!(host = %self.cfg.host, port = self.cfg.port, "connecting to the upstream timed out");
                return Err(Failure::Connect(replies::upstream_unavailable()));
            }
        };
        let _ = stream.set_nodelay(true);
        let mut conn = Conn {
            stream,
            buf: Vec::new(),
            pos: 0,
            smtputf8: false,
            eight_bit: false,
            size: false,
            pipelining: false,
        };
        let greeting = conn
            .read_reply(self.cfg.timeout)
            .await
            .map_err(|e| self.unavailable("greeting", &e))?;
        if greeting.code != 220 {
            tracing::warn!(reply = %greeting, "the upstream refused the connection");
            return Err(Failure::Connect(replies::upstream_unavailable()));
        }
        let ehlo = conn
            .command(&format!("EHLO {}\r\n", self.cfg.helo), self.cfg.timeout)
            .await
            .map_err(|e| self.unavailable("EHLO", &e))?;
        if ehlo.is_positive() {
            for line in ehlo.text.lines() {
                let kw = line
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                match kw.as_str() {
                    "SMTPUTF8" => conn.smtputf8 = true,
                    "8BITMIME" => conn.eight_bit = true,
                    "SIZE" => conn.size = true,
                    "PIPELINING" => conn.pipelining = true,
                    _ => {}
                }
            }
        } else {
            let helo = conn
                .command(&format!("HELO {}\r\n", self.cfg.helo), self.cfg.timeout)
                .await
                .map_err(|e| self.unavailable("HELO", &e))?;
            if !helo.is_positive() {
                tracing::warn!(reply = %helo, "the upstream refused HELO");
                return Err(Failure::Connect(replies::upstream_unavailable()));
            }
        }
        Ok(conn)
    }

    /// Logs a failure to open a session (naming the upstream and the stage) and gives the
    /// client's answer.
    fn unavailable(&self, stage: &str, e: &Failure) -> Failure {
        tracing::warn!(upstream = %self.addr(), stage, error = %e, "cannot open a session with the upstream");
        Failure::Connect(replies::upstream_unavailable())
    }

    /// Logs a failure in a transaction, naming the upstream, the stage and the error.
    fn failed(&self, stage: &str, e: &Failure) {
        tracing::warn!(upstream = %self.addr(), stage, error = %e, "the upstream failed during a transaction; the client gets 451 and retries");
    }

    fn addr(&self) -> String {
        format!("{}:{}", self.cfg.host, self.cfg.port)
    }

    /// The session to use: the current one, or a fresh one. Failing to open one is the answer
    /// the client gets.
    async fn ensure_conn(&mut self) -> Result<&mut Conn, Reply> {
        if self.conn.is_none() {
            self.kept = false;
            match self.connect().await {
                Ok(c) => self.conn = Some(c),
                Err(Failure::Connect(r)) => return Err(r),
                Err(e) => {
                    self.failed("connect", &e);
                    return Err(replies::upstream_unavailable());
                }
            }
        }
        self.conn.as_mut().ok_or_else(replies::upstream_unavailable)
    }

    /// Drops a kept session that failed before giving any verdict, so the next try opens a
    /// fresh one.
    fn retry_fresh(&mut self, stage: &str, what: &str) {
        tracing::debug!(upstream = %self.addr(), stage, error = what, "a kept upstream session went stale; opening a new one");
        self.conn = None;
        self.kept = false;
    }

    /// Sends a deferred MAIL and the first RCPT in one write and reads both answers. The
    /// recipient's answer is the MAIL's refusal when there was one (and every later RCPT of the
    /// transaction gets it too).
    async fn envelope(&mut self, mail: &DeferredMail, rcpt: &str, fold: bool) -> Reply {
        loop {
            let timeout = self.cfg.timeout;
            let conn = match self.ensure_conn().await {
                Ok(c) => c,
                Err(r) => {
                    self.in_transaction = false;
                    self.mail_refused = Some(r.clone());
                    return r;
                }
            };
            let mut both = match Self::mail_line(conn, &mail.from, &mail.raw, &mail.params) {
                Ok(l) => l,
                Err(r) => {
                    self.in_transaction = false;
                    self.mail_refused = Some(r.clone());
                    return r;
                }
            };
            let pipelined = conn.pipelining;
            let answers = async {
                if pipelined {
                    both.push_str(rcpt);
                    if fold {
                        both.push_str("DATA\r\n");
                    }
                    conn.write(both.as_bytes(), timeout).await?;
                    let m = conn.read_reply(timeout).await?;
                    let r = conn.read_reply(timeout).await?;
                    let d = if fold {
                        Some(conn.read_reply(timeout).await?)
                    } else {
                        None
                    };
                    Ok::<_, Failure>((m, Some(r), d))
                } else {
                    // A fresh session without PIPELINING: one command at a time.
                    let m = conn.command(&both, timeout).await?;
                    if !m.is_positive() {
                        return Ok((m, None, None));
                    }
                    let r = conn.command(rcpt, timeout).await?;
                    Ok((m, Some(r), None))
                }
            }
            .await;
            match answers {
                Ok((m, _, _)) if m.code == 421 && self.kept => {
                    self.retry_fresh("MAIL FROM", &m.to_string())
                }
                Ok((m, r, d)) => {
                    self.kept = false;
                    if let Some(d) = d {
                        self.took_early_data(d);
                    }
                    return match r {
                        Some(r) if m.is_positive() => r,
                        _ => {
                            self.in_transaction = false;
                            self.mail_refused = Some(m.clone());
                            m
                        }
                    };
                }
                Err(e) if self.kept => self.retry_fresh("MAIL FROM", &e.to_string()),
                Err(e) => {
                    self.failed("MAIL FROM", &e);
                    self.conn = None;
                    self.in_transaction = false;
                    let r = replies::upstream_failed();
                    self.mail_refused = Some(r.clone());
                    return r;
                }
            }
        }
    }

    /// Keeps the upstream's answer to a DATA sent with a RCPT for [`Transport::start_data`].
    /// A 354 means the upstream now waits for a message, even when the recipient was refused
    /// (a server should refuse DATA then, RFC 2920 §3.1, but may not).
    fn took_early_data(&mut self, answer: Reply) {
        self.data_started = answer.code == 354;
        self.early_data = Some(answer);
    }

    /// A message the upstream was told to expect (DATA went out with the last RCPT) that the
    /// client never sent, or that etraq did not relay: the only way to abandon it is to close
    /// the session (anything else would be read as message text). True when it did.
    fn drop_unsent_message(&mut self) -> bool {
        self.early_data = None;
        if !self.data_started {
            return false;
        }
        self.data_started = false;
        self.in_transaction = false;
        self.conn = None;
        true
    }

    fn mail_line(
        conn: &Conn,
        from: &ReversePath,
        raw: &str,
        params: &MailParams,
    ) -> Result<String, Reply> {
        let mut line = match from {
            ReversePath::Null => "MAIL FROM:<>".to_string(),
            ReversePath::Address(_) => format!("MAIL FROM:<{raw}>"),
        };
        if params.size > 0 && conn.size {
            line.push_str(&format!(" SIZE={}", params.size));
        }
        if params.body_8bit && conn.eight_bit {
            line.push_str(" BODY=8BITMIME");
        }
        // Whenever the client used SMTPUTF8 it goes on (RFC 6531 §3.7): the message may carry
        // UTF-8 headers even when the reverse path is ASCII.
        let needs_utf8 = params.smtputf8 || !raw.is_ascii();
        if needs_utf8 {
            if !conn.smtputf8 {
                return Err(replies::utf8_unsupported());
            }
            line.push_str(" SMTPUTF8");
        }
        line.push_str("\r\n");
        Ok(line)
    }
}

#[async_trait]
impl Transport for Upstream {
    async fn mail(&mut self, from: &ReversePath, raw: &str, params: &MailParams) -> Reply {
        self.mail_refused = None;
        self.deferred_mail = None;
        self.fold_data = false;
        self.drop_unsent_message();
        if self.conn.is_none() {
            self.conn = self.cfg.pool.take();
        }
        // A session from the pool, or from this client's earlier transaction, may have gone
        // stale meanwhile: its first failure opens a fresh one instead of failing the mail.
        self.kept = self.conn.is_some();
        let mail = DeferredMail {
            from: from.clone(),
            raw: raw.to_string(),
            params: params.clone(),
        };
        let timeout = self.cfg.timeout;
        loop {
            let conn = match self.ensure_conn().await {
                Ok(c) => c,
                Err(r) => return r,
            };
            let line = match Self::mail_line(conn, &mail.from, &mail.raw, &mail.params) {
                Ok(l) => l,
                Err(r) => return r,
            };
            if conn.pipelining {
                // Sent with the first RCPT. A refusal then becomes that RCPT's answer, as
                // Postfix reports its own sender checks at RCPT time.
                self.deferred_mail = Some(mail);
                self.in_transaction = true;
                return replies::ok();
            }
            match conn.command(&line, timeout).await {
                Ok(r) if r.code == 421 && self.kept => {
                    self.retry_fresh("MAIL FROM", &r.to_string())
                }
                Ok(r) => {
                    self.kept = false;
                    self.in_transaction = r.is_positive();
                    return r;
                }
                Err(e) if self.kept => self.retry_fresh("MAIL FROM", &e.to_string()),
                Err(e) => {
                    self.failed("MAIL FROM", &e);
                    self.conn = None;
                    return replies::upstream_unavailable();
                }
            }
        }
    }

    async fn rcpt(&mut self, _to: &EmailAddress, raw: &str) -> Reply {
        let fold = std::mem::take(&mut self.fold_data);
        if let Some(r) = &self.mail_refused {
            return r.clone();
        }
        let rcpt = format!("RCPT TO:<{raw}>\r\n");
        if let Some(mail) = self.deferred_mail.take() {
            let r = self.envelope(&mail, &rcpt, fold).await;
            return r;
        }
        let timeout = self.cfg.timeout;
        let Some(conn) = self.conn.as_mut() else {
            return replies::upstream_failed();
        };
        let answers = if fold && conn.pipelining {
            async {
                conn.write(format!("{rcpt}DATA\r\n").as_bytes(), timeout)
                    .await?;
                let r = conn.read_reply(timeout).await?;
                let d = conn.read_reply(timeout).await?;
                Ok::<_, Failure>((r, Some(d)))
            }
            .await
        } else {
            conn.command(&rcpt, timeout).await.map(|r| (r, None))
        };
        match answers {
            Ok((r, d)) => {
                if let Some(d) = d {
                    self.took_early_data(d);
                }
                r
            }
            Err(e) => {
                self.failed("RCPT TO", &e);
                self.conn = None;
                replies::upstream_failed()
            }
        }
    }

    fn data_follows(&mut self) {
        self.fold_data = true;
    }

    async fn start_data(&mut self) -> Reply {
        if let Some(r) = self.early_data.take() {
            // DATA went out with the last RCPT; `data_started` already follows its answer.
            self.in_transaction = false;
            return r;
        }
        let Some(conn) = self.conn.as_mut() else {
            return replies::upstream_failed();
        };
        self.in_transaction = false;
        match conn.command("DATA\r\n", self.cfg.timeout).await {
            Ok(r) => {
                self.data_started = r.code == 354;
                r
            }
            Err(e) => {
                self.failed("DATA", &e);
                self.conn = None;
                replies::upstream_failed()
            }
        }
    }

    async fn abort(&mut self) {
        self.early_data = None;
        if self.data_started {
            // The only way to abandon a message after 354 is to close the session: the upstream
            // discards a message whose end it never saw.
            self.data_started = false;
            self.conn = None;
        }
    }

    async fn data(&mut self, message: &Outgoing<'_>) -> Reply {
        if !self.data_started {
            let go = self.start_data().await;
            if go.code != 354 {
                return go;
            }
        }
        self.data_started = false;
        let Some(conn) = self.conn.as_mut() else {
            return replies::upstream_failed();
        };
        let mut enc = DotStuffer::default();
        let mut sent: Result<(), Failure> = Ok(());
        'pieces: for piece in &message.pieces {
            for chunk in piece.chunks(CHUNK) {
                enc.push(chunk);
                if enc.out.len() >= CHUNK {
                    sent = conn.write(&enc.out, self.cfg.timeout).await;
                    enc.out.clear();
                    if sent.is_err() {
                        break 'pieces;
                    }
                }
            }
        }
        if sent.is_ok() {
            enc.finish();
            sent = conn.write(&enc.out, self.cfg.timeout).await;
        }
        if let Err(e) = sent {
            self.failed("message data", &e);
            self.conn = None;
            return replies::upstream_failed();
        }
        match conn.read_reply(self.cfg.data_timeout).await {
            Ok(r) => r,
            Err(Failure::Timeout) => {
                // The whole message went out; the upstream may still accept and deliver it.
                // The client gets 451 and retries, which can deliver it twice: RFC 1047's
                // duplicate problem, bounded by `upstream.data_timeout` being long.
                tracing::warn!(
                    upstream = %self.addr(),
                    stage = "end of data",
                    timeout_secs = self.cfg.data_timeout.as_secs(),
                    "the upstream did not answer after the message data; it may still deliver it, so the client's retry may duplicate it"
                );
                self.conn = None;
                replies::upstream_data_timeout()
            }
            Err(e) => {
                self.failed("end of data", &e);
                self.conn = None;
                replies::upstream_failed()
            }
        }
    }

    async fn rset(&mut self) {
        self.mail_refused = None;
        self.fold_data = false;
        if self.drop_unsent_message() {
            return;
        }
        if self.deferred_mail.take().is_some() {
            // Nothing of the transaction was sent.
            self.in_transaction = false;
            return;
        }
        if !self.in_transaction {
            return;
        }
        self.in_transaction = false;
        if let Some(conn) = self.conn.as_mut() {
            match conn.command("RSET\r\n", self.cfg.timeout).await {
                Ok(r) if r.is_positive() => {}
                Ok(r) => {
                    tracing::warn!(upstream = %self.addr(), stage = "RSET", reply = %r, "the upstream refused RSET; closing its session");
                    self.conn = None;
                }
                Err(e) => {
                    self.failed("RSET", &e);
                    self.conn = None;
                }
            }
        }
    }

    async fn quit(&mut self) {
        // A transaction the client left unfinished is reset first; only a clean session is kept.
        self.rset().await;
        if let Some(conn) = self.conn.take()
            && let Some(mut conn) = self.cfg.pool.keep(conn)
        {
            // The pool is full: this one is closed politely, without making the client wait.
            tokio::spawn(async move {
                let _ = conn.command("QUIT\r\n", Duration::from_secs(5)).await;
                let _ = conn.stream.shutdown().await;
            });
        }
    }
}

/// Evaluation mode: every mail the relay policy allows is delivered into a Maildir, written and
/// fsynced before the 250, like a real final delivery.
pub struct Maildir {
    dir: Arc<PathBuf>,
}

static MAILDIR_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Maildir {
    async fn write(&self, message: &Outgoing<'_>) -> std::io::Result<String> {
        deliver_to_maildir(self.dir.clone(), message.to_vec()).await
    }
}

/// Delivers a message into a Maildir the way a local delivery agent does: written to `tmp/`,
/// fsynced, renamed into `new/`, and the directory fsynced. Returns the file name.
pub async fn deliver_to_maildir(dir: Arc<PathBuf>, bytes: Vec<u8>) -> std::io::Result<String> {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let n = MAILDIR_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "{}.M{}P{}Q{}.etraq",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            n
        );
        let tmp = dir.join("tmp").join(&name);
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, dir.join("new").join(&name))?;
        std::fs::File::open(dir.join("new"))?.sync_all()?;
        Ok(name)
    })
    .await
    .map_err(std::io::Error::other)?
}

#[async_trait]
impl Transport for Maildir {
    async fn mail(&mut self, _from: &ReversePath, _raw: &str, _params: &MailParams) -> Reply {
        replies::ok()
    }

    async fn rcpt(&mut self, _to: &EmailAddress, _raw: &str) -> Reply {
        Reply::new(250, [2, 1, 5], "OK")
    }

    async fn data(&mut self, message: &Outgoing<'_>) -> Reply {
        match self.write(message).await {
            Ok(name) => Reply::new(
                250,
                [2, 0, 0],
                format!("Delivered to the evaluation Maildir as {name}"),
            ),
            Err(e) => {
                tracing::error!(dir = %self.dir.display(), error = %e, "cannot deliver into the evaluation Maildir");
                replies::local_error()
            }
        }
    }

    async fn rset(&mut self) {}

    async fn quit(&mut self) {}
}
