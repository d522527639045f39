// The signed-in page: wires the API, the store, the socket, sync and the
// outbox together, lays out the two panes, and routes /chats/{id}.

import { Api } from '../api.js';
import { loadCapabilities } from '../capabilities.js';
import { h, iconButton, replace } from '../dom.js';
import { Outbox } from '../outbox.js';
import { PusherClient } from '../pusher.js';
import { EVENT, Store } from '../store.js';
import { SyncEngine } from '../sync.js';
import { ChatList } from './chatlist.js';
import { Conversation } from './conversation.js';
import * as dialogs from './dialogs.js';
import { linkedDevices } from './linked.js';
import { menu } from './menu.js';
import { avatar } from './parts.js';
import { statusPane } from './status.js';
import { callsPane } from './calls.js';

const CHAT_PAGES = 5;
const BANNER_GRACE_MS = 1500;

export async function startApp(root, session, config) {
  const ctx = makeContext(session, config);
  const { store, api } = ctx;
  layout(root, ctx);
  await loadChats(ctx).catch((error) => ctx.toast(error.message));
  connect(ctx);
  route(ctx, location.pathname);
  window.addEventListener('popstate', () => route(ctx, location.pathname));
  loadCapabilities().then((caps) => { ctx.capabilities = caps; store.emit('capabilities', caps); });
  api.get('/api/user/profile').then((me) => { session.setUser(me); store.setMe(me); }).catch(() => {});
}

function makeContext(session, config) {
  const api = new Api(session, { onSignedOut: () => location.assign('/') });
  const store = new Store(session.user);
  const ctx = {
    api, store, session, config,
    capabilities: { mediaSend: false, statuses: false, calls: false },
    toast: (text) => toast(text),
  };
  ctx.pusher = new PusherClient(config.app_key || 'natter-key', (socketId, channel) => api.post(
    '/broadcasting/auth', { socket_id: socketId, channel_name: channel },
  ));
  ctx.sync = new SyncEngine(api, session.key('seq'), {
    apply: (events) => { for (const e of events) store.apply(e.event, e.data); },
    resync: async () => { await loadChats(ctx); store.emit('resync'); },
  });
  ctx.outbox = new Outbox(api, session.key('outbox'), {
    sent: (entry, message) => { if (message) store.apply(EVENT.sent, { message }); },
    failed: (entry, error) => { toast(`Not sent: ${error.message}`); store.emit('outbox'); },
    changed: () => store.emit('outbox'),
  });
  store.on('message', ({ message }) => {
    if (message.sender_id === store.me.id && message.client_message_id) ctx.outbox.arrived(message.client_message_id);
  });
  store.on('missing-chat', (id) => refreshChat(ctx, id));
  store.on('stale-chat', debounced((id) => refreshChat(ctx, id), 400));
  ctx.openChat = (id, options) => openChat(ctx, id, options);
  ctx.live = (event, data) => live(ctx, event, data);
  ctx.closeChat = () => closeChat(ctx);
  return ctx;
}

async function loadChats(ctx) {
  const all = [];
  for (let page = 1; page <= CHAT_PAGES; page += 1) {
    const answer = await ctx.api.get(`/api/chats?limit=100&page=${page}`);
    all.push(...answer.chats);
    if (page >= (answer.pagination?.total_pages || 1)) break;
  }
  ctx.store.replaceChats(all);
}

async function refreshChat(ctx, id) {
  try {
    ctx.store.upsertChat(await ctx.api.get(`/api/chats/${id}`));
  } catch (error) {
    if (error.status === 404) {
      const chat = ctx.store.chats.get(id);
      if (chat) { chat.left = true; ctx.store.emit('chat', chat); }
    }
  }
}

/** An event from the socket: applied now, and sync asked to catch up behind it. */
function live(ctx, event, data) {
  if (event.startsWith('pusher') || event === 'subscribed' || event === 'subscription_error') return;
  ctx.store.apply(event, data);
  if (data && data.seq) ctx.sync.hint();
}

function connect(ctx) {
  const { pusher, store, sync, outbox } = ctx;
  const mine = pusher.subscribe(`private-user.${store.me.id}`);
  mine.bind('*', (data, event) => live(ctx, event, data));
  // The rule of docs/delivery.md: subscribe first, then read the log to its end.
  mine.bind('subscribed', () => { sync.catchUp(); outbox.kick(); });
  pusher.on('state', (state) => {
    store.emit('connection', state);
    // Closed for good (4009) also when this login was signed out from another
    // device: a request finds out at once (401, then the sign-in screen).
    if (state === 'failed') ctx.api.get('/api/user/profile').catch(() => {});
    sync.poll(state !== 'connected');
  });
  window.addEventListener('online', () => outbox.kick());
  pusher.connect();
  if (outbox.entries.length) outbox.kick();
}

