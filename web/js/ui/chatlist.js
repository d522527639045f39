// The chat list: newest activity first, unread badges, last message and
// time, typing, a filter that also searches messages (search.js); arrow keys
// move, Enter opens.

import { h, icon, keepOneTabStop, replace, rovingFocus } from '../dom.js';
import { listTime } from '../format.js';
import { avatar, preview, chatTitle, ticks } from './parts.js';
import { MessageSearch } from './search.js';

export class ChatList {
  constructor(ctx) {
    this.ctx = ctx;
    this.filter = '';
    this.list = h('div.chat-list', { role: 'listbox', 'aria-label': 'Chats' });
    const search = h('input.search', {
      type: 'search', placeholder: 'Search or start a new chat', 'aria-label': 'Search chats',
      oninput: (event) => {
        this.filter = event.target.value.trim().toLowerCase();
        this.render();
        this.messages.update(event.target.value);
      },
      onkeydown: (event) => {
        if (event.key === 'ArrowDown') { event.preventDefault(); this.list.querySelector('[role=option]')?.focus(); }
      },
    });
    this.empty = h('p.empty', { hidden: true }, 'No chats yet. Start one with the chat button above.');
    this.messages = new MessageSearch(ctx);
    this.element = h('div.chat-list-pane', {}, h('div.search-box', {}, search),
      h('div.chat-list-scroll', {}, this.list, this.empty, this.messages.element));
    rovingFocus(this.list, '[role=option]', { onActivate: (item) => ctx.openChat(Number(item.dataset.chat)) });
    const schedule = () => this.schedule();
    for (const type of ['chat', 'chats', 'typing', 'outbox', 'user', 'open']) ctx.store.on(type, schedule);
    this.render();
  }

  /** One redraw per frame however many events a sync page brought. */
  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = null; this.render(); });
  }

  render() {
    const { store } = this.ctx;
    const chats = store.sortedChats().filter((chat) => !this.filter || chatTitle(store, chat).toLowerCase().includes(this.filter));
    const focusedId = document.activeElement?.closest?.('.chat-item')?.dataset.chat;
    const items = chats.map((chat) => this.item(chat));
    replace(this.list, items);
    this.empty.hidden = chats.length > 0 || Boolean(this.filter);
    const focused = items.find((item) => item.dataset.chat === focusedId);
    keepOneTabStop(items, focused || items.find((item) => item.getAttribute('aria-selected') === 'true'));
    focused?.focus();
  }

  item(chat) {
    const { store, outbox } = this.ctx;
    const open = store.reading.chatId === chat.id;
    const pending = outbox.forChat(chat.id).at(-1);
    const typing = [...chat.typing.keys()];
    const last = chat.last_message;
    const unread = chat.unread_count || 0;
    const line = typing.length
      ? h('span.typing', {}, chat.type === 'group' ? `${store.userName(typing[0])} is typing…` : 'typing…')
      : pending
        ? h('span', {}, icon('clock', 'Pending'), ' ', pending.fields.content || pending.file_name || '')
        : h('span', {}, last && last.sender_id === store.me.id && last.message_type !== 'system' ? ticks(last.status) : null, preview(store, chat, last));
    const title = chatTitle(store, chat);
    return h('div.chat-item', {
      role: 'option', tabIndex: -1, 'aria-selected': String(open), dataset: { chat: String(chat.id) },
      'aria-label': `${title}${unread ? `, ${unread} unread` : ''}`,
      onclick: () => this.ctx.openChat(chat.id),
    },
    avatar(chat.type === 'private' ? store.otherUser(chat) || chat : chat, chat.type),
    h('div.chat-item-body', {},
      h('div.chat-item-top', {}, h('span.chat-name', {}, title), h('time.chat-time', { class: unread ? 'unread' : '' }, listTime(last?.sent_at || chat.updated_at))),
      h('div.chat-item-bottom', {},
        h('span.chat-preview', {}, line),
        chat.left ? h('span.chat-flag', {}, 'left') : null,
        unread ? h('span.badge', { 'aria-label': `${unread} unread messages` }, String(unread)) : null)));
  }
}
