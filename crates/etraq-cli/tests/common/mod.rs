//! What the customer-service tests share to drive the real binary: a free port, `etraq` with
//! the test's `etraq.toml`, its output checked, and `etraq serve` started and waited for.
//! (The older test files keep their own copies of these; new ones use this module.)

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// `etraq --config etraq.toml` in `dir`, with no store or config from the environment.
pub fn etraq(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_etraq"));
    c.current_dir(dir)
        .env_remove("ETRAQ_STORE")
        .env_remove("ETRAQ_CONFIG")
        .env("ETRAQ_LOG", "warn")
        .args(["--config", "etraq.toml"]);
    c
}

/// Runs a command.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    etraq(dir).args(args).output().unwrap()
}

/// Runs a command that must succeed; its standard output.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail with status 1 and a message containing `says`.
pub fn refused(dir: &Path, args: &[&str], says: &str) {
    let out = run(dir, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(err.contains(says), "{args:?}: {err:?} should say {says:?}");
}

/// Runs a `--json` command; its answer.
pub fn json(dir: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&ok(dir, args)).unwrap()
}

/// Starts `etraq serve` in `dir` and waits until its SMTP listener on `smtp` answers.
pub async fn serve(dir: &Path, smtp: u16) -> Child {
    let child = etraq(dir)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{smtp}").parse().unwrap();
    let start = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child
}

/// Waits (at most a minute) until `done` holds.
pub async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "waited too long for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends one raw message over SMTP to 127.0.0.1:`port`.
pub async fn smtp_send(port: u16, from: &str, to: &str, data: &[u8]) {
    use lettre::AsyncTransport;
    let t = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .build();
    let env = lettre::address::Envelope::new(
        Some(from.parse::<lettre::Address>().unwrap()),
        vec![to.parse::<lettre::Address>().unwrap()],
    )
    .unwrap();
    t.send_raw(&env, data)
        .await
        .unwrap_or_else(|e| panic!("delivering to 127.0.0.1:{port}: {e}"));
}
