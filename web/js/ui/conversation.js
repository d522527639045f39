// The open chat: header (name, online / last seen / typing), the messages
// with day separators and ticks, and the composer. A long history is read a
// page at a time (before_message_id) as the reader scrolls up, and at most
// MAX_ROWS messages are in the DOM at once: the rest stay in memory and the
// window of rows slides over them.

import { h, icon, iconButton, replace } from '../dom.js';
import { dayKey, dayLabel, lastSeen } from '../format.js';
import { mergeMessage } from '../store.js';
import { messageRow, reactionBar } from './bubble.js';
import * as dialogs from './dialogs.js';
import { closeMenu, menu } from './menu.js';
import { MentionPicker } from './mentions.js';
import { avatar, chatTitle, messageSummary } from './parts.js';
import { infoPanel } from './panels.js';

const PAGE = 50;
const MAX_ROWS = 120;
const EDGE_PX = 400;
const TYPING_EVERY_MS = 3000;
const TYPING_IDLE_MS = 4000;

export class Conversation {
  constructor(ctx) {
    this.ctx = ctx;
    this.chatId = null;
    this.element = h('section.conversation', { 'aria-label': 'Conversation' }, placeholder());
    const { store } = ctx;
    store.on('message', (e) => this.onMessage(e));
    store.on('reactions', (e) => this.onReactions(e));
    store.on('starred', (e) => this.onStarred(e));
    store.on('pins', (chat) => { if (chat.id === this.chatId) this.renderPins(); });
    store.on('receipt', (e) => this.onReceipt(e));
    store.on('chat', (chat) => { if (chat.id === this.chatId) this.onChatChanged(); });
    store.on('typing', (chat) => { if (chat.id === this.chatId) this.renderSubtitle(); });
    store.on('user', (user) => { if (user.id === this.otherId) this.renderSubtitle(); });
    store.on('outbox', () => this.renderPending());
    store.on('resync', () => { if (this.chatId) this.open(this.chatId); });
    store.on('capabilities', (caps) => { if (this.attach) this.attach.hidden = !caps.mediaSend; });
    document.addEventListener('visibilitychange', () => this.maybeMarkRead());
    this.refreshStatuses = debounce(() => this.fetchStatuses(), 400);
  }

  get chat() { return this.ctx.store.chats.get(this.chatId); }

  // ---- opening and closing ----------------------------------------------

  open(chatId) {
    const { store, pusher } = this.ctx;
    if (this.chatId !== chatId) this.leaveChannel();
    this.chatId = chatId;
    this.msgs = [];
    this.byId = new Map();
    this.hasMore = true;
    this.nextBefore = null;
    this.lo = 0;
    this.hi = 0;
    this.replyTo = null;
    this.editing = null;
    this.readSent = 0;
    this.pinIndex = 0;
    this.pinTexts = new Map();
    this.generation = (this.generation || 0) + 1;
    const chat = this.chat;
    this.otherId = store.otherUser(chat)?.id;
    store.reading = { chatId, atEnd: true };
    store.emit('open', chatId);
    this.build(chat);
    this.channel = pusher.subscribe(`private-chat.${chatId}`);
    this.channel.bind('*', (data, event) => this.onChannel(event, data));
    this.loaded = this.loadLatest();
    if (this.otherId) {
      this.ctx.api.get(`/api/users/${this.otherId}`).then((user) => store.presence({
        user_id: user.id, is_online: user.is_online, last_seen_at: user.last_seen_at,
      })).catch(() => {});
    }
  }

  close() {
    this.leaveChannel();
    this.chatId = null;
    this.ctx.store.reading = { chatId: null, atEnd: false };
    this.ctx.store.emit('open', null);
    replace(this.element, placeholder());
  }

  leaveChannel() {
    if (!this.channel) return;
    this.stopTyping();
    this.ctx.pusher.unsubscribe(this.channel.name);
    this.channel = null;
  }

  onChannel(event, data) {
    const { store } = this.ctx;
    if (event === 'client-typing') store.setTyping(this.chatId, data?.user_id, true);
    else if (event === 'client-stop-typing') store.setTyping(this.chatId, data?.user_id, false);
    else this.ctx.live(event, data);
  }

