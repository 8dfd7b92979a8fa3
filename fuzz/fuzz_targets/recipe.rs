//! Any text as a recipe, checked against every registered step: a recipe or the list of
//! its errors, never a panic.

#![no_main]

use atelier_core::{Recipe, Registry};
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::LazyLock;

/// The steps `atelier` registers (crates/cli/src/registry.rs).
static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    Registry::new()
        .register::<atelier_extract::ExtractConfig>()
        .register::<atelier_refine::LengthConfig>()
        .register::<atelier_refine::LanguageConfig>()
        .register::<atelier_refine::UrlConfig>()
        .register::<atelier_refine::GopherRepetitionConfig>()
        .register::<atelier_refine::GopherQualityConfig>()
        .register::<atelier_refine::C4Config>()
        .register::<atelier_refine::FineWebQualityConfig>()
        .register::<atelier_refine::PiiConfig>()
        .register::<atelier_dedup::DedupConfig>()
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = Recipe::parse(text, Path::new("/fuzz/atelier.toml"), &REGISTRY) {
        let _ = errors.to_string();
    }
});
