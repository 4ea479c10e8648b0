//! A throwaway PostgreSQL cluster for tests: `initdb` into a temporary directory, `pg_ctl`
//! start on a free port of 127.0.0.1 (with `fsync` off: the tests are about etraq, not the
//! disk), a database `etraq` and a user `etraq` with a password, and `pg_ctl stop` when
//! dropped. PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres`
//! user (`runuser`).
//!
//! [`Cluster::start`] answers `None`, after printing why, when the PostgreSQL binaries are not
//! installed, except under CI (`CI` set), where a missing PostgreSQL is a failure: `.ci/run`
//! installs Debian's `postgresql`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The password of the `etraq` user of a test cluster.
pub const PASSWORD: &str = "etraq-test-password";

/// A running cluster, stopped when dropped.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

fn find_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("ETRAQ_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").is_file() && p.join("pg_ctl").is_file())
        .collect();
    versions.sort();
    versions.pop()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(55432)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Cluster {
    /// Starts one, or says why it cannot and answers `None` (outside CI).
    pub fn start() -> Option<Cluster> {
        let Some(bin) = find_bin() else {
            let why = "PostgreSQL is not installed (apt-get install postgresql; .ci/run does)";
            if std::env::var_os("CI").is_some() {
                panic!("{why}");
            }
            eprintln!("SKIPPED: {why}");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("etraq-pg-")
            .tempdir()
            .unwrap_or_else(|e| panic!("a temporary directory: {e}"));
        let as_postgres = is_root();
        let c = Cluster {
            dir,
            bin,
            port: free_port(),
            as_postgres,
        };
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(c.dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown of the cluster directory to postgres failed");
        }
        let pwfile = c.dir.path().join("pw");
        std::fs::write(&pwfile, format!("{PASSWORD}\n")).unwrap_or_else(|e| panic!("{e}"));
        if as_postgres {
            let _ = Command::new("chown")
                .args(["postgres"])
                .arg(&pwfile)
                .status();
        }
        let data = c.data();
        c.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "etraq",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                &format!("--pwfile={}", pwfile.display()),
            ],
        );
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            c.port,
            c.dir.path().display()
        );
        let log = c.dir.path().join("log");
        c.run(
            "pg_ctl",
            &[
                "-D",
                &data,
                "-o",
                &opts,
                "-l",
                &log.display().to_string(),
                "-w",
                "start",
            ],
        );
        c.run(
            "createdb",
            &[
                "-h",
                &c.dir.path().display().to_string(),
                "-p",
                &c.port.to_string(),
                "-U",
                "etraq",
                "etraq",
            ],
        );
        Some(c)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let out = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .current_dir(self.dir.path())
                .output()
        } else {
            Command::new(&exe)
                .args(args)
                .current_dir(self.dir.path())
                .output()
        };
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "{tool} {args:?} failed: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => panic!("{tool}: {e}"),
        }
    }

    /// The URL of database `etraq` as user `etraq`, with its password.
    pub fn url(&self) -> String {
        format!("postgres://etraq:{PASSWORD}@127.0.0.1:{}/etraq", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its directory (data, socket, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let exe = self.bin.join("pg_ctl");
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .output()
        } else {
            Command::new(&exe).args(args).output()
        };
    }
}
