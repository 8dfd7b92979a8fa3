//! Refining steps: per-document judgements that keep a document or drop it with the
//! name of the rule that removed it, and rewrites that clean it.
//!
//! | step | does | reference |
//! | --- | --- | --- |
//! | `length` | bounds on characters and words | |
//! | `language` | fastText language ID into `metadata.language`, keep wanted ones | datatrove `LanguageFilter` |
//! | `gopher_repetition` | repeated lines, paragraphs, n-grams | datatrove `GopherRepetitionFilter` |
//! | `gopher_quality` | word counts and shapes, symbols, stop words | datatrove `GopherQualityFilter` |
//! | `c4_quality` | keeps C4's lines, drops pages with too few sentences | datatrove `C4QualityFilter` |
//! | `fineweb_quality` | punctuation, short and repeated lines, lists | datatrove `FineWebQualityFilter` |
//! | `url` | block lists of domains, URLs and words | datatrove `URLFilter` |
//! | `pii` | replaces e-mail and public IP addresses, recipe patterns | datatrove `PIIFormatter` |
//!
//! Drop reasons are `rule_family:rule`, for example `gopher_rep:dup_line_frac`.

mod c4;
mod fineweb;
mod gopher;
mod language;
mod length;
mod pii;
pub mod text;
mod url;
pub mod words;

pub use c4::C4Config;
pub use fineweb::FineWebQualityConfig;
pub use gopher::{GopherQualityConfig, GopherRepetitionConfig};
pub use language::LanguageConfig;
pub use length::LengthConfig;
pub use pii::{PiiConfig, PiiPattern};
pub use url::UrlConfig;

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

/// A drop reason built from settings (such as `gopher_rep:top_3_gram`) as the
/// `&'static str` a [`atelier_core::Verdict`] holds; each distinct name is stored once.
fn intern(name: String) -> &'static str {
    static NAMES: LazyLock<Mutex<HashSet<&'static str>>> = LazyLock::new(Default::default);
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&known) = names.get(name.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.into_boxed_str());
    names.insert(leaked);
    leaked
}
