//! Real time over the Pusher protocol, through natter-client's socket.

use std::time::Duration;

use natter_client::socket::PusherSocket;
use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::common::{TestServer, user_socket};

const KEY: &str = "natter-key";
const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(300);

backend_tests! {
    async fn connection_ping_and_unknown_keys(backend: Backend) {
        let server = TestServer::start(backend).await;
        let mut socket = PusherSocket::connect(&server.url(), KEY).await.unwrap();
        assert!(socket.socket_id().contains('.'));
        assert_eq!(socket.activity_timeout, 120);
        socket.send_json(&json!({"event": "pusher:ping", "data": {}})).await.unwrap();
        assert!(socket.expect("pusher:pong", None, WAIT).await.is_some());
        // Garbage is answered with an error and the connection stays.
        for garbage in ["not json", "{}", "[1,2]", r#"{"event":"pusher:subscribe","data":{"channel":"bad name!"}}"#, r#"{"event":"nope"}"#] {
            socket.send_text(garbage).await.unwrap();
            assert!(socket.expect("pusher:error", None, WAIT).await.is_some(), "{garbage}");
        }
        socket.send_json(&json!({"event": "pusher:ping", "data": {}})).await.unwrap();
        assert!(socket.expect("pusher:pong", None, WAIT).await.is_some());
        // A frame over WS_MAX_FRAME_BYTES closes the socket with 1009.
        socket.send_text(&"x".repeat(64 * 1024)).await.unwrap();
        assert!(socket.next_frame(WAIT).await.is_none());
        assert_eq!(socket.closed().map(|c| c.code), Some(1009));

        let err = PusherSocket::connect(&server.url(), "wrong-key").await.err().unwrap();
        assert!(err.to_string().contains("4001") || err.to_string().contains("no connection_established"), "{err}");
    }

    async fn channel_authorisation(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let eve = server.sign_up("Eve").await;
        let mut socket = PusherSocket::connect(&server.url(), KEY).await.unwrap();
        // Form body, as pusher-js sends it.
        let form = format!("socket_id={}&channel_name=private-chat.{chat}", socket.socket_id());
        let raw = ann.client.raw_bytes(Method::POST, "/broadcasting/auth", "application/x-www-form-urlencoded", form.into_bytes()).await.unwrap();
        assert_eq!(raw.status, 200, "{}", raw.body);
        let auth = raw.body["auth"].as_str().unwrap().to_string();
        assert!(auth.starts_with("natter-key:"));
        socket.subscribe_with(json!({"channel": format!("private-chat.{chat}"), "auth": auth})).await.unwrap();
        // Other people's channels are 403 at the auth endpoint.
        for channel in [format!("private-chat.{chat}"), format!("private-user.{}", ann.id), format!("presence-chat.{chat}"), "private-call.1".into(), "private-anything".into(), "public".into()] {
            let raw = eve.client.raw(Method::POST, "/broadcasting/auth", Some(json!({"socket_id": socket.socket_id(), "channel_name": channel}))).await.unwrap();
            assert_eq!(raw.status, 403, "{channel}");
        }
        for (body, field) in [(json!({"socket_id": "abc", "channel_name": "private-user.1"}), "socket_id"), (json!({"socket_id": "1.2"}), "channel_name")] {
            let raw = bob.client.raw(Method::POST, "/broadcasting/auth", Some(body)).await.unwrap();
            assert_eq!(raw.status, 422);
            assert!(raw.body["errors"][field].is_array());
        }
        let raw = server.client.raw(Method::POST, "/broadcasting/auth", Some(json!({"socket_id": "1.2", "channel_name": "private-user.1"}))).await.unwrap();
        assert_eq!(raw.status, 401);
        // Forged or borrowed signatures are refused on subscribe.
        let mut eve_socket = PusherSocket::connect(&server.url(), KEY).await.unwrap();
        let forged = json!({"channel": format!("private-chat.{chat}"), "auth": "natter-key:0000"});
        assert_eq!(eve_socket.subscribe_with(forged).await.unwrap_err().status(), Some(403));
        let someone_elses = ann.client.json::<serde_json::Value, _>(Method::POST, "/broadcasting/auth", Some(json!({"socket_id": socket.socket_id(), "channel_name": format!("private-user.{}", ann.id)}))).await.unwrap();
        let replay = json!({"channel": format!("private-user.{}", ann.id), "auth": someone_elses["auth"]});
        assert_eq!(eve_socket.subscribe_with(replay).await.unwrap_err().status(), Some(403), "a signature is bound to its socket");
        assert!(eve_socket.drain(QUIET).await.iter().all(|f| f.event != "App\\Events\\MessageSent"));
    }

    async fn every_event_arrives_on_chat_and_user_channels(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let mut bob_user = user_socket(&server.url(), &bob).await;
        let mut ann_chat = PusherSocket::connect(&server.url(), KEY).await.unwrap();
        ann_chat.subscribe(&ann.client, &format!("private-chat.{chat}")).await.unwrap();
        let message = ann.client.send_text(chat, "live").await.unwrap();
        let on_user = bob_user.expect("App\\Events\\MessageSent", Some(&format!("private-user.{}", bob.id)), WAIT).await.unwrap();
        assert_eq!(on_user.data["message"]["id"].as_i64(), Some(message.id));
        assert!(on_user.data["seq"].as_i64().unwrap() > 0);
        let raw: serde_json::Value = serde_json::from_str(&on_user.raw).unwrap();
        assert!(raw["data"].is_string(), "data is a JSON string, as Pusher sends it");
        let on_chat = ann_chat.expect("App\\Events\\MessageSent", Some(&format!("private-chat.{chat}")), WAIT).await.unwrap();
        assert_eq!(on_chat.data["seq"], on_user.data["seq"]);

        ann.client.edit_message(message.id, "edited").await.unwrap();
        assert_eq!(bob_user.expect("App\\Events\\MessageEdited", None, WAIT).await.unwrap().data["message"]["content"], "edited");
        ann.client.react(message.id, "🎉").await.unwrap();
        assert_eq!(bob_user.expect("App\\Events\\ReactionUpdated", None, WAIT).await.unwrap().data["reactions"][0]["emoji"], "🎉");
        // Receipts go to the chat channel and the sender's user channel.
        let mut ann_user = user_socket(&server.url(), &ann).await;
        bob.client.mark_read(chat, message.id).await.unwrap();
        let read = ann_user.expect("App\\Events\\MessageRead", None, WAIT).await.unwrap();
        assert_eq!(read.data["user_id"].as_i64(), Some(bob.id));
        assert!(ann_chat.expect("App\\Events\\MessageRead", Some(&format!("private-chat.{chat}")), WAIT).await.is_some());
        ann.client.delete_message(message.id).await.unwrap();
        assert_eq!(bob_user.expect("App\\Events\\MessageDeleted", None, WAIT).await.unwrap().data["message"]["deleted"], true);
        // The typing endpoint, for clients that cannot whisper.
        let raw = bob.client.raw(Method::POST, &format!("/api/chats/{chat}/typing"), Some(json!({"typing": true}))).await.unwrap();
        assert_eq!(raw.status, 202);
        let typing = ann_chat.expect("App\\Events\\UserTyping", None, WAIT).await.unwrap();
        assert_eq!(typing.data, json!({"chat_id": chat, "user_id": bob.id, "typing": true}));
    }

    async fn whispers_reach_others_never_the_sender_and_are_rate_limited(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let channel = format!("private-chat.{chat}");
        let mut ann_socket = PusherSocket::connect(&server.url(), KEY).await.unwrap();
        ann_socket.subscribe(&ann.client, &channel).await.unwrap();
        let mut bob_socket = PusherSocket::connect(&server.url(), KEY).await.unwrap();
        bob_socket.subscribe(&bob.client, &channel).await.unwrap();
        ann_socket.whisper(&channel, "client-typing", json!({"user_id": ann.id})).await.unwrap();
        let got = bob_socket.expect("client-typing", Some(&channel), WAIT).await.unwrap();
        assert_eq!(got.data, json!({"user_id": ann.id}));
        assert!(ann_socket.drain(QUIET).await.iter().all(|f| f.event != "client-typing"), "never echoed");
        // 1,000 whispers in a burst: at most 10 a second get through; the rest are refused with 4301.
        for _ in 0..1000 {
            ann_socket.whisper(&channel, "client-typing", json!({})).await.unwrap();
        }
        let refused = ann_socket.drain(Duration::from_millis(700)).await.iter().filter(|f| f.event == "pusher:error" && f.data["code"] == 4301).count();
        assert!(refused >= 980, "{refused}");
        let relayed = bob_socket.drain(Duration::from_millis(700)).await.iter().filter(|f| f.event == "client-typing").count();
        assert!((1..=20).contains(&relayed), "{relayed}");
        // Not subscribed: refused.
        let mut outsider = PusherSocket::connect(&server.url(), KEY).await.unwrap();
        outsider.whisper(&channel, "client-typing", json!({})).await.unwrap();
        assert!(outsider.expect("pusher:error", None, WAIT).await.is_some());
    }

    async fn presence_online_offline_to_contacts_with_privacy(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ann = server.sign_up("Ann").await;
        let friend = server.sign_up("Friend").await;
        let stranger = server.sign_up("Stranger").await;
        friend.client.add_contact(json!({"contact_user_id": ann.id})).await.unwrap();
        let mut friend_socket = user_socket(&server.url(), &friend).await;
        let mut stranger_socket = user_socket(&server.url(), &stranger).await;
        let ann_socket = user_socket(&server.url(), &ann).await;
        let online = friend_socket.expect("App\\Events\\UserOnline", None, WAIT).await.unwrap();
        assert_eq!(online.data["user_id"].as_i64(), Some(ann.id));
        assert_eq!(online.data["is_online"], true);
        assert!(friend.client.user(ann.id).await.unwrap().is_online);
        // A second socket is not a second coming online.
        let second = user_socket(&server.url(), &ann).await;
        second.close().await;
        ann_socket.close().await;
        let offline = friend_socket.expect("App\\Events\\UserOnline", None, WAIT).await.unwrap();
        assert_eq!(offline.data["is_online"], false, "{:?}", offline.data);
        assert!(offline.data["last_seen_at"].is_string());
        assert!(stranger_socket.drain(QUIET).await.iter().all(|f| f.event != "App\\Events\\UserOnline"), "only contacts hear");
        assert!(!friend.client.user(ann.id).await.unwrap().is_online);
        // last_seen nobody: no one hears.
        ann.client.update_privacy(json!({"privacy_last_seen": "nobody"})).await.unwrap();
        let again = user_socket(&server.url(), &ann).await;
        assert!(friend_socket.drain(QUIET).await.iter().all(|f| f.event != "App\\Events\\UserOnline"));
        assert!(!friend.client.user(ann.id).await.unwrap().is_online, "hidden by privacy");
        again.close().await;
    }

    async fn presence_channels_list_members_and_announce_changes(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let channel = format!("presence-chat.{chat}");
        let mut ann_socket = PusherSocket::connect(&server.url(), KEY).await.unwrap();
        let roster = ann_socket.subscribe(&ann.client, &channel).await.unwrap();
        assert_eq!(roster["presence"]["count"], 1);
        assert_eq!(roster["presence"]["ids"], json!([ann.id.to_string()]));
        assert_eq!(roster["presence"]["hash"][ann.id.to_string()]["name"], "Ann");
        let mut bob_socket = PusherSocket::connect(&server.url(), KEY).await.unwrap();
        let roster = bob_socket.subscribe(&bob.client, &channel).await.unwrap();
        assert_eq!(roster["presence"]["count"], 2);
        let added = ann_socket.expect("pusher_internal:member_added", Some(&channel), WAIT).await.unwrap();
        assert_eq!(added.data["user_id"], bob.id.to_string());
        assert!(bob_socket.drain(QUIET).await.iter().all(|f| f.event != "pusher_internal:member_added"), "not told of itself");
        bob_socket.unsubscribe(&channel).await.unwrap();
        let removed = ann_socket.expect("pusher_internal:member_removed", Some(&channel), WAIT).await.unwrap();
        assert_eq!(removed.data["user_id"], bob.id.to_string());
    }

    async fn a_client_that_reconnects_and_syncs_misses_nothing(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let mut socket = user_socket(&server.url(), &bob).await;
        ann.client.send_text(chat, "before the drop").await.unwrap();
        let seen = socket.expect("App\\Events\\MessageSent", None, WAIT).await.unwrap();
        let last_seq = seen.data["seq"].as_i64().unwrap();
        socket.close().await;
        let mut sent = Vec::new();
        for i in 0..50 {
            sent.push(ann.client.send_text(chat, &format!("while away {i}")).await.unwrap().id);
        }
        let _socket = user_socket(&server.url(), &bob).await;
        let missed: Vec<i64> = bob.client.sync_all(last_seq).await.unwrap().iter()
            .filter(|e| e.event == "App\\Events\\MessageSent")
            .map(|e| e.data["message"]["id"].as_i64().unwrap())
            .collect();
        assert_eq!(missed, sent);
    }

    async fn per_user_connection_limit(backend: Backend) {
        let server = TestServer::start_with(backend, |s| s.ws_max_connections_per_user = 2).await;
        let ann = server.sign_up("Ann").await;
        let friend = server.sign_up("Friend").await;
        friend.client.add_contact(json!({"contact_user_id": ann.id})).await.unwrap();
        let mut friend_socket = user_socket(&server.url(), &friend).await;
        let _one = user_socket(&server.url(), &ann).await;
        let _two = user_socket(&server.url(), &ann).await;
        assert!(friend.client.user(ann.id).await.unwrap().is_online);
        friend_socket.drain(QUIET).await;
        // Refused sockets, as many as she has, never count her out: she
        // stays online, and her contacts hear nothing.
        for _ in 0..3 {
            let mut over = PusherSocket::connect(&server.url(), KEY).await.unwrap();
            let refused = over.subscribe(&ann.client, &format!("private-user.{}", ann.id)).await;
            assert!(refused.is_err());
            over.drain(QUIET).await;
            assert_eq!(over.closed().map(|c| c.code), Some(4100));
        }
        assert!(friend.client.user(ann.id).await.unwrap().is_online, "still online with two sockets open");
        assert!(friend_socket.expect("App\\Events\\UserOnline", None, QUIET).await.is_none(), "no offline announced");
    }

    async fn a_socket_churning_through_channels_is_refused_past_its_budget(backend: Backend) {
        // A hundred subscriptions in 10 s are a client connecting; more is a
        // client churning channels (each a channel_occupied and a
        // channel_vacated webhook, no signature needed on public ones).
        let server = TestServer::start(backend).await;
        let mut socket = PusherSocket::connect(&server.url(), KEY).await.unwrap();
        for i in 0..100 {
            let channel = format!("news-{i}");
            socket.subscribe(&server.client, &channel).await.unwrap();
            socket.unsubscribe(&channel).await.unwrap();
        }
        let refused = socket.subscribe(&server.client, "news-100").await.unwrap_err();
        assert_eq!(refused.body().unwrap()["status"], 429, "{refused:?}");
        assert!(socket.closed().is_none(), "refused, not closed");
    }

    async fn a_socket_that_cannot_keep_up_is_told_to_reconnect(backend: Backend) {
        // A client that reads, slowly: it gets the 4200 frame (the write
        // deadline is long enough for it; the next test is the one that never reads).
        let server = TestServer::start_with(backend, |s| {
            s.ws_outbound_queue = 8;
            s.ws_write_timeout = 120;
        })
        .await;
        let (ann, bob, chat) = server.pair().await;
        let mut slow = PusherSocket::connect_from(&server.url(), KEY, None, Some(4096)).await.unwrap();
        slow.subscribe(&bob.client, &format!("private-user.{}", bob.id)).await.unwrap();
        // Big messages, never read: the socket's queue overflows.
        let text = "y".repeat(60_000);
        for _ in 0..150 {
            ann.client.send_text(chat, &text).await.unwrap();
        }
        let mut closed = None;
        for _ in 0..400 {
            match slow.next_frame(Duration::from_secs(5)).await {
                Some(_) => continue,
                None => {
                    closed = slow.closed().cloned();
                    break;
                }
            }
        }
        assert_eq!(closed.map(|c| c.code), Some(4200));
        // The server is fine and the others still get their messages.
        let mut fresh = user_socket(&server.url(), &bob).await;
        ann.client.send_text(chat, "after").await.unwrap();
        assert!(fresh.expect("App\\Events\\MessageSent", None, WAIT).await.is_some());
    }
}
