//! Fault injection for demos and tests: drop, duplicate, reorder and delay
//! datagrams on their way out, drop them on their way in. Off by default.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What to do to datagrams. Probabilities are in `0.0..=1.0`.
#[derive(Debug, Clone, Default)]
pub struct FaultConfig {
    /// Drop an outgoing datagram.
    pub drop_send: f64,
    /// Drop an incoming datagram.
    pub drop_recv: f64,
    /// Send an outgoing datagram twice.
    pub duplicate: f64,
    /// Hold an outgoing datagram back so later ones overtake it.
    pub reorder: f64,
    /// Delay every outgoing datagram by this much…
    pub delay: Duration,
    /// …plus up to this much more, uniformly.
    pub jitter: Duration,
    /// Seed for the fault RNG (fixed in tests).
    pub seed: u64,
}

impl FaultConfig {
    /// Drops `p` of datagrams in each direction (the `--loss` flag).
    pub fn loss(p: f64, seed: u64) -> Self {
        Self {
            drop_send: p,
            drop_recv: p,
            seed,
            ..Self::default()
        }
    }

    fn is_active(&self) -> bool {
        self.drop_send > 0.0
            || self.drop_recv > 0.0
            || self.duplicate > 0.0
            || self.reorder > 0.0
            || !self.delay.is_zero()
            || !self.jitter.is_zero()
    }
}

/// A datagram waiting in the fault injector.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Held {
    at: Instant,
    seq: u64,
    to: SocketAddr,
    data: Vec<u8>,
}

/// The fault injector's state.
#[derive(Debug)]
pub(crate) struct Faults {
    config: FaultConfig,
    rng: ChaCha8Rng,
    held: BinaryHeap<Reverse<Held>>,
    seq: u64,
    /// Datagrams dropped on purpose (both directions).
    pub(crate) dropped: u64,
}

impl Faults {
    pub(crate) fn new(config: FaultConfig) -> Option<Self> {
        config.is_active().then(|| Self {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            held: BinaryHeap::new(),
            seq: 0,
            dropped: 0,
        })
    }

    /// Decides the fate of an incoming datagram: true to drop it.
    pub(crate) fn drop_incoming(&mut self) -> bool {
        let drop = self.rng.random_bool(self.config.drop_recv.clamp(0.0, 1.0));
        self.dropped += drop as u64;
        drop
    }

    /// Takes an outgoing datagram; returns the copies to send right now.
    /// Held copies come out later through [`Faults::release`].
    pub(crate) fn outgoing(
        &mut self,
        now: Instant,
        to: SocketAddr,
        data: &[u8],
    ) -> Vec<(SocketAddr, Vec<u8>)> {
        if self.rng.random_bool(self.config.drop_send.clamp(0.0, 1.0)) {
            self.dropped += 1;
            return Vec::new();
        }
        let copies = 1 + self.rng.random_bool(self.config.duplicate.clamp(0.0, 1.0)) as usize;
        let mut now_out = Vec::new();
        for _ in 0..copies {
            let delay = self.delay_for_one();
            if delay.is_zero() {
                now_out.push((to, data.to_vec()));
            } else {
                self.hold(now + delay, to, data.to_vec());
            }
        }
        now_out
    }

    fn delay_for_one(&mut self) -> Duration {
        let mut d = self.config.delay;
        if !self.config.jitter.is_zero() {
            d += self.config.jitter.mul_f64(self.rng.random::<f64>());
        }
        if self.rng.random_bool(self.config.reorder.clamp(0.0, 1.0)) {
            // Long enough for a few later datagrams to overtake this one.
            d += Duration::from_millis(2) + self.config.delay;
        }
        d
    }

    fn hold(&mut self, at: Instant, to: SocketAddr, data: Vec<u8>) {
        self.seq += 1;
        let seq = self.seq;
        self.held.push(Reverse(Held { at, seq, to, data }));
    }

    /// Datagrams whose delay has passed.
    pub(crate) fn release(&mut self, now: Instant) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut out = Vec::new();
        while self.held.peek().is_some_and(|Reverse(h)| h.at <= now) {
            let Reverse(h) = self.held.pop().expect("peeked");
            out.push((h.to, h.data));
        }
        out
    }

    /// When the next held datagram is due.
    pub(crate) fn next_release(&self) -> Option<Instant> {
        self.held.peek().map(|Reverse(h)| h.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 9))
    }

    #[test]
    fn inactive_config_builds_nothing() {
        assert!(Faults::new(FaultConfig::default()).is_none());
    }

    #[test]
    fn loss_rate_is_roughly_as_configured() {
        let mut f = Faults::new(FaultConfig::loss(0.2, 42)).expect("active");
        let now = Instant::now();
        let sent: usize = (0..10_000)
            .map(|_| f.outgoing(now, addr(), b"x").len())
            .sum();
        assert!(
            (7_600..8_400).contains(&sent),
            "sent {sent} of 10000 at 20% loss"
        );
    }

    #[test]
    fn delayed_datagrams_come_out_in_time_order() {
        let cfg = FaultConfig {
            delay: Duration::from_millis(5),
            jitter: Duration::from_millis(5),
            seed: 7,
            ..FaultConfig::default()
        };
        let mut f = Faults::new(cfg).expect("active");
        let now = Instant::now();
        for i in 0..20u8 {
            assert!(f.outgoing(now, addr(), &[i]).is_empty());
        }
        assert!(f.release(now).is_empty());
        let due = f.next_release().expect("held");
        assert!(due >= now + Duration::from_millis(5));
        let all = f.release(now + Duration::from_millis(11));
        assert_eq!(all.len(), 20);
    }
}
