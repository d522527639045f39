//! Pusher protocol client (see realtime).
