//! The tracking and escalation sub-traits and the [`Store`] itself, on [`PgStore`]: each call
//! takes a pooled connection, and each write runs in one transaction that commits durably
//! (the server's `synchronous_commit`) before the call returns.

use async_trait::async_trait;
use etraq_core::archive::{SearchQuery, index_doc};
use etraq_core::cluster::{LeaseHolder, LeaseStore};
use etraq_core::model::{Alert, AlertMail, CycleRecord};
use etraq_core::store::{
    AlertQuery, ChangeSet, CycleWrite, DrCounts, DrQuery, DrWrite, EscalationStore, FactsQuery,
    MailQuery, Page, PendingDelivery, ResponseQuery, Store, StoreStats, TrackingStore,
    VolumeBucket,
};
use etraq_core::tracking::ThreadFacts;
use etraq_core::{
    Dr, DrId, EmailAddress, Error, MailRecord, MessageId, ResponseTime, Result, User,
};
use jiff::Timestamp;
use std::time::Duration;

use crate::PgStore;
use crate::rows::{begin, big, commit, enc, execute, query_one, query_opt, unsigned};
use crate::{read, search, write};

/// An arbitrary constant: the advisory lock that makes a block of DR numbers contiguous.
const DR_NUMBERS_LOCK: i64 = 0x6574_7261_6472;

#[async_trait]
impl TrackingStore for PgStore {
    async fn reserve_dr_numbers(&self, count: u64) -> Result<u64> {
        // One statement, outside any transaction: the lock lasts the statement (a sequence's
        // changes are not transactional, so nothing needs the lock until a commit). A block
        // holds the lock exclusively, so no other reservation lands inside it; single numbers
        // share it. No commit waits for an fsync: a number is only used by the DR that records
        // it, whose own commit makes the sequence's state durable with it.
        let count = big(count.max(1))?;
        let c = self.client().await?;
        let first: i64 = if count == 1 {
            query_one(
                &c,
                "WITH l AS (SELECT pg_advisory_xact_lock_shared($1::int8))
                 SELECT nextval('dr_numbers') FROM l",
                &[&DR_NUMBERS_LOCK],
                "taking a DR number",
            )
            .await?
            .get(0)
        } else {
            query_one(
                &c,
                "WITH l AS (SELECT pg_advisory_xact_lock($1::int8)),
                      f AS (SELECT nextval('dr_numbers') AS first FROM l)
                 SELECT first, setval('dr_numbers', first + $2::int8 - 1) FROM f",
                &[&DR_NUMBERS_LOCK, &count],
                "taking DR numbers",
            )
            .await?
            .get(0)
        };
        Ok(unsigned(first))
    }

    async fn apply(&self, changes: ChangeSet) -> Result<u64> {
        let mut seqs = self.apply_batch(vec![changes]).await?;
        seqs.pop()
            .ok_or_else(|| Error::Internal("a change set returned no seq".into()))
    }

    async fn apply_batch(&self, batch: Vec<ChangeSet>) -> Result<Vec<u64>> {
        // The search documents are made before the transaction: parsing a large message must
        // not hold row locks.
        let docs: Vec<_> = batch
            .iter()
            .map(|cs| index_doc(&cs.mail, &cs.raw))
            .collect();
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        let seqs = write::apply_batch(&tx, &batch, &docs).await?;
        commit(tx).await?;
        Ok(seqs)
    }

