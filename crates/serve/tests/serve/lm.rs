//! Language-model versions served with OpenAI's API: answers whole and streamed, the
//! limits, bad requests, disconnects, hot swaps under a running stream, and the bill.

use crate::common::*;
use atelier_lm::tiny::{self, Spec};
use atelier_store::{Kind, Manifest, NewVersion};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

impl Project {
    /// Commits a tiny random language model as version of `name`.
    pub fn lm(&self, name: &str, spec: &Spec, aliases: &[&str]) -> Manifest {
        let path = self.path().join(format!("tiny-{}.gguf", spec.seed));
        tiny::write(&path, spec);
        self.store
            .commit(NewVersion {
                kind: Kind::Lm,
                name: name.into(),
                shards: vec![("model.gguf".into(), path)],
                aliases: aliases.iter().map(|a| a.to_string()).collect(),
                ..NewVersion::default()
            })
            .unwrap()
    }
}

/// A project with an endless tiny model `tiny` as v1 (`prod`) and a second one as v2.
fn two_lms() -> Project {
    let p = Project::new();
    p.lm("tiny", &Spec::endless(), &["prod"]);
    p.lm(
        "tiny",
        &Spec {
            seed: 7,
            ..Spec::endless()
        },
        &[],
    );
    p
}

fn chat(model: &str, extra: Value) -> Vec<u8> {
    let mut body = json!({
        "model": model,
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 8,
        "temperature": 0,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body.to_string().into_bytes()
}

/// The events of a whole streamed answer.
fn events(reply: &Reply) -> Vec<String> {
    reply
        .text()
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| e.strip_prefix("data: ").expect("data events").to_owned())
        .collect()
}

#[test]
fn a_chat_completion_answers_in_openais_shape() {
    let p = two_lms();
    let s = Running::start(p.config());
    let r = s.post("/v1/chat/completions", &chat("tiny", json!({})));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "tiny");
    assert_eq!(v["system_fingerprint"], "v1");
    let choice = &v["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(
        choice["finish_reason"], "length",
        "an endless model stops at the limit"
    );
    let u = &v["usage"];
    assert_eq!(u["completion_tokens"], 8);
    assert_eq!(
        u["total_tokens"].as_u64(),
        Some(u["prompt_tokens"].as_u64().unwrap() + 8)
    );
    // The same request by version id, alias and `name@id`; greedy gives the same text.
    for model in ["v1", "prod", "tiny@v1"] {
        let again = s
            .post("/v1/chat/completions", &chat(model, json!({})))
            .json();
        assert_eq!(again["choices"][0]["message"], choice["message"], "{model}");
    }
    let listed = s.get("/v1/models").json();
    assert_eq!(listed["object"], "list");
    assert_eq!(listed["data"][0]["id"], "tiny");
    assert_eq!(listed["live"]["kind"], "lm");
    assert_eq!(listed["live"]["lm"]["architecture"], "llama");
    let c = s.post(
        "/v1/completions",
        json!({"model": "tiny", "prompt": "hello", "max_tokens": 4, "logprobs": 2})
            .to_string()
            .as_bytes(),
    );
    let c = c.json();
    assert_eq!(c["object"], "text_completion");
    assert_eq!(
        c["choices"][0]["logprobs"]["tokens"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn a_stream_sends_the_role_the_text_the_end_and_the_usage() {
    let p = two_lms();
    let s = Running::start(p.config());
    let whole = s
        .post("/v1/chat/completions", &chat("tiny", json!({})))
        .json();
    let r = s.post(
        "/v1/chat/completions",
        &chat(
            "tiny",
            json!({"stream": true, "stream_options": {"include_usage": true}}),
        ),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let events = events(&r);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        text,
        whole["choices"][0]["message"]["content"].as_str().unwrap()
    );
    let finishes: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finishes, [&json!("length")]);
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 8);
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
}

#[test]
fn bad_requests_get_openai_errors_naming_the_field() {
    let p = two_lms();
    let s = Running::start(p.config());
    for (extra, status, param) in [
        (json!({"max_tokens": 0}), 400, "max_tokens"),
        (json!({"max_tokens": -3}), 400, "max_tokens"),
        (
            json!({"max_completion_tokens": 0}),
            400,
            "max_completion_tokens",
        ),
        (json!({"temperature": -0.5}), 400, "temperature"),
        (json!({"top_p": 0}), 400, "top_p"),
        (json!({"stop": ["a", "b", "c", "d", "e"]}), 400, "stop"),
        (json!({"n": 2}), 400, "n"),
        (json!({"max_tokens": 100000}), 400, "max_tokens"),
        (json!({"model": "nope"}), 404, "model"),
    ] {
        let r = s.post("/v1/chat/completions", &chat("tiny", extra.clone()));
        assert_eq!(r.status, status, "{extra}: {}", r.text());
        let e = &r.json()["error"];
        assert_eq!(e["param"], param, "{extra}: {e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(e["type"], "invalid_request_error");
    }
    // 64 positions of context: a long prompt is refused with both counts.
    let long = "hello ".repeat(60);
    let r = s.post(
        "/v1/chat/completions",
        json!({"model": "tiny", "messages": [{"role": "user", "content": long}], "max_tokens": 8})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "context_length_exceeded")
    );
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("context of 64 tokens") && message.contains("8 more"),
        "{message}"
    );
    let r = s.post("/v1/chat/completions", b"{not json");
    assert_eq!(r.status, 400);
    let r = s.post(
        "/v1/chat/completions",
        br#"{"model":"tiny","messages":"hi"}"#,
    );
    assert_eq!(r.status, 400);
    // A language model does not classify.
    let r = s.post("/v1/classify", br#"{"text":"hi"}"#);
    assert_eq!((r.status, r.code().as_str()), (422, "wrong_model_kind"));
}

#[test]
fn a_classifier_server_refuses_chat() {
    let p = Project::two_models();
    let s = Running::start(p.config());
    let r = s.post("/v1/chat/completions", &chat("spam", json!({})));
    assert_eq!((r.status, r.code().as_str()), (404, "model_not_found"));
}

/// Sends a streamed request and reads `n` events of its answer; the connection is
/// returned open.
fn start_stream(
    s: &Running,
    body: &[u8],
    n: usize,
) -> (BufReader<std::net::TcpStream>, Vec<Value>) {
    let mut stream = std::net::TcpStream::connect(s.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut reader = BufReader::new(stream);
    let mut seen = Vec::new();
    let mut line = String::new();
    while seen.len() < n {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the stream ended early"
        );
        if let Some(data) = line.trim_end().strip_prefix("data: ") {
            seen.push(serde_json::from_str(data).unwrap());
        }
    }
    (reader, seen)
}

/// Reads the rest of a stream: its JSON events, up to `[DONE]`.
fn finish_stream(reader: &mut BufReader<std::net::TcpStream>) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "no [DONE]");
        match line.trim_end().strip_prefix("data: ") {
            Some("[DONE]") => return seen,
            Some(data) => seen.push(serde_json::from_str(data).unwrap()),
            None => {}
        }
    }
}

