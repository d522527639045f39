// The chat list: pinned chats first, then newest activity first, unread
// badges, last message and time, typing, a filter that also searches
// messages (search.js); the archived chats behind an "Archived (n)" row; each
// chat's menu pins or archives it. Arrow keys move, Enter opens, the
// context-menu key (or Shift+F10) opens the menu.

import { h, icon, keepOneTabStop, replace, rovingFocus } from '../dom.js';
import { listTime } from '../format.js';
import { menu } from './menu.js';
import { avatar, preview, chatTitle, ticks } from './parts.js';
import { MessageSearch } from './search.js';

export class ChatList {
  constructor(ctx) {
    this.ctx = ctx;
    this.filter = '';
    /** Showing the archived chats instead of the others. */
    this.showArchived = false;
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
    this.archiveRow = h('div.archive-row');
    this.messages = new MessageSearch(ctx);
    this.element = h('div.chat-list-pane', {}, h('div.search-box', {}, search),
      h('div.chat-list-scroll', {}, this.archiveRow, this.list, this.empty, this.messages.element));
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
    if (this.showArchived && !store.archivedCount()) this.showArchived = false;
    const chats = store.sortedChats()
      .filter((chat) => Boolean(chat.archived) === this.showArchived)
      .filter((chat) => !this.filter || chatTitle(store, chat).toLowerCase().includes(this.filter));
    this.renderArchiveRow(store.archivedCount());
    const focusedId = document.activeElement?.closest?.('.chat-item')?.dataset.chat;
    const items = chats.map((chat) => this.item(chat));
    replace(this.list, items);
    this.empty.hidden = chats.length > 0 || Boolean(this.filter) || this.showArchived;
    const focused = items.find((item) => item.dataset.chat === focusedId);
    keepOneTabStop(items, focused || items.find((item) => item.getAttribute('aria-selected') === 'true'));
    focused?.focus();
  }

  /** "Archived (n)" above the list, or the way back from the archived chats. */
  renderArchiveRow(count) {
    const toggle = (show) => { this.showArchived = show; this.render(); };
    const row = this.showArchived
      ? h('button.archive-toggle', { type: 'button', onclick: () => toggle(false) }, icon('back'), ' Archived')
      : count
        ? h('button.archive-toggle', { type: 'button', onclick: () => toggle(true) }, icon('archive'), ` Archived (${count})`)
        : null;
    replace(this.archiveRow, row ? [row] : []);
  }

  /** The chat's menu: pin or unpin (not in the archive), archive or unarchive. */
  openMenu(chat, anchor) {
    const { api, store, toast } = this.ctx;
    const change = (what, body) => api.put(`/api/chats/${chat.id}/${what}`, body)
      .then((answer) => store.upsertChat(answer))
      .catch((error) => toast(error.message));
    menu(anchor, [
      { label: chat.pinned ? 'Unpin chat' : 'Pin chat', hidden: chat.archived, action: () => change('pin', { pinned: !chat.pinned }) },
      { label: chat.archived ? 'Unarchive chat' : 'Archive chat', action: () => change('archive', { archived: !chat.archived }) },
    ], { label: 'Chat options' });
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
    const menuButton = h('button.chat-item-menu', {
      type: 'button', 'aria-label': 'Chat options', 'aria-haspopup': 'menu', tabIndex: -1,
      onclick: (event) => { event.stopPropagation(); this.openMenu(chat, event.currentTarget); },
    }, icon('down'));
    const item = h('div.chat-item', {
      role: 'option', tabIndex: -1, 'aria-selected': String(open), dataset: { chat: String(chat.id) },
      'aria-label': `${title}${chat.pinned ? ', pinned' : ''}${unread ? `, ${unread} unread` : ''}`,
      onclick: () => this.ctx.openChat(chat.id),
      oncontextmenu: (event) => { event.preventDefault(); this.openMenu(chat, menuButton); },
      onkeydown: (event) => {
        if (event.target === item && (event.key === 'ContextMenu' || (event.shiftKey && event.key === 'F10'))) {
          event.preventDefault();
          this.openMenu(chat, menuButton);
        }
      },
    },
    avatar(chat.type === 'private' ? store.otherUser(chat) || chat : chat, chat.type),
    h('div.chat-item-body', {},
      h('div.chat-item-top', {}, h('span.chat-name', {}, title), h('time.chat-time', { class: unread ? 'unread' : '' }, listTime(last?.sent_at || chat.updated_at))),
      h('div.chat-item-bottom', {},
        h('span.chat-preview', {}, line),
        chat.left ? h('span.chat-flag', {}, 'left') : null,
        unread ? h('span.badge', { 'aria-label': `${unread} unread messages` }, String(unread)) : null,
        chat.pinned ? icon('pin', 'Pinned') : null,
        menuButton)));
    return item;
  }
}
