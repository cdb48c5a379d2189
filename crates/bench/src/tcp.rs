//! `--reference tcp`: the same workload through a minimal TCP relay (one
//! connection per client; wire format and relay in [`crate::relay`]).

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};

use crate::args::BenchArgs;
use crate::plan::Plan;
use crate::relay::{self, Groups};
use crate::report::ReferenceReport;

/// Runs the relay on `addr` until the process ends (`natter bench --relay`).
pub(crate) async fn serve_relay(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await.context("bind the relay")?;
    eprintln!("natter bench: tcp relay on {}", listener.local_addr()?);
    relay(listener).await;
    Ok(())
}

async fn relay(listener: TcpListener) {
    let groups = Groups::default();
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let (rd, wr) = stream.into_split();
        tokio::spawn(relay::relay_conn(rd, wr, groups.clone()));
    }
}

/// Runs the workload through a relay (in-process, or `--tcp-relay`).
pub(crate) async fn run(args: &BenchArgs, plan: &Plan) -> anyhow::Result<ReferenceReport> {
    let addr = match args.tcp_relay {
        Some(addr) => addr,
        None => {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            tokio::spawn(relay(listener));
            addr
        }
    };
    let mut streams = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        let stream = TcpStream::connect(addr)
            .await
            .context("connect to the relay")?;
        stream.set_nodelay(true)?;
        streams.push(stream.into_split());
    }
    relay::drive(args, plan, "tcp", streams).await
}
