//! Continuity: swaps under load without a failed request, broken versions refused,
//! rollback, the alias followed, restarts, and the drain at shutdown.

use crate::common::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Clients on keep-alive connections classifying until stopped (or for at most
/// 60 s); each returns its answers' statuses and versions.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<BTreeMap<(u16, String), u64>>>,
}

impl Load {
    fn start(s: &Running, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..clients)
            .map(|i| {
                let stop = Arc::clone(&stop);
                let addr = s.addr;
                std::thread::spawn(move || {
                    let mut seen = BTreeMap::new();
                    let mut client = Client::connect(addr);
                    let deadline = Instant::now() + Duration::from_secs(60);
                    let body = if i % 2 == 0 {
                        br#"{"text": "cheap pills winner"}"#.to_vec()
                    } else {
                        br#"{"texts": ["meeting agenda", "buy now", "lunch"], "k": 2}"#.to_vec()
                    };
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                        let (status, version) =
                            match client.try_request("POST", "/v1/classify", &[], &body) {
                                Ok(r) if r.status == 200 => (200, version_of(&r)),
                                Ok(r) => (r.status, r.text()),
                                Err(e) => (0, e.to_string()),
                            };
                        *seen.entry((status, version)).or_insert(0) += 1;
                    }
                    seen
                })
            })
            .collect();
        Load { stop, threads }
    }

    /// Stops the clients; every answer, counted by (status, version).
    fn finish(self) -> BTreeMap<(u16, String), u64> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = BTreeMap::new();
        for t in self.threads {
            for (k, n) in t.join().unwrap() {
                *all.entry(k).or_insert(0) += n;
            }
        }
        all
    }
}

fn answered(s: &Running) -> u64 {
    s.metrics
        .requests(atelier_serve::metrics::Route::Classify, 200)
}

#[test]
fn hot_swaps_under_load_fail_no_request() {
    let p = Project::two_models();
    let s = Running::start(p.config());
    let load = Load::start(&s, 4);
    let mut last = answered(&s);
    for i in 0..10 {
        // Each swap happens while requests are being answered.
        wait_for("requests between swaps", Duration::from_secs(20), || {
            answered(&s) >= last + 50
        });
        let target = if i % 2 == 0 { "v3" } else { "v2" };
        let body = serde_json::json!({ "version": target }).to_string();
        let r = s.admin("/v1/admin/activate", body.as_bytes());
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["live"], target);
        last = answered(&s);
    }
    wait_for(
        "requests after the last swap",
        Duration::from_secs(20),
        || answered(&s) >= last + 50,
    );
    let seen = load.finish();
    let failed: Vec<_> = seen
        .iter()
        .filter(|((status, _), _)| *status != 200)
        .collect();
    assert!(failed.is_empty(), "failed requests: {failed:?}");
    let versions: Vec<&str> = seen.keys().map(|(_, v)| v.as_str()).collect();
    assert_eq!(versions, ["v2", "v3"], "both versions answered");
    assert_eq!(s.metrics.swaps(), 10);
    assert_eq!(s.metrics.swap_failures(), 0);
    assert_eq!(p.store.alias("prod").unwrap().as_deref(), Some("v2"));
}

