//! Prints both candidate texts of one page, each line as `link density|heading|text`,
//! the fallback's lines of repeated items marked `*` (a debugging aid for tuning the
//! extractor):
//!
//! ```text
//! cargo run --release -p atelier-extract --example debug_page -- page.html
//! ```

use std::io::Read;

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: debug_page PAGE.html");
    let mut html = String::new();
    std::fs::File::open(&path)
        .and_then(|mut f| f.read_to_string(&mut html))
        .expect("read the page");
    let passes = atelier_extract::debug_passes(&html, &Default::default());
    let mut full = passes.full;
    for &at in &passes.item_lines {
        full[at].insert(0, '*');
    }
    println!(
        "===== MAIN (share {:.2}, declared article: {}, items missed: {})\n{}\n\
         ===== FALLBACK\n{}",
        passes.main_share,
        passes.article,
        passes.items_missed,
        passes.main.join("\n"),
        full.join("\n")
    );
}
