// The page's own logic without a browser: the sync engine's rules (order,
// no duplicate, 410), the merge rules that make applying an event twice
// harmless, backoff, capabilities. The modules are the ones web/ serves.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

// The little of the browser these modules touch.
const storage = new Map();
globalThis.localStorage = {
  getItem: (k) => (storage.has(k) ? storage.get(k) : null),
  setItem: (k, v) => storage.set(k, String(v)),
  removeItem: (k) => storage.delete(k),
};
globalThis.window = { addEventListener() {} };
globalThis.document = { visibilityState: 'visible' };

const web = new URL('../../../web/js/', import.meta.url);
const { SyncEngine } = await import(new URL('sync.js', web));
const { mergeMessage, laterStatus, Store, EVENT } = await import(new URL('store.js', web));
const { backoff } = await import(new URL('pusher.js', web));
const { capabilitiesOf } = await import(new URL('capabilities.js', web));
const { ApiError } = await import(new URL('api.js', web));

/** An Api whose /api/sync answers come from `pages` (functions of `since`). */
function fakeApi(answer) {
  const calls = [];
  return { calls, get: async (path) => { calls.push(path); return answer(Number(new URL(path, 'http://x').searchParams.get('since'))); } };
}

const event = (seq) => ({ seq, event: EVENT.sent, data: { seq } });

describe('sync engine', () => {
  it('reads every page in order from the stored position and keeps the new one', async () => {
    storage.set('seq', '10');
    const log = [11, 14, 15, 20, 21];
    const api = fakeApi((since) => {
      const events = log.filter((s) => s > since).slice(0, 2).map(event);
      const next = events.at(-1)?.seq ?? since;
      return { events, next_since: next, has_more: log.some((s) => s > next) };
    });
    const applied = [];
    const sync = new SyncEngine(api, 'seq', { apply: (events) => applied.push(...events.map((e) => e.seq)), resync: async () => {} });
    await sync.catchUp();
    assert.deepEqual(applied, [11, 14, 15, 20, 21]);
    assert.equal(storage.get('seq'), '21');
    assert.match(api.calls[0], /since=10&/);
    await sync.catchUp();
    assert.deepEqual(applied, [11, 14, 15, 20, 21], 'nothing applied twice');
  });

  it('a 410 reloads over REST and goes on from latest_seq', async () => {
    storage.set('seq2', '3');
    let gone = true;
    const api = fakeApi((since) => {
      if (gone) { gone = false; throw new ApiError(410, { success: false, message: 'resync required', latest_seq: 90 }); }
      return { events: since < 91 ? [event(91)] : [], next_since: 91, has_more: false };
    });
    let resyncs = 0;
    const applied = [];
    const sync = new SyncEngine(api, 'seq2', { apply: (e) => applied.push(...e.map((x) => x.seq)), resync: async () => { resyncs += 1; } });
    await sync.catchUp();
    assert.equal(resyncs, 1);
    assert.match(api.calls[1], /since=90&/);
    assert.deepEqual(applied, [91]);
  });

  it('one catch-up at a time, and one more if asked meanwhile', async () => {
    let release;
    const api = fakeApi(() => new Promise((ok) => { release = () => ok({ events: [], next_since: 0, has_more: false }); }));
    const sync = new SyncEngine(api, 'seq3', { apply() {}, resync: async () => {} });
    const first = sync.catchUp();
    sync.catchUp();
    sync.catchUp();
    release();
    await first;
    await new Promise((ok) => setTimeout(ok, 0));
    release();
    await sync.running;
    assert.equal(api.calls.length, 2);
  });
});

