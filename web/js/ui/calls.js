// Calls are not served by natter yet. This module is their place in the page:
// app.js shows a Calls button once the OpenAPI document lists /api/calls.
// What goes here then: the call log (GET /api/calls), a ringing screen for
// App\Events\CallInitiated on the user channel, answer/decline/end
// (PUT /api/calls/{id}/...), and WebRTC with signalling through
// POST /api/calls/{id}/signal and App\Events\CallSignal, using
// GET /api/calls/turn-credentials for the ICE servers.

import { h } from '../dom.js';
import { modal } from './dialogs.js';

export function callsPane() {
  modal('Calls', h('p', {}, 'This server offers calls, but this version of the web client cannot place them yet.'));
}
