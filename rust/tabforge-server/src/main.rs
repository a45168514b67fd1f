//! `tabforge-server`: the tabforge crate's Axum router over a registry, as a process.
//!
//! The flags and variables of `tabforge serve` that apply to it; `tabforge serve --engine
//! rust` starts it for a Python user. Hot reload follows the registry; SIGTERM finishes
//! in-flight requests and exits 0.

mod settings;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tabforge::serve::{not_found, router, Models};
use tabforge::Registry;

use crate::settings::Settings;

// Requests allocate many small buffers on two threads at once; glibc's malloc took ~12% of
// the server's CPU under load, mimalloc a fraction (benchmarks/RESULTS.md, "Rust engine").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let settings = Settings::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TABFORGE_LOG")
                .unwrap_or_else(|_| "info,ort=warn".into()),
        )
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.io_thread_count())
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return refuse(&format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(serve(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => refuse(&format!("{e:#}")),
    }
}

fn refuse(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let config = settings.config()?;
    let registry = Registry::open(&settings.registry).map_err(|e| anyhow::anyhow!("{e}"))?;
    check_models(&registry, &config.models, settings.watching())?;
    tabforge::engine::init().map_err(|e| anyhow::anyhow!("{e}"))?;
    let listener = listener(&settings).await?;
    let bound = listener.local_addr()?;
    let models = Models::from_registry(registry, config);
    let loading = models.clone();
    let loaded = tokio::task::spawn_blocking(move || loading.refresh());
    if settings.watching() {
        tokio::spawn(watch(models.clone(), loaded, settings.watch_interval));
    }
    let app = router(models.clone()).fallback(not_found);
    eprintln!("tabforge-server running on http://{bound} (Press CTRL+C to quit)");
    let timeout = Duration::from_secs_f64(settings.shutdown_timeout);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown(timeout))
        .await
        .map_err(|e| anyhow::anyhow!("server failed: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// The socket `tabforge serve --engine rust` bound and handed over, or one bound here.
async fn listener(settings: &Settings) -> anyhow::Result<tokio::net::TcpListener> {
    if let Some(fd) = settings.listen_fd {
        use std::os::fd::FromRawFd;
        // SAFETY: the parent process bound this descriptor, listened on it and handed it to
        // this process on exec; nothing else here owns it.
        let std_listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
        std_listener.set_nonblocking(true)?;
        return Ok(tokio::net::TcpListener::from_std(std_listener)?);
    }
    let addr = settings.address()?;
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                anyhow::anyhow!("port {} on {} is in use", addr.port(), addr.ip())
            }
            _ => anyhow::anyhow!("cannot listen on {addr}: {e}"),
        })
}

fn check_models(registry: &Registry, wanted: &[String], watch: bool) -> anyhow::Result<()> {
    let missing: Vec<&str> = wanted
        .iter()
        .map(String::as_str)
        .filter(|n| registry.versions(n).map(|v| v.is_empty()).unwrap_or(true))
        .collect();
    if !missing.is_empty() {
        anyhow::bail!("{}", registry.unknown_many(&missing));
    }
    let names = registry.names().map_err(|e| anyhow::anyhow!("{e}"))?;
    if names.is_empty() && wanted.is_empty() {
        if !watch {
            anyhow::bail!(
                "registry {} holds no models (and --no-watch is set)",
                registry.root().display()
            );
        }
        tracing::warn!(
            "registry {} holds no models yet; models trained into it will be served",
            registry.root().display()
        );
    }
    Ok(())
}

async fn watch(models: Arc<Models>, first: tokio::task::JoinHandle<bool>, every: f64) {
    let _ = first.await;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(every.max(0.05)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let m = models.clone();
        let _ = tokio::task::spawn_blocking(move || m.refresh()).await;
    }
}

/// SIGTERM or Ctrl-C: stop accepting, let in-flight requests finish, give up after `timeout`.
async fn shutdown(timeout: Duration) {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        tracing::warn!("shutdown timeout reached; exiting");
        std::process::exit(0);
    });
}
