// Mentions in a group: the "@" picker of the composer, which ids a text still
// mentions when it is sent, and the mentions drawn highlighted in a bubble.
// The text keeps "@Name" for people to read; the ids sent with it are what
// the server stores and pushes by (docs/broadcasts.md).

import { h, replace } from '../dom.js';

/** The "@word" being typed just before the caret, if any: { start, query }. */
export function mentionQuery(text, caret) {
  const match = /(^|\s)@([^\s@]{0,40})$/.exec(text.slice(0, caret));
  if (!match) return null;
  return { start: caret - match[2].length - 1, query: match[2] };
}

/**
 * The ids of `chosen` (name → id, picked in the composer) whose "@Name" is
 * still in `text`: a mention deleted from the text is not sent.
 */
export function mentionedIds(text, chosen) {
  const ids = [];
  for (const [name, id] of chosen) {
    if (text.includes(`@${name}`) && !ids.includes(id)) ids.push(id);
  }
  return ids;
}

/**
 * The text split into plain pieces and highlighted "@Name" spans, for the
 * names of the users a message mentions (longest names first, so "@Ann Lee"
 * wins over "@Ann").
 */
export function highlightMentions(text, names, mine) {
  const wanted = names.filter(Boolean).map((n) => `@${n}`).sort((a, b) => b.length - a.length);
  if (!wanted.length) return [text];
  const out = [];
  let rest = text;
  while (rest) {
    let best = null;
    for (const token of wanted) {
      const at = rest.indexOf(token);
      if (at >= 0 && (best === null || at < best.at)) best = { at, token };
    }
    if (!best) { out.push(rest); break; }
    if (best.at) out.push(rest.slice(0, best.at));
    const self = mine.includes(best.token);
    out.push(h(`span.mention${self ? '.me' : ''}`, {}, best.token));
    rest = rest.slice(best.at + best.token.length);
  }
  return out;
}

/**
 * The "@" picker under a group's composer: offers the members matching what
 * is typed after "@"; choosing one puts "@Name " in the text and remembers
 * the id. `members()` gives [{id, name}] (without the caller).
 */
export class MentionPicker {
  constructor(input, members) {
    this.input = input;
    this.members = members;
    this.chosen = new Map();
    this.matches = [];
    this.index = 0;
    this.element = h('ul.mention-pick', { role: 'listbox', 'aria-label': 'Mention a member', hidden: true });
  }

  get open() {
    return !this.element.hidden;
  }

  /** After each input: open, narrow or close the list. */
  update() {
    const found = mentionQuery(this.input.value, this.input.selectionStart ?? this.input.value.length);
    const query = found?.query.toLowerCase();
    this.matches = found ? this.members().filter((m) => m.name.toLowerCase().includes(query)).slice(0, 8) : [];
    this.index = 0;
    this.draw();
  }

  /** Arrow keys, Enter or Tab and Escape while open; true when the key was ours. */
  key(event) {
    if (!this.open) return false;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      const step = event.key === 'ArrowDown' ? 1 : -1;
      this.index = (this.index + step + this.matches.length) % this.matches.length;
      this.draw();
    } else if (event.key === 'Enter' || event.key === 'Tab') {
      this.choose(this.matches[this.index]);
    } else if (event.key === 'Escape') {
      this.close();
    } else {
      return false;
    }
    event.preventDefault();
    return true;
  }

  choose(member) {
    const caret = this.input.selectionStart ?? this.input.value.length;
    const found = mentionQuery(this.input.value, caret);
    if (!member || !found) { this.close(); return; }
    const text = this.input.value;
    const inserted = `@${member.name} `;
    this.input.value = text.slice(0, found.start) + inserted + text.slice(caret);
    const at = found.start + inserted.length;
    this.input.setSelectionRange(at, at);
    this.chosen.set(member.name, member.id);
    this.close();
    this.input.focus();
  }

  /** The ids to send with `text`; forgets them for the next message. */
  take(text) {
    const ids = mentionedIds(text, this.chosen);
    this.chosen.clear();
    this.close();
    return ids;
  }

  close() {
    this.matches = [];
    this.draw();
  }

  draw() {
    this.element.hidden = !this.matches.length;
    replace(this.element, this.matches.map((m, i) => h('li.mention-option', {
      role: 'option', 'aria-selected': i === this.index ? 'true' : 'false',
      onpointerdown: (event) => { event.preventDefault(); this.choose(m); },
    }, m.name)));
  }
}
