//! The web client as the server serves it: types, caching, the CSP, the API
//! never shadowed, WEB_CLIENT=false, and the development code route. (The
//! page's behaviour is tested in a browser by tests/web.)

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH};

use crate::common::{Backend, TestServer, unique_phone};

async fn get(url: &str) -> reqwest::Response {
    reqwest::get(url).await.unwrap()
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The versioned URL of `file` as index.html names it.
fn asset_url(html: &str, file: &str) -> String {
    let end = html.find(file).expect("index.html names the file") + file.len();
    let start = html[..end].rfind("/assets/").unwrap();
    html[start..end].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_files_are_served_with_types_caching_and_a_csp() {
    let server = TestServer::start(Backend::Sqlite).await;
    let base = server.url();
    let index = get(&format!("{base}/")).await;
    assert_eq!(index.status(), StatusCode::OK);
    assert_eq!(header(&index, CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(header(&index, CACHE_CONTROL), "no-cache");
    assert_eq!(
        header(&index, "x-content-type-options".parse().unwrap()),
        "nosniff"
    );
    assert_eq!(
        header(&index, "referrer-policy".parse().unwrap()),
        "no-referrer"
    );
    let csp = header(&index, CONTENT_SECURITY_POLICY).to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    // APP_URL's socket origin (http://localhost:8000 in the test settings).
    assert!(
        csp.contains("connect-src 'self' ws://localhost:8000"),
        "{csp}"
    );
    let etag = header(&index, ETAG).to_string();
    let html = index.text().await.unwrap();
    assert!(html.contains("natter-config") && !html.contains("%NATTER_CONFIG%"));

    // Revalidation: the same ETag answers 304 with no body.
    let again = reqwest::Client::new()
        .get(format!("{base}/"))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.bytes().await.unwrap().is_empty());

    // Versioned assets: their type, and a year of caching.
    let script = get(&format!("{base}{}", asset_url(&html, "/js/main.js"))).await;
    assert_eq!(script.status(), StatusCode::OK);
    assert_eq!(
        header(&script, CONTENT_TYPE),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        header(&script, CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    let style = get(&format!("{base}{}", asset_url(&html, "/app.css"))).await;
    assert_eq!(header(&style, CONTENT_TYPE), "text/css; charset=utf-8");
    // Another version's URL still works, but is not cached for long.
    let stale = get(&format!("{base}/assets/0000/js/main.js")).await;
    assert_eq!(
        (stale.status(), header(&stale, CACHE_CONTROL)),
        (StatusCode::OK, "no-cache")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_never_shadows_the_api_and_routes_its_own_paths() {
    let server = TestServer::start(Backend::Sqlite).await;
    let base = server.url();
    // The media route answers an unsigned request itself (403, JSON), not the page.
    let media = get(&format!("{base}/media/x.jpg")).await;
    assert_eq!(media.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&media, CONTENT_TYPE), "application/json");
    for path in [
        "/api/nothing",
        "/api",
        "/app",
        "/broadcasting/nothing",
        "/metrics/x",
        "/apps/1/x",
    ] {
        let response = get(&format!("{base}{path}")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            header(&response, CONTENT_TYPE),
            "application/json",
            "{path}"
        );
    }
    assert_eq!(
        get(&format!("{base}/health")).await.status(),
        StatusCode::OK
    );
    // A page path is the page; something that looks like a missing file is not.
    let spa = get(&format!("{base}/chats/12")).await;
    assert_eq!(
        (spa.status(), header(&spa, CONTENT_TYPE)),
        (StatusCode::OK, "text/html; charset=utf-8")
    );
    assert_eq!(
        get(&format!("{base}/missing.js")).await.status(),
        StatusCode::NOT_FOUND
    );
    let post = reqwest::Client::new()
        .post(format!("{base}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_client_false_turns_the_page_off() {
    let server = TestServer::start_with(Backend::Sqlite, |s| s.web_client = false).await;
    let response = get(&format!("{}/", server.url())).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&response, CONTENT_TYPE), "application/json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_codes_are_shown_only_with_the_development_flag() {
    let phone = unique_phone();
    let query = format!(
        "/api/dev/sms-code?phone_number={}&country_code=1",
        &phone[2..]
    );
    let off = TestServer::start(Backend::Sqlite).await;
    off.client.send_otp(&phone[2..], "1").await.unwrap();
    assert_eq!(
        get(&format!("{}{query}", off.url())).await.status(),
        StatusCode::NOT_FOUND
    );

    let on = TestServer::start_with(Backend::Sqlite, |s| s.web_dev_show_codes = true).await;
    let missing = get(&format!("{}{query}", on.url())).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    on.client.send_otp(&phone[2..], "1").await.unwrap();
    let found: serde_json::Value = get(&format!("{}{query}", on.url()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["phone_number"], phone.as_str());
    assert_eq!(found["code"], on.last_code(&phone).as_str());
    let bad = get(&format!(
        "{}/api/dev/sms-code?phone_number=12&country_code=1",
        on.url()
    ))
    .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
