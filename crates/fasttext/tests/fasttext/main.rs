//! atelier-fasttext's tests: files of official fastText and of atelier, a model written
//! byte by byte, damaged files, the shipped language model, and training.

mod compat;
mod corrupt;
mod format;
mod lid176;
mod train;
