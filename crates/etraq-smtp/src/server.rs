//! The gateway: listener, connection limit, TLS, timeouts, graceful shutdown, and the delivery
//! step that keeps the gateway's promise.
//!
//! **A mail that got 250 from etraq is in the store and upstream; a mail etraq refused is in
//! neither; a crash at any point leaves no silent loss and no phantom DR.** [`deliver`] keeps it by
//! ordering: decide (nothing written) → journal the delivery → relay → record the mail and clear
//! the journal in one transaction → answer 250. If the upstream refuses, the journal entry is
//! dropped and the client gets the upstream's answer; nothing else was written. If etraq dies at
//! any point before the record commits, the client never saw a 250 and retries; the journal entry
//! tells the admin what was interrupted ([`reconcile_journal`] at start-up).

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use etraq_core::service::{OwnMail, OwnMailOutcome};
use etraq_core::store::PendingDelivery;
use etraq_core::switches::{Service, Services};
use etraq_core::{
    Config, Direction, EmailAddress, Envelope, Incoming, ReceivedAt, ReversePath, Store, Tracker,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::SmtpError;
use crate::reply::{Reply, replies};
use crate::rewrite;
use crate::session::{Event, Session, SessionConfig, in_networks};
use crate::transport::{Target, Transport, UpstreamConfig};

/// Everything the gateway needs to run, compiled from `etraq.toml`.
#[derive(Clone)]
pub struct GatewayConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Protocol limits.
    pub session: SessionConfig,
    /// Normalised local domains (relay policy).
    pub local_domains: Vec<String>,
    /// Clients allowed to relay to any domain.
    pub relay_networks: Vec<ipnet::IpNet>,
    /// STARTTLS, when a certificate is configured.
    pub tls: Option<TlsAcceptor>,
    /// Time allowed for each command line, counted from etraq's previous reply: a deadline,
    /// not an idle timer, so a client dripping one byte at a time is cut all the same.
    pub command_timeout: Duration,
    /// Silence allowed while a message is sent.
    pub data_timeout: Duration,
    /// Longest a session may last, whatever it does.
    pub session_timeout: Duration,
    /// Simultaneous connections.
    pub max_connections: usize,
    /// Simultaneous connections from one client address outside `relay_networks`, so that one
    /// stranger cannot take every slot.
    pub max_connections_per_ip: usize,
    /// How long sessions in flight may finish after a shutdown request.
    pub shutdown_grace: Duration,
    /// Where mail goes.
    pub target: Target,
    /// Add the subject tag to tracked mail.
    pub subject_tag: bool,
    /// Also to inbound (customer) mail.
    pub subject_tag_inbound: bool,
}

