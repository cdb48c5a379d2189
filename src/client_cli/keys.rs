//! `natter keys`: this device's end-to-end encryption keys (publishing
//! them), and `natter keys verify USER`: the safety number to compare with
//! USER out of band, marking USER's devices verified; `natter keys remove
//! [DEVICE]` (see [`super::keys_remove`]).

use natter_api::DeviceKeys;
use natter_client::e2e::{self, safety_number};
use serde_json::json;

use super::common::{ClientArgs, Home, block_on};
use super::e2e::{announce, e2e_fail, open};
use super::output::{print_json, safe};
use crate::exit::Fail;

/// `natter keys [verify USER]`.
#[derive(Debug, clap::Args)]
pub(crate) struct KeysArgs {
    #[command(subcommand)]
    pub(crate) command: Option<KeysCommand>,
    #[command(flatten)]
    pub(crate) common: ClientArgs,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// What to do with the keys (default: show this device's).
#[derive(Debug, clap::Subcommand)]
pub(crate) enum KeysCommand {
    /// Show the safety number of my devices and USER's (compare it with
    /// USER in person or by phone) and mark USER's devices verified.
    Verify {
        #[command(flatten)]
        common: ClientArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The contact.
        #[arg(value_name = "USER")]
        contact: String,
    },
    /// Remove one of my devices from the server with its keys (default:
    /// this one, whose keys and encrypted history are then deleted from
    /// NATTER_HOME); another of mine by its curve25519 key or a unique
    /// prefix of it, as `natter keys` lists them.
    Remove {
        #[command(flatten)]
        common: ClientArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The device (curve25519 key or a unique prefix; default: this one).
        #[arg(value_name = "DEVICE")]
        device: Option<String>,
    },
}

/// Runs `natter keys`.
pub(crate) fn keys(args: KeysArgs) -> Result<(), Fail> {
    match args.command {
        None => block_on(show(args.common, args.json)),
        Some(KeysCommand::Verify {
            common,
            json,
            contact,
        }) => block_on(verify(common, json, contact)),
        Some(KeysCommand::Remove {
            common,
            json,
            device,
        }) => block_on(super::keys_remove::remove(common, json, device)),
    }
}

async fn show(args: ClientArgs, json: bool) -> Result<(), Fail> {
    let home = Home::from_env()?;
    let (session, device) = open(&args, &home, false).await?;
    let me = device.keys();
    let (_, all) = session
        .client
        .devices(&session.user.name)
        .await
        .map_err(|e| super::common::client_fail(session.server, "cannot list devices", e))?;
    if json {
        let devices: Vec<_> = all.iter().map(|d| device_json(d, d == &me)).collect();
        print_json(&json!({ "user": session.user.name, "devices": devices }));
        return Ok(());
    }
    println!("devices of {} (* = this one):", safe(&session.user.name));
    for d in &all {
        let mark = if d == &me { '*' } else { ' ' };
        println!("{mark} {}", fingerprint(d));
    }
    Ok(())
}

async fn verify(args: ClientArgs, json: bool, user: String) -> Result<(), Fail> {
    let home = Home::from_env()?;
    let (session, device) = open(&args, &home, false).await?;
    let server = session.server;
    let fail = |e| e2e_fail(server, "cannot fetch the devices", e);
    let me = session.user.name.clone();
    let (mine, _) = e2e::sync_devices(&session.client, &device, &me)
        .await
        .map_err(fail)?;
    let (theirs, news) = e2e::sync_devices(&session.client, &device, &user)
        .await
        .map_err(fail)?;
    announce(&news);
    let number = safety_number((&me, &mine), (&user, &theirs));
    device
        .verify(&user)
        .map_err(|e| Fail::new(crate::exit::OTHER, format!("cannot save: {e}")))?;
    if json {
        let devices: Vec<_> = theirs.iter().map(|d| device_json(d, false)).collect();
        print_json(
            &json!({ "user": user, "safety_number": number, "devices": devices, "verified": true }),
        );
        return Ok(());
    }
    println!("safety number with {}: {number}", safe(&user));
    println!(
        "compare it with {} out of band; their devices are now marked verified:",
        safe(&user)
    );
    for d in &theirs {
        println!("  {}", fingerprint(d));
    }
    Ok(())
}

pub(crate) fn fingerprint(d: &DeviceKeys) -> String {
    format!(
        "curve25519 {}  ed25519 {}",
        safe(&d.curve25519),
        safe(&d.ed25519)
    )
}

fn device_json(d: &DeviceKeys, this: bool) -> serde_json::Value {
    json!({ "curve25519": d.curve25519, "ed25519": d.ed25519, "this_device": this })
}
