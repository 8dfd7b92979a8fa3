//! Runs a crawl from a JSON `CrawlConfig`: `crawl OUTPUT '{"seeds": [...], ...}'`;
//! prints the summary as JSON. The benchmark's driver (`bench/fetch/crawl.sh`): the
//! same code as `atelier fetch crawl`, without building the whole binary.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, output, config] = args.as_slice() else {
        eprintln!("usage: crawl OUTPUT CONFIG_JSON");
        std::process::exit(2);
    };
    let config: atelier_fetch::CrawlConfig = serde_json::from_str(config).expect("a config");
    let summary = atelier_fetch::crawl(&config, std::path::Path::new(output), &|_| {})
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1)
        });
    println!("{}", serde_json::to_string(&summary).expect("json"));
}
