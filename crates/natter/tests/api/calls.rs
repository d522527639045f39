//! Calls as a new user tries them: ringing, answering, signalling an offer,
//! an answer and ICE candidates between two clients, ending; the state
//! machine's refusals; concurrent answer/decline/end; the ring timeout; busy;
//! blocked; group calls; TURN credentials checked with coturn's formula.

use std::time::Duration;

use natter_client::Call;
use natter_client::socket::PusherSocket;
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{TestServer, TestUser, user_socket};

const KEY: &str = "natter-key";
const WAIT: Duration = Duration::from_secs(5);

/// An SDP description of about the size a browser makes (several KiB).
pub fn sdp(kind: &str) -> Value {
    let mut sdp =
        String::from("v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
    for i in 0..60 {
        sdp.push_str(&format!(
            "a=candidate:{i} 1 udp 2122260223 192.168.1.{i} 5{i:04} typ host generation 0\r\n"
        ));
    }
    sdp.push_str("m=audio 9 UDP/TLS/RTP/SAVPF 111 103 104 9 0 8 106 105 13 110 112 113 126\r\n");
    json!({"type": kind, "sdp": sdp})
}

pub fn ice(n: u32) -> Value {
    json!({
        "candidate": format!("candidate:{n} 1 udp 2122260223 10.0.0.{n} 4{n:04} typ host"),
        "sdpMid": "0",
        "sdpMLineIndex": 0
    })
}

fn code(err: natter_client::Error) -> u16 {
    err.status().expect("the server answered")
}

async fn act(user: &TestUser, call: &Call, action: &str) -> Result<Call, u16> {
    user.client.call_action(call.id, action).await.map_err(code)
}

/// Call `id` as `client`'s history shows it, once no longer `from` (asked
/// every 100 ms for up to 15 s; as it last was if it never changed).
async fn once_not(client: &natter_client::Client, id: i64, from: &str) -> Call {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let page = client.calls(1, 5).await.unwrap();
        let now = page
            .calls
            .into_iter()
            .find(|c| c.id == id)
            .expect("in the history");
        if now.status != from || tokio::time::Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// coturn's password for `username`, computed by openssl (another HMAC-SHA1
/// than the server's).
fn coturn_password(secret: &str, username: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha1", "-hmac", secret, "-binary"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(username.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(out.stdout)
}

backend_tests! {
    async fn a_private_call_rings_is_answered_signalled_and_ended(backend: Backend) {
        let server = TestServer::start(backend).await;
        let url = server.url();
        let (ann, bob, chat) = server.pair().await;
        let carol = server.sign_up("Carol").await;
        let mut bob_socket = user_socket(&url, &bob).await;
        let mut ann_socket = user_socket(&url, &ann).await;

        let call = ann.client.call_user(bob.id, "video").await.unwrap();
        assert_eq!((call.status.as_str(), call.call_type.as_str(), call.chat_id), ("ringing", "video", chat));
        assert_eq!(call.caller.id, ann.id);
        assert_eq!((call.status_of(ann.id), call.status_of(bob.id)), (Some("joined"), Some("ringing")));
        let rang = bob_socket.expect("App\\Events\\CallInitiated", None, WAIT).await.expect("rings");
        assert_eq!(rang.data["call"]["id"].as_i64(), Some(call.id));
        assert!(rang.data["seq"].is_i64());

        // The call channel: participants only.
        let channel = format!("private-call.{}", call.id);
        let mut ann_call = PusherSocket::connect(&url, KEY).await.unwrap();
        ann_call.subscribe(&ann.client, &channel).await.unwrap();
        let mut carol_socket = PusherSocket::connect(&url, KEY).await.unwrap();
        let refused = carol_socket.subscribe(&carol.client, &channel).await;
        assert!(refused.is_err(), "a stranger joined {channel}");

        // Only callees answer; a stranger knows nothing of the call.
        assert_eq!(act(&ann, &call, "answer").await.unwrap_err(), 403);
        assert_eq!(act(&carol, &call, "answer").await.unwrap_err(), 404);
        assert_eq!(act(&carol, &call, "end").await.unwrap_err(), 404);
        let answered = act(&bob, &call, "answer").await.unwrap();
        assert_eq!(answered.status, "ongoing");
        assert!(answered.answered_at.is_some());
        let updated = ann_call.expect("App\\Events\\CallUpdated", Some(&channel), WAIT).await.expect("on the call channel");
        assert_eq!(updated.data["call"]["status"], "ongoing");
        let updated = ann_socket.expect("App\\Events\\CallUpdated", None, WAIT).await.expect("on the user channel");
        assert_eq!(updated.data["call"]["status"], "ongoing");
        assert_eq!(act(&bob, &call, "answer").await.unwrap_err(), 409);
        assert_eq!(act(&bob, &call, "decline").await.unwrap_err(), 409);

        // Offer, answer, ICE: each reaches the other side only, as sent.
        let offer = sdp("offer");
        ann.client.signal(call.id, bob.id, "offer", offer.clone()).await.unwrap();
        let got = bob_socket.expect("App\\Events\\CallSignal", None, WAIT).await.expect("offer relayed");
        assert_eq!((got.data["call_id"].as_i64(), got.data["from_user_id"].as_i64()), (Some(call.id), Some(ann.id)));
        assert_eq!((got.data["type"].as_str(), &got.data["payload"]), (Some("offer"), &offer));
        let reply = sdp("answer");
        bob.client.signal(call.id, ann.id, "answer", reply.clone()).await.unwrap();
        let got = ann_socket.expect("App\\Events\\CallSignal", None, WAIT).await.expect("answer relayed");
        assert_eq!(got.data["payload"], reply);
        for n in 1..=3 {
            bob.client.signal(call.id, ann.id, "ice-candidate", ice(n)).await.unwrap();
        }
        for n in 1..=3 {
            let got = ann_socket.expect("App\\Events\\CallSignal", None, WAIT).await.expect("ice relayed");
            assert_eq!(got.data["payload"], ice(n), "in order");
        }
        let echoed: Vec<_> = bob_socket.drain(Duration::from_millis(300)).await.into_iter()
            .filter(|f| f.event == "App\\Events\\CallSignal").collect();
        assert!(echoed.is_empty(), "a signal came back to its sender: {echoed:?}");

        // Signalling's refusals.
        let stranger = carol.client.signal(call.id, ann.id, "offer", sdp("offer")).await.unwrap_err();
        assert_eq!(code(stranger), 404);
        let outsider = ann.client.signal(call.id, carol.id, "offer", sdp("offer")).await.unwrap_err();
        assert_eq!(code(outsider), 422);
        let huge = json!({"sdp": "a".repeat(70_000)});
        let raw = ann.client
            .raw(Method::POST, &format!("/api/calls/{}/signal", call.id),
                Some(json!({"to_user_id": bob.id, "type": "offer", "payload": huge})))
            .await
            .unwrap();
        assert_eq!(raw.status, 422, "{}", raw.body);
        assert!(raw.body["errors"]["payload"].is_array());
        let raw = ann.client
            .raw(Method::POST, &format!("/api/calls/{}/signal", call.id),
                Some(json!({"to_user_id": bob.id, "type": "hello", "payload": {}})))
            .await
            .unwrap();
        assert_eq!(raw.status, 422);

        // Ending; nothing leaves the ended state.
        let ended = act(&ann, &call, "end").await.unwrap();
        assert_eq!(ended.status, "ended");
        assert!(ended.ended_at.is_some() && ended.duration_seconds >= 0);
        assert_eq!((ended.status_of(ann.id), ended.status_of(bob.id)), (Some("left"), Some("left")));
        for action in ["answer", "decline", "end"] {
            assert_eq!(act(&bob, &call, action).await.unwrap_err(), 409, "{action}");
        }
        let late = ann.client.signal(call.id, bob.id, "ice-candidate", ice(9)).await.unwrap_err();
        assert_eq!(code(late), 409);

        // History on both sides, and the sync log.
        for user in [&ann, &bob] {
            let calls = user.client.calls(1, 20).await.unwrap();
            assert_eq!(calls.pagination.total_items, 1);
            assert_eq!((calls.calls[0].id, calls.calls[0].status.as_str()), (call.id, "ended"));
        }
        assert_eq!(carol.client.calls(1, 20).await.unwrap().pagination.total_items, 0);
        let log = bob.client.sync_all(0).await.unwrap();
        let names: Vec<&str> = log.iter().map(|e| e.event.as_str())
            .filter(|n| n.contains("Call")).collect();
        assert_eq!(names, ["App\\Events\\CallInitiated", "App\\Events\\CallUpdated", "App\\Events\\CallUpdated"]);
    }

    async fn concurrent_answer_decline_and_end_leave_one_consistent_outcome(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, _) = server.pair().await;
        let mut outcomes = std::collections::BTreeSet::new();
        for _ in 0..6 {
            let call = ann.client.call_user(bob.id, "voice").await.unwrap();
            let (answer, decline, end) = tokio::join!(
                act(&bob, &call, "answer"),
                act(&bob, &call, "decline"),
                act(&ann, &call, "end"),
            );
            for result in [&answer, &decline, &end] {
                if let Err(status) = result {
                    assert_eq!(*status, 409, "a loser gets 409, never anything else");
                }
            }
            let last = ann.client.calls(1, 1).await.unwrap().calls.remove(0);
            assert_eq!(last.id, call.id);
            match last.status.as_str() {
                "ended" => {
                    assert!(answer.is_ok() && end.is_ok() && decline.is_err());
                    assert!(last.answered_at.is_some());
                }
                "declined" => assert!(decline.is_ok() && answer.is_err() && end.is_err()),
                "missed" => assert!(end.is_ok() && answer.is_err() && decline.is_err()),
                other => panic!("the call ended up {other}"),
            }
            outcomes.insert(last.status);
        }
        assert!(!outcomes.is_empty());
    }

    async fn an_unanswered_call_is_missed_once_after_the_ring_timeout(backend: Backend) {
        let server = TestServer::start_with(backend, |s| s.calls.call_ring_timeout = 1).await;
        let url = server.url();
        let (ann, bob, _) = server.pair().await;
        let mut ann_socket = user_socket(&url, &ann).await;
        let mut bob_socket = user_socket(&url, &bob).await;
        let call = ann.client.call_user(bob.id, "voice").await.unwrap();
        for socket in [&mut ann_socket, &mut bob_socket] {
            let missed = socket.expect("App\\Events\\CallUpdated", None, Duration::from_secs(10)).await.expect("missed");
            assert_eq!(missed.data["call"]["status"], "missed");
            let more: Vec<_> = socket.drain(Duration::from_millis(1500)).await.into_iter()
                .filter(|f| f.event == "App\\Events\\CallUpdated").collect();
            assert!(more.is_empty(), "the timeout fired twice: {more:?}");
        }
        for user in [&ann, &bob] {
            let seen = user.client.calls(1, 5).await.unwrap().calls.remove(0);
            assert_eq!((seen.id, seen.status.as_str()), (call.id, "missed"));
            assert_eq!(seen.status_of(bob.id), Some("missed"));
        }
        assert_eq!(act(&bob, &call, "answer").await.unwrap_err(), 409);
    }

    async fn busy_callees_are_not_rung_and_blocked_users_cannot_call(backend: Backend) {
        let server = TestServer::start(backend).await;
        let url = server.url();
        let (ann, bob, _) = server.pair().await;
        let carol = server.sign_up("Carol").await;
        let mut bob_socket = user_socket(&url, &bob).await;
        let first = ann.client.call_user(bob.id, "voice").await.unwrap();
        bob_socket.expect("App\\Events\\CallInitiated", None, WAIT).await.expect("rings");
        let second = carol.client.call_user(bob.id, "video").await.unwrap();
        assert_eq!(second.status, "busy");
        assert_eq!(second.status_of(bob.id), Some("busy"));
        assert!(second.ended_at.is_some());
        let rung: Vec<_> = bob_socket.drain(Duration::from_millis(400)).await.into_iter()
            .filter(|f| f.event == "App\\Events\\CallInitiated").collect();
        assert!(rung.is_empty(), "a busy callee was rung: {rung:?}");
        assert_eq!(act(&bob, &second, "answer").await.unwrap_err(), 409);
        // Once the first call is over, Bob can be rung again.
        act(&bob, &first, "answer").await.unwrap();
        act(&bob, &first, "end").await.unwrap();
        assert_eq!(carol.client.call_user(bob.id, "voice").await.unwrap().status, "ringing");

        // Blocked, either way: 403 both ways.
        let dave = server.sign_up("Dave").await;
        let (_, row) = dave.client.add_contact(json!({"contact_user_id": ann.id})).await.unwrap();
        let chat = ann.client.private_chat(dave.id).await.unwrap().1;
        dave.client.toggle_block(row.id).await.unwrap();
        assert_eq!(code(ann.client.call_user(dave.id, "voice").await.unwrap_err()), 403);
        assert_eq!(code(dave.client.call_user(ann.id, "voice").await.unwrap_err()), 403);
        assert_eq!(code(ann.client.call_chat(chat.id, "voice").await.unwrap_err()), 403);

        // Bad requests.
        for body in [json!({"type": "voice"}), json!({"callee_id": ann.id, "type": "voice"}),
                     json!({"callee_id": bob.id, "type": "hologram"}),
                     json!({"callee_id": bob.id, "chat_id": 1, "type": "voice"})] {
            let raw = ann.client.raw(Method::POST, "/api/calls", Some(body.clone())).await.unwrap();
            assert_eq!(raw.status, 422, "{body}: {}", raw.body);
        }
        assert_eq!(code(ann.client.call_user(9_999_999, "voice").await.unwrap_err()), 404);
        assert_eq!(code(carol.client.call_chat(chat.id, "voice").await.unwrap_err()), 404);
    }

    async fn group_calls_keep_each_participants_status(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ann = server.sign_up("Ann").await;
        let bob = server.sign_up("Bob").await;
        let carol = server.sign_up("Carol").await;
        let group = ann.client.create_group("Trio", &[bob.id, carol.id]).await.unwrap();
        let call = ann.client.call_chat(group.id, "video").await.unwrap();
        assert_eq!(call.participants.len(), 3);
        let answered = act(&bob, &call, "answer").await.unwrap();
        assert_eq!((answered.status.as_str(), answered.status_of(carol.id)), ("ongoing", Some("ringing")));
        let declined = act(&carol, &call, "decline").await.unwrap();
        assert_eq!((declined.status.as_str(), declined.status_of(carol.id)), ("ongoing", Some("declined")));
        let left = act(&bob, &call, "end").await.unwrap();
        assert_eq!(left.status, "ended", "one person left alone ends the call");
        assert_eq!(
            (left.status_of(ann.id), left.status_of(bob.id), left.status_of(carol.id)),
            (Some("left"), Some("left"), Some("declined"))
        );

        // Nobody answers and the caller hangs up: missed for the callees.
        let call = ann.client.call_chat(group.id, "voice").await.unwrap();
        let declined = act(&bob, &call, "decline").await.unwrap();
        assert_eq!(declined.status, "ringing", "Carol is still being rung");
        let ended = act(&ann, &call, "end").await.unwrap();
        assert_eq!(ended.status, "missed");
        assert_eq!((ended.status_of(bob.id), ended.status_of(carol.id)), (Some("declined"), Some("missed")));

        // Everyone declines: declined.
        let call = ann.client.call_chat(group.id, "voice").await.unwrap();
        act(&bob, &call, "decline").await.unwrap();
        assert_eq!(act(&carol, &call, "decline").await.unwrap().status, "declined");
    }

    async fn a_call_ends_when_its_people_stay_offline(backend: Backend) {
        let server = TestServer::start_with(backend, |s| s.calls.call_offline_grace = 1).await;
        let url = server.url();
        let (ann, bob, _) = server.pair().await;
        let carol = server.sign_up("Carol").await;
        let ann_socket = user_socket(&url, &ann).await;
        let bob_socket = user_socket(&url, &bob).await;
        let call = ann.client.call_user(bob.id, "voice").await.unwrap();
        assert_eq!(act(&bob, &call, "answer").await.unwrap().status, "ongoing");
        // Bob's connection drops and does not come back; Ann's stays.
        bob_socket.close().await;
        let ended = once_not(&ann.client, call.id, "ongoing").await;
        assert_eq!(ended.status, "ended", "the call ended after Bob's grace ran out");
        assert_eq!((ended.status_of(ann.id), ended.status_of(bob.id)), (Some("left"), Some("left")));
        // Neither is busy any more: Carol's call to Ann rings.
        let (_, _) = carol.client.private_chat(ann.id).await.unwrap();
        assert_eq!(carol.client.call_user(ann.id, "voice").await.unwrap().status, "ringing");
        drop(ann_socket);
    }

    async fn a_person_is_in_one_call_at_a_time(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, _) = server.pair().await;
        let carol = server.sign_up("Carol").await;
        let dave = server.sign_up("Dave").await;
        // Ann's call to Bob still rings: she cannot start another.
        let first = ann.client.call_user(bob.id, "voice").await.unwrap();
        assert_eq!(code(ann.client.call_user(carol.id, "voice").await.unwrap_err()), 409);
        // Bob, rung but not yet in it, may call Carol; once in that call he
        // cannot answer Ann's.
        let bobs = bob.client.call_user(carol.id, "video").await.unwrap();
        assert_eq!(bobs.status, "ringing");
        assert_eq!(act(&bob, &first, "answer").await.unwrap_err(), 409);
        act(&bob, &bobs, "end").await.unwrap();
        assert_eq!(act(&bob, &first, "answer").await.unwrap().status, "ongoing");
        act(&ann, &first, "end").await.unwrap();
        // A participant row left joined to a call that is over locks nobody out.
        let stale = format!(
            "UPDATE call_participants SET status = 'joined' WHERE call_id = {} AND user_id = {}",
            first.id, ann.id
        );
        sea_orm::ConnectionTrait::execute_unprepared(&server.state().db.write, &stale).await.unwrap();
        // Two starts at once from one person: one call, one 409.
        let (to_carol, to_dave) = tokio::join!(
            ann.client.call_user(carol.id, "voice"),
            ann.client.call_user(dave.id, "voice"),
        );
        let started: Vec<_> = [to_carol, to_dave].into_iter().collect();
        let calls: Vec<&Call> = started.iter().filter_map(|r| r.as_ref().ok()).collect();
        let refused: Vec<u16> = started.iter().filter_map(|r| r.as_ref().err())
            .map(|e| e.status().expect("the server answered")).collect();
        assert_eq!((calls.len(), refused), (1, vec![409]), "exactly one call started");
        let page = ann.client.calls(1, 10).await.unwrap();
        let live = page.calls.iter().filter(|c| c.status == "ringing" || c.status == "ongoing").count();
        assert_eq!(live, 1, "one live call in Ann's history");
    }

    async fn signalling_is_rate_limited(backend: Backend) {
        let server = TestServer::start_with(backend, |s| s.calls.call_signals_per_10_seconds = 3).await;
        let url = server.url();
        let (ann, bob, _) = server.pair().await;
        let mut bob_socket = user_socket(&url, &bob).await;
        let call = ann.client.call_user(bob.id, "voice").await.unwrap();
        act(&bob, &call, "answer").await.unwrap();
        // Refused signals reach nobody and use no quota.
        let to_self = ann.client.signal(call.id, ann.id, "offer", sdp("offer")).await.unwrap_err();
        assert_eq!(code(to_self), 422);
        for n in 1..=3 {
            ann.client.signal(call.id, bob.id, "ice-candidate", ice(n)).await.unwrap();
        }
        let over = ann.client.signal(call.id, bob.id, "ice-candidate", ice(4)).await.unwrap_err();
        let (status, retry_after) = (over.status(), over.retry_after());
        assert_eq!(status, Some(429));
        assert!(retry_after.is_some_and(|s| (1..=10).contains(&s)), "Retry-After: {retry_after:?}");
        let heard: Vec<_> = bob_socket.drain(Duration::from_millis(500)).await.into_iter()
            .filter(|f| f.event == "App\\Events\\CallSignal").map(|f| f.data["payload"].clone()).collect();
        assert_eq!(heard, vec![ice(1), ice(2), ice(3)], "only the signals within the limit relayed");
        // Bob's quota is his own.
        bob.client.signal(call.id, ann.id, "answer", sdp("answer")).await.unwrap();
    }

    async fn a_call_joined_without_a_socket_ends_when_nobody_connects(backend: Backend) {
        let server = TestServer::start_with(backend, |s| s.calls.call_offline_grace = 1).await;
        let (ann, bob, _) = server.pair().await;
        // Both through the API only: no socket opens, none closes.
        let call = ann.client.call_user(bob.id, "voice").await.unwrap();
        assert_eq!(act(&bob, &call, "answer").await.unwrap().status, "ongoing");
        let ended = once_not(&ann.client, call.id, "ongoing").await;
        assert_eq!(ended.status, "ended", "the call ended once the grace ran out with nobody online");
        assert_eq!((ended.status_of(ann.id), ended.status_of(bob.id)), (Some("left"), Some("left")));
        // An answer from someone whose socket is open is not cut short.
        let url = server.url();
        let ann_socket = user_socket(&url, &ann).await;
        let bob_socket = user_socket(&url, &bob).await;
        let call = ann.client.call_user(bob.id, "voice").await.unwrap();
        assert_eq!(act(&bob, &call, "answer").await.unwrap().status, "ongoing");
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let page = ann.client.calls(1, 5).await.unwrap();
        let now = page.calls.into_iter().find(|c| c.id == call.id).unwrap();
        assert_eq!(now.status, "ongoing", "both online: the call goes on");
        drop((ann_socket, bob_socket));
    }

    async fn leaving_or_being_removed_from_a_group_ends_ones_part_in_its_calls(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ann = server.sign_up("Ann").await;
        let bob = server.sign_up("Bob").await;
        let carol = server.sign_up("Carol").await;
        let dave = server.sign_up("Dave").await;
        let group = ann.client.create_group("Four", &[bob.id, carol.id, dave.id]).await.unwrap();
        let call = ann.client.call_chat(group.id, "voice").await.unwrap();
        act(&bob, &call, "answer").await.unwrap();
        // Carol, still ringing, is removed: she can no longer answer or signal.
        ann.client.remove_member(group.id, carol.id).await.unwrap();
        assert_eq!(act(&carol, &call, "answer").await.unwrap_err(), 409);
        let signal = carol.client.signal(call.id, ann.id, "offer", sdp("offer")).await.unwrap_err();
        assert_eq!(code(signal), 409);
        // Bob, in the call, leaves the group: he is out of it too.
        bob.client.leave_group(group.id).await.unwrap();
        let now = act(&dave, &call, "answer").await.unwrap();
        assert_eq!(
            (now.status.as_str(), now.status_of(bob.id), now.status_of(carol.id), now.status_of(dave.id)),
            ("ongoing", Some("left"), Some("declined"), Some("joined"))
        );
        let signal = bob.client.signal(call.id, ann.id, "ice-candidate", ice(1)).await.unwrap_err();
        assert_eq!(code(signal), 409);
    }

    async fn history_is_paginated(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, _) = server.pair().await;
        let mut ids = Vec::new();
        for _ in 0..5 {
            let call = ann.client.call_user(bob.id, "voice").await.unwrap();
            act(&ann, &call, "end").await.unwrap();
            ids.push(call.id);
        }
        ids.reverse();
        let first = bob.client.calls(1, 2).await.unwrap();
        let third = bob.client.calls(3, 2).await.unwrap();
        assert_eq!((first.pagination.total_items, first.pagination.total_pages), (5, 3));
        let seen: Vec<i64> = first.calls.iter().chain(bob.client.calls(2, 2).await.unwrap().calls.iter())
            .chain(third.calls.iter()).map(|c| c.id).collect();
        assert_eq!(seen, ids, "newest first, no gap, no repeat");
        let raw = bob.client.raw(Method::GET, "/api/calls?limit=500", None).await.unwrap();
        assert_eq!(raw.status, 422);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_credentials_follow_coturns_rest_scheme() {
    let secret = "a-turn-secret-of-some-length";
    let server = TestServer::start_with(crate::common::Backend::Sqlite, |s| {
        s.calls.turn_secret = Some(secret.into());
        s.calls.turn_urls = vec![
            "turn:127.0.0.1:3478?transport=udp".into(),
            "turns:127.0.0.1:5349".into(),
        ];
        s.calls.turn_ttl = 600;
    })
    .await;
    let ann = server.sign_up("Ann").await;
    let creds = ann.client.turn_credentials().await.unwrap();
    assert_eq!(
        creds.urls,
        ["turn:127.0.0.1:3478?transport=udp", "turns:127.0.0.1:5349"]
    );
    assert_eq!(creds.ttl, 600);
    let (expiry, user) = creds.username.split_once(':').unwrap();
    assert_eq!(user.parse::<i64>().unwrap(), ann.id);
    let now = natter::clock::now_ms() / 1000;
    let expiry: i64 = expiry.parse().unwrap();
    assert!(
        (now + 598..=now + 601).contains(&expiry),
        "{expiry} vs {now}"
    );
    assert_eq!(creds.credential, coturn_password(secret, &creds.username));
    let anonymous = natter_client::Client::new(&server.url());
    let raw = anonymous
        .raw(Method::GET, "/api/calls/turn-credentials", None)
        .await
        .unwrap();
    assert_eq!(raw.status, 401);

    let plain = TestServer::start(crate::common::Backend::Sqlite).await;
    let bob = plain.sign_up("Bob").await;
    let refused = bob.client.turn_credentials().await.unwrap_err();
    assert_eq!(code(refused), 503);
}

/// A lone node killed during a call (SQLite, its default): its sockets died
/// with it and never closed, so no "went offline" was seen; started again,
/// the node takes the people of that call out of it once the grace runs out
/// and nobody came back (before, the call stayed ongoing and both busy).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cut_by_a_crash_ends_after_the_restart() {
    use crate::common::process::NatterProcess;
    use crate::common::sign_up_at;
    use natter_client::Client;

    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    let database = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("natter.db").display()
    );
    let settings = vec![
        ("DATABASE_URL", database),
        ("SMS_DRIVER", "outbox".to_string()),
        ("SMS_OUTBOX_PATH", outbox.display().to_string()),
        ("STORAGE_DIR", dir.path().display().to_string()),
        ("CALL_OFFLINE_GRACE", "1".into()),
    ];
    let mut node = NatterProcess::spawn(&settings).await;
    let url = node.url.clone();
    let ann = sign_up_at(&Client::new(&url), &outbox, "Ann").await;
    let bob = sign_up_at(&Client::new(&url), &outbox, "Bob").await;
    let _ann_socket = user_socket(&url, &ann).await;
    let _bob_socket = user_socket(&url, &bob).await;
    let call = ann.client.call_user(bob.id, "voice").await.unwrap();
    assert_eq!(act(&bob, &call, "answer").await.unwrap().status, "ongoing");
    node.kill().await;
    let again = node.restart().await;
    let ann_again = Client::new(&again.url).with_token(&ann.tokens.access_token);
    let latest = once_not(&ann_again, call.id, "ongoing").await;
    assert_eq!(latest.status, "ended", "nobody came back within the grace");
    assert_eq!(
        (latest.status_of(ann.id), latest.status_of(bob.id)),
        (Some("left"), Some("left"))
    );
    assert!(again.terminate().await.success());
}

