//! The SMTP session as a sans-IO state machine.
//!
//! [`Session`] takes the bytes a client sent ([`Session::push_input`]) and, on each
//! [`Session::poll`], says what happens next: a reply to write, more input needed, or work for the
//! driver (ask the upstream about MAIL or RCPT, deliver a complete message, start TLS). The driver
//! does the I/O and hands the outcome back ([`Session::mail_result`] …). Nothing here touches a
//! socket or a clock, so the whole protocol can be driven by tests and fuzzers from memory.
//!
//! Parsing is smtp-proto's: `RequestReceiver` for commands (pipelining falls out of it) and
//! `DataReceiver` for DATA, which un-stuffs dots and keeps bare-LF or bare-CR dot sequences inside
//! the body (no SMTP smuggling). Input is bounded: command lines by `max_line_length`, messages by
//! `max_message_bytes` (the rest is drained and answered with 552 5.3.4).

use std::collections::VecDeque;
use std::net::IpAddr;

use etraq_core::{EmailAddress, ReversePath};
use smtp_proto::request::receiver::{BdatReceiver, DummyDataReceiver, RequestReceiver};
use smtp_proto::{EhloResponse, Error as ProtoError, Request};

use crate::data::DataReader;
use crate::reply::{Reply, replies};

/// Settings of a session.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Name in the greeting and EHLO reply.
    pub hostname: String,
    /// Largest message accepted.
    pub max_message_bytes: usize,
    /// Most recipients per transaction.
    pub max_recipients: usize,
    /// Longest command line.
    pub max_line_length: usize,
    /// Errors before the session is closed.
    pub max_errors: u32,
    /// Whether STARTTLS can be offered (a certificate is configured).
    pub tls_available: bool,
    /// Largest header section of a message (552 5.3.4 above it). Classification reads every
    /// header, so this bounds what one mail can cost before it is refused.
    pub max_header_bytes: usize,
    /// Longest physical line in the header section (552 5.3.4 above it).
    pub max_header_line: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            hostname: "localhost".into(),
            max_message_bytes: 25 * 1024 * 1024,
            max_recipients: 100,
            max_line_length: 4096,
            max_errors: 10,
            tls_available: false,
            max_header_bytes: 256 * 1024,
            max_header_line: 16 * 1024,
        }
    }
}

/// ESMTP parameters of MAIL FROM the upstream should see too.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailParams {
    /// Declared size (`SIZE=`), 0 if none.
    pub size: usize,
    /// `BODY=8BITMIME`.
    pub body_8bit: bool,
    /// `SMTPUTF8`.
    pub smtputf8: bool,
}

/// What the session needs next.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// Write this reply to the client.
    Reply(Reply),
    /// Wait for more input.
    NeedMore,
    /// Open a transaction upstream; answer with [`Session::mail_result`].
    Mail {
        /// The sender.
        from: ReversePath,
        /// The reverse path exactly as the client wrote it (without the angle brackets), which
        /// is what goes upstream.
        raw: String,
        /// Its parameters.
        params: MailParams,
    },
    /// Ask the upstream about a recipient; answer with [`Session::rcpt_result`].
    Rcpt {
        /// The recipient, normalised (relay policy already passed).
        to: EmailAddress,
        /// The forward path exactly as the client wrote it (without the angle brackets), which
        /// is what goes upstream: never a rewritten or dequoted form.
        raw: String,
    },
    /// A complete message to deliver; answer with [`Session::message_result`].
    Message {
        /// The sender.
        from: ReversePath,
        /// The recipients the upstream accepted.
        rcpts: Vec<EmailAddress>,
        /// The message, dot-unstuffed, as the client sent it.
        data: Vec<u8>,
        /// Its MAIL FROM parameters.
        params: MailParams,
    },
    /// Abort the upstream transaction (RSET, a new EHLO).
    Reset,
    /// Reply 220 (included), then upgrade to TLS and call [`Session::tls_started`].
    StartTls(Reply),
    /// Write the reply, if any, then close the connection.
    Close(Option<Reply>),
}

enum State {
    Command,
    /// Waiting for the driver's answer to a MAIL, RCPT or message.
    Waiting,
    Data {
        reader: DataReader,
    },
    Bdat {
        receiver: BdatReceiver,
        discard: Option<DummyDataReceiver>,
    },
    Closed,
}

#[derive(Debug, Default)]
struct Transaction {
    from: Option<(ReversePath, MailParams)>,
    rcpts: Vec<EmailAddress>,
    /// The message being received (DATA or BDAT chunks).
    data: Vec<u8>,
    /// Set once the message broke a limit (size, header size, header line): the rest is
    /// drained and this is the answer at its end.
    refused: Option<Reply>,
    /// Where the header section scan stands.
    header: HeaderScan,
}

/// Scans the received bytes of a message for the end of its header section, measuring the
/// section and its longest line on the way. Bytes after the header section are not looked at.
#[derive(Debug, Default)]
struct HeaderScan {
    /// Bytes of `data` already scanned.
    scanned: usize,
    /// The blank line was seen.
    done: bool,
    /// Bytes of the current line, line ends excluded.
    line: usize,
}

