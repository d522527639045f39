// What the page knows: chats, people, typing, who is online. Everything that
// changes it (REST answers, socket events, sync pages) goes through here, and
// every change is idempotent: the same event may come from the socket, from
// a sync page, and from a REST answer, in any order, and the result is the
// same. The views listen (`on`) and redraw what changed.

export const EVENT = {
  sent: 'App\\Events\\MessageSent',
  edited: 'App\\Events\\MessageEdited',
  deleted: 'App\\Events\\MessageDeleted',
  read: 'App\\Events\\MessageRead',
  delivered: 'App\\Events\\MessageDelivered',
  reaction: 'App\\Events\\ReactionUpdated',
  chat: 'App\\Events\\ChatUpdated',
  prefs: 'App\\Events\\ChatPreferencesUpdated',
  online: 'App\\Events\\UserOnline',
  typing: 'App\\Events\\UserTyping',
  starred: 'App\\Events\\MessageStarred',
  pinned: 'App\\Events\\MessagePinned',
  broadcastList: 'App\\Events\\BroadcastListUpdated',
};

/** How many messages a chat pins at most (a new pin replaces the oldest). */
export const MAX_PINS = 3;

const RANK = { failed: -1, pending: 0, sent: 1, delivered: 2, read: 3 };
const TYPING_MS = 6_000;

/** The later of two statuses: a message never goes from read back to sent. */
export function laterStatus(a, b) {
  return (RANK[b] ?? 0) > (RANK[a] ?? 0) ? b : a;
}

/**
 * Two versions of one message, merged so that an older copy (an old event
 * replayed by sync) never undoes a newer one: deletion sticks, the status only
 * rises, the later edit wins, reactions follow the newest event. `starred` is
 * ours alone: events (seq set) always say false, so only REST answers and
 * MessageStarred change it.
 */
export function mergeMessage(old, incoming, seq = 0) {
  if (!old) return { ...incoming, _rseq: seq };
  const merged = { ...old };
  if (old.deleted) return merged;
  const newerEdit = (Date.parse(incoming.edited_at || '') || 0) >= (Date.parse(old.edited_at || '') || 0);
  if (incoming.deleted || newerEdit) Object.assign(merged, incoming);
  if (seq) merged.starred = old.starred;
  merged.status = laterStatus(old.status, incoming.status);
  if (seq && seq < (old._rseq || 0)) merged.reactions = old.reactions;
  merged._rseq = Math.max(seq, old._rseq || 0);
  return merged;
}

/** The settings that are ours alone: ChatUpdated shows them unset. */
const OWN_SETTINGS = ['unread_count', 'muted_until', 'pinned', 'pinned_at', 'archived'];
/** What ChatUpdated leaves empty (it depends on the viewer): kept from our own view. */
const NOT_IN_EVENTS = [...OWN_SETTINGS, 'pinned_messages'];

/** When a chat was pinned (0: not pinned): pinned chats come first, the latest pin on top. */
export function pinnedAt(chat) {
  return chat.pinned ? Date.parse(chat.pinned_at || '') || 1 : 0;
}

/** Sort key of a chat in the list: its last activity. */
export function activity(chat) {
  const last = chat.last_message?.sent_at || chat.updated_at || chat.created_at;
  return Math.max(Date.parse(last || '') || 0, chat._pendingAt || 0);
}