#[test]
fn a_client_that_leaves_stops_its_generation_and_frees_its_slot() {
    let p = Project::new();
    p.lm(
        "tiny",
        &Spec {
            context: 8192,
            ..Spec::endless()
        },
        &["prod"],
    );
    let mut config = p.config();
    config.limits.max_generations = 1;
    config.limits.max_new_tokens = 8000;
    let s = Running::start(config);
    let long = chat("tiny", json!({"stream": true, "max_tokens": 8000}));
    let (reader, _) = start_stream(&s, &long, 2);
    assert_eq!(s.metrics.generations_now(), 1);
    // The one slot is taken: the next generation is turned away.
    let r = s.post("/v1/chat/completions", &chat("tiny", json!({})));
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "overloaded"),
        "{}",
        r.text()
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    drop(reader);
    wait_for("the slot to be given back", Duration::from_secs(20), || {
        s.metrics.generations_now() == 0
    });
    assert!(
        s.metrics.generated_tokens() < 8000,
        "stopped early: {} tokens",
        s.metrics.generated_tokens()
    );
    let r = s.post("/v1/chat/completions", &chat("tiny", json!({})));
    assert_eq!(r.status, 200);
    let metrics = s.get("/metrics").text();
    assert!(metrics.contains("atelier_serve_generations_in_flight 0"));
    assert!(metrics.contains("atelier_serve_time_to_first_token_seconds_count"));
}

#[test]
fn a_swap_never_breaks_a_running_stream() {
    let p = Project::new();
    let long = Spec {
        context: 4096,
        ..Spec::endless()
    };
    p.lm("tiny", &long, &["prod"]);
    p.lm(
        "tiny",
        &Spec {
            seed: 9,
            ..long.clone()
        },
        &[],
    );
    let mut config = p.config();
    config.limits.max_new_tokens = 3000;
    let s = Running::start(config);
    let body = chat("tiny", json!({"stream": true, "max_tokens": 3000}));
    let (mut reader, first) = start_stream(&s, &body, 2);
    let r = s.admin("/v1/admin/activate", br#"{"version":"v2"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.live(), "v2");
    let rest = finish_stream(&mut reader);
    let all: Vec<&Value> = first.iter().chain(&rest).collect();
    assert!(
        all.iter().all(|c| c["system_fingerprint"] == "v1"),
        "the stream stayed on v1"
    );
    let ends: Vec<&Value> = all
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(ends, [&json!("length")]);
    let after = s
        .post("/v1/chat/completions", &chat("tiny", json!({})))
        .json();
    assert_eq!(after["system_fingerprint"], "v2");
}

#[test]
fn a_broken_language_model_is_refused_and_the_live_one_stays() {
    let p = two_lms();
    let path = p.path().join("broken.gguf");
    let mut bytes = std::fs::read(p.store.version_dir("v1").join("model.gguf")).unwrap();
    bytes.truncate(bytes.len() / 3);
    std::fs::write(&path, bytes).unwrap();
    p.store
        .commit(NewVersion {
            kind: Kind::Lm,
            name: "tiny".into(),
            shards: vec![("model.gguf".into(), path)],
            ..NewVersion::default()
        })
        .unwrap();
    let s = Running::start(p.config());
    let r = s.admin("/v1/admin/activate", br#"{"version":"v3"}"#);
    assert_eq!(
        (r.status, r.code().as_str()),
        (422, "model_load_failed"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("not a readable GGUF"), "{}", r.text());
    assert_eq!(s.live(), "v1");
    assert_eq!(
        s.post("/v1/chat/completions", &chat("tiny", json!({})))
            .status,
        200
    );
}

#[test]
fn the_bill_counts_the_tokens_each_version_generated() {
    let p = two_lms();
    let s = Running::start(p.config());
    for _ in 0..3 {
        assert_eq!(
            s.post("/v1/chat/completions", &chat("tiny", json!({})))
                .status,
            200
        );
    }
    let bill = s.get("/v1/models/v1/bill").json();
    let serving = &bill["serving"];
    assert_eq!(serving["generated_tokens"], 24);
    assert_eq!(serving["generations"], 3);
    assert!(
        serving["per_1000_generated_tokens"]["eur"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(serving["energy"]["cpu_seconds"].as_f64().unwrap() > 0.0);
    // v2 was never live here.
    assert!(s.get("/v1/models/v2/bill").json()["serving"].is_null());
}