impl HeaderScan {
    /// Scans `data[self.scanned..]`; `Some(reply)` when a limit is broken.
    fn scan(&mut self, data: &[u8], cfg: &SessionConfig) -> Option<Reply> {
        if self.done {
            return None;
        }
        for (i, &b) in data.iter().enumerate().skip(self.scanned) {
            match b {
                b'\n' if self.line == 0 => {
                    self.done = true;
                    self.scanned = i + 1;
                    return None;
                }
                b'\n' => self.line = 0,
                b'\r' => {}
                _ => {
                    self.line += 1;
                    if self.line > cfg.max_header_line {
                        return Some(replies::header_line_too_long());
                    }
                }
            }
            if i >= cfg.max_header_bytes {
                return Some(replies::header_too_big());
            }
        }
        self.scanned = data.len();
        None
    }
}

/// One client's SMTP session.
pub struct Session {
    cfg: SessionConfig,
    relay_allowed: bool,
    local_domains: Vec<String>,
    tls: bool,
    helo: Option<String>,
    /// The client greeted with EHLO (not HELO).
    esmtp: bool,
    input: Vec<u8>,
    pos: usize,
    receiver: RequestReceiver,
    state: State,
    tx: Transaction,
    queue: VecDeque<Event>,
    errors: u32,
    /// What the driver was asked, so its answer lands in the right place.
    waiting_for: Option<Waiting>,
}

#[derive(Debug)]
enum Waiting {
    Mail(ReversePath, MailParams),
    Rcpt(EmailAddress),
    Message,
}

impl Session {
    /// A session for a client that may relay to any domain (`relay_allowed`) or only to
    /// `local_domains`; `tls` when the connection is already encrypted (implicit TLS).
    pub fn new(
        cfg: SessionConfig,
        local_domains: Vec<String>,
        relay_allowed: bool,
        tls: bool,
    ) -> Self {
        Session {
            cfg,
            relay_allowed,
            local_domains,
            tls,
            helo: None,
            esmtp: false,
            input: Vec::new(),
            pos: 0,
            receiver: RequestReceiver::default(),
            state: State::Command,
            tx: Transaction::default(),
            queue: VecDeque::new(),
            errors: 0,
            waiting_for: None,
        }
    }

    /// The 220 greeting.
    pub fn greeting(&self) -> Reply {
        Reply::plain(220, format!("{} ESMTP etraq ready", self.cfg.hostname))
    }