impl GatewayConfig {
    /// Compiles the gateway settings from the configuration. Without `[upstream]` the gateway
    /// runs in evaluation mode and delivers into `evaluation_maildir`. Errors name the key or
    /// file at fault.
    pub fn from_config(cfg: &Config, evaluation_maildir: PathBuf) -> Result<Self, SmtpError> {
        let listen: SocketAddr = cfg.smtp.listen.parse().map_err(|_| SmtpError::Config {
            key: "smtp.listen".into(),
            reason: format!("{:?} is not an address:port", cfg.smtp.listen),
        })?;
        let rules = cfg.tracking_rules().map_err(|e| SmtpError::Config {
            key: "local_domains".into(),
            reason: e.to_string(),
        })?;
        let mut relay_networks = Vec::new();
        for (i, n) in cfg.smtp.relay_networks.iter().enumerate() {
            let (ip, prefix) =
                etraq_core::config::parse_network(n).ok_or_else(|| SmtpError::Config {
                    key: format!("smtp.relay_networks[{i}]"),
                    reason: format!("{n:?} is not an IP network"),
                })?;
            let net = ipnet::IpNet::new(ip, prefix).map_err(|e| SmtpError::Config {
                key: format!("smtp.relay_networks[{i}]"),
                reason: e.to_string(),
            })?;
            relay_networks.push(net.trunc());
        }
        let tls = match (&cfg.smtp.tls_cert, &cfg.smtp.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::acceptor(
                &cfg.base_dir.join(cert),
                &cfg.base_dir.join(key),
            )?),
            (None, None) => None,
            _ => {
                return Err(SmtpError::Config {
                    key: "smtp.tls_key".into(),
                    reason: "tls_cert and tls_key must be given together".into(),
                });
            }
        };
        let hostname = if cfg.smtp.hostname.trim().is_empty() {
            host_name()
        } else {
            cfg.smtp.hostname.trim().to_string()
        };
        let timeout = Duration::from_secs(cfg.timeout_secs.max(1));
        let target = match &cfg.upstream {
            Some(u) => Target::Upstream(Arc::new(UpstreamConfig {
                host: u.host.clone(),
                port: u.port,
                helo: if u.helo.trim().is_empty() {
                    hostname.clone()
                } else {
                    u.helo.trim().to_string()
                },
                timeout,
                data_timeout: secs(u.data_timeout.as_secs()),
                pool: Arc::new(crate::transport::Pool::new(
                    u.keep_idle,
                    secs(u.keep_idle_timeout.as_secs()),
                )),
            })),
            None => Target::Maildir(Arc::new(evaluation_maildir)),
        };
        Ok(GatewayConfig {
            listen,
            session: SessionConfig {
                hostname,
                max_message_bytes: usize::try_from(cfg.smtp.max_message_bytes)
                    .unwrap_or(usize::MAX),
                max_recipients: cfg.smtp.max_recipients,
                max_line_length: cfg.smtp.max_line_length,
                max_errors: cfg.smtp.max_errors.max(1),
                tls_available: tls.is_some(),
                max_header_bytes: usize::try_from(cfg.smtp.max_header_bytes).unwrap_or(usize::MAX),
                max_header_line: cfg.smtp.max_header_line,
            },
            local_domains: {
                // Bounces and complaints come back to the campaigns' bounce domain from
                // anywhere, so it is local to the relay policy even when not a tracked domain.
                let mut d = rules.local_domains;
                let bounce = etraq_core::service::SendSettings::from_config(cfg).bounce_domain;
                if !bounce.is_empty() && !d.contains(&bounce) {
                    d.push(bounce);
                }
                d
            },
            relay_networks,
            tls,
            command_timeout: secs(cfg.smtp.command_timeout.as_secs()),
            data_timeout: secs(cfg.smtp.data_timeout.as_secs()),
            session_timeout: secs(cfg.smtp.session_timeout.as_secs()),
            max_connections: cfg.smtp.max_connections.max(1),
            max_connections_per_ip: cfg.smtp.max_connections_per_ip.max(1),
            shutdown_grace: secs(cfg.smtp.shutdown_grace.as_secs()),
            target,
            subject_tag: cfg.tracking.subject_tag,
            subject_tag_inbound: cfg.tracking.subject_tag_inbound,
        })
    }
}

use std::path::PathBuf;

fn secs(s: i64) -> Duration {
    Duration::from_secs(u64::try_from(s.max(1)).unwrap_or(1))
}

/// This machine's host name, for the greeting and for etraq's own mail.
pub fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Running totals, for `etraq status` and the console.
#[derive(Debug, Default)]
pub struct GatewayStats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Connections refused (limit reached or shutting down).
    pub refused_connections: AtomicU64,
    /// Of those, refused because their address had `max_connections_per_ip` open already.
    pub refused_per_ip: AtomicU64,
    /// Sessions closed at their command or session deadline.
    pub timed_out: AtomicU64,
    /// Messages accepted (250) and recorded.
    pub accepted: AtomicU64,
    /// Messages refused by the upstream or by etraq.
    pub rejected: AtomicU64,
    /// Messages accepted upstream whose recording failed (answered 451; the client retries).
    pub record_failures: AtomicU64,
}

struct Shared {
    cfg: GatewayConfig,
    tracker: Arc<Tracker>,
    stats: Arc<GatewayStats>,
    services: Services,
    /// etraq's own addresses (campaign bounces and mailto unsubscribes), when campaigns run.
    own: Option<Arc<dyn OwnMail>>,
}

