//! Statuses as a new user tries them: text and image statuses seen by mutual
//! contacts only, views counted once and shown to the owner, deletion, and
//! expiry removing rows and files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use image::{DynamicImage, RgbImage};
use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::common::{TestServer, TestUser, user_socket};

const WAIT: Duration = Duration::from_secs(5);

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 3) as u8, (y * 5) as u8, 120])
    });
    natter::media::images::encode_jpeg(&DynamicImage::ImageRgb8(image), 90).unwrap()
}

/// `a` and `b` have each other as contacts.
async fn befriend(a: &TestUser, b: &TestUser) {
    a.client
        .add_contact(json!({"contact_user_id": b.id}))
        .await
        .unwrap();
    b.client
        .add_contact(json!({"contact_user_id": a.id}))
        .await
        .unwrap();
}

/// Files on the local media disk (temp files aside).
fn stored_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "tmp") {
                    walk(&path, out);
                }
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &mut files);
    files
}

fn status_of(status: Option<u16>) -> u16 {
    status.expect("the server answered")
}

backend_tests! {
    async fn statuses_reach_mutual_contacts_only_and_views_reach_the_owner(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ann = server.sign_up("Ann").await;
        let bob = server.sign_up("Bob").await;
        let carol = server.sign_up("Carol").await;
        let dave = server.sign_up("Dave").await;
        befriend(&ann, &bob).await;
        // Carol has Ann, Ann does not have Carol: not mutual.
        carol.client.add_contact(json!({"contact_user_id": ann.id})).await.unwrap();
        // Dave and Ann are mutual, but Ann blocked Dave.
        befriend(&ann, &dave).await;
        let (_, dave_row) = ann.client.add_contact(json!({"contact_user_id": dave.id})).await.unwrap();
        assert!(ann.client.toggle_block(dave_row.id).await.unwrap().is_blocked);
        let mut ann_socket = user_socket(&server.url(), &ann).await;
        let mut bob_socket = user_socket(&server.url(), &bob).await;

        let text = ann.client.post_text_status("Off to the beach", Some("#25D366")).await.unwrap();
        assert_eq!((text.status_type.as_str(), text.viewed, text.view_count), ("text", true, Some(0)));
        assert_eq!(text.background_color.as_deref(), Some("#25D366"));
        let photo = ann
            .client
            .post_media_status("image", Some("The view"), "beach.jpg", jpeg(800, 600))
            .await
            .unwrap();
        let media = photo.media.clone().expect("an image status has media");
        assert!(media["url"].as_str().unwrap().contains("signature="), "{media}");
        assert!(media["thumbnail_url"].is_string(), "{media}");
        assert_eq!(media["mime_type"], "image/jpeg");
        // APP_URL is the default in tests: fetch from where the server listens.
        let link = media["thumbnail_url"].as_str().unwrap().replace("http://localhost:8000", &server.url());
        let thumb = reqwest::get(link).await.unwrap();
        assert_eq!(thumb.status(), 200);

        // Bob (mutual) hears both and sees them, newest first, unviewed.
        for expected in [text.id, photo.id] {
            let got = bob_socket.expect("App\\Events\\StatusPosted", None, WAIT).await.expect("posted");
            assert_eq!(got.data["status"]["id"].as_i64(), Some(expected));
            assert_eq!(got.data["status"]["viewed"], false);
            assert!(got.data["status"].get("view_count").is_none(), "{}", got.data);
        }
        let feed = bob.client.statuses().await.unwrap();
        assert_eq!(feed.statuses.len(), 1);
        assert_eq!(feed.statuses[0].user.id, ann.id);
        let ids: Vec<i64> = feed.statuses[0].items.iter().map(|s| s.id).collect();
        assert_eq!(ids, vec![photo.id, text.id]);
        assert!(feed.statuses[0].items.iter().all(|s| !s.viewed && s.view_count.is_none()));

        // Carol (not mutual) and Dave (blocked) see nothing and get 404 on it.
        for outsider in [&carol, &dave] {
            assert!(outsider.client.statuses().await.unwrap().statuses.is_empty());
            let refused = outsider.client.view_status(text.id).await.unwrap_err();
            assert_eq!(status_of(refused.status()), 404);
            let refused = outsider.client.status_views(text.id).await.unwrap_err();
            assert_eq!(status_of(refused.status()), 404);
            let refused = outsider.client.delete_status(text.id).await.unwrap_err();
            assert_eq!(status_of(refused.status()), 404);
        }

        // Views: idempotent, told to the owner once, listed to the owner only.
        bob.client.view_status(text.id).await.unwrap();
        bob.client.view_status(text.id).await.unwrap();
        let viewed = ann_socket.expect("App\\Events\\StatusViewed", None, WAIT).await.expect("viewed");
        assert_eq!(viewed.data["status_id"].as_i64(), Some(text.id));
        assert_eq!(viewed.data["user"]["id"].as_i64(), Some(bob.id));
        assert_eq!(viewed.data["view_count"], 1);
        let again: Vec<_> = ann_socket.drain(Duration::from_millis(400)).await.into_iter()
            .filter(|f| f.event == "App\\Events\\StatusViewed").collect();
        assert!(again.is_empty(), "a second view was announced: {again:?}");
        let views = ann.client.status_views(text.id).await.unwrap();
        assert_eq!(views.views.len(), 1);
        assert_eq!(views.views[0].user.id, bob.id);
        let refused = bob.client.status_views(text.id).await.unwrap_err();
        assert_eq!(status_of(refused.status()), 403);
        let mine = ann.client.statuses().await.unwrap();
        assert_eq!(mine.statuses[0].user.id, ann.id, "the owner's own come first");
        let counted = mine.statuses[0].items.iter().find(|s| s.id == text.id).unwrap();
        assert_eq!(counted.view_count, Some(1));
        let seen = bob.client.statuses().await.unwrap();
        let flags: Vec<bool> = seen.statuses[0].items.iter().map(|s| s.viewed).collect();
        assert_eq!(flags, vec![false, true]);

        // Sync keeps what the sockets said.
        let bob_log = bob.client.sync_all(0).await.unwrap();
        assert_eq!(bob_log.iter().filter(|e| e.event == "App\\Events\\StatusPosted").count(), 2);
        let ann_log = ann.client.sync_all(0).await.unwrap();
        assert_eq!(ann_log.iter().filter(|e| e.event == "App\\Events\\StatusViewed").count(), 1);

        // Deleting: the owner only; the audience hears it.
        let refused = bob.client.delete_status(photo.id).await.unwrap_err();
        assert_eq!(status_of(refused.status()), 403);
        ann.client.delete_status(photo.id).await.unwrap();
        let deleted = bob_socket.expect("App\\Events\\StatusDeleted", None, WAIT).await.expect("deleted");
        assert_eq!(deleted.data["status_id"].as_i64(), Some(photo.id));
        let left = bob.client.statuses().await.unwrap();
        assert_eq!(left.statuses[0].items.len(), 1);
        let gone = bob.client.view_status(photo.id).await.unwrap_err();
        assert_eq!(status_of(gone.status()), 404);
    }

    async fn bad_statuses_are_refused_with_the_field_named(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ann = server.sign_up("Ann").await;
        let cases = [
            (json!({"type": "text"}), "content"),
            (json!({"type": "text", "content": "   "}), "content"),
            (json!({"type": "text", "content": "hi", "background_color": "green"}), "background_color"),
            (json!({"type": "text", "content": "x".repeat(701)}), "content"),
            (json!({"type": "image", "content": "no file"}), "file"),
            (json!({"type": "story", "content": "hi"}), "type"),
        ];
        for (body, field) in cases {
            let raw = ann.client.raw(Method::POST, "/api/status", Some(body.clone())).await.unwrap();
            assert_eq!(raw.status, 422, "{body}: {}", raw.body);
            assert!(raw.body["errors"][field].is_array(), "{body}: {}", raw.body);
        }
        let exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff".repeat(64);
        let refused = ann.client.post_media_status("image", None, "photo.jpg", exe).await.unwrap_err();
        assert_eq!(status_of(refused.status()), 415);
        let refused = ann.client.post_media_status("text", None, "a.jpg", jpeg(10, 10)).await.unwrap_err();
        assert_eq!(status_of(refused.status()), 422);
        assert!(ann.client.statuses().await.unwrap().statuses.is_empty());
        let missing = ann.client.view_status(999_999).await.unwrap_err();
        assert_eq!(status_of(missing.status()), 404);
    }

    async fn a_days_statuses_are_limited(backend: Backend) {
        let server = TestServer::start_with(backend, |s| s.statuses_per_day = 2).await;
        let ann = server.sign_up("Ann").await;
        let bob = server.sign_up("Bob").await;
        befriend(&ann, &bob).await;
        for text in ["one", "two"] {
            ann.client.post_text_status(text, None).await.unwrap();
        }
        let refused = ann.client.post_text_status("three", None).await.unwrap_err();
        assert_eq!(status_of(refused.status()), 429);
        let feed = bob.client.statuses().await.unwrap();
        assert_eq!(feed.statuses.iter().map(|u| u.items.len()).sum::<usize>(), 2, "Bob sees two");
        bob.client.post_text_status("Bob's own", None).await.unwrap();
    }

    async fn a_deleted_account_takes_its_statuses_and_their_files_along(backend: Backend) {
        let server = TestServer::start_with(backend, |s| s.media.media_collect_grace = 0).await;
        let ann = server.sign_up("Ann").await;
        let bob = server.sign_up("Bob").await;
        befriend(&ann, &bob).await;
        let photo = ann.client.post_media_status("image", None, "beach.jpg", jpeg(64, 48)).await.unwrap();
        ann.client.post_text_status("Off to the beach", None).await.unwrap();
        let files_before = stored_files(&server.storage_dir().join("media")).len();
        assert!(files_before > 0);
        let mut bob_socket = user_socket(&server.url(), &bob).await;
        ann.client.delete_account().await.unwrap();
        let deleted = bob_socket.expect("App\\Events\\StatusDeleted", None, WAIT).await.unwrap();
        assert_eq!(deleted.data["user_id"].as_i64(), Some(ann.id));
        assert!(bob.client.statuses().await.unwrap().statuses.is_empty(), "gone from Bob's feed at once");
        assert_eq!(status_of(bob.client.view_status(photo.id).await.unwrap_err().status()), 404);
        // Its file is collected (by the media.collect job).
        let mut files = files_before;
        for _ in 0..100 {
            files = stored_files(&server.storage_dir().join("media")).len();
            if files < files_before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(files < files_before, "the status's files were collected ({files} of {files_before} left)");
    }

    async fn an_expired_status_vanishes_at_once_and_its_file_after_the_job(backend: Backend) {
        let server = TestServer::start_with(backend, |s| {
            s.status_ttl = 2;
            s.media.media_collect_grace = 0;
        })
        .await;
        let ann = server.sign_up("Ann").await;
        let bob = server.sign_up("Bob").await;
        befriend(&ann, &bob).await;
        let root = server.storage_dir().join("media");
        let before = stored_files(&root).len();
        let photo = ann
            .client
            .post_media_status("image", None, "sunset.jpg", jpeg(640, 480))
            .await
            .unwrap();
        let text = ann.client.post_text_status("brief", None).await.unwrap();
        assert!(stored_files(&root).len() >= before + 2, "file and thumbnail stored");
        assert_eq!(bob.client.statuses().await.unwrap().statuses[0].items.len(), 2);

        // Past expires_at every read leaves them out, whether or not the job ran.
        let expires = natter::clock::parse_rfc3339(&text.expires_at).unwrap();
        assert!(expires >= natter::clock::parse_rfc3339(&photo.expires_at).unwrap());
        let wait = (expires - natter::clock::now_ms()).max(0) as u64 + 50;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        assert!(bob.client.statuses().await.unwrap().statuses.is_empty());
        assert!(ann.client.statuses().await.unwrap().statuses.is_empty());
        let gone = bob.client.view_status(text.id).await.unwrap_err();
        assert_eq!(status_of(gone.status()), 404);

        // The job removes the rows and the files.
        use sea_orm::{ConnectionTrait, Statement};
        let db = &server.state().db;
        let rows = || async {
            db.write
                .query_one_raw(Statement::from_string(db.backend, "SELECT COUNT(*) AS n FROM statuses"))
                .await
                .unwrap()
                .unwrap()
                .try_get_by_index::<i64>(0)
                .unwrap()
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while (stored_files(&root).len() > before || rows().await > 0)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(stored_files(&root).len(), before, "the image and its thumbnail are gone");
        assert_eq!(rows().await, 0, "the rows are gone");
    }
}
