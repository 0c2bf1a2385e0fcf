//! The progress-bar lines as Keras' `Progbar` formats them: pure functions, checked
//! against Keras' exact strings in the tests below.

/// Width of the bar in characters (Keras' `Progbar(width=20)`).
pub(crate) const BAR_WIDTH: usize = 20;
/// Minimum seconds between two intermediate updates (Keras' `interval=0.05`).
pub(crate) const UPDATE_INTERVAL: f64 = 0.05;

const BOLD: &str = "\x1b[1m";
const GREEN: &str = "\x1b[32m";
const WHITE: &str = "\x1b[37m";
const RESET: &str = "\x1b[0m";

/// Formats a metric value as Keras' verbose-1 progress bar does: `{:.4f}` when
/// `|v| > 1e-3`, else `{:.4e}` with a Python-style exponent (`1.0000e-04`); NaN and
/// infinities as Python prints them (`nan`, `inf`, `-inf`).
pub(crate) fn format_value(v: f64) -> String {
    format_value_with(v, v.abs() > 1e-3)
}

/// Formats a metric value as Keras' verbose-2 line does: the test is `v > 1e-3`
/// without `abs`, so negative values come out in `e` notation (a Keras quirk kept here).
pub(crate) fn format_value_verbose2(v: f64) -> String {
    format_value_with(v, v > 1e-3)
}

fn format_value_with(v: f64, fixed: bool) -> String {
    if v.is_nan() {
        return "nan".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".to_string() } else { "-inf".to_string() };
    }
    if fixed {
        format!("{v:.4}")
    } else {
        python_exp(v, 4)
    }
}

