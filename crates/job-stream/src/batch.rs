//! The batching window: collect up to N queued items within a window measured from the first.
//!
//! Items carry the instant they arrived in the lane, so a backlog that piled up while the previous
//! batch ran is handed over at once (its window has already passed) and a full batch never waits.

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::time::{Duration, Instant};

/// An item waiting in a batching lane, with the instant it was queued.
#[derive(Debug)]
pub(crate) struct Queued<T> {
    pub(crate) item: T,
    pub(crate) arrived: Instant,
}

impl<T> Queued<T> {
    pub(crate) fn now(item: T) -> Self {
        Self {
            item,
            arrived: Instant::now(),
        }
    }
}

/// Waits for the first item, then takes items until `size` are collected or `window` has passed
/// since the first item arrived, whichever comes first. Items already queued are taken without
/// waiting. Returns `None` when the channel is closed and empty.
pub(crate) async fn collect_batch<T>(
    receiver: &mut UnboundedReceiver<Queued<T>>,
    size: usize,
    window: Duration,
) -> Option<Vec<T>> {
    let first = receiver.recv().await?;
    let deadline = first.arrived + window;
    let mut batch = Vec::with_capacity(size.min(1024));
    batch.push(first.item);
    while batch.len() < size {
        match receiver.try_recv() {
            Ok(queued) => {
                batch.push(queued.item);
                continue;
            }
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {}
        }
        match tokio::time::timeout_at(deadline, receiver.recv()).await {
            Ok(Some(queued)) => batch.push(queued.item),
            Ok(None) | Err(_) => break,
        }
    }
    Some(batch)
}

/// `front` (entries coming back after a wait; their window has long passed), then whatever is
/// already queued, up to `size` items, without waiting.
pub(crate) fn collect_more<T>(
    mut front: Vec<T>,
    receiver: &mut UnboundedReceiver<Queued<T>>,
    size: usize,
) -> Vec<T> {
    while front.len() < size {
        match receiver.try_recv() {
            Ok(queued) => front.push(queued.item),
            Err(_) => break,
        }
    }
    front
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc::unbounded_channel;

    const WINDOW: Duration = Duration::from_secs(5);

    #[tokio::test(start_paused = true)]
    async fn a_single_item_waits_exactly_the_window() {
        let (sender, mut receiver) = unbounded_channel();
        sender.send(Queued::now(1)).unwrap();
        let start = Instant::now();
        let batch = collect_batch(&mut receiver, 50, WINDOW).await;
        assert_eq!(batch, Some(vec![1]));
        assert_eq!(start.elapsed(), WINDOW);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_backlog_does_not_wait() {
        let (sender, mut receiver) = unbounded_channel();
        for item in 0..200 {
            sender.send(Queued::now(item)).unwrap();
        }
        let start = Instant::now();
        let mut sizes = Vec::new();
        while let Ok(Some(batch)) = tokio::time::timeout(
            Duration::from_millis(1),
            collect_batch(&mut receiver, 50, WINDOW),
        )
        .await
        {
            sizes.push(batch.len());
        }
        assert_eq!(sizes, [50, 50, 50, 50]);
        // Only the final probe for a fifth batch waited (1 ms); the four batches took no time.
        assert_eq!(start.elapsed(), Duration::from_millis(1));
    }

    #[tokio::test(start_paused = true)]
    async fn items_arriving_within_the_window_join_the_batch() {
        let (sender, mut receiver) = unbounded_channel();
        sender.send(Queued::now(1)).unwrap();
        let late_sender = sender.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            late_sender.send(Queued::now(2)).unwrap();
            tokio::time::sleep(Duration::from_secs(4)).await;
            // Arrives 6 s after the first: belongs to the next batch.
            late_sender.send(Queued::now(3)).unwrap();
        });
        let start = Instant::now();
        assert_eq!(
            collect_batch(&mut receiver, 50, WINDOW).await,
            Some(vec![1, 2])
        );
        assert_eq!(start.elapsed(), WINDOW);
        assert_eq!(
            collect_batch(&mut receiver, 50, WINDOW).await,
            Some(vec![3])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_backlog_older_than_the_window_is_handed_over_at_once() {
        let (sender, mut receiver) = unbounded_channel();
        sender.send(Queued::now(1)).unwrap();
        sender.send(Queued::now(2)).unwrap();
        // The previous batch ran for longer than the window.
        tokio::time::sleep(Duration::from_secs(60)).await;
        let start = Instant::now();
        assert_eq!(
            collect_batch(&mut receiver, 50, WINDOW).await,
            Some(vec![1, 2])
        );
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_empty_channel_ends_the_lane() {
        let (sender, mut receiver) = unbounded_channel::<Queued<u8>>();
        drop(sender);
        assert_eq!(collect_batch(&mut receiver, 50, WINDOW).await, None);
    }

    proptest::proptest! {
        /// For any arrival pattern: batches partition the input in order, none exceeds the size,
        /// and a batch that is not full closed only because its window had passed.
        #[test]
        fn batches_partition_the_input_and_respect_size_and_window(
            gaps_ms in proptest::collection::vec(0u64..3_000, 1..120),
            size in 1usize..60,
            window_ms in 1u64..5_000,
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .expect("a current-thread runtime builds");
            runtime.block_on(async {
                let window = Duration::from_millis(window_ms);
                let (sender, mut receiver) = unbounded_channel();
                let n_items = gaps_ms.len();
                tokio::spawn(async move {
                    for (item, gap) in gaps_ms.into_iter().enumerate() {
                        tokio::time::sleep(Duration::from_millis(gap)).await;
                        sender.send(Queued::now((item, Instant::now()))).unwrap();
                    }
                });
                let mut next_item = 0;
                while let Some(batch) = collect_batch(&mut receiver, size, window).await {
                    let closed_at = Instant::now();
                    assert!(!batch.is_empty() && batch.len() <= size);
                    for (item, _) in &batch {
                        assert_eq!(*item, next_item, "stream order is kept");
                        next_item += 1;
                    }
                    let first_arrival = batch[0].1;
                    if batch.len() < size && next_item < n_items {
                        assert!(closed_at >= first_arrival + window, "closed early");
                    }
                    assert!(closed_at <= first_arrival + window, "waited past the window");
                }
                assert_eq!(next_item, n_items, "every item was handed over");
            });
        }
    }
}
