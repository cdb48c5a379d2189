//! CI smoke of `natter bench --reference quic`: Natter and the QUIC relay
//! reference (quinn) run the same tiny workload on loopback, without and
//! with injected loss; neither may lose or duplicate anything, and the
//! reference must report figures. Correctness only; no timing is asserted.

use std::process::Command;

use serde_json::Value;

/// Runs a tiny bench with the QUIC reference and `loss`; returns the report.
fn bench_with_quic(loss: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_natter"))
        .args(["bench", "--spawn", "--clients", "4", "--groups", "2"])
        .args(["--members", "3", "--rate", "200", "--duration", "1s"])
        .args(["--loss", loss, "--reference", "quic", "--json"])
        .output()
        .expect("run natter bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "natter bench failed: {stderr}");
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn count(report: &Value, v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {report}"))
}

/// Natter lost and duplicated nothing; the QUIC relay delivered every
/// message to the two other members exactly as often as expected.
fn check(report: &Value) {
    assert_eq!(count(report, report, "lost"), 0, "{report}");
    assert_eq!(count(report, report, "duplicates"), 0, "{report}");
    let quic = &report["reference"];
    assert_eq!(quic["kind"], "quic", "{report}");
    let sent = count(report, quic, "sent");
    assert!(sent > 0, "{report}");
    assert_eq!(count(report, quic, "lost"), 0, "{report}");
    assert_eq!(
        count(report, quic, "deliveries"),
        2 * sent,
        "two other members each, once: {report}"
    );
    for q in ["p50", "p90", "p99", "max"] {
        let ms = quic["latency_ms"][q].as_f64();
        assert!(ms.is_some_and(|ms| ms > 0.0), "{q}: {report}");
    }
    assert!(quic["ratio"].as_f64().is_some_and(|r| r > 0.0), "{report}");
}

#[test]
fn quic_reference_relays_every_message_once() {
    check(&bench_with_quic("0"));
}

#[test]
fn quic_reference_under_injected_loss_relays_every_message_once() {
    // The relay and every client drop 10 % of datagrams each way (seeded).
    check(&bench_with_quic("0.1"));
}
