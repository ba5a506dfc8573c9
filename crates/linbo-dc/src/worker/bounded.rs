//! Bounded concurrency for the worker's fan-outs: API look-ups and reports of a batch, and
//! verification checks.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Runs `tasks` at most `limit` at a time (`usize::MAX`: all at once), each as its own tokio
/// task; their results in the order of `tasks`. `None` for a task that panicked or had not
/// finished at `deadline` (the unfinished ones are aborted then).
pub(crate) async fn bounded<T: Send + 'static>(
    limit: usize,
    tasks: impl Iterator<Item = impl Future<Output = T> + Send + 'static>,
    deadline: Option<Instant>,
) -> Vec<Option<T>> {
    let permits = Arc::new(Semaphore::new(limit.min(Semaphore::MAX_PERMITS)));
    let mut running = JoinSet::new();
    let mut count = 0;
    for (index, task) in tasks.enumerate() {
        let permits = Arc::clone(&permits);
        running.spawn(async move {
            // The semaphore is never closed: a permit always comes.
            let _permit = permits.acquire().await.ok();
            (index, task.await)
        });
        count += 1;
    }
    let mut results: Vec<Option<T>> = (0..count).map(|_| None).collect();
    let collect = async {
        while let Some(joined) = running.join_next().await {
            match joined {
                Ok((index, result)) => results[index] = Some(result),
                Err(error) => tracing::error!(%error, "a task of the batch failed"),
            }
        }
    };
    match deadline {
        Some(deadline) => {
            // Dropping the set on time-out aborts what still runs.
            let _ = tokio::time::timeout_at(deadline, collect).await;
        }
        None => collect.await,
    }
    results
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn results_keep_their_order_and_the_limit_holds() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks = (0..20_u64).map(|n| {
            let (running, most) = (Arc::clone(&running), Arc::clone(&most));
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20 - n)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                n * 2
            }
        });
        let results = bounded(3, tasks, None).await;
        assert_eq!(
            results,
            (0..20).map(|n| Some(n * 2)).collect::<Vec<_>>(),
            "in the order of the tasks"
        );
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_panic_or_the_deadline_leaves_none() {
        let tasks = [0_u64, 1, 2].into_iter().map(|n| async move {
            match n {
                1 => panic!("a failing task"),
                2 => tokio::time::sleep(Duration::from_secs(60)).await,
                _ => {}
            }
            n
        });
        let deadline = Instant::now() + Duration::from_millis(200);
        assert_eq!(
            bounded(usize::MAX, tasks, Some(deadline)).await,
            [Some(0), None, None]
        );
    }
}
