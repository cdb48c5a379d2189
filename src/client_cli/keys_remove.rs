//! `natter keys remove [DEVICE]`: removes one of my end-to-end encryption
//! devices from the server with its keys. By default this home's device,
//! whose local file (its keys and the encrypted history) is deleted too, so
//! it is not published again; another of my devices by its curve25519 key
//! or a unique prefix of it. Contacts learn of it ("bob removed a device")
//! when they next look at my devices, as they learn of added ones.

use std::path::Path;

use natter_api::DeviceKeys;
use serde_json::json;

use super::common::{self, ClientArgs, Home, client_fail};
use super::e2e::{device_file, open_device};
use super::keys::fingerprint;
use super::output::{print_json, safe};
use crate::exit::{Fail, OTHER, USAGE};

/// Shortest accepted prefix of a device key.
const MIN_PREFIX: usize = 6;

/// Runs `natter keys remove [DEVICE]`.
pub(crate) async fn remove(
    args: ClientArgs,
    json: bool,
    device: Option<String>,
) -> Result<(), Fail> {
    let home = Home::from_env()?;
    let file = device_file(&home, &args)?;
    let this = this_device(&home, &args, &file).await?;
    let session = common::open(&args, &home, false).await?;
    let server = session.server;
    let me = session.user.name.clone();
    let listed = session.client.devices(&me).await;
    let (_, mine) = listed.map_err(|e| client_fail(server, "cannot list devices", e))?;
    let target = match device {
        Some(prefix) => pick(&mine, &prefix)?,
        None => this.clone().ok_or_else(|| {
            Fail::new(USAGE, "this home has no device: name one of `natter keys`")
        })?,
    };
    let removed = session.client.remove_device(&target).await;
    removed.map_err(|e| client_fail(server, "cannot remove the device", e))?;
    let here = this.as_deref() == Some(target.as_str());
    if here {
        delete_local(&file)?;
    }
    let d = mine.iter().find(|d| d.curve25519 == target);
    if json {
        print_json(&json!({ "removed": target, "this_device": here }));
    } else if here {
        println!("removed this device; its keys and encrypted history here are deleted");
    } else {
        let shown = d.map_or_else(|| safe(&target).into_owned(), fingerprint);
        println!("removed the device {shown}");
    }
    Ok(())
}

/// This home's device key, if it has a device (unlocked with the password).
async fn this_device(home: &Home, args: &ClientArgs, file: &Path) -> Result<Option<String>, Fail> {
    if !file.exists() {
        return Ok(None);
    }
    let device = open_device(home, args).await?;
    Ok(Some(device.keys().curve25519))
}

/// The one device of `mine` whose key is or starts with `prefix`.
fn pick(mine: &[DeviceKeys], prefix: &str) -> Result<String, Fail> {
    if let Some(d) = mine.iter().find(|d| d.curve25519 == prefix) {
        return Ok(d.curve25519.clone());
    }
    if prefix.chars().count() < MIN_PREFIX {
        let hint = format!("give at least {MIN_PREFIX} characters of the device key");
        return Err(Fail::new(USAGE, hint));
    }
    let matching: Vec<&DeviceKeys> = mine
        .iter()
        .filter(|d| d.curve25519.starts_with(prefix))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one.curve25519.clone()),
        [] => Err(Fail::new(
            USAGE,
            format!("no device of yours starts with {}", safe(prefix)),
        )),
        _ => Err(Fail::new(
            USAGE,
            format!("{} matches several devices: give more of it", safe(prefix)),
        )),
    }
}

/// Deletes the device's SQLite file with its WAL and shared-memory files.
pub(crate) fn delete_local(file: &Path) -> Result<(), Fail> {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = file.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(&name) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                let what = format!("the device was removed, but {}: {e}", file.display());
                return Err(Fail::new(OTHER, what));
            }
        }
    }
    Ok(())
}
