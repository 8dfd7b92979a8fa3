//! atelier-extract's tests: the step as a recipe uses it, and hostile input.

mod robustness;
mod step;
