//! The crash test: a write acknowledged to a child process survives `kill -9` of that process.
//!
//! A backend adds a test target with `harness = false` whose `main` calls [`main`]. Run normally,
//! it is the parent: it starts itself again as the child, which writes mails through the store
//! from 8 concurrent tasks and prints the Message-ID of each write as soon as `apply` returns.
//! After enough acknowledgements the parent kills the child with SIGKILL mid-write, reopens the
//! store and checks that every acknowledged write is there, whole (mail record, raw message, DR),
//! and that the store still accepts writes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::Opener;
use crate::fixtures::new_dr_change;

const CHILD_ENV: &str = "ETRAQ_CRASH_TEST_CHILD_DIR";
const ACKS_BEFORE_KILL: usize = 300;

/// The entry point of a backend's crash test target. Exits non-zero on failure.
pub fn main(open: Opener) {
    main_with_env(open, &[]);
}

/// [`main`], passing `env` to the child as well (a server-backed store tells the child where
/// its server is).
pub fn main_with_env(open: Opener, env: &[(&str, String)]) {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => fail(&format!("cannot start a runtime: {e}")),
    };
    match std::env::var_os(CHILD_ENV) {
        Some(dir) => rt.block_on(child(open, dir.into())),
        None => rt.block_on(parent(open, env)),
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("crash test FAILED: {msg}");
    std::process::exit(1);
}

async fn child(open: Opener, dir: std::path::PathBuf) {
    let store = match open(dir).await {
        Ok(s) => s,
        Err(e) => fail(&format!("child cannot open the store: {e}")),
    };
    let mut tasks = Vec::new();
    for task in 0..8u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let number = match store.reserve_dr_numbers(1).await {
                    Ok(n) => n,
                    Err(e) => fail(&format!("reserve failed: {e}")),
                };
                let id = format!("crash-{task}-{i}@test.invalid");
                let cs = new_dr_change(number, &id, "owner@example.com", "customer@customer.test");
                if let Err(e) = store.apply(cs).await {
                    fail(&format!("apply failed: {e}"));
                }
                // Acknowledged: the write returned, so it must be durable.
                println!("{number} {id}");
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn parent(open: Opener, env: &[(&str, String)]) {
    let dir = crate::temp_dir();
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => fail(&format!("cannot find the test executable: {e}")),
    };
    let mut child = match Command::new(exe)
        .env(CHILD_ENV, dir.path())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => fail(&format!("cannot start the child: {e}")),
    };
    let Some(stdout) = child.stdout.take() else {
        fail("the child has no stdout");
    };
    // The reader keeps draining until the child is gone (so the child never blocks or fails on
    // a full pipe) and says when enough writes were acknowledged. Every line it read, before or
    // after the kill, is an acknowledged write that must have survived.
    let (enough_tx, enough_rx) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut acked = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            acked.push(line);
            if acked.len() == ACKS_BEFORE_KILL {
                let _ = enough_tx.send(());
            }
        }
        acked
    });
    if enough_rx.recv_timeout(Duration::from_secs(120)).is_err() {
        let _ = child.kill();
        fail("the child did not acknowledge enough writes in 120 s");
    }
    // SIGKILL while the writers are mid-flight.
    if let Err(e) = child.kill() {
        fail(&format!("cannot kill the child: {e}"));
    }
    let _ = child.wait();
    let acked = match reader.join() {
        Ok(a) => a,
        Err(_) => fail("the reader thread panicked"),
    };
    if acked.len() < ACKS_BEFORE_KILL {
        fail(&format!(
            "the child stopped after {} acknowledgements",
            acked.len()
        ));
    }

    let store = match open(dir.path().to_path_buf()).await {
        Ok(s) => s,
        Err(e) => fail(&format!("cannot reopen the store after kill -9: {e}")),
    };
    for line in &acked {
        let Some((number, id)) = line.split_once(' ') else {
            fail(&format!("bad acknowledgement line {line:?}"));
        };
        let mails = match store.mails_by_message_id(&crate::fixtures::mid(id)).await {
            Ok(m) => m,
            Err(e) => fail(&format!("lookup of {id} failed: {e}")),
        };
        let Some(mail) = mails.first() else {
            fail(&format!("acknowledged write {id} was lost by kill -9"));
        };
        match store.raw_message(mail.seq).await {
            Ok(Some(_)) => {}
            other => fail(&format!(
                "raw message of {id} missing after kill -9: {other:?}"
            )),
        }
        // And searchable: full-text indexes are written with the mail (SQLite) or rebuilt
        // from the store's queue of mail not yet indexed (sled).
        let q = match crate::search_query(&format!("subject:\"{id}\"")) {
            Ok(q) => q,
            Err(e) => fail(&format!("query for {id}: {e}")),
        };
        match store.search_mails(&q, 0, 5).await {
            Ok(hits) if hits.iter().map(|h| h.0).collect::<Vec<_>>() == [mail.seq] => {}
            other => fail(&format!(
                "{id} is not found by search after kill -9: {other:?}"
            )),
        }
        let number: u64 = number.parse().unwrap_or(0);
        match mail.dr.as_ref().map(|d| d.number()) {
            Some(n) if n == number => {}
            other => fail(&format!("{id} lost its DR: {other:?}")),
        }
        match store
            .get_dr(mail.dr.as_ref().unwrap_or(&crate::fixtures::dr_id(0)))
            .await
        {
            Ok(Some(_)) => {}
            other => fail(&format!("DR of {id} missing after kill -9: {other:?}")),
        }
    }
    let number = match store.reserve_dr_numbers(1).await {
        Ok(n) => n,
        Err(e) => fail(&format!("the reopened store refuses writes: {e}")),
    };
    if let Err(e) = store
        .apply(new_dr_change(
            number,
            "after-crash@test.invalid",
            "owner@example.com",
            "c@customer.test",
        ))
        .await
    {
        fail(&format!("the reopened store refuses writes: {e}"));
    }
    let _ = store.close().await;
    println!(
        "crash test ok: {} acknowledged writes all survived kill -9 and are found by search ({} backend)",
        acked.len(),
        store.backend()
    );
}
