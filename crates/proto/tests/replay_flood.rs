//! Issue 9: replayed Initials sent from a victim's own address must not use
//! up that address's handshake allowance. An attacker who captured one
//! Initial replays it at 400 datagrams per second with the victim's source
//! address; the victim's fresh handshakes from that address must all still
//! be answered (virtual time, fixed seed).

mod sim;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use natter_proto::packet::TYPE_INITIAL;
use natter_proto::{RetryPolicy, ServerEndpointConfig};
use sim::{CLIENT, SERVER, Sim, packet_type, server_keypair, transport};

/// Replays per second, as in the measurement.
const REPLAY_RATE: u32 = 400;
/// Fresh handshakes the victim makes during the flood.
const FRESH: usize = 120;
/// One fresh handshake every this many replay ticks (10 ms each).
const TICKS_PER_HANDSHAKE: usize = 10;

#[test]
fn replays_from_the_victims_address_do_not_use_up_its_allowance() {
    let seed = 90;
    let mut server = ServerEndpointConfig::new(server_keypair(), [3; 32]);
    server.retry_policy = RetryPolicy::Never;
    let mut sim = Sim::with_configs(seed, transport(), server);
    let captured: Rc<RefCell<Option<Vec<u8>>>> = Rc::default();
    let tap = captured.clone();
    sim.client_tap = Some(Box::new(move |d: &[u8]| {
        tap.borrow_mut().get_or_insert_with(|| d.to_vec());
    }));
    let (first, _) = sim.establish();
    sim.client_tap = None;
    let replay = captured.borrow().clone().expect("captured the Initial");
    assert_eq!(packet_type(&replay), TYPE_INITIAL);
    // The captured connection ends, so its replays reach the guard.
    let now = sim.now;
    sim.client.close(now, first, 0, "done");
    sim.advance(Duration::from_secs(2));
    assert_eq!(sim.server.connection_count(), 0);

    let before = sim.server.endpoint_stats();
    let per_tick = (REPLAY_RATE / 100) as usize;
    let mut fresh = Vec::new();
    for tick in 0..FRESH * TICKS_PER_HANDSHAKE {
        for _ in 0..per_tick {
            sim.inject(CLIENT, SERVER, replay.clone());
        }
        if tick % TICKS_PER_HANDSHAKE == 0 {
            fresh.push(sim.connect());
        }
        sim.advance(Duration::from_millis(10));
    }
    sim.advance(Duration::from_secs(1));
    let after = sim.server.endpoint_stats();
    let answered = fresh.iter().filter(|h| sim.client_connected(**h)).count();
    let replays = after.initials_dropped - before.initials_dropped;
    println!(
        "seed {seed}: {answered}/{FRESH} fresh handshakes answered under {replays} replays ({after:?})"
    );
    assert_eq!(answered, FRESH, "seed {seed}: {after:?}");
    assert_eq!(after.handshakes - before.handshakes, FRESH as u64);
    assert_eq!(after.initials_rate_limited, before.initials_rate_limited);
    assert!(
        after.initials_replayed - before.initials_replayed >= (FRESH * TICKS_PER_HANDSHAKE) as u64,
        "every replay is counted as one: {after:?}"
    );
}
