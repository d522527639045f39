//! Media through the routes that carry files, as a client uses them: image,
//! video and document messages sent as multipart, the Message resource's
//! `media` with signed URLs, forwarding without copying, deleting and the
//! collection job, avatars for users and groups (privacy applied), ffmpeg's
//! duration and poster delivered through `MessageEdited`. On the three databases
//! and on both disks (local, and S3 against tests/s3/start).

use std::path::Path;
use std::time::Duration;

use natter::config::{MediaDiskKind, Settings};
use natter::storage::ObjectKey;
use natter_client::{Client, Error, Message};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestServer, TestUser};
use crate::media::{
    EXE, ffmpeg_or_skip, generate, has_exif, jpeg, phone_jpeg, s3_endpoint, use_s3, walk,
};

// ---- helpers -----------------------------------------------------------------

/// A test server whose collection grace is one second, so a deleted message's
/// file goes within moments (the default keeps it ten minutes after an upload).
async fn start(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestServer {
    TestServer::start_with(backend, |s| {
        tweak(s);
        s.media.media_collect_grace = 1;
    })
    .await
}

async fn start_on_s3(endpoint: &str) -> TestServer {
    natter::state::install_tls_provider();
    let mut settings = crate::common::test_settings(Path::new("/nonexistent"));
    use_s3(&mut settings, endpoint).await;
    let media = settings.media.clone();
    start(Backend::Sqlite, move |s| s.media = media).await
}

/// The object key a signed URL points at (local: `/media/<key>?..`; S3:
/// `/<bucket>/<key>?..`).
fn key_of(url: &str) -> ObjectKey {
    let path = url.split('?').next().unwrap();
    let at = path.rfind("media/").unwrap();
    ObjectKey::parse(&path[at..]).unwrap_or_else(|| panic!("no key in {url}"))
}

/// Fetches a signed URL: local ones point at APP_URL, so the same path and
/// query go to the test server; S3 ones go to the S3 server itself.
async fn fetch(server: &TestServer, url: &str) -> reqwest::Response {
    let url = match server.state().storage.kind() {
        MediaDiskKind::Local => {
            let (_, rest) = url.split_once("/media/").unwrap();
            format!("{}/media/{rest}", server.url())
        }
        MediaDiskKind::S3 => url.to_string(),
    };
    reqwest::get(url).await.unwrap()
}

async fn fetch_bytes(server: &TestServer, url: &str) -> Vec<u8> {
    let response = fetch(server, url).await;
    assert_eq!(response.status(), 200, "{url}");
    response.bytes().await.unwrap().to_vec()
}

async fn exists(server: &TestServer, key: &ObjectKey) -> bool {
    server.state().storage.exists(key).await.unwrap()
}

/// Waits (bounded) for the collection job to remove an object.
async fn gone_soon(server: &TestServer, key: &ObjectKey) -> bool {
    for _ in 0..100 {
        if !exists(server, key).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    use sea_orm::{ConnectionTrait, Statement};
    let db = &server.state().db;
    let jobs = db
        .read
        .query_all_raw(Statement::from_string(
            db.backend,
            "SELECT kind, attempts, last_error, run_at FROM jobs".to_string(),
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{:?}", r.try_get::<Option<String>>("", "last_error")))
        .collect::<Vec<_>>();
    let counts = natter::jobs::admin::counts(&server.state().db)
        .await
        .unwrap();
    eprintln!("{key} was not collected; jobs: {counts:?}; dead: {jobs:?}");
    false
}

async fn send_file(
    user: &TestUser,
    chat: i64,
    kind: &str,
    name: &str,
    bytes: &[u8],
    caption: Option<&str>,
) -> Message {
    let fields: Vec<(&str, &str)> = caption.map(|c| ("content", c)).into_iter().collect();
    let (status, message) = user
        .client
        .send_media(chat, kind, &fields, name, bytes)
        .await
        .unwrap_or_else(|e| panic!("sending {name}: {e}"));
    assert_eq!(status, 201);
    message
}

fn media_of(message: &Message) -> &Value {
    message.media.as_ref().expect("the message has media")
}

/// The status and body of a failed call.
fn refusal<T: std::fmt::Debug>(result: Result<T, Error>) -> (u16, Value) {
    match result {
        Err(Error::Api { status, body, .. }) => (status, body),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A small MP4 header (ISO brand `isom`): sniffed as video/mp4. ffprobe finds no
/// stream in it, so its duration stays null.
fn tiny_mp4(seed: u8) -> Vec<u8> {
    let mut mp4 = vec![0, 0, 0, 0x18];
    mp4.extend_from_slice(b"ftypisom\0\0\x02\0isommp41");
    mp4.extend_from_slice(&[0, 0, 0, 0x10]);
    mp4.extend_from_slice(b"free");
    mp4.extend_from_slice(&[seed; 8]);
    mp4
}

/// Files on the local disk, temp files and derived JPEGs apart.
fn originals_on_disk(server: &TestServer) -> usize {
    let mut files = Vec::new();
    walk(&server.state().config.media_root.join("media"), &mut files);
    files
        .iter()
        .filter(|p| !p.to_string_lossy().contains(".thumb."))
        .count()
}

fn temp_files(server: &TestServer) -> usize {
    std::fs::read_dir(server.state().storage.tmp_dir())
        .unwrap()
        .count()
}

// ---- the scenarios, on any database and disk -------------------------------

/// A phone photo with GPS EXIF, turned by its orientation: stored without any
/// EXIF, upright, with a thumbnail in the 201; both ends see the same media; a
/// changed byte of the signature or an expired link is 403.
async fn phone_photo(server: &TestServer) {
    let (ann, bob, chat) = server.pair().await;
    let photo = phone_jpeg(64, 48, 6);
    assert!(has_exif(&photo));
    let sent = send_file(&ann, chat, "image", "IMG_0001.jpg", &photo, Some("Look")).await;
    let media = media_of(&sent);
    assert_eq!(media["mime_type"], "image/jpeg");
    assert_eq!(media["size"], photo.len());
    assert_eq!(
        (&media["width"], &media["height"]),
        (&json!(48), &json!(64))
    );
    assert_eq!(
        media["file_name"],
        Value::Null,
        "names are kept for documents"
    );
    assert_eq!(sent.content, Some(json!("Look")));

    let stored = fetch_bytes(server, media["url"].as_str().unwrap()).await;
    assert!(!has_exif(&stored), "no EXIF, so no GPS, in the stored copy");
    let upright = image::load_from_memory(&stored).unwrap();
    assert_eq!(
        (upright.width(), upright.height()),
        (48, 64),
        "turned upright"
    );
    let thumb = fetch_bytes(server, media["thumbnail_url"].as_str().unwrap()).await;
    let thumb = image::load_from_memory(&thumb).unwrap();
    assert!(thumb.width().max(thumb.height()) <= 320);

    let history = bob.client.history(chat, 10, None).await.unwrap();
    let seen = history.messages.last().unwrap();
    assert_eq!(seen.id, sent.id);
    assert_eq!(
        key_of(media_of(seen)["url"].as_str().unwrap()),
        key_of(media["url"].as_str().unwrap())
    );
    let event = bob
        .client
        .sync_all(0)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.event == "App\\Events\\MessageSent" && e.data["message"]["id"] == sent.id)
        .expect("MessageSent reached the recipient's log");
    assert!(event.data["message"]["media"]["thumbnail_url"].is_string());

    if server.state().storage.kind() == MediaDiskKind::Local {
        let url = media["url"].as_str().unwrap();
        let at = url.find("signature=").unwrap() + "signature=".len() + 5;
        let mut tampered = url.as_bytes().to_vec();
        tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(fetch(server, &tampered).await.status(), 403);
        let signer =
            natter::storage::signing::UrlSigner::new(&server.state().config.app_key, &server.url());
        let expired = signer.url(&key_of(url), natter::storage::unix_now() - 1, None);
        let response = reqwest::get(expired).await.unwrap();
        assert_eq!(response.status(), 403);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["message"], "This link is invalid or has expired.");
    }
}

/// A video forwarded to three chats is one object and one row with four
/// references; deleting messages drops references, and the object goes (by the
/// collection job) only with the last one.
async fn forward_and_delete(server: &TestServer) {
    let (ann, bob, chat) = server.pair().await;
    let mut targets = Vec::new();
    for name in ["Cy", "Di", "Ed"] {
        let other = server.sign_up(name).await;
        targets.push(ann.client.private_chat(other.id).await.unwrap().1.id);
    }
    let video = tiny_mp4(1);
    let sent = send_file(&ann, chat, "video", "clip.mp4", &video, None).await;
    let key = key_of(media_of(&sent)["url"].as_str().unwrap());
    let copies = ann.client.forward(sent.id, &targets).await.unwrap();
    assert_eq!(copies.len(), 3);
    for copy in &copies {
        assert_eq!(copy.message_type, "video");
        assert_eq!(key_of(media_of(copy)["url"].as_str().unwrap()), key);
    }
    let db = &server.state().db;
    let row = natter::media::store::find_by_key(&db.read, key.as_str())
        .await
        .unwrap()
        .expect("one row");
    assert_eq!(row.ref_count, 4, "one reference per message, no copy");
    if server.state().storage.kind() == MediaDiskKind::Local {
        assert_eq!(originals_on_disk(server), 1, "one object on disk");
    }

    // The recipient sees the original's media.
    let seen = bob.client.history(chat, 10, None).await.unwrap();
    assert!(media_of(seen.messages.last().unwrap())["url"].is_string());

    ann.client.delete_message(sent.id).await.unwrap();
    let seen = bob.client.history(chat, 10, None).await.unwrap();
    let deleted = seen.messages.last().unwrap();
    assert!(deleted.deleted && deleted.media.is_none());
    for copy in &copies[..2] {
        ann.client.delete_message(copy.id).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(exists(server, &key).await, "one message still shows it");
    ann.client.delete_message(copies[2].id).await.unwrap();
    assert!(
        gone_soon(server, &key).await,
        "collected after the last delete"
    );
    // The row goes after the objects (the file, then its poster): wait for it
    // too (CI once read it between the two on S3).
    let mut row_left = true;
    for _ in 0..50 {
        row_left = natter::media::store::find(&db.read, row.id)
            .await
            .unwrap()
            .is_some();
        if !row_left {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!row_left, "the media row is gone after its objects");
}

/// A profile photo: its URL, shown to others as `privacy_profile_photo` allows;
/// replacing it removes the old object; account deletion removes the last one.
/// A group photo: admins only (403 otherwise), `ChatUpdated` for the members.
async fn avatars(server: &TestServer) {
    let (ann, bob, chat) = server.pair().await;
    let first_url = ann
        .client
        .upload_avatar("me.jpg", &phone_jpeg(1200, 900, 6))
        .await
        .unwrap();
    let first = key_of(&first_url);
    let photo = image::load_from_memory(&fetch_bytes(server, &first_url).await).unwrap();
    assert_eq!(
        (photo.width(), photo.height()),
        (480, 640),
        "upright, at most 640 px"
    );
    assert_eq!(
        key_of(
            ann.client
                .profile()
                .await
                .unwrap()
                .avatar_url
                .as_deref()
                .unwrap()
        ),
        first
    );
    let seen = bob.client.user(ann.id).await.unwrap();
    assert_eq!(key_of(seen.avatar_url.as_deref().unwrap()), first);
    let sent = ann.client.send_text(chat, "hi").await.unwrap();
    assert!(
        sent.sender.avatar_url.is_some(),
        "a public photo shows on messages"
    );

    ann.client
        .update_privacy(json!({ "privacy_profile_photo": "nobody" }))
        .await
        .unwrap();
    assert_eq!(bob.client.user(ann.id).await.unwrap().avatar_url, None);
    let listed = bob.client.chat(chat).await.unwrap();
    assert_eq!(
        listed.avatar_url, None,
        "the private chat shows no photo either"
    );
    assert!(ann.client.profile().await.unwrap().avatar_url.is_some());

    let (status, _) = refusal(ann.client.upload_avatar("me.jpg", EXE).await);
    assert_eq!(status, 415, "a non-image avatar");
    let second_url = ann
        .client
        .upload_avatar("new.png", &jpeg(100, 100))
        .await
        .unwrap();
    let second = key_of(&second_url);
    assert_ne!(second, first);
    assert!(
        gone_soon(server, &first).await,
        "the old photo is collected"
    );
    assert!(exists(server, &second).await);

    let group = ann.client.create_group("Photos", &[bob.id]).await.unwrap();
    let (status, _) = refusal(
        bob.client
            .upload_group_avatar(group.id, "g.jpg", &jpeg(50, 50))
            .await,
    );
    assert_eq!(status, 403, "members who are not admins");
    let outsider = server.sign_up("Out").await;
    let (status, _) = refusal(
        outsider
            .client
            .upload_group_avatar(group.id, "g.jpg", &jpeg(50, 50))
            .await,
    );
    assert_eq!(
        status, 404,
        "not a member: the group does not exist for them"
    );
    let updated = ann
        .client
        .upload_group_avatar(group.id, "g.jpg", &jpeg(50, 50))
        .await
        .unwrap();
    let group_key = key_of(updated.avatar_url.as_deref().unwrap());
    let event = bob
        .client
        .sync_all(0)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .find(|e| e.event == "App\\Events\\ChatUpdated" && e.data["chat"]["id"] == group.id)
        .expect("ChatUpdated");
    assert_eq!(
        key_of(event.data["chat"]["avatar_url"].as_str().unwrap()),
        group_key
    );

    ann.client.delete_account().await.unwrap();
    assert!(
        gone_soon(server, &second).await,
        "a deleted account's photo goes"
    );
    assert!(exists(server, &group_key).await, "the group's photo stays");
}

backend_tests! {
    async fn a_phone_photo_message_is_stripped_upright_and_signed(backend: Backend) {
        phone_photo(&start(backend, |_| {}).await).await;
    }

    async fn a_forwarded_video_is_stored_once_and_collected_with_its_last_message(backend: Backend) {
        forward_and_delete(&start(backend, |_| {}).await).await;
    }

    async fn avatars_are_resized_private_replaced_and_admin_only_for_groups(backend: Backend) {
        avatars(&start(backend, |_| {}).await).await;
    }
}

mod on_s3 {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_phone_photo_message() {
        let Some(endpoint) = s3_endpoint() else {
            return;
        };
        phone_photo(&start_on_s3(&endpoint).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_forwarded_video_then_deleted() {
        let Some(endpoint) = s3_endpoint() else {
            return;
        };
        forward_and_delete(&start_on_s3(&endpoint).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn avatars() {
        let Some(endpoint) = s3_endpoint() else {
            return;
        };
        super::avatars(&start_on_s3(&endpoint).await).await;
    }
}

// ---- refusals (SQLite) -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_sends_store_nothing() {
    let server = start(Backend::Sqlite, |_| {}).await;
    let (ann, bob, chat) = server.pair().await;
    let api = |user: &TestUser| user.client.clone();

    // An .exe renamed .jpg.
    let (status, body) = refusal(
        api(&ann)
            .send_media(chat, "image", &[], "cat.jpg", EXE)
            .await,
    );
    assert_eq!(status, 415, "{body}");
    assert_eq!(body["success"], false);
    // A media type without a file, a file on a text message: 422 as in JSON.
    let raw = ann
        .client
        .raw_upload(
            reqwest::Method::POST,
            &format!("/api/chats/{chat}/messages"),
            &[("message_type", "image")],
            None,
        )
        .await
        .unwrap();
    assert_eq!(raw.status, 422);
    assert!(raw.body["errors"]["file"].is_array(), "{}", raw.body);
    let (status, body) = refusal(
        api(&ann)
            .send_media(chat, "text", &[("content", "hi")], "a.jpg", &jpeg(8, 8))
            .await,
    );
    assert_eq!((status, body["errors"]["file"].is_array()), (422, true));
    let (status, body) = refusal(
        api(&ann)
            .send_media(
                chat,
                "image",
                &[("reply_to_message_id", "x")],
                "a.jpg",
                &jpeg(8, 8),
            )
            .await,
    );
    assert_eq!(status, 422, "{body}");
    assert!(body["errors"]["reply_to_message_id"].is_array(), "{body}");
    // Not a member: 404 before the body is read; blocked: 403.
    let outsider = server.sign_up("Out").await;
    let (status, _) = refusal(
        api(&outsider)
            .send_media(chat, "image", &[], "a.jpg", &jpeg(8, 8))
            .await,
    );
    assert_eq!(status, 404);
    let contact = bob
        .client
        .add_contact(json!({ "contact_user_id": ann.id }))
        .await
        .unwrap()
        .1;
    bob.client.toggle_block(contact.id).await.unwrap();
    let (status, _) = refusal(
        api(&ann)
            .send_media(chat, "image", &[], "a.jpg", &jpeg(8, 8))
            .await,
    );
    assert_eq!(status, 403);

    assert_eq!(originals_on_disk(&server), 0, "nothing was stored");
    assert_eq!(temp_files(&server), 0);
    // A reply with a caption and a client id, as multipart: the same rules as JSON.
    bob.client.toggle_block(contact.id).await.unwrap();
    let first = ann.client.send_text(chat, "first").await.unwrap();
    let reply_to = first.id.to_string();
    let fields = [
        ("content", "a reply"),
        ("reply_to_message_id", reply_to.as_str()),
        ("client_message_id", "c-1"),
    ];
    let (status, sent) = ann
        .client
        .send_media(chat, "document", &fields, "notes.txt", b"plain notes")
        .await
        .unwrap();
    assert_eq!(status, 201);
    assert_eq!(sent.reply_to.as_ref().map(|r| r.id), Some(first.id));
    assert_eq!(media_of(&sent)["file_name"], "notes.txt");
    assert_eq!(media_of(&sent)["mime_type"], "text/plain");
    let (status, again) = ann
        .client
        .send_media(chat, "document", &fields, "notes.txt", b"plain notes")
        .await
        .unwrap();
    assert_eq!((status, again.id), (200, sent.id), "a retried send");
    // An empty caption is no caption (Laravel's ConvertEmptyStringsToNull).
    let plain = send_file(&ann, chat, "image", "p.jpg", &jpeg(16, 16), Some("")).await;
    assert_eq!(plain.content, None);
}

/// 200 MB against the 100 MB document limit: 413 while streaming, no temp file
/// left, nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_document_is_413_while_streaming() {
    let server = start(Backend::Sqlite, |_| {}).await;
    let (ann, _, chat) = server.pair().await;
    let (content_type, head) = natter_client::multipart_body(&[("message_type", "document")], None);
    let boundary = content_type.split("boundary=").nth(1).unwrap().to_string();
    // The fields, then a file part of 200 MB streamed from a generator.
    let mut opening = head[..head.len() - boundary.len() - 6].to_vec();
    opening.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.pdf\"\r\n\r\n%PDF-1.7\n"
        )
        .as_bytes(),
    );
    let chunks = std::iter::once(Ok::<_, std::io::Error>(bytes::Bytes::from(opening)))
        .chain((0..200).map(|_| Ok(bytes::Bytes::from(vec![b' '; 1024 * 1024]))));
    let started = std::time::Instant::now();
    let response = reqwest::Client::new()
        .post(format!("{}/api/chats/{chat}/messages", server.url()))
        .bearer_auth(ann.client.token().unwrap())
        .header("content-type", content_type)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    // The file's limit, or the body's cap (the limit plus the fields' allowance)
    // when the reader has buffered ahead of the file: 413 either way.
    let message = body["message"].as_str().unwrap();
    assert!(
        message == "The file may not be greater than 102400 kilobytes."
            || message == "The request body is too large.",
        "{message}"
    );
    // Refused once the limit is passed, not after the whole body (a debug build on
    // a loaded machine reads 100 MB in well under this).
    assert!(started.elapsed() < Duration::from_secs(120));
    for _ in 0..50 {
        if temp_files(&server) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(temp_files(&server), 0, "no partial file left");
    assert_eq!(originals_on_disk(&server), 0);
    let history = ann.client.history(chat, 10, None).await.unwrap();
    assert!(history.messages.is_empty());
}

// ---- ffmpeg: duration and poster after the 201 -----------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_gets_its_duration_and_poster_through_message_edited() {
    if ffmpeg_or_skip().await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    generate(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=2:size=320x240:rate=10",
            "-pix_fmt",
            "yuv420p",
        ],
        &clip,
    );
    let server = start(Backend::Sqlite, |_| {}).await;
    let (ann, bob, chat) = server.pair().await;
    let bytes = std::fs::read(&clip).unwrap();
    let sent = send_file(&ann, chat, "video", "clip.mp4", &bytes, None).await;
    assert_eq!(media_of(&sent)["mime_type"], "video/mp4");
    assert_eq!(
        media_of(&sent)["duration"],
        Value::Null,
        "probed after the 201"
    );

    let edited = wait_for_edit(&bob.client, sent.id).await;
    let media = &edited["media"];
    assert_eq!(media["duration"], 2);
    assert_eq!(
        (&media["width"], &media["height"]),
        (&json!(320), &json!(240))
    );
    let poster = fetch_bytes(&server, media["thumbnail_url"].as_str().unwrap()).await;
    let poster = image::load_from_memory(&poster).unwrap();
    assert_eq!((poster.width(), poster.height()), (320, 240));
    let history = bob.client.history(chat, 10, None).await.unwrap();
    assert_eq!(media_of(history.messages.last().unwrap())["duration"], 2);
}

/// The message of the first `MessageEdited` for `id` in the user's sync log.
async fn wait_for_edit(client: &Client, id: i64) -> Value {
    for _ in 0..100 {
        let found = client
            .sync_all(0)
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.event == "App\\Events\\MessageEdited" && e.data["message"]["id"] == id);
        if let Some(event) = found {
            return event.data["message"].clone();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no MessageEdited for message {id}");
}