    /// Adds bytes received from the client.
    pub fn push_input(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos == self.input.len() {
            self.input.clear();
            self.pos = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    /// Bytes received but not consumed yet (bounded: see the module docs).
    pub fn buffered(&self) -> usize {
        self.input.len() - self.pos
    }

    /// Whether the next command already received is `DATA` (the client pipelined it after its
    /// recipients): the driver may then ask the destination for DATA with the last RCPT.
    pub fn data_is_next(&self) -> bool {
        self.input
            .get(self.pos..self.pos + 6)
            .is_some_and(|c| c.eq_ignore_ascii_case(b"DATA\r\n"))
    }

    /// True while a message is being received (the driver uses the DATA timeout then).
    pub fn in_data(&self) -> bool {
        matches!(self.state, State::Data { .. } | State::Bdat { .. })
    }

    /// True when no transaction is open: a shutdown can close the session without losing
    /// anything.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Command) && self.tx.from.is_none() && self.queue.is_empty()
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The EHLO/HELO name the client gave.
    pub fn helo(&self) -> Option<&str> {
        self.helo.as_deref()
    }

    /// The protocol name of a `Received:` field's `with` clause (RFC 3848, RFC 6531): `SMTP`
    /// after HELO, `ESMTP` after EHLO, `ESMTPS` over TLS, `UTF8SMTP`/`UTF8SMTPS` for a
    /// transaction with the SMTPUTF8 parameter.
    pub fn protocol(&self, smtputf8: bool) -> &'static str {
        match (smtputf8, self.esmtp, self.tls) {
            (true, _, false) => "UTF8SMTP",
            (true, _, true) => "UTF8SMTPS",
            (false, false, _) => "SMTP",
            (false, true, false) => "ESMTP",
            (false, true, true) => "ESMTPS",
        }
    }

    /// The next thing to do.
    pub fn poll(&mut self) -> Event {
        if let Some(e) = self.queue.pop_front() {
            return e;
        }
        match &mut self.state {
            State::Closed => Event::Close(None),
            State::Waiting => Event::NeedMore,
            State::Command => self.poll_command(),
            State::Data { .. } => self.poll_data(),
            State::Bdat { .. } => self.poll_bdat(),
        }
    }

    fn compact(&mut self) {
        if self.pos == self.input.len() {
            self.input.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
    }

    fn poll_command(&mut self) -> Event {
        if self.pos >= self.input.len() {
            self.compact();
            return Event::NeedMore;
        }
        let rest = &self.input[self.pos..];
        let mut it = rest.iter();
        let result = self.receiver.ingest(&mut it);
        let consumed = rest.len() - it.as_slice().len();
        let request = match result {
            Ok(r) => Ok(r.into_owned_request()),
            Err(e) => Err(e),
        };
        // The path as written, for MAIL and RCPT: what is relayed and what the routing check
        // reads (smtp-proto's address is decoded).
        let raw = match &request {
            Ok(Request::Mail { .. } | Request::Rcpt { .. }) => {
                crate::path::raw_path(&self.input[self.pos..self.pos + consumed])
            }
            _ => None,
        };
        self.pos += consumed;
        match request {
            Ok(_) if consumed > self.cfg.max_line_length => self.error(replies::line_too_long()),
            Ok(req) => self.command(req, raw),
            Err(ProtoError::NeedsMoreData { .. }) => {
                self.compact();
                Event::NeedMore
            }
            Err(ProtoError::ResponseTooLong) => self.error(replies::line_too_long()),
            Err(ProtoError::InvalidSenderAddress) => self.error(replies::bad_sender()),
            Err(ProtoError::InvalidRecipientAddress) => self.error(replies::bad_recipient()),
            Err(ProtoError::SyntaxError { syntax }) => {
                self.error(Reply::new(501, [5, 5, 4], format!("Syntax: {syntax}")))
            }
            Err(ProtoError::InvalidParameter { param }) => self.error(Reply::new(
                501,
                [5, 5, 4],
                format!("Invalid parameter {param:?}"),
            )),
            Err(ProtoError::UnsupportedParameter { param }) => self.error(Reply::new(
                504,
                [5, 5, 4],
                format!("Unsupported parameter {param:?}"),
            )),
            Err(_) => self.error(replies::syntax_error()),
        }
    }

    /// Counts an error reply; past the limit the session ends with 421.
    fn error(&mut self, reply: Reply) -> Event {
        self.errors += 1;
        if self.errors >= self.cfg.max_errors {
            self.state = State::Closed;
            return Event::Close(Some(replies::too_many_errors()));
        }
        Event::Reply(reply)
    }

    fn command(&mut self, req: Request<String>, raw: Option<String>) -> Event {
        match req {
            Request::Ehlo { host } => {
                let reset = self.tx.from.is_some();
                self.tx = Transaction::default();
                self.helo = Some(host);
                self.esmtp = true;
                let mut e = EhloResponse::new(self.cfg.hostname.as_str());
                e.capabilities = smtp_proto::EXT_PIPELINING
                    | smtp_proto::EXT_SIZE
                    | smtp_proto::EXT_8BIT_MIME
                    | smtp_proto::EXT_SMTP_UTF8
                    | smtp_proto::EXT_ENHANCED_STATUS_CODES
                    | smtp_proto::EXT_CHUNKING;
                if self.cfg.tls_available && !self.tls {
                    e.capabilities |= smtp_proto::EXT_START_TLS;
                }
                e.size = self.cfg.max_message_bytes;
                let mut text = Vec::new();
                let reply = match e.write(&mut text) {
                    Ok(()) => Event::Reply(raw_reply(text)),
                    Err(_) => Event::Reply(replies::ok()),
                };
                if reset {
                    self.queue.push_back(reply);
                    Event::Reset
                } else {
                    reply
                }
            }
            Request::Helo { host } => {
                let reset = self.tx.from.is_some();
                self.tx = Transaction::default();
                self.helo = Some(host);
                self.esmtp = false;
                let reply = Event::Reply(Reply::plain(250, self.cfg.hostname.clone()));
                if reset {
                    self.queue.push_back(reply);
                    Event::Reset
                } else {
                    reply
                }
            }
            Request::Lhlo { .. } => self.error(replies::not_implemented()),
            Request::Mail { from } => {
                if self.helo.is_none() {
                    return self.error(replies::bad_sequence("Send EHLO or HELO first"));
                }
                if self.tx.from.is_some() {
                    return self.error(replies::bad_sequence("Nested MAIL command"));
                }
                let addr = from.address.trim();
                let path = if addr.is_empty() {
                    ReversePath::Null
                } else {
                    match normal_form(addr, raw.as_deref()) {
                        Some(a) => ReversePath::Address(a),
                        None => return self.error(replies::bad_sender()),
                    }
                };
                let raw = match (&path, raw) {
                    (ReversePath::Null, _) => String::new(),
                    (_, Some(r)) if !r.trim().is_empty() => r,
                    (_, _) => return self.error(replies::bad_sender()),
                };
                if from.size > self.cfg.max_message_bytes {
                    return self.error(replies::too_big());
                }
                let params = MailParams {
                    size: from.size,
                    body_8bit: from.flags & smtp_proto::MAIL_BODY_8BITMIME != 0,
                    smtputf8: from.flags & smtp_proto::MAIL_SMTPUTF8 != 0,
                };
                // RFC 6531 §3.4: a non-ASCII address needs the SMTPUTF8 parameter.
                if !raw.is_ascii() && !params.smtputf8 {
                    return self.error(replies::utf8_address_without_smtputf8());
                }
                self.state = State::Waiting;
                self.waiting_for = Some(Waiting::Mail(path.clone(), params.clone()));
                Event::Mail {
                    from: path,
                    raw,
                    params,
                }
            }
            Request::Rcpt { to } => {
                if self.tx.from.is_none() {
                    return self.error(replies::bad_sequence("Need MAIL command first"));
                }
                let Some(addr) = normal_form(to.address.trim(), raw.as_deref()) else {
                    return self.error(replies::bad_recipient());
                };
                let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
                    return self.error(replies::bad_recipient());
                };
                let smtputf8 = self.tx.from.as_ref().is_some_and(|f| f.1.smtputf8);
                if !raw.is_ascii() && !smtputf8 {
                    return self.error(replies::utf8_address_without_smtputf8());
                }
                if !self.relay_allowed && crate::path::has_sender_routing(&raw) {
                    return self.error(replies::routing_denied());
                }
                let local = self.local_domains.iter().any(|d| d == addr.domain());
                if !local && !self.relay_allowed {
                    return self.error(replies::relay_denied());
                }
                if self.tx.rcpts.len() >= self.cfg.max_recipients {
                    return Event::Reply(replies::too_many_recipients());
                }
                if self.tx.rcpts.contains(&addr) {
                    return Event::Reply(Reply::new(
                        250,
                        [2, 1, 5],
                        "Duplicate recipient accepted",
                    ));
                }
                self.state = State::Waiting;
                self.waiting_for = Some(Waiting::Rcpt(addr.clone()));
                Event::Rcpt { to: addr, raw }
            }
            Request::Data => {
                if let Some(e) = self.check_ready_for_data() {
                    return e;
                }
                self.tx.data = Vec::with_capacity(
                    self.tx
                        .from
                        .as_ref()
                        .map_or(0, |f| f.1.size)
                        .min(self.cfg.max_message_bytes)
                        + 1024,
                );
                self.state = State::Data {
                    reader: DataReader::new(),
                };
                Event::Reply(replies::start_data())
            }
            Request::Bdat {
                chunk_size,
                is_last,
            } => {
                if let Some(e) = self.check_ready_for_data() {
                    return e;
                }
                let over = self.tx.refused.is_some()
                    || self.tx.data.len().saturating_add(chunk_size) > self.cfg.max_message_bytes;
                if over {
                    self.tx.refused.get_or_insert_with(replies::too_big);
                    self.tx.data = Vec::new();
                }
                self.state = State::Bdat {
                    receiver: BdatReceiver::new(chunk_size, is_last),
                    discard: over.then(|| DummyDataReceiver::new_bdat(chunk_size)),
                };
                self.poll_bdat()
            }
            Request::Rset => {
                let open = self.tx.from.is_some();
                self.tx = Transaction::default();
                if open {
                    self.queue.push_back(Event::Reply(replies::ok()));
                    Event::Reset
                } else {
                    Event::Reply(replies::ok())
                }
            }
            Request::Noop { .. } => Event::Reply(replies::ok()),
            Request::Vrfy { .. } => Event::Reply(replies::cannot_vrfy()),
            Request::Help { .. } => Event::Reply(replies::help()),
            Request::Quit => {
                self.state = State::Closed;
                Event::Close(Some(replies::bye()))
            }
            Request::StartTls => {
                if !self.cfg.tls_available {
                    return self.error(replies::tls_unavailable());
                }
                if self.tls {
                    return self.error(replies::bad_sequence("TLS already active"));
                }
                if self.tx.from.is_some() {
                    return self.error(replies::bad_sequence("Finish the transaction first"));
                }
                Event::StartTls(replies::tls_ready())
            }
            Request::Expn { .. }
            | Request::Auth { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => self.error(replies::not_implemented()),
        }
    }

    fn check_ready_for_data(&mut self) -> Option<Event> {
        if self.tx.from.is_none() {
            return Some(self.error(replies::bad_sequence("Need MAIL command first")));
        }
        if self.tx.rcpts.is_empty() {
            return Some(self.error(replies::no_recipients()));
        }
        None
    }

    fn poll_data(&mut self) -> Event {
        if self.pos >= self.input.len() {
            self.compact();
            return Event::NeedMore;
        }
        let State::Data { reader } = &mut self.state else {
            return Event::NeedMore;
        };
        let rest = &self.input[self.pos..];
        let (consumed, done) = reader.feed(rest, &mut self.tx.data);
        if self.tx.refused.is_none() {
            let refuse = if self.tx.data.len() > self.cfg.max_message_bytes {
                Some(replies::too_big())
            } else {
                self.tx.header.scan(&self.tx.data, &self.cfg)
            };
            if let Some(reply) = refuse {
                // Over a limit: stop keeping it, drain the rest, answer 552 at the end.
                reader.discard();
                self.tx.refused = Some(reply);
                self.tx.data = Vec::new();
            }
        }
        self.pos += consumed;
        if !done {
            self.compact();
            return Event::NeedMore;
        }
        self.finish_message()
    }

    fn poll_bdat(&mut self) -> Event {
        let State::Bdat { receiver, discard } = &mut self.state else {
            return Event::NeedMore;
        };
        let rest = &self.input[self.pos..];
        let mut it = rest.iter();
        let done = match discard {
            Some(d) => d.ingest(&mut it),
            None => receiver.ingest(&mut it, &mut self.tx.data),
        };
        let is_last = receiver.is_last;
        let consumed = rest.len() - it.as_slice().len();
        self.pos += consumed;
        if self.tx.refused.is_none()
            && let Some(reply) = self.tx.header.scan(&self.tx.data, &self.cfg)
        {
            // The rest of this chunk still arrives (bounded by the size check at BDAT); later
            // chunks are drained.
            self.tx.refused = Some(reply);
            self.tx.data = Vec::new();
        }
        if self.tx.refused.is_some() {
            self.tx.data.clear();
        }
        if !done {
            self.compact();
            return Event::NeedMore;
        }
        if !is_last {
            self.state = State::Command;
            if let Some(reply) = &self.tx.refused {
                return Event::Reply(reply.clone());
            }
            return Event::Reply(Reply::new(250, [2, 6, 0], "Chunk accepted"));
        }
        self.finish_message()
    }

    /// The end of DATA or of the last BDAT chunk.
    fn finish_message(&mut self) -> Event {
        if let Some(reply) = self.tx.refused.take() {
            // The transaction ends without a message; the upstream one is aborted.
            self.tx = Transaction::default();
            self.state = State::Command;
            self.queue.push_back(Event::Reply(reply));
            return Event::Reset;
        }
        let Some((from, params)) = self.tx.from.clone() else {
            self.state = State::Command;
            return Event::Reply(replies::bad_sequence("Need MAIL command first"));
        };
        let data = std::mem::take(&mut self.tx.data);
        let rcpts = self.tx.rcpts.clone();
        self.state = State::Waiting;
        self.waiting_for = Some(Waiting::Message);
        Event::Message {
            from,
            rcpts,
            data,
            params,
        }
    }

    /// The upstream's answer to MAIL FROM.
    pub fn mail_result(&mut self, reply: Reply) {
        if let Some(Waiting::Mail(path, params)) = self.waiting_for.take()
            && reply.is_positive()
        {
            self.tx.from = Some((path, params));
        }
        self.answer(reply);
    }

    /// The upstream's answer to RCPT TO.
    pub fn rcpt_result(&mut self, reply: Reply) {
        if let Some(Waiting::Rcpt(addr)) = self.waiting_for.take()
            && reply.is_positive()
        {
            self.tx.rcpts.push(addr);
        }
        self.answer(reply);
    }

    /// The outcome of delivering the message (the upstream's verdict, or a local error). The
    /// transaction ends either way.
    pub fn message_result(&mut self, reply: Reply) {
        self.waiting_for = None;
        self.tx = Transaction::default();
        self.answer(reply);
    }

    fn answer(&mut self, reply: Reply) {
        self.state = State::Command;
        if reply.is_permanent() && reply.code != 552 {
            self.errors += 1;
        }
        self.queue.push_back(Event::Reply(reply));
    }

    /// TLS is up: everything before it is forgotten (RFC 3207), including input pipelined after
    /// STARTTLS, which a man in the middle could have injected.
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.helo = None;
        self.esmtp = false;
        self.tx = Transaction::default();
        self.input.clear();
        self.pos = 0;
        self.receiver = RequestReceiver::default();
        self.queue.clear();
        self.state = State::Command;
    }
}

/// The normal form of an envelope address: from smtp-proto's decoded text, or, when that does
/// not parse (a quoted local part with a space loses its quotes there), from the path as
/// written.
fn normal_form(decoded: &str, raw: Option<&str>) -> Option<EmailAddress> {
    EmailAddress::parse(decoded)
        .ok()
        .or_else(|| raw.and_then(|r| EmailAddress::parse(r).ok()))
}

/// A reply whose wire form is already complete (the EHLO response writer's output).
fn raw_reply(text: Vec<u8>) -> Reply {
    // Recover the lines as text so `Reply::to_bytes` writes them back identically.
    let s = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = s.lines().map(|l| l.get(4..).unwrap_or("")).collect();
    Reply::plain(250, lines.join("\n"))
}

/// Requests with owned strings, so the receiver's buffer can be reused.
pub(crate) trait IntoOwnedRequest {
    fn into_owned_request(self) -> Request<String>;
}

impl IntoOwnedRequest for Request<std::borrow::Cow<'_, str>> {
    fn into_owned_request(self) -> Request<String> {
        match self {
            Request::Ehlo { host } => Request::Ehlo {
                host: host.into_owned(),
            },
            Request::Lhlo { host } => Request::Lhlo {
                host: host.into_owned(),
            },
            Request::Helo { host } => Request::Helo {
                host: host.into_owned(),
            },
            Request::Mail { from } => Request::Mail {
                from: from.into_owned(),
            },
            Request::Rcpt { to } => Request::Rcpt {
                to: to.into_owned(),
            },
            Request::Bdat {
                chunk_size,
                is_last,
            } => Request::Bdat {
                chunk_size,
                is_last,
            },
            Request::Auth {
                mechanism,
                initial_response,
            } => Request::Auth {
                mechanism,
                initial_response: initial_response.into_owned(),
            },
            Request::Noop { value } => Request::Noop {
                value: value.into_owned(),
            },
            Request::Vrfy { value } => Request::Vrfy {
                value: value.into_owned(),
            },
            Request::Expn { value } => Request::Expn {
                value: value.into_owned(),
            },
            Request::Help { value } => Request::Help {
                value: value.into_owned(),
            },
            Request::Etrn { name } => Request::Etrn {
                name: name.into_owned(),
            },
            Request::Atrn { domains } => Request::Atrn {
                domains: domains.into_iter().map(|d| d.into_owned()).collect(),
            },
            Request::Burl { uri, is_last } => Request::Burl {
                uri: uri.into_owned(),
                is_last,
            },
            Request::StartTls => Request::StartTls,
            Request::Data => Request::Data,
            Request::Rset => Request::Rset,
            Request::Quit => Request::Quit,
        }
    }
}