/// The SMTP gateway, bound and ready to run.
pub struct Gateway {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl Gateway {
    /// Binds the listener. Fails with an error naming the address when it is in use or not
    /// allowed.
    pub async fn bind(cfg: GatewayConfig, tracker: Arc<Tracker>) -> Result<Self, SmtpError> {
        let listener = TcpListener::bind(cfg.listen)
            .await
            .map_err(|source| SmtpError::Bind {
                addr: cfg.listen,
                source,
            })?;
        Ok(Gateway {
            listener,
            shared: Arc::new(Shared {
                cfg,
                tracker,
                stats: Arc::new(GatewayStats::default()),
                services: Services::new(),
                own: None,
            }),
        })
    }

    /// Shares the server's pause switches: while [`Service::Smtp`] is paused, new connections
    /// get `421` (senders queue the mail and retry) and sessions in progress finish normally.
    pub fn with_services(mut self, services: Services) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.services = services;
        }
        self
    }

    /// Hands mail to etraq's own addresses (a campaign's `bounce+TOKEN@` return path and its
    /// `unsubscribe+TOKEN@` address) to `own` instead of relaying it: such a recipient is
    /// accepted only with a token that verifies (else `550 5.1.1`), and the message is recorded
    /// and acted on here. Without this every address is relayed.
    pub fn with_own_mail(mut self, own: Arc<dyn OwnMail>) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.own = Some(own);
        }
        self
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, SmtpError> {
        self.listener.local_addr().map_err(SmtpError::Io)
    }

    /// The running totals.
    pub fn stats(&self) -> Arc<GatewayStats> {
        self.shared.stats.clone()
    }

    /// Serves until `shutdown` turns true, then stops accepting, lets sessions in flight finish
    /// for up to the grace period, and returns.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), SmtpError> {
        let limit = Arc::new(Semaphore::new(self.shared.cfg.max_connections));
        let per_ip = PerIp::new(self.shared.cfg.max_connections_per_ip);
        let mut sessions = JoinSet::new();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of file descriptors and the like: back off instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    if self.shared.services.is_paused(Service::Smtp) {
                        self.shared.stats.refused_connections.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(refuse(stream, replies::paused()));
                        continue;
                    }
                    let trusted = in_networks(peer.ip(), &self.shared.cfg.relay_networks);
                    let slot = if trusted { Some(None) } else { per_ip.take(peer.ip()).map(Some) };
                    let Some(slot) = slot else {
                        self.shared.stats.refused_connections.fetch_add(1, Ordering::Relaxed);
                        self.shared.stats.refused_per_ip.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%peer, "too many connections from this address");
                        tokio::spawn(refuse(stream, replies::too_many_from_address()));
                        continue;
                    };
                    match limit.clone().try_acquire_owned() {
                        Ok(permit) => {
                            self.shared.stats.connections.fetch_add(1, Ordering::Relaxed);
                            let shared = self.shared.clone();
                            let shutdown = shutdown.clone();
                            sessions.spawn(async move {
                                serve_connection(stream, peer, shared, shutdown).await;
                                drop(permit);
                                drop(slot);
                            });
                        }
                        Err(_) => {
                            self.shared.stats.refused_connections.fetch_add(1, Ordering::Relaxed);
                            tokio::spawn(refuse(stream, replies::too_busy()));
                        }
                    }
                }
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
            }
        }
        drop(self.listener);
        let grace = self.shared.cfg.shutdown_grace;
        tracing::info!(
            sessions = sessions.len(),
            grace_secs = grace.as_secs(),
            "stopped accepting; waiting for sessions in flight"
        );
        let drained = tokio::time::timeout(grace, async {
            while sessions.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                sessions = sessions.len(),
                "grace period over; closing the remaining sessions (their clients keep their mail and retry)"
            );
            sessions.abort_all();
            while sessions.join_next().await.is_some() {}
        }
        Ok(())
    }
}

/// Connections open per client address. A [`PerIpSlot`] gives its place back when dropped.
#[derive(Clone)]
struct PerIp {
    max: usize,
    open: Arc<std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>>,
}

/// One connection's place in [`PerIp`].
struct PerIpSlot {
    ip: IpAddr,
    open: Arc<std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>>,
}

impl PerIp {
    fn new(max: usize) -> Self {
        PerIp {
            max,
            open: Arc::default(),
        }
    }

