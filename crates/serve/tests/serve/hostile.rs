//! Hostile clients: a slowloris that drips its request head a byte at a time, a flood
//! of idle connections beyond the connection cap, and a client whose chunked body never
//! ends. Through each, the server stays up and keeps answering the others; each hostile
//! connection is closed once the configured time is up. Short limits keep the tests
//! fast; no assertion depends on how long anything took.

use crate::common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// What a well-behaved client asks for while the hostile ones misbehave.
fn answered(s: &Running, times: usize) {
    for _ in 0..times {
        let r = s.post("/v1/classify", br#"{"text": "buy cheap pills now"}"#);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(s.get("/healthz").status, 200);
    }
}

#[test]
fn a_slowloris_is_closed_and_others_are_answered_meanwhile() {
    let p = Project::two_models();
    let mut config = p.config();
    config.limits.request_timeout = Duration::from_millis(500);
    let s = Running::start(config);

    // Each drips a 4 KB head a byte every 10 ms: 40 s for the whole head, were it let.
    let head = format!(
        "GET /healthz HTTP/1.1\r\nhost: x\r\nx-padding: {}\r\n\r\n",
        "a".repeat(4000)
    );
    let drips: Vec<_> = (0..16)
        .map(|_| {
            let head = head.clone();
            let addr = s.addr;
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).unwrap();
                stream.set_nodelay(true).unwrap();
                let mut sent = 0;
                for byte in head.bytes() {
                    if stream.write_all(&[byte]).is_err() {
                        break;
                    }
                    sent += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                sent
            })
        })
        .collect();
    wait_for(
        "the slowlorises to connect",
        Duration::from_secs(10),
        || s.metrics.connections_now() >= 16,
    );
    answered(&s, 10);
    for drip in drips {
        let sent = drip.join().unwrap();
        assert!(
            sent < head.len(),
            "the server let a slowloris send its whole head ({sent} bytes)"
        );
    }
    wait_for("the connections to close", Duration::from_secs(10), || {
        s.metrics.connections_now() == 0
    });
    answered(&s, 1);
}

#[test]
fn a_flood_beyond_the_connection_cap_waits_and_others_are_answered() {
    let p = Project::two_models();
    let mut config = p.config();
    config.limits.request_timeout = Duration::from_millis(500);
    config.limits.max_connections = 4;
    let s = Running::start(config);

    // Forty connections that never send a byte: four are taken, the rest wait in the
    // kernel's accept queue, each closed in turn once it has been idle too long.
    let mut flood: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(s.addr).unwrap())
        .collect();
    let client = std::thread::spawn({
        let addr = s.addr;
        move || {
            let mut c = Client::connect(addr);
            let r = c.request("POST", "/v1/classify", &[], br#"{"text": "hello"}"#);
            (r.status, r.text())
        }
    });
    while !client.is_finished() {
        let open = s.metrics.connections_now();
        assert!(open <= 4, "{open} connections open, over the cap of 4");
        std::thread::sleep(Duration::from_millis(5));
    }
    let (status, text) = client.join().unwrap();
    assert_eq!(status, 200, "{text}");
    // Every idle one is closed by the server, none answered.
    for stream in &mut flood {
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut byte = [0u8; 1];
        assert!(
            matches!(stream.read(&mut byte), Ok(0) | Err(_)),
            "an idle connection got an answer"
        );
    }
    answered(&s, 2);
}

#[test]
fn an_endless_chunked_body_is_cut_off_and_others_are_answered_meanwhile() {
    let p = Project::two_models();
    let mut config = p.config();
    config.limits.request_timeout = Duration::from_millis(500);
    let s = Running::start(config);

    // A body in one-byte chunks, one every 5 ms, that would never end.
    let mut c = Client::connect(s.addr);
    let mut writer = c.stream().try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        writer.write_all(
            b"POST /v1/classify HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n1\r\n{\r\n",
        )?;
        let mut sent = 0u64;
        loop {
            writer.write_all(b"1\r\n \r\n")?;
            sent += 1;
            std::thread::sleep(Duration::from_millis(5));
            if sent > 1_000_000 {
                return Ok::<u64, std::io::Error>(sent);
            }
        }
    });
    wait_for("the endless body to start", Duration::from_secs(10), || {
        s.metrics.in_flight_now() == 1
    });
    answered(&s, 10);
    let r = c.read_reply().unwrap();
    assert_eq!((r.status, r.code().as_str()), (408, "timeout"));
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed_by_server());
    let sent = sender.join().unwrap();
    assert!(sent.is_err(), "the server stopped reading: {sent:?}");
    wait_for("the connection to close", Duration::from_secs(10), || {
        s.metrics.connections_now() == 0
    });
    answered(&s, 1);
}

#[test]
fn a_chunk_size_past_any_limit_is_refused_and_others_are_answered() {
    let p = Project::two_models();
    let s = Running::start(p.config());
    for size in ["ffffffffffffffffffff", "7fffffffffffffff", "zz"] {
        let mut c = Client::connect(s.addr);
        c.stream()
            .write_all(
                format!(
                    "POST /v1/classify HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n\
                     {size}\r\n{{\"text\": \"a\"}}"
                )
                .as_bytes(),
            )
            .unwrap();
        // An error answer, or the connection closed: never a classification, never a hang.
        match c.read_reply() {
            Ok(r) => assert!(r.status >= 400, "chunk size {size}: {}", r.status),
            Err(e) => assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "chunk size {size}: no answer ({e})"
            ),
        }
        answered(&s, 1);
    }
}
