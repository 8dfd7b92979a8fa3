//! A progress bar for trainings, shown only when standard error is a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Per mille of a training done, drawn as a bar on standard error.
pub struct TrainingBar(ProgressBar);

impl TrainingBar {
    /// A bar for `what` (hidden when standard error is not a terminal).
    pub fn new(what: &str) -> TrainingBar {
        if !std::io::stderr().is_terminal() {
            return TrainingBar(ProgressBar::hidden());
        }
        let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr());
        let template =
            format!("{what} [{{elapsed_precise}}] {{wide_bar}} {{percent}}% (eta {{eta}})");
        bar.set_style(ProgressStyle::with_template(&template).expect("valid template"));
        TrainingBar(bar)
    }

    /// Moves the bar to `share` (0 to 1) of the work.
    pub fn report(&self, share: f64) {
        self.0.set_position((share.clamp(0.0, 1.0) * 1000.0) as u64);
    }
}

impl Drop for TrainingBar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
