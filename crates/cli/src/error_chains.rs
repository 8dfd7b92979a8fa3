//! Every crate's errors print each cause once in a chain (`{:#}`, as `main` prints
//! them): an error whose message holds its cause does not also return it as its source.

use std::io;
use std::path::PathBuf;

/// The messages of an error's chain, outermost first.
fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut messages = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        messages.push(c.to_string());
        cause = c.source();
    }
    messages
}

/// Checks that `{:#}` of the error, with a context on top, names its OS error once.
fn once<E: std::error::Error + Send + Sync + 'static>(e: E) {
    let messages = chain(&e);
    for pair in messages.windows(2) {
        assert!(
            !pair[0].contains(&pair[1]),
            "`{}` holds its source `{}`",
            pair[0],
            pair[1]
        );
    }
    let printed = format!("{:#}", anyhow::Error::from(e).context("doing something"));
    assert_eq!(printed.matches(OS).count(), 1, "{printed}");
}

const OS: &str = "the disk said no";

fn os() -> io::Error {
    io::Error::other(OS)
}

fn path() -> PathBuf {
    PathBuf::from("/data/file")
}

#[test]
fn each_cause_is_printed_once() {
    once(atelier_store::StoreError::Io {
        path: path(),
        error: os(),
    });
    once(atelier_io::ListError::Io {
        path: path(),
        error: os(),
    });
    once(atelier_lm::LmError::Io {
        path: path(),
        error: os(),
    });
    once(atelier_tokens::TokensError::Io {
        path: path(),
        error: os(),
    });
    once(atelier_dedup::DedupError::Io {
        path: path(),
        error: os(),
    });
    once(atelier_runner::RunError::Io {
        path: path(),
        error: os(),
    });
    once(atelier_runner::RunError::Unreadable {
        path: path(),
        error: os(),
    });
    once(atelier_runner::RunError::step("dedup", os()));
    once(atelier_runner::RunError::Store(
        atelier_store::StoreError::Io {
            path: path(),
            error: os(),
        },
    ));
    once(atelier_serve::ServeError::Store(
        atelier_store::StoreError::Io {
            path: path(),
            error: os(),
        },
    ));
    once(atelier_lmtrain::LmTrainError::Io {
        path: path(),
        error: os(),
    });
    once(atelier_lmtrain::LmTrainError::Tensor(
        candle_core::Error::Msg(OS.into()),
    ));
    once(atelier_lmtrain::LmTrainError::Lm(atelier_lm::LmError::Io {
        path: path(),
        error: os(),
    }));
}
