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

mod cases_actions;
mod cases_chat;
mod cases_devices;
mod cases_files;
mod cases_former;
mod cases_groups;
mod cases_last_messages;
mod cases_moderation;
mod cases_operators;
mod cases_people;
mod cases_posting;
mod cases_search;
mod cases_search_index;
mod cases_sessions;

pub use cases_actions::*;
pub use cases_chat::*;
pub use cases_devices::*;
pub use cases_files::*;
pub use cases_former::*;
pub use cases_groups::*;
pub use cases_last_messages::*;
pub use cases_moderation::*;
pub use cases_operators::*;
pub use cases_people::*;
pub use cases_posting::*;
pub use cases_search::*;
pub use cases_search_index::*;
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
            live_sessions_exist_and_belong_to_enabled_accounts,
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
            search_matches_substrings_in_any_script_ignoring_case,
            search_is_newest_first_and_paged,
            search_sees_only_what_the_user_may_read,
            search_follows_edits_and_deletes,
            search_finds_what_was_just_appended_at_every_indexing_step,
            search_follows_changes_of_indexed_and_pending_messages,
            search_finds_what_follows_a_deleted_group_that_held_the_newest,
            search_ignores_case_alike_before_and_after_indexing,
            read_marks_rise_and_list_current_members,
            an_edit_is_an_entry_and_changes_the_text_once,
            a_delete_erases_the_text_and_ends_every_change,
            only_stored_text_messages_can_be_changed,
            checked_actions_need_the_actors_right_at_their_commit,
            files_are_created_listed_and_completed,
            file_recipient_states_change,
            file_usage_expiry_and_delete,
            bans_are_listed_capped_and_lifted,
            mutes_toggle_and_outlive_membership,
            a_removal_and_its_entry_are_one_write,
            checked_appends_store_only_what_senders_may_post,
            checked_appends_fail_whole_and_refuse_in_deleted_groups,
            checked_appends_list_the_members_at_their_commit,
            group_settings_and_renames,
            ownership_is_transferred_to_a_current_member,
            a_deleted_group_is_gone_but_its_id_stays_taken,
            accounts_are_disabled_and_enabled,
            a_users_message_bodies_are_removed_everywhere,
            counts_count_everything,
            last_messages_follow_the_newest_message_of_current_conversations,
            former_memberships_with_undelivered_messages_are_listed,
            devices_are_published_listed_and_owned,
            one_time_keys_are_claimed_once_then_the_fallback,
            devices_and_pools_are_bounded,
            encrypted_bodies_and_the_e2e_flag,
            deleting_an_encrypted_message_drops_its_ciphertexts,
            a_removed_device_frees_its_place_and_loses_its_keys,
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
