//! The validator's SMTP client: RCPT-only sessions that ask a mail exchanger whether mailboxes
//! exist, without ever sending a message. lettre cannot stop before DATA, so this speaks the
//! few commands itself and lets smtp-proto parse the replies (multi-line, enhanced status
//! codes, a 4 KB cap on a reply).
//!
//! A hostile server costs at most the timeout per reply: every reply has its own deadline, the
//! first one missed ends the session, an over-long or garbled reply ends it too, and the
//! addresses not yet asked stay unanswered (the verdict says `unknown`).

use std::net::SocketAddr;
use std::time::Duration;

use etraq_core::validate::{ProbeSession, Reply, SmtpProbe};
use smtp_proto::response::parser::ResponseReceiver;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How the probe introduces itself and how long it waits.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// The `EHLO` name (a name that resolves to the probing host, for real use).
    pub helo: String,
    /// The `MAIL FROM` address (empty: the null sender `<>`).
    pub mail_from: String,
    /// Connect timeout, and the longest wait for any one reply.
    pub timeout: Duration,
}

/// The RCPT-only SMTP probe over TCP (port 25 in real use; the target carries the port).
#[derive(Clone, Debug)]
pub struct TcpProbe {
    config: ProbeConfig,
}

impl TcpProbe {
    /// A probe with `config`.
    pub fn new(config: ProbeConfig) -> Self {
        TcpProbe { config }
    }
}

/// Why a session stopped.
type Stop = String;

struct Conn<S> {
    stream: S,
    buf: Vec<u8>,
    wait: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    async fn send(&mut self, line: &str) -> Result<(), Stop> {
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        match timeout(self.wait, self.stream.write_all(&bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("write failed: {e}")),
            Err(_) => Err("write timed out".into()),
        }
    }

    /// Reads one (possibly multi-line) reply within the timeout.
    async fn reply(&mut self) -> Result<Reply, Stop> {
        self.raw_reply().await.map(to_reply)
    }

    /// One reply as the parser gave it, its lines joined by `\n`.
    async fn raw_reply(&mut self) -> Result<smtp_proto::Response<String>, Stop> {
        let deadline = tokio::time::Instant::now() + self.wait;
        let mut receiver = ResponseReceiver::default();
        loop {
            if !self.buf.is_empty() {
                let mut iter = self.buf.iter();
                match receiver.parse(&mut iter) {
                    Ok(r) => {
                        let used = self.buf.len() - iter.as_slice().len();
                        self.buf.drain(..used);
                        return Ok(r);
                    }
                    Err(smtp_proto::Error::NeedsMoreData { .. }) => self.buf.clear(),
                    Err(e) => return Err(format!("unreadable reply: {e}")),
                }
            }
            let mut chunk = [0u8; 4096];
            let n = match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) => return Err("the server closed the connection".into()),
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(format!("read failed: {e}")),
                Err(_) => return Err(format!("no reply within {} s", self.wait.as_secs_f32())),
            };
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn command(&mut self, line: &str) -> Result<Reply, Stop> {
        self.send(line).await?;
        self.reply().await
    }

    /// `EHLO`: the reply, and whether its extension lines offer SMTPUTF8.
    async fn ehlo(&mut self, helo: &str) -> Result<(Reply, bool), Stop> {
        self.send(&format!("EHLO {helo}")).await?;
        let raw = self.raw_reply().await?;
        // The first line is the server's name; each further line is one extension keyword
        // with its parameters.
        let utf8 = raw.message.lines().skip(1).any(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case("SMTPUTF8"))
        });
        Ok((to_reply(raw), utf8))
    }
}

