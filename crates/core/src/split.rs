//! The split of a dataset into train, validation and test documents, by a stable hash of
//! the document id alone: a document stays on its side in every version of the dataset,
//! whatever else changes. Classifier training and token shards use the same rule.

/// Which part of the data a document belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Trained on.
    Train,
    /// Held out to tune the hyperparameters.
    Validation,
    /// Held out to measure the model.
    Test,
}

/// The split of a document id: a hash of the id alone, so a document stays on its side
/// in every version of the dataset and whatever else changes.
pub fn split_of(id: &str, validation: f64, test: f64) -> Split {
    let h = xxhash_rust::xxh3::xxh3_64(id.as_bytes());
    // The top 53 bits, as a fraction in [0, 1).
    let u = (h >> 11) as f64 / (1u64 << 53) as f64;
    if u < test {
        Split::Test
    } else if u < test + validation {
        Split::Validation
    } else {
        Split::Train
    }
}
