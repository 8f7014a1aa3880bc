use anyhow::Context;
use aula_server::{Cli, Config};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,str0m=warn,is=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cfg = Config::load(Cli::parse())?;
    // One socket per student: take all the file descriptors the system allows.
    aula_server::net::raise_open_file_limit();
    let running = aula_server::start(cfg)
        .await
        .context("starting aula-server")?;
    running.ready.announce();
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    eprintln!("stopping");
    running.stop().await;
    Ok(())
}
