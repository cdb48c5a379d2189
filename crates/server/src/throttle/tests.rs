//! Throttle rules with explicit instants (no sleeping).

use super::*;

const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

fn cfg() -> ThrottleConfig {
    ThrottleConfig {
        failures_per_minute: 2,
        addr_failures_per_minute: 4,
        account_failures_per_minute: 3,
        backoff_base_ms: 100,
        backoff_max_ms: 350,
        ..ThrottleConfig::default()
    }
}

fn ip(n: u32) -> IpAddr {
    IpAddr::V4((0x0a00_0000 + n).into())
}

/// Guesses as an attacker would: only when not refused; counts refusals.
fn guess(t: &Throttle, ip: IpAddr, account: &str, now: Instant) -> Result<(), Duration> {
    t.check(ip, account, now)?;
    t.fail(ip, Some(account), now);
    Ok(())
}

#[test]
fn a_pair_blocks_after_its_allowance_with_exponential_backoff() {
    let t = Throttle::new(ThrottleConfig {
        addr_failures_per_minute: 100,
        account_failures_per_minute: 100,
        ..cfg()
    });
    let now = Instant::now();
    let ms = Duration::from_millis;
    t.fail(A, Some("alice"), now);
    t.fail(A, Some("alice"), now);
    assert_eq!(t.check(A, "alice", now), Ok(()));
    t.fail(A, Some("alice"), now);
    assert_eq!(t.check(A, "alice", now), Err(ms(100)));
    t.fail(A, Some("alice"), now);
    assert_eq!(t.check(A, "alice", now), Err(ms(200)));
    t.fail(A, Some("alice"), now);
    assert_eq!(t.check(A, "alice", now), Err(ms(350)), "capped");
    assert_eq!(t.check(A, "alice", now + ms(350)), Ok(()));
}

#[test]
fn guessing_from_one_address_never_refuses_another() {
    let t = Throttle::new(cfg());
    let now = Instant::now();
    let refused = (0..30)
        .filter(|_| guess(&t, A, "alice", now).is_err())
        .count();
    println!("30 guesses from A: {refused} refused");
    assert!(refused >= 27, "only the allowance (and one more) was tried");
    assert!(t.check(A, "alice", now).is_err());
    assert_eq!(t.check(B, "alice", now), Ok(()));
}

#[test]
fn an_address_failing_over_many_accounts_is_blocked_for_all_of_them() {
    let t = Throttle::new(cfg());
    let now = Instant::now();
    for n in 0..5 {
        t.fail(A, Some(&format!("user{n}")), now);
    }
    assert!(t.check(A, "someone_else", now).is_err());
    assert!(t.check_addr(A, now).is_err());
    assert_eq!(t.check(B, "user0", now), Ok(()));
}

#[test]
fn malformed_names_count_against_the_address_only() {
    let t = Throttle::new(cfg());
    let now = Instant::now();
    for _ in 0..5 {
        t.fail(A, None, now);
    }
    assert!(t.check_addr(A, now).is_err());
    assert_eq!(t.check_addr(B, now), Ok(()));
    assert_eq!(t.lock().pairs.len(), 0);
    assert_eq!(t.lock().accounts.len(), 0);
}

#[test]
fn a_guarded_account_admits_only_addresses_without_failures() {
    let t = Throttle::new(cfg());
    let now = Instant::now();
    // Four addresses, one failure each: over the account allowance of 3.
    for n in 0..4 {
        guess(&t, ip(n), "alice", now).expect("first guess of each address");
    }
    // A fifth attacker address with a failure elsewhere is refused...
    t.fail(ip(99), Some("bob"), now);
    let wait = t.check(ip(99), "alice", now).expect_err("guarded");
    assert!(wait > Duration::ZERO && wait <= WINDOW, "{wait:?}");
    // ...the guessers themselves too, but a clean address may try.
    assert!(t.check(ip(0), "alice", now).is_err());
    assert_eq!(t.check(B, "alice", now), Ok(()));
    assert_eq!(t.check(ip(99), "bob", now), Ok(()), "bob is not guarded");
    assert_eq!(
        t.check(ip(0), "alice", now + WINDOW),
        Ok(()),
        "window passed"
    );
}

