//! The file door of the HTTP listener (issue 14): browsers upload and
//! download offered files here; offers, answers and reports stay ordinary
//! requests (`file_offer`, `file_finish`, `file_reject`, `file_report` on
//! `/ws` or UDP). Every request carries the session token in
//! `Authorization: Bearer TOKEN` (never in the URL) and gets the same
//! checks as the UDP commands (`crate::files`).
//!
//! | request | what it does |
//! |---|---|
//! | `HEAD /files/ID` | size (`Content-Length`); for its uploader `Upload-Offset` / `Upload-Length` (resume point) |
//! | `GET /files/ID` (`Range: bytes=A-B`) | the file or one range of it (206; 416 outside it) |
//! | `PATCH /files/ID` + `Upload-Offset: N` | tus-style: appends the body at N (≤ the committed offset) |
//! | `PUT /files/ID` + `Content-Range: bytes A-B/SIZE` | the same with a content range |
//! | `POST /files/uploads` + `Upload-Length: SIZE` | a browser's staged upload (hashed by the server), see [`stage`] |
//! | `HEAD`/`PATCH /files/uploads/STAGE` | resume point of / append to a staged upload; the last chunk's answer carries `Upload-Hash` |
//! | `POST /files/ID/adopt` `{"upload": STAGE}` | moves a complete staged upload into offer ID (same hash) and completes it |
//!
//! Uploads answer `204` with the new `Upload-Offset` (and
//! `Upload-Complete: ?1` once every byte is there and the hash matched);
//! a chunk not starting at a place the server can take answers 409 with
//! the offset to resume from. Errors carry the JSON error object of the
//! WebSocket door; statuses in [`fail::status`].

mod bearer;
mod download;
mod fail;
mod pieces;
mod range;
pub(crate) mod stage;
mod upload;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, head, post};

use crate::Server;
use crate::ctx::Shared;
use pieces::Buffers;
use stage::Stages;

/// What the file door's handlers share.
#[derive(Clone)]
pub(crate) struct Door {
    shared: Arc<Shared>,
    /// Browsers' staged uploads (none without a file store).
    stages: Option<Arc<Stages>>,
    buffers: Buffers,
    verified: Arc<download::Verified>,
}

/// The `/files` routes of `server` (a router with its own state, merged
/// into the HTTP listener's).
pub(crate) fn router(server: &Server) -> Router {
    let shared = server.shared().clone();
    let stages = shared.files.disk().ok().and_then(|disk| {
        Stages::open(disk.root().join("stage"))
            .inspect_err(|e| tracing::error!(error = %e, "staged uploads unusable"))
            .ok()
    });
    let door = Door {
        shared,
        stages: stages.map(Arc::new),
        buffers: Buffers::default(),
        verified: Arc::default(),
    };
    Router::new()
        .route("/files/uploads", post(upload::create_stage))
        .route(
            "/files/uploads/{stage}",
            head(upload::stage_status).patch(upload::append_stage),
        )
        .route(
            "/files/{id}",
            get(download::get).patch(upload::patch).put(upload::put),
        )
        .route("/files/{id}/adopt", post(upload::adopt))
        .with_state(door)
}
