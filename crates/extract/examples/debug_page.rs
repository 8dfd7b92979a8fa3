//! Prints the main and fallback texts of one page (debugging aid).
use std::io::Read;
fn main() {
    let path = std::env::args().nth(1).expect("path");
    let mut s = String::new();
    std::fs::File::open(&path).unwrap().read_to_string(&mut s).unwrap();
    let (main, full) = atelier_extract::debug_passes(&s, &Default::default());
    println!("===== MAIN\n{}\n===== FULL\n{}", main.join("\n"), full.join("\n"));
}
