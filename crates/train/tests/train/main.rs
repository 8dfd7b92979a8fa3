//! atelier-train's tests: a model version trained from a dataset version.

mod model_version;
