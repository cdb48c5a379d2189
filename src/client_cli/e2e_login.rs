//! The end-to-end encryption device of a home is created at its first
//! login (issue 15): after every password login — `natter register`, the
//! first command of a home, `natter chat` — a home without a device
//! creates one (Olm identity keys, unlocked by the account password) and
//! publishes its identity keys and one-time keys, so contacts can start
//! encrypted conversations with this user at once.
//!
//! Best effort: a device that cannot be published (the user has the most
//! devices allowed, or the server refused) is not kept, and the command
//! goes on with a warning.

use natter_client::Client;
use natter_client::e2e::{self, E2eError};

use super::common::{ClientArgs, Home};
use super::e2e::{device_file, open_device_with};
use super::keys_remove::delete_local;
use super::output::safe;

/// True if the password can be had without asking on the command line:
/// `--password-file`, NATTER_PASSWORD, or a terminal to prompt on.
pub(crate) fn password_at_hand(args: &ClientArgs) -> bool {
    args.password_file.is_some()
        || std::env::var_os("NATTER_PASSWORD").is_some()
        || std::io::IsTerminal::is_terminal(&std::io::stdin())
}

/// After `client` logged in with `password`: creates and publishes this
/// home's device if it has none yet (see the module comment).
pub(crate) async fn first_login(client: &Client, args: &ClientArgs, home: &Home, password: &str) {
    let Ok(file) = device_file(home, args) else {
        return;
    };
    if file.exists() {
        return;
    }
    let mut device = match open_device_with(home, args, password.to_owned()).await {
        Ok(device) => device,
        Err(fail) => {
            let why = safe(&fail.message);
            eprintln!("natter: warning: no end-to-end encryption device here: {why}");
            return;
        }
    };
    let Err(e) = e2e::publish(client, &mut device).await else {
        return;
    };
    drop(device);
    let _ = delete_local(&file);
    client.set_e2e_device(None).await;
    let hint = match &e {
        E2eError::Client(c) if c.code() == Some(natter_api::ErrorCode::LimitReached) => {
            " (`natter keys remove DEVICE` frees a place)"
        }
        _ => "",
    };
    let why = safe(&e.to_string()).into_owned();
    eprintln!("natter: warning: no end-to-end encryption device here: {why}{hint}");
}

/// After `natter register`: logs in once on the same connection to create
/// and publish the new account's device, then ends that login session (the
/// next command logs in as before). Best effort, like [`first_login`].
pub(crate) async fn after_register(
    client: &Client,
    args: &ClientArgs,
    home: &Home,
    password: &str,
) {
    let Ok(name) = args.user() else {
        return;
    };
    if let Err(e) = client.login(name, password).await {
        let why = safe(&e.to_string()).into_owned();
        eprintln!("natter: warning: no end-to-end encryption device here: {why}");
        return;
    }
    first_login(client, args, home, password).await;
    let _ = client.logout().await;
}
