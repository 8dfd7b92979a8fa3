//! atelier-fasttext's tests: files of official fastText and of atelier, a model written
//! byte by byte, damaged files, the shipped language model, training, and the `.vec`
//! files written beside a model.

mod compat;
mod corrupt;
mod format;
mod lid176;
mod train;
mod vectors;
