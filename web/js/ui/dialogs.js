// Dialogs on the native <dialog> element (it traps focus and closes on
// Escape): new chat, new group, broadcast lists, contacts, profile and
// privacy, joining by link, forwarding, sending a file, confirmations,
// starred messages.

import { h, iconButton, replace } from '../dom.js';
import { clockTime, dayLabel, fileSize } from '../format.js';
import { avatar, chatTitle, messageSummary } from './parts.js';

/** Opens a modal dialog; returns { dialog, close }. */
export function modal(title, body, { actions = [], onClose } = {}) {
  const titleId = `dialog-${Math.random().toString(36).slice(2)}`;
  const dialog = h('dialog.dialog', { 'aria-labelledby': titleId },
    h('header.dialog-header', {}, h('h2', { id: titleId }, title), iconButton('close', 'Close', () => close())),
    h('div.dialog-body', {}, body),
    actions.length ? h('footer.dialog-actions', {}, actions) : null);
  const opener = document.activeElement;
  const close = () => { if (dialog.open) dialog.close(); };
  dialog.addEventListener('close', () => { dialog.remove(); onClose?.(); opener?.focus?.(); });
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, close };
}

/** Yes or no; resolves true for yes. */
export function confirm(question, yes = 'OK') {
  return new Promise((resolve) => {
    let answer = false;
    const ok = h('button.primary', { type: 'button', onclick: () => { answer = true; close(); } }, yes);
    const cancel = h('button', { type: 'button', onclick: () => close() }, 'Cancel');
    const { close } = modal('Please confirm', h('p', {}, question), { actions: [cancel, ok], onClose: () => resolve(answer) });
    ok.focus();
  });
}

function errorLine() {
  return h('p.form-error', { role: 'alert' });
}

function showError(line, error) {
  line.textContent = error?.body?.errors ? Object.values(error.body.errors).flat()[0] : (error?.message || 'Something went wrong.');
}

async function allContacts(ctx) {
  const answer = await ctx.api.get('/api/contacts?limit=100');
  for (const c of answer.contacts) ctx.store.rememberUser(c.user);
  ctx.contacts = answer.contacts;
  return answer.contacts;
}

/** A form to add a contact by phone number; calls added(contact). */
function addContactForm(ctx, added) {
  const phone = h('input', { type: 'tel', name: 'phone_number', required: true, 'aria-label': 'Phone number', placeholder: 'Phone number, e.g. +1 212 555 0123' });
  const country = h('input', { name: 'country_code', value: ctx.store.me.country_code?.replace('+', '') || '1', size: 3, 'aria-label': 'Country code' });
  const name = h('input', { name: 'contact_name', 'aria-label': 'Name (optional)', placeholder: 'Name (optional)' });
  const line = errorLine();
  return h('form.add-contact', {
    onsubmit: async (event) => {
      event.preventDefault();
      line.textContent = '';
      const body = { phone_number: phone.value.trim(), country_code: country.value.trim().replace(/^\+/, '') };
      if (name.value.trim()) body.contact_name = name.value.trim();
      try {
        const contact = await ctx.api.post('/api/contacts', body);
        ctx.store.rememberUser(contact.user);
        phone.value = '';
        name.value = '';
        added(contact);
      } catch (error) {
        showError(line, error.status === 404 ? { message: 'Nobody uses natter with that number yet.' } : error);
      }
    },
  }, h('div.inline', {}, h('span', { 'aria-hidden': 'true' }, '+'), country, phone), name, line,
  h('button.primary', { type: 'submit' }, 'Add contact'));
}

function contactRow(ctx, contact, ...actions) {
  const user = ctx.store.users.get(contact.user.id) || contact.user;
  return h('li.person', {}, avatar(user),
    h('div.person-text', {}, h('span.person-name', {}, contact.contact_name || user.name),
      h('span.person-detail', {}, contact.is_blocked ? 'Blocked' : (user.about || user.phone_number || ''))),
    h('div.person-actions', {}, actions));
}

export async function startPrivateChat(ctx, userId) {
  try {
    const chat = await ctx.api.post('/api/chats/private', { contact_id: userId });
    ctx.store.upsertChat(chat);
    ctx.openChat(chat.id);
    return chat;
  } catch (error) {
    ctx.toast(error.message);
    return null;
  }
}

export async function newChat(ctx) {
  const list = h('ul.people', { 'aria-label': 'Contacts' });
  const { close } = modal('New chat', [addContactForm(ctx, async (contact) => { close(); await startPrivateChat(ctx, contact.user.id); }),
    h('h3', {}, 'Your contacts'), list]);
  const contacts = await allContacts(ctx).catch(() => []);
  replace(list, contacts.length ? contacts.map((c) => contactRow(ctx, c,
    h('button', { type: 'button', onclick: async () => { close(); await startPrivateChat(ctx, c.user.id); } }, 'Message'))) : h('li.empty', {}, 'No contacts yet: add one by number above.'));
}

