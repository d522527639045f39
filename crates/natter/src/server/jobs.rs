//! The job-handler registry: which job kinds this node runs and the periodic
//! work it schedules (docs/jobs.md). Every node registers the same kinds, so
//! any node may run any job; periodic work runs once per period per cluster.

use std::sync::Arc;
use std::time::Duration;

use crate::jobs::{Registry, probe};
use crate::media::{self, Media};
use crate::push::Push;
use crate::state::AppState;
use crate::{auth, calls, devices, messages, pusher, sessions, statuses, sync};

/// The registry of a node serving `state`, processing uploads with `media`,
/// sending pushes through `push`.
pub fn registry(state: &AppState, media: &Media, push: Arc<Push>) -> Registry {
    let settings = &state.config.settings;
    let db = state.db.clone();
    let mut registry = Registry::new();
    let retention = Duration::from_secs(settings.sync_retention);
    registry
        .register(
            sync::retention::KIND,
            Arc::new(sync::retention::Retention {
                db: db.clone(),
                retention,
            }),
        )
        .every(sync::retention::KIND, sync::retention::period(retention));
    registry
        .register(
            sessions::prune::KIND,
            Arc::new(sessions::prune::PruneSessions { db: db.clone() }),
        )
        .every(sessions::prune::KIND, sessions::prune::PERIOD);
    registry
        .register(
            auth::prune::KIND,
            Arc::new(auth::prune::PruneOtpCodes {
                db: db.clone(),
                max_attempts: settings.otp_max_attempts as i32,
            }),
        )
        .every(auth::prune::KIND, auth::prune::PERIOD);
    registry
        .register(
            media::jobs::COLLECT,
            Arc::new(media::jobs::Collect {
                media: media.clone(),
                db: db.clone(),
            }),
        )
        .register(
            media::jobs::SWEEP,
            Arc::new(media::jobs::Sweep {
                media: media.clone(),
                db: db.clone(),
            }),
        )
        .every(media::jobs::SWEEP, media::jobs::SWEEP_PERIOD)
        .register(
            media::jobs::PROBE,
            Arc::new(messages::probe::ProbeMedia {
                app: state.clone(),
                media: media.clone(),
            }),
        );
    let pushes = Arc::new(devices::PushHandler {
        app: state.clone(),
        push,
    });
    registry
        .register(devices::MESSAGE_KIND, pushes.clone())
        .register(devices::CALL_KIND, pushes)
        .register(
            statuses::expire::KIND,
            Arc::new(statuses::expire::ExpireStatuses { app: state.clone() }),
        )
        .every(
            statuses::expire::KIND,
            statuses::expire::period(Duration::from_secs(settings.status_ttl)),
        );
    registry
        .register(
            messages::expire::KIND,
            Arc::new(messages::expire::ExpireMessages { app: state.clone() }),
        )
        .every(
            messages::expire::KIND,
            messages::expire::period(settings.disappearing_test_seconds),
        );
    registry.register(
        calls::ring::KIND,
        Arc::new(calls::ring::RingTimeout { app: state.clone() }),
    );
    registry.register(
        calls::offline::KIND,
        Arc::new(calls::offline::OfflineLeave { app: state.clone() }),
    );
    registry.register(
        pusher::webhooks::KIND,
        Arc::new(pusher::webhooks::Deliver::new(
            &settings.reverb_app_key,
            &state.config.reverb_app_secret,
        )),
    );
    if settings.job_probe {
        let path = settings.database.storage_dir.join(probe::FILE_NAME);
        registry.register(probe::KIND, Arc::new(probe::Probe::new(path)));
    }
    registry
}
