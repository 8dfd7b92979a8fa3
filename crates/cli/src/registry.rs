//! The one list of steps this program knows.

use atelier_core::Registry;

/// Every registered step, in the order `atelier steps` shows them.
pub fn registry() -> Registry {
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
}