export async function contacts(ctx) {
  const list = h('ul.people', { 'aria-label': 'Contacts' });
  const draw = async () => {
    const all = await allContacts(ctx).catch(() => []);
    replace(list, all.length ? all.map((c) => contactRow(ctx, c,
      h('button', { type: 'button', onclick: () => { close(); startPrivateChat(ctx, c.user.id); } }, 'Message'),
      h('button', { type: 'button', onclick: async () => { await toggleBlockContact(ctx, c); draw(); } }, c.is_blocked ? 'Unblock' : 'Block'),
      h('button', { type: 'button', onclick: async () => { if (await confirm(`Remove ${c.contact_name || c.user.name} from your contacts?`, 'Remove')) { await ctx.api.del(`/api/contacts/${c.id}`).catch((e) => ctx.toast(e.message)); draw(); } } }, 'Remove'),
    )) : h('li.empty', {}, 'No contacts yet.'));
  };
  const { close } = modal('Contacts', [addContactForm(ctx, () => draw()), list]);
  draw();
}

async function toggleBlockContact(ctx, contact) {
  try {
    const answer = await ctx.api.put(`/api/contacts/${contact.id}/block`);
    ctx.toast(answer.is_blocked ? 'Blocked.' : 'Unblocked.');
    return answer.is_blocked;
  } catch (error) {
    ctx.toast(error.message);
    return null;
  }
}

/** Blocks or unblocks a person (adding them as a contact first, as blocking needs). */
export async function toggleBlock(ctx, user) {
  if (!user) return null;
  const list = await allContacts(ctx).catch(() => []);
  let contact = list.find((c) => c.user.id === user.id);
  if (!contact) {
    contact = await ctx.api.post('/api/contacts', { contact_user_id: user.id }).catch((e) => { ctx.toast(e.message); return null; });
    if (!contact) return null;
  }
  if (!contact.is_blocked && !await confirm(`Block ${user.name}? They will not be able to message you.`, 'Block')) return null;
  return toggleBlockContact(ctx, contact);
}

/** Checkbox list of people; returns { element, chosen() }. */
function peoplePicker(people, label) {
  const boxes = people.map((p) => {
    const box = h('input', { type: 'checkbox', value: String(p.id), id: `pick-${p.id}` });
    return { box, row: h('li.person', {}, box, h('label', { for: `pick-${p.id}` }, avatar(p), h('span.person-name', {}, p.name))) };
  });
  return {
    element: h('ul.people.pick', { 'aria-label': label }, boxes.map((b) => b.row)),
    chosen: () => boxes.filter((b) => b.box.checked).map((b) => Number(b.box.value)),
  };
}

export async function newGroup(ctx) {
  const all = await allContacts(ctx).catch(() => []);
  const picker = peoplePicker(all.map((c) => ({ ...c.user, name: c.contact_name || c.user.name })), 'Members');
  const name = h('input#group-name', { required: true, maxLength: 100 });
  const description = h('textarea#group-description', { maxLength: 2048, rows: 2 });
  const line = errorLine();
  const form = h('form.stack', {
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        const chat = await ctx.api.post('/api/groups', { name: name.value.trim(), description: description.value.trim() || undefined, participants: picker.chosen() });
        ctx.store.upsertChat(chat);
        close();
        ctx.openChat(chat.id);
      } catch (error) { showError(line, error); }
    },
  }, h('label', { for: 'group-name' }, 'Group name'), name,
  h('label', { for: 'group-description' }, 'Description (optional)'), description,
  h('h3', {}, 'Members'), all.length ? picker.element : h('p.empty', {}, 'Add contacts first to put them in a group.'),
  line, h('button.primary', { type: 'submit' }, 'Create group'));
  const { close } = modal('New group', form);
  name.focus();
}

/**
 * Broadcast lists: the caller's lists, each to send to or delete, and a form
 * for a new one. A broadcast is a private message to each recipient; they
 * never see the list (docs/broadcasts.md).
 */
