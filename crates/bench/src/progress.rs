//! The progress bar shown while a run sends (stderr, only on a terminal).

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::natter::Counters;

/// A bar over the sending time; hidden with `--json`.
pub(crate) fn bar(duration: Duration, hidden: bool) -> ProgressBar {
    let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let bar = ProgressBar::with_draw_target(Some(millis), ProgressDrawTarget::stderr());
    if hidden {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) = ProgressStyle::with_template("{spinner} [{bar:30}] {elapsed} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Shows the counters.
pub(crate) fn show(bar: &ProgressBar, c: &Counters, elapsed: Duration) {
    bar.set_position(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
    bar.set_message(format!(
        "sent {}  ✓ {}  delivered {}/{}",
        c.sent.load(Relaxed),
        c.stored.load(Relaxed),
        c.deliveries.load(Relaxed),
        c.expected.load(Relaxed)
    ));
}