#[test]
fn a_broken_model_is_refused_and_the_old_one_keeps_serving() {
    let p = Project::two_models();
    let broken = p.broken_model("spam");
    let s = Running::start(p.config());
    let load = Load::start(&s, 2);
    wait_for("load", Duration::from_secs(20), || answered(&s) >= 50);

    // By the admin route.
    let body = serde_json::json!({ "version": broken.id }).to_string();
    let r = s.admin("/v1/admin/activate", body.as_bytes());
    assert_eq!(
        (r.status, r.code().as_str()),
        (422, "model_load_failed"),
        "{}",
        r.text()
    );
    assert_eq!(s.live(), "v2");
    assert_eq!(
        p.store.alias("prod").unwrap().as_deref(),
        Some("v2"),
        "prod not moved"
    );

    // By moving the alias: refused once, not retried while the alias stays.
    p.store.set_alias("prod", &broken.id).unwrap();
    wait_for("the refusal", Duration::from_secs(10), || {
        s.metrics.swap_failures() == 2
    });
    let polls = s.metrics.alias_polls();
    wait_for("more polls", Duration::from_secs(10), || {
        s.metrics.alias_polls() >= polls + 5
    });
    assert_eq!(s.metrics.swap_failures(), 2, "not retried");
    assert_eq!(s.live(), "v2");
    let before = answered(&s);
    wait_for("more answers", Duration::from_secs(20), || {
        answered(&s) >= before + 50
    });

    // A model file altered after it was committed is refused by its hash.
    let v3 = p.store.resolve("v3").unwrap();
    let file = p.store.version_dir("v3").join(&v3.shards[0].path);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::remove_file(&file).unwrap();
    std::fs::write(&file, &bytes).unwrap();
    let r = s.admin("/v1/admin/activate", br#"{"version": "v3"}"#);
    assert_eq!(r.status, 422);
    assert!(r.text().contains("content hash"), "{}", r.text());

    let seen = load.finish();
    assert!(
        seen.keys().all(|(status, v)| *status == 200 && v == "v2"),
        "{seen:?}"
    );
    let m = s.get("/metrics").text();
    assert!(
        m.contains("atelier_serve_swap_failures_total{reason=\"load\"} 3"),
        "{m}"
    );
    assert!(m.contains("atelier_serve_model_info{name=\"spam\",version=\"v2\"} 1"));

    // Moving the alias again to a good version is followed.
    p.store.set_alias("prod", "v2").unwrap();
    let good = p.model("spam", true, &[]);
    p.store.set_alias("prod", &good.id).unwrap();
    wait_for("the swap", Duration::from_secs(10), || s.live() == good.id);
}

#[test]
fn a_version_of_another_kind_or_name_is_refused() {
    let p = Project::two_models();
    p.model("other", false, &[]);
    let mut config = p.config();
    config.model.parse_model("spam");
    let s = Running::start(config);
    for (version, code) in [
        ("v1", "not_a_model"),
        ("v4", "not_a_model"),
        ("v9", "unknown_version"),
    ] {
        let body = serde_json::json!({ "version": version }).to_string();
        let r = s.admin("/v1/admin/activate", body.as_bytes());
        assert_eq!(r.code(), code, "{version}: {}", r.text());
    }
    assert_eq!(s.live(), "v2");
    let listed = s.get("/v1/models").json();
    assert_eq!(
        listed["models"].as_array().unwrap().len(),
        2,
        "only `spam` models"
    );
}

#[test]
fn rollback_goes_back_and_moves_prod() {
    let p = Project::two_models();
    p.model("spam", false, &[]); // v4
    let s = Running::start(p.config());
    assert_eq!(
        s.admin("/v1/admin/activate", br#"{"version": "v3"}"#)
            .status,
        200
    );
    assert_eq!(
        s.admin("/v1/admin/activate", br#"{"version": "v4"}"#)
            .status,
        200
    );
    assert_eq!(s.get("/v1/models").json()["previous"], "v3");

    let r = s.admin("/v1/admin/rollback", b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        (r.json()["live"].as_str(), r.json()["previous"].as_str()),
        (Some("v3"), Some("v4"))
    );
    assert_eq!(p.store.alias("prod").unwrap().as_deref(), Some("v3"));
    let r = s.admin("/v1/admin/rollback", b"");
    assert_eq!(r.json()["live"], "v2");
    assert_eq!(s.live(), "v2");
    assert_eq!(p.store.alias("prod").unwrap().as_deref(), Some("v2"));
    // Nothing older than v2 in memory or in the store.
    let r = s.admin("/v1/admin/rollback", b"");
    assert_eq!((r.status, r.code().as_str()), (409, "no_previous_version"));
    // Activating the live version changes nothing.
    let r = s.admin("/v1/admin/activate", br#"{"version": "prod"}"#);
    assert_eq!(
        (r.status, r.json()["changed"].as_bool()),
        (200, Some(false))
    );
    drop(s);

    // A restarted server serves what prod names, and rolls back through the store.
    p.store.set_alias("prod", "v4").unwrap();
    let s = Running::start(p.config());
    assert_eq!(s.live(), "v4");
    let r = s.admin("/v1/admin/rollback", b"");
    assert_eq!(
        r.json()["live"],
        "v3",
        "the newest model older than the live one"
    );
}

#[test]
fn the_server_follows_the_prod_alias() {
    let p = Project::two_models();
    let s = Running::start(p.config());
    let load = Load::start(&s, 2);
    p.store.set_alias("prod", "v3").unwrap();
    wait_for("the swap to v3", Duration::from_secs(10), || {
        s.live() == "v3"
    });
    let r = s.post("/v1/classify", br#"{"text": "cheap pills winner"}"#);
    assert_eq!(version_of(&r), "v3");
    assert_eq!(
        r.json()["predictions"][0]["label"],
        "ham",
        "v3 has the labels flipped"
    );
    assert_eq!(s.get("/v1/models").json()["previous"], "v2");
    // A new model committed by a trainer that promotes it.
    let v4 = p.model("spam", false, &["model", "prod"]);
    wait_for("the swap to v4", Duration::from_secs(10), || {
        s.live() == v4.id
    });
    // The alias removed: the live model stays.
    p.store.remove_alias("prod").unwrap();
    let polls = s.metrics.alias_polls();
    wait_for("more polls", Duration::from_secs(10), || {
        s.metrics.alias_polls() >= polls + 3
    });
    assert_eq!(s.live(), v4.id);
    let seen = load.finish();
    assert!(seen.keys().all(|(status, _)| *status == 200), "{seen:?}");
    let m = s.get("/metrics").text();
    assert!(
        m.contains("atelier_serve_swaps_total{trigger=\"alias\"} 2"),
        "{m}"
    );

    // With no alias followed, moving it does nothing.
    let mut config = p.config();
    config.model.alias = None;
    config.model.version = Some("v2".into());
    let s = Running::start(config);
    p.store.set_alias("prod", "v3").unwrap();
    assert_eq!(
        s.admin("/v1/admin/activate", br#"{"version": "v3"}"#)
            .status,
        200
    );
    assert_eq!(s.admin("/v1/admin/rollback", b"").json()["live"], "v2");
    assert_eq!(
        p.store.alias("prod").unwrap().as_deref(),
        Some("v3"),
        "untouched"
    );
}

#[test]
fn shutdown_drains_requests_in_flight() {
    let p = Project::two_models();
    let mut s = Running::start(p.config());
    // A request in flight: its head is in, its body is not finished.
    let mut busy = Client::connect(s.addr);
    busy.stream()
        .write_all(
            b"POST /v1/classify HTTP/1.1\r\nhost: x\r\ncontent-length: 30\r\n\r\n{\"text\": ",
        )
        .unwrap();
    // An idle keep-alive connection.
    let mut idle = Client::connect(s.addr);
    assert_eq!(idle.request("GET", "/healthz", &[], b"").status, 200);
    wait_for("the request in flight", Duration::from_secs(10), || {
        s.metrics.in_flight_now() == 1
    });
    let addr = s.addr;
    let metrics = Arc::clone(&s.metrics);
    let stopper = std::thread::spawn(move || s.stop());
    // The listener closes: new connections are refused.
    wait_for("the listener to close", Duration::from_secs(10), || {
        std::net::TcpStream::connect(addr).is_err()
    });
    assert!(
        idle.closed_by_server(),
        "idle connections are closed at once"
    );
    // The request in flight still gets its answer, then the server exits.
    busy.stream().write_all(b"\"cheap pills winner\"}").unwrap();
    let r = busy.read_reply().unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(version_of(&r), "v2");
    stopper.join().unwrap();
    assert_eq!(metrics.connections_now(), 0);
}
