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
        Self::start_with(false)
    }

    /// [`Cluster::start`], with `durable` as a production server runs (`fsync` and
    /// `synchronous_commit` on, as the server's defaults): for benchmarks that compare it with
    /// the embedded stores' durable commits.
    pub fn start_with(durable: bool) -> Option<Cluster> {
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
        let speed = if durable {
            ""
        } else {
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        };
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200{speed}",
            c.port,
            c.dir.path().display()
        );
        std::fs::write(c.dir.path().join("opts"), &opts).unwrap_or_else(|e| panic!("{e}"));
        c.start_server();
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

    /// Starts the server again after [`Cluster::stop_server`] (same port, same data).
    pub fn start_server(&self) {
        let opts = std::fs::read_to_string(self.dir.path().join("opts"))
            .unwrap_or_else(|e| panic!("the cluster's options: {e}"));
        let log = self.dir.path().join("log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &opts,
                "-l",
                &log.display().to_string(),
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server (`pg_ctl stop -m fast`: connections are cut), as a database lost
    /// mid-session.
    pub fn stop_server(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
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
        self.url_of("etraq")
    }

    /// The URL of database `db` as user `etraq`, with its password.
    pub fn url_of(&self, db: &str) -> String {
        format!("postgres://etraq:{PASSWORD}@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `db` (owned by `etraq`).
    pub fn create_database(&self, db: &str) {
        self.run(
            "createdb",
            &[
                "-h",
                &self.dir.path().display().to_string(),
                "-p",
                &self.port.to_string(),
                "-U",
                "etraq",
                db,
            ],
        );
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

/// The environment variable through which a test's child process (the crash test's writer)
/// finds its parent's cluster: the port it listens on.
pub const PORT_ENV: &str = "ETRAQ_PG_TEST_PORT";

static SHARED: std::sync::OnceLock<Option<SharedCluster>> = std::sync::OnceLock::new();

/// The cluster every test of one test process shares (a cluster per test would spend most of
/// the suite in `initdb`), each test in a database of its own ([`open_in`]). It stops when the
/// process exits: a watchdog shell started with it waits for the process to end, then stops
/// the server and removes its directory (a `static` is never dropped).
struct SharedCluster {
    port: u16,
    _cluster: Option<std::mem::ManuallyDrop<Cluster>>,
}

fn shared() -> Option<&'static SharedCluster> {
    SHARED
        .get_or_init(|| {
            if let Some(port) = std::env::var(PORT_ENV).ok().and_then(|p| p.parse().ok()) {
                return Some(SharedCluster {
                    port,
                    _cluster: None,
                });
            }
            let c = Cluster::start()?;
            c.stop_when_process_exits();
            Some(SharedCluster {
                port: c.port,
                _cluster: Some(std::mem::ManuallyDrop::new(c)),
            })
        })
        .as_ref()
}

/// The port of this process's shared cluster (started on first use), to hand to a child
/// process through [`PORT_ENV`]; `None` when PostgreSQL is not installed (outside CI).
pub fn shared_port() -> Option<u16> {
    shared().map(|c| c.port)
}

impl Cluster {
    /// Starts the watchdog that stops this cluster and removes its directory once the current
    /// process has exited.
    fn stop_when_process_exits(&self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = format!(
            "{} -D {} -m immediate -w stop",
            pg_ctl.display(),
            self.data()
        );
        let stop = if self.as_postgres {
            format!("runuser -u postgres -- {stop}")
        } else {
            stop
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            dir = self.dir.path().display()
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
}

/// A database name for a test directory: the same directory names the same database, so a
/// test that reopens its store reopens its data.
fn database_for(dir: &Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut h);
    format!("t{:016x}", h.finish())
}

/// Opens the store of test directory `dir` on this process's shared cluster, creating its
/// database on first use; `None` (after printing why) when PostgreSQL is not installed outside
/// CI. This is the PostgreSQL opener of the conformance suite.
pub async fn open_in(dir: &Path) -> Option<Result<crate::PgStore, etraq_core::Error>> {
    let port = shared()?.port;
    let db = database_for(dir);
    let admin = format!("postgres://etraq:{PASSWORD}@127.0.0.1:{port}/etraq");
    let created = async {
        let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await?;
        let task = tokio::spawn(conn);
        let r = client.batch_execute(&format!("CREATE DATABASE {db}")).await;
        drop(client);
        let _ = task.await;
        match r {
            // 42P04: it exists (a reopen).
            Err(e) if e.code().is_some_and(|c| c.code() == "42P04") => Ok(()),
            other => other,
        }
    };
    if let Err(e) = created.await {
        return Some(Err(etraq_core::Error::Internal(format!(
            "cannot create test database {db}: {e}"
        ))));
    }
    Some(
        crate::PgStore::open(&format!(
            "postgres://etraq:{PASSWORD}@127.0.0.1:{port}/{db}"
        ))
        .await,
    )
}
