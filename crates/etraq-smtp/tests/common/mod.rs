//! A private Postfix instance for tests: its own configuration, queue and data directories
//! in a temporary directory, its own port; the system's Postfix is never touched. Set up as a
//! default company mail server would be: `example.com` is its own destination, loopback is
//! trusted, local mail goes to an "inside" server and everything else, through `relayhost`, to
//! an "outside" one. Its master must start as root; [`unavailable`] says when it cannot.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// Why these tests cannot run here, if they cannot.
pub fn unavailable() -> Option<String> {
    if !Path::new("/usr/sbin/postfix").exists() {
        return Some("Postfix is not installed (.ci/run installs Debian's postfix)".into());
    }
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("Postfix's master must be started as root".into());
    }
    None
}

/// A private Postfix instance: its own configuration, queue and data directories, its own
/// port. Stopped when dropped.
pub struct Postfix {
    dir: tempfile::TempDir,
    port: u16,
}

impl Postfix {
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("conf")
    }

    /// Starts one delivering `example.com` to `inside` and everything else to `outside`.
    pub async fn start(inside: SocketAddr, outside: SocketAddr) -> Postfix {
        Self::start_with(inside, outside, "").await
    }

    /// As [`Postfix::start`], with more `main.cf` lines.
    pub async fn start_with(inside: SocketAddr, outside: SocketAddr, extra: &str) -> Postfix {
        let dir = tempfile::Builder::new()
            .prefix("etraq-postfix-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        for sub in ["conf", "queue", "data"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        // Postfix's unprivileged daemons must reach into the instance.
        run("chmod", &["755", d.to_str().unwrap()]);
        run("chown", &["postfix", d.join("data").to_str().unwrap()]);
        for f in [
            "postfix-files",
            "postfix-files.d",
            "dynamicmaps.cf",
            "dynamicmaps.cf.d",
            "postfix-script",
            "post-install",
        ] {
            let src = Path::new("/etc/postfix").join(f);
            if src.exists() {
                run(
                    "cp",
                    &[
                        "-r",
                        src.to_str().unwrap(),
                        d.join("conf").to_str().unwrap(),
                    ],
                );
            }
        }
        let port = free_port();
        let main_cf = format!(
            "compatibility_level = 3.6\n\
             queue_directory = {q}\n\
             data_directory = {data}\n\
             meta_directory = {conf}\n\
             mail_owner = postfix\n\
             setgid_group = postdrop\n\
             inet_interfaces = 127.0.0.1\n\
             inet_protocols = ipv4\n\
             myhostname = mail.example.com\n\
             mydomain = example.com\n\
             myorigin = example.com\n\
             mydestination = example.com\n\
             mynetworks = 127.0.0.0/8\n\
             local_transport = smtp:[127.0.0.1]:{inside}\n\
             local_recipient_maps =\n\
             relayhost = [127.0.0.1]:{outside}\n\
             alias_maps =\n\
             alias_database =\n\
             smtp_tls_security_level = none\n\
             smtpd_tls_security_level = none\n\
             smtputf8_enable = yes\n\
             maillog_file = {d}/maillog\n\
             maillog_file_prefixes = {d}\n{extra}",
            q = d.join("queue").display(),
            data = d.join("data").display(),
            conf = d.join("conf").display(),
            inside = inside.port(),
            outside = outside.port(),
            d = d.display(),
        );
        std::fs::write(d.join("conf/main.cf"), main_cf).unwrap();
        let master_cf = format!(
            "127.0.0.1:{port} inet n - n - - smtpd\n\
             pickup    unix  n - n 60 1 pickup\n\
             cleanup   unix  n - n - 0 cleanup\n\
             qmgr      unix  n - n 300 1 qmgr\n\
             rewrite   unix  - - n - - trivial-rewrite\n\
             bounce    unix  - - n - 0 bounce\n\
             defer     unix  - - n - 0 bounce\n\
             trace     unix  - - n - 0 bounce\n\
             verify    unix  - - n - 1 verify\n\
             flush     unix  n - n 1000? 0 flush\n\
             proxymap  unix  - - n - - proxymap\n\
             smtp      unix  - - n - - smtp\n\
             relay     unix  - - n - - smtp\n\
             showq     unix  n - n - - showq\n\
             error     unix  - - n - - error\n\
             retry     unix  - - n - - error\n\
             discard   unix  - - n - - discard\n\
             anvil     unix  - - n - 1 anvil\n\
             scache    unix  - - n - 1 scache\n\
             postlog   unix-dgram n - n - 1 postlogd\n"
        );
        std::fs::write(d.join("conf/master.cf"), master_cf).unwrap();
        let pf = Postfix { dir, port };
        let out = Command::new("postfix")
            .args(["-c", pf.conf().to_str().unwrap(), "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "postfix start: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            pf.log()
        );
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "Postfix does not listen: {}",
                pf.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        pf
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// Waits until Postfix's queue is empty (everything delivered or bounced).
    pub async fn drain(&self) {
        let start = Instant::now();
        loop {
            let out = Command::new("postqueue")
                .args(["-c", self.conf().to_str().unwrap(), "-p"])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).contains("Mail queue is empty") {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "Postfix's queue does not drain: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                self.log()
            );
            // Deferred mail is retried at once, not after the default backoff.
            let _ = Command::new("postqueue")
                .args(["-c", self.conf().to_str().unwrap(), "-f"])
                .output();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .args(["-c", self.conf().to_str().unwrap_or(""), "stop"])
            .output();
    }
}

fn run(cmd: &str, args: &[&str]) {
    let st = Command::new(cmd).args(args).status().unwrap();
    assert!(st.success(), "{cmd} {args:?} failed");
}