export async function broadcasts(ctx) {
  const all = await allContacts(ctx).catch(() => []);
  const lists = h('ul.people.broadcast-lists', { 'aria-label': 'Your broadcast lists' });
  const composer = h('div.stack.broadcast-send', { hidden: true });
  const draw = async () => {
    const answer = await ctx.api.get('/api/broadcast-lists').catch((e) => { ctx.toast(e.message); return { broadcast_lists: [] }; });
    replace(lists, answer.broadcast_lists.length ? answer.broadcast_lists.map((list) => h('li.person.broadcast-list', {},
      h('span.person-name', {}, list.name), h('span.muted', {}, ` ${list.user_ids.length} recipients`),
      h('button', { type: 'button', onclick: () => openSend(list) }, 'Send'),
      h('button', { type: 'button', onclick: async () => { if (await confirm(`Delete the list ${list.name}?`, 'Delete')) { await ctx.api.del(`/api/broadcast-lists/${list.id}`).catch((e) => ctx.toast(e.message)); draw(); } } }, 'Delete'),
    )) : h('li.empty', {}, 'No broadcast lists yet.'));
  };
  const openSend = (list) => {
    const text = h('textarea#broadcast-text', { required: true, maxLength: 65536, rows: 3 });
    const line = errorLine();
    replace(composer, h('form.stack', {
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          const answer = await ctx.api.post(`/api/broadcast-lists/${list.id}/messages`, { message_type: 'text', content: text.value.trim() });
          ctx.toast(`Sent to ${answer.messages.length} of ${list.user_ids.length}.`);
          ctx.sync.hint();
          close();
        } catch (error) { showError(line, error); }
      },
    }, h('label', { for: 'broadcast-text' }, `Message to ${list.name}`), text, line, h('button.primary', { type: 'submit' }, 'Send broadcast')));
    composer.hidden = false;
    text.focus();
  };
  const picker = peoplePicker(all.map((c) => ({ ...c.user, name: c.contact_name || c.user.name })), 'Recipients');
  const name = h('input#broadcast-name', { required: true, maxLength: 100 });
  const line = errorLine();
  const create = h('form.stack', {
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        const answer = await ctx.api.post('/api/broadcast-lists', { name: name.value.trim(), user_ids: picker.chosen() });
        name.value = '';
        await draw();
        openSend(answer.broadcast_list);
      } catch (error) { showError(line, error); }
    },
  }, h('h3', {}, 'New list'), h('label', { for: 'broadcast-name' }, 'List name'), name,
  all.length ? picker.element : h('p.empty', {}, 'Add contacts first to send them broadcasts.'),
  line, h('button.primary', { type: 'submit' }, 'Create list'));
  // Another device of ours changed a list (BroadcastListUpdated): show it.
  let stopListening = null;
  const { close } = modal('Broadcast lists', [lists, composer, create], { onClose: () => stopListening?.() });
  stopListening = ctx.store.on('broadcasts', () => draw());
  await draw();
}

export function joinGroup(ctx) {
  const link = h('input#join-link', { required: true, placeholder: 'https://…/api/groups/join/CODE or the code' });
  const line = errorLine();
  const form = h('form.stack', {
    onsubmit: async (event) => {
      event.preventDefault();
      const code = link.value.trim().split('/').filter(Boolean).pop();
      try {
        const chat = await ctx.api.post(`/api/groups/join/${encodeURIComponent(code)}`);
        ctx.store.upsertChat(chat);
        close();
        ctx.openChat(chat.id);
      } catch (error) { showError(line, error.status === 404 ? { message: 'That invite link does not work (any more).' } : error); }
    },
  }, h('label', { for: 'join-link' }, 'Invite link'), link, line, h('button.primary', { type: 'submit' }, 'Join group'));
  const { close } = modal('Join a group', form);
  link.focus();
}

export function forward(ctx, message) {
  const chats = ctx.store.sortedChats().filter((c) => !c.left);
  const picker = peoplePicker(chats.map((c) => ({ id: c.id, name: chatTitle(ctx.store, c), avatar_url: c.avatar_url })), 'Chats');
  const line = errorLine();
  const form = h('form.stack', {
    onsubmit: async (event) => {
      event.preventDefault();
      const ids = picker.chosen();
      if (!ids.length) { line.textContent = 'Pick at least one chat.'; return; }
      try {
        const answer = await ctx.api.post(`/api/messages/${message.id}/forward`, { chat_ids: ids });
        for (const m of answer.messages || []) ctx.store.apply('App\\Events\\MessageSent', { message: m });
        close();
        ctx.toast('Forwarded.');
      } catch (error) { showError(line, error); }
    },
  }, picker.element, line, h('button.primary', { type: 'submit' }, 'Forward'));
  const { close } = modal('Forward to…', form);
}

