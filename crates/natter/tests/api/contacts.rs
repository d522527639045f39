//! Contacts, blocking and contact sync.

use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::common::{TestServer, unique_phone};

backend_tests! {
    async fn add_by_number_or_id_list_and_delete(backend: Backend) {
        let server = TestServer::start(backend).await;
        let me = server.sign_up("Me").await;
        let ann = server.sign_up("Ann").await;
        let bob = server.sign_up("Bob").await;
        let national = &ann.phone[2..];
        let (status, first) = me.client.add_contact(json!({"phone_number": national, "contact_name": "Annie"})).await.unwrap();
        assert_eq!(status, 201);
        assert_eq!(first.contact_name.as_deref(), Some("Annie"));
        assert_eq!(first.user.id, ann.id);
        assert!(!first.is_blocked);
        let (status, again) = me.client.add_contact(json!({"contact_user_id": ann.id})).await.unwrap();
        assert_eq!(status, 200, "adding twice returns the existing one");
        assert_eq!(again.id, first.id);
        me.client.add_contact(json!({"phone_number": bob.phone, "country_code": "44"})).await.unwrap();

        let page = me.client.contacts(1, 1).await.unwrap();
        assert_eq!(page.pagination.total_items, 2);
        assert_eq!(page.pagination.total_pages, 2);
        assert_eq!(page.contacts.len(), 1);
        assert_eq!(page.contacts[0].user.id, ann.id);
        let second = me.client.contacts(2, 1).await.unwrap();
        assert_eq!(second.contacts[0].user.id, bob.id);

        me.client.delete_contact(first.id).await.unwrap();
        assert_eq!(me.client.contacts(1, 20).await.unwrap().pagination.total_items, 1);
        assert_eq!(me.client.delete_contact(first.id).await.unwrap_err().status(), Some(404));
    }

    async fn contact_errors(backend: Backend) {
        let server = TestServer::start(backend).await;
        let me = server.sign_up("Me").await;
        let other = server.sign_up("Other").await;
        let err = me.client.add_contact(json!({"phone_number": unique_phone()})).await.unwrap_err();
        assert_eq!(err.status(), Some(404), "nobody has that number");
        let err = me.client.add_contact(json!({"contact_user_id": me.id})).await.unwrap_err();
        assert_eq!(err.status(), Some(422));
        assert!(err.body().unwrap()["errors"]["contact_user_id"].is_array());
        let err = me.client.add_contact(json!({"phone_number": me.phone})).await.unwrap_err();
        assert_eq!(err.status(), Some(422));
        let err = me.client.add_contact(json!({})).await.unwrap_err();
        assert_eq!(err.status(), Some(422));
        assert!(err.body().unwrap()["errors"]["phone_number"].is_array());
        let err = me.client.add_contact(json!({"contact_user_id": 99_999_999})).await.unwrap_err();
        assert_eq!(err.status(), Some(404));
        // Someone else's contact cannot be blocked or deleted: 404, as if absent.
        let (_, theirs) = other.client.add_contact(json!({"contact_user_id": me.id})).await.unwrap();
        assert_eq!(me.client.toggle_block(theirs.id).await.unwrap_err().status(), Some(404));
        assert_eq!(me.client.delete_contact(theirs.id).await.unwrap_err().status(), Some(404));
        for (query, field) in [("page=0", "page"), ("limit=101", "limit"), ("limit=abc", "limit")] {
            let raw = me.client.raw(Method::GET, &format!("/api/contacts?{query}"), None).await.unwrap();
            assert_eq!(raw.status, 422, "{query}");
            assert!(raw.body["errors"][field].is_array(), "{}", raw.body);
        }
    }

    async fn sync_reports_registered_numbers_in_e164(backend: Backend) {
        let server = TestServer::start(backend).await;
        let me = server.sign_up("Me").await;
        let ann = server.sign_up("Ann").await;
        let national = ann.phone[2..].to_string();
        let formatted = format!("({}) {}-{}", &national[..3], &national[3..6], &national[6..]);
        let stranger = unique_phone();
        let result = me.client.sync_contacts(&[&formatted, &stranger, "not a number", &me.phone], None).await.unwrap();
        assert_eq!(result.registered.len(), 1, "{result:?}");
        assert_eq!(result.registered[0].phone_number, ann.phone);
        assert_eq!(result.registered[0].user.id, ann.id);
        assert_eq!(result.invalid, vec!["not a number".to_string()]);
        let too_many: Vec<String> = (0..1001).map(|_| unique_phone()).collect();
        let refs: Vec<&str> = too_many.iter().map(String::as_str).collect();
        let err = me.client.sync_contacts(&refs, None).await.unwrap_err();
        assert_eq!(err.status(), Some(422));
        assert!(err.body().unwrap()["errors"]["phone_numbers"].is_array());
    }

    async fn sync_is_rate_limited_per_user(backend: Backend) {
        let server = TestServer::start_with(backend, |s| s.contact_sync_per_hour = 2).await;
        let me = server.sign_up("Me").await;
        me.client.sync_contacts(&[], None).await.unwrap();
        me.client.sync_contacts(&[], None).await.unwrap();
        let err = me.client.sync_contacts(&[], None).await.unwrap_err();
        assert_eq!(err.status(), Some(429));
        let other = server.sign_up("Other").await;
        other.client.sync_contacts(&[], None).await.unwrap();
    }
}