function layout(root, ctx) {
  const list = new ChatList(ctx);
  const conversation = new Conversation(ctx);
  ctx.conversation = conversation;
  const banner = h('div.connection', { role: 'status', 'aria-live': 'polite' });
  // A connect that succeeds within BANNER_GRACE_MS shows no banner: the
  // banner pushes the chat list down, and one that flashes on every page load
  // moves the chats under the pointer (a click meant for a chat lands beside it).
  let pending = null;
  ctx.store.on('connection', (state) => {
    const text = {
      connecting: 'Connecting…',
      unavailable: navigator.onLine ? 'Reconnecting… Messages you send are kept and sent when the server answers.' : 'You are offline. Messages you send are kept and sent when you are back.',
      failed: 'The server refused the connection (wrong app key?).',
    }[state] || '';
    clearTimeout(pending);
    const show = () => { banner.textContent = text; banner.hidden = !text; };
    if (!text || state === 'failed' || !banner.hidden) show();
    else pending = setTimeout(show, BANNER_GRACE_MS);
  });
  banner.hidden = true;
  const side = h('section.side', { 'aria-label': 'Chats' },
    h('header.side-header', {},
      h('button.me', { type: 'button', 'aria-label': 'Profile and privacy', onclick: () => dialogs.profile(ctx) }, avatarOf(ctx)),
      h('div.side-actions', {},
        statusButton(ctx), callsButton(ctx),
        iconButton('chat', 'New chat', () => dialogs.newChat(ctx)),
        iconButton('menu', 'Menu', (event) => mainMenu(ctx, event.currentTarget), { 'aria-haspopup': 'menu' }))),
    banner,
    list.element);
  const app = h('div.app', {}, side, conversation.element);
  ctx.appElement = app;
  replace(root, app, h('div#toasts.toasts', { role: 'status', 'aria-live': 'polite' }), h('div#announcer.visually-hidden', { 'aria-live': 'polite' }));
  ctx.store.on('chat', () => {
    const n = ctx.store.totalUnread();
    document.title = n ? `(${n}) natter` : 'natter';
  });
}

function avatarOf(ctx) {
  const holder = h('span.avatar-holder');
  const draw = () => replace(holder, avatar(ctx.store.me));
  draw();
  ctx.store.on('me', draw);
  return holder;
}

/** Statuses and calls get a button when the server has their routes (see capabilities.js). */
function statusButton(ctx) {
  const button = iconButton('status', 'Status', () => statusPane(ctx));
  button.hidden = true;
  ctx.store.on('capabilities', (caps) => { button.hidden = !caps.statuses; });
  return button;
}

function callsButton(ctx) {
  const button = iconButton('call', 'Calls', () => callsPane(ctx));
  button.hidden = true;
  ctx.store.on('capabilities', (caps) => { button.hidden = !caps.calls; });
  return button;
}

function mainMenu(ctx, anchor) {
  menu(anchor, [
    { label: 'New group', action: () => dialogs.newGroup(ctx) },
    { label: 'New broadcast', action: () => dialogs.broadcasts(ctx) },
    { label: 'Contacts', action: () => dialogs.contacts(ctx) },
    { label: 'Starred messages', action: () => dialogs.starred(ctx) },
    { label: 'Join a group by link', action: () => dialogs.joinGroup(ctx) },
    { label: 'Profile and privacy', action: () => dialogs.profile(ctx) },
    { label: 'Linked devices', action: () => linkedDevices(ctx) },
    { label: 'Sign out', action: () => signOut(ctx) },
  ]);
}

async function signOut(ctx) {
  if (ctx.outbox.entries.length && !await dialogs.confirm('Some messages are not sent yet. Sign out anyway? They stay queued for when you sign in again.')) return;
  await ctx.api.post('/api/auth/logout').catch(() => {});
  ctx.pusher.disconnect();
  ctx.session.clear();
  location.assign('/');
}

function openChat(ctx, id, { push = true } = {}) {
  if (!ctx.store.chats.has(id)) return;
  ctx.conversation.open(id);
  ctx.appElement.classList.add('has-chat');
  if (push && location.pathname !== `/chats/${id}`) history.pushState({}, '', `/chats/${id}`);
}

/** Shows what the address names: /chats/{id}, or the list. Unknown paths become /. */
function route(ctx, path) {
  const match = /^\/chats\/(\d+)$/.exec(path);
  if (match && ctx.store.chats.has(Number(match[1]))) {
    openChat(ctx, Number(match[1]), { push: false });
    return;
  }
  ctx.conversation.close();
  ctx.appElement.classList.remove('has-chat');
  if (path !== '/') history.replaceState({}, '', '/');
}

/** Back to the list (phone width). */
function closeChat(ctx) {
  ctx.conversation.close();
  ctx.appElement.classList.remove('has-chat');
  if (location.pathname !== '/') history.pushState({}, '', '/');
}

export function toast(text) {
  const box = document.getElementById('toasts');
  if (!box) return;
  const item = h('div.toast', {}, text);
  box.append(item);
  setTimeout(() => item.remove(), 5000);
}

/** fn(key) once `ms` after the last call with that key. */
export function debounced(fn, ms) {
  const timers = new Map();
  return (key) => {
    clearTimeout(timers.get(key));
    timers.set(key, setTimeout(() => { timers.delete(key); fn(key); }, ms));
  };
}