  build(chat) {
    this.title = h('h2.chat-title', {});
    this.subtitle = h('p.chat-subtitle', { 'aria-live': 'polite' });
    this.headAvatar = h('span.head-avatar');
    const header = h('header.chat-header', {},
      iconButton('back', 'Back to chats', () => this.ctx.closeChat(), { class: 'back' }),
      h('button.chat-heading', { type: 'button', onclick: () => this.showInfo(), 'aria-label': 'Chat info' },
        this.headAvatar, h('span.chat-heading-text', {}, this.title, this.subtitle)),
      iconButton('menu', 'Chat menu', (event) => this.chatMenu(event.currentTarget), { 'aria-haspopup': 'menu' }));
    this.rows = h('div.rows', { role: 'list', 'aria-label': 'Messages' });
    this.pending = h('div.pending-rows', { role: 'list', 'aria-label': 'Messages being sent' });
    this.loader = h('div.loader', { hidden: true }, 'Loading older messages…');
    this.scroller = h('div.messages', { tabIndex: -1, onscroll: () => this.onScroll() }, this.loader, this.rows, this.pending);
    this.rows.addEventListener('keydown', (event) => this.rowKeys(event));
    this.jump = h('button.jump', { type: 'button', hidden: true, 'aria-label': 'Jump to the newest message', onclick: () => this.jumpToEnd() }, icon('down'));
    this.composer = this.buildComposer();
    this.panel = h('aside.info-panel', { hidden: true });
    this.pinBar = h('div.pinned-banner', { hidden: true });
    replace(this.element,
      h('div.chat-main', {}, header, this.pinBar, this.scroller, this.jump, this.composer),
      this.panel);
    this.onChatChanged();
  }

  onChatChanged() {
    const chat = this.chat;
    if (!chat) return;
    const { store } = this.ctx;
    this.title.textContent = chatTitle(store, chat);
    replace(this.headAvatar, avatar(chat.type === 'private' ? store.otherUser(chat) || chat : chat, chat.type));
    this.renderSubtitle();
    this.composer.classList.toggle('closed', Boolean(chat.left));
    this.closedNote.hidden = !chat.left;
    this.form.hidden = Boolean(chat.left);
    if (!this.panel.hidden) this.showInfo();
    this.renderPins();
  }

  renderSubtitle() {
    const chat = this.chat;
    if (!chat || !this.subtitle) return;
    const { store } = this.ctx;
    const typing = [...chat.typing.keys()];
    let text;
    if (typing.length) {
      text = chat.type === 'group' ? `${typing.map((id) => store.userName(id)).join(', ')} typing…` : 'typing…';
    } else if (chat.type === 'private') {
      const other = store.otherUser(chat);
      text = other?.is_online ? 'online' : lastSeen(other?.last_seen_at);
    } else {
      text = (chat.participants || []).map((p) => (p.user.id === store.me.id ? 'You' : p.user.name)).join(', ');
    }
    this.subtitle.textContent = text;
    this.subtitle.classList.toggle('typing', typing.length > 0);
  }

  // ---- history ----------------------------------------------------------

  async loadLatest() {
    const generation = this.generation;
    try {
      const page = await this.ctx.api.get(`/api/chats/${this.chatId}/messages?limit=${PAGE}`);
      if (generation !== this.generation) return;
      this.addPage(page);
      this.showEnd();
    } catch (error) {
      if (generation === this.generation) this.ctx.toast(error.message);
    }
  }

  async loadOlder() {
    if (this.loading || !this.hasMore || !this.nextBefore) return;
    const generation = this.generation;
    this.loading = true;
    this.loader.hidden = false;
    try {
      const page = await this.ctx.api.get(`/api/chats/${this.chatId}/messages?limit=${PAGE}&before_message_id=${this.nextBefore}`);
      if (generation !== this.generation) return;
      const added = this.addPage(page);
      // The rows on screen moved up by `added` places in msgs; then widen upwards.
      this.lo += added;
      this.hi += added;
      this.slide(this.lo - added, this.hi);
    } catch (error) {
      this.ctx.toast(error.message);
    } finally {
      this.loading = false;
      this.loader.hidden = true;
    }
  }

  /** Merges a page of history; returns how many messages came before the ones we had. */
  addPage(page) {
    this.hasMore = Boolean(page.pagination?.has_more);
    this.nextBefore = page.pagination?.next_before_message_id || null;
    const firstBefore = this.msgs[0]?.id ?? Infinity;
    let added = 0;
    for (const message of page.messages) {
      if (this.byId.has(message.id)) continue;
      if (message.id < firstBefore) added += 1;
      this.insert(message);
    }
    this.renderPins();
    return added;
  }

