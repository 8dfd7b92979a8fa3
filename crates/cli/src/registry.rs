//! The one list of steps this program knows.

use atelier_core::Registry;

/// Every registered step, in the order `atelier steps` shows them.
pub fn registry() -> Registry {
    Registry::new()
        .register::<atelier_extract::ExtractConfig>()
        .register::<atelier_refine::LengthConfig>()
}
