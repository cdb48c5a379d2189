//! A request body read in pieces of at most [`PIECE`] bytes, so an upload
//! goes to disk as it arrives and is never held whole in memory.
//!
//! Memory is bounded for the whole door: a piece is read only while
//! holding one of [`BUFFERS`] permits (all uploads together hold at most
//! `BUFFERS × PIECE` bytes), and a piece must arrive within
//! [`PIECE_TIMEOUT`] (a client trickling bytes does not keep a permit).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, BodyDataStream, Bytes};
use futures_util::StreamExt;
use natter_api::ErrorCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::fail::Fail;

/// Most bytes of one piece (one fsync'd write).
pub(crate) const PIECE: usize = 256 * 1024;

/// Pieces being read at once, all requests together.
pub(crate) const BUFFERS: usize = 64;

/// A piece must arrive within this time.
pub(crate) const PIECE_TIMEOUT: Duration = Duration::from_secs(30);

/// The door's piece buffers (see the module docs).
#[derive(Clone)]
pub(crate) struct Buffers(Arc<Semaphore>);

impl Default for Buffers {
    fn default() -> Self {
        Self(Arc::new(Semaphore::new(BUFFERS)))
    }
}

/// One upload request's body.
pub(crate) struct Pieces {
    stream: BodyDataStream,
    /// Bytes read past the last piece handed out.
    rest: Bytes,
    /// Bytes the body may still carry; more is `too_large`.
    room: u64,
    buffers: Buffers,
    ended: bool,
}

impl Pieces {
    /// Reads `body`, which may carry at most `room` bytes.
    pub(crate) fn new(body: Body, room: u64, buffers: Buffers) -> Self {
        Self {
            stream: body.into_data_stream(),
            rest: Bytes::new(),
            room,
            buffers,
            ended: false,
        }
    }

    /// The next piece with the permit that holds its memory, or `None` at
    /// the end of the body.
    pub(crate) async fn next(&mut self) -> Result<Option<(Vec<u8>, OwnedSemaphorePermit)>, Fail> {
        if self.ended && self.rest.is_empty() {
            return Ok(None);
        }
        let permit = self.buffers.0.clone().acquire_owned().await;
        let permit = permit.map_err(|_| Fail::from(ErrorCode::ShuttingDown))?;
        let piece = tokio::time::timeout(PIECE_TIMEOUT, self.fill())
            .await
            .map_err(|_| Fail::bad("the upload stalled"))??;
        Ok((!piece.is_empty()).then_some((piece, permit)))
    }

    async fn fill(&mut self) -> Result<Vec<u8>, Fail> {
        let mut piece = Vec::new();
        loop {
            let take = self.rest.len().min(PIECE - piece.len());
            piece.extend_from_slice(&self.rest.split_to(take));
            if piece.len() == PIECE || self.ended {
                return Ok(piece);
            }
            match self.stream.next().await {
                Some(Ok(data)) => self.arrived(data)?,
                Some(Err(_)) => return Err(Fail::bad("the upload was cut off")),
                None => self.ended = true,
            }
        }
    }

    fn arrived(&mut self, data: Bytes) -> Result<(), Fail> {
        let len = data.len() as u64;
        if len > self.room {
            return Err(Fail::new(
                ErrorCode::TooLarge,
                "the body is longer than what is left of the file",
            ));
        }
        self.room -= len;
        self.rest = data;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: Vec<Vec<u8>>) -> Body {
        let stream = futures_util::stream::iter(
            parts
                .into_iter()
                .map(|p| Ok::<_, std::io::Error>(Bytes::from(p))),
        );
        Body::from_stream(stream)
    }

    #[tokio::test]
    async fn a_body_comes_in_bounded_pieces() {
        let parts = vec![vec![1; 100], vec![2; PIECE + 10], vec![3; 5]];
        let total = 100 + PIECE + 10 + 5;
        let mut pieces = Pieces::new(body(parts), total as u64, Buffers::default());
        let mut sizes = Vec::new();
        while let Some((piece, _permit)) = pieces.next().await.expect("piece") {
            sizes.push(piece.len());
        }
        assert_eq!(sizes, [PIECE, 115]);
    }

    #[tokio::test]
    async fn a_body_longer_than_the_room_is_too_large() {
        let mut pieces = Pieces::new(body(vec![vec![0; 11]]), 10, Buffers::default());
        let err = pieces.next().await.expect_err("too long");
        assert_eq!(err.error.code, ErrorCode::TooLarge);
    }
}