fn to_reply(r: smtp_proto::Response<String>) -> Reply {
    let enhanced = (r.esc != [0, 0, 0]).then_some(r.esc);
    Reply {
        code: r.code,
        enhanced,
        text: r.message.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

fn is_ok(r: &Reply) -> bool {
    (200..300).contains(&r.code)
}

#[async_trait::async_trait]
impl SmtpProbe for TcpProbe {
    async fn session(
        &self,
        target: SocketAddr,
        domain: &str,
        catch_all_local: Option<&str>,
        addresses: &[String],
    ) -> ProbeSession {
        let mut out = ProbeSession {
            rcpt: vec![None; addresses.len()],
            ..ProbeSession::default()
        };
        let stream = match timeout(self.config.timeout, TcpStream::connect(target)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                out.error = Some(format!("cannot connect to {target}: {e}"));
                return out;
            }
            Err(_) => {
                out.error = Some(format!("no connection to {target} within the timeout"));
                return out;
            }
        };
        let _ = stream.set_nodelay(true);
        self.over(
            stream,
            &target.to_string(),
            domain,
            catch_all_local,
            addresses,
            out,
        )
        .await
    }
}

impl TcpProbe {
    /// The dialogue over any byte stream (a TCP connection in use; an in-memory pipe in the
    /// fuzz target). `peer` names the server in errors.
    pub async fn over<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        peer: &str,
        domain: &str,
        catch_all_local: Option<&str>,
        addresses: &[String],
        mut out: ProbeSession,
    ) -> ProbeSession {
        let mut conn = Conn {
            stream,
            buf: Vec::new(),
            wait: self.config.timeout,
        };
        if let Err(stop) = self
            .dialogue(&mut conn, &mut out, domain, catch_all_local, addresses)
            .await
        {
            out.error = Some(format!("{peer}: {stop}"));
        }
        // Say goodbye politely but briefly; the answer does not matter.
        conn.wait = conn.wait.min(Duration::from_secs(2));
        let _ = conn.command("QUIT").await;
        out
    }

    async fn dialogue<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        conn: &mut Conn<S>,
        out: &mut ProbeSession,
        domain: &str,
        catch_all_local: Option<&str>,
        addresses: &[String],
    ) -> Result<(), Stop> {
        let greeting = conn.reply().await?;
        if greeting.code != 220 {
            return Err(format!("greeting {}", greeting.describe()));
        }
        out.connected = true;
        let helo = &self.config.helo;
        let (ehlo, utf8) = conn.ehlo(helo).await?;
        if is_ok(&ehlo) {
            out.smtputf8 = utf8;
        } else {
            let r = conn.command(&format!("HELO {helo}")).await?;
            if !is_ok(&r) {
                return Err(format!("HELO refused: {}", r.describe()));
            }
        }
        // RFC 6531: a transaction with a UTF-8 recipient says SMTPUTF8 on its MAIL command.
        // Saying it for an ASCII recipient too is harmless, so one MAIL line serves them all.
        let needs_utf8 = addresses.iter().any(|a| !a.is_ascii());
        let mail_from = if out.smtputf8 && needs_utf8 {
            format!("MAIL FROM:<{}> SMTPUTF8", self.config.mail_from)
        } else {
            format!("MAIL FROM:<{}>", self.config.mail_from)
        };
        let start = |r: Reply| {
            if is_ok(&r) {
                Ok(())
            } else {
                Err(format!("MAIL FROM refused: {}", r.describe()))
            }
        };
        start(conn.command(&mail_from).await?)?;
        let mut fresh = true;
        if let Some(local) = catch_all_local {
            let r = conn.command(&format!("RCPT TO:<{local}@{domain}>")).await?;
            if r.code == 421 {
                out.closed_by_server = true;
                return Err(format!("the server closed the session: {}", r.describe()));
            }
            out.catch_all = Some(r);
            fresh = false;
        }
        for (i, address) in addresses.iter().enumerate() {
            if !address.is_ascii() && !out.smtputf8 {
                // Never put a UTF-8 address to a server that cannot take it; the verdict says
                // why (its `rcpt` stays `None`).
                continue;
            }
            if !fresh {
                conn.command("RSET").await?;
                start(conn.command(&mail_from).await?)?;
            }
            fresh = false;
            let r = conn.command(&format!("RCPT TO:<{address}>")).await?;
            if r.code == 421 {
                // Not an answer about this address: the server wants a new session.
                out.closed_by_server = true;
                return Err(format!("the server closed the session: {}", r.describe()));
            }
            out.rcpt[i] = Some(r);
        }
        Ok(())
    }
}
