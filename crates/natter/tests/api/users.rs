//! Profiles, privacy and account deletion.

use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::common::TestServer;

backend_tests! {
    async fn profile_updates_and_limits(backend: Backend) {
        let server = TestServer::start(backend).await;
        let user = server.sign_up("Old").await;
        let me = user.client.update_profile(json!({"name": "New Name", "about": "Busy"})).await.unwrap();
        assert_eq!(me.name, "New Name");
        assert_eq!(me.about.as_deref(), Some("Busy"));
        let only_about = user.client.update_profile(json!({"about": ""})).await.unwrap();
        assert_eq!(only_about.name, "New Name");
        assert_eq!(only_about.about.as_deref(), Some(""));
        for (body, field) in [
            (json!({"name": ""}), "name"),
            (json!({"name": "   "}), "name"),
            (json!({"name": "x".repeat(101)}), "name"),
            (json!({"about": "x".repeat(501)}), "about"),
            (json!({"name": 42}), "name"),
        ] {
            let err = user.client.update_profile(body.clone()).await.unwrap_err();
            assert_eq!(err.status(), Some(422), "{body}");
            assert!(err.body().unwrap()["errors"][field].is_array(), "{}", err.body().unwrap());
        }
        // 100 characters of emoji is 100 characters, not 400 bytes.
        let emoji_name = "😀".repeat(100);
        assert_eq!(user.client.update_profile(json!({"name": emoji_name})).await.unwrap().name, emoji_name);
        assert_eq!(user.client.profile().await.unwrap().name, emoji_name);
    }

    async fn privacy_hides_details_from_the_right_people(backend: Backend) {
        let server = TestServer::start(backend).await;
        let owner = server.sign_up("Owner").await;
        let friend = server.sign_up("Friend").await;
        let stranger = server.sign_up("Stranger").await;
        owner.client.update_profile(json!({"about": "secret plans"})).await.unwrap();
        owner.client.add_contact(json!({"contact_user_id": friend.id})).await.unwrap();

        let me = owner.client.update_privacy(json!({"privacy_about": "contacts", "privacy_last_seen": "nobody"})).await.unwrap();
        assert_eq!(me.privacy.about, "contacts");
        assert_eq!(me.privacy.last_seen, "nobody");
        assert_eq!(me.privacy.profile_photo, "everyone");

        let seen_by_friend = friend.client.user(owner.id).await.unwrap();
        assert_eq!(seen_by_friend.about.as_deref(), Some("secret plans"));
        assert_eq!(seen_by_friend.last_seen_at, None);
        let seen_by_stranger = stranger.client.user(owner.id).await.unwrap();
        assert_eq!(seen_by_stranger.about, None);
        assert_eq!(seen_by_stranger.name, "Owner");

        owner.client.update_privacy(json!({"privacy_about": "nobody"})).await.unwrap();
        assert_eq!(friend.client.user(owner.id).await.unwrap().about, None);
        owner.client.update_privacy(json!({"privacy_about": "everyone"})).await.unwrap();
        assert_eq!(stranger.client.user(owner.id).await.unwrap().about.as_deref(), Some("secret plans"));

        let err = owner.client.update_privacy(json!({"privacy_about": "friends"})).await.unwrap_err();
        assert_eq!(err.status(), Some(422));
        assert_eq!(err.body().unwrap()["message"], "The selected privacy about is invalid.");
    }

    async fn blocking_hides_everything_both_ways(backend: Backend) {
        let server = TestServer::start(backend).await;
        let blocker = server.sign_up("Blocker").await;
        let blocked = server.sign_up("Blocked").await;
        blocker.client.update_profile(json!({"about": "hello"})).await.unwrap();
        blocked.client.update_profile(json!({"about": "hi"})).await.unwrap();
        let (_, contact) = blocker.client.add_contact(json!({"contact_user_id": blocked.id})).await.unwrap();
        assert_eq!(blocked.client.user(blocker.id).await.unwrap().about.as_deref(), Some("hello"));
        assert!(blocker.client.toggle_block(contact.id).await.unwrap().is_blocked);
        assert_eq!(blocked.client.user(blocker.id).await.unwrap().about, None);
        assert_eq!(blocker.client.user(blocked.id).await.unwrap().about, None);
        assert!(!blocker.client.toggle_block(contact.id).await.unwrap().is_blocked);
        assert_eq!(blocked.client.user(blocker.id).await.unwrap().about.as_deref(), Some("hello"));
    }

    async fn unknown_users_are_404(backend: Backend) {
        let server = TestServer::start(backend).await;
        let user = server.sign_up("Looker").await;
        for path in ["/api/users/999999", "/api/users/abc", "/api/users/-1"] {
            let raw = user.client.raw(Method::GET, path, None).await.unwrap();
            assert_eq!(raw.status, 404, "{path}");
            assert_eq!(raw.body["success"], false);
        }
    }

    async fn deleting_an_account_signs_out_and_frees_the_number(backend: Backend) {
        let server = TestServer::start(backend).await;
        let user = server.sign_up("Leaving").await;
        let friend = server.sign_up("Staying").await;
        friend.client.add_contact(json!({"contact_user_id": user.id})).await.unwrap();
        user.client.delete_account().await.unwrap();
        assert_eq!(user.client.profile().await.unwrap_err().status(), Some(401));
        assert_eq!(friend.client.user(user.id).await.unwrap_err().status(), Some(404));
        let contacts = friend.client.contacts(1, 20).await.unwrap();
        assert_eq!(contacts.contacts[0].user.name, "Deleted account");
        assert_eq!(contacts.contacts[0].user.phone_number, None);
        let again = server.sign_in(&user.phone, Some("Back")).await;
        assert_ne!(again.id, user.id, "a new account, not the deleted one");
        assert_eq!(again.client.profile().await.unwrap().name, "Back");
    }
}
