//! Media: the streaming upload reader, sniffing, image processing, the media rows,
//! the disks (local always, S3 against a real S3-API server: TEST_S3_ENDPOINT, see
//! tests/s3/start) and the /media route. These tests drive the module itself
//! through a small router built from its extractors and service functions; the
//! routes that carry files (messages, avatars) are tested in media_routes.rs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Json;
use axum::extract::{FromRef, State};
use bytes::Bytes;
use image::{DynamicImage, RgbImage};
use natter::config::{MediaDiskKind, Settings};
use natter::media::Media;
use natter::media::service::{Purpose, StoredMedia, collect, store_message_file, store_upload};
use natter::media::store as media_store;
use natter::media::upload::{AvatarUpload, MessageUpload};
use natter::state::AppState;
use natter::storage::signing::UrlSigner;
use natter::storage::{ObjectKey, Storage, Variant};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestServer};

// ---- fixtures ---------------------------------------------------------------

pub(crate) fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 4) as u8, 90])
    });
    natter::media::images::encode_jpeg(&DynamicImage::ImageRgb8(image), 90).unwrap()
}

/// A phone-style JPEG: EXIF with Orientation and a GPS block (latitude ref "N").
pub(crate) fn phone_jpeg(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&[0, 2, 0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[
        0, 0, 0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0x26, 0, 0, 0, 0,
    ]);
    tiff.extend_from_slice(&[0, 1, 0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0, 0, 0, 0, 0]);
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(&tiff);
    let plain = jpeg(width, height);
    [&plain[..2], &app1, &plain[2..]].concat()
}

pub(crate) fn has_exif(bytes: &[u8]) -> bool {
    bytes.windows(6).any(|w| w == b"Exif\0\0")
}

pub(crate) const EXE: &[u8] =
    b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0\xb8\0\0\0\0\0\0\0@\0\0\0\0\0\0\0PE\0\0";
const PDF: &[u8] = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n";