#[test]
fn success_clears_the_pair_but_not_the_address() {
    let t = Throttle::new(cfg());
    let now = Instant::now();
    for _ in 0..3 {
        t.fail(A, Some("alice"), now);
    }
    t.fail(A, Some("mallory"), now);
    assert!(t.check(A, "alice", now).is_err());
    t.succeed(A, "alice");
    assert_eq!(t.check(A, "alice", now), Ok(()));
    t.fail(A, Some("carol"), now);
    assert!(t.check(A, "alice", now).is_err(), "the address is over 4");
}

#[test]
fn old_failures_leave_the_window() {
    let t = Throttle::new(cfg());
    let now = Instant::now();
    t.fail(A, Some("a"), now);
    t.fail(A, Some("a"), now);
    t.fail(A, Some("a"), now + WINDOW);
    assert_eq!(t.check(A, "a", now + WINDOW), Ok(()));
}

#[test]
fn register_bucket_allows_a_burst_then_refills_per_address() {
    let t = Throttle::new(ThrottleConfig {
        register_per_minute: 6.0,
        register_burst: 3.0,
        ..cfg()
    });
    let now = Instant::now();
    assert!((0..3).all(|_| t.take_register(A, now).is_ok()));
    let wait = t.take_register(A, now).expect_err("burst used");
    let ten = Duration::from_secs(10);
    assert!(wait.abs_diff(ten) < Duration::from_millis(1), "{wait:?}");
    assert_eq!(t.take_register(B, now), Ok(()), "per address");
    assert_eq!(t.take_register(A, now + Duration::from_secs(11)), Ok(()));
}

#[test]
fn login_bucket_counts_every_attempt() {
    let t = Throttle::new(ThrottleConfig {
        login_per_minute: 60.0,
        login_burst: 2.0,
        ..cfg()
    });
    let now = Instant::now();
    assert!(t.take_login(A, now).is_ok() && t.take_login(A, now).is_ok());
    assert_eq!(t.take_login(A, now), Err(Duration::from_secs(1)));
}

#[test]
fn ipv6_addresses_share_their_64_prefix() {
    let t = Throttle::new(ThrottleConfig {
        register_burst: 1.0,
        ..cfg()
    });
    let now = Instant::now();
    let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
    let same: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
    let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
    assert!(t.take_register(a, now).is_ok());
    assert!(t.take_register(same, now).is_err());
    assert!(t.take_register(other, now).is_ok());
    let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
    assert_eq!(addr_key(mapped), A);
}

#[test]
fn tables_stay_bounded_under_many_addresses() {
    let t = Throttle::new(ThrottleConfig {
        max_tracked: 1000,
        ..cfg()
    });
    let now = Instant::now();
    // 127.0.0.0/8 is 16M addresses; a sample of 200k is enough to show the cap.
    for n in 0..200_000 {
        let from = IpAddr::V4((0x7f00_0000 + n).into());
        let _ = t.take_login(from, now);
        let _ = t.take_register(from, now);
        t.fail(from, Some(&format!("u{}", n % 5000)), now);
    }
    let s = t.lock();
    let sizes = [
        s.pairs.len(),
        s.addrs.len(),
        s.accounts.len(),
        s.logins.len(),
        s.registers.len(),
    ];
    println!("tracked after 200k addresses: {sizes:?}");
    assert!(sizes.iter().all(|n| *n <= 1000), "{sizes:?}");
}

#[test]
fn loud_lines_are_the_first_failure_and_the_first_block_within_a_budget() {
    let t = Throttle::new(ThrottleConfig {
        addr_failures_per_minute: 1000,
        ..cfg()
    });
    let now = Instant::now();
    let loud = |n: Noted| n.loud;
    assert!(loud(t.fail(A, Some("a"), now)), "first failure");
    assert!(!loud(t.fail(A, Some("a"), now)));
    assert!(loud(t.fail(A, Some("a"), now)), "first block");
    assert!(!loud(t.fail(A, Some("a"), now)));
    // Many keys at once: at most the burst is loud, the rest is counted.
    let noted: Vec<Noted> = (0..100)
        .map(|n| t.fail(A, Some(&format!("u{n}")), now))
        .collect();
    let louds = noted.iter().filter(|n| n.loud).count();
    assert!(louds as f64 <= LOUD_BURST, "{louds}");
    let last = noted.last().unwrap();
    assert!(!last.loud && last.suppressed > 50, "{last:?}");
    let later = t.fail(B, Some("x"), now + Duration::from_secs(1));
    assert!(
        later.loud && later.suppressed == last.suppressed,
        "{later:?}"
    );
}
