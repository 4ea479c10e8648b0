//! Servers the validator tests run on loopback: an authoritative DNS server (hickory-proto
//! messages over UDP) and scripted SMTP servers on 127.0.0.x, all on one port, that count their
//! connections.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, MX};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};

/// What the DNS server answers for a name.
#[derive(Clone, Debug)]
pub enum Zone {
    /// MX records (preference, exchange; "." for a null MX) and A records.
    Records {
        mx: Vec<(u16, String)>,
        a: Vec<Ipv4Addr>,
    },
    /// SERVFAIL for every question.
    ServFail,
    /// No answer at all (the resolver times out).
    Silent,
}

fn name(s: &str) -> Name {
    Name::from_ascii(format!("{}.", s.trim_end_matches('.'))).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Starts the DNS server; names not in `zones` are NXDOMAIN.
pub async fn start_dns(zones: Vec<(&str, Zone)>) -> SocketAddr {
    let zones: HashMap<String, Zone> = zones
        .into_iter()
        .map(|(n, z)| (format!("{}.", n.to_ascii_lowercase()), z))
        .collect();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Ok(req) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if req.queries.iter().any(|q| {
                matches!(
                    zones.get(&q.name().to_ascii().to_ascii_lowercase()),
                    Some(Zone::Silent)
                )
            }) {
                continue;
            }
            let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
            resp.metadata.recursion_desired = req.metadata.recursion_desired;
            resp.metadata.recursion_available = true;
            resp.metadata.authoritative = true;
            for q in &req.queries {
                resp.add_query(q.clone());
                let qname = q.name().to_ascii().to_ascii_lowercase();
                match zones.get(&qname) {
                    None => resp.metadata.response_code = ResponseCode::NXDomain,
                    Some(Zone::ServFail) | Some(Zone::Silent) => {
                        resp.metadata.response_code = ResponseCode::ServFail
                    }
                    Some(Zone::Records { mx, a }) => match q.query_type() {
                        RecordType::MX => {
                            for (pref, ex) in mx {
                                let exchange = if ex == "." { Name::root() } else { name(ex) };
                                resp.add_answer(Record::from_rdata(
                                    q.name().clone(),
                                    60,
                                    RData::MX(MX::new(*pref, exchange)),
                                ));
                            }
                        }
                        RecordType::A => {
                            for ip in a {
                                resp.add_answer(Record::from_rdata(
                                    q.name().clone(),
                                    60,
                                    RData::A(A(*ip)),
                                ));
                            }
                        }
                        _ => {}
                    },
                }
            }
            if let Ok(bytes) = resp.to_vec() {
                let _ = sock.send_to(&bytes, peer).await;
            }
        }
    });
    addr
}

/// How a test SMTP server answers.
#[derive(Clone, Debug)]
pub enum Mode {
    /// 250 for these addresses, 550 5.1.1 for others.
    Mailboxes(Vec<&'static str>),
    /// 250 for everything.
    CatchAll,
    /// 451 4.7.1 the first time an address is asked, then 250.
    Greylist,
    /// 552 5.2.2 for everything.
    Full,
    /// 554 5.7.1 for everything (our IP is "blocklisted").
    Blocked,
    /// 550 without an enhanced code, text saying we are listed.
    BlockedNoCode,
    /// Accepts the connection and never says a word.
    Silent,
    /// Greets, then answers EHLO with endless continuation lines.
    Endless,
    /// Greets with binary garbage.
    Garbage,
    /// 250 for everything, but the (n+1)-th RCPT of a connection gets 421 and the connection
    /// ends (a recipients-per-connection limit).
    LimitPerSession(usize),
    /// Offers SMTPUTF8 and behaves like `Mailboxes`, except that a UTF-8 recipient in a
    /// transaction whose MAIL did not say SMTPUTF8 gets 553 5.6.7 (RFC 6531), as Postfix does.
    Utf8Mailboxes(Vec<&'static str>),
}

/// A running SMTP server and its connection count.
#[derive(Clone)]
pub struct Smtp {
    pub ip: Ipv4Addr,
    connections: Arc<AtomicUsize>,
    rcpts: Arc<Mutex<Vec<String>>>,
}

impl Smtp {
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
    pub fn rcpts(&self) -> Vec<String> {
        self.rcpts.lock().unwrap().clone()
    }
}

/// Starts one server per (IP, mode), all on the same port; returns the port and the servers.
pub async fn start_smtp(servers: Vec<(Ipv4Addr, Mode)>) -> (u16, Vec<Smtp>) {
    'retry: for _ in 0..20 {
        let first = TcpListener::bind(SocketAddr::new(IpAddr::V4(servers[0].0), 0))
            .await
            .unwrap();
        let port = first.local_addr().unwrap().port();
        let mut listeners = vec![first];
        for (ip, _) in &servers[1..] {
            match TcpListener::bind(SocketAddr::new(IpAddr::V4(*ip), port)).await {
                Ok(l) => listeners.push(l),
                Err(_) => continue 'retry,
            }
        }
        let mut out = Vec::new();
        for (listener, (ip, mode)) in listeners.into_iter().zip(servers.clone()) {
            let smtp = Smtp {
                ip,
                connections: Arc::default(),
                rcpts: Arc::default(),
            };
            let s = smtp.clone();
            let seen: Arc<Mutex<HashSet<String>>> = Arc::default();
            tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    s.connections.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(serve(tcp, mode.clone(), s.rcpts.clone(), seen.clone()));
                }
            });
            out.push(smtp);
        }
        return (port, out);
    }
    panic!("could not bind the SMTP test servers on one port");
}

