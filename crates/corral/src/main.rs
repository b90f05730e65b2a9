//! `corral`: one binary for the management server and (later) agents, the
//! lightweight cluster and the CLI. This is the edge where errors become
//! `anyhow` reports and exit codes.

mod agent_cmd;
mod allocator;
mod cluster_cmd;
mod controllers_client;
mod datastore;
mod kubeconfig_file;
mod login_cmd;
mod server_cmd;
mod shared_bootstrap;

use clap::{Parser, Subcommand};

/// mimalloc (see `allocator.rs` for why and how).
#[global_allocator]
static GLOBAL: allocator::Mimalloc = allocator::Mimalloc;

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
    /// Run a cluster agent: keep a tunnel from this cluster to the Corral server.
    Agent(Box<agent_cmd::AgentArgs>),
    /// Manage downstream clusters.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Print a kubeconfig with a context for every cluster you can reach.
    Kubeconfig(cluster_cmd::KubeconfigArgs),
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Register a cluster: prints the command that installs its agent, or
    /// (--direct) registers one the server reaches with a kubeconfig's credential.
    Add(cluster_cmd::ClusterAddArgs),
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
        Command::Agent(args) => runtime.block_on(agent_cmd::run(*args)),
        Command::Cluster(ClusterCommand::Add(args)) => runtime.block_on(cluster_cmd::add(args)),
        Command::Kubeconfig(args) => runtime.block_on(cluster_cmd::kubeconfig(args)),
    }
}

pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