  insert(message, seq = 0) {
    const merged = mergeMessage(this.byId.get(message.id), message, seq);
    if (this.byId.has(message.id)) {
      const index = this.msgs.findIndex((m) => m.id === message.id);
      this.msgs[index] = merged;
      this.byId.set(message.id, merged);
      return { index, fresh: false };
    }
    let index = this.msgs.length;
    while (index > 0 && this.msgs[index - 1].id > message.id) index -= 1;
    this.msgs.splice(index, 0, merged);
    this.byId.set(message.id, merged);
    return { index, fresh: true };
  }

  // ---- the window of rows -----------------------------------------------

  /** Shows the newest messages and scrolls to the bottom. */
  showEnd() {
    const hi = this.msgs.length;
    this.render(Math.max(0, hi - PAGE), hi);
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.onScroll();
  }

  jumpToEnd() {
    this.showEnd();
    this.ctx.store.reading.atEnd = true;
    this.maybeMarkRead();
  }

  /** Moves the window to [lo, hi) (at most MAX_ROWS), keeping what is on screen in place. */
  slide(lo, hi) {
    lo = Math.max(0, lo);
    hi = Math.min(this.msgs.length, hi);
    if (hi - lo > MAX_ROWS) {
      if (lo < this.lo) hi = lo + MAX_ROWS;
      else lo = hi - MAX_ROWS;
    }
    if (lo === this.lo && hi === this.hi) return;
    const anchor = this.anchor();
    this.render(lo, hi);
    this.restore(anchor);
  }

  render(lo, hi) {
    this.lo = lo;
    this.hi = hi;
    const rows = [];
    for (let i = lo; i < hi; i += 1) rows.push(...this.rowWithDay(i));
    replace(this.rows, rows);
    this.renderPending();
    this.tabStop();
  }

  /** The row of message i, preceded by a day separator when its day differs from the one before. */
  rowWithDay(i) {
    const message = this.msgs[i];
    const before = this.msgs[i - 1];
    const known = before || !this.hasMore;
    const separator = known && dayKey(before?.sent_at) !== dayKey(message.sent_at)
      ? h('div.day', { role: 'listitem' }, h('span', {}, dayLabel(message.sent_at))) : null;
    return [separator, this.row(message)].filter(Boolean);
  }

  row(message) {
    return messageRow(this.ctx, this.chat, message, {
      onMenu: (button) => this.messageMenu(message.id, button),
      onQuote: (id) => this.focusMessage(id),
    });
  }

  anchor() {
    const top = this.scroller.getBoundingClientRect().top;
    for (const row of this.rows.querySelectorAll('.row')) {
      const box = row.getBoundingClientRect();
      if (box.bottom > top) return { id: row.dataset.id, offset: box.top - top };
    }
    return null;
  }

  restore(anchor) {
    if (!anchor) return;
    const row = this.rows.querySelector(`.row[data-id="${anchor.id}"]`);
    if (!row) return;
    const top = this.scroller.getBoundingClientRect().top;
    this.scroller.scrollTop += row.getBoundingClientRect().top - top - anchor.offset;
  }

  onScroll() {
    if (this.scrollFrame) return;
    this.scrollFrame = requestAnimationFrame(() => {
      this.scrollFrame = null;
      const s = this.scroller;
      if (!this.chatId || !s) return;
      const fromBottom = s.scrollHeight - s.scrollTop - s.clientHeight;
      if (s.scrollTop < EDGE_PX) {
        if (this.lo > 0) this.slide(this.lo - PAGE, this.hi);
        else if (this.hasMore) this.loadOlder();
      } else if (fromBottom < EDGE_PX && this.hi < this.msgs.length) {
        this.slide(this.lo, this.hi + PAGE);
      }
      const atEnd = this.hi === this.msgs.length && fromBottom < 80;
      this.ctx.store.reading.atEnd = atEnd;
      this.jump.hidden = atEnd;
      if (atEnd) this.maybeMarkRead();
    });
  }

  replaceRow(id) {
    const message = this.byId.get(id);
    const old = this.rows.querySelector(`.row[data-id="${id}"]`);
    if (!old || !message) return;
    const fresh = this.row(message);
    fresh.tabIndex = old.tabIndex;
    const focused = document.activeElement === old;
    old.replaceWith(fresh);
    if (focused) fresh.focus();
  }

