//! atelier-refine's tests: every refining step on scripts without spaces and odd input.

mod scripts;
