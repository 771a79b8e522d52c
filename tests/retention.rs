//! Retention over a real router and data file: what is old goes, what is young
//! or still needed stays. The purge is driven as of a test clock (cutoffs for
//! "a day from now"), not by waiting; one test checks the background task runs.

mod common;

use std::time::Duration;

use common::*;
use switchyard::model::{Clock, DeliveryStatus};
use switchyard::store::Store;

const HOUR: u64 = 3600 * 1000;

/// Three webhooks that leave one event's deliveries succeeded, dead and pending.
fn webhooks(ok: &str) -> String {
    [
        webhook("ok", ok, "events = [\"t\", \"ok.*\"]"),
        webhook(
            "dead",
            "http://127.0.0.1:9/",
            "events = [\"t\"]\nretry.delays = []",
        ),
        webhook(
            "held",
            "http://127.0.0.1:9/",
            "events = [\"t\"]\nretry.delays = [\"1h\"]",
        ),
    ]
    .concat()
}

/// Purges, batch after batch, what the default retention lets go `ahead_ms` from now.
async fn purge_as_of(store: &Store, ahead_ms: u64) -> (usize, usize) {
    let text = config_text(std::path::Path::new("unused"), "", "");
    let config = switchyard::Config::parse(
        &text,
        std::path::Path::new("t.toml"),
        &switchyard::config::ProcessEnv,
    )
    .unwrap();
    let purge = switchyard::retention::cutoffs(&config, Clock::system().now_ms() + ahead_ms);
    let (mut deliveries, mut events) = (0, 0);
    loop {
        let purged = store.purge(purge).await.unwrap();
        (deliveries, events) = (deliveries + purged.deliveries, events + purged.events);
        if !purged.more {
            return (deliveries, events);
        }
    }
}

