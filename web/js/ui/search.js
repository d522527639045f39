// Message search (GET /api/search, docs/search.md): typing in the chat list's
// search box lists, under the chats whose names match, the messages that
// contain the words typed, best match first: chat name, the text around the
// words (marked), and the time. A result opens its chat.

import { h, replace } from '../dom.js';
import { listTime } from '../format.js';
import { chatTitle, messageSummary } from './parts.js';

/** One request per pause in typing, not per key. */
const DEBOUNCE_MS = 250;
const PAGE = 20;
/** The server's longest query. */
const MAX_QUERY = 100;
/** Characters of text shown before the first matching word. */
const LEAD = 24;

/** The words of a query as the server reads them: runs of letters and digits. */
export function queryWords(query) {
  return query.toLocaleLowerCase().match(/[\p{L}\p{N}]+/gu) || [];
}

/**
 * The text as parts for the DOM: the words that start with a query word in
 * <mark>, cut to begin shortly before the first of them.
 */
export function highlight(text, words) {
  const pieces = text.split(/([\p{L}\p{N}]+)/u);
  const hits = pieces.map((piece, i) => i % 2 === 1 && words.some((w) => piece.toLocaleLowerCase().startsWith(w)));
  const first = hits.indexOf(true);
  let offset = first < 0 ? 0 : pieces.slice(0, first).join('').length;
  let lead = '';
  if (offset > LEAD) {
    lead = '…';
    offset -= LEAD;
  } else {
    offset = 0;
  }
  const out = [lead];
  let at = 0;
  pieces.forEach((piece, i) => {
    const end = at + piece.length;
    if (end > offset) {
      const visible = at < offset ? piece.slice(offset - at) : piece;
      out.push(hits[i] ? h('mark', {}, visible) : visible);
    }
    at = end;
  });
  return out;
}

export class MessageSearch {
  constructor(ctx) {
    this.ctx = ctx;
    this.query = '';
    /** Counts searches, so an answer that arrives after newer typing is dropped. */
    this.asked = 0;
    this.next = null;
    this.list = h('div.search-results-list', { role: 'list' });
    this.note = h('p.search-note', { role: 'status', 'aria-live': 'polite' });
    this.more = h('button.search-more', { type: 'button', hidden: true, onclick: () => this.load(this.asked, this.next) }, 'More messages');
    this.element = h('section.search-results', { 'aria-label': 'Messages found', hidden: true },
      h('h2.search-heading', {}, 'Messages'), this.list, this.note, this.more);
  }

  /** The search box changed: search for its text once typing pauses. */
  update(text) {
    clearTimeout(this.timer);
    this.asked += 1;
    this.query = text.trim().slice(0, MAX_QUERY);
    if (!this.query) {
      this.element.hidden = true;
      replace(this.list);
      return;
    }
    const asked = this.asked;
    this.timer = setTimeout(() => this.load(asked, null), DEBOUNCE_MS);
  }

  async load(asked, before) {
    const params = new URLSearchParams({ q: this.query, limit: String(PAGE) });
    if (before) params.set('before', before);
    this.more.disabled = true;
    let page;
    try {
      page = await this.ctx.api.get(`/api/search?${params}`);
    } catch (error) {
      if (asked === this.asked) this.show([], null, Boolean(before), error.message || 'Search failed.');
      return;
    }
    if (asked === this.asked) this.show(page.results, page.pagination.next_before, Boolean(before));
  }

  show(results, next, appending, failure = '') {
    const words = queryWords(this.query);
    const items = results.map((result) => this.item(result, words));
    if (appending) this.list.append(...items);
    else replace(this.list, items);
    this.next = next;
    this.more.hidden = !next;
    this.more.disabled = false;
    const none = !this.list.childElementCount;
    this.note.textContent = failure || (none ? `No messages found for “${this.query}”` : '');
    this.note.hidden = !this.note.textContent;
    this.element.hidden = false;
  }

  item({ message, chat_id: chatId }, words) {
    const { store } = this.ctx;
    const chat = store.chats.get(chatId);
    const title = chat ? chatTitle(store, chat) : (message.sender?.name || 'Chat');
    const who = chat?.type === 'group' && message.sender_id !== store.me.id
      ? `${message.sender?.name || store.userName(message.sender_id)}: ` : '';
    const text = messageSummary(store, message);
    return h('button.search-result', {
      type: 'button', role: 'listitem', dataset: { chat: String(chatId), message: String(message.id) },
      'aria-label': `${title}: ${text}`,
      onclick: () => this.ctx.openChat(chatId),
    },
    h('div.chat-item-top', {}, h('span.chat-name', {}, title), h('time.chat-time', {}, listTime(message.sent_at))),
    h('div.search-result-text', {}, who, highlight(text, words)));
  }
}
