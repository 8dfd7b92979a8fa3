//! Mail: single messages, mbox, SpamAssassin JSON and broken MIME.

use crate::common::*;
use atelier_core::Format;
use atelier_io::ReadOptions;
use serde_json::json;

const MULTIPART: &str = "From: =?UTF-8?Q?Ren=C3=A9e?= <renee@example.org>\r
To: a@example.org, Bob <b@example.org>\r
Subject: =?ISO-8859-1?Q?Caf=E9?= report\r
Date: Tue, 1 Jul 2003 10:52:37 +0200\r
Message-ID: <abc@example.org>\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary=\"outer\"\r
\r
This is a MIME message.\r
--outer\r
Content-Type: text/plain; charset=utf-8\r
Content-Transfer-Encoding: quoted-printable\r
\r
Caf=C3=A9 au lait, a long line that goes on =\r
and on.\r
--outer\r
Content-Type: text/plain; charset=iso-8859-1\r
Content-Transfer-Encoding: base64\r
\r
U2Vjb25kIHBhcnQ6IGNy6G1lIGJy+2zpZS4=\r
--outer\r
Content-Type: application/pdf\r
Content-Disposition: attachment; filename=\"a.pdf\"\r
Content-Transfer-Encoding: base64\r
\r
JVBERi0xLjQK\r
--outer--\r
";

#[test]
fn multipart_mail_with_quoted_printable_and_base64() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "msg-1.eml", MULTIPART.as_bytes());
    let (docs, errors) = read(&unit(&path, Format::Mail));
    assert!(errors.is_empty(), "{errors:?}");
    let d = &docs[0];
    assert_eq!(d.id, "msg-1");
    assert_eq!(
        d.text,
        "Café au lait, a long line that goes on and on.\n\nSecond part: crème brûlée."
    );
    assert_eq!(d.metadata["subject"], json!("Café report"));
    assert_eq!(d.metadata["from"], json!("Renée <renee@example.org>"));
    assert_eq!(
        d.metadata["to"],
        json!("a@example.org, Bob <b@example.org>")
    );
    assert_eq!(d.metadata["date"], json!("2003-07-01T10:52:37+02:00"));
    assert_eq!(d.metadata["message_id"], json!("abc@example.org"));
    assert_eq!(d.metadata["attachments"], json!(1));
    assert_eq!(d.metadata["content_type"], json!("text/plain"));
    assert_eq!(d.metadata["source"], json!(path.to_string_lossy()));
}

#[test]
fn html_only_mail_keeps_html() {
    let dir = tempfile::tempdir().unwrap();
    let raw = "From: a@example.org\nSubject: hi\nContent-Type: text/html; charset=utf-8\n\n<p>Hello <b>there</b></p>\n";
    let path = write(dir.path(), "h.eml", raw.as_bytes());
    let (docs, errors) = read(&unit(&path, Format::Mail));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(docs[0].metadata["content_type"], json!("text/html"));
    assert!(docs[0].text.contains("<b>there</b>"));
}

#[test]
fn messages_without_body_or_headers_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "nobody.eml",
        b"From: a@example.org\nSubject: empty\n\n",
    );
    let (docs, errors) = read(&unit(&path, Format::Mail));
    assert!(docs.is_empty());
    assert_eq!(errors[0].message, "message has no text body");
    assert_eq!(errors[0].offset, Some(0));
}

const MBOX: &str = "From alice@example.org Mon Jan  1 00:00:00 2024
From: alice@example.org
Subject: one
Date: Mon, 1 Jan 2024 00:00:00 +0000

First message.
>From the archive: this line was quoted.
>>From stays quoted once.

From bob@example.org Tue Jan  2 00:00:00 2024
From: bob@example.org
Subject: two

Second message.
From here on, no blank line before, so not a separator.

From carol@example.org Wed Jan  3 00:00:00 2024
From: carol@example.org
Subject: three

Third message.
";

#[test]
fn mbox_splits_and_unquotes() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "list.mbox", MBOX.as_bytes());
    let (docs, errors) = read(&unit(&path, Format::Mbox));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(ids(&docs), ["list/0", "list/1", "list/2"]);
    assert_eq!(
        docs[0].text,
        "First message.\nFrom the archive: this line was quoted.\n>From stays quoted once.\n"
    );
    assert!(docs[1].text.contains("From here on"));
    assert_eq!(docs[2].metadata["subject"], json!("three"));
    assert_eq!(docs[0].metadata["date"], json!("2024-01-01T00:00:00Z"));
    let gz = write(dir.path(), "list.mbox.gz", &gzip(MBOX.as_bytes()));
    let (gz_docs, _) = read(&unit(&gz, Format::Mbox));
    assert_eq!(gz_docs.len(), 3);
    assert_eq!(gz_docs[2].text, docs[2].text);
}