  /** The pending messages of this chat (outbox), after the newest row. */
  renderPending() {
    if (!this.chatId || !this.pending) return;
    const atEnd = this.hi === this.msgs.length;
    const entries = atEnd ? this.ctx.outbox.forChat(this.chatId) : [];
    const stick = this.nearBottom();
    const last = this.msgs.at(-1);
    replace(this.pending, entries.map((entry, i) => {
      const pending = pendingMessage(this.ctx, entry, this.byId);
      const before = i ? entries[i - 1].created_at : last?.sent_at;
      const day = dayKey(before) !== dayKey(entry.created_at) ? h('div.day', { role: 'listitem' }, h('span', {}, dayLabel(entry.created_at))) : null;
      return [day, messageRow(this.ctx, this.chat, pending, { onMenu: () => {}, onQuote: (id) => this.focusMessage(id) })];
    }));
    if (stick) this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 120;
  }

  // ---- events -----------------------------------------------------------

  onMessage({ message, seq }) {
    if (message.chat_id !== this.chatId || !this.msgs) return;
    const known = this.byId.has(message.id);
    // Older than what we hold and there is more history: it comes with its page.
    if (!known && this.hasMore && this.msgs.length && message.id < this.msgs[0].id) return;
    const stick = this.nearBottom();
    const windowAtEnd = this.hi === this.msgs.length;
    const { index, fresh } = this.insert(message, seq);
    if (!fresh) { this.replaceRow(message.id); return; }
    if (windowAtEnd && index >= this.lo) {
      this.hi += 1;
      if (index === this.msgs.length - 1) this.rows.append(...this.rowWithDay(index));
      else this.render(this.lo, this.hi);
      if (this.hi - this.lo > MAX_ROWS + PAGE) this.slide(this.hi - MAX_ROWS, this.hi);
      this.renderPending();
      if (stick) this.scroller.scrollTop = this.scroller.scrollHeight;
      this.tabStop();
    } else if (index < this.lo) {
      this.lo += 1;
      this.hi += 1;
    }
    if (message.sender_id !== this.ctx.store.me.id) this.announce(message);
    this.onScroll();
  }

  onReactions({ chat_id: chatId, message_id: id, reactions, seq }) {
    if (chatId !== this.chatId || !this.byId?.has(id)) return;
    const old = this.byId.get(id);
    if (seq && seq < (old._rseq || 0)) return;
    this.insert({ ...old, reactions }, seq);
    this.replaceRow(id);
  }

  /** We starred or unstarred a message (here, or on another device of ours). */
  onStarred({ chat_id: chatId, message_id: id, starred }) {
    if (chatId !== this.chatId || !this.byId?.has(id)) return;
    this.byId.get(id).starred = starred;
    this.replaceRow(id);
  }

  onReceipt({ chatId }) {
    if (chatId !== this.chatId) return;
    const chat = this.chat;
    if (chat.type === 'private') {
      for (const row of this.rows.querySelectorAll('.row.mine')) {
        const message = this.byId.get(Number(row.dataset.id));
        if (message && this.ctx.store.statusFor(chat, message) !== row.dataset.status) this.replaceRow(message.id);
      }
    } else {
      this.refreshStatuses();
    }
  }

  /** In a group a message's status is the lowest over its members: ask the server. */
  async fetchStatuses() {
    if (!this.chatId || !this.msgs.length) return;
    try {
      const page = await this.ctx.api.get(`/api/chats/${this.chatId}/messages?limit=${PAGE}`);
      for (const message of page.messages) {
        const old = this.byId.get(message.id);
        if (old && old.sender_id === this.ctx.store.me.id && old.status !== message.status) {
          this.insert(message);
          this.replaceRow(message.id);
        }
      }
    } catch { /* the next receipt tries again */ }
  }

  announce(message) {
    const announcer = document.getElementById('announcer');
    if (announcer && message.message_type !== 'system') {
      announcer.textContent = `${message.sender?.name || 'Message'}: ${messageSummary(this.ctx.store, message)}`;
    }
  }

