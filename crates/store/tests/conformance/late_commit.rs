//! PostgreSQL only: a transaction that has taken a feed position but not yet committed must
//! hold back every later position. The danger is concrete: sequence values are taken at
//! insert, so without the `feed_clock` lock a second push could commit seq 2 while seq 1 is
//! still in flight, a reader would hand out cursor 2, and seq 1 would never be sent.
//!
//! The in-flight transaction here is written by hand, exactly as the store's push writes one,
//! and kept open; the store's own push must then wait on the lock (the test sees it waiting in
//! `pg_stat_activity`), a reader must not move past the in-flight change, and once it commits
//! everything is delivered from the cursor the reader had.

use std::time::{Duration, Instant};

use sqlx::Connection;

use super::{Db, TEST_MERGER, ctx, doc, pull_all};

pub async fn a_push_cannot_overtake_one_in_flight(db: Db) {
    let (admin, name) = db.pg.clone().expect("a PostgreSQL test database");
    let slash = admin.rfind('/').expect("the admin URL names a database");
    let url = format!("{}/{name}", &admin[..slash]);
    let store = db.store.clone();

    // The in-flight push: a document, then the feed clock, then its change row. Not committed.
    let mut slow = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut tx = slow.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO documents (doc_id, kind, child_id, scope_key, summary, snapshot, created_at_ms, updated_at_ms)
         VALUES ('slow~1', 'visit_note', 'slow', 'child:slow', 's', 'slow-1', 1, 1)",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("UPDATE feed_clock SET pushes = pushes + 1 WHERE id = 1")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO changes (doc_id, hash, bytes, actor, device_id, received_at_ms, device_time_ms)
         VALUES ('slow~1', 'slow-1', 'slow-1', 'aa', 'dev-a', 1, 1)",
    )
    .execute(&mut *tx)
    .await
    .unwrap();

    // The store's own push of another document starts now and must wait for the clock.
    let pushing = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .push(
                    &ctx("dev-b"),
                    vec![doc("fast~1", &["fast-1"])],
                    &TEST_MERGER,
                )
                .await
        })
    };
    let mut watch = sqlx::PgConnection::connect(&url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watch)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            !pushing.is_finished(),
            "a push committed while an earlier feed position was in flight"
        );
        assert!(
            Instant::now() < deadline,
            "the second push never waited for the feed clock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A reader now sees neither change, and its cursor stays before both.
    let (seen, cursor) = pull_all(&*store, "dev-c", None).await;
    assert!(seen.is_empty(), "{seen:?}");

    tx.commit().await.unwrap();
    pushing.await.unwrap().unwrap();
    let (rest, _) = pull_all(&*store, "dev-c", Some(cursor)).await;
    assert_eq!(
        rest,
        vec!["slow-1".to_owned(), "fast-1".to_owned()],
        "both arrive, in commit order, from the reader's cursor"
    );
}
