//! `corral`: one binary for the management server and (later) agents, the
//! lightweight cluster and the CLI. This is the edge where errors become
//! `anyhow` reports and exit codes.

mod datastore;
mod login_cmd;
mod server_cmd;
mod shared_bootstrap;

use clap::{Parser, Subcommand};

/// mimalloc returns freed memory to the system promptly; glibc's allocator kept
/// the transient buffers of large lists and watch fan-out as resident memory.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "corral",
    version,
    about = "Multi-cluster Kubernetes management in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the management server: a Kubernetes-compatible API on an embedded store.
    Server(Box<server_cmd::ServerArgs>),
    /// Log in to a Corral server and store the token (~/.config/corral/credentials.json).
    Login(login_cmd::LoginArgs),
    /// Show who the stored token authenticates as.
    Whoami(login_cmd::WhoamiArgs),
    /// Revoke the stored token and forget it.
    Logout(login_cmd::LogoutArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CORRAL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Server(args) => runtime.block_on(server_cmd::run(*args)),
        Command::Login(args) => runtime.block_on(login_cmd::login(args)),
        Command::Whoami(args) => runtime.block_on(login_cmd::whoami(args)),
        Command::Logout(args) => runtime.block_on(login_cmd::logout(args)),
    }
}
