//! Any text as a chat template (a model's own Jinja): it compiles and renders messages or
//! fails with an error, never a panic or a hang (rendering runs on fuel).

#![no_main]

use atelier_lm::{ChatTemplate, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(template) = ChatTemplate::new(source, "<s>".into(), "</s>".into()) else {
        return;
    };
    let messages = [
        Message::new("system", "Be brief."),
        Message::new("user", "Hello {{ there }}"),
        Message::new("assistant", "Hi."),
    ];
    let _ = template.render(&messages, true);
    let _ = template.render(&[], false);
});
