//! `natter passwd`: change the password of `-u`. Every other session of the
//! account ends at once; this command's session gets a fresh token, saved
//! for the next commands.

use std::path::PathBuf;

use serde_json::json;

use super::common::{self, ClientArgs, Home, SecretSource, block_on, client_fail};
use super::output::{print_json, safe};
use crate::exit::Fail;

/// `natter passwd`.
#[derive(Debug, clap::Args)]
pub(crate) struct PasswdArgs {
    #[command(flatten)]
    pub(crate) common: ClientArgs,
    /// Read the new password from the first line of FILE (else the
    /// environment variable NATTER_NEW_PASSWORD, else a prompt, asked twice).
    #[arg(long, value_name = "FILE")]
    pub(crate) new_password_file: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Logs in with the current password and sets the new one.
pub(crate) fn passwd(args: PasswdArgs) -> Result<(), Fail> {
    block_on(async move {
        let home = Home::from_env()?;
        let name = args.common.user()?;
        let old = common::password(&args.common, name, false).await?;
        let source = SecretSource {
            file: args.new_password_file.as_deref(),
            flag: "--new-password-file",
            env: "NATTER_NEW_PASSWORD",
        };
        let new = common::secret(&source, format!("New password for {name}: "), true).await?;
        let conn = common::connect(&args.common, &home).await?;
        let failed = |what: &str, e| client_fail(conn.server, &format!("{what} {name}"), e);
        let user = conn.client.login(name, &old).await;
        let user = user.map_err(|e| failed("cannot log in as", e))?;
        let changed = conn.client.change_password(&old, &new).await;
        changed.map_err(|e| failed("cannot change the password of", e))?;
        // The fresh token: the next command resumes with it.
        common::save_token(&conn.client, &home.session_file(conn.server, name));
        super::e2e::rekey_device(&home, &args.common, &old, &new).await?;
        if args.json {
            print_json(&json!({ "user": user.name, "password_changed": true }));
        } else {
            let who = safe(&user.name);
            println!("password changed for {who}; every other session of {who} has ended");
        }
        Ok(())
    })
}
