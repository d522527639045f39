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
