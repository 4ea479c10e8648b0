//! An upstream SMTP server for tests: it records what it receives and can be told to refuse,
//! stall or drop at each step. Enabled with the `testing` feature.
//!
//! Recipients whose local part starts with `reject` are always refused with 550 5.1.1, and
//! those starting with `full` with 452 4.2.2 (mailbox full), so one
//! transaction can get different verdicts per recipient.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smtp_proto::Request;
use smtp_proto::request::receiver::{DataReceiver, RequestReceiver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::session::IntoOwnedRequest;

/// How the fake upstream behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behavior {
    /// Accept everything.
    Accept,
    /// Close connections right after accepting them.
    RefuseConnection,
    /// Answer MAIL FROM with this reply line (e.g. `"451 4.3.0 busy"`).
    RejectMail(String),
    /// Answer every RCPT with this reply line.
    RejectRcpt(String),
    /// Answer the end of DATA with this reply line.
    RejectData(String),
    /// Never answer the end of DATA.
    StallAtDataEnd,
    /// Close the connection when the data has arrived, without answering.
    DropAtDataEnd,
    /// Accept the message, then close the connection (as an upstream whose idle timeout
    /// expires right after): a kept session must not be reused.
    HangUpAfterData,
}

/// A message the fake upstream accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// MAIL FROM address.
    pub mail_from: String,
    /// Accepted RCPT TO addresses.
    pub rcpt_to: Vec<String>,
    /// The message (dot-unstuffed).
    pub data: Vec<u8>,
    /// The MAIL and RCPT command lines exactly as etraq sent them (line ends removed).
    pub commands: Vec<String>,
    /// Whether DATA arrived in the same read as the command before it (pipelined with the
    /// last RCPT) instead of after that command's answer.
    pub data_pipelined: bool,
}

impl Received {
    /// The value of a header of the message (first occurrence), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let msg = mail_parser::MessageParser::new().parse_headers(&self.data)?;
        msg.headers_raw()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.replace("\r\n", "").trim().to_string())
    }
}