/// A PNG whose header claims 30,000 x 30,000 pixels (a decompression bomb's header).
fn huge_png() -> Vec<u8> {
    let mut png = Vec::new();
    DynamicImage::new_luma8(1, 1)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png[16..20].copy_from_slice(&30_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&30_000u32.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for byte in bytes {
        crc ^= *byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

const BOUNDARY: &str = "natter-test-boundary";

/// A multipart body: text fields, then optionally the file part.
fn form(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((file_name, bytes)) = file {
        body.extend_from_slice(file_head(file_name).as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn file_head(file_name: &str) -> String {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
}

// ---- an upload server built from the media module --------------------------

#[derive(Clone)]
struct UploadState {
    app: AppState,
    media: Media,
}

impl FromRef<UploadState> for Media {
    fn from_ref(state: &UploadState) -> Media {
        state.media.clone()
    }
}

fn describe(stored: &StoredMedia, fields: Value) -> Json<Value> {
    Json(json!({
        "id": stored.id,
        "key": stored.key.as_str(),
        "thumbnail_key": stored.thumbnail_key.as_ref().map(|k| k.as_str().to_string()),
        "mime_type": stored.mime_type,
        "size": stored.size,
        "width": stored.width,
        "height": stored.height,
        "reused": stored.reused,
        "fields": fields,
    }))
}

async fn upload_message(
    State(state): State<UploadState>,
    MessageUpload(mut upload): MessageUpload,
) -> Result<Json<Value>, natter::error::ApiError> {
    let fields = upload.fields_json();
    let stored = store_message_file(&state.media, &state.app.db, &mut upload).await?;
    Ok(describe(&stored.expect("a file"), fields))
}

async fn upload_avatar(
    State(state): State<UploadState>,
    AvatarUpload(mut upload): AvatarUpload,
) -> Result<Json<Value>, natter::error::ApiError> {
    let file = upload
        .file
        .take()
        .ok_or_else(|| natter::error::ApiError::field("file", "The file field is required."))?;
    let stored = store_upload(&state.media, &state.app.db, file, Purpose::Avatar).await?;
    Ok(describe(&stored, upload.fields_json()))
}

struct Uploads {
    server: TestServer,
    url: String,
    http: reqwest::Client,
}

impl Uploads {
    async fn start(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Uploads {
        let server = TestServer::start_with(backend, tweak).await;
        let state = UploadState {
            app: server.state().clone(),
            media: server.running.as_ref().unwrap().media.clone(),
        };
        let app = axum::Router::new()
            .route("/upload", axum::routing::post(upload_message))
            .route("/avatar", axum::routing::post(upload_avatar))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Uploads {
            server,
            url,
            http: reqwest::Client::new(),
        }
    }

    fn storage(&self) -> Storage {
        self.server.state().storage.clone()
    }

    fn media(&self) -> Media {
        self.server.running.as_ref().unwrap().media.clone()
    }

    async fn post(&self, route: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{route}", self.url))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn send(&self, message_type: &str, name: &str, bytes: &[u8]) -> (u16, Value) {
        self.post(
            "/upload",
            form(&[("message_type", message_type)], Some((name, bytes))),
        )
        .await
    }

    /// Files under the media root, temp files apart.
    fn stored_files(&self) -> Vec<PathBuf> {
        let root = self.server.state().config.media_root.join("media");
        let mut files = Vec::new();
        walk(&root, &mut files);
        files
    }

    fn temp_files(&self) -> usize {
        std::fs::read_dir(self.storage().tmp_dir()).unwrap().count()
    }

    /// Waits (bounded) for the temp folder to empty: the server drops a cancelled
    /// request's guard a moment after the client goes.
    async fn temp_files_settle(&self) -> usize {
        for _ in 0..50 {
            if self.temp_files() == 0 {
                return 0;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.temp_files()
    }
}

pub(crate) fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

async fn object_bytes(storage: &Storage, key: &str) -> Vec<u8> {
    use futures::TryStreamExt;
    let key = ObjectKey::parse(key).unwrap();
    let download = storage.get(&key, None).await.unwrap();
    let chunks: Vec<Bytes> = download.body.try_collect().await.unwrap();
    chunks.concat()
}

/// Makes a row look last handed out `minutes` ago, so collection may take it.
async fn age_row(server: &TestServer, id: i64, minutes: i64) {
    use sea_orm::{ConnectionTrait, Statement};
    let db = &server.state().db;
    let sql = format!(
        "UPDATE media SET updated_at = updated_at - {} WHERE id = {id}",
        minutes * 60_000
    );
    db.write
        .execute_raw(Statement::from_string(db.backend, sql))
        .await
        .unwrap();
}

// ---- every backend ----------------------------------------------------------

backend_tests! {
    async fn a_phone_photo_is_stripped_upright_thumbnailed_and_stored_once(backend: Backend) {
        let uploads = Uploads::start(backend, |_| {}).await;
        let photo = phone_jpeg(64, 48, 6);
        assert!(has_exif(&photo));
        let (status, first) = uploads.send("image", "IMG_0001.jpg", &photo).await;
        assert_eq!(status, 200, "{first}");
        assert_eq!(first["mime_type"], "image/jpeg");
        assert_eq!(first["size"], photo.len());
        assert_eq!((first["width"].as_u64(), first["height"].as_u64()), (Some(48), Some(64)));
        assert_eq!(first["reused"], false);

        let storage = uploads.storage();
        let stored = object_bytes(&storage, first["key"].as_str().unwrap()).await;
        assert!(!has_exif(&stored), "no EXIF segment in the stored copy");
        let decoded = image::load_from_memory(&stored).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (48, 64), "turned upright");
        let thumb = object_bytes(&storage, first["thumbnail_key"].as_str().unwrap()).await;
        let thumb = image::load_from_memory(&thumb).unwrap();
        assert!(thumb.width().max(thumb.height()) <= 320);

        let (status, second) = uploads.send("image", "copy.jpg", &photo).await;
        assert_eq!(status, 200);
        assert_eq!(second["reused"], true);
        assert_eq!(second["id"], first["id"]);
        assert_eq!(uploads.stored_files().len(), 2, "one clean copy and one thumbnail");
        assert_eq!(uploads.temp_files(), 0);
    }

    async fn unreferenced_media_is_collected_and_referenced_media_kept(backend: Backend) {
        let uploads = Uploads::start(backend, |_| {}).await;
        let (status, doc) = uploads.send("document", "notes.pdf", PDF).await;
        assert_eq!(status, 200, "{doc}");
        let id = doc["id"].as_i64().unwrap();
        let (media, db) = (uploads.media(), uploads.server.state().db.clone());
        let now = natter::clock::now_ms();

        assert!(!collect(&media, &db, id).await.unwrap(), "just handed out: kept");
        age_row(&uploads.server, id, 30).await;
        assert!(media_store::add_references(&db.write, id, 2, now).await.unwrap());
        age_row(&uploads.server, id, 30).await;
        assert!(!collect(&media, &db, id).await.unwrap(), "referenced: kept");
        media_store::drop_references(&db.write, id, 1).await.unwrap();
        assert!(!collect(&media, &db, id).await.unwrap(), "one reference left");
        media_store::drop_references(&db.write, id, 1).await.unwrap();
        assert!(collect(&media, &db, id).await.unwrap(), "nothing references it");
        assert!(media_store::find(&db.read, id).await.unwrap().is_none());
        assert!(uploads.stored_files().is_empty(), "its object is gone");
        assert!(!media_store::add_references(&db.write, id, 1, now).await.unwrap());

        let (status, again) = uploads.send("document", "notes.pdf", PDF).await;
        assert_eq!(status, 200);
        assert_eq!(again["reused"], false, "stored anew after collection");
        assert_eq!(uploads.stored_files().len(), 1);
    }
}

// ---- SQLite: upload rules ---------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sniffing_refuses_renamed_executables_and_wrong_types() {
    let uploads = Uploads::start(Backend::Sqlite, |_| {}).await;
    for (kind, name, bytes) in [
        ("image", "cat.jpg", EXE),
        ("document", "setup.pdf", EXE),
        ("document", "run.sh", b"#!/bin/sh\nrm -rf /\n".as_slice()),
        ("video", "film.mp4", PDF),
        ("image", "notes.jpg", PDF),
    ] {
        let (status, body) = uploads.send(kind, name, bytes).await;
        assert_eq!(status, 415, "{kind} {name}: {body}");
        assert_eq!(body["success"], false);
        assert!(body["message"].as_str().unwrap().len() > 10);
    }
    let (status, body) = uploads
        .post(
            "/upload",
            form(&[("message_type", "text")], Some(("a.pdf", PDF))),
        )
        .await;
    assert_eq!((status, body["errors"]["file"].is_array()), (422, true));
    let (status, body) = uploads
        .post("/upload", form(&[("message_type", "image")], None))
        .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (422, Some("The file field is required."))
    );
    assert_eq!(uploads.temp_files(), 0);
    assert!(uploads.stored_files().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_type_limit_is_enforced_while_streaming_and_the_partial_file_removed() {
    let uploads = Uploads::start(Backend::Sqlite, |s| {
        s.media.media_max_bytes_image = 64 * 1024;
        s.media.media_max_bytes_document = 1024 * 1024;
    })
    .await;
    let big = vec![7u8; 512 * 1024];
    // The type before the file: the image limit applies while streaming.
    let (status, body) = uploads.send("image", "big.jpg", &big).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(
        body["message"],
        "The file may not be greater than 64 kilobytes."
    );
    // The type after the file: the largest limit while streaming, the image one after.
    let late = form(&[], Some(("big.jpg", &big)));
    let late = [&late[..late.len() - BOUNDARY.len() - 6], b"--natter-test-boundary\r\nContent-Disposition: form-data; name=\"message_type\"\r\n\r\nimage\r\n--natter-test-boundary--\r\n"].concat();
    let (status, _) = uploads.post("/upload", late).await;
    assert_eq!(status, 413);
    // Past the largest limit: refused while streaming, long before the end.
    let (status, body) = uploads
        .send("document", "huge.bin", &vec![1u8; 3 * 1024 * 1024])
        .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(uploads.temp_files_settle().await, 0, "no partial file left");
    assert!(uploads.stored_files().is_empty());
    // At the limit exactly: accepted.
    let mut exact = PDF.to_vec();
    exact.resize(1024 * 1024, b' ');
    let (status, body) = uploads.send("document", "exact.pdf", &exact).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_leaves_no_partial_file() {
    let uploads = Uploads::start(Backend::Sqlite, |_| {}).await;
    let head = Bytes::from(format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"message_type\"\r\n\r\ndocument\r\n{}",
        file_head("half.bin")
    ));
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let sending = {
        let (url, http) = (uploads.url.clone(), uploads.http.clone());
        tokio::spawn(async move {
            http.post(format!("{url}/upload"))
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={BOUNDARY}"),
                )
                .body(body)
                .send()
                .await
        })
    };
    tx.send(Ok(head)).await.unwrap();
    for _ in 0..16 {
        tx.send(Ok(Bytes::from(vec![3u8; 64 * 1024])))
            .await
            .unwrap();
    }
    for _ in 0..50 {
        if uploads.temp_files() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(uploads.temp_files(), 1, "the upload is being written");
    tx.send(Err(std::io::Error::other("client gone")))
        .await
        .unwrap();
    drop(tx);
    let _ = sending.await;
    assert_eq!(
        uploads.temp_files_settle().await,
        0,
        "the partial file was removed"
    );
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_30000_pixel_png_is_422_and_avatars_are_640_jpegs() {
    let uploads = Uploads::start(Backend::Sqlite, |_| {}).await;
    let (status, body) = uploads.send("image", "bomb.png", &huge_png()).await;
    assert_eq!(status, 422, "{body}");
    let message = body["errors"]["file"][0].as_str().unwrap();
    assert!(message.contains("30000 x 30000"), "{message}");

    let (status, avatar) = uploads
        .post(
            "/avatar",
            form(&[], Some(("me.jpg", &phone_jpeg(1200, 900, 6)))),
        )
        .await;
    assert_eq!(status, 200, "{avatar}");
    assert_eq!(
        (avatar["width"].as_u64(), avatar["height"].as_u64()),
        (Some(480), Some(640))
    );
    assert_eq!(avatar["mime_type"], "image/jpeg");
    let stored = object_bytes(&uploads.storage(), avatar["key"].as_str().unwrap()).await;
    assert!(!has_exif(&stored));
    let (status, _) = uploads
        .post("/avatar", form(&[], Some(("me.jpg", PDF))))
        .await;
    assert_eq!(status, 415, "a non-image avatar");
    assert_eq!(uploads.temp_files(), 0);
}

// ---- SQLite: the /media route ----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_media_route_checks_signatures_and_serves_ranges_and_etags() {
    let uploads =
        Uploads::start(Backend::Sqlite, |s| s.app_url = "http://127.0.0.1:9".into()).await;
    let (status, doc) = uploads
        .send("document", "r\u{e9}sum\u{e9} \"v2\".pdf", PDF)
        .await;
    assert_eq!(status, 200, "{doc}");
    let key = ObjectKey::parse(doc["key"].as_str().unwrap()).unwrap();
    let storage = uploads.storage();
    let signed = storage
        .signed_url(&key, Some("r\u{e9}sum\u{e9} \"v2\".pdf"))
        .await
        .unwrap();
    let ttl = signed.expires_at - natter::storage::unix_now();
    assert!((3600..=3900).contains(&ttl), "{ttl}");
    // The URL points at APP_URL; fetch the same path and query from the test server.
    let url = signed
        .url
        .replace("http://127.0.0.1:9", &uploads.server.url());
    let http = reqwest::Client::new();

    let response = http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["etag"].to_str().unwrap(), key.etag());
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"r_sum_ _v2_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22v2%22.pdf"
    );
    let max_age: u64 = headers["cache-control"]
        .to_str()
        .unwrap()
        .trim_start_matches("private, max-age=")
        .parse()
        .unwrap();
    assert!(max_age <= ttl && max_age + 5 >= ttl);
    assert_eq!(response.bytes().await.unwrap(), PDF);

    let ranged = http
        .get(&url)
        .header("range", "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(
        ranged.headers()["content-range"],
        format!("bytes 0-3/{}", PDF.len())
    );
    assert_eq!(ranged.bytes().await.unwrap(), &PDF[..4]);
    let outside = http
        .get(&url)
        .header("range", "bytes=100000-")
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 416);
    assert_eq!(
        outside.headers()["content-range"],
        format!("bytes */{}", PDF.len())
    );
    let cached = http
        .get(&url)
        .header("if-none-match", key.etag())
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);

    // Every byte of the signature, the path and the name matters; so does the time.
    let forbidden = |url: String| {
        let http = http.clone();
        async move {
            let response = http.get(&url).send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let at = url.find("signature=").unwrap() + "signature=".len() + 7;
    let mut tampered = url.clone().into_bytes();
    tampered[at] = if tampered[at] == b'a' { b'b' } else { b'a' };
    let (status, body) = forbidden(String::from_utf8(tampered).unwrap()).await;
    assert_eq!((status, body["success"].as_bool()), (403, Some(false)));
    assert_eq!(body["message"], "This link is invalid or has expired.");
    let other_path = url.replacen(&key.as_str()[..12], &format!("{}0", &key.as_str()[..11]), 1);
    assert_eq!(forbidden(other_path).await.0, 403);
    assert_eq!(forbidden(url.replace("name=r", "name=x")).await.0, 403);
    assert_eq!(
        forbidden(url.split('?').next().unwrap().to_string())
            .await
            .0,
        403
    );
    let signer = UrlSigner::new(
        &uploads.server.state().config.app_key,
        &uploads.server.url(),
    );
    let expired = signer.url(&key, natter::storage::unix_now() - 1, None);
    assert_eq!(forbidden(expired).await.0, 403);
    let unknown = key.sibling(Variant::Original, "zip").unwrap();
    let missing = signer.url(&unknown, natter::storage::unix_now() + 60, None);
    assert_eq!(forbidden(missing).await.0, 404);

    // The thumbnail of an image is a JPEG served inline.
    let (_, photo) = uploads.send("image", "p.jpg", &jpeg(40, 30)).await;
    let thumb = ObjectKey::parse(photo["thumbnail_key"].as_str().unwrap()).unwrap();
    let thumb_url = storage
        .signed_url(&thumb, None)
        .await
        .unwrap()
        .url
        .replace("http://127.0.0.1:9", &uploads.server.url());
    let response = http.get(&thumb_url).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    assert_eq!(response.headers()["content-disposition"], "inline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_the_media_route() {
    let server = TestServer::start(Backend::Sqlite).await;
    let document: Value = reqwest::get(format!("{}/api/openapi.json", server.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let route = &document["paths"]["/media/{path}"]["get"];
    assert!(route["responses"]["206"].is_object(), "{route}");
    assert!(route["responses"]["403"]["content"]["application/json"].is_object());
}

// ---- ffmpeg -------------------------------------------------------------------

/// ffmpeg is required under CI (.ci/run installs it); elsewhere its absence is a
/// visible skip.
pub(crate) async fn ffmpeg_or_skip() -> Option<natter::media::probe::Ffmpeg> {
    let found = natter::media::probe::Ffmpeg::detect().await;
    if found.is_none() {
        crate::common::skip("ffmpeg and ffprobe on the PATH");
    }
    found
}

pub(crate) fn generate(args: &[&str], out: &Path) {
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn ffmpeg_gives_durations_and_posters_and_its_absence_nulls() {
    let Some(ffmpeg) = ffmpeg_or_skip().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("clip.mp4");
    generate(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=1.5:size=640x360:rate=10",
            "-pix_fmt",
            "yuv420p",
        ],
        &video,
    );
    let audio = dir.path().join("voice.ogg");
    generate(
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            "-c:a",
            "libopus",
        ],
        &audio,
    );

    let probe = ffmpeg.probe(&video).await.unwrap();
    assert!(
        (1400..=1600).contains(&probe.duration_ms.unwrap()),
        "{probe:?}"
    );
    assert_eq!(
        (probe.width, probe.height, probe.has_video),
        (Some(640), Some(360), true)
    );
    let poster = ffmpeg.poster(&video).await.unwrap();
    let poster = image::load_from_memory(&poster).unwrap();
    assert_eq!((poster.width(), poster.height()), (320, 180));

    let probe = ffmpeg.probe(&audio).await.unwrap();
    assert!(
        (1900..=2100).contains(&probe.duration_ms.unwrap()),
        "{probe:?}"
    );
    assert!(!probe.has_video);
    assert!(ffmpeg.poster(&audio).await.is_none());
    assert!(
        ffmpeg
            .probe(&dir.path().join("missing.mp4"))
            .await
            .is_none()
    );

    // The bytes ffmpeg made pass the sniffing of their kinds.
    let head = |p: &Path| std::fs::read(p).unwrap();
    use natter::media::sniff::{MediaKind, classify};
    assert_eq!(
        classify(MediaKind::Video, &head(&video)).unwrap().mime,
        "video/mp4"
    );
    assert_eq!(
        classify(MediaKind::Audio, &head(&audio)).unwrap().mime,
        "audio/ogg"
    );
}

// ---- both disks ----------------------------------------------------------------

/// Where the S3 tests send their requests: TEST_S3_ENDPOINT (tests/s3/start). Under
/// CI a missing endpoint fails; elsewhere it is a visible skip.
pub(crate) fn s3_endpoint() -> Option<String> {
    let endpoint = std::env::var("TEST_S3_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty());
    if endpoint.is_none() {
        crate::common::skip("TEST_S3_ENDPOINT (eval \"$(tests/s3/start)\")");
    }
    endpoint
}

/// Points the settings at a fresh bucket of the S3 test server.
pub(crate) async fn use_s3(settings: &mut Settings, endpoint: &str) {
    let bucket = format!(
        "natter-{}",
        natter::secrets::random_token(12).to_lowercase()
    );
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(
        created.status().is_success(),
        "cannot create bucket {bucket}"
    );
    let media = &mut settings.media;
    media.media_disk = MediaDiskKind::S3;
    media.aws_bucket = Some(bucket);
    media.aws_endpoint = Some(endpoint.to_string());
    media.aws_access_key_id = Some("natter-test".into());
    media.aws_secret_access_key = Some("natter-test-secret".into());
    media.aws_use_path_style_endpoint = true;
}

macro_rules! disk_tests {
    ($(async fn $name:ident($uploads:ident : Uploads) $body:block)*) => {
        $(
            mod $name {
                use super::*;

                async fn run($uploads: Uploads) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn local() {
                    run(Uploads::start(Backend::Sqlite, |_| {}).await).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn s3() {
                    let Some(endpoint) = s3_endpoint() else { return };
                    let mut settings = crate::common::test_settings(Path::new("/nonexistent"));
                    use_s3(&mut settings, &endpoint).await;
                    let media = settings.media.clone();
                    run(Uploads::start(Backend::Sqlite, move |s| s.media = media).await).await
                }
            }
        )*
    };
}

disk_tests! {
    async fn put_get_range_head_and_delete(uploads: Uploads) {
        let storage = uploads.storage();
        let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let small = ObjectKey::derive(sha, Variant::Thumbnail, "jpg").unwrap();
        storage.put_bytes(&small, Bytes::from_static(b"hello world"), "image/jpeg").await.unwrap();
        assert_eq!(storage.head(&small).await.unwrap(), Some(11));
        assert_eq!(object_bytes(&storage, small.as_str()).await, b"hello world");
        let range = storage.get(&small, Some(6..11)).await.unwrap();
        assert_eq!((range.size, range.range.clone()), (11, 6..11));

        // 20 MiB from a temp file: a rename on local, a multipart upload on S3.
        let large = ObjectKey::derive(sha, Variant::Original, "bin").unwrap();
        let (temp, mut file) = storage.create_temp().await.unwrap();
        let chunk: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
        for _ in 0..20 {
            tokio::io::AsyncWriteExt::write_all(&mut file, &chunk).await.unwrap();
        }
        file.sync_all().await.unwrap();
        drop(file);
        let temp_path = temp.path().to_path_buf();
        storage.put_temp(&large, temp, "application/octet-stream").await.unwrap();
        assert!(!temp_path.exists(), "the temp file is gone");
        assert_eq!(storage.head(&large).await.unwrap(), Some(20 * 1024 * 1024));
        let tail = storage.get(&large, Some(20 * 1024 * 1024 - 3..20 * 1024 * 1024)).await.unwrap();
        use futures::TryStreamExt;
        let tail: Vec<Bytes> = tail.body.try_collect().await.unwrap();
        let expected: Vec<u8> = (20 * 1024 * 1024 - 3..20 * 1024 * 1024).map(|i| (i % (1024 * 1024) % 251) as u8).collect();
        assert_eq!(tail.concat(), expected);

        storage.delete(&large).await.unwrap();
        assert!(!storage.exists(&large).await.unwrap());
        storage.delete(&large).await.unwrap();
        assert!(matches!(storage.get(&large, None).await, Err(natter::storage::StorageError::NotFound)));
        assert!(storage.exists(&small).await.unwrap());
    }

    async fn uploads_are_stored_once_and_signed_urls_work(uploads: Uploads) {
        let photo = phone_jpeg(100, 80, 1);
        let (status, first) = uploads.send("image", "a.jpg", &photo).await;
        assert_eq!(status, 200, "{first}");
        let (_, second) = uploads.send("image", "b.jpg", &photo).await;
        assert_eq!((second["reused"].as_bool(), &second["id"]), (Some(true), &first["id"]));
        let storage = uploads.storage();
        let key = ObjectKey::parse(first["key"].as_str().unwrap()).unwrap();
        let stored = object_bytes(&storage, key.as_str()).await;
        assert!(!has_exif(&stored));
        assert_eq!(image::load_from_memory(&stored).unwrap().width(), 100);
        if storage.kind() == MediaDiskKind::S3 {
            // A presigned URL, fetched from the S3 server itself.
            let signed = storage.signed_url(&key, Some("photo.jpg")).await.unwrap();
            assert!(signed.url.contains("X-Amz-Signature="), "{}", signed.url);
            let response = reqwest::get(&signed.url).await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.bytes().await.unwrap(), stored);
        } else {
            assert_eq!(uploads.stored_files().len(), 2);
        }
    }
}
