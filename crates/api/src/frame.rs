//! The unit of the wire: one frame per transport message.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::request::Request;
use crate::response::{Event, Response};

/// Client → server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientFrame {
    /// A request; `id` is chosen by the client and echoed in the response.
    Request {
        /// Correlation id.
        id: u64,
        /// The request.
        body: Request,
    },
}

/// Server → client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerFrame {
    /// The one answer to request `id`.
    Response {
        /// Correlation id of the request.
        id: u64,
        /// Its outcome.
        result: Result<Response, ApiError>,
    },
    /// A pushed event.
    Event(Event),
}