    /// A place for one more connection from `ip`, or `None` at the limit.
    fn take(&self, ip: IpAddr) -> Option<PerIpSlot> {
        let mut open = match self.open.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(PerIpSlot {
            ip,
            open: self.open.clone(),
        })
    }
}

impl Drop for PerIpSlot {
    fn drop(&mut self) {
        let mut open = match self.open.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

async fn refuse(mut stream: TcpStream, reply: Reply) {
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(&reply.to_bytes())).await;
    let _ = stream.shutdown().await;
}

/// A connection, before or after STARTTLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// Transitional state during the TLS handshake.
    Gone,
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Gone => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Gone => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// Bytes read from a client at a time.
const READ_CHUNK: usize = 16 * 1024;

/// Most unconsumed client bytes held while etraq waits on the upstream (pipelining).
const MAX_BUFFERED: usize = 1024 * 1024;

async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let cfg = &shared.cfg;
    let relay_allowed = in_networks(peer.ip(), &cfg.relay_networks);
    let mut session = Session::new(
        cfg.session.clone(),
        cfg.local_domains.clone(),
        relay_allowed,
        false,
    );
    let mut transport = cfg.target.transport();
    let mut stream = Stream::Plain(tcp);
    let mut out: Vec<u8> = session.greeting().to_bytes();
    let mut buf = vec![0u8; READ_CHUNK];
    tracing::debug!(%peer, relay_allowed, "connection");
    let session_deadline = Instant::now() + cfg.session_timeout;
    // Each command line must arrive within `command_timeout` of etraq's previous answer, however
    // its bytes trickle in; the deadline restarts only when the session moves on.
    let mut command_deadline = Instant::now() + cfg.command_timeout;
    let mut moved = false;
    // Recipients of the transaction that are etraq's own addresses (never relayed).
    let mut own_rcpts: Vec<EmailAddress> = Vec::new();
    loop {
        if *shutdown.borrow() && session.is_idle() {
            out.extend_from_slice(&replies::shutting_down().to_bytes());
            break;
        }
        let event = session.poll();
        if !matches!(event, Event::NeedMore) {
            moved = true;
        }
        match event {
            Event::Reply(r) => out.extend_from_slice(&r.to_bytes()),
            Event::NeedMore => {
                if !flush(&mut stream, &mut out).await {
                    return;
                }
                let now = Instant::now();
                if moved {
                    command_deadline = now + cfg.command_timeout;
                    moved = false;
                }
                let deadline = if session.in_data() {
                    now + cfg.data_timeout
                } else {
                    command_deadline
                }
                .min(session_deadline);
                let idle = session.is_idle();
                let read = tokio::select! {
                    r = tokio::time::timeout_at(deadline, stream.read(&mut buf)) => Some(r),
                    _ = shutdown.changed(), if idle => None,
                };
                match read {
                    None => continue,
                    Some(Err(_)) => {
                        shared.stats.timed_out.fetch_add(1, Ordering::Relaxed);
                        let reply = if deadline >= session_deadline {
                            replies::session_too_long()
                        } else {
                            replies::timeout()
                        };
                        tracing::debug!(%peer, reply = %reply, "closing a session at its deadline");
                        out.extend_from_slice(&reply.to_bytes());
                        break;
                    }
                    Some(Ok(Ok(0))) | Some(Ok(Err(_))) => {
                        transport.quit().await;
                        return;
                    }
                    Some(Ok(Ok(n))) => {
                        session.push_input(&buf[..n]);
                        if session.buffered() > MAX_BUFFERED {
                            out.extend_from_slice(&replies::too_many_errors().to_bytes());
                            break;
                        }
                    }
                }
            }
            Event::Mail { from, raw, params } => {
                own_rcpts.clear();
                let r = transport.mail(&from, &raw, &params).await;
                session.mail_result(r);
            }
            Event::Rcpt { to, raw } => {
                let r = match own_address(&shared, &to).await {
                    Some(r) => {
                        if r.is_positive() {
                            own_rcpts.push(to);
                        }
                        r
                    }
                    None => {
                        if session.data_is_next() {
                            transport.data_follows();
                        }
                        transport.rcpt(&to, &raw).await
                    }
                };
                session.rcpt_result(r);
            }
            Event::Message {
                from,
                rcpts,
                data,
                params,
            } => {
                // Let the client see the replies before it (pipelined RCPTs) while we deliver.
                if !flush(&mut stream, &mut out).await {
                    return;
                }
                let trace = Trace {
                    peer,
                    helo: session.helo().unwrap_or("unknown").to_string(),
                    protocol: session.protocol(params.smtputf8),
                    hostname: cfg.session.hostname.clone(),
                };
                let own = std::mem::take(&mut own_rcpts);
                let r = if own.is_empty() {
                    deliver(&shared, transport.as_mut(), &trace, from, rcpts, data).await
                } else {
                    deliver_mixed(&shared, transport.as_mut(), &trace, from, rcpts, own, data).await
                };
                session.message_result(r);
            }
            Event::Reset => {
                own_rcpts.clear();
                transport.rset().await
            }
            Event::StartTls(reply) => {
                out.extend_from_slice(&reply.to_bytes());
                if !flush(&mut stream, &mut out).await {
                    return;
                }
                let Some(acceptor) = cfg.tls.clone() else {
                    break;
                };
                let Stream::Plain(tcp) = std::mem::replace(&mut stream, Stream::Gone) else {
                    break;
                };
                match tokio::time::timeout(cfg.command_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        stream = Stream::Tls(Box::new(tls));
                        // Bytes pipelined after STARTTLS are dropped here (RFC 3207).
                        session.tls_started();
                    }
                    _ => {
                        tracing::debug!(%peer, "TLS handshake failed");
                        return;
                    }
                }
            }
            Event::Close(reply) => {
                // The upstream session goes back to the pool before the client hears 221, so
                // the client's next connection finds it there.
                transport.quit().await;
                if let Some(r) = reply {
                    out.extend_from_slice(&r.to_bytes());
                }
                break;
            }
        }
    }
    let _ = flush(&mut stream, &mut out).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.shutdown()).await;
    transport.quit().await;
}