  /** Marks the newest message from others read once it is on screen. */
  maybeMarkRead() {
    if (!this.chatId || document.visibilityState !== 'visible' || !this.ctx.store.reading.atEnd) return;
    const me = this.ctx.store.me.id;
    const last = this.msgs.findLast((m) => m.sender_id !== me && m.message_type !== 'system') || null;
    const chat = this.chat;
    if (!last || last.id <= this.readSent) {
      if (chat?.unread_count) this.ctx.store.markedRead(this.chatId);
      return;
    }
    this.readSent = last.id;
    this.ctx.store.markedRead(this.chatId);
    this.ctx.api.put(`/api/chats/${this.chatId}/read`, { message_id: last.id }).catch(() => { this.readSent = 0; });
  }

  // ---- keyboard ---------------------------------------------------------

  /** Keeps one message row in the Tab order: the newest. */
  tabStop() {
    const rows = [...this.rows.querySelectorAll('.row')];
    if (!rows.length || rows.some((r) => r.tabIndex === 0 && r !== rows.at(-1) && r === document.activeElement)) return;
    rows.forEach((row, i) => { row.tabIndex = i === rows.length - 1 ? 0 : -1; });
  }

  rowKeys(event) {
    const rows = [...this.rows.querySelectorAll('.row')];
    const index = rows.indexOf(document.activeElement);
    if (index < 0) return;
    const target = { ArrowUp: index - 1, ArrowDown: index + 1, Home: 0, End: rows.length - 1 }[event.key];
    if (target === undefined) return;
    event.preventDefault();
    const next = rows[Math.max(0, Math.min(rows.length - 1, target))];
    rows.forEach((row) => { row.tabIndex = row === next ? 0 : -1; });
    next.focus();
    next.scrollIntoView({ block: 'nearest' });
  }

  focusMessage(id) {
    const index = this.msgs.findIndex((m) => m.id === id);
    if (index < 0) { this.ctx.toast('That message is further back in the history.'); return; }
    if (index < this.lo || index >= this.hi) this.render(Math.max(0, index - PAGE / 2), Math.min(this.msgs.length, index + PAGE / 2));
    const row = this.rows.querySelector(`.row[data-id="${id}"]`);
    if (!row) return;
    row.scrollIntoView({ block: 'center' });
    row.classList.add('flash');
    setTimeout(() => row.classList.remove('flash'), 1200);
    row.tabIndex = 0;
    row.focus();
  }

  // ---- menus and actions ------------------------------------------------

  messageMenu(id, button) {
    const message = this.byId.get(id);
    if (!message || message.deleted || message.message_type === 'system') return;
    const mine = message.sender_id === this.ctx.store.me.id;
    const text = typeof message.content === 'string' ? message.content : '';
    const pinned = (this.chat.pinned_messages || []).some((p) => p.message_id === id);
    menu(button, [
      { label: 'Reply', action: () => this.startReply(message), hidden: this.chat.left },
      { label: message.starred ? 'Unstar' : 'Star', action: () => this.toggleStar(message) },
      { label: pinned ? 'Unpin' : 'Pin', action: () => this.setPin(id, !pinned), hidden: this.chat.left },
      { label: 'Forward', action: () => dialogs.forward(this.ctx, message) },
      { label: 'Copy text', action: () => navigator.clipboard?.writeText(text), hidden: !text },
      { label: 'Edit', action: () => this.startEdit(message), hidden: !mine || message.message_type !== 'text' },
      { label: 'Delete for everyone', action: () => this.remove(message), hidden: !mine },
    ], { top: reactionBar(this.ctx, message, closeMenu), label: 'Message options' });
  }

  chatMenu(button) {
    const chat = this.chat;
    const other = this.ctx.store.otherUser(chat);
    menu(button, [
      { label: chat.type === 'group' ? 'Group info' : 'Contact info', action: () => this.showInfo() },
      { label: 'Block or unblock', action: () => dialogs.toggleBlock(this.ctx, other), hidden: !other },
      { label: 'Close chat', action: () => this.ctx.closeChat() },
    ]);
  }

  showInfo() {
    this.panel.hidden = false;
    replace(this.panel, infoPanel(this.ctx, this.chat, () => { this.panel.hidden = true; this.input?.focus(); }));
  }

  async toggleStar(message) {
    try {
      const path = `/api/messages/${message.id}/star`;
      const answer = message.starred ? await this.ctx.api.del(path) : await this.ctx.api.post(path);
      this.ctx.store.emit('starred', { chat_id: message.chat_id, message_id: message.id, starred: answer.message.starred });
    } catch (error) {
      this.ctx.toast(error.message);
    }
  }

