//! Latency and delivery counting, shared by every listener.
//!
//! A message body carries the time it was sent (`bench <unix nanos>`); the
//! listener that receives it records now minus that. Sender and receiver run
//! in this one process, on the same clock.

use std::collections::HashMap;
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

/// A latency histogram in microseconds, up to an hour, 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Percentiles {
        let ms = |v: u64| v as f64 / 1000.0;
        Percentiles {
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

struct State {
    /// Every delivery.
    each: Histogram<u64>,
    /// Per message, the delivery that completed it (the last of its copies).
    last: Histogram<u64>,
    /// Copies seen so far of messages not yet complete, by send stamp.
    seen: HashMap<u64, usize>,
}

pub struct Recorder {
    state: Mutex<State>,
    /// How many listeners receive each message (1 for one-to-one, G for a group).
    copies: usize,
    delivered: AtomicU64,
    completed: AtomicU64,
    /// Every delivery since the recorder was made, warm-up and drain too:
    /// compared with the sends acknowledged, it tells what was lost.
    arrivals: AtomicU64,
    /// Deliveries are only counted while measuring (after warm-up).
    measuring: AtomicBool,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::expecting(1)
    }
}

impl Recorder {
    /// A recorder for messages that each reach `copies` listeners.
    pub fn expecting(copies: usize) -> Recorder {
        Recorder {
            state: Mutex::new(State {
                each: histogram(),
                last: histogram(),
                seen: HashMap::new(),
            }),
            copies: copies.max(1),
            delivered: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            arrivals: AtomicU64::new(0),
            measuring: AtomicBool::new(true),
        }
    }

    /// Records one delivered message whose frame or body is `text`.
    pub fn record_text(&self, text: &str) {
        if let Some(sent) = sent_at(text) {
            self.record(sent, now_nanos().saturating_sub(sent) / 1000);
        }
    }

    /// Records a copy of the message stamped `sent`, `micros` after it was sent.
    pub fn record(&self, sent: u64, micros: u64) {
        self.arrivals.fetch_add(1, Ordering::Relaxed);
        if !self.measuring.load(Ordering::Relaxed) {
            return;
        }
        self.delivered.fetch_add(1, Ordering::Relaxed);
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let _ = state.each.record(micros.max(1));
        let complete = if self.copies == 1 {
            true
        } else {
            let seen = state.seen.entry(sent).or_insert(0);
            *seen += 1;
            let complete = *seen >= self.copies;
            if complete {
                state.seen.remove(&sent);
            }
            complete
        };
        if complete {
            self.completed.fetch_add(1, Ordering::Relaxed);
            let _ = state.last.record(micros.max(1));
        }
    }

    pub fn set_measuring(&self, on: bool) {
        self.measuring.store(on, Ordering::Relaxed);
    }

    /// Forgets the figures so far (end of warm-up). Messages still on their
    /// way keep their copy counts, so their last copy is still timed.
    pub fn reset(&self) {
        self.delivered.store(0, Ordering::Relaxed);
        self.completed.store(0, Ordering::Relaxed);
        if let Ok(mut state) = self.state.lock() {
            state.each.reset();
            state.last.reset();
        }
    }

    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Every delivery so far, measured or not.
    pub fn arrivals(&self) -> u64 {
        self.arrivals.load(Ordering::Relaxed)
    }

    /// Messages that reached every listener meant to get them.
    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }

    /// How many listeners each message is meant to reach.
    pub fn copies(&self) -> usize {
        self.copies
    }

    /// Latency of every delivery.
    pub fn each(&self) -> Percentiles {
        self.state
            .lock()
            .map(|s| Percentiles::of(&s.each))
            .unwrap_or_default()
    }

    /// Latency until a message's last copy arrived.
    pub fn last(&self) -> Percentiles {
        self.state
            .lock()
            .map(|s| Percentiles::of(&s.last))
            .unwrap_or_default()
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

    #[test]
    fn times_a_message_by_its_last_copy() {
        let recorder = Recorder::expecting(3);
        recorder.record(7, 1_000);
        recorder.record(7, 5_000);
        assert_eq!(recorder.completed(), 0);
        recorder.record(7, 9_000);
        assert_eq!((recorder.delivered(), recorder.completed()), (3, 1));
        recorder.set_measuring(false);
        recorder.record(8, 1_000);
        assert_eq!((recorder.delivered(), recorder.arrivals()), (3, 4));
        let last = recorder.last();
        assert!((last.max - 9.0).abs() < 0.01, "{last:?}");
        assert!(recorder.each().p50 < 5.1);
    }
}
