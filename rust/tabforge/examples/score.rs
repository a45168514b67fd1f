//! The README's "In a Rust backend" example: an Axum app with its own `/score` route, and
//! the Open Inference Protocol routes merged in. `tests/test_rust_example.py` checks that
//! this file is the README's code, builds it and calls it.
use std::sync::Arc;

use axum::{extract::State, routing::post, Json, Router};
use tabforge::{Model, Prediction, Registry};

#[derive(serde::Deserialize, serde::Serialize)]
struct Customer {
    tenure_months: i64,
    monthly_charges: Option<f64>,
    total_charges: Option<f64>,
    support_calls: i64,
    contract: String,
    internet_service: String,
    payment_method: Option<String>,
    region: String,
    senior: bool,
}

async fn score(
    State(model): State<Arc<Model>>,
    Json(customers): Json<Vec<Customer>>,
) -> Result<Json<Vec<Prediction>>, tabforge::Error> {
    Ok(Json(model.predict_async(customers).await?))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = Registry::open("models")?;
    let model = Arc::new(registry.load("churn@production")?); // sha256-checked
    let models = tabforge::axum::Models::load(registry, Default::default()); // every model
    let app = Router::new()
        .route("/score", post(score))
        .with_state(model)
        .merge(tabforge::axum::router(models)); // /v2/... and /v1/..., as tabforge serve
    let addr = std::env::var("SCORE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    axum::serve(tokio::net::TcpListener::bind(addr).await?, app).await?;
    Ok(())
}
