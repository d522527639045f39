//! Media measurements for docs/benchmarks.md and docs/media.md (release build):
//!
//! `cargo run --release -p natter --example media_bench -- image FILE [ROUNDS]`
//!   processes a JPEG as an image message would (hash, decode, orient, encode,
//!   thumbnail) on one thread and prints the median of each step.
//! `cargo run --release -p natter --example media_bench -- serve ADDR DIR`
//!   serves `POST /upload` (a message upload: `message_type` + `file`) with natter's
//!   streaming reader on a SQLite database in DIR, for the memory measurements
//!   (bench/media-memory drives it).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{FromRef, State};
use natter::background::TaskGroup;
use natter::config::{Command, Config};
use natter::media::Media;
use natter::media::images::{ImageLimits, process_message_image};
use natter::media::service::store_message_file;
use natter::media::upload::MessageUpload;
use natter::state::AppState;
use sha2::{Digest, Sha256};

/// The server's allocator (main.rs), so buffers are reused as they are there.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("image") => image(&args[2], args.get(3).map_or(15, |n| n.parse().unwrap())),
        Some("serve") => serve(&args[2], &args[3]).await?,
        _ => println!("usage: media_bench image FILE [ROUNDS] | serve ADDR DIR"),
    }
    Ok(())
}

fn image(path: &str, rounds: usize) {
    let bytes = std::fs::read(path).expect("read the image");
    let limits = ImageLimits {
        max_side: 16_384,
        max_alloc: 256 * 1024 * 1024,
    };
    let mut steps: Vec<[Duration; 6]> = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let hash = Sha256::digest(&bytes);
        let hashed = started.elapsed();
        let processed = process_message_image(&bytes, image::ImageFormat::Jpeg, &limits).unwrap();
        let total = started.elapsed();
        std::hint::black_box(hash);
        let t = processed.timings;
        steps.push([hashed, t.decode, t.orient, t.encode, t.thumbnail, total]);
    }
    let names = ["hash", "decode", "orient", "encode", "thumbnail", "total"];
    println!("{} bytes, {rounds} rounds, medians:", bytes.len());
    for (i, name) in names.iter().enumerate() {
        let mut values: Vec<Duration> = steps.iter().map(|s| s[i]).collect();
        values.sort();
        println!(
            "  {name:>9}: {:7.1} ms",
            values[values.len() / 2].as_secs_f64() * 1000.0
        );
    }
}

async fn serve(addr: &str, dir: &str) -> anyhow::Result<()> {
    let (cli, _) = natter::config::parse(["natter", "serve", "--storage-dir", dir])?;
    let Command::Serve(settings) = cli.command else {
        unreachable!()
    };
    let config = Config::resolve(*settings)?;
    let tasks = TaskGroup::default();
    let state = AppState::build(config, tasks.stop_token(), &tasks).await?;
    let media = Media::new(&state.config, state.storage.clone(), tasks.clone()).await;
    let app = axum::Router::new()
        .route("/upload", axum::routing::post(upload))
        .with_state(BenchState { app: state, media });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

#[derive(Clone)]
struct BenchState {
    app: AppState,
    media: Media,
}

impl FromRef<BenchState> for Media {
    fn from_ref(state: &BenchState) -> Media {
        state.media.clone()
    }
}

async fn upload(
    State(BenchState { app: state, media }): State<BenchState>,
    MessageUpload(mut upload): MessageUpload,
) -> Result<Json<serde_json::Value>, natter::error::ApiError> {
    let stored = store_message_file(&media, &state.db, &mut upload).await?;
    Ok(Json(serde_json::json!({ "size": stored.map(|s| s.size) })))
}
