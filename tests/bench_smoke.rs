//! CI smoke of `natter bench`: a few seconds under 20 % injected loss must
//! lose and duplicate nothing. Correctness only; no timing is asserted.

use std::process::Command;

#[test]
fn bench_under_loss_loses_and_duplicates_nothing() {
    let out = Command::new(env!("CARGO_BIN_EXE_natter"))
        .args([
            "bench",
            "--spawn",
            "--clients",
            "4",
            "--groups",
            "2",
            "--members",
            "3",
        ])
        .args(["--duration", "3s", "--loss", "0.2", "--json"])
        .output()
        .expect("run natter bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "natter bench failed: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let n = |key: &str| {
        report[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} in {report}"))
    };
    assert!(n("sent") > 0, "{report}");
    assert_eq!(n("stored"), n("sent"), "every message is ✓: {report}");
    assert_eq!(n("lost"), 0, "{report}");
    assert_eq!(n("duplicates"), 0, "{report}");
    assert_eq!(n("deliveries"), n("expected_deliveries"), "{report}");
    assert_eq!(
        n("deliveries"),
        2 * n("stored"),
        "two other members each: {report}"
    );
    for q in ["p50", "p90", "p99", "max"] {
        assert!(report["latency_ms"][q].is_number(), "{q}: {report}");
    }
}

/// The footprint mode sets clients up, holds them idle and reports memory
/// per client for the bench process and the spawned server.
#[test]
fn bench_idle_reports_memory_per_client_for_both_processes() {
    let out = Command::new(env!("CARGO_BIN_EXE_natter"))
        .args(["bench", "--spawn", "--clients", "8", "--groups", "0"])
        .args(["--idle", "1s"])
        .output()
        .expect("run natter bench --idle");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "natter bench --idle failed: {stderr}");
    assert!(stdout.contains("8 clients set up"), "{stdout}");
    for who in ["this process (client library): RSS", "server: RSS"] {
        let line = stdout.lines().find(|l| l.contains(who));
        let line = line.unwrap_or_else(|| panic!("no '{who}' in {stdout}"));
        assert!(line.contains("KiB per client"), "{line}");
    }
}

/// `--processes`: the clients spread over several bench processes (here
/// also over two loopback source addresses), one report line for each
/// process and one for the server.
#[test]
fn bench_idle_spreads_clients_over_processes() {
    let out = Command::new(env!("CARGO_BIN_EXE_natter"))
        .args(["bench", "--spawn", "--clients", "9", "--groups", "0"])
        .args(["--processes", "2", "--local-addrs", "127.0.0.2,127.0.0.3"])
        .args(["--idle", "1s"])
        .output()
        .expect("run natter bench --processes");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "natter bench --processes failed: {stderr}"
    );
    assert!(
        stdout.contains("9 clients in 2 processes set up"),
        "{stdout}"
    );
    for who in [
        "bench process 1 (client library): RSS",
        "bench process 2 (client library): RSS",
        "server: RSS",
    ] {
        let line = stdout.lines().find(|l| l.contains(who));
        let line = line.unwrap_or_else(|| panic!("no '{who}' in {stdout}"));
        assert!(line.contains("KiB per client"), "{line}");
    }
}
