//! One conformance suite for every backend.
//!
//! Each case is a public function taking `&dyn Store` (a fresh, empty store) that
//! panics on a violation. [`conformance_tests!`](crate::conformance_tests) turns
//! every case into its own `#[test]`:
//!
//! ```text
//! mod memory {
//!     natter_store::conformance_tests!(Box::new(natter_store::MemoryStore::new()));
//! }
//! ```
//!
//! The argument is evaluated once per test and must dereference to a store.

#![allow(missing_docs, clippy::missing_panics_doc)]

mod cases_chat;
mod cases_groups;
mod cases_people;
mod cases_sessions;

pub use cases_chat::*;
pub use cases_groups::*;
pub use cases_people::*;
pub use cases_sessions::*;

use crate::{ClientId, ConvId, Message, MsgKind, NewMessage, Store, User, UserId};

/// Generates one `#[test]` per conformance case; see the [module docs](crate::conformance).
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::__conformance_cases!($make;
            user_names_are_case_insensitive,
            user_crud,
            lobby_holds_every_user,
            sessions_lifecycle,
            sessions_are_listed_most_recently_used_first,
            touch_refreshes_last_use_and_address,
            expired_sessions_do_not_resume_and_are_pruned,
            sessions_are_revoked_by_id_by_their_owner_only,
            sessions_per_user_are_capped_least_recently_used_out,
            direct_is_symmetric_and_idempotent,
            groups_and_name_taken,
            join_leave_rejoin,
            append_assigns_contiguous_seq_per_conversation,
            append_is_idempotent_across_batches,
            append_is_idempotent_within_a_batch,
            append_failure_writes_nothing,
            history_of_empty_conversation,
            history_paging_all_anchors_and_orders,
            history_limit_is_clamped,
            range_for_sync,
            cursors_are_monotonic_and_clamped,
            cursors_of_and_delivered_cursors,
            group_names_collide_by_skeleton,
            group_count_counts_current_groups,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($make:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let store = $make;
                $crate::conformance::$case(&*store);
            }
        )*
    };
}

/// Creates a user with a fixed hash and time.
pub fn new_user(s: &dyn Store, name: &str) -> User {
    s.create_user(name, "hash", 1_000).expect("create_user")
}

/// A client id whose first byte is `n`.
pub fn cid(n: u8) -> ClientId {
    let mut id = [0; 16];
    id[0] = n;
    id
}

/// A text message from `sender` with client id `cid(n)` and body `body`.
pub fn text(conv: ConvId, sender: UserId, n: u8, body: &str) -> NewMessage {
    NewMessage {
        conv,
        sender: Some(sender),
        client_id: cid(n),
        kind: MsgKind::Text,
        body: body.to_owned(),
        ts_ms: 5_000 + i64::from(n),
    }
}

/// The seqs of `messages`, in order.
pub fn seqs(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

/// Appends `count` text messages from `sender` to `conv` (client ids from `first`).
pub fn fill(s: &dyn Store, conv: ConvId, sender: UserId, first: u16, count: u16) {
    let batch: Vec<NewMessage> = (first..first + count)
        .map(|n| {
            let mut m = text(conv, sender, 0, &format!("m{n}"));
            m.client_id[..2].copy_from_slice(&n.to_be_bytes());
            m.client_id[15] = 1;
            m
        })
        .collect();
    s.append(&batch).expect("append");
}
