//! The safety number two users compare out of band before marking each
//! other's devices verified.

use natter_api::DeviceKeys;

/// A short comparison string for `(user, devices)` pairs: the same on both
/// sides whatever the order (names lowercased, devices sorted), different
/// as soon as any Ed25519 key differs. 12 groups of 5 digits from a
/// BLAKE3 hash of the sorted `name:ed25519` lines.
pub fn safety_number(a: (&str, &[DeviceKeys]), b: (&str, &[DeviceKeys])) -> String {
    let mut lines: Vec<String> = [a, b]
        .iter()
        .flat_map(|(user, devices)| {
            let user = user.to_lowercase();
            devices.iter().map(move |d| format!("{user}:{}", d.ed25519))
        })
        .collect();
    lines.sort();
    let digest = blake3::hash(lines.join("\n").as_bytes());
    let bytes = digest.as_bytes();
    let groups = bytes.chunks(2).take(12).map(|pair| {
        let n = u32::from(pair[0]) << 8 | u32::from(pair[1]);
        format!("{:05}", n % 100_000)
    });
    groups.collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(ed: &str) -> DeviceKeys {
        DeviceKeys {
            curve25519: format!("c{ed}"),
            ed25519: ed.into(),
        }
    }

    #[test]
    fn both_sides_compute_the_same_number_and_a_changed_key_changes_it() {
        let alice = [dev("a1")];
        let bob = [dev("b1"), dev("b2")];
        let one = safety_number(("Alice", &alice), ("bob", &bob));
        let other = safety_number(("BOB", &[dev("b2"), dev("b1")]), ("alice", &alice));
        assert_eq!(one, other);
        assert_eq!(one.split(' ').count(), 12);
        let changed = safety_number(("alice", &alice), ("bob", &[dev("b1"), dev("b3")]));
        assert_ne!(one, changed);
    }
}
