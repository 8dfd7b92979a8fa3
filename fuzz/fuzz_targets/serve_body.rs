//! Any bytes as the body of each POST route of `atelier serve` (classify, the OpenAI
//! routes, admin activate and rollback), sent over loopback to a real server of a tiny
//! model: every request gets an answer (JSON errors for bad bodies), and the server
//! still answers its health probe. A panic in a handler shows as a missing answer.

#![no_main]

use atelier_fasttext::{TrainArgs, train};
use atelier_serve::{Config, Server};
use atelier_store::{Kind, NewVersion, Store};
use libfuzzer_sys::fuzz_target;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::LazyLock;
use std::time::Duration;

const TOKEN: &str = "fuzz-token-0123456789abcdef";

const ROUTES: [&str; 5] = [
    "/v1/classify",
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/admin/activate",
    "/v1/admin/rollback",
];

/// A project with one tiny model, served on a free loopback port for the whole run.
static SERVER: LazyLock<SocketAddr> = LazyLock::new(|| {
    let project = atelier_fuzz::scratch().join("serve");
    let _ = std::fs::remove_dir_all(&project);
    std::fs::create_dir_all(&project).unwrap();
    let store = Store::open(&project).unwrap();
    let mut data = String::new();
    for i in 0..50 {
        data.push_str(&format!(
            "__label__spam buy cheap pills now {i}\n__label__ham meeting notes agenda {i}\n"
        ));
    }
    let args = TrainArgs {
        dim: 4,
        epoch: 1,
        threads: 1,
        bucket: 100,
        ..TrainArgs::default()
    };
    let model = train(&args, data.as_bytes()).unwrap().model;
    let file = project.join("model.bin");
    model.save(&file).unwrap();
    store
        .commit(NewVersion {
            kind: Kind::Model,
            name: "spam".into(),
            shards: vec![("model.bin".into(), file)],
            aliases: vec!["prod".into()],
            settings: serde_json::json!({"preprocess": {"lowercase": true}}),
            ..NewVersion::default()
        })
        .unwrap();
    let mut config = Config::new(&project);
    config.addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config.admin_token = Some(TOKEN.into());
    config.log = false;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(Server::bind(config)).unwrap();
    let addr = server.local_addr();
    std::thread::spawn(move || runtime.block_on(server.run(std::future::pending())));
    addr
});

/// Sends one request on its own connection and returns the status code.
fn send(route: &str, body: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(*SERVER).expect("the server accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST {route} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
         authorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let status = answer
        .get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok());
    status.unwrap_or_else(|| {
        panic!(
            "no answer to POST {route}: {:?}",
            String::from_utf8_lossy(&answer)
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let route = ROUTES[usize::from(which) % ROUTES.len()];
    let status = send(route, body);
    assert!(status != 500, "500 on POST {route}");
});
