//! Conformance cases for [`crate::Files`].

use super::new_user;
use crate::files::{FileId, FileUsage, NewFile, RecipientState};
use crate::{ConvId, Store, StoreError, UserId};

fn offer(s: &dyn Store, uploader: UserId, conv: ConvId, hash: u8, to: &[UserId]) -> NewFile {
    let _ = s;
    NewFile {
        uploader,
        conv,
        name: "a.txt".into(),
        size: 1000 + u64::from(hash),
        media_type: "text/plain".into(),
        hash: [hash; 32],
        client_id: [hash; 16],
        created_ms: 10,
        expires_ms: 100 + i64::from(hash),
        recipients: to.to_vec(),
    }
}

pub fn files_are_created_listed_and_completed(s: &dyn Store) {
    let (a, b, c) = (
        new_user(s, "a").id,
        new_user(s, "b").id,
        new_user(s, "c").id,
    );
    let conv = s.direct(a, b, 1).unwrap().id;
    let f = s.create_file(&offer(s, a, conv, 1, &[b, a, b])).unwrap();
    assert!(!f.complete);
    assert_eq!(s.file(f.id).unwrap(), Some(f.clone()));
    assert_eq!(s.file(FileId(f.id.0 + 99)).unwrap(), None);
    assert_eq!(
        s.file_recipients(f.id).unwrap(),
        vec![(b, RecipientState::Pending)]
    );
    assert_eq!(s.files_of(a).unwrap(), vec![f.clone()]);
    assert_eq!(s.files_of(b).unwrap(), vec![f.clone()]);
    assert!(s.files_of(c).unwrap().is_empty());
    assert_eq!(
        s.unfinished_upload(a, conv, [1; 32]).unwrap(),
        Some(f.clone())
    );
    assert_eq!(s.unfinished_upload(a, conv, [2; 32]).unwrap(), None);
    assert_eq!(
        s.file_by_message(conv, a, [1; 16]).unwrap(),
        Some(f.clone())
    );
    assert_eq!(s.file_by_message(conv, b, [1; 16]).unwrap(), None);
    s.set_file_complete(f.id).unwrap();
    assert!(s.file(f.id).unwrap().unwrap().complete);
    assert_eq!(s.unfinished_upload(a, conv, [1; 32]).unwrap(), None);
    assert_eq!(s.set_file_complete(FileId(999)), Err(StoreError::NotFound));
    let bad = offer(s, a, ConvId(999), 3, &[]);
    assert_eq!(s.create_file(&bad), Err(StoreError::NotFound));
}

pub fn file_recipient_states_change(s: &dyn Store) {
    let (a, b, c) = (
        new_user(s, "a").id,
        new_user(s, "b").id,
        new_user(s, "c").id,
    );
    let f = s.create_file(&offer(s, a, s.lobby(), 1, &[c, b])).unwrap();
    s.set_recipient_state(f.id, b, RecipientState::Rejected)
        .unwrap();
    s.set_recipient_state(f.id, c, RecipientState::Delivered)
        .unwrap();
    let want = vec![
        (b, RecipientState::Rejected),
        (c, RecipientState::Delivered),
    ];
    assert_eq!(s.file_recipients(f.id).unwrap(), want);
    let not_recipient = s.set_recipient_state(f.id, a, RecipientState::Accepted);
    assert_eq!(not_recipient, Err(StoreError::NotFound));
}

pub fn file_usage_expiry_and_delete(s: &dyn Store) {
    let (a, b) = (new_user(s, "a").id, new_user(s, "b").id);
    let lobby = s.lobby();
    let f1 = s.create_file(&offer(s, a, lobby, 1, &[b])).unwrap();
    let f2 = s.create_file(&offer(s, a, lobby, 2, &[b])).unwrap();
    s.create_file(&offer(s, b, lobby, 2, &[a])).unwrap();
    s.set_file_complete(f1.id).unwrap();
    let usage = FileUsage {
        bytes: 2003,
        unfinished: 1,
    };
    assert_eq!(s.file_usage(a).unwrap(), usage);
    assert_eq!(s.files_with_hash([2; 32]).unwrap(), 2);
    let expired: Vec<_> = s.expired_files(101).unwrap().iter().map(|f| f.id).collect();
    assert_eq!(expired, vec![f1.id]);
    assert!(s.delete_file(f1.id).unwrap());
    assert!(!s.delete_file(f1.id).unwrap());
    assert!(s.file_recipients(f1.id).unwrap().is_empty());
    assert_eq!(s.file_usage(a).unwrap().bytes, f2.size);
    assert_eq!(s.files_with_hash([1; 32]).unwrap(), 0);
}