  /** Pins or unpins a message; the answer is the chat's pins (a fourth pin replaced the oldest). */
  async setPin(id, pin) {
    const chatId = this.chatId;
    try {
      const path = `/api/chats/${chatId}/pins/${id}`;
      const answer = pin ? await this.ctx.api.put(path) : await this.ctx.api.del(path);
      this.ctx.store.setPins(chatId, answer.pinned_messages);
    } catch (error) {
      this.ctx.toast(error.message);
    }
  }

  /**
   * The pinned banner above the messages: one pin at a time, the newest first;
   * a click shows that message and turns the banner to the next pin (as on
   * WhatsApp). A pinned message older than the loaded history is fetched on
   * its own for its text.
   */
  renderPins() {
    if (!this.pinBar) return;
    const pins = this.chat?.pinned_messages || [];
    this.pinBar.hidden = !pins.length;
    if (!pins.length) { replace(this.pinBar); return; }
    this.pinIndex %= pins.length;
    const { message_id: id } = pins[this.pinIndex];
    const message = this.byId?.get(id);
    const text = message ? messageSummary(this.ctx.store, message) : this.pinTexts.get(id);
    if (!message && text === undefined) this.fetchPinText(id);
    const label = pins.length > 1 ? `Pinned message ${this.pinIndex + 1} of ${pins.length}` : 'Pinned message';
    replace(this.pinBar,
      h('button.pinned-open', {
        type: 'button', 'aria-label': `${label}: ${text || ''}`,
        onclick: () => { this.pinIndex += 1; this.reveal(id); this.renderPins(); },
      }, h('span.pinned-label', {}, `📌 ${label}`), h('span.pinned-text', {}, text || '…')),
      this.chat.left ? null : iconButton('close', 'Unpin', () => this.setPin(id, false)));
  }

  async fetchPinText(id) {
    const chatId = this.chatId;
    this.pinTexts.set(id, '');
    try {
      const page = await this.ctx.api.get(`/api/chats/${chatId}/messages?limit=1&before_message_id=${id + 1}`);
      const message = page.messages.find((m) => m.id === id);
      if (chatId !== this.chatId) return;
      this.pinTexts.set(id, message ? messageSummary(this.ctx.store, message) : '');
      this.renderPins();
    } catch { /* the banner keeps its placeholder */ }
  }

  /** Shows a message, reading older pages until it is loaded (a pin, a starred message). */
  async reveal(id) {
    const chatId = this.chatId;
    await this.loaded;
    for (let pages = 0; pages < 40 && chatId === this.chatId && !this.byId.has(id) && this.hasMore; pages += 1) {
      await this.loadOlder();
    }
    if (chatId === this.chatId) this.focusMessage(id);
  }

  async remove(message) {
    if (!await dialogs.confirm('Delete this message for everyone?', 'Delete')) return;
    try {
      await this.ctx.api.del(`/api/messages/${message.id}`);
      this.insert({ ...message, deleted: true, content: null, media: null });
      this.replaceRow(message.id);
      this.ctx.sync.hint();
    } catch (error) {
      this.ctx.toast(error.message);
    }
  }

  startReply(message) {
    this.editing = null;
    this.replyTo = message;
    this.renderBanner();
    this.input.focus();
  }

  startEdit(message) {
    this.replyTo = null;
    this.editing = message;
    this.input.value = message.content;
    this.renderBanner();
    this.input.focus();
  }

  renderBanner() {
    const { store } = this.ctx;
    const target = this.editing || this.replyTo;
    this.banner.hidden = !target;
    if (!target) return;
    replace(this.banner,
      h('div.banner-text', {}, h('strong', {}, this.editing ? 'Edit message' : `Reply to ${store.userName(target.sender_id)}`),
        h('span', {}, messageSummary(store, target))),
      iconButton('close', this.editing ? 'Cancel editing' : 'Cancel reply', () => this.cancelBanner()));
  }

  cancelBanner() {
    if (this.editing) this.input.value = '';
    this.editing = null;
    this.replyTo = null;
    this.renderBanner();
    this.input.focus();
  }

  // ---- composing ----------------------------------------------------------

