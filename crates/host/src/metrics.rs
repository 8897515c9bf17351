//! `/metrics` in the Prometheus text format, for the agent and the edge: the data path
//! publishes snapshots, and this server renders the latest one on each scrape.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;

/// Renders the current metrics.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// Serves `GET /metrics` on `addr`: the address bound (port 0 picks one) and the task.
pub async fn serve(
    addr: SocketAddr,
    render: Render,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let render = render.clone();
            async move { ([("content-type", "text/plain; version=0.0.4")], render()) }
        }),
    );
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    Ok((local, task))
}