describe('applying events twice is harmless', () => {
  const base = { id: 5, chat_id: 1, content: 'a', status: 'sent', deleted: false, edited_at: null, reactions: [] };

  it('status only rises, deletion sticks, the later edit wins, reactions follow seq', () => {
    assert.equal(laterStatus('read', 'delivered'), 'read');
    const read = mergeMessage(base, { ...base, status: 'read' });
    assert.equal(mergeMessage(read, base).status, 'read');
    const deleted = mergeMessage(read, { ...base, deleted: true, content: null });
    assert.equal(mergeMessage(deleted, base).deleted, true);
    const edited = mergeMessage(base, { ...base, content: 'b', edited_at: '2026-01-01T00:00:01.000Z' });
    assert.equal(mergeMessage(edited, base).content, 'b');
    const reacted = mergeMessage(base, { ...base, reactions: [{ emoji: '👍', count: 1, user_ids: [2] }] }, 30);
    assert.equal(mergeMessage(reacted, { ...base, reactions: [] }, 20).reactions.length, 1);
  });

  it('a message counts as unread once, whichever way it arrives', () => {
    const store = new Store({ id: 1, name: 'Me' });
    store.upsertChat({ id: 7, type: 'private', participants: [{ user: { id: 1 } }, { user: { id: 2, name: 'B' } }], last_message: null, unread_count: 0 });
    const message = { id: 100, chat_id: 7, sender_id: 2, sender: { id: 2, name: 'B' }, message_type: 'text', content: 'hi', status: 'sent' };
    store.apply(EVENT.sent, { message, seq: 40 });
    store.apply(EVENT.sent, { message, seq: 40 });
    store.apply(EVENT.chat, { chat: { id: 7, type: 'private', participants: [{ user: { id: 1 } }, { user: { id: 2 } }], last_message: null }, seq: 39 });
    const chat = store.chats.get(7);
    assert.equal(chat.unread_count, 1);
    assert.equal(chat.last_message.id, 100, 'an older ChatUpdated does not take the last message away');
    store.apply(EVENT.read, { chat_id: 7, user_id: 1, message_id: 100, seq: 41 });
    assert.equal(chat.unread_count, 0, 'read on another device');
  });

  it('our pin and archive survive ChatUpdated and old replays; a new message unarchives', () => {
    const store = new Store({ id: 1, name: 'Me' });
    const people = [{ user: { id: 1 } }, { user: { id: 2 } }];
    store.upsertChat({ id: 3, type: 'private', participants: people, updated_at: '2026-01-01T00:00:03.000Z' });
    store.upsertChat({ id: 4, type: 'private', participants: people, updated_at: '2026-01-01T00:00:04.000Z' });
    store.apply(EVENT.prefs, { chat_id: 3, muted_until: null, pinned: true, pinned_at: '2026-01-02T00:00:00.000Z', archived: false, seq: 20 });
    assert.deepEqual(store.sortedChats().map((c) => c.id), [3, 4], 'pinned first');
    store.apply(EVENT.chat, { chat: { id: 3, type: 'private', participants: people, pinned: false, archived: false }, seq: 21 });
    assert.equal(store.chats.get(3).pinned, true, 'ChatUpdated does not unpin');
    store.apply(EVENT.prefs, { chat_id: 4, muted_until: null, pinned: false, pinned_at: null, archived: true, seq: 30 });
    store.apply(EVENT.prefs, { chat_id: 4, muted_until: null, pinned: false, pinned_at: null, archived: false, seq: 25 });
    assert.equal(store.chats.get(4).archived, true, 'an older event changes nothing');
    assert.equal(store.archivedCount(), 1);
    store.apply(EVENT.sent, { message: { id: 9, chat_id: 4, sender_id: 2, message_type: 'text', content: 'hi', status: 'sent' }, seq: 31 });
    assert.equal(store.chats.get(4).archived, false, 'a new message unarchives');
    store.setMe({ keep_chats_archived: true });
    store.apply(EVENT.prefs, { chat_id: 4, muted_until: null, pinned: false, pinned_at: null, archived: true, seq: 32 });
    store.apply(EVENT.sent, { message: { id: 10, chat_id: 4, sender_id: 2, message_type: 'text', content: 'hi', status: 'sent' }, seq: 33 });
    assert.equal(store.chats.get(4).archived, true, 'kept archived');
  });

  it('a star is ours: an event (always starred false) never takes it away', () => {
    const starred = mergeMessage(base, { ...base, starred: true });
    const edited = mergeMessage(starred, { ...base, content: 'b', edited_at: '2026-01-01T00:00:01.000Z', starred: false }, 12);
    assert.equal(edited.content, 'b');
    assert.equal(edited.starred, true);
    assert.equal(mergeMessage(edited, { ...edited, starred: false }).starred, false, 'a REST answer says it as it is');
  });

  it('pins change at once, at most three, newest first, and a replayed event changes nothing', () => {
    const store = new Store({ id: 1, name: 'Me' });
    store.upsertChat({ id: 9, type: 'private', participants: [{ user: { id: 1 } }, { user: { id: 2 } }], pinned_messages: [] });
    for (const [id, seq] of [[10, 1], [11, 2], [12, 3], [13, 5]]) {
      store.apply(EVENT.pinned, { chat_id: 9, message_id: id, pinned: true, actor_id: 2, seq });
    }
    const ids = () => store.chats.get(9).pinned_messages.map((p) => p.message_id);
    assert.deepEqual(ids(), [13, 12, 11]);
    store.apply(EVENT.pinned, { chat_id: 9, message_id: 12, pinned: false, actor_id: 1, seq: 6 });
    store.apply(EVENT.pinned, { chat_id: 9, message_id: 12, pinned: true, actor_id: 2, seq: 3 });
    assert.deepEqual(ids(), [13, 11], 'the replayed pin is older than the unpin');
    // ChatUpdated carries no pins (they depend on the viewer): ours stay.
    const people = [{ user: { id: 1 } }, { user: { id: 2 } }];
    store.apply(EVENT.chat, { chat: { id: 9, type: 'private', participants: people, pinned_messages: [] }, seq: 7 });
    assert.deepEqual(ids(), [13, 11], 'ChatUpdated keeps our own pins');
  });

  it('a private chat\'s receipts make our messages read up to the watermark', () => {
    const store = new Store({ id: 1, name: 'Me' });
    store.upsertChat({ id: 8, type: 'private', participants: [{ user: { id: 1 } }, { user: { id: 2 } }] });
    store.apply(EVENT.read, { chat_id: 8, user_id: 2, message_id: 50, seq: 9 });
    const chat = store.chats.get(8);
    assert.equal(store.statusFor(chat, { id: 49, status: 'sent' }), 'read');
    assert.equal(store.statusFor(chat, { id: 51, status: 'sent' }), 'sent');
  });
});

