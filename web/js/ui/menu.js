// Pop-up menus: role="menu", arrow keys, Escape closes and gives focus back.

import { h } from '../dom.js';

let current = null;

export function closeMenu() {
  if (!current) return;
  const { element, anchor, onKey, onDown } = current;
  current = null;
  element.remove();
  document.removeEventListener('keydown', onKey, true);
  document.removeEventListener('pointerdown', onDown, true);
  anchor?.setAttribute('aria-expanded', 'false');
  anchor?.focus();
}

/**
 * Opens a menu under `anchor`. items: [{label, action, hidden}]; `top`: an
 * element shown above the items (the reaction bar).
 */
export function menu(anchor, items, { top, label = 'Options' } = {}) {
  closeMenu();
  const buttons = items.filter((item) => !item.hidden).map((item) => h('button.menu-item', {
    type: 'button', role: 'menuitem', tabIndex: -1,
    onclick: () => { closeMenu(); item.action(); },
  }, item.label));
  const element = h('div.menu', { role: 'menu', 'aria-label': label }, top, buttons);
  document.body.append(element);
  place(element, anchor);
  const focusables = () => [...element.querySelectorAll('[role=menuitem]')];
  const onKey = (event) => {
    const all = focusables();
    const index = all.indexOf(document.activeElement);
    if (event.key === 'Escape' || event.key === 'Tab') { event.preventDefault(); closeMenu(); return; }
    const next = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: all.length - 1 }[event.key];
    const sideways = { ArrowRight: index + 1, ArrowLeft: index - 1 }[event.key];
    const target = next ?? (document.activeElement?.classList.contains('reaction-choice') ? sideways : undefined);
    if (target !== undefined) {
      event.preventDefault();
      all[(target + all.length) % all.length]?.focus();
    }
  };
  const onDown = (event) => { if (!element.contains(event.target)) closeMenu(); };
  document.addEventListener('keydown', onKey, true);
  document.addEventListener('pointerdown', onDown, true);
  anchor?.setAttribute('aria-expanded', 'true');
  current = { element, anchor, onKey, onDown };
  (element.querySelector('[role=menuitem]:not(.reaction-choice)') || focusables()[0])?.focus();
  return element;
}

function place(element, anchor) {
  const box = anchor?.getBoundingClientRect() || { left: 0, bottom: 0, right: 0, top: 0 };
  const width = element.offsetWidth;
  const height = element.offsetHeight;
  const left = Math.max(8, Math.min(window.innerWidth - width - 8, box.right - width));
  const below = box.bottom + 4;
  const top = below + height > window.innerHeight - 8 ? Math.max(8, box.top - height - 4) : below;
  element.style.left = `${left}px`;
  element.style.top = `${top}px`;
}
