//! Temporary probe.
use std::time::Instant;
fn main() {
    let n: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let mut html = String::from("<html><body>");
    for _ in 0..n { html.push_str("<div>"); }
    html.push_str("hello");
    for _ in 0..n { html.push_str("</div>"); }
    let t = Instant::now();
    let doc = dom_query::Document::from(html.as_str());
    eprintln!("parse {:?}", t.elapsed());
    let t = Instant::now();
    let txt = doc.formatted_text();
    eprintln!("fmt {:?} {}", t.elapsed(), txt.len());
    let t = Instant::now();
    let mut r = dom_smoothie::Readability::with_document(doc, None, None).unwrap();
    let a = r.parse();
    eprintln!("ds {:?} {:?}", t.elapsed(), a.map(|a| a.text_content.len()));
}