/// The statuses of the deliveries of event `id`, by webhook.
async fn statuses(store: &Store, id: &str) -> Vec<(String, DeliveryStatus)> {
    let mut found: Vec<_> = (store.deliveries_of("test", id).await.unwrap().into_iter())
        .map(|(_, d)| (d.webhook, d.status))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_purges_what_is_old_and_keeps_what_is_young_or_still_needed() {
    let receiver = Receiver::ok().await;
    let router = Router::start("", &webhooks(&receiver.url("/"))).await;
    let store = router.store();
    router.send("e1", "t").await;
    router.send("e2", "nobody.listens").await;
    let settled = [
        ("dead".to_owned(), DeliveryStatus::Failed),
        ("held".to_owned(), DeliveryStatus::Pending),
        ("ok".to_owned(), DeliveryStatus::Succeeded),
    ];
    eventually(
        Duration::from_secs(30),
        "e1 delivered, dead and retrying",
        async || {
            let attempted = store
                .deliveries_of("test", "e1")
                .await
                .unwrap()
                .iter()
                .all(|(_, d)| d.attempts == 1);
            (attempted && statuses(store, "e1").await == settled).then_some(())
        },
    )
    .await;
    let ok_delivery = store.deliveries_of("test", "e1").await.unwrap()[0].0;
    let health = async |webhook: &str| store.health(webhook).await.unwrap().unwrap_or_default();
    assert_eq!(health("dead").await.failed_deliveries, 1);

    assert_eq!(
        purge_as_of(store, HOUR).await,
        (0, 0),
        "nothing is a day old yet"
    );
    assert_eq!(statuses(store, "e1").await.len(), 3);

    // A day on: the succeeded delivery and its attempts go; its event stays for the others.
    assert_eq!(purge_as_of(store, 25 * HOUR).await, (1, 0));
    assert_eq!(statuses(store, "e1").await, settled[..2]);
    assert!(store.delivery(ok_delivery).await.unwrap().is_none());
    assert!(store.attempts(ok_delivery).await.unwrap().is_empty());
    assert!(
        store
            .event_by_sender_id("test", "e2")
            .await
            .unwrap()
            .is_some(),
        "dedupe window: 48h"
    );

    // Past the dedupe window: the event no delivery names goes, with its dedupe key.
    assert_eq!(purge_as_of(store, 49 * HOUR).await, (0, 1));
    assert!(
        store
            .event_by_sender_id("test", "e2")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .event_by_sender_id("test", "e1")
            .await
            .unwrap()
            .is_some()
    );

    // A week on: the dead delivery goes; the pending one, and so its event, stay.
    assert_eq!(purge_as_of(store, 8 * 24 * HOUR).await, (1, 0));
    assert_eq!(statuses(store, "e1").await, settled[1..2]);
    assert!(
        store
            .event_by_sender_id("test", "e1")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(health("dead").await.failed_deliveries, 0);

    // An event the purge has already passed goes with its last delivery.
    router.send("e3", "ok.only").await;
    let id = store.deliveries_of("test", "e3").await.unwrap()[0].0;
    router.settled(id, DeliveryStatus::Succeeded).await;
    assert_eq!(purge_as_of(store, 8 * 24 * HOUR).await, (1, 1));
    assert!(
        store
            .event_by_sender_id("test", "e3")
            .await
            .unwrap()
            .is_none()
    );
    // The sender may use the id again.
    router.send("e3", "ok.only").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_background_purge_runs_on_its_interval() {
    let receiver = Receiver::ok().await;
    let rest = "[retention]\nsucceeded = \"1ms\"\npurge_interval = \"50ms\"\n\n".to_owned()
        + &webhook("ok", &receiver.url("/"), "");
    let router = Router::start("", &rest).await;
    router.send("e1", "t").await;
    receiver.wait_for(1, Duration::from_secs(30)).await;
    eventually(Duration::from_secs(30), "the delivery purged", async || {
        let deliveries = router.store().deliveries_of("test", "e1").await.unwrap();
        deliveries.is_empty().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn purged_space_goes_back_to_the_file_system_by_the_next_start() {
    use std::sync::Arc;
    use switchyard::metrics::Metrics;
    use switchyard::model::{ManualClock, NewEvent};
    use switchyard::store::Purge;
    use switchyard::store::redb::{FILE_NAME, RedbStore};

    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let open = || {
        let store = RedbStore::open(dir.path(), Arc::new(Metrics::new()), clock.clock());
        Store::new(store.unwrap())
    };
    let size = || std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len();
    let store = open();
    for batch in 0..10 {
        let events = (0..10)
            .map(|i| {
                let id = format!("e{batch}-{i}");
                let payload = vec![b'x'; 1 << 20];
                NewEvent::new("test".into(), id, "t".into(), clock.now_ms(), payload)
            })
            .collect();
        store.ingest(events, HOUR).await.unwrap();
    }
    // A young event written last pins the end of the file: redb gives back the
    // space before it as it commits, or else by compacting at the next start.
    clock.advance(Duration::from_millis(5));
    let cutoff = clock.now_ms();
    clock.advance(Duration::from_millis(5));
    let young = NewEvent::new(
        "test".into(),
        "young".into(),
        "t".into(),
        clock.now_ms(),
        b"{}".to_vec(),
    );
    store.ingest(vec![young], HOUR).await.unwrap();
    let everything = Purge {
        succeeded_before_ms: u64::MAX,
        failed_before_ms: u64::MAX,
        events_before_ms: cutoff,
        limit: 1000,
    };
    let before = size();
    assert!(before > 100 << 20, "{before}");
    let purged = store.purge(everything).await.unwrap();
    assert_eq!(purged.events, 100);
    store.close().await.unwrap();
    drop(store);

    let store = open();
    assert!(size() < before / 4, "{} bytes, from {before}", size());
    assert!(
        store
            .event_by_sender_id("test", "e0-0")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .event_by_sender_id("test", "young")
            .await
            .unwrap()
            .is_some()
    );
}