/// Python's `f"{v:.{precision}e}"`: Rust writes `1.0000e-4`, Python `1.0000e-04`
/// (explicit sign, at least two exponent digits).
fn python_exp(v: f64, precision: usize) -> String {
    let s = format!("{v:.precision$e}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// Keras' time per step: `"{:.0f}s/step"` when ≥ 1 s (or exactly 0), `"{:.0f}ms/step"`
/// when ≥ 1 ms, otherwise `"{:.0f}us/step"`.
pub(crate) fn format_step_time(seconds_per_step: f64) -> String {
    let t = seconds_per_step;
    if t >= 1.0 || t == 0.0 {
        format!("{t:.0}s/step")
    } else if t >= 1e-3 {
        format!("{:.0}ms/step", t * 1000.0)
    } else {
        format!("{:.0}us/step", t * 1_000_000.0)
    }
}

/// Keras' ETA: `"%ds"` up to a minute, `"%d:%02d"` up to an hour, `"%d:%02d:%02d"` beyond
/// (whole seconds, truncated as Python's `%d` truncates a float).
pub(crate) fn format_eta(eta: f64) -> String {
    let eta = if eta.is_finite() { eta.max(0.0) } else { 0.0 };
    if eta > 3600.0 {
        format!(
            "{}:{:02}:{:02}",
            (eta / 3600.0).floor() as u64,
            ((eta % 3600.0) / 60.0).floor() as u64,
            (eta % 60.0) as u64
        )
    } else if eta > 60.0 {
        format!("{}:{:02}", (eta / 60.0).floor() as u64, (eta % 60.0) as u64)
    } else {
        format!("{}s", eta as u64)
    }
}

/// The number of decimal digits of `n` (Keras' `int(log10(target)) + 1`), at least 1.
fn num_digits(n: usize) -> usize {
    n.max(1).to_string().len()
}

/// What one progress-bar line shows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProgressLine<'a> {
    /// Steps done (1-based).
    pub current: usize,
    /// Steps per epoch, when known (`None` shows `"      n/Unknown"`).
    pub target: Option<usize>,
    /// The final update of the epoch: shows the elapsed time instead of the ETA.
    pub finalize: bool,
    /// Seconds since the epoch started.
    pub elapsed: f64,
    /// Estimated seconds per step (Keras measures from the end of step 1 once past it).
    pub time_per_step: f64,
    /// Metric values to show, in order.
    pub metrics: &'a [(String, f64)],
}

/// One verbose-1 line as Keras' `Progbar.update` draws it, without the leading
/// `"\b…\r"` and the trailing padding and newline:
/// `"{cur:>d}/{target} {bar} {T} {rate} - k: v - …"`, `T` being the ETA on
/// intermediate updates and the elapsed whole seconds on the final one. With `ansi`,
/// the counter and `T` are bold and the bar green and white, exactly as Keras writes them.
pub(crate) fn format_progress_line(line: &ProgressLine<'_>, ansi: bool) -> String {
    let (bold, green, white, reset) = if ansi { (BOLD, GREEN, WHITE, RESET) } else { ("", "", "", "") };
    let mut out = String::new();
    let known = line.target.filter(|t| *t > 0);
    match known {
        Some(target) => {
            let d = num_digits(target);
            out.push_str(&format!("{bold}{:>d$}/{target}{reset} ", line.current));
            let prog_width = ((BAR_WIDTH as f64 * line.current as f64 / target as f64) as usize).min(BAR_WIDTH);
            if prog_width > 0 {
                out.push_str(&format!("{green}{}{reset}", "━".repeat(prog_width)));
            }
            out.push_str(&format!("{white}{}{reset}", "━".repeat(BAR_WIDTH - prog_width)));
        }
        None => out.push_str(&format!("{:>7}/Unknown", line.current)),
    }
    let t = match known {
        Some(target) if !line.finalize => format_eta(line.time_per_step * target.saturating_sub(line.current) as f64),
        _ => format!("{:.0}s", line.elapsed),
    };
    out.push_str(&format!(" {bold}{t}{reset} {}", format_step_time(line.time_per_step)));
    for (k, v) in line.metrics {
        out.push_str(&format!(" - {k}: {}", format_value(*v)));
    }
    out
}

/// The verbose-2 line printed once per epoch:
/// `"{cur:>d}/{target} - {elapsed:.0f}s - {rate} - k: v - …"` (values formatted with
/// [`format_value_verbose2`]).
pub(crate) fn format_epoch_line(
    current: usize,
    target: usize,
    elapsed: f64,
    time_per_step: f64,
    metrics: &[(String, f64)],
) -> String {
    let d = num_digits(target);
    let mut out = format!("{current:>d$}/{target} - {elapsed:.0}s - {}", format_step_time(time_per_step));
    for (k, v) in metrics {
        out.push_str(&format!(" - {k}: {}", format_value_verbose2(*v)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_like_python() {
        assert_eq!(format_value(0.7), "0.7000");
        assert_eq!(format_value(1e-4), "1.0000e-04");
        assert_eq!(format_value(-1e-4), "-1.0000e-04");
        assert_eq!(format_value(0.0), "0.0000e+00");
        assert_eq!(format_value(123456.0), "123456.0000");
        assert_eq!(format_value(1.5e-12), "1.5000e-12");
        assert_eq!(format_value(f64::NAN), "nan");
        assert_eq!(format_value(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_value(-0.5), "-0.5000");
        assert_eq!(format_value_verbose2(-0.5), "-5.0000e-01");
        assert_eq!(python_exp(1.0e123, 4), "1.0000e+123");
    }

    #[test]
    fn times() {
        assert_eq!(format_step_time(0.365), "365ms/step");
        assert_eq!(format_step_time(0.0), "0s/step");
        assert_eq!(format_step_time(2.4), "2s/step");
        assert_eq!(format_step_time(0.0004), "400us/step");
        assert_eq!(format_eta(3.9), "3s");
        assert_eq!(format_eta(61.5), "1:01");
        assert_eq!(format_eta(3725.0), "1:02:05");
        assert_eq!(format_eta(60.0), "60s");
    }

    fn m(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn keras_final_line_verbose1() {
        let metrics = m(&[("accuracy", 0.7), ("loss", 0.6278), ("val_accuracy", 0.25), ("val_loss", 0.7413)]);
        let line = ProgressLine {
            current: 3,
            target: Some(3),
            finalize: true,
            elapsed: 2.2,
            time_per_step: 0.365,
            metrics: &metrics,
        };
        assert_eq!(
            format_progress_line(&line, false),
            "3/3 ━━━━━━━━━━━━━━━━━━━━ 2s 365ms/step - accuracy: 0.7000 - loss: 0.6278 - val_accuracy: 0.2500 - val_loss: 0.7413"
        );
        assert_eq!(
            format_progress_line(&line, true),
            "\x1b[1m3/3\x1b[0m \x1b[32m━━━━━━━━━━━━━━━━━━━━\x1b[0m\x1b[37m\x1b[0m \x1b[1m2s\x1b[0m 365ms/step - accuracy: 0.7000 - loss: 0.6278 - val_accuracy: 0.2500 - val_loss: 0.7413"
        );
    }

    #[test]
    fn keras_intermediate_line_verbose1() {
        let metrics = m(&[("accuracy", 0.51), ("loss", 0.7)]);
        // 12 of 100 steps at 25 ms/step: 88 steps left, ETA 2.2 s; the counter is padded
        // to the target's width ("%3d").
        let line = ProgressLine {
            current: 12,
            target: Some(100),
            finalize: false,
            elapsed: 0.3,
            time_per_step: 0.025,
            metrics: &metrics,
        };
        assert_eq!(
            format_progress_line(&line, false),
            " 12/100 ━━━━━━━━━━━━━━━━━━━━ 2s 25ms/step - accuracy: 0.5100 - loss: 0.7000"
        );
        assert_eq!(
            format_progress_line(&line, true),
            "\x1b[1m 12/100\x1b[0m \x1b[32m━━\x1b[0m\x1b[37m━━━━━━━━━━━━━━━━━━\x1b[0m \x1b[1m2s\x1b[0m 25ms/step - accuracy: 0.5100 - loss: 0.7000"
        );
        // Long ETAs and unknown targets.
        let line = ProgressLine {
            current: 1,
            target: Some(1000),
            finalize: false,
            elapsed: 5.0,
            time_per_step: 5.0,
            metrics: &[],
        };
        assert_eq!(format_progress_line(&line, false), "   1/1000 ━━━━━━━━━━━━━━━━━━━━ 1:23:15 5s/step");
        let line = ProgressLine {
            current: 7,
            target: None,
            finalize: false,
            elapsed: 1.6,
            time_per_step: 0.0002,
            metrics: &[],
        };
        assert_eq!(format_progress_line(&line, false), "      7/Unknown 2s 200us/step");
    }

    #[test]
    fn keras_verbose2_line() {
        let metrics = m(&[("accuracy", 0.7), ("loss", 0.6278), ("val_accuracy", 0.25), ("val_loss", 0.7413)]);
        assert_eq!(
            format_epoch_line(3, 3, 1.3, 0.205, &metrics),
            "3/3 - 1s - 205ms/step - accuracy: 0.7000 - loss: 0.6278 - val_accuracy: 0.2500 - val_loss: 0.7413"
        );
        // verbose 2 tests `v > 1e-3` without abs.
        assert_eq!(
            format_epoch_line(10, 10, 0.0, 0.0, &m(&[("loss", -0.5)])),
            "10/10 - 0s - 0s/step - loss: -5.0000e-01"
        );
    }

    #[test]
    fn python_value_format() {
        assert_eq!(format_value(1e-4), "1.0000e-04");
        assert_eq!(format_value(0.001), "1.0000e-03");
        assert_eq!(format_value(0.0011), "0.0011");
        assert_eq!(format_value(-2.5), "-2.5000");
    }
}