async fn flush(stream: &mut Stream, out: &mut Vec<u8>) -> bool {
    if out.is_empty() {
        return true;
    }
    let ok = matches!(
        tokio::time::timeout(Duration::from_secs(60), async {
            stream.write_all(out).await?;
            stream.flush().await
        })
        .await,
        Ok(Ok(()))
    );
    out.clear();
    ok
}

/// What the `Received:` field of a relayed mail says about where it came from.
struct Trace {
    peer: SocketAddr,
    helo: String,
    protocol: &'static str,
    hostname: String,
}

impl Trace {
    /// The `Received:` field (RFC 5321 §4.4) etraq prepends to every mail it relays, folded
    /// per RFC 5322. The client's HELO name is reduced to printable ASCII, so it cannot inject
    /// header lines; `for` names the recipient only when there is one, as Postfix does.
    fn received(&self, id: u64, rcpts: &[EmailAddress], now: jiff::Timestamp) -> Vec<u8> {
        let helo: String = self
            .helo
            .chars()
            .filter(|c| c.is_ascii_graphic() && !matches!(c, '(' | ')' | ';'))
            .take(255)
            .collect();
        let helo = if helo.is_empty() { "unknown" } else { &helo };
        let ip = match self.peer.ip() {
            IpAddr::V4(v4) => format!("[{v4}]"),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => format!("[{v4}]"),
                None => format!("[IPv6:{v6}]"),
            },
        };
        let date = jiff::fmt::rfc2822::to_string(&now.to_zoned_datetime(jiff::tz::TimeZone::UTC))
            .unwrap_or_default();
        let mut field = format!(
            "Received: from {helo} ({ip})\r\n\tby {} (etraq) with {} id {id:x}",
            self.hostname, self.protocol
        );
        if let [one] = rcpts {
            field.push_str(&format!("\r\n\tfor <{one}>"));
        }
        field.push_str(&format!(";\r\n\t{date}\r\n"));
        field.into_bytes()
    }
}

