// Building the DOM without HTML strings: every text goes in as text, so no
// message, name or caption can ever become markup (the CSP forbids inline
// script anyway; this keeps even markup out).

/**
 * h('button#go.send', { type: 'submit', onclick }, 'Send'): an element with
 * an id and classes from the tag, attributes or properties from `props`, and children.
 * `on*` functions become listeners; `aria-*`, `data-*` and `role` attributes;
 * `false`/`null` values are left out.
 */
export function h(tag, props = {}, ...children) {
  const [head, ...classes] = tag.split('.');
  const [name, id] = head.split('#');
  const el = document.createElement(name || 'div');
  if (id) el.id = id;
  if (classes.length) el.className = classes.join(' ');
  for (const [key, value] of Object.entries(props || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key === 'onsubmit' && typeof value === 'function') {
      el.addEventListener('submit', oneAtATime(el, value));
    } else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'class') {
      el.className += ` ${value}`;
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key in el && !key.includes('-') && key !== 'role' && key !== 'list') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

/**
 * A form's submit handler, one run at a time: while an async handler awaits
 * its answer the form's buttons are disabled and another submit (a double
 * click, Enter again) does nothing, so a request the server cannot
 * deduplicate (a group, a broadcast, a forward) is not made twice.
 */
function oneAtATime(form, handler) {
  let running = false;
  return async (event) => {
    if (running) { event.preventDefault(); return; }
    const result = handler(event);
    if (!(result instanceof Promise)) return;
    running = true;
    const buttons = [...form.querySelectorAll('button')].filter((b) => !b.disabled);
    for (const button of buttons) button.disabled = true;
    try {
      await result;
    } finally {
      running = false;
      for (const button of buttons) button.disabled = false;
    }
  };
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces every child of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';

/** Icon paths (24x24 viewBox), drawn here rather than fetched. */
const ICONS = {
  send: 'M3 20.5 21 12 3 3.5v6.6l12 1.9-12 1.9z',
  attach: 'M16.5 6.5v10.6a4.5 4.5 0 0 1-9 0V5.5a3 3 0 0 1 6 0v10.6a1.5 1.5 0 0 1-3 0V6.5H9v9.6a3 3 0 0 0 6 0V5.5a4.5 4.5 0 0 0-9 0v11.6a6 6 0 0 0 12 0V6.5z',
  chat: 'M4 4h16v12H7l-3 3zm3 5v2h10V9zm0-3v2h10V6zm0 6v2h7v-2z',
  group: 'M16 11a3 3 0 1 0-3-3 3 3 0 0 0 3 3m-8 0a3 3 0 1 0-3-3 3 3 0 0 0 3 3m0 2c-2.3 0-7 1.2-7 3.5V19h14v-2.5C15 14.2 10.3 13 8 13m8 0-1 .1a4.2 4.2 0 0 1 2 3.4V19h6v-2.5c0-2.3-4.7-3.5-7-3.5',
  contacts: 'M12 12a4 4 0 1 0-4-4 4 4 0 0 0 4 4m0 2c-2.7 0-8 1.3-8 4v2h16v-2c0-2.7-5.3-4-8-4',
  menu: 'M12 8a2 2 0 1 0-2-2 2 2 0 0 0 2 2m0 2a2 2 0 1 0 2 2 2 2 0 0 0-2-2m0 6a2 2 0 1 0 2 2 2 2 0 0 0-2-2',
  back: 'M20 11H7.8l5.6-5.6L12 4l-8 8 8 8 1.4-1.4L7.8 13H20z',
  close: 'M19 6.4 17.6 5 12 10.6 6.4 5 5 6.4 10.6 12 5 17.6 6.4 19 12 13.4 17.6 19 19 17.6 13.4 12z',
  down: 'M7.4 8.6 12 13.2l4.6-4.6L18 10l-6 6-6-6z',
  pin: 'M16 3v2h-1v5l3 3v2h-5v6l-1 1-1-1v-6H6v-2l3-3V5H8V3z',
  archive: 'M20.5 5.2 19.1 3.5A1.5 1.5 0 0 0 18 3H6a1.5 1.5 0 0 0-1.2.5L3.5 5.2A2 2 0 0 0 3 6.5V19a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2V6.5a2 2 0 0 0-.5-1.3M12 17.5 6.5 12H10v-2h4v2h3.5zM5.1 5l.8-1h12l.9 1z',
  tick: 'M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4z',
  ticks: 'M.6 12.6 2 11.2l3.6 3.6 9.6-9.6 1.4 1.4-11 11zm10 3.4 1.4 1.4 11-11-1.4-1.4-9.6 9.6-.6-.6z',
  clock: 'M12 2a10 10 0 1 0 10 10A10 10 0 0 0 12 2m0 18a8 8 0 1 1 8-8 8 8 0 0 1-8 8m.5-13H11v6l5.2 3.2.8-1.3-4.5-2.7z',
  status: 'M12 2a10 10 0 1 0 10 10h-2a8 8 0 1 1-8-8zm0 5a5 5 0 1 0 5 5 5 5 0 0 0-5-5',
  call: 'M6.6 10.8a15 15 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.2 11.4 11.4 0 0 0 3.6.6 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1 11.4 11.4 0 0 0 .6 3.6 1 1 0 0 1-.3 1z',
  doc: 'M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8zm-1 7V3.5L18.5 9z',
  smile: 'M12 2a10 10 0 1 0 10 10A10 10 0 0 0 12 2m0 18a8 8 0 1 1 8-8 8 8 0 0 1-8 8m3.5-9A1.5 1.5 0 1 0 14 9.5a1.5 1.5 0 0 0 1.5 1.5m-7 0A1.5 1.5 0 1 0 7 9.5 1.5 1.5 0 0 0 8.5 11m3.5 6.5a5.5 5.5 0 0 0 5.1-3.5H6.9a5.5 5.5 0 0 0 5.1 3.5',
};

/** An inline SVG icon; decorative unless given a label. */
export function icon(name, label) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', `icon icon-${name}`);
  if (label) {
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', label);
  } else {
    svg.setAttribute('aria-hidden', 'true');
  }
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', ICONS[name] || '');
  svg.append(path);
  return svg;
}

/** A button holding only an icon, named for screen readers. */
export function iconButton(name, label, onclick, extra = {}) {
  return h('button.icon-button', { type: 'button', 'aria-label': label, title: label, onclick, ...extra }, icon(name));
}

/**
 * Arrow-key navigation in a list whose items are `selector` (roving tabindex:
 * one item is in the Tab order, arrows move focus, Home/End jump).
 */
export function rovingFocus(container, selector, { onActivate } = {}) {
  container.addEventListener('keydown', (event) => {
    const items = [...container.querySelectorAll(selector)];
    const index = items.indexOf(document.activeElement);
    if (index < 0) return;
    const moves = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: items.length - 1 };
    if (event.key in moves) {
      event.preventDefault();
      focusItem(items, Math.max(0, Math.min(items.length - 1, moves[event.key])));
    } else if ((event.key === 'Enter' || event.key === ' ') && onActivate && event.target === items[index]) {
      event.preventDefault();
      onActivate(items[index], event);
    }
  });
}

/** Makes item `index` the one in the Tab order and focuses it. */
export function focusItem(items, index) {
  items.forEach((item, i) => { item.tabIndex = i === index ? 0 : -1; });
  items[index]?.focus();
}

/** Keeps exactly one item of a roving list in the Tab order after a re-render. */
export function keepOneTabStop(items, preferred) {
  if (!items.length) return;
  const current = items.find((item) => item.tabIndex === 0) || preferred || items[0];
  items.forEach((item) => { item.tabIndex = item === current ? 0 : -1; });
}
