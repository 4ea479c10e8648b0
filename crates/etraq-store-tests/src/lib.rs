//! # etraq-store-tests
//!
//! One conformance suite for every [`Store`] backend, and the library-level scenario tests of
//! docs/tracking.md, so SQLite and sled are held to exactly the same behaviour.
//!
//! A backend runs everything with one line in its `tests/`:
//!
//! ```text
//! etraq_store_tests::store_tests!(open);
//! ```
//!
//! where `open(path)` opens (or creates) the backend's store under the directory `path`. The
//! crash test (a write acknowledged to a child process survives `kill -9`) is a separate
//! `harness = false` test target calling [`crash::main`].

// A test-support crate: its panics are test failures, not crashes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod campaign;
pub mod conformance;
pub mod copy;
pub mod crash;
pub mod fixtures;
pub mod kb_set;
pub mod outbox;
pub mod scenarios;
pub mod search;
pub mod support;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use etraq_core::{Result, Store};

/// The future an [`Opener`] returns.
pub type OpenFuture = Pin<Box<dyn Future<Output = Result<Arc<dyn Store>>> + Send>>;

/// Opens a backend's store inside the given directory (creating it on first use). Opening the
/// same directory again must reopen the same data.
pub type Opener = fn(PathBuf) -> OpenFuture;

/// Generates the whole conformance suite and the scenario tests as `#[tokio::test]`s in the
/// calling test crate. `$open` is an [`Opener`].
#[macro_export]
macro_rules! store_tests {
    ($open:path) => {
        $crate::store_tests!($open, if || true);
    };
    // `$available` answers whether the backend can run here (a server-backed store whose
    // server is not installed prints why and answers false outside CI).
    ($open:path, if $available:expr) => {
        $crate::store_tests!(@cases $open, $available;
            conformance::users_round_trip,
            conformance::dr_numbers_are_unique_under_concurrency,
            conformance::apply_writes_everything_and_lookups_find_it,
            conformance::batch_facts_equal_single_facts,
            conformance::pending_journal,
            conformance::due_index,
            conformance::cycles_are_atomic_and_count,
            conformance::alert_outbox,
            conformance::volume_and_unreplied,
            conformance::duplicate_message_id_conflicts,
            conformance::a_failing_write_fails_alone_among_concurrent_ones,
            conformance::stale_dr_version_conflicts,
            conformance::batch_is_all_or_nothing,
            conformance::linking_attaches_earlier_mail,
            conformance::responses_filter_by_time_and_user,
            conformance::stats_count_everything,
            conformance::dr_listing_keyset_pagination,
            conformance::mail_listing_keyset_pagination,
            conformance::everything_survives_close_and_reopen,
            conformance::closed_store_refuses_calls,
            conformance::scoped_listings_follow_owner_and_cc,
            conformance::key_value_entries,
            conformance::longest_waiting_first,
            conformance::dr_listing_sorted_by_column,
            campaign::campaign_lists_and_counts,
            campaign::campaign_subscribers_merge_and_survive,
            campaign::campaign_subscriber_listing_pages,
            campaign::campaign_blocklist,
            campaign::campaign_recipients_are_accounted_exactly,
            campaign::campaign_tracking_is_recorded_and_counted,
            copy::copy_round_trips_and_continues,
            outbox::outbox_queues_and_reschedules,
            outbox::outbox_message_commits_with_its_change_set,
            outbox::outbox_claims_are_exclusive,
            support::kb_articles_keep_their_history,
            support::kb_search_ranks_stems_and_hides_private,
            support::kb_suggestions_find_the_right_article,
            search::search_finds_ranks_and_filters,
            search::search_survives_reopen,
            search::search_is_scoped_to_what_the_actor_may_open,
            scenarios::new_customer_mail_opens_a_dr,
            scenarios::tagged_reply_marks_replied_and_records_response_time,
            scenarios::customer_reply_without_tag_threads_by_references,
            scenarios::forward_to_colleague_changes_owner,
            scenarios::local_to_local_without_dr_is_local_email,
            scenarios::recipient_with_tracking_off_is_not_tracked,
            scenarios::out_of_office_is_auto_generated_and_changes_nothing,
            scenarios::same_mail_twice_is_duplicate,
            scenarios::customer_answer_to_employee_first_mail_opens_dr_for_employee,
            scenarios::stranger_with_valid_tag_gets_new_dr,
            scenarios::malformed_message_id_never_joins_another_dr,
            scenarios::closed_dr_reopens_on_customer_reply,
            scenarios::second_customer_mail_keeps_the_wait_running,
            scenarios::batch_threads_like_one_by_one,
            scenarios::concurrent_replies_are_not_lost,
            scenarios::concurrent_duplicates_make_one_record,
            scenarios::malformed_mail_is_decided_and_archived,
            scenarios::user_actions_close_assign_reopen,
        );
    };
    (@cases $open:path, $available:expr; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                if !($available)() {
                    return;
                }
                $crate::$module::$case($open).await;
            }
        )*
    };
}

/// A search query parsed with UTC days (the suites' dates are UTC).
pub fn search_query(
    text: &str,
) -> Result<etraq_core::archive::SearchQuery, etraq_core::archive::QueryError> {
    etraq_core::archive::parse_query(text, &jiff::tz::TimeZone::UTC)
}

/// A fresh temporary directory for one test.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("etraq-store-test-")
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"))
}
