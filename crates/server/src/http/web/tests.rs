use axum::body::Body;

use super::*;

fn get(path: &str, headers: &[(header::HeaderName, &str)]) -> Request {
    let mut request = Request::builder().uri(path);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    request.body(Body::empty()).expect("request")
}

async fn body(response: Response) -> Vec<u8> {
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body")
        .to_vec()
}

#[tokio::test]
async fn root_is_the_page_with_csp_etag_and_no_cache() {
    let response = serve(Method::GET, get("/", &[])).await;
    assert_eq!(response.status(), StatusCode::OK);
    let h = response.headers().clone();
    assert_eq!(h[header::CONTENT_TYPE], HTML);
    assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP);
    assert_eq!(h[header::CACHE_CONTROL], "no-cache");
    assert!(h[header::ETAG].to_str().unwrap().starts_with('"'));
    assert!(h.get(header::CONTENT_ENCODING).is_none(), "no gzip unasked");
    let page = String::from_utf8(body(response).await).unwrap();
    assert!(page.contains("<script type=\"module\" src=\"/js/main.js\">"));
}

#[tokio::test]
async fn scripts_have_their_type_and_unknown_paths_are_404() {
    let js = serve(Method::GET, get("/js/main.js", &[])).await;
    assert_eq!(js.headers()[header::CONTENT_TYPE], JS);
    let css = serve(Method::GET, get("/app.css", &[])).await;
    assert_eq!(css.headers()[header::CONTENT_TYPE], CSS);
    for path in ["/nope", "/../Cargo.toml", "/js/", "/index.htm"] {
        let r = serve(Method::GET, get(path, &[])).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let post = serve(Method::POST, get("/", &[])).await;
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn gzip_when_accepted_and_it_decodes_to_the_file() {
    let plain = body(serve(Method::GET, get("/js/ui.js", &[])).await).await;
    let accept = [(header::ACCEPT_ENCODING, "br, gzip;q=0.8")];
    let response = serve(Method::GET, get("/js/ui.js", &accept)).await;
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    let zipped = body(response).await;
    assert!(zipped.len() < plain.len());
    let mut decoded = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&zipped[..]), &mut decoded)
        .expect("gunzip");
    assert_eq!(decoded, plain);
    let refused = [(header::ACCEPT_ENCODING, "gzip;q=0")];
    let response = serve(Method::GET, get("/js/ui.js", &refused)).await;
    assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
}

#[tokio::test]
async fn a_matching_etag_is_304_without_body() {
    let first = serve(Method::GET, get("/app.css", &[])).await;
    let etag = first.headers()[header::ETAG].to_str().unwrap().to_owned();
    let again = serve(
        Method::GET,
        get("/app.css", &[(header::IF_NONE_MATCH, &etag)]),
    )
    .await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(body(again).await.is_empty());
    let other = serve(
        Method::GET,
        get("/app.css", &[(header::IF_NONE_MATCH, "\"x\"")]),
    )
    .await;
    assert_eq!(other.status(), StatusCode::OK);
}

#[test]
fn every_file_of_web_is_embedded() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
    let mut on_disk = Vec::new();
    collect(&root, &root, &mut on_disk);
    on_disk.sort();
    let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
    embedded.sort();
    assert_eq!(on_disk, embedded, "web/ and ASSETS in web.rs differ");
}

fn collect(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("web dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).expect("below root");
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn origins_the_server_accepts() {
    let none: &[String] = &[];
    let listed = ["https://chat.example.org".to_owned()];
    let ok = |o: Option<&str>, h: Option<&str>, a: &[String]| origin_allowed(o, h, a);
    assert!(ok(None, Some("evil.example"), none), "not a browser");
    assert!(ok(
        Some("http://127.0.0.1:7780"),
        Some("127.0.0.1:7780"),
        none
    ));
    assert!(ok(
        Some("http://localhost:7780"),
        Some("localhost:7780"),
        none
    ));
    assert!(ok(Some("http://[::1]:7780"), Some("[::1]:7780"), none));
    assert!(ok(Some("https://chat.example.org/"), Some("x"), &listed));
    assert!(!ok(
        Some("http://evil.example"),
        Some("127.0.0.1:7780"),
        none
    ));
    assert!(!ok(
        Some("http://127.0.0.1:9999"),
        Some("127.0.0.1:7780"),
        none
    ));
    assert!(!ok(
        Some("http://rebound.example:7780"),
        Some("rebound.example:7780"),
        none
    ));
    assert!(!ok(Some("null"), Some("127.0.0.1:7780"), none));
    assert!(!ok(Some("http://127.0.0.1:7780"), None, none));
}
