//! `camview`: the whole product in one process. The api, signaling, media-controller and
//! media-engine share an in-process bus and registry, so nothing needs installing: no Redis,
//! no Kurento. `--demo` adds a simulated camera that follows the API's keepalive answers.
//! `camview user …` and `camview camera …` manage users and camera secrets ([`cli`]).

mod cli;
mod demo;
mod server;

use std::process::ExitCode;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "camview: camera livestreams in the browser, all services in one process",
    args_conflicts_with_subcommands = true
)]
#[command(
    after_help = "Without a subcommand, runs the server. The subcommands manage the store of the server in CAMVIEW_DATA_DIR, or of a split deployment when REDIS_URL is set."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<cli::Command>,
    /// Also start a simulated camera on a stream and print a one-time login link.
    #[arg(long)]
    demo: bool,
    /// Camera id of the demo stream.
    #[arg(long, default_value = "demo")]
    demo_camera: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Cli::parse();
    match args.command {
        Some(command) => cli::run(command).await,
        None => match server::run(server::Options { demo: args.demo, demo_camera: args.demo_camera }).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("camview: {e:#}");
                ExitCode::from(cli::EXIT_RUNTIME)
            }
        },
    }
}
