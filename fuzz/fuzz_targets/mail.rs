//! Any bytes as one RFC 822 message: MIME decoding (multipart, quoted-printable,
//! base64, charsets) gives a document or an error, never a panic; and the same bytes as a
//! `.eml` file through the reader.

#![no_main]

use atelier_core::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = atelier_io::mail::message_to_document(data, "fuzz".into()) {
        let _ = serde_json::to_string(&doc).expect("documents serialize");
    }
    atelier_fuzz::read_all("input.eml", data, Format::Mail, 0);
});