export async function profile(ctx) {
  const me = ctx.store.me;
  const name = h('input#profile-name', { value: me.name || '', required: true, maxLength: 100 });
  const about = h('textarea#profile-about', { maxLength: 500, rows: 2 }, me.about || '');
  const choice = (id, value) => h(`select#${id}`, {},
    ['everyone', 'contacts', 'nobody'].map((v) => h('option', { value: v, selected: v === value }, { everyone: 'Everyone', contacts: 'My contacts', nobody: 'Nobody' }[v])));
  const privacy = me.privacy || {};
  const lastSeen = choice('privacy-last-seen', privacy.last_seen);
  const photo = choice('privacy-photo', privacy.profile_photo);
  const aboutWho = choice('privacy-about', privacy.about);
  const keepArchived = h('input#keep-archived', { type: 'checkbox', checked: Boolean(me.keep_chats_archived) });
  const line = errorLine();
  const form = h('form.stack', {
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        await ctx.api.put('/api/user/profile', { name: name.value.trim(), about: about.value });
        const user = await ctx.api.put('/api/user/privacy', {
          privacy_last_seen: lastSeen.value, privacy_profile_photo: photo.value, privacy_about: aboutWho.value,
          keep_chats_archived: keepArchived.checked,
        });
        ctx.session.setUser(user);
        ctx.store.setMe(user);
        close();
        ctx.toast('Saved.');
      } catch (error) { showError(line, error); }
    },
  },
  h('div.profile-head', {}, avatar(me, 'private', 'large'), h('div', {}, h('strong', {}, me.phone_number || ''))),
  h('label', { for: 'profile-name' }, 'Name'), name,
  h('label', { for: 'profile-about' }, 'About'), about,
  h('h3', {}, 'Privacy: who can see my…'),
  h('label', { for: 'privacy-last-seen' }, 'Last seen and online'), lastSeen,
  h('label', { for: 'privacy-photo' }, 'Profile photo'), photo,
  h('label', { for: 'privacy-about' }, 'About'), aboutWho,
  h('label.inline', { for: 'keep-archived' }, keepArchived, 'Keep chats archived when a new message arrives'),
  line, h('button.primary', { type: 'submit' }, 'Save'));
  const { close } = modal('Profile and privacy', form);
  name.focus();
}

/** Preview of a file with a caption, then queue(fields, file). */
export function sendFile(ctx, chatId, file, queue) {
  const image = file.type.startsWith('image/');
  const preview = image ? h('img.preview', { alt: 'Preview' }) : h('p.file-preview', {}, `${file.name} (${fileSize(file.size)})`);
  if (image) preview.src = URL.createObjectURL(file);
  const caption = h('input#caption', { placeholder: 'Add a caption', maxLength: 1024 });
  const form = h('form.stack', {
    onsubmit: (event) => {
      event.preventDefault();
      const fields = { message_type: image ? 'image' : 'document' };
      if (caption.value.trim()) fields.content = caption.value.trim();
      close();
      queue(fields, file);
    },
  }, preview, h('label', { for: 'caption' }, 'Caption'), caption, h('button.primary', { type: 'submit' }, 'Send'));
  const { close } = modal(image ? 'Send photo' : 'Send document', form, { onClose: () => image && URL.revokeObjectURL(preview.src) });
  caption.focus();
}

/**
 * The caller's starred messages, newest star first, a page at a time; a click
 * opens the chat at that message. Unstarring here takes it off the list.
 */
export function starred(ctx) {
  const list = h('ul.starred-list', { 'aria-label': 'Starred messages' });
  const more = h('button.more', { type: 'button', hidden: true, onclick: () => load() }, 'Load more');
  let before = null;
  const { close } = modal('Starred messages', [list, more]);
  const item = (message) => {
    const chat = ctx.store.chats.get(message.chat_id);
    const who = message.sender_id === ctx.store.me.id ? 'You' : (message.sender?.name || ctx.store.userName(message.sender_id));
    const row = h('li.starred-item', {},
      h('button.starred-open', {
        type: 'button',
        onclick: () => { close(); ctx.openChat(message.chat_id); ctx.conversation.reveal(message.id); },
      },
      h('span.starred-where', {}, `${who} · ${chat ? chatTitle(ctx.store, chat) : 'Chat'}`),
      h('span.starred-text', {}, messageSummary(ctx.store, message)),
      h('time', { dateTime: message.sent_at }, `${dayLabel(message.sent_at)} ${clockTime(message.sent_at)}`)),
      iconButton('close', 'Unstar', async () => {
        try {
          await ctx.api.del(`/api/messages/${message.id}/star`);
          ctx.store.emit('starred', { chat_id: message.chat_id, message_id: message.id, starred: false });
          row.remove();
          if (!list.children.length && more.hidden) list.append(h('li.empty', {}, 'No starred messages.'));
        } catch (error) {
          ctx.toast(error.message);
        }
      }));
    return row;
  };
  const load = async () => {
    try {
      const page = await ctx.api.get(`/api/starred?limit=30${before ? `&before=${before}` : ''}`);
      for (const message of page.messages) list.append(item(message));
      before = page.pagination.next_before;
      more.hidden = !page.pagination.has_more;
      if (!list.children.length) list.append(h('li.empty', {}, 'No starred messages.'));
    } catch (error) {
      ctx.toast(error.message);
    }
  };
  load();
}
