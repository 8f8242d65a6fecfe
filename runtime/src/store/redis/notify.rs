//! Waking waiters on appends: a task per [`super::RedisStore`] subscribed
//! to its appends channel.

use std::time::Duration;

use redis::Client;
use redis::aio::ConnectionManager;
use tokio::sync::watch;

use super::advance;

/// The append listener: a subscribed connection that raises the known head
/// on every published append, reconnecting as long as the store lives.
pub(super) async fn listen(
    client: Client,
    mut conn: ConnectionManager,
    channel: String,
    head_key: String,
    head: std::sync::Weak<watch::Sender<u64>>,
    connect_timeout: Duration,
) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let pubsub = tokio::time::timeout(connect_timeout, client.get_async_pubsub()).await;
        if let Ok(Ok(mut pubsub)) = pubsub
            && pubsub.subscribe(&channel).await.is_ok()
        {
            backoff = Duration::from_millis(50);
            // Appends published before the subscription took effect: read
            // the head once.
            if let Ok(Some(position)) = redis::cmd("GET")
                .arg(&head_key)
                .query_async::<Option<u64>>(&mut conn)
                .await
            {
                let Some(head) = head.upgrade() else { return };
                advance(&head, position);
            }
            let mut messages = std::pin::pin!(pubsub.into_on_message());
            while let Some(msg) =
                std::future::poll_fn(|cx| futures_core::Stream::poll_next(messages.as_mut(), cx))
                    .await
            {
                let Some(head) = head.upgrade() else { return };
                if let Ok(position) = msg.get_payload::<u64>() {
                    advance(&head, position);
                }
            }
        }
        if head.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}
