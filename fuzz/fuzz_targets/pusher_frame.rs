//! Everything a client's text frame goes through before natter trusts it:
//! the frame parser, the channel-name rules, the socket id check and the
//! signature check. None of it may panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natter::realtime::channels::{self, Channel};
use natter::realtime::protocol::{self, ClientFrame};

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    let Ok(frame) = protocol::parse(&text) else {
        return;
    };
    match frame {
        ClientFrame::Subscribe {
            channel,
            auth,
            channel_data,
        } => {
            assert!(protocol::valid_channel(&channel), "parser let through {channel:?}");
            let _ = Channel::parse(&channel);
            let _ = Channel::needs_auth(&channel);
            if let Some(auth) = auth {
                // A forged signature must never verify.
                assert!(!channels::verify(
                    "natter-key",
                    "fuzz-secret",
                    "1.2",
                    &channel,
                    channel_data.as_deref(),
                    &auth,
                ));
            }
        }
        ClientFrame::Unsubscribe { channel } | ClientFrame::ClientEvent { channel, .. } => {
            assert!(protocol::valid_channel(&channel), "parser let through {channel:?}");
            let _ = Channel::parse(&channel);
        }
        ClientFrame::Signin { user_data, auth } => {
            let _ = channels::valid_socket_id(&user_data);
            let _ = channels::sign_user("natter-key", "fuzz-secret", &auth, &user_data);
        }
        ClientFrame::Ping | ClientFrame::Pong => {}
    }
});