export class Store {
  constructor(me) {
    this.me = me;
    this.chats = new Map();
    this.users = new Map([[me.id, me]]);
    this.listeners = new Map();
    /** The chat on screen and whether its newest message is in view. */
    this.reading = { chatId: null, atEnd: false };
    /** Chats we asked the server about because an event named them first. */
    this.missingChats = new Set();
  }

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type).delete(fn);
  }

  emit(type, data) {
    for (const fn of this.listeners.get(type) || []) fn(data);
  }

  // ---- people -----------------------------------------------------------

  rememberUser(user) {
    if (!user?.id) return user;
    const known = this.users.get(user.id);
    const merged = { ...known, ...user };
    this.users.set(user.id, merged);
    return merged;
  }

  userName(id) {
    if (id === this.me.id) return 'You';
    return this.users.get(id)?.name || 'Someone';
  }

  setMe(user) {
    this.me = { ...this.me, ...user };
    this.users.set(this.me.id, this.me);
    this.emit('me', this.me);
  }

  // ---- chats ------------------------------------------------------------

  sortedChats() {
    return [...this.chats.values()]
      .sort((a, b) => pinnedAt(b) - pinnedAt(a) || activity(b) - activity(a) || b.id - a.id);
  }

  archivedCount() {
    let n = 0;
    for (const chat of this.chats.values()) if (chat.archived) n += 1;
    return n;
  }

  /**
   * Our own settings of a chat changed (ChatPreferencesUpdated, from this or
   * another device): an older event (a sync replay) changes nothing.
   */
  preferences(data, seq) {
    const chat = this.chats.get(data.chat_id);
    if (!chat) { this.needChat(data.chat_id); return; }
    if (seq && seq <= (chat._prefsSeq || 0)) return;
    const { muted_until, pinned, pinned_at, archived } = data;
    Object.assign(chat, { muted_until, pinned, pinned_at, archived, _prefsSeq: seq });
    this.emit('chat', chat);
  }

  /** A chat from REST (our own view: with unread_count) or from ChatUpdated. */
  upsertChat(chat, { own = true, seq = 0 } = {}) {
    const old = this.chats.get(chat.id);
    // A ChatUpdated older than one already applied (a sync replay) changes nothing.
    if (seq && old?._seq && seq <= old._seq) return old;
    const merged = { ...old, ...chat, _seq: Math.max(seq, old?._seq || 0) };
    if (!own && old) {
      for (const key of NOT_IN_EVENTS) merged[key] = old[key];
    }
    merged.unread_count = merged.unread_count || 0;
    // A chat's last message only moves forward (a deleted one keeps its place).
    if (old?.last_message && (!chat.last_message || old.last_message.id > chat.last_message.id)) {
      merged.last_message = old.last_message;
    }
    merged.maxId = Math.max(old?.maxId || 0, merged.last_message?.id || 0);
    for (const p of chat.participants || []) this.rememberUser(p.user);
    merged.left = chat.participants ? !chat.participants.some((p) => p.user.id === this.me.id) : Boolean(old?.left);
    merged.typing = old?.typing || new Map();
    this.chats.set(chat.id, merged);
    this.missingChats.delete(chat.id);
    this.emit('chat', merged);
    return merged;
  }

  replaceChats(list) {
    const fresh = new Set(list.map((c) => c.id));
    for (const id of [...this.chats.keys()]) if (!fresh.has(id)) this.chats.delete(id);
    for (const chat of list) this.upsertChat(chat);
    this.emit('chats');
  }

  otherUser(chat) {
    if (chat?.type !== 'private') return null;
    const other = chat.participants?.find((p) => p.user.id !== this.me.id)?.user;
    return other ? this.users.get(other.id) || other : null;
  }

  isAdmin(chat, userId = this.me.id) {
    return chat?.participants?.some((p) => p.user.id === userId && p.role === 'admin');
  }

  totalUnread() {
    let n = 0;
    for (const chat of this.chats.values()) n += chat.unread_count || 0;
    return n;
  }

  markedRead(chatId) {
    const chat = this.chats.get(chatId);
    if (!chat || !chat.unread_count) return;
    chat.unread_count = 0;
    this.emit('chat', chat);
  }

  // ---- events -----------------------------------------------------------

  /** Applies one event (socket or sync). `seq` orders reaction updates. */
  apply(name, data) {
    const seq = data?.seq || 0;
    switch (name) {
      case EVENT.sent: return this.messageArrived(data.message, seq);
      case EVENT.edited:
      case EVENT.deleted: return this.messageChanged(data.message, seq);
      case EVENT.reaction: return this.emit('reactions', { ...data, seq });
      case EVENT.read:
      case EVENT.delivered: return this.receipt(name === EVENT.read ? 'read' : 'delivered', data);
      case EVENT.chat: return this.upsertChat(data.chat, { own: false, seq });
      case EVENT.prefs: return this.preferences(data, seq);
      case EVENT.online: return this.presence(data);
      case EVENT.typing: return this.setTyping(data.chat_id, data.user_id, data.typing);
      case EVENT.starred: return this.emit('starred', data);
      case EVENT.pinned: return this.pinChanged(data, seq);
      case EVENT.broadcastList: return this.emit('broadcasts', data);
      default: return undefined;
    }
  }

  messageArrived(message, seq) {
    const chat = this.chats.get(message.chat_id);
    if (!chat) { this.needChat(message.chat_id); return; }
    this.rememberUser(message.sender && { ...this.users.get(message.sender.id), ...message.sender });
    const isNew = message.id > (chat.maxId || 0);
    if (isNew) {
      chat.maxId = message.id;
      chat.last_message = message;
      // The server's rule (docs/api-contract.md): a new message takes a chat
      // out of the archive unless we keep chats archived.
      if (chat.archived && !this.me.keep_chats_archived) chat.archived = false;
      const fromOther = message.sender_id !== this.me.id && message.message_type !== 'system';
      const onScreen = this.reading.chatId === chat.id && this.reading.atEnd && document.visibilityState === 'visible';
      if (fromOther && !onScreen) chat.unread_count = (chat.unread_count || 0) + 1;
      this.membershipFrom(chat, message);
      this.setTyping(chat.id, message.sender_id, false);
    } else if (chat.last_message?.id === message.id) {
      chat.last_message = mergeMessage(chat.last_message, message, seq);
    }
    this.emit('message', { message, seq, isNew });
    this.emit('chat', chat);
  }

  /**
   * A message pinned or unpinned in a chat: its pins change here at once (the
   * newest first, at most MAX_PINS); a chat fetched later brings the server's
   * list. An event older than one applied (a sync replay) changes nothing.
   */
  pinChanged({ chat_id: chatId, message_id: id, pinned, actor_id: actor }, seq) {
    const chat = this.chats.get(chatId);
    if (!chat || (seq && seq <= (chat._pinSeq || 0))) return;
    chat._pinSeq = Math.max(seq, chat._pinSeq || 0);
    const others = (chat.pinned_messages || []).filter((p) => p.message_id !== id);
    chat.pinned_messages = pinned
      ? [{ message_id: id, pinned_by: actor, pinned_at: new Date().toISOString() }, ...others].slice(0, MAX_PINS)
      : others;
    this.emit('pins', chat);
  }

  /** The chat's pins as a REST answer gave them. */
  setPins(chatId, pins) {
    const chat = this.chats.get(chatId);
    if (!chat) return;
    chat.pinned_messages = pins;
    this.emit('pins', chat);
  }

  /** A system message that takes us out of a group (before ChatUpdated says so). */
  membershipFrom(chat, message) {
    if (message.message_type !== 'system') return;
    const content = message.content || {};
    const ids = content.user_ids || [];
    const gone = content.event === 'member_removed' || content.event === 'member_left';
    if (gone && (ids.includes(this.me.id) || (content.event === 'member_left' && content.actor_id === this.me.id))) {
      chat.left = true;
    }
    if (content.event === 'member_added' || content.event === 'member_joined') {
      if (ids.includes(this.me.id)) chat.left = false;
    }
  }

  messageChanged(message, seq) {
    const chat = this.chats.get(message.chat_id);
    if (chat?.last_message?.id === message.id) {
      chat.last_message = mergeMessage(chat.last_message, message, seq);
      this.emit('chat', chat);
    }
    this.emit('message', { message, seq, isNew: false });
  }

  /**
   * Someone's delivered or read watermark moved. In a private chat that says
   * all: every message of ours up to it has that status. In a group the
   * status is the lowest over all members, which the views fetch.
   */
  receipt(kind, data) {
    const chat = this.chats.get(data.chat_id);
    if (!chat) return;
    if (data.user_id === this.me.id) {
      if (kind === 'read' && data.message_id >= (chat.maxId || 0)) this.markedRead(chat.id);
      else if (kind === 'read') this.emit('stale-chat', chat.id);
      return;
    }
    if (chat.type === 'private') {
      const key = kind === 'read' ? 'readUpTo' : 'deliveredUpTo';
      chat[key] = Math.max(chat[key] || 0, data.message_id);
      if (kind === 'read') chat.deliveredUpTo = Math.max(chat.deliveredUpTo || 0, data.message_id);
      const last = chat.last_message;
      if (last && last.sender_id === this.me.id) last.status = this.statusFor(chat, last);
      this.emit('chat', chat);
    } else if (chat.last_message?.sender_id === this.me.id) {
      this.emit('stale-chat', chat.id);
    }
    this.emit('receipt', { chatId: chat.id, kind, messageId: data.message_id, userId: data.user_id });
  }

  /** The status of one of our messages in a private chat, from the watermarks seen. */
  statusFor(chat, message) {
    let status = message.status;
    if (message.id && message.id <= (chat.deliveredUpTo || 0)) status = laterStatus(status, 'delivered');
    if (message.id && message.id <= (chat.readUpTo || 0)) status = laterStatus(status, 'read');
    return status;
  }

  presence(data) {
    const user = this.rememberUser({ id: data.user_id, is_online: data.is_online, last_seen_at: data.last_seen_at });
    this.emit('user', user);
  }

  setTyping(chatId, userId, typing) {
    const chat = this.chats.get(chatId);
    if (!chat || userId === this.me.id) return;
    const was = chat.typing.has(userId);
    clearTimeout(chat.typing.get(userId));
    if (typing) {
      chat.typing.set(userId, setTimeout(() => this.setTyping(chatId, userId, false), TYPING_MS));
    } else {
      chat.typing.delete(userId);
    }
    if (was !== Boolean(typing)) this.emit('typing', chat);
  }

  needChat(chatId) {
    if (this.missingChats.has(chatId)) return;
    this.missingChats.add(chatId);
    this.emit('missing-chat', chatId);
  }
}
