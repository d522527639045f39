//! Background tasks in groups that stop together: every task natter spawns
//! belongs to one, so a stopping server can cancel a group and wait until the
//! last of its tasks has ended (server/mod.rs stops them in order).

use std::future::Future;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

/// A set of tasks and the token that asks them to stop. Cheap to clone.
#[derive(Clone, Default)]
pub struct TaskGroup {
    tracker: TaskTracker,
    stop: CancellationToken,
}

impl TaskGroup {
    pub fn new() -> TaskGroup {
        TaskGroup::default()
    }

    /// Runs `task` in the group. It should end soon after [`TaskGroup::stop_token`]
    /// is cancelled.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    /// Counts work that is not a spawned task (a socket's connection, the
    /// writer's thread) as one of the group's until the token is dropped.
    pub fn token(&self) -> TaskTrackerToken {
        self.tracker.token()
    }

    /// Cancelled when the group is asked to stop.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Asks every task to stop, without waiting.
    pub fn cancel(&self) {
        self.stop.cancel();
    }

    /// Asks every task to stop and waits until they all have.
    pub async fn stop(&self) {
        self.stop.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// Tasks (and tokens) of the group still alive.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }
}

/// The beat of a periodic task: [`Every::tick`] waits for the next period (the
/// first comes at once) and says false once `stop` is cancelled. A beat
/// missed while the task was busy is not made up in a burst.
pub struct Every {
    interval: tokio::time::Interval,
    stop: CancellationToken,
}

impl Every {
    pub fn new(period: std::time::Duration, stop: CancellationToken) -> Every {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Every { interval, stop }
    }

    /// Waits for the next beat; false when the task should stop.
    pub async fn tick(&mut self) -> bool {
        tokio::select! {
            _ = self.stop.cancelled() => false,
            _ = self.interval.tick() => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_beats_until_stopped() {
        let stop = CancellationToken::new();
        let mut every = Every::new(std::time::Duration::from_millis(5), stop.clone());
        assert!(every.tick().await, "the first beat comes at once");
        assert!(every.tick().await);
        stop.cancel();
        assert!(
            !every.tick().await,
            "a stopped task hears it at its next beat"
        );
    }
}