async fn serve(
    tcp: tokio::net::TcpStream,
    mode: Mode,
    rcpts: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<HashSet<String>>>,
) {
    let (r, mut w) = tcp.into_split();
    let mut rcpts_here = 0usize;
    let mut utf8_transaction = false;
    let mut lines = BufReader::new(r).lines();
    match mode {
        Mode::Silent => {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            return;
        }
        Mode::Garbage => {
            let _ = w.write_all(b"\x00\xff\xfe garbage \x01\r\n").await;
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            return;
        }
        _ => {}
    }
    if w.write_all(b"220 mx.test ESMTP\r\n").await.is_err() {
        return;
    }
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            if let Mode::Endless = mode {
                loop {
                    if w.write_all(b"250-this line never ends and neither do the ones after it\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
            if let Mode::Utf8Mailboxes(_) = mode {
                "250-mx.test\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n".into()
            } else {
                "250-mx.test\r\n250 PIPELINING\r\n".into()
            }
        } else if upper.starts_with("MAIL FROM") || upper.starts_with("RSET") {
            utf8_transaction = upper.starts_with("MAIL FROM") && upper.ends_with(" SMTPUTF8");
            "250 2.0.0 OK\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            let addr = line[8..]
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_ascii_lowercase();
            rcpts.lock().unwrap().push(addr.clone());
            rcpts_here += 1;
            if let Mode::LimitPerSession(n) = mode
                && rcpts_here > n
            {
                let _ = w
                    .write_all(b"421 4.7.0 Too many recipients in this session\r\n")
                    .await;
                return;
            }
            match &mode {
                Mode::Utf8Mailboxes(_) if !addr.is_ascii() && !utf8_transaction => {
                    "553 5.6.7 SMTPUTF8 is required for this address\r\n".into()
                }
                Mode::Mailboxes(ok) | Mode::Utf8Mailboxes(ok) if ok.contains(&addr.as_str()) => {
                    "250 2.1.5 OK\r\n".into()
                }
                Mode::Utf8Mailboxes(_) => "550 5.1.1 User unknown\r\n".into(),
                Mode::Mailboxes(_) => {
                    "550 5.1.1 <x>: Recipient address rejected: User unknown\r\n".into()
                }
                Mode::CatchAll => "250 2.1.5 OK\r\n".into(),
                Mode::Greylist => {
                    if seen.lock().unwrap().insert(addr) {
                        "451 4.7.1 Greylisted, please try again later\r\n".into()
                    } else {
                        "250 2.1.5 OK\r\n".into()
                    }
                }
                Mode::Full => "552 5.2.2 Mailbox full\r\n".into(),
                Mode::Blocked => {
                    "554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org\r\n"
                        .into()
                }
                Mode::BlockedNoCode => "550 Your IP is listed at a DNSBL, mail refused\r\n".into(),
                _ => "250 OK\r\n".into(),
            }
        } else if upper.starts_with("QUIT") {
            let _ = w.write_all(b"221 2.0.0 Bye\r\n").await;
            return;
        } else {
            "502 5.5.2 Command not implemented\r\n".into()
        };
        if w.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}