/// The peer address is in one of the networks.
pub fn in_networks(ip: IpAddr, networks: &[ipnet::IpNet]) -> bool {
    networks.iter().any(|n| n.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a session over a script, answering upstream questions with 250 unless the address
    /// starts with "no", and returns the wire replies plus the messages handed over.
    fn run(cfg: SessionConfig, relay: bool, input: &[u8]) -> (String, Vec<Vec<u8>>) {
        let mut s = Session::new(cfg, vec!["example.com".into()], relay, false);
        let mut out = String::new();
        let mut messages = Vec::new();
        s.push_input(input);
        loop {
            match s.poll() {
                Event::NeedMore => break,
                Event::Reply(r) => out.push_str(&String::from_utf8_lossy(&r.to_bytes())),
                Event::Mail { .. } => s.mail_result(replies::ok()),
                Event::Rcpt { to, .. } => {
                    if to.local_part().starts_with("no") {
                        s.rcpt_result(Reply::new(550, [5, 1, 1], "No such user"));
                    } else {
                        s.rcpt_result(Reply::new(250, [2, 1, 5], "OK"));
                    }
                }
                Event::Message { data, .. } => {
                    messages.push(data);
                    s.message_result(Reply::new(250, [2, 0, 0], "Queued"));
                }
                Event::Reset => out.push_str("[reset]\r\n"),
                Event::StartTls(r) => {
                    out.push_str(&String::from_utf8_lossy(&r.to_bytes()));
                    s.tls_started();
                    out.push_str("[tls]\r\n");
                }
                Event::Close(r) => {
                    if let Some(r) = r {
                        out.push_str(&String::from_utf8_lossy(&r.to_bytes()));
                    }
                    out.push_str("[closed]\r\n");
                    break;
                }
            }
        }
        (out, messages)
    }

    fn cfg() -> SessionConfig {
        SessionConfig {
            hostname: "gw.test".into(),
            max_message_bytes: 1000,
            max_recipients: 2,
            ..SessionConfig::default()
        }
    }

    fn codes(out: &str) -> Vec<&str> {
        out.lines()
            .filter(|l| l.len() >= 4 && &l[3..4] == " ")
            .map(|l| &l[..3])
            .collect()
    }

    #[test]
    fn pipelined_transaction() {
        let (out, msgs) = run(
            cfg(),
            false,
            b"EHLO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<nobody@example.com>\r\nDATA\r\nSubject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n",
        );
        assert_eq!(
            codes(&out),
            vec!["250", "250", "250", "550", "354", "250", "221"],
            "{out}"
        );
        assert!(
            out.contains("250-PIPELINING")
                && out.contains("250-SIZE 1000")
                && out.contains("ENHANCEDSTATUSCODES")
        );
        assert_eq!(msgs, vec![b"Subject: hi\r\n\r\n.dot\r\n".to_vec()]);
    }

    #[test]
    fn relaying_is_denied_to_outsiders_and_allowed_from_relay_networks() {
        let script = b"HELO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<x@elsewhere.test>\r\n";
        let (out, _) = run(cfg(), false, script);
        assert!(out.contains("550 5.7.1 Relaying denied"), "{out}");
        let (out, _) = run(cfg(), true, script);
        assert!(!out.contains("5.7.1"), "{out}");
    }

    #[test]
    fn recipient_limit_and_sequence_errors() {
        let (out, _) = run(
            cfg(),
            false,
            b"MAIL FROM:<a@c.test>\r\nEHLO c\r\nRCPT TO:<b@example.com>\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<b1@example.com>\r\nRCPT TO:<b2@example.com>\r\nRCPT TO:<b3@example.com>\r\nMAIL FROM:<x@c.test>\r\nDATA\r\n",
        );
        let c = codes(&out);
        assert_eq!(c[0], "503", "MAIL before EHLO: {out}");
        assert_eq!(c[2], "503", "RCPT before MAIL: {out}");
        assert!(out.contains("452 4.5.3 Too many recipients"), "{out}");
        assert!(out.contains("503 5.5.1 Nested MAIL"), "{out}");
        assert!(out.contains("354"), "{out}");
    }

    #[test]
    fn data_needs_a_recipient() {
        let (out, msgs) = run(
            cfg(),
            false,
            b"EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<no@example.com>\r\nDATA\r\n",
        );
        assert!(out.contains("554 5.5.1 No valid recipients"), "{out}");
        assert!(msgs.is_empty());
    }

    #[test]
    fn oversize_message_is_drained_and_refused() {
        let mut script =
            b"EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n".to_vec();
        script.extend(std::iter::repeat_n(b'x', 5000));
        script.extend_from_slice(b"\r\n.\r\nNOOP\r\n");
        let (out, msgs) = run(cfg(), false, &script);
        assert!(out.contains("552 5.3.4"), "{out}");
        assert!(
            out.contains("[reset]"),
            "the upstream transaction is aborted: {out}"
        );
        assert!(
            out.trim_end().ends_with("250 2.0.0 OK"),
            "the session goes on: {out}"
        );
        assert!(msgs.is_empty());
        let (out, _) = run(
            cfg(),
            false,
            b"EHLO c\r\nMAIL FROM:<a@c.test> SIZE=5000\r\n",
        );
        assert!(out.contains("552 5.3.4"), "{out}");
    }

    #[test]
    fn smuggling_stays_inside_the_body() {
        let (out, msgs) = run(
            cfg(),
            false,
            b"EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nhi\n.\nMAIL FROM:<evil@c.test>\r\nhey\r.\rRCPT TO:<x@y.test>\r\n.\r\n",
        );
        assert_eq!(msgs.len(), 1, "{out}");
        let body = String::from_utf8_lossy(&msgs[0]);
        assert!(
            body.contains("MAIL FROM:<evil@c.test>") && body.contains("RCPT TO:<x@y.test>"),
            "{body}"
        );
        assert_eq!(
            codes(&out).iter().filter(|c| **c == "250").count(),
            4,
            "{out}"
        );
    }

    #[test]
    fn bdat_chunks() {
        let (out, msgs) = run(
            cfg(),
            false,
            b"EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<b@example.com>\r\nBDAT 6\r\nSubj: BDAT 5 LAST\r\nhello",
        );
        assert!(out.contains("250 2.6.0"), "{out}");
        assert_eq!(msgs, vec![b"Subj: hello".to_vec()]);
        let (out, msgs) = run(
            cfg(),
            false,
            b"EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<b@example.com>\r\nBDAT 5000 LAST\r\n",
        );
        assert!(msgs.is_empty());
        assert!(!out.contains("552"), "still draining: {out}");
    }

    #[test]
    fn starttls_discards_pipelined_input() {
        let tls = SessionConfig {
            tls_available: true,
            ..cfg()
        };
        let (out, _) = run(
            tls,
            false,
            b"EHLO c\r\nSTARTTLS\r\nMAIL FROM:<injected@c.test>\r\n",
        );
        assert!(out.contains("250-STARTTLS"), "{out}");
        assert!(
            out.contains("220 2.0.0 Ready to start TLS\r\n[tls]"),
            "{out}"
        );
        assert!(
            !out.contains("injected") && out.trim_end().ends_with("[tls]"),
            "pipelined bytes after STARTTLS were used: {out}"
        );
        let (out, _) = run(cfg(), false, b"EHLO c\r\nSTARTTLS\r\n");
        assert!(
            !out.contains("250-STARTTLS") && out.contains("454 4.7.0"),
            "{out}"
        );
    }

    #[test]
    fn too_many_errors_close_the_session() {
        let cfg = SessionConfig {
            max_errors: 3,
            ..cfg()
        };
        let (out, _) = run(cfg, false, b"BOGUS\r\nBOGUS\r\nBOGUS\r\nBOGUS\r\n");
        assert!(
            out.contains("421 4.7.0") && out.contains("[closed]"),
            "{out}"
        );
        assert_eq!(out.matches("500 5.5.2").count(), 2, "{out}");
    }

    #[test]
    fn small_commands() {
        let (out, _) = run(
            cfg(),
            false,
            b"HELO c\r\nNOOP\r\nVRFY x\r\nHELP\r\nEXPN x\r\nRSET\r\nQUIT\r\nNOOP\r\n",
        );
        assert_eq!(
            codes(&out),
            vec!["250", "250", "252", "214", "502", "250", "221"],
            "{out}"
        );
        let long = [b"NOOP ".as_slice(), &[b'x'; 5000], b"\r\nNOOP\r\n"].concat();
        let (out, _) = run(cfg(), false, &long);
        assert!(out.contains("500 5.5.2 Line too long"), "{out}");
    }

    /// The paths a session hands the driver for MAIL and RCPT, as it would forward them.
    fn forwarded(relay: bool, input: &[u8]) -> (String, Vec<String>) {
        let mut s = Session::new(cfg(), vec!["example.com".into()], relay, false);
        let mut out = String::new();
        let mut paths = Vec::new();
        s.push_input(input);
        loop {
            match s.poll() {
                Event::NeedMore | Event::Close(_) => break,
                Event::Reply(r) => out.push_str(&String::from_utf8_lossy(&r.to_bytes())),
                Event::Mail { raw, .. } => {
                    paths.push(format!("MAIL <{raw}>"));
                    s.mail_result(replies::ok());
                }
                Event::Rcpt { raw, .. } => {
                    paths.push(format!("RCPT <{raw}>"));
                    s.rcpt_result(replies::ok());
                }
                Event::Message { .. } => s.message_result(replies::ok()),
                Event::Reset | Event::StartTls(_) => {}
            }
        }
        (out, paths)
    }

    #[test]
    fn sender_specified_routing_is_refused_to_strangers() {
        for routed in [
            "victim%other.com@example.com",
            "other.com!victim@example.com",
            "\"victim@other.com\"@example.com",
            "@relay.test:victim@example.com",
        ] {
            let script = format!("EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<{routed}>\r\n");
            let (out, paths) = forwarded(false, script.as_bytes());
            assert!(
                out.contains("550 5.7.1 Sender-specified routing"),
                "{routed}: {out}"
            );
            assert_eq!(paths, vec!["MAIL <a@c.test>"], "{routed} was forwarded");
            // A client in relay_networks may route; the path goes on exactly as written.
            let (out, paths) = forwarded(true, script.as_bytes());
            assert!(!out.contains("5.7.1"), "{out}");
            assert_eq!(paths[1], format!("RCPT <{routed}>"));
        }
    }

    #[test]
    fn paths_are_forwarded_exactly_as_received() {
        let (_, paths) = forwarded(
            false,
            b"EHLO c\r\nMAIL FROM:<\"Odd Sender\"@C.Test> BODY=8BITMIME\r\nRCPT TO:<\"First Last\"@Example.COM>\r\nRCPT TO:<Bob.Smith@example.com> NOTIFY=NEVER\r\n",
        );
        assert_eq!(
            paths,
            vec![
                "MAIL <\"Odd Sender\"@C.Test>",
                "RCPT <\"First Last\"@Example.COM>",
                "RCPT <Bob.Smith@example.com>"
            ]
        );
    }

    #[test]
    fn non_ascii_addresses_need_smtputf8() {
        let (out, paths) = forwarded(
            false,
            "EHLO c\r\nMAIL FROM:<josé@c.test>\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<用户@example.com>\r\n"
                .as_bytes(),
        );
        assert_eq!(out.matches("553 5.6.7").count(), 2, "{out}");
        assert_eq!(paths, vec!["MAIL <a@c.test>"]);
        let (out, paths) = forwarded(
            false,
            "EHLO c\r\nMAIL FROM:<josé@c.test> SMTPUTF8\r\nRCPT TO:<用户@example.com>\r\n"
                .as_bytes(),
        );
        assert!(!out.contains("553"), "{out}");
        assert_eq!(paths, vec!["MAIL <josé@c.test>", "RCPT <用户@example.com>"]);
    }

    #[test]
    fn oversized_headers_are_drained_and_refused() {
        let cfg = SessionConfig {
            max_message_bytes: 100_000,
            max_header_bytes: 4096,
            max_header_line: 1000,
            ..cfg()
        };
        let start = b"EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n";
        // A header section over the limit, each line short.
        let mut big = start.to_vec();
        for i in 0..200 {
            big.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "y".repeat(40)).as_bytes());
        }
        big.extend_from_slice(b"\r\nbody\r\n.\r\nNOOP\r\n");
        let (out, msgs) = run(cfg.clone(), false, &big);
        assert!(
            out.contains("552 5.3.4 Message header section exceeds"),
            "{out}"
        );
        assert!(
            out.trim_end().ends_with("250 2.0.0 OK"),
            "the session goes on: {out}"
        );
        assert!(msgs.is_empty());
        // One header line over the limit.
        let mut long = start.to_vec();
        long.extend_from_slice(format!("To: {}\r\n\r\nbody\r\n.\r\n", "z".repeat(2000)).as_bytes());
        let (out, msgs) = run(cfg.clone(), false, &long);
        assert!(
            out.contains("552 5.3.4 Message header line exceeds"),
            "{out}"
        );
        assert!(msgs.is_empty());
        // Long lines in the body are not header lines; a big body is fine.
        let mut body = start.to_vec();
        body.extend_from_slice(
            format!(
                "Subject: ok\r\n\r\n{}\r\n{}\r\n.\r\n",
                "b".repeat(3000),
                "c\r\n".repeat(3000)
            )
            .as_bytes(),
        );
        let (out, msgs) = run(cfg.clone(), false, &body);
        assert_eq!(msgs.len(), 1, "{out}");
        // The same limits hold for BDAT.
        let mut bdat = b"EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<b@example.com>\r\n".to_vec();
        let header = format!("To: {}\r\n\r\nbody", "z".repeat(2000));
        bdat.extend_from_slice(
            format!("BDAT {} LAST\r\n{header}NOOP\r\n", header.len()).as_bytes(),
        );
        let (out, msgs) = run(cfg, false, &bdat);
        assert!(
            out.contains("552 5.3.4 Message header line exceeds"),
            "{out}"
        );
        assert!(msgs.is_empty());
        assert!(out.trim_end().ends_with("250 2.0.0 OK"), "{out}");
    }

    #[test]
    fn empty_message() {
        let (_, msgs) = run(
            cfg(),
            false,
            b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n.\r\n",
        );
        assert_eq!(msgs, vec![Vec::<u8>::new()]);
    }
}
