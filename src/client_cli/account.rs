//! `natter register` and `natter users`.

use serde_json::json;

use super::common::{self, Home, block_on, client_fail};
use super::output::{print_json, safe, utc};
use super::{ListArgs, RegisterArgs};
use crate::exit::Fail;

/// Creates the account `-u` (the password is asked twice on a terminal).
pub(crate) fn register(args: RegisterArgs) -> Result<(), Fail> {
    block_on(async move {
        let home = Home::from_env()?;
        let name = args.common.user()?;
        let password = common::password(&args.common, name, true).await?;
        let conn = common::connect(&args.common, &home).await?;
        let user = conn.client.register(name, &password).await;
        let user =
            user.map_err(|e| client_fail(conn.server, &format!("cannot register {name}"), e))?;
        super::e2e_login::after_register(&conn.client, &args.common, &home, &password).await;
        if args.json {
            print_json(&json!({ "user": user.name, "id": user.id.0, "server": conn.server }));
        } else {
            println!("registered {} on {}", safe(&user.name), conn.server);
        }
        Ok(())
    })
}

/// Lists every user: online, or offline with when they were last seen.
pub(crate) fn users(args: ListArgs) -> Result<(), Fail> {
    block_on(async move {
        let home = Home::from_env()?;
        let session = common::open(&args.common, &home, false).await?;
        let list = session.client.presence().await;
        let list = list.map_err(|e| client_fail(session.server, "cannot list users", e))?;
        if args.json {
            let users: Vec<_> = list
                .iter()
                .map(|p| json!({"name": p.user.name, "online": p.online, "last_seen_ms": p.last_seen_ms}))
                .collect();
            print_json(&json!({ "users": users }));
            return Ok(());
        }
        for p in &list {
            let status = match (p.online, p.last_seen_ms) {
                (true, _) => "online".to_owned(),
                (false, Some(ms)) => format!("offline, last seen {} UTC", utc(ms)),
                (false, None) => "offline, never seen".to_owned(),
            };
            let dot = if p.online { '●' } else { '○' };
            println!("{dot} {:<20} {status}", safe(&p.user.name));
        }
        Ok(())
    })
}
