//! etraq's own mail (alerts, confirmations, …): the [`Outbound`] implementations.
//!
//! Towards the upstream, lettre's pooled async SMTP client; in evaluation mode, the same Maildir
//! the gateway delivers into. lettre formats the message (RFC 2047 encoding of the subject and
//! names); the loop-prevention header fields are added on top.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use etraq_core::outbox::{OutMessage, Outbound};
use lettre::message::{Mailbox, MultiPart, header::ContentType};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::transport::deliver_to_maildir;

/// Formats one of etraq's own messages as a complete message, and its envelope: plain text, or
/// `multipart/alternative` when it has an HTML part.
pub fn format(msg: &OutMessage) -> Result<(lettre::address::Envelope, Vec<u8>), String> {
    let mailbox = |a: &etraq_core::EmailAddress| -> Result<Mailbox, String> {
        a.as_str()
            .parse::<Mailbox>()
            .map_err(|e| format!("{a}: {e}"))
    };
    let mut from = mailbox(&msg.from)?;
    from.name = msg.from_name.clone().filter(|n| !n.trim().is_empty());
    let mut builder = Message::builder().from(from).to(mailbox(&msg.to)?);
    for cc in &msg.cc {
        builder = builder.cc(mailbox(cc)?);
    }
    let builder = builder
        .subject(msg.subject.clone())
        .message_id(Some(format!("<{}>", msg.message_id)));
    let message = match &msg.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            msg.text.clone(),
            html.clone(),
        )),
        None => builder
            .header(ContentType::TEXT_PLAIN)
            .body(msg.text.clone()),
    }
    .map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    for (name, value) in &msg.headers {
        bytes.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    bytes.extend_from_slice(&message.formatted());
    Ok((message.envelope().clone(), bytes))
}

/// Alert mail through the upstream mail server, on a small connection pool.
pub struct LettreOutbound {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    timeout: Duration,
}

impl LettreOutbound {
    /// A mailer for `host:port`, greeting with `helo`; `starttls` requires TLS.
    pub fn new(
        host: &str,
        port: u16,
        helo: &str,
        starttls: bool,
        timeout: Duration,
    ) -> Result<Self, String> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .hello_name(ClientId::Domain(helo.to_string()))
            .timeout(Some(timeout))
            .pool_config(
                PoolConfig::new()
                    .max_size(4)
                    .idle_timeout(Duration::from_secs(60)),
            );
        if starttls {
            let params = TlsParameters::new(host.to_string()).map_err(|e| e.to_string())?;
            builder = builder.tls(Tls::Required(params));
        }
        Ok(LettreOutbound {
            transport: builder.build(),
            timeout,
        })
    }
}

#[async_trait]
impl Outbound for LettreOutbound {
    async fn send(&self, msg: &OutMessage) -> Result<(), String> {
        let (_, bytes) = format(msg)?;
        self.send_formatted(msg, &bytes).await
    }

    fn format(&self, msg: &OutMessage) -> Result<Vec<u8>, String> {
        format(msg).map(|(_, bytes)| bytes)
    }

    async fn send_formatted(&self, msg: &OutMessage, bytes: &[u8]) -> Result<(), String> {
        let (envelope, _) = format(msg)?;
        // A send can hang on a dead network: bound it, and let the whole future finish or time out.
        match tokio::time::timeout(self.timeout * 2, self.transport.send_raw(&envelope, bytes))
            .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".to_string()),
        }
    }
}

/// Alert mail into the evaluation Maildir.
pub struct MaildirOutbound {
    dir: Arc<PathBuf>,
}

impl MaildirOutbound {
    /// Delivers into `dir`.
    pub fn new(dir: Arc<PathBuf>) -> Self {
        MaildirOutbound { dir }
    }
}

#[async_trait]
impl Outbound for MaildirOutbound {
    async fn send(&self, msg: &OutMessage) -> Result<(), String> {
        let (_, bytes) = format(msg)?;
        self.send_formatted(msg, &bytes).await
    }

    fn format(&self, msg: &OutMessage) -> Result<Vec<u8>, String> {
        format(msg).map(|(_, bytes)| bytes)
    }

    async fn send_formatted(&self, _msg: &OutMessage, bytes: &[u8]) -> Result<(), String> {
        deliver_to_maildir(self.dir.clone(), bytes.to_vec())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