describe('small rules', () => {
  it('backoff grows, is jittered and capped', () => {
    for (let attempt = 0; attempt < 12; attempt += 1) {
      const delay = backoff(attempt, 500, 8000);
      const ceiling = Math.min(8000, 500 * 2 ** attempt);
      assert.ok(delay >= ceiling / 2 && delay <= ceiling, `attempt ${attempt}: ${delay}`);
    }
  });

  it('capabilities come from the OpenAPI document', () => {
    assert.deepEqual(capabilitiesOf({ paths: {} }), { mediaSend: false, statuses: false, calls: false });
    const doc = { paths: { '/api/chats/{chat}/messages': { post: { requestBody: { content: { 'multipart/form-data': {} } } } }, '/api/calls': {} } };
    assert.deepEqual(capabilitiesOf(doc), { mediaSend: true, statuses: false, calls: true });
  });
});

describe('mentions', async () => {
  const { mentionQuery, mentionedIds } = await import(new URL('ui/mentions.js', web));

  it('finds the "@word" being typed at the caret, and nothing inside a word', () => {
    assert.deepEqual(mentionQuery('hi @Bo', 6), { start: 3, query: 'Bo' });
    assert.deepEqual(mentionQuery('@', 1), { start: 0, query: '' });
    assert.equal(mentionQuery('mail me@home', 12), null);
    assert.equal(mentionQuery('@Bob done', 9), null);
  });

  it('sends only the mentions still in the text', () => {
    const chosen = new Map([['Bob', 2], ['Carol', 3]]);
    assert.deepEqual(mentionedIds('hey @Bob', chosen), [2]);
    assert.deepEqual(mentionedIds('@Carol and @Bob', chosen), [2, 3]);
    assert.deepEqual(mentionedIds('no one', chosen), []);
  });
});
