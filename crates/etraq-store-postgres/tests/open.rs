//! Opening a PostgreSQL store against a throwaway cluster: migrations run once even when
//! several nodes open an empty database at once; a newer schema is refused; a URL that does
//! not parse, a server that cannot be reached and wrong credentials each get a plain error
//! that names the target and never the password; the key-value space works across nodes.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use etraq_core::store::KeyValueStore;
use etraq_store_postgres::testing::{Cluster, PASSWORD};
use etraq_store_postgres::{PgError, PgStore, SCHEMA_VERSION};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_opening_an_empty_database_at_once_migrate_it_once_and_share_it() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let url = cluster.url();
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PgStore::open_pg(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for o in opens {
        stores.push(o.await.unwrap().unwrap());
    }
    for s in &stores {
        assert_eq!(s.schema_version(), SCHEMA_VERSION);
        assert_eq!(s.target().user, "etraq");
        assert!(!format!("{s:?}").contains(PASSWORD));
    }
    // One node writes, another reads; a prefix scan in key order, `%` and `_` as text.
    stores[0].kv_put("template:b", Some("2")).await.unwrap();
    stores[0].kv_put("template:a", Some("1")).await.unwrap();
    stores[0].kv_put("templatex", Some("no")).await.unwrap();
    stores[0].kv_put("50%_off", Some("literal")).await.unwrap();
    assert_eq!(
        stores[1].kv_get("template:a").await.unwrap().as_deref(),
        Some("1")
    );
    assert_eq!(
        stores[2].kv_scan("template:").await.unwrap(),
        vec![
            ("template:a".into(), "1".into()),
            ("template:b".into(), "2".into())
        ]
    );
    assert_eq!(stores[2].kv_scan("50%_").await.unwrap().len(), 1);
    assert!(stores[2].kv_scan("5_").await.unwrap().is_empty());
    stores[3].kv_put("template:a", None).await.unwrap();
    assert_eq!(stores[0].kv_get("template:a").await.unwrap(), None);
    for s in &stores {
        s.close();
    }
    // Reopening changes nothing.
    let again = PgStore::open_pg(&url).await.unwrap();
    assert_eq!(
        again.kv_get("template:b").await.unwrap().as_deref(),
        Some("2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_urls_unreachable_servers_and_wrong_credentials_are_plain_errors() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    // A URL that does not parse.
    let e = PgStore::open_pg("postgres://etraq:pw@127.0.0.1:notaport/etraq")
        .await
        .unwrap_err();
    assert!(matches!(e, PgError::BadUrl { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("not a PostgreSQL URL") && !text.contains(":pw@"),
        "{text}"
    );
    // Nobody listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = PgStore::open_pg(&format!(
        "postgres://etraq:{PASSWORD}@127.0.0.1:{closed}/etraq"
    ))
    .await
    .unwrap_err();
    assert!(matches!(e, PgError::Unreachable { .. }), "{e}");
    assert!(
        e.to_string().contains(&format!("127.0.0.1:{closed}")),
        "{e}"
    );
    assert!(!e.to_string().contains(PASSWORD));
    // The wrong password.
    let e = PgStore::open_pg(&format!(
        "postgres://etraq:wrong@127.0.0.1:{}/etraq",
        cluster.port()
    ))
    .await
    .unwrap_err();
    assert!(matches!(e, PgError::Credentials { .. }), "{e}");
    assert!(
        e.to_string().contains("refused the credentials") && !e.to_string().contains("wrong"),
        "{e}"
    );
    // A database that does not exist.
    let e = PgStore::open_pg(&format!(
        "postgres://etraq:{PASSWORD}@127.0.0.1:{}/nosuch",
        cluster.port()
    ))
    .await
    .unwrap_err();
    assert!(e.to_string().contains("nosuch"), "{e}");
    // Through the core's error, as the CLI prints it.
    let core: etraq_core::Error = PgStore::open(&format!(
        "postgres://etraq:wrong@127.0.0.1:{}/etraq",
        cluster.port()
    ))
    .await
    .unwrap_err();
    assert!(
        core.to_string().contains("refused the credentials"),
        "{core}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_written_by_a_newer_etraq_is_refused() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let s = PgStore::open_pg(&cluster.url()).await.unwrap();
    s.close();
    // A newer etraq migrated it further.
    let (client, conn) = tokio_postgres::connect(&cluster.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .execute(
            "UPDATE etraq_meta SET value = $1 WHERE key = 'schema_version'",
            &[&(SCHEMA_VERSION + 1).to_string()],
        )
        .await
        .unwrap();
    let e = PgStore::open_pg(&cluster.url()).await.unwrap_err();
    assert!(matches!(e, PgError::SchemaTooNew { .. }), "{e}");
    assert!(
        e.to_string().contains("newer") || e.to_string().contains("knows up to"),
        "{e}"
    );
}