  buildComposer() {
    this.input = h('textarea.input', {
      rows: 1, placeholder: 'Type a message', 'aria-label': 'Type a message', maxLength: 65536,
      onkeydown: (event) => {
        if (this.mentions.key(event)) return;
        if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) { event.preventDefault(); this.submit(); }
        if (event.key === 'Escape' && (this.replyTo || this.editing)) { event.preventDefault(); this.cancelBanner(); }
      },
      oninput: () => { this.grow(); this.typing(); this.mentions.update(); },
    });
    this.mentions = new MentionPicker(this.input, () => this.mentionable());
    this.file = h('input.visually-hidden', {
      type: 'file', tabIndex: -1, 'aria-hidden': 'true',
      onchange: () => { const f = this.file.files[0]; this.file.value = ''; if (f) dialogs.sendFile(this.ctx, this.chatId, f, (fields, file) => this.queue(fields, file)); },
    });
    this.attach = iconButton('attach', 'Attach a photo or document', () => this.file.click());
    this.attach.hidden = !this.ctx.capabilities.mediaSend;
    this.banner = h('div.composer-banner', { hidden: true });
    this.form = h('form.composer-form', { onsubmit: (event) => { event.preventDefault(); this.submit(); } },
      this.attach, this.file, this.input,
      h('button.send', { type: 'submit', 'aria-label': 'Send' }, icon('send')));
    this.closedNote = h('p.closed-note', { hidden: true }, "You can't send messages to this group because you're no longer a participant.");
    return h('footer.composer', {}, this.banner, this.mentions.element, this.form, this.closedNote);
  }

  /** Who "@" offers: the group's other members (nobody in a private chat). */
  mentionable() {
    if (this.chat?.type !== 'group') return [];
    const me = this.ctx.store.me.id;
    return (this.chat.participants || []).filter((p) => p.user.id !== me).map((p) => ({ id: p.user.id, name: p.user.name }));
  }

  grow() {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 160)}px`;
  }

  async submit() {
    const content = this.input.value.trim();
    if (!content || this.chat?.left) return;
    if (this.editing) { await this.saveEdit(content); return; }
    const fields = { message_type: 'text', content };
    if (this.replyTo) fields.reply_to_message_id = this.replyTo.id;
    const mentions = this.mentions.take(content);
    if (mentions.length && this.chat?.type === 'group') fields.mentions = mentions;
    this.queue(fields);
    this.input.value = '';
    this.grow();
    this.replyTo = null;
    this.renderBanner();
    this.stopTyping();
  }

  queue(fields, file) {
    this.ctx.outbox.add(this.chatId, fields, file);
    this.showEnd();
  }

  async saveEdit(content) {
    const message = this.editing;
    try {
      const answer = await this.ctx.api.put(`/api/messages/${message.id}`, { content });
      this.insert(answer.message);
      this.replaceRow(message.id);
      this.editing = null;
      this.input.value = '';
      this.renderBanner();
    } catch (error) {
      this.ctx.toast(error.status === 403 ? 'This message can no longer be edited.' : error.message);
    }
  }

  /** Whispers client-typing at most every few seconds, and stop-typing when idle. */
  typing() {
    if (!this.channel) return;
    if (!this.input.value) { this.stopTyping(); return; }
    const now = Date.now();
    if (!this.typingSince || now - this.typingSince > TYPING_EVERY_MS) {
      this.typingSince = now;
      this.channel.trigger('client-typing', { user_id: this.ctx.store.me.id, name: this.ctx.store.me.name });
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    clearTimeout(this.typingTimer);
    if (!this.typingSince) return;
    this.typingSince = 0;
    this.channel?.trigger('client-stop-typing', { user_id: this.ctx.store.me.id });
  }
}

/** A queued entry drawn like a message, with a clock (or its upload progress). */
function pendingMessage(ctx, entry, byId) {
  const reply = byId.get(entry.fields.reply_to_message_id);
  const upload = ctx.outbox.files.get(entry.client_message_id);
  return {
    _pending: true,
    _file: upload?.file,
    _progress: upload ? upload.progress : undefined,
    id: null,
    client_message_id: entry.client_message_id,
    chat_id: entry.chat_id,
    sender_id: ctx.store.me.id,
    message_type: entry.fields.message_type,
    content: entry.fields.content,
    reply_to: reply ? { id: reply.id, sender_id: reply.sender_id, message_type: reply.message_type, content: reply.content } : null,
    sent_at: entry.created_at,
    status: 'pending',
    reactions: [],
    mentions: entry.fields.mentions || [],
  };
}

function placeholder() {
  return h('div.placeholder', {}, h('h2', {}, 'natter'), h('p', {}, 'Pick a chat on the left, or start a new one.'));
}

function debounce(fn, ms) {
  let timer;
  return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
}
