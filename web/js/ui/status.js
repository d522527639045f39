// Statuses (24-hour stories) are not served by natter yet. This module is
// their place in the page: app.js shows a Status button once the server's
// OpenAPI document lists /api/status (capabilities.js) and calls statusPane.
// What goes here then: GET /api/status grouped by user, a viewer that posts
// /api/status/{id}/view, a composer for text statuses (POST /api/status).

import { h } from '../dom.js';
import { modal } from './dialogs.js';

export function statusPane() {
  modal('Status', h('p', {}, 'This server offers statuses, but this version of the web client cannot show them yet.'));
}
