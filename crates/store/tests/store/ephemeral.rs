//! The ephemeral-state trait, run against the in-process map and Redis.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use latchkey_store::ephemeral::{Ephemeral, InProcess, Redis};

const NOW: i64 = 1_800_000_000;

fn key(name: &str) -> String {
    format!("lk:test:{}:{name}", uuid::Uuid::new_v4().simple())
}

async fn counts_are_exact_under_concurrency(e: Arc<dyn Ephemeral>) {
    let k = key("burst");
    let hits = (0..50).map(|_| {
        let e = e.clone();
        let k = k.clone();
        tokio::spawn(async move { e.hit(&k, 60, NOW).await.unwrap().0 })
    });
    let mut counts: Vec<u64> = futures::future::join_all(hits)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=50).collect::<Vec<_>>());
    let (count, left) = e.hit(&k, 60, NOW).await.unwrap();
    assert_eq!(count, 51);
    assert!((1..=60).contains(&left), "{left}");
}

async fn values_expire_and_can_be_removed(e: Arc<dyn Ephemeral>) {
    let k = key("lock");
    assert!(e.get(&k, NOW).await.unwrap().is_none());
    e.put(&k, 7, 900, NOW).await.unwrap();
    let (value, left) = e.get(&k, NOW).await.unwrap().unwrap();
    assert_eq!(value, 7);
    assert!((890..=900).contains(&left), "{left}");
    e.remove(&k).await.unwrap();
    assert!(e.get(&k, NOW).await.unwrap().is_none());
    e.remove(&k).await.unwrap();
}

async fn in_process_counts_are_exact_under_concurrency() {
    counts_are_exact_under_concurrency(Arc::new(InProcess::default())).await;
}

async fn in_process_values_expire_and_can_be_removed() {
    values_expire_and_can_be_removed(Arc::new(InProcess::default())).await;
}

async fn in_process_windows_restart_when_they_end() {
    let e = InProcess::default();
    assert_eq!(e.hit("k", 60, NOW).await.unwrap(), (1, 60));
    assert_eq!(e.hit("k", 60, NOW + 59).await.unwrap(), (2, 1));
    assert_eq!(e.hit("k", 60, NOW + 60).await.unwrap(), (1, 60));
    e.put("v", 1, 10, NOW).await.unwrap();
    assert!(e.get("v", NOW + 10).await.unwrap().is_none());
}

async fn redis_counts_are_exact_under_concurrency() {
    let Some(url) = latchkey_store::testing::redis_test_url().await else {
        return;
    };
    counts_are_exact_under_concurrency(Arc::new(Redis::connect(&url).await.unwrap())).await;
}

async fn redis_values_expire_and_can_be_removed() {
    let Some(url) = latchkey_store::testing::redis_test_url().await else {
        return;
    };
    values_expire_and_can_be_removed(Arc::new(Redis::connect(&url).await.unwrap())).await;
}

async fn two_redis_clients_share_one_count() {
    let Some(url) = latchkey_store::testing::redis_test_url().await else {
        return;
    };
    let a = Redis::connect(&url).await.unwrap();
    let b = Redis::connect(&url).await.unwrap();
    let k = key("shared");
    a.hit(&k, 60, NOW).await.unwrap();
    assert_eq!(b.hit(&k, 60, NOW).await.unwrap().0, 2);
}

crate::tests![
    multi_thread in_process_counts_are_exact_under_concurrency,
    multi_thread in_process_values_expire_and_can_be_removed,
    current_thread in_process_windows_restart_when_they_end,
    multi_thread redis_counts_are_exact_under_concurrency,
    multi_thread redis_values_expire_and_can_be_removed,
    multi_thread two_redis_clients_share_one_count,
];
