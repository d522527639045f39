//! The named unique indexes of the schema, for telling which one a write
//! violated ([`UniqueKey::violated_by`], [`ApiError::unique_as_field`]).
//! Names and columns as the migrations create them.
//!
//! [`ApiError::unique_as_field`]: crate::error::ApiError::unique_as_field

use crate::error::UniqueKey;

/// One contact row per (owner, contact).
pub const CONTACTS_PAIR: UniqueKey = UniqueKey {
    table: "contacts",
    name: "uq_contacts_pair",
    columns: &["user_id", "contact_user_id"],
};

/// One participant row per (chat, user).
pub const PARTICIPANTS_CHAT_USER: UniqueKey = UniqueKey {
    table: "chat_participants",
    name: "uq_participants_chat_user",
    columns: &["chat_id", "user_id"],
};

/// A sender's client message id names one message.
pub const MESSAGES_CLIENT_ID: UniqueKey = UniqueKey {
    table: "messages",
    name: "uq_messages_client_id",
    columns: &["sender_id", "client_message_id"],
};

/// One reaction per (message, user).
pub const REACTIONS_USER: UniqueKey = UniqueKey {
    table: "message_reactions",
    name: "uq_reactions_user",
    columns: &["message_id", "user_id"],
};

/// A push token belongs to one device (by the token's SHA-256).
pub const DEVICES_TOKEN: UniqueKey = UniqueKey {
    table: "devices",
    name: "uq_devices_token_hash",
    columns: &["token_hash"],
};

/// A recipient opens a view-once message once.
pub const MESSAGE_VIEWS_USER: UniqueKey = UniqueKey {
    table: "message_views",
    name: "uq_message_views",
    columns: &["message_id", "user_id"],
};