/// `Some(answer)` when `to` is one of etraq's own addresses (accepted with a valid token,
/// `550 5.1.1` without, `451` when the check itself failed); `None` when it is relayed.
async fn own_address(shared: &Shared, to: &EmailAddress) -> Option<Reply> {
    let own = shared.own.as_ref()?;
    match own.own_address(to).await {
        Ok(None) => None,
        Ok(Some(true)) => Some(replies::own_recipient()),
        Ok(Some(false)) => {
            tracing::info!(rcpt = %to, "a campaign address with a token that does not verify; refused");
            Some(replies::unknown_own_address())
        }
        Err(e) => {
            tracing::error!(rcpt = %to, error = %e, "cannot check a campaign address; answering 451");
            Some(replies::local_error())
        }
    }
}

/// A message with recipients among etraq's own addresses: that part is taken first (recorded
/// and acted on; a retried delivery is recognised by its Message-ID and not acted on twice),
/// then the rest, if any, is relayed as usual. When taking fails nothing is relayed and the
/// client is told to retry.
async fn deliver_mixed(
    shared: &Shared,
    transport: &mut dyn Transport,
    trace: &Trace,
    from: ReversePath,
    rcpts: Vec<EmailAddress>,
    own_rcpts: Vec<EmailAddress>,
    data: Vec<u8>,
) -> Reply {
    let Some(own) = shared.own.as_ref() else {
        return replies::local_error();
    };
    let now = jiff::Timestamp::now();
    let envelope = Envelope::new(from.clone(), own_rcpts.clone());
    let mut raw = trace.received(now.as_millisecond().unsigned_abs(), &own_rcpts, now);
    raw.extend_from_slice(&data);
    let what = match own.take_own_mail(&envelope, &own_rcpts, raw, now).await {
        Ok(outcomes) => {
            tracing::info!(peer = %trace.peer, outcomes = ?outcomes, "mail to a campaign address taken");
            describe_own(&outcomes)
        }
        Err(e) => {
            tracing::error!(peer = %trace.peer, error = %e, "cannot take mail to a campaign address; answering 451 so the client retries");
            shared.stats.rejected.fetch_add(1, Ordering::Relaxed);
            transport.rset().await;
            return replies::local_error();
        }
    };
    let others: Vec<EmailAddress> = rcpts
        .into_iter()
        .filter(|r| !own_rcpts.contains(r))
        .collect();
    if others.is_empty() {
        transport.rset().await;
        shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
        return replies::own_mail_taken(&what);
    }
    deliver(shared, transport, trace, from, others, data).await
}

/// A few words on what mail to etraq's own addresses led to, for the SMTP answer.
fn describe_own(outcomes: &[OwnMailOutcome]) -> String {
    let words: Vec<&str> = outcomes
        .iter()
        .map(|o| match o {
            OwnMailOutcome::Bounced { hard: true, .. } => "hard bounce recorded",
            OwnMailOutcome::Bounced { hard: false, .. } => "soft bounce recorded",
            OwnMailOutcome::Complaint(_) => "complaint recorded",
            OwnMailOutcome::Unsubscribed(_) => "unsubscribed",
            OwnMailOutcome::Ignored(_) => "recorded",
        })
        .collect();
    if words.is_empty() {
        "recorded".into()
    } else {
        words.join(", ")
    }
}