/// The fake upstream server.
pub struct FakeUpstream {
    /// Where it listens.
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    behavior: Arc<Mutex<Behavior>>,
    connections: Arc<std::sync::atomic::AtomicUsize>,
    pipelining: Arc<std::sync::atomic::AtomicBool>,
    unpipelined_violations: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeUpstream {
    /// Starts one on an ephemeral port of 127.0.0.1.
    pub async fn start() -> FakeUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("fake upstream cannot bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("fake upstream has no address: {e}"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let behavior = Arc::new(Mutex::new(Behavior::Accept));
        let (r, b) = (received.clone(), behavior.clone());
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = connections.clone();
        let pipelining = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let unpipelined_violations = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (p, v) = (pipelining.clone(), unpipelined_violations.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (r, b) = (r.clone(), b.clone());
                let offer = p.load(std::sync::atomic::Ordering::SeqCst);
                let v = v.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, r, b, offer, v).await;
                });
            }
        });
        FakeUpstream {
            addr,
            received,
            behavior,
            connections,
            pipelining,
            unpipelined_violations,
            task,
        }
    }

    /// Changes the behaviour for the next steps of every connection.
    pub fn set(&self, b: Behavior) {
        if let Ok(mut g) = self.behavior.lock() {
            *g = b;
        }
    }

    /// Whether sessions opened from now on offer PIPELINING (they do unless told otherwise).
    pub fn set_pipelining(&self, offer: bool) {
        self.pipelining
            .store(offer, std::sync::atomic::Ordering::SeqCst);
    }

    /// How many commands arrived before the answer to the previous one was sent, on sessions
    /// that did not offer PIPELINING: a client that may not pipeline did.
    pub fn unpipelined_violations(&self) -> usize {
        self.unpipelined_violations
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Everything accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// The Message-IDs (without brackets) of everything accepted so far.
    pub fn message_ids(&self) -> Vec<String> {
        self.received()
            .iter()
            .filter_map(|m| m.header("Message-ID"))
            .map(|id| id.trim_matches(|c| c == '<' || c == '>').to_string())
            .collect()
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn behavior(b: &Arc<Mutex<Behavior>>) -> Behavior {
    b.lock().map(|g| g.clone()).unwrap_or(Behavior::Accept)
}

async fn serve(
    mut stream: TcpStream,
    received: Arc<Mutex<Vec<Received>>>,
    b: Arc<Mutex<Behavior>>,
    pipelining: bool,
    violations: Arc<std::sync::atomic::AtomicUsize>,
) -> std::io::Result<()> {
    if behavior(&b) == Behavior::RefuseConnection {
        return Ok(());
    }
    stream.write_all(b"220 fake.upstream ESMTP\r\n").await?;
    let mut receiver = RequestReceiver::default();
    let mut buf = vec![0u8; 65536];
    let mut pending: Vec<u8> = Vec::new();
    let mut from = String::new();
    let mut rcpts: Vec<String> = Vec::new();
    let mut commands: Vec<String> = Vec::new();
    let mut in_transaction = false;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        pending.extend_from_slice(&buf[..n]);
        let mut out = Vec::new();
        loop {
            let mut it = pending.iter();
            let before = it.len();
            let req = receiver.ingest(&mut it).map(|r| r.into_owned_request());
            let consumed = before - it.len();
            if matches!(req, Ok(Request::Mail { .. } | Request::Rcpt { .. })) {
                let line = String::from_utf8_lossy(&pending[..consumed]);
                commands.push(line.trim_end().to_string());
            }
            pending.drain(..consumed);
            if req.is_ok() && !pipelining && !out.is_empty() {
                // This command came in the same read as one still unanswered.
                violations.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            match req {
                Ok(Request::Ehlo { .. }) if pipelining => out.extend_from_slice(b"250-fake.upstream\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-SIZE 104857600\r\n250 PIPELINING\r\n"),
                Ok(Request::Ehlo { .. }) => out.extend_from_slice(b"250-fake.upstream\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 104857600\r\n"),
                Ok(Request::Helo { .. }) => out.extend_from_slice(b"250 fake.upstream\r\n"),
                // Like a real server: no MAIL inside a transaction, no RCPT outside one, so a
                // session that carried one client's envelope into the next would be caught.
                Ok(Request::Mail { .. }) if in_transaction => {
                    out.extend_from_slice(b"503 5.5.1 Error: nested MAIL command\r\n")
                }
                Ok(Request::Rcpt { .. }) if !in_transaction => {
                    out.extend_from_slice(b"503 5.5.1 Error: need MAIL command\r\n")
                }
                Ok(Request::Mail { from: f }) => match behavior(&b) {
                    Behavior::RejectMail(line) => out.extend_from_slice(format!("{line}\r\n").as_bytes()),
                    _ => {
                        in_transaction = true;
                        from = f.address;
                        rcpts.clear();
                        commands.retain(|c| c.to_ascii_uppercase().starts_with("MAIL"));
                        commands.drain(..commands.len().saturating_sub(1));
                        out.extend_from_slice(b"250 2.1.0 OK\r\n");
                    }
                },
                Ok(Request::Rcpt { to }) => match behavior(&b) {
                    Behavior::RejectRcpt(line) => out.extend_from_slice(format!("{line}\r\n").as_bytes()),
                    _ if to.address.split('@').next().unwrap_or("").starts_with("reject") => {
                        out.extend_from_slice(b"550 5.1.1 No such user here\r\n")
                    }
                    _ if to.address.split('@').next().unwrap_or("").starts_with("full") => {
                        out.extend_from_slice(b"452 4.2.2 Mailbox full\r\n")
                    }
                    _ => {
                        rcpts.push(to.address);
                        out.extend_from_slice(b"250 2.1.5 OK\r\n");
                    }
                },
                Ok(Request::Data) if !in_transaction || rcpts.is_empty() => {
                    out.extend_from_slice(b"503 5.5.1 Error: need RCPT command\r\n")
                }
                Ok(Request::Data) => {
                    in_transaction = false;
                    // Answers still unsent: DATA came in the same read as what precedes it.
                    let data_pipelined = !out.is_empty();
                    out.extend_from_slice(b"354 go ahead\r\n");
                    stream.write_all(&out).await?;
                    out.clear();
                    let mut data_rx = DataReceiver::new();
                    let mut prime = b"\r\n".iter();
                    let mut scratch = Vec::new();
                    data_rx.ingest(&mut prime, &mut scratch);
                    let mut data = Vec::new();
                    loop {
                        let mut it = pending.iter();
                        let before = it.len();
                        let done = data_rx.ingest(&mut it, &mut data);
                        let consumed = before - it.len();
                        pending.drain(..consumed);
                        if done {
                            break;
                        }
                        let n = stream.read(&mut buf).await?;
                        if n == 0 {
                            return Ok(());
                        }
                        pending.extend_from_slice(&buf[..n]);
                    }
                    match behavior(&b) {
                        Behavior::RejectData(line) => out.extend_from_slice(format!("{line}\r\n").as_bytes()),
                        Behavior::StallAtDataEnd => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            return Ok(());
                        }
                        Behavior::DropAtDataEnd => return Ok(()),
                        hang_up => {
                            if let Ok(mut g) = received.lock() {
                                g.push(Received {
                                    mail_from: from.clone(),
                                    rcpt_to: rcpts.clone(),
                                    data,
                                    commands: commands.clone(),
                                    data_pipelined,
                                });
                            }
                            out.extend_from_slice(b"250 2.0.0 Queued as fake\r\n");
                            if hang_up == Behavior::HangUpAfterData {
                                stream.write_all(&out).await?;
                                return Ok(());
                            }
                        }
                    }
                }
                Ok(Request::Rset) => {
                    in_transaction = false;
                    from.clear();
                    rcpts.clear();
                    commands.clear();
                    out.extend_from_slice(b"250 2.0.0 OK\r\n")
                }
                Ok(Request::Quit) => {
                    out.extend_from_slice(b"221 2.0.0 Bye\r\n");
                    stream.write_all(&out).await?;
                    return Ok(());
                }
                Ok(_) => out.extend_from_slice(b"250 2.0.0 OK\r\n"),
                Err(smtp_proto::Error::NeedsMoreData { .. }) => break,
                Err(_) => out.extend_from_slice(b"500 5.5.2 Syntax error\r\n"),
            }
        }
        stream.write_all(&out).await?;
    }
}
