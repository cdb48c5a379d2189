//! Editing and deleting stored messages.

use natter_api::{ClientMsgId, ConversationId, Request, Response, Sent, Seq};

use crate::client::Client;
use crate::error::ClientError;

impl Client {
    /// Replaces the text of my message `seq` in `conv`. The edit is a new
    /// log entry; its ✓ (`Sent`, with the entry's seq) is returned once
    /// stored, and every member's client gets the entry as a message event
    /// whose `action` names `seq` (apply it with
    /// [`natter_api::Message::apply_action`]).
    pub async fn edit_message(
        &self,
        conv: ConversationId,
        seq: Seq,
        text: impl Into<String>,
    ) -> Result<Sent, ClientError> {
        self.edit_message_with_id(conv, seq, text, uuid::Uuid::new_v4())
            .await
    }

    /// Like [`Client::edit_message`] with a caller-chosen client id:
    /// repeating it (after a timeout, say) never edits twice.
    pub async fn edit_message_with_id(
        &self,
        conv: ConversationId,
        seq: Seq,
        text: impl Into<String>,
        client_id: ClientMsgId,
    ) -> Result<Sent, ClientError> {
        let body = text.into();
        let request = Request::EditMessage {
            conv,
            seq,
            client_id,
            body,
        };
        sent(self.request(request).await?)
    }

    /// Deletes message `seq` in `conv` (mine, or anyone's in a group where
    /// I am an admin or the owner). Returns the ✓ of the delete entry.
    pub async fn delete_message(
        &self,
        conv: ConversationId,
        seq: Seq,
    ) -> Result<Sent, ClientError> {
        self.delete_message_with_id(conv, seq, uuid::Uuid::new_v4())
            .await
    }

    /// Like [`Client::delete_message`] with a caller-chosen client id.
    pub async fn delete_message_with_id(
        &self,
        conv: ConversationId,
        seq: Seq,
        client_id: ClientMsgId,
    ) -> Result<Sent, ClientError> {
        let request = Request::DeleteMessage {
            conv,
            seq,
            client_id,
        };
        sent(self.request(request).await?)
    }
}

fn sent(response: Response) -> Result<Sent, ClientError> {
    match response {
        Response::Sent(sent) => Ok(sent),
        other => Err(ClientError::Unexpected(format!("{other:?}"))),
    }
}
