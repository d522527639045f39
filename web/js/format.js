// Times, days, names and sizes as people read them.

const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const weekday = new Intl.DateTimeFormat(undefined, { weekday: 'long' });
const date = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
const longDay = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });

const DAY_MS = 86_400_000;

function startOfDay(when) {
  const d = new Date(when);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** Whole days between `when` and today (0 today, 1 yesterday). */
function daysAgo(when, now = Date.now()) {
  return Math.round((startOfDay(now) - startOfDay(when)) / DAY_MS);
}

export function clockTime(iso) {
  return iso ? time.format(new Date(iso)) : '';
}

/** The chat list's time: 14:05, Yesterday, Tuesday, or a date. */
export function listTime(iso) {
  if (!iso) return '';
  const days = daysAgo(Date.parse(iso));
  if (days <= 0) return time.format(new Date(iso));
  if (days === 1) return 'Yesterday';
  if (days < 7) return weekday.format(new Date(iso));
  return date.format(new Date(iso));
}

/** The label of a day separator in a conversation. */
export function dayLabel(iso) {
  const days = daysAgo(Date.parse(iso));
  if (days <= 0) return 'Today';
  if (days === 1) return 'Yesterday';
  if (days < 7) return weekday.format(new Date(iso));
  return longDay.format(new Date(iso));
}

/** A key that is equal for two times on the same local day. */
export function dayKey(iso) {
  return iso ? startOfDay(Date.parse(iso)) : 0;
}

export function lastSeen(iso) {
  if (!iso) return '';
  const days = daysAgo(Date.parse(iso));
  if (days <= 0) return `last seen today at ${clockTime(iso)}`;
  if (days === 1) return `last seen yesterday at ${clockTime(iso)}`;
  return `last seen ${date.format(new Date(iso))}`;
}

export function initials(name) {
  const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
  return (words.slice(0, 2).map((w) => [...w][0]).join('') || '?').toUpperCase();
}

/** One of eight avatar colours, stable per id. */
export function hue(id) {
  return `hue-${Math.abs(Number(id) || 0) % 8}`;
}

export function fileSize(bytes) {
  if (!Number.isFinite(bytes)) return '';
  const units = ['B', 'KB', 'MB', 'GB'];
  let n = bytes;
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) { n /= 1024; unit += 1; }
  return `${n.toFixed(unit && n < 10 ? 1 : 0)} ${units[unit]}`;
}

/** A random id for a message being composed (the server's client_message_id). */
export function randomId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}
