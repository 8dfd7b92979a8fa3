//! The routes, and every bad input answered with the right status.

use crate::common::*;
use std::io::Write;
use std::time::Duration;

#[test]
fn classifies_one_text_and_batches() {
    let p = Project::two_models();
    let s = Running::start(p.config());
    let r = s.post(
        "/v1/classify",
        br#"{"text": "buy cheap pills now, winner"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let j = r.json();
    assert_eq!(
        (j["model"].as_str(), j["version"].as_str()),
        (Some("spam"), Some("v2"))
    );
    let predictions = j["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 1, "k defaults to 1");
    assert_eq!(
        predictions[0]["label"], "spam",
        "the __label__ prefix is stripped"
    );
    let prob = predictions[0]["prob"].as_f64().unwrap();
    assert!(prob > 0.5 && prob <= 1.0001, "{prob}");

    let r = s.post(
        "/v1/classify",
        br#"{"texts": ["meeting notes", "cheap pills", "agenda\nfor the\nproject lunch"], "k": 5}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    let results = j["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    let top: Vec<&str> = results
        .iter()
        .map(|x| x["predictions"][0]["label"].as_str().unwrap())
        .collect();
    assert_eq!(top, ["ham", "spam", "ham"], "newlines count as spaces");
    for x in results {
        let labels = x["predictions"].as_array().unwrap();
        assert_eq!(labels.len(), 2, "k above the labels gives all of them");
        let sum: f64 = labels.iter().map(|l| l["prob"].as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 0.01, "{sum}");
    }

    let r = s.post("/v1/classify", br#"{"texts": [], "threshold": 0.5}"#);
    assert_eq!(
        (r.status, r.json()["results"].as_array().unwrap().len()),
        (200, 0)
    );
    let r = s.post(
        "/v1/classify",
        br#"{"text": "zzzz", "k": 2, "threshold": 0.99}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["predictions"].as_array().unwrap().len() <= 1);
    assert_eq!(
        s.metrics
            .requests(atelier_serve::metrics::Route::Classify, 200),
        4
    );
}

#[test]
fn texts_are_prepared_as_the_training_text_was() {
    let p = Project::two_models();
    let v2 = p.store.resolve("v2").unwrap();
    let file = p.store.version_dir("v2").join(&v2.shards[0].path);
    // The same model, with no preprocessing recorded.
    let raw = p.commit_model_with("spam", &file, &[], serde_json::json!({}));
    let s = Running::start(p.config());
    let shouted = br#"{"text": "BUY CHEAP PILLS NOW!!! WINNER, PRIZE..."}"#;
    let prob = |r: &Reply| r.json()["predictions"][0]["prob"].as_f64().unwrap();
    let prepared = s.post("/v1/classify", shouted);
    assert_eq!(prepared.json()["predictions"][0]["label"], "spam");
    let j = s.get("/v1/models").json();
    assert_eq!(j["live"]["preprocess"]["lowercase"], true);
    assert_eq!(j["live"]["preprocess"]["split_punctuation"], true);

    let body = serde_json::json!({ "version": raw.id }).to_string();
    assert_eq!(s.admin("/v1/admin/activate", body.as_bytes()).status, 200);
    let as_is = s.post("/v1/classify", shouted);
    assert_eq!(version_of(&as_is), raw.id);
    assert!(
        prob(&prepared) > 0.9 && prob(&prepared) > prob(&as_is) + 0.01,
        "lowercased: {}, as sent: {}",
        prob(&prepared),
        prob(&as_is)
    );
    // The same text in lowercase, no punctuation: the same answer either way.
    let plain = br#"{"text": "buy cheap pills now winner prize"}"#;
    let a = prob(&s.post("/v1/classify", plain));
    assert_eq!(
        s.admin("/v1/admin/activate", br#"{"version": "v2"}"#)
            .status,
        200
    );
    assert_eq!(prob(&s.post("/v1/classify", plain)), a);
}

#[test]
fn malformed_json_is_400() {
    let p = Project::two_models();
    let s = Running::start(p.config());
    for body in [
        &b"{\"text\": "[..],
        b"not json",
        b"{'text': 'a'}",
        b"",
        b"{\"text\": \"a\"} x",
    ] {
        let r = s.post("/v1/classify", body);
        assert_eq!(
            r.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(body),
            r.text()
        );
        assert_eq!(r.code(), "malformed_json");
    }
}

#[test]
fn wrong_types_and_shapes_are_422() {
    let p = Project::two_models();
    let s = Running::start(p.config());
    for body in [
        r#"{"text": 5}"#,
        r#"{"text": null, "texts": null}"#,
        r#"{"texts": "not a list"}"#,
        r#"{"texts": ["a", 7]}"#,
        r#"{"text": ["a"]}"#,
        r#"{"text": "a", "texts": ["b"]}"#,
        r#"{}"#,
        r#"[1, 2]"#,
        r#""text""#,
        r#"{"text": "a", "k": 0}"#,
        r#"{"text": "a", "k": -1}"#,
        r#"{"text": "a", "k": "3"}"#,
        r#"{"text": "a", "k": 1.5}"#,
        r#"{"text": "a", "threshold": 2}"#,
        r#"{"text": "a", "model": "/etc/passwd"}"#,
    ] {
        let r = s.post("/v1/classify", body.as_bytes());
        assert_eq!(r.status, 422, "{body}: {}", r.text());
        assert_eq!(r.code(), "invalid_request", "{body}");
    }
}

#[test]
fn invalid_utf8_is_400() {
    let p = Project::two_models();
    let s = Running::start(p.config());
    for body in [
        &b"{\"text\": \"caf\xe9\"}"[..],
        b"{\"texts\": [\"ok\", \"\xff\xfe\xfd\"]}",
        b"\xef\xbb\xbf\xc3{\"text\": \"a\"}",
    ] {
        let r = s.post("/v1/classify", body);
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.code(), "malformed_json");
    }
    // Escaped lone surrogates are not UTF-8 either.
    let r = s.post("/v1/classify", br#"{"text": "\ud800"}"#);
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn a_100_mb_body_is_refused_without_reading_it() {
    let p = Project::two_models();
    let s = Running::start(p.config());
    const SIZE: usize = 100 << 20;

    // Announced by Content-Length: refused at once.
    let mut c = Client::connect(s.addr);
    let head = format!(
        "POST /v1/classify HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: {SIZE}\r\n\r\n{{\"text\": \""
    );
    c.stream().write_all(head.as_bytes()).unwrap();
    let r = c.read_reply().unwrap();
    assert_eq!((r.status, r.code().as_str()), (413, "body_too_large"));

    // Streamed in chunks with no length: cut off at the limit, whatever the client sends.
    let mut c = Client::connect(s.addr);
    let mut writer = c.stream().try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let head = "POST /v1/classify HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n";
        writer.write_all(head.as_bytes())?;
        let chunk = vec![b'a'; 1 << 20];
        let mut sent = 0;
        while sent < SIZE {
            writer.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
            writer.write_all(&chunk)?;
            writer.write_all(b"\r\n")?;
            sent += chunk.len();
        }
        writer.write_all(b"0\r\n\r\n")?;
        Ok::<usize, std::io::Error>(sent)
    });
    let r = c.read_reply().unwrap();
    assert_eq!((r.status, r.code().as_str()), (413, "body_too_large"));
    assert!(c.closed_by_server());
    let sent = sender.join().unwrap();
    assert!(sent.is_err(), "the server stopped reading: {sent:?}");
    // And it still answers.
    assert_eq!(s.get("/healthz").status, 200);
}

#[test]
fn ten_thousand_texts_and_long_texts_are_413() {
    let p = Project::two_models();
    let s = Running::start(p.config());
    let texts = vec!["hello"; 10_000];
    let body = serde_json::json!({ "texts": texts }).to_string();
    assert!(
        body.len() < 1 << 20,
        "under the body limit: the batch limit answers"
    );
    let r = s.post("/v1/classify", body.as_bytes());
    assert_eq!((r.status, r.code().as_str()), (413, "too_many_texts"));
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("10000")
    );

    let long = "word ".repeat(40_000);
    let body = serde_json::json!({ "texts": ["short", long] }).to_string();
    let r = s.post("/v1/classify", body.as_bytes());
    assert_eq!((r.status, r.code().as_str()), (413, "text_too_long"));
    assert!(r.text().contains("text 1"));

    // At the limits, it answers.
    let texts = vec!["hello there"; 1000];
    let body = serde_json::json!({ "texts": texts }).to_string();
    let r = s.post("/v1/classify", body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["results"].as_array().unwrap().len(), 1000);
}

#[test]
fn a_slow_client_that_never_finishes_its_body_is_cut_off() {
    let p = Project::two_models();
    let mut config = p.config();
    config.limits.request_timeout = Duration::from_millis(500);
    let s = Running::start(config);

    let mut c = Client::connect(s.addr);
    c.stream()
        .write_all(
            b"POST /v1/classify HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"text\":",
        )
        .unwrap();
    let r = c.read_reply().unwrap();
    assert_eq!((r.status, r.code().as_str()), (408, "timeout"));
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed_by_server());

    // One that never finishes its head is disconnected too.
    let mut c = Client::connect(s.addr);
    c.stream()
        .write_all(b"POST /v1/classify HTTP/1.1\r\nhost: x\r\ncontent-le")
        .unwrap();
    assert!(c.closed_by_server());

    // An idle keep-alive connection is closed after the same time.
    let mut c = Client::connect(s.addr);
    assert_eq!(c.request("GET", "/healthz", &[], b"").status, 200);
    assert!(c.closed_by_server());
    assert_eq!(
        s.metrics
            .requests(atelier_serve::metrics::Route::Classify, 408),
        1
    );
    wait_for("connections to close", Duration::from_secs(10), || {
        s.metrics.connections_now() == 0
    });
}

#[test]
fn a_client_that_never_reads_its_answers_is_disconnected() {
    let p = Project::two_models();
    let mut config = p.config();
    config.limits.request_timeout = Duration::from_millis(500);
    let s = Running::start(config);
    let mut c = Client::connect(s.addr);
    // Pipelined requests whose answers (several KB each) fill the socket buffers.
    let request = b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n".repeat(100);
    c.stream()
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut sent = 0;
    while sent < 20_000 && c.stream().write_all(&request).is_ok() {
        sent += 100;
    }
    wait_for(
        "the server to drop the connection",
        Duration::from_secs(30),
        || s.metrics.connections_now() == 0,
    );
    assert_eq!(s.get("/healthz").status, 200);
}

#[test]
fn over_the_concurrency_limit_is_503_and_probes_still_answer() {
    let p = Project::two_models();
    let mut config = p.config();
    config.limits.max_in_flight = 1;
    let s = Running::start(config);
    // A request that holds the only slot: its body is not finished yet.
    let mut slow = Client::connect(s.addr);
    slow.stream()
        .write_all(
            b"POST /v1/classify HTTP/1.1\r\nhost: x\r\ncontent-length: 20\r\n\r\n{\"text\": ",
        )
        .unwrap();
    wait_for(
        "the slow request to hold its slot",
        Duration::from_secs(10),
        || s.metrics.in_flight_now() == 1,
    );
    let r = s.post("/v1/classify", br#"{"text": "a"}"#);
    assert_eq!((r.status, r.code().as_str()), (503, "overloaded"));
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(s.get("/healthz").status, 200);
    assert_eq!(s.get("/readyz").status, 200);
    assert_eq!(s.get("/metrics").status, 200);
    // The slow one finishes and is answered; the slot is free again.
    slow.stream().write_all(b"\"cheap\"}   ").unwrap();
    let r = slow.read_reply().unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    wait_for("the slot to be free", Duration::from_secs(10), || {
        s.metrics.in_flight_now() == 0
    });
    assert_eq!(s.post("/v1/classify", br#"{"text": "a"}"#).status, 200);
}

#[test]
fn admin_routes_need_the_right_token() {
    let p = Project::two_models();
    let s = Running::start(p.config());
    let body = br#"{"version": "v3"}"#;
    let mut c = Client::connect(s.addr);
    let r = c.request("POST", "/v1/admin/activate", &[], body);
    assert_eq!((r.status, r.code().as_str()), (401, "missing_token"));
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    for auth in [
        "Bearer wrong-token-0123456789abcdef",
        "Bearer test-token-0123456789abcde",
        "Bearer test-token-0123456789abcdef0",
        "Basic dGVzdDp0ZXN0",
        "Bearer",
        "",
    ] {
        let r = Client::connect(s.addr).request(
            "POST",
            "/v1/admin/activate",
            &[("authorization", auth)],
            body,
        );
        assert_eq!(r.status, 401, "{auth:?}: {}", r.text());
        let r = Client::connect(s.addr).request(
            "POST",
            "/v1/admin/rollback",
            &[("authorization", auth)],
            b"",
        );
        assert_eq!(r.status, 401, "{auth:?}");
    }
    assert_eq!(s.live(), "v2", "nothing moved");
    let r = s.admin("/v1/admin/activate", body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.live(), "v3");
}

#[test]
fn without_a_token_admin_routes_are_disabled() {
    let p = Project::two_models();
    let mut config = p.config();
    config.admin_token = None;
    let s = Running::start(config);
    let r = s.admin("/v1/admin/activate", br#"{"version": "v3"}"#);
    assert_eq!((r.status, r.code().as_str()), (403, "admin_disabled"));
    let r = s.admin("/v1/admin/rollback", b"");
    assert_eq!(r.status, 403);
    assert_eq!(s.get("/v1/models").json()["admin"], false);

    let mut config = p.config();
    config.admin_token = Some("short".into());
    let err = bind_error(config);
    assert!(err.to_string().contains("at least 16"), "{err}");
}

#[test]
fn no_request_can_name_a_path() {
    let p = Project::two_models();
    let s = Running::start(p.config());
    for version in [
        "../../../etc/passwd",
        "/etc/passwd",
        "..",
        ".atelier",
        "v2/../v3",
    ] {
        let body = serde_json::json!({ "version": version }).to_string();
        let r = s.admin("/v1/admin/activate", body.as_bytes());
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "bad_version_name"),
            "{version}"
        );
    }
    for path in [
        "/v1/models/..%2F..%2Fetc%2Fpasswd/bill",
        "/v1/models/%2Fetc%2Fpasswd/bill",
        "/v1/models/.hidden/bill",
    ] {
        let r = s.get(path);
        assert_eq!(r.status, 400, "{path}: {}", r.text());
    }
    assert_eq!(s.get("/v1/models/../../etc/passwd/bill").status, 404);
    assert_eq!(s.live(), "v2");
}

#[test]
fn models_bills_probes_and_unknown_routes() {
    let p = Project::two_models();
    let s = Running::start(p.config());
    let j = s.get("/v1/models").json();
    assert_eq!(j["live"]["version"], "v2");
    assert_eq!(j["live"]["labels"].as_array().unwrap().len(), 2);
    assert_eq!(j["alias"], "prod");
    assert_eq!(j["admin"], true);
    let models = j["models"].as_array().unwrap();
    let ids: Vec<&str> = models
        .iter()
        .map(|m| m["version"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["v3", "v2"], "model versions only, newest first");
    assert_eq!(models[1]["live"], true);
    assert_eq!(models[1]["aliases"], serde_json::json!(["prod"]));
    assert_eq!(models[0]["aliases"], serde_json::json!(["model"]));
    assert_eq!(models[1]["metrics"]["test"]["accuracy"], 0.97);
    assert_eq!(models[1]["trained_on"], serde_json::json!(["v1"]));
    assert_eq!(models[1]["has_bill"], true);

    let bill = s.get("/v1/models/v2/bill");
    assert_eq!(bill.status, 200);
    assert_eq!(bill.json()["steps"][0]["name"], "train");
    assert_eq!(
        s.get("/v1/models/prod/bill").status,
        200,
        "aliases work too"
    );
    let r = s.get("/v1/models/v1/bill");
    assert_eq!((r.status, r.code().as_str()), (404, "not_a_model"));
    let r = s.get("/v1/models/v99/bill");
    assert_eq!((r.status, r.code().as_str()), (404, "unknown_version"));

    assert_eq!(s.get("/healthz").json()["status"], "ok");
    let ready = s.get("/readyz").json();
    assert_eq!(
        (ready["ready"].as_bool(), ready["version"].as_str()),
        (Some(true), Some("v2"))
    );

    let page = s.get("/");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    assert!(page.text().contains("id=\"try-button\""));
    assert!(
        !page.text().contains("http://") && !page.text().contains("https://"),
        "no CDN"
    );

    let r = s.get("/nope");
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
    let r = s.post("/v1/models", b"{}");
    assert_eq!((r.status, r.code().as_str()), (405, "method_not_allowed"));
    let r = s.get("/v1/classify");
    assert_eq!(r.status, 405);

    let metrics = s.get("/metrics");
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let m = metrics.text();
    for line in [
        "atelier_serve_requests_total{route=\"/v1/models\",status=\"200\"} 1",
        "atelier_serve_request_errors_total{route=\"other\",status=\"404\"} 1",
        "atelier_serve_request_errors_total{route=\"/v1/models\",status=\"405\"} 1",
        "atelier_serve_model_info{name=\"spam\",version=\"v2\"} 1",
        "atelier_serve_ready 1",
        "# TYPE atelier_serve_request_duration_seconds histogram",
        "atelier_serve_request_duration_seconds_count{route=\"/v1/models/{version}/bill\"} 4",
    ] {
        assert!(m.contains(line), "{line} missing from\n{m}");
    }
}

#[test]
fn the_server_starts_on_what_it_is_told() {
    let p = Project::two_models();
    // Default: prod.
    assert_eq!(Running::start(p.config()).live(), "v2");
    // A version asked for.
    let mut config = p.config();
    config.model.parse_model("spam@v3");
    assert_eq!(Running::start(config).live(), "v3");
    // prod on a dataset: the newest model.
    p.store.set_alias("prod", "v1").unwrap();
    assert_eq!(Running::start(p.config()).live(), "v3");
    // Errors that say what is wrong.
    let bind = |config| bind_error(config).to_string();
    let mut config = p.config();
    config.model.parse_model("other");
    assert!(bind(config).contains("no model named `other`"));
    let mut config = p.config();
    config.model.parse_model("@v1");
    assert!(bind(config).contains("not a model"));
    let empty = tempfile::tempdir().unwrap();
    let mut config = p.config();
    config.project = empty.path().to_path_buf();
    assert!(bind(config).contains("has no versions yet"));
}

#[test]
fn an_unknown_model_name_is_named_with_the_known_ones() {
    let p = Project::two_models();
    let mut config = p.config();
    config.model.name = Some("spma".into());
    config.model.version = Some("v2".into());
    let err = bind_error(config).to_string();
    assert!(
        err.contains("no model named `spma`") && err.contains("its models: spam"),
        "{err}"
    );
}

#[test]
fn an_empty_text_is_not_classified() {
    let p = Project::two_models();
    let s = Running::start(p.config());
    let r = s.post("/v1/classify", br#"{"text": ""}"#);
    assert_eq!((r.status, r.code().as_str()), (422, "empty_text"));
    let r = s.post("/v1/classify", br#"{"texts": ["free money", " \t\n"]}"#);
    assert_eq!((r.status, r.code().as_str()), (422, "empty_text"));
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("text 1")
    );
    let r = s.post("/v1/classify", br#"{"text": "free money"}"#);
    assert_eq!(r.status, 200);
}

#[test]
fn a_busy_address_is_said_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let p = Project::two_models();
    let mut config = p.config();
    config.addr = taken.local_addr().unwrap();
    let err = bind_error(config);
    let chain = anyhow_like(&err);
    assert_eq!(chain.matches("in use").count(), 1, "{chain}");
}

/// An error and its causes, as `{:#}` of anyhow prints them.
fn anyhow_like(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
