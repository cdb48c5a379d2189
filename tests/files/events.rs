//! What clients see live: the offer as a message carrying its file, and
//! the sender's update when a recipient answers.

use natter_api::{ClientEvent, Event, FileState, Target};
use natter_client::EventReceiver;
use natter_client::files::LocalFile;

use crate::common::world::PASSWORD;
use crate::common::{GUARD, logged_in_client};
use crate::support::{Files, make_file};

/// The first server event `pick` accepts (fails after the guard).
async fn until<T>(events: &mut EventReceiver, mut pick: impl FnMut(Event) -> Option<T>) -> T {
    let wait = async {
        loop {
            match events.recv().await {
                Some(ClientEvent::Server(event)) => {
                    if let Some(found) = pick(event) {
                        return found;
                    }
                }
                Some(_) => {}
                None => panic!("client closed"),
            }
        }
    };
    tokio::time::timeout(GUARD, wait)
        .await
        .expect("the event in time")
}

#[test]
fn the_offer_arrives_as_a_message_with_its_file_and_a_rejection_reaches_the_sender() {
    let w = Files::new();
    let src = w.path("photo.png");
    let hash = make_file(&src, 300_000, 30);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let addr = w.server.addr;
        let (alice, mut alice_events) =
            logged_in_client(addr, &w.path("known-a"), "alice", PASSWORD).await;
        let (bob, mut bob_events) =
            logged_in_client(addr, &w.path("known-b"), "bob", PASSWORD).await;
        let local = LocalFile::read(&src).expect("hash");
        let target = Target::User("bob".into());
        let (info, sent) = alice.send_file(target, &local, |_| {}).await.expect("send");

        let offer = until(&mut bob_events, |e| match e {
            Event::Message(m) if m.seq == sent.seq => m.file,
            _ => None,
        })
        .await;
        assert_eq!(offer.id, info.offer.id);
        assert_eq!((offer.hash.as_str(), offer.size), (hash.as_str(), 300_000));
        assert_eq!(offer.media_type, "image/png");

        bob.reject_file(offer.id).await.expect("reject");
        let (user, state) = until(&mut alice_events, |e| match e {
            Event::FileUpdate { id, user, state } if id == offer.id => Some((user, state)),
            _ => None,
        })
        .await;
        assert_eq!((user.name.as_str(), state), ("bob", FileState::Rejected));
        alice.close().await;
        bob.close().await;
    });
}