/// Two natter processes on one PostgreSQL database and one Redis: the caller
/// on node A, the callee on node B. Ringing, answering and WebRTC signalling
/// cross nodes; the ring timeout fires once although both nodes run jobs; and
/// a call left ringing when every node is killed is missed after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_across_two_nodes_and_a_restart() {
    use crate::common::process::NatterProcess;
    use crate::common::{Backend, redis_url, sign_up_at};
    use natter_client::Client;

    let Some(redis) = redis_url() else { return };
    if !Backend::Postgres.available() {
        return;
    }
    let database = Backend::Postgres.scratch().await.expect("scratch database");
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    let app_id = format!("calls-{}", natter::secrets::random_token(8));
    let settings = |node: &str| -> Vec<(&'static str, String)> {
        vec![
            ("DATABASE_URL", database.url.clone()),
            ("REDIS_URL", redis.clone()),
            ("REVERB_APP_ID", app_id.clone()),
            ("REVERB_APP_SECRET", "cluster-secret".into()),
            (
                "APP_KEY",
                "cluster-app-key-that-is-at-least-32-chars".into(),
            ),
            ("NODE_ID", node.into()),
            ("SMS_DRIVER", "outbox".into()),
            ("SMS_OUTBOX_PATH", outbox.display().to_string()),
            ("STORAGE_DIR", dir.path().display().to_string()),
            ("OTP_RATE_PER_IP_PER_HOUR", "10000".into()),
            ("CALL_RING_TIMEOUT", "3".into()),
        ]
    };
    let mut node_a = NatterProcess::spawn(&settings("a")).await;
    let mut node_b = NatterProcess::spawn(&settings("b")).await;
    let (a, b) = (node_a.url.clone(), node_b.url.clone());
    let ann = sign_up_at(&Client::new(&a), &outbox, "Ann").await;
    let mut bob = sign_up_at(&Client::new(&b), &outbox, "Bob").await;
    bob.client = Client::new(&b).with_token(&bob.tokens.access_token);
    let mut ann_socket = user_socket(&a, &ann).await;
    let mut bob_socket = user_socket(&b, &bob).await;

    // Rings on B, answered on B, heard on A.
    let call = ann.client.call_user(bob.id, "video").await.unwrap();
    let rang = bob_socket
        .expect("App\\Events\\CallInitiated", None, WAIT)
        .await
        .expect("rang on B");
    assert_eq!(rang.data["call"]["id"].as_i64(), Some(call.id));
    let channel = format!("private-call.{}", call.id);
    let mut ann_call = PusherSocket::connect(&a, KEY).await.unwrap();
    ann_call.subscribe(&ann.client, &channel).await.unwrap();
    act(&bob, &call, "answer").await.unwrap();
    let ongoing = ann_call
        .expect("App\\Events\\CallUpdated", Some(&channel), WAIT)
        .await
        .expect("on A");
    assert_eq!(ongoing.data["call"]["status"], "ongoing");

    // Offer A -> B, answer B -> A, ICE both ways.
    let offer = sdp("offer");
    ann.client
        .signal(call.id, bob.id, "offer", offer.clone())
        .await
        .unwrap();
    let got = bob_socket
        .expect("App\\Events\\CallSignal", None, WAIT)
        .await
        .expect("offer on B");
    assert_eq!(got.data["payload"], offer);
    let reply = sdp("answer");
    bob.client
        .signal(call.id, ann.id, "answer", reply.clone())
        .await
        .unwrap();
    let got = ann_socket
        .expect("App\\Events\\CallSignal", None, WAIT)
        .await
        .expect("answer on A");
    assert_eq!(got.data["payload"], reply);
    for n in 1..=2 {
        ann.client
            .signal(call.id, bob.id, "ice-candidate", ice(n))
            .await
            .unwrap();
        bob.client
            .signal(call.id, ann.id, "ice-candidate", ice(n + 10))
            .await
            .unwrap();
    }
    for n in 1..=2 {
        let on_b = bob_socket
            .expect("App\\Events\\CallSignal", None, WAIT)
            .await
            .expect("ice on B");
        assert_eq!(on_b.data["payload"], ice(n));
        let on_a = ann_socket
            .expect("App\\Events\\CallSignal", None, WAIT)
            .await
            .expect("ice on A");
        assert_eq!(on_a.data["payload"], ice(n + 10));
    }
    act(&ann, &call, "end").await.unwrap();

    // Unanswered: missed once, although both nodes run the job queue.
    let unanswered = ann.client.call_user(bob.id, "voice").await.unwrap();
    for socket in [&mut ann_socket, &mut bob_socket] {
        let missed = loop {
            let frame = socket
                .expect("App\\Events\\CallUpdated", None, Duration::from_secs(15))
                .await
                .expect("missed");
            if frame.data["call"]["id"].as_i64() == Some(unanswered.id) {
                break frame;
            }
        };
        assert_eq!(missed.data["call"]["status"], "missed");
        let again: Vec<_> = socket
            .drain(Duration::from_secs(2))
            .await
            .into_iter()
            .filter(|f| f.event == "App\\Events\\CallUpdated")
            .collect();
        assert!(again.is_empty(), "the timeout fired twice: {again:?}");
    }

    // Every node killed while a call rings; one comes back after the timeout.
    let ringing = bob.client.call_user(ann.id, "voice").await.unwrap();
    assert_eq!(ringing.status, "ringing");
    node_a.kill().await;
    node_b.kill().await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let node_a2 = node_a.restart().await;
    let ann_again = Client::new(&node_a2.url).with_token(&ann.tokens.access_token);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        let calls = ann_again.calls(1, 1).await.unwrap();
        let latest = &calls.calls[0];
        assert_eq!(latest.id, ringing.id);
        if latest.status != "ringing" || tokio::time::Instant::now() > deadline {
            break latest.status.clone();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(status, "missed", "the timeout survived the restart");
    let log = ann_again.sync_all(0).await.unwrap();
    let updates = log
        .iter()
        .filter(|e| {
            e.event == "App\\Events\\CallUpdated"
                && e.data["call"]["id"].as_i64() == Some(ringing.id)
        })
        .count();
    assert_eq!(updates, 1, "missed once");
    assert!(node_a2.terminate().await.success());
}
