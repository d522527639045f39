// Small pieces several views draw: avatars, ticks, names, previews.

import { h, icon } from '../dom.js';
import { hue, initials } from '../format.js';

export function avatar(who, kind = 'private', size = '') {
  const name = who?.name || '?';
  if (who?.avatar_url) {
    return h(`img.avatar${size ? `.${size}` : ''}`, { src: who.avatar_url, alt: '', loading: 'lazy' });
  }
  return h(`span.avatar.${hue(who?.id)}${size ? `.${size}` : ''}`, { 'aria-hidden': 'true' },
    kind === 'group' && !who?.name ? icon('group') : initials(name));
}

export function chatTitle(store, chat) {
  if (chat.type === 'private') return store.otherUser(chat)?.name || chat.name || 'Chat';
  return chat.name || 'Group';
}

const STATUS_LABEL = { pending: 'Pending', sent: 'Sent', delivered: 'Delivered', read: 'Read', failed: 'Not sent' };

/** The ticks of one of our messages: clock, one grey, two grey, two blue. */
export function ticks(status = 'sent') {
  const name = status === 'pending' ? 'clock' : status === 'sent' ? 'tick' : status === 'failed' ? 'close' : 'ticks';
  const el = h(`span.ticks.${status}`, { title: STATUS_LABEL[status] }, icon(name, STATUS_LABEL[status]));
  return el;
}

/** The disappearing-messages timers a chat may have (seconds), in words. */
export const TIMERS = [[0, 'Off'], [86400, '24 hours'], [604800, '7 days'], [7776000, '90 days']];

/** A timer in words ("24 hours"); a testing value in seconds. */
export function timerLabel(seconds) {
  const known = TIMERS.find(([value]) => value === seconds);
  return known ? known[1] : `${seconds} seconds`;
}

/** A system message in words. */
export function systemText(store, message) {
  const c = message.content || {};
  const actor = store.userName(c.actor_id);
  const names = (c.user_ids || []).map((id) => store.userName(id)).join(', ');
  switch (c.event) {
    case 'group_created': return `${actor} created this group`;
    case 'group_updated': return `${actor} changed the group's details`;
    case 'member_added': return `${actor} added ${names}`;
    case 'member_removed': return `${actor} removed ${names}`;
    case 'member_left': return `${names || actor} left`;
    case 'member_joined': return `${names || actor} joined using an invite link`;
    case 'role_changed': return `${actor} made ${names} ${c.role === 'admin' ? 'an admin' : 'a member'}`;
    case 'disappearing_set': return c.seconds
      ? `${actor} turned on disappearing messages (${timerLabel(c.seconds)})`
      : `${actor} turned off disappearing messages`;
    case 'message_pinned': return `${actor} pinned a message`;
    default: return 'The group changed';
  }
}

/** One line describing a message, for the chat list and replies. */
export function messageSummary(store, message) {
  if (!message) return '';
  if (message.deleted) return 'This message was deleted';
  if (message.message_type === 'system') return systemText(store, message);
  const kinds = { image: 'Photo', video: 'Video', audio: 'Audio', document: 'Document', location: 'Location', contact: 'Contact' };
  const text = typeof message.content === 'string' ? message.content : '';
  if (kinds[message.message_type]) return text ? `${kinds[message.message_type]}: ${text}` : (message.media?.file_name || kinds[message.message_type]);
  return text;
}

export function preview(store, chat, message) {
  if (!message) return chat.type === 'group' ? 'Group created' : '';
  const who = chat.type === 'group' && message.message_type !== 'system' && message.sender_id !== store.me.id
    ? `${message.sender?.name || store.userName(message.sender_id)}: ` : '';
  return `${who}${messageSummary(store, message)}`;
}
