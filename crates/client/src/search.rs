//! Typing indicators, search and read receipts with readers (issue 12): the
//! methods over [`Request::Typing`], [`Request::Search`] and
//! [`Request::Receipt`].

use natter_api::{
    ConversationId, Request, Response, SearchCursor, SearchHit, SearchQuery, Seq, UserInfo,
};

use crate::client::{Client, unexpected};
use crate::error::ClientError;

/// One page of search results (newest first) and where the next starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPage {
    /// The hits.
    pub hits: Vec<SearchHit>,
    /// `before` for the next page; `None` when this is the last one.
    pub next: Option<SearchCursor>,
}

/// Who has a message: delivered to, not yet, and read by (its sender excluded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptView {
    /// Members at least one of whose clients has it.
    pub delivered: Vec<UserInfo>,
    /// Members who do not have it yet.
    pub pending: Vec<UserInfo>,
    /// Members who have read it.
    pub read: Vec<UserInfo>,
}

impl Client {
    /// Tells the other members of `conv` that this user is typing (`true`)
    /// or stopped (`false`). Call it at most every
    /// [`natter_api::TYPING_INTERVAL_MS`] while the user types; the server
    /// drops faster ones (and answers `done` all the same).
    pub async fn typing(&self, conv: ConversationId, typing: bool) -> Result<(), ClientError> {
        self.request(Request::Typing { conv, typing })
            .await
            .map(drop)
    }

    /// One page of messages containing `query` (ignoring case) that this
    /// user may read, in `conv` or everywhere, newest first, older than
    /// `before`. Errors: `bad_request` for text shorter than
    /// [`natter_api::MIN_SEARCH_CHARS`] characters (or too long).
    pub async fn search(
        &self,
        query: &str,
        conv: Option<ConversationId>,
        before: Option<SearchCursor>,
        limit: u32,
    ) -> Result<SearchPage, ClientError> {
        let q = SearchQuery {
            query: query.to_owned(),
            conv,
            before,
            limit,
        };
        match self.request(Request::Search(q)).await? {
            Response::SearchResults { hits, next } => Ok(SearchPage { hits, next }),
            other => Err(unexpected(other)),
        }
    }

    /// Who has message `seq` of `conv`, who not yet, and who read it.
    pub async fn receipt_view(
        &self,
        conv: ConversationId,
        seq: Seq,
    ) -> Result<ReceiptView, ClientError> {
        match self.request(Request::Receipt { conv, seq }).await? {
            Response::Receipt {
                delivered,
                pending,
                read,
                ..
            } => Ok(ReceiptView {
                delivered,
                pending,
                read,
            }),
            other => Err(unexpected(other)),
        }
    }
}
