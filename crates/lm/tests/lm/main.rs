//! atelier-lm's tests: tiny random models written by the tests, bad files, and (when it
//! can be had) the real SmolLM2 model against llama.cpp's fixed outputs.

mod bad_input;
mod engine;
mod smollm2;
