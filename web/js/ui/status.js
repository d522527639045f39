// Statuses (stories, docs/status.md): the caller's own and those of their
// mutual contacts, by person (GET /api/status); opening one marks it viewed
// (POST /api/status/{id}/view); the owner sees how many viewed theirs; a
// composer posts a text status with a background colour. app.js shows the
// Status button once the server's OpenAPI document lists /api/status.

import { h, replace } from '../dom.js';
import { modal } from './dialogs.js';
import { avatar } from './parts.js';

const COLOURS = [
  ['#25D366', 'Green'],
  ['#128C7E', 'Teal'],
  ['#34B7F1', 'Blue'],
  ['#8E44AD', 'Purple'],
  ['#E67E22', 'Orange'],
  ['#2C3E50', 'Night'],
];

export function statusPane(ctx) {
  const list = h('div.status-list', { 'aria-live': 'polite' });
  const viewer = h('div.status-viewer', { hidden: true, role: 'region', 'aria-label': 'Status' });
  const body = h('div.status-pane', {}, composer(ctx, () => load(ctx, list, viewer)), viewer, list);
  modal('Status', body);
  load(ctx, list, viewer);
}

async function load(ctx, list, viewer) {
  try {
    const feed = await ctx.api.get('/api/status');
    replace(list, feed.statuses.length
      ? feed.statuses.map((group) => groupView(ctx, group, viewer, list))
      : h('p.status-empty', {}, 'No statuses yet. Your contacts who have you as a contact too will see yours.'));
  } catch (error) {
    replace(list, h('p.form-error', { role: 'alert' }, error?.message || 'Statuses could not be loaded.'));
  }
}

function groupView(ctx, group, viewer, list) {
  const mine = group.user.id === ctx.store.me.id;
  return h('section.status-group', { dataset: { user: String(group.user.id) } },
    h('header.status-owner', {}, avatar(group.user), h('span.person-name', {}, mine ? 'My status' : group.user.name)),
    h('ul.status-items', {}, group.items.map((item) => h('li', {},
      h(`button.status-item${item.viewed ? '.viewed' : ''}`, {
        type: 'button',
        'aria-label': `${mine ? 'My status' : group.user.name}: ${item.content || item.type}`,
        onclick: () => open(ctx, item, mine, viewer, list),
      }, preview(item), mine ? h('span.status-views', {}, views(item.view_count)) : null)))));
}

function views(count) {
  return count === 1 ? '1 view' : `${count || 0} views`;
}

function preview(item) {
  if (item.type === 'text') return tinted(h('span.status-text', {}, item.content || ''), item.background_color);
  const thumb = item.media?.thumbnail_url || item.media?.url;
  return h('span.status-media', {},
    thumb && item.type === 'image' ? h('img', { src: thumb, alt: item.content || 'Photo' }) : `${item.type}`,
    item.content ? h('span.status-caption', {}, item.content) : null);
}

/** The CSP forbids style attributes; CSSOM is fine. */
function tinted(el, colour) {
  if (colour) el.style.background = colour;
  return el;
}

async function open(ctx, item, mine, viewer, list) {
  const full = item.type === 'text'
    ? tinted(h('p.status-full.status-text', {}, item.content || ''), item.background_color)
    : item.type === 'image'
      ? h('img.status-full', { src: item.media?.url, alt: item.content || 'Photo' })
      : h('video.status-full', { src: item.media?.url, controls: true });
  replace(viewer, full, item.content && item.type !== 'text' ? h('p.status-caption', {}, item.content) : null);
  viewer.hidden = false;
  if (!mine && !item.viewed) {
    try {
      await ctx.api.post(`/api/status/${item.id}/view`, {});
      await load(ctx, list, viewer);
    } catch {
      // Expired meanwhile: the next load leaves it out.
    }
  }
}

function composer(ctx, posted) {
  const text = h('textarea', { name: 'content', rows: 2, maxLength: 700, required: true, 'aria-label': 'Status text', placeholder: 'Type a status' });
  const colour = h('select', { name: 'background_color', 'aria-label': 'Background colour' },
    COLOURS.map(([value, name]) => h('option', { value }, name)));
  const line = h('p.form-error', { role: 'alert' });
  return h('form.status-composer', {
    onsubmit: async (event) => {
      event.preventDefault();
      line.textContent = '';
      try {
        await ctx.api.post('/api/status', { type: 'text', content: text.value, background_color: colour.value });
        text.value = '';
        await posted();
      } catch (error) {
        line.textContent = error?.field?.('content') || error?.message || 'The status could not be posted.';
      }
    },
  }, text, h('div.inline', {}, colour, h('button.primary', { type: 'submit' }, 'Post status')), line);
}
