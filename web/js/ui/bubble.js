// One message on screen: its bubble, reply quote, media, reactions, time and
// ticks, and the menu of what can be done with it.

import { h, icon } from '../dom.js';
import { clockTime, fileSize, hue } from '../format.js';
import { highlightMentions } from './mentions.js';
import { messageSummary, systemText, ticks } from './parts.js';

export const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🙏'];

/**
 * The row of `message` (or of a pending entry turned into a message-like
 * object with `_pending`). `chat` tells whether sender names are shown.
 */
export function messageRow(ctx, chat, message, { onMenu, onQuote }) {
  const { store } = ctx;
  if (message.message_type === 'system') {
    return h('div.row.system', { dataset: { id: String(message.id) }, tabIndex: -1, role: 'listitem' },
      h('span.system-text', {}, systemText(store, message)));
  }
  const mine = message.sender_id === store.me.id;
  const status = message._pending ? message.status : mine ? statusOf(store, chat, message) : null;
  const sender = chat.type === 'group' && !mine
    ? h(`div.sender.${hue(message.sender_id)}`, {}, message.sender?.name || store.userName(message.sender_id)) : null;
  const menuButton = h('button.row-menu', {
    type: 'button', 'aria-label': 'Message options', 'aria-haspopup': 'menu', tabIndex: -1,
    onclick: (event) => { event.stopPropagation(); onMenu(event.currentTarget); },
  }, icon('down'));
  const row = h(`div.row.${mine ? 'mine' : 'theirs'}`, {
    role: 'listitem', tabIndex: -1,
    dataset: { id: String(message.id ?? ''), client: message.client_message_id || '', status: status || '' },
    'aria-label': ariaLabel(store, message, status),
    onkeydown: (event) => {
      if (event.target !== row) return;
      if (event.key === 'Enter' || event.key === 'ContextMenu' || (event.shiftKey && event.key === 'F10')) {
        event.preventDefault();
        onMenu(menuButton);
      }
    },
    oncontextmenu: (event) => { if (!message._pending) { event.preventDefault(); onMenu(menuButton); } },
  },
  h('div.bubble', {},
    sender,
    message.reply_to && !message.deleted ? quote(store, message.reply_to, onQuote) : null,
    message.deleted ? null : media(ctx, message),
    body(store, message),
    h('div.meta', {},
      message.starred && !message.deleted ? h('span.star', { title: 'Starred', 'aria-hidden': 'true' }, '★') : null,
      message.edited_at && !message.deleted ? h('span.edited', {}, 'edited') : null,
      h('time', { dateTime: message.sent_at || '' }, clockTime(message.sent_at)),
      mine ? ticks(status) : null),
    message._pending && message._progress !== undefined ? progress(message._progress) : null,
    message._pending ? null : menuButton),
  reactions(ctx, message));
  return row;
}

function statusOf(store, chat, message) {
  return chat.type === 'private' ? store.statusFor(chat, message) : message.status;
}

function ariaLabel(store, message, status) {
  const who = message.sender_id === store.me.id ? 'You' : (message.sender?.name || store.userName(message.sender_id));
  const parts = [`${who}, ${clockTime(message.sent_at)}`, messageSummary(store, message)];
  if (status) parts.push(status);
  if (message.starred) parts.push('starred');
  return parts.join(': ');
}

function body(store, message) {
  if (message.deleted) return h('div.text.deleted', {}, icon('close'), ' This message was deleted');
  const text = typeof message.content === 'string' ? message.content : '';
  if (!text) return null;
  const mentions = message.mentions || [];
  if (!mentions.length) return h('div.text', { dir: 'auto' }, text);
  const names = mentions.map((id) => (id === store.me.id ? store.me.name : store.userName(id)));
  const mine = mentions.includes(store.me.id) ? [`@${store.me.name}`] : [];
  return h('div.text', { dir: 'auto' }, highlightMentions(text, names, mine));
}

function quote(store, reply, onQuote) {
  const name = store.userName(reply.sender_id);
  const text = reply.message_type === 'text' ? reply.content : messageSummary(store, reply);
  return h('button.quote', { type: 'button', tabIndex: -1, onclick: () => onQuote(reply.id), 'aria-label': `Reply to ${name}: ${text || ''}` },
    h(`span.quote-name.${hue(reply.sender_id)}`, {}, name), h('span.quote-text', {}, text || 'Message'));
}

function media(ctx, message) {
  const m = message.media;
  if (message._file) return localPreview(message._file);
  if (!m) return null;
  if (message.message_type === 'image' || (m.thumbnail_url && message.message_type !== 'document')) {
    return h('a.media-link', { href: m.url, target: '_blank', rel: 'noopener', 'aria-label': 'Open the photo' },
      h('img.thumb', { src: m.thumbnail_url || m.url, alt: message.content || 'Photo', loading: 'lazy' }));
  }
  return h('a.document', { href: m.url, target: '_blank', rel: 'noopener', download: m.file_name || '' },
    icon('doc'), h('span.doc-name', {}, m.file_name || 'Document'), h('span.doc-size', {}, fileSize(m.size)));
}

/** A file being sent: drawn from the browser's copy until the server has it. */
function localPreview(file) {
  if (file.type.startsWith('image/')) {
    const img = h('img.thumb', { alt: file.name });
    img.src = URL.createObjectURL(file);
    img.onload = () => URL.revokeObjectURL(img.src);
    return img;
  }
  return h('div.document', {}, icon('doc'), h('span.doc-name', {}, file.name), h('span.doc-size', {}, fileSize(file.size)));
}

function progress(fraction) {
  return h('progress.upload', { max: 1, value: fraction || 0, 'aria-label': 'Upload progress' });
}

function reactions(ctx, message) {
  const list = message.reactions || [];
  if (!list.length || message.deleted) return null;
  const me = ctx.store.me.id;
  // Not Tab stops of their own (the message is one; its menu reacts too).
  return h('div.reactions', {}, list.map((r) => h('button.reaction', {
    type: 'button', tabIndex: -1,
    class: r.user_ids?.includes(me) ? 'mine' : '',
    'aria-label': `${r.emoji} ${r.count}${r.user_ids?.includes(me) ? ', yours: remove' : ''}`,
    onclick: () => react(ctx, message, r.emoji),
  }, `${r.emoji} ${r.count}`)));
}

/** Reacts with `emoji`, or takes our reaction back when it is that one already. */
export async function react(ctx, message, emoji) {
  const mine = message.reactions?.find((r) => r.user_ids?.includes(ctx.store.me.id));
  try {
    if (mine?.emoji === emoji) await ctx.api.del(`/api/messages/${message.id}/reactions`);
    else await ctx.api.post(`/api/messages/${message.id}/reactions`, { emoji });
    ctx.sync.hint();
  } catch (error) {
    ctx.toast(error.message);
  }
}

/** The reaction bar at the top of a message's menu. */
export function reactionBar(ctx, message, close) {
  return h('div.reaction-bar', { role: 'group', 'aria-label': 'React' }, QUICK_REACTIONS.map((emoji) => h('button.reaction-choice', {
    type: 'button', role: 'menuitem', tabIndex: -1, 'aria-label': `React with ${emoji}`,
    onclick: () => { close(); react(ctx, message, emoji); },
  }, emoji)));
}
