//! Latency and delivery counting, shared by every listener.
//!
//! A message body carries the time it was sent (`bench <unix nanos>`); the
//! listener that receives it records now minus that. Sender and receiver run
//! in this one process, on the same clock.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

pub const MARKER: &str = "bench ";

pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A message body stamped with the current time.
pub fn stamped_body() -> String {
    format!("{MARKER}{}", now_nanos())
}

/// The send time in a frame or body that contains a stamped body.
pub fn sent_at(text: &str) -> Option<u64> {
    let start = text.find(MARKER)? + MARKER.len();
    let digits: &str = &text[start..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

pub struct Recorder {
    histogram: Mutex<Histogram<u64>>,
    delivered: AtomicU64,
    /// Deliveries are only counted while measuring (after warm-up).
    measuring: AtomicBool,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            // Microseconds, up to an hour, 3 significant digits.
            histogram: Mutex::new(
                Histogram::new_with_bounds(1, 3_600_000_000, 3)
                    .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!())),
            ),
            delivered: AtomicU64::new(0),
            measuring: AtomicBool::new(true),
        }
    }
}

impl Recorder {
    /// Records one delivered message whose frame or body is `text`.
    pub fn record_text(&self, text: &str) {
        if let Some(sent) = sent_at(text) {
            self.record(now_nanos().saturating_sub(sent) / 1000);
        }
    }

    pub fn record(&self, micros: u64) {
        if !self.measuring.load(Ordering::Relaxed) {
            return;
        }
        self.delivered.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut h) = self.histogram.lock() {
            let _ = h.record(micros.max(1));
        }
    }

    pub fn set_measuring(&self, on: bool) {
        self.measuring.store(on, Ordering::Relaxed);
    }

    /// Forgets everything recorded (end of warm-up).
    pub fn reset(&self) {
        self.delivered.store(0, Ordering::Relaxed);
        if let Ok(mut h) = self.histogram.lock() {
            h.reset();
        }
    }

    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// (p50, p90, p99, max) in milliseconds.
    pub fn percentiles(&self) -> (f64, f64, f64, f64) {
        let Ok(h) = self.histogram.lock() else {
            return (0.0, 0.0, 0.0, 0.0);
        };
        let ms = |v: u64| v as f64 / 1000.0;
        (
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.9)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_stamp_inside_a_frame() {
        let frame = r#"{"event":"x","data":"{\"message\":{\"content\":\"bench 1234\"}}"}"#;
        assert_eq!(sent_at(frame), Some(1234));
        assert_eq!(sent_at("nothing"), None);
    }
}
