//! A call on the wire, and the signalling message `CallSignal` relays.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::user::UserView;
use crate::clock::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CallType {
    Voice,
    Video,
}

impl CallType {
    pub fn as_str(self) -> &'static str {
        match self {
            CallType::Voice => "voice",
            CallType::Video => "video",
        }
    }

    pub fn parse(stored: &str) -> CallType {
        if stored == "video" {
            CallType::Video
        } else {
            CallType::Voice
        }
    }
}

/// A call's state (docs/calls.md has the diagram). `busy`: every callee was
/// already in a ringing or ongoing call, so nobody rang.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CallStatus {
    Ringing,
    Ongoing,
    Ended,
    Declined,
    Missed,
    Busy,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Ringing => "ringing",
            CallStatus::Ongoing => "ongoing",
            CallStatus::Ended => "ended",
            CallStatus::Declined => "declined",
            CallStatus::Missed => "missed",
            CallStatus::Busy => "busy",
        }
    }

    /// Stored values are natter's own; anything unknown reads as over.
    pub fn parse(stored: &str) -> CallStatus {
        match stored {
            "ringing" => CallStatus::Ringing,
            "ongoing" => CallStatus::Ongoing,
            "declined" => CallStatus::Declined,
            "missed" => CallStatus::Missed,
            "busy" => CallStatus::Busy,
            _ => CallStatus::Ended,
        }
    }

    /// Ringing or ongoing: the states a call can still leave.
    pub fn is_live(self) -> bool {
        matches!(self, CallStatus::Ringing | CallStatus::Ongoing)
    }
}

/// One person's part in a call. The caller is `joined` from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ParticipantStatus {
    /// Being rung.
    Ringing,
    /// In the call.
    Joined,
    /// Was in the call and left it (or it ended).
    Left,
    Declined,
    /// Never answered: the ring timed out or the call ended first.
    Missed,
    /// Was in another ringing or ongoing call when this one started; not rung.
    Busy,
}

impl ParticipantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ParticipantStatus::Ringing => "ringing",
            ParticipantStatus::Joined => "joined",
            ParticipantStatus::Left => "left",
            ParticipantStatus::Declined => "declined",
            ParticipantStatus::Missed => "missed",
            ParticipantStatus::Busy => "busy",
        }
    }

    pub fn parse(stored: &str) -> ParticipantStatus {
        match stored {
            "ringing" => ParticipantStatus::Ringing,
            "joined" => ParticipantStatus::Joined,
            "declined" => ParticipantStatus::Declined,
            "missed" => ParticipantStatus::Missed,
            "busy" => ParticipantStatus::Busy,
            _ => ParticipantStatus::Left,
        }
    }

    /// Ringing or joined: may send and receive signalling.
    pub fn is_live(self) -> bool {
        matches!(self, ParticipantStatus::Ringing | ParticipantStatus::Joined)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallParticipantView {
    pub user_id: i64,
    pub status: ParticipantStatus,
}

/// The Call resource of API.md.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallView {
    pub id: i64,
    pub chat_id: i64,
    pub caller: UserView,
    #[serde(rename = "type")]
    pub call_type: CallType,
    pub status: CallStatus,
    pub started_at: Timestamp,
    pub answered_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    /// From the first answer to the end; 0 until an answered call has ended.
    pub duration_seconds: i64,
    /// Everyone in the call, the caller included.
    pub participants: Vec<CallParticipantView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum SignalType {
    #[serde(rename = "offer")]
    Offer,
    #[serde(rename = "answer")]
    Answer,
    #[serde(rename = "ice-candidate")]
    IceCandidate,
}

/// `App\Events\CallSignal` payload (not logged): WebRTC signalling from one
/// participant to another.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallSignalPayload {
    pub call_id: i64,
    pub from_user_id: i64,
    #[serde(rename = "type")]
    pub signal_type: SignalType,
    /// As the sender sent it (an SDP description or an ICE candidate).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}
