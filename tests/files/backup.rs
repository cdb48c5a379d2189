//! `natter admin backup` takes the stored files along (`FILE.files/`) and
//! `natter admin restore` puts them back: after losing its database and
//! file store, a server restored from the backup still delivers an offered
//! file intact.

use crate::common::{natter, run};
use crate::support::{Files, hash_of, make_file};

#[test]
fn backup_and_restore_carry_the_stored_files() {
    let mut w = Files::new();
    w.register(&["alice", "bob"]);
    let src = w.path("report.pdf");
    let hash = make_file(&src, 300_000, 7);
    let sent = w.json(
        "alice",
        &["file", "send", "--to", "bob", src.to_str().unwrap()],
    );
    let id = sent["file"]["id"].as_u64().expect("file id").to_string();

    let backup = w.path("backup.db");
    let out = admin(&w, &["backup", backup.to_str().unwrap()]);
    assert!(out.contains("1 stored file, 300000 bytes"), "{out}");
    let copy = w.path("backup.db.files").join(&hash);
    assert_eq!(hash_of(&copy), hash, "the backup holds the file's bytes");
    let again = run(admin_cmd(
        &w,
        &["backup", w.path("other.db").to_str().unwrap()],
    ));
    assert_eq!(again.code, Some(0), "{again:?}");
    std::fs::rename(w.path("other.db"), w.path("moved.db")).expect("move");
    let refused = run(admin_cmd(
        &w,
        &["backup", w.path("other.db").to_str().unwrap()],
    ));
    assert_eq!(refused.code, Some(2), "other.db.files exists: {refused:?}");

    // The database and the file store are lost; the key stays.
    w.kill_9();
    let data = w.data();
    for lost in ["natter.db", "natter.db-wal", "natter.db-shm"] {
        let _ = std::fs::remove_file(data.join(lost));
    }
    std::fs::remove_dir_all(data.join("files")).expect("remove the file store");
    let out = admin(&w, &["restore", backup.to_str().unwrap()]);
    assert!(out.contains("1 stored file"), "{out}");
    w.start_again(1);

    let got = w.path("report-bob.pdf");
    w.ok("bob", &["file", "get", &id, "--out", got.to_str().unwrap()]);
    assert_eq!(hash_of(&got), hash);
}

fn admin_cmd(w: &Files, args: &[&str]) -> std::process::Command {
    let mut cmd = natter();
    cmd.arg("admin")
        .args(args)
        .arg("--data")
        .arg(w.data())
        .current_dir(w.dir.path());
    cmd
}

/// `natter admin ARGS --data DATA`: its stdout (it must succeed).
fn admin(w: &Files, args: &[&str]) -> String {
    let out = run(admin_cmd(w, args));
    assert_eq!(out.code, Some(0), "natter admin {args:?}: {out:?}");
    out.stdout
}