#[test]
fn mbox_ranges_give_every_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "r.mbox", MBOX.repeat(3).as_bytes());
    assert_ranges_match(&path, Format::Mbox);
}

#[test]
fn mbox_reports_leading_junk_and_oversized_messages() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("junk before\n\n{MBOX}");
    let path = write(dir.path(), "j.mbox", text.as_bytes());
    let options = ReadOptions {
        max_record_bytes: 150,
    };
    let (docs, errors) = split_items(items(&unit(&path, Format::Mbox), &options));
    assert_eq!(ids(&docs), ["j/1", "j/2"]);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].message.contains("before the first `From `"));
    assert_eq!(errors[0].offset, Some(0));
    assert!(
        errors[1].message.contains("exceeds max_record_bytes (150)"),
        "{}",
        errors[1]
    );
    assert_eq!(errors[1].offset, Some(13));
}

#[test]
fn broken_mime_boundaries_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let broken = [
        // The boundary never appears.
        "From: a@example.org\nContent-Type: multipart/mixed; boundary=\"XYZ\"\n\n--ABC\nContent-Type: text/plain\n\nlost part\n",
        // No closing boundary, a nested multipart without boundary.
        "From: a@example.org\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: multipart/alternative\n\n--b\nContent-Type: text/plain\n\ntext\n",
        // Bad base64.
        "From: a@example.org\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!!not base64***\n",
    ];
    let mut mbox = String::new();
    for body in broken {
        mbox.push_str("From x Mon Jan  1 00:00:00 2024\n");
        mbox.push_str(body);
        mbox.push('\n');
    }
    mbox.push_str(MBOX);
    let path = write(dir.path(), "broken.mbox", mbox.as_bytes());
    let items = items(&unit(&path, Format::Mbox), &ReadOptions::default());
    assert_eq!(items.len(), 6);
    let (docs, _) = split_items(items);
    assert!(
        ids(&docs).ends_with(&["broken/3", "broken/4", "broken/5"]),
        "{:?}",
        ids(&docs)
    );
}

fn spam_object(id: &str, group: &str, body: &str) -> String {
    serde_json::to_string(&json!({
        "id": id,
        "group": group,
        "checksum": {"type": "MD5", "value": "0"},
        "text": format!("From: x@example.org\nSubject: offer {id}\n\n{body}\n"),
    }))
    .unwrap()
}

#[test]
fn spamassassin_objects_files_lines_and_arrays() {
    let dir = tempfile::tempdir().unwrap();
    let single = write(
        dir.path(),
        "00001.json",
        spam_object("00001", "spam-2", "Buy now!").as_bytes(),
    );
    let (docs, errors) = read(&unit(&single, Format::Spamassassin));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(docs[0].id, "spam-2/00001");
    assert_eq!(docs[0].text, "Buy now!\n");
    assert_eq!(docs[0].metadata["group"], json!("spam-2"));
    assert_eq!(docs[0].metadata["subject"], json!("offer 00001"));

    let objects: Vec<String> = (0..3)
        .map(|i| spam_object(&format!("0000{i}"), "easy_ham", &format!("body {i}")))
        .collect();
    let lines = write(
        dir.path(),
        "all.jsonl.gz",
        &gzip(objects.join("\n").as_bytes()),
    );
    let array = write(
        dir.path(),
        "all.json",
        format!(" [\n{}\n]\n", objects.join(",\n")).as_bytes(),
    );
    for path in [lines, array] {
        let (docs, errors) = read(&unit(&path, Format::Spamassassin));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            ids(&docs),
            ["easy_ham/00000", "easy_ham/00001", "easy_ham/00002"]
        );
    }
    let bad = write(
        dir.path(),
        "bad.json",
        b"[{\"id\":\"1\",\"text\":\"\"}, 3, {\"id\":\"2\"",
    );
    let (docs, errors) = read(&unit(&bad, Format::Spamassassin));
    assert!(docs.is_empty());
    assert_eq!(errors.len(), 3, "{errors:?}");
}