/// The end of a message: decide, journal, relay, record, answer. See the module docs for why
/// this order loses nothing.
async fn deliver(
    shared: &Shared,
    transport: &mut dyn Transport,
    trace: &Trace,
    from: ReversePath,
    rcpts: Vec<EmailAddress>,
    data: Vec<u8>,
) -> Reply {
    let peer = trace.peer;
    let store: &Arc<dyn Store> = shared.tracker.store();
    let now = jiff::Timestamp::now();
    let size = data.len() as u64;
    let incoming = Incoming {
        raw: data,
        envelope: Envelope::new(from.clone(), rcpts.clone()),
        received: ReceivedAt::At(now),
    };
    let prepared = match shared.tracker.prepare(incoming).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(%peer, error = %e, "cannot classify a message; answering 451 so the client retries");
            shared.stats.rejected.fetch_add(1, Ordering::Relaxed);
            return replies::local_error();
        }
    };
    let decided = prepared.tracked().clone();
    let journal = PendingDelivery {
        id: 0,
        message_id: decided.message_id.clone(),
        mail_from: from.address().cloned(),
        rcpt_to: rcpts.clone(),
        size,
        client: peer.to_string(),
        started_at: now,
    };
    // The journal is written while the upstream answers DATA: both are round trips, and
    // nothing reaches the upstream before the journal entry exists (the message follows it).
    let (pending, go) = tokio::join!(store.put_pending(&journal), transport.start_data());
    let pending = match pending {
        Ok(id) => id,
        Err(e) => {
            transport.abort().await;
            tracing::error!(%peer, error = %e, "cannot journal a delivery; answering 451 so the client retries");
            shared.stats.rejected.fetch_add(1, Ordering::Relaxed);
            return replies::local_error();
        }
    };
    if go.code != 354 {
        if let Err(e) = store.drop_pending(pending).await {
            tracing::warn!(pending, error = %e, "cannot clear a journal entry");
        }
        tracing::info!(%peer, message_id = %decided.message_id, reply = %go, "the upstream refused a message; nothing recorded");
        shared.stats.rejected.fetch_add(1, Ordering::Relaxed);
        return go;
    }
    let dr = if decided.decision.is_tracked() {
        decided.dr.as_ref()
    } else {
        None
    };
    let tag = shared.cfg.subject_tag
        && (decided.direction != Direction::Inbound || shared.cfg.subject_tag_inbound);
    let verdict = {
        // The journal id names this delivery in the trace field.
        let received = trace.received(pending, &rcpts, now);
        let mut outgoing = rewrite::outgoing(prepared.raw(), dr, tag);
        outgoing.prepend(received);
        transport.data(&outgoing).await
    };
    if !verdict.is_positive() {
        if let Err(e) = store.drop_pending(pending).await {
            tracing::warn!(pending, error = %e, "cannot clear a journal entry");
        }
        tracing::info!(%peer, message_id = %decided.message_id, reply = %verdict, "the upstream refused a message; nothing recorded");
        shared.stats.rejected.fetch_add(1, Ordering::Relaxed);
        return verdict;
    }
    match shared.tracker.commit(prepared, Some(pending)).await {
        Ok(recorded) => {
            shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
            let what = match (
                &recorded.dr,
                recorded.decision.mail_type(),
                recorded.decision.reason(),
            ) {
                (Some(d), Some(t), _) => format!("tracked as {d} ({t})"),
                (_, _, Some(r)) => format!("untracked ({r})"),
                _ => "recorded".to_string(),
            };
            if recorded.dr != decided.dr {
                tracing::warn!(message_id = %recorded.message_id, relayed = ?decided.dr, recorded = ?recorded.dr, "the DR changed between relaying and recording (a concurrent mail on the same thread)");
            }
            tracing::info!(%peer, message_id = %recorded.message_id, direction = %recorded.direction, "{what}");
            Reply {
                code: verdict.code,
                esc: verdict.esc.or(Some([2, 0, 0])),
                text: format!(
                    "{} [etraq: {what}]",
                    verdict.text.lines().next().unwrap_or("OK")
                ),
            }
        }
        Err(e) => {
            shared.stats.record_failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%peer, message_id = %decided.message_id, error = %e, "the upstream accepted a message but recording it failed; answering 451 so the client retries (the upstream may receive it twice)");
            replies::local_error()
        }
    }
}

/// Reconciles the delivery journal at start-up: every entry is a delivery a crash interrupted
/// before its client got an answer. Nothing of it was recorded (recording clears the entry) and
/// the client will retry, so each is logged for the admin and removed. Returns how many.
pub async fn reconcile_journal(store: &Arc<dyn Store>) -> Result<usize, SmtpError> {
    let pending = store.list_pending().await.map_err(SmtpError::Store)?;
    for p in &pending {
        tracing::warn!(
            message_id = %p.message_id,
            from = ?p.mail_from.as_ref().map(|a| a.to_string()),
            rcpt = ?p.rcpt_to.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            client = %p.client,
            started = %p.started_at,
            "a delivery was interrupted by a restart before its client got an answer; nothing was recorded and the client will retry"
        );
        store.drop_pending(p.id).await.map_err(SmtpError::Store)?;
    }
    Ok(pending.len())
}