    async fn save_dr(&self, w: DrWrite) -> Result<()> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        write::check_and_write_dr(&tx, &w).await?;
        commit(tx).await
    }

    async fn thread_facts(&self, query: &FactsQuery) -> Result<ThreadFacts> {
        read::thread_facts(&self.client().await?, query).await
    }

    async fn thread_facts_batch(&self, queries: &[FactsQuery]) -> Result<Vec<ThreadFacts>> {
        // One connection and one snapshot for the batch.
        let mut c = self.client().await?;
        let tx = c
            .build_transaction()
            .read_only(true)
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .start()
            .await
            .map_err(|e| crate::error::db_error("starting a read", &e))?;
        // Every mail's lookups at once: they pipeline on the one connection.
        let out =
            futures_util::future::try_join_all(queries.iter().map(|q| read::thread_facts(&tx, q)))
                .await?;
        commit(tx).await?;
        Ok(out)
    }

    async fn get_dr(&self, id: &DrId) -> Result<Option<Dr>> {
        read::get_dr(&self.client().await?, id).await
    }

    async fn list_drs(&self, query: &DrQuery) -> Result<Page<Dr>> {
        read::list_drs(&self.client().await?, query).await
    }

    async fn get_mail(&self, seq: u64) -> Result<Option<MailRecord>> {
        read::get_mail(&self.client().await?, seq).await
    }

    async fn mails_by_message_id(&self, message_id: &MessageId) -> Result<Vec<MailRecord>> {
        read::mails_by_message_id(&self.client().await?, message_id.as_str()).await
    }

    async fn list_mails(&self, query: &MailQuery) -> Result<Page<MailRecord>> {
        read::list_mails(&self.client().await?, query).await
    }

    async fn raw_message(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        read::raw_message(&self.client().await?, seq).await
    }

    async fn search_mails(
        &self,
        query: &SearchQuery,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<(u64, f64)>> {
        search::search(&self.client().await?, query, offset, limit).await
    }

    async fn put_user(&self, user: &User) -> Result<()> {
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO users(email, data) VALUES ($1, $2)
             ON CONFLICT (email) DO UPDATE SET data = excluded.data",
            &[&user.email.as_str(), &enc("users", user)?],
            "writing a user",
        )
        .await?;
        Ok(())
    }

    async fn get_user(&self, email: &EmailAddress) -> Result<Option<User>> {
        read::get_user(&self.client().await?, email).await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        read::list_users(&self.client().await?).await
    }

    async fn list_responses(&self, query: &ResponseQuery) -> Result<Vec<ResponseTime>> {
        read::list_responses(&self.client().await?, query).await
    }

    async fn volume(
        &self,
        since: Timestamp,
        until: Timestamp,
        bucket_secs: i64,
        involving: Option<&[EmailAddress]>,
    ) -> Result<Vec<VolumeBucket>> {
        read::volume(&self.client().await?, since, until, bucket_secs, involving).await
    }

    async fn dr_counts(&self, involving: Option<&[EmailAddress]>) -> Result<DrCounts> {
        read::dr_counts(&self.client().await?, involving).await
    }

    async fn put_pending(&self, pending: &PendingDelivery) -> Result<u64> {
        // The journal must survive etraq dying, not the database server losing power: an
        // entry only names a delivery whose client has no answer yet, read back to be logged.
        // So it commits without waiting for the server's fsync (as the SQLite store writes it
        // without one); the mail's own commit, which does wait, makes it durable anyway.
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        let data = enc("pending", pending)?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&data];
        let (_, row) = tokio::try_join!(
            execute(
                &tx,
                "SET LOCAL synchronous_commit TO OFF",
                &[],
                "journaling a delivery"
            ),
            query_one(
                &tx,
                "INSERT INTO pending(data) VALUES ($1) RETURNING id",
                &params,
                "journaling a delivery",
            )
        )?;
        commit(tx).await?;
        Ok(unsigned(row.get(0)))
    }

    async fn drop_pending(&self, id: u64) -> Result<()> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        execute(
            &tx,
            "SET LOCAL synchronous_commit TO OFF",
            &[],
            "clearing a journal entry",
        )
        .await?;
        write::drop_pending(&tx, id).await?;
        commit(tx).await
    }

    async fn list_pending(&self) -> Result<Vec<PendingDelivery>> {
        read::list_pending(&self.client().await?).await
    }
}

#[async_trait]
impl EscalationStore for PgStore {
    async fn due_drs(&self, now: Timestamp, limit: usize) -> Result<Vec<Dr>> {
        read::due_drs(&self.client().await?, now, limit).await
    }

    async fn apply_cycle(&self, w: CycleWrite) -> Result<CycleRecord> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        let record = write::apply_cycle(&tx, &w).await?;
        commit(tx).await?;
        Ok(record)
    }

    async fn list_cycles(&self, after: Option<u64>, limit: usize) -> Result<Page<CycleRecord>> {
        read::list_cycles(&self.client().await?, after, limit).await
    }

    async fn list_alerts(&self, query: &AlertQuery) -> Result<Page<Alert>> {
        read::list_alerts(&self.client().await?, query).await
    }

    async fn outbox(&self, now: Timestamp, limit: usize) -> Result<Vec<Alert>> {
        read::alert_outbox(&self.client().await?, now, limit).await
    }

    async fn claim_alerts(&self, now: Timestamp, limit: usize) -> Result<Vec<Alert>> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        let claimed = write::claim_alerts(&tx, now, limit).await?;
        commit(tx).await?;
        Ok(claimed)
    }

    async fn update_alert_mail(&self, id: u64, mail: AlertMail) -> Result<()> {
        let mut c = self.client().await?;
        let tx = begin(&mut c).await?;
        write::update_alert_mail(&tx, id, &mail).await?;
        commit(tx).await
    }
}

#[async_trait]
impl LeaseStore for PgStore {
    async fn hold_lease(&self, name: &str, node: &str, ttl: Duration) -> Result<LeaseHolder> {
        let c = self.client().await?;
        let secs = ttl.as_secs_f64();
        // One statement: take it if free or expired, renew it if ours; else leave it. The
        // server's clock decides expiry for every node.
        let taken = query_opt(
            &c,
            "INSERT INTO leases(name, holder, until)
             VALUES ($1, $2, now() + make_interval(secs => $3))
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
             WHERE leases.holder = excluded.holder OR leases.until < now()
             RETURNING holder",
            &[&name, &node, &secs],
            "taking a lease",
        )
        .await?;
        if taken.is_some() {
            return Ok(LeaseHolder {
                holder: node.to_string(),
                mine: true,
            });
        }
        let holder: String = query_opt(
            &c,
            "SELECT holder FROM leases WHERE name = $1",
            &[&name],
            "reading a lease",
        )
        .await?
        .map(|r| r.get(0))
        .unwrap_or_default();
        Ok(LeaseHolder {
            mine: holder == node,
            holder,
        })
    }

    async fn release_lease(&self, name: &str, node: &str) -> Result<()> {
        execute(
            &self.client().await?,
            "DELETE FROM leases WHERE name = $1 AND holder = $2",
            &[&name, &node],
            "releasing a lease",
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn stats(&self) -> Result<StoreStats> {
        read::stats(&self.client().await?).await
    }

    async fn close(&self) -> Result<()> {
        self.pool.close();
        Ok(())
    }
}
