//! The outbound side of a session: one ordered queue of frames to the client, and the write loop
//! that drains it into the socket.
//!
//! # Invariants
//!
//! * **One queue, one order.** Every frame a session sends (events, pings, the close frame) goes
//!   through the same bounded queue and leaves in the order it was queued. Because an item's
//!   deltas are queued before its `completed` (the finalizer queues the last delta, then
//!   `completed`), a delta never arrives after its item's `completed`.
//! * **Must-deliver events wait; deltas are dropped.** [`Outbound::send`] waits for room (the
//!   session stops reading its client while the queue is full). [`Outbound::try_send_partial`]
//!   needs one of the session's *delta places* (`outbound_queue` of them), held from queueing
//!   until the frame is written; a delta that finds none is dropped and reported as such. The
//!   queue holds [`MUST_DELIVER_QUEUE`] frames more than there are delta places, so deltas can
//!   never take the room of a must-deliver event: a slow reader loses partials first, never finals.
//! * **The queue closing means the client is gone.** The write loop closes the queue when a write
//!   fails or after it wrote the close frame; [`Outbound::closed`] resolves then, and later sends
//!   are silently discarded.
//!
//! The queue carries axum [`Message`]s, but nothing here needs a socket: [`Outbound::channel`]
//! hands back the receiving end, which tests read directly and [`write_loop`] drains into any
//! sink.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures_util::{Sink, SinkExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::realtime::protocol::ServerEvent;

/// Must-deliver frames buffered per client before the session stops reading it.
pub const MUST_DELIVER_QUEUE: usize = 1024;

/// One queued outbound frame; a partial delta holds one of the session's delta places until it
/// has been written.
pub struct Outgoing {
    /// The frame.
    pub msg: Message,
    place: Option<OwnedSemaphorePermit>,
}

/// The sending side of a session's outbound queue, shared by the session and its finalizer.
pub struct Outbound {
    queue: mpsc::Sender<Outgoing>,
    delta_places: Arc<Semaphore>,
}

impl Outbound {
    /// A queue in which deltas may hold at most `delta_places` places (at least one), and its
    /// receiving end (for [`write_loop`], or read directly by tests).
    pub fn channel(delta_places: usize) -> (Arc<Self>, mpsc::Receiver<Outgoing>) {
        let delta_places = delta_places.max(1);
        let (tx, rx) = mpsc::channel(MUST_DELIVER_QUEUE + delta_places);
        let out = Self {
            queue: tx,
            delta_places: Arc::new(Semaphore::new(delta_places)),
        };
        (Arc::new(out), rx)
    }

    /// Queues a must-deliver event, waiting for room.
    pub async fn send(&self, ev: ServerEvent) {
        let msg = Message::Text(ev.to_json().into());
        let _ = self.queue.send(Outgoing { msg, place: None }).await;
    }

    /// Queues a droppable event (a partial delta); `false` when it was dropped because every
    /// delta place is taken.
    pub fn try_send_partial(&self, ev: ServerEvent) -> bool {
        let Ok(place) = self.delta_places.clone().try_acquire_owned() else {
            return false;
        };
        let msg = Message::Text(ev.to_json().into());
        self.queue
            .try_send(Outgoing {
                msg,
                place: Some(place),
            })
            .is_ok()
    }

    /// Queues a control frame (ping) if there is room; it is not worth waiting for.
    pub fn try_send_control(&self, msg: Message) {
        let _ = self.queue.try_send(Outgoing { msg, place: None });
    }

    /// Queues the close frame, waiting for room.
    pub async fn close(&self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(reason.to_string()),
        };
        let msg = Message::Close(Some(frame));
        let _ = self.queue.send(Outgoing { msg, place: None }).await;
    }

    /// Resolves once the write loop has stopped (the client is gone or the close frame is out).
    pub async fn closed(&self) {
        self.queue.closed().await
    }
}

/// Writes queued frames in order; a delta gives its place back once written. Ends (closing the
/// queue, which tells the session its client is gone) when a write fails or after a close frame.
pub async fn write_loop<S>(mut sink: S, mut queue: mpsc::Receiver<Outgoing>)
where
    S: Sink<Message> + Unpin,
{
    while let Some(Outgoing { msg, place }) = queue.recv().await {
        let closing = matches!(msg, Message::Close(_));
        let sent = sink.send(msg).await.is_ok();
        drop(place);
        if !sent || closing {
            break;
        }
    }
    queue.close();
    let _ = sink.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(o: &Outgoing) -> &str {
        match &o.msg {
            Message::Text(t) => t.as_str(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn deltas_hold_places_until_written_and_never_block_must_deliver_events() {
        let (out, mut rx) = Outbound::channel(2);
        assert!(out.try_send_partial(ServerEvent::delta("item_a", "one")));
        assert!(out.try_send_partial(ServerEvent::delta("item_a", " two")));
        // both places taken: the third delta is dropped, a must-deliver event still goes through
        assert!(!out.try_send_partial(ServerEvent::delta("item_a", " three")));
        out.send(ServerEvent::completed("item_a", "one two three", 1.0)).await;
        let first = rx.recv().await.unwrap();
        assert!(text(&first).contains("\"delta\":\"one\""));
        // still held while the frame is "being written"; given back once it is dropped
        assert!(!out.try_send_partial(ServerEvent::delta("item_b", "x")));
        drop(first);
        assert!(out.try_send_partial(ServerEvent::delta("item_b", "x")));
        let order: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|o| text(&o).to_string())
            .collect();
        assert_eq!(order.len(), 3);
        assert!(order[0].contains("\" two\""));
        assert!(order[1].contains(".completed"));
        assert!(order[2].contains("item_b"));
    }

    #[tokio::test]
    async fn the_write_loop_stops_after_the_close_frame_and_closes_the_queue() {
        let (out, rx) = Outbound::channel(4);
        let mut written: Vec<Message> = Vec::new();
        out.send(ServerEvent::cleared()).await;
        out.close(1001, "bye").await;
        out.send(ServerEvent::cleared()).await;
        write_loop(&mut written, rx).await;
        out.closed().await;
        assert_eq!(written.len(), 2, "nothing after the close frame: {written:?}");
        assert!(matches!(&written[1], Message::Close(Some(f)) if f.code == 1001));
    }
}
