//! Script-style tests of the transport over the simulated network.

mod sim;

use std::time::Duration;

use bytes::Bytes;
use sim::Sim;

#[test]
fn handshake_then_one_message_each_way() {
    let mut sim = Sim::new(1);
    let (c, s) = sim.establish();
    sim.client
        .send(c, 0, Bytes::from_static(b"hello"))
        .expect("send");
    sim.server
        .send(s, 0, Bytes::from_static(b"hi"))
        .expect("send");
    let mut got_s = Vec::new();
    let mut got_c = Vec::new();
    let ok = sim.run_until(Duration::from_secs(5), |sim| {
        got_s.extend(sim.server_recv_all(s));
        got_c.extend(sim.client_recv_all(c));
        !got_s.is_empty() && !got_c.is_empty()
    });
    assert!(ok);
    assert_eq!(got_s, vec![(0, Bytes::from_static(b"hello"))]);
    assert_eq!(got_c, vec![(0, Bytes::from_static(b"hi"))]);
}
