// Sign in with a phone number and the code sent to it; the name is asked for
// with the code and used only when the number is new.

import { Api } from '../api.js';
import { h, replace } from '../dom.js';

export function showSignIn(root, session, config, done) {
  const api = new Api(session);
  const status = h('p.form-error', { role: 'alert', id: 'signin-error' });
  const card = h('main.signin-card', { 'aria-labelledby': 'signin-title' });
  replace(root, h('div.signin', {}, h('div.signin-brand', {}, 'natter'), card));

  const fail = (error, fallback) => {
    status.textContent = error?.body?.errors
      ? Object.values(error.body.errors).flat()[0]
      : error?.status === 429
        ? `Too many codes asked for. Try again${error.retryAfter ? ` in ${error.retryAfter} s` : ' later'}.`
        : error?.message || fallback;
  };

  function phoneStep(previous = {}) {
    const country = h('input#signin-country', {
      name: 'country_code', inputMode: 'numeric', autocomplete: 'tel-country-code', required: true,
      value: previous.country_code || '1', size: 4, maxLength: 4, 'aria-describedby': 'signin-error',
    });
    const phone = h('input#signin-phone', {
      name: 'phone_number', type: 'tel', autocomplete: 'tel-national', required: true,
      value: previous.phone_number || '', placeholder: '212 555 0123', 'aria-describedby': 'signin-error',
    });
    const button = h('button.primary', { type: 'submit' }, 'Next');
    const form = h('form.signin-form', {
      onsubmit: async (event) => {
        event.preventDefault();
        status.textContent = '';
        button.disabled = true;
        const number = { phone_number: phone.value.trim(), country_code: country.value.trim().replace(/^\+/, '') };
        try {
          await api.request('POST', '/api/auth/send-otp', { body: number, auth: false });
          codeStep(number);
        } catch (error) {
          fail(error, 'The code could not be sent.');
          button.disabled = false;
        }
      },
    },
    h('h1#signin-title', {}, 'Sign in'),
    h('p', {}, 'Enter your phone number. We will send you a code.'),
    h('div.phone-row', {},
      h('label', { for: 'signin-country' }, 'Country code'),
      h('span.plus', { 'aria-hidden': 'true' }, '+'), country,
      h('label', { for: 'signin-phone' }, 'Phone number'), phone),
    status, button,
    h('button.link', { type: 'button', onclick: () => linkStep() }, 'Link with a code'));
    replace(card, form);
    phone.focus();
  }

  /** Signing in as a user already signed in elsewhere, with the code their
   * other device shows under Menu → Linked devices: no SMS. */
  // Both ways in (an SMS code, a link code) answer the same token pair:
  // keep it and go on, or say why not and let the user try again.
  async function signInWith(button, path, body) {
    status.textContent = '';
    button.disabled = true;
    try {
      const answer = await api.request('POST', path, { body, auth: false });
      session.save({ user: answer.user, ...answer.tokens, issued_at: new Date().toISOString() });
      done();
    } catch (error) {
      fail(error, 'That code did not work.');
      button.disabled = false;
    }
  }

  function linkStep() {
    const code = h('input#link-code', {
      name: 'code', required: true, maxLength: 64, autocomplete: 'off', spellcheck: false,
      'aria-describedby': 'signin-error',
    });
    const button = h('button.primary', { type: 'submit' }, 'Link this device');
    const form = h('form.signin-form', {
      onsubmit: (event) => {
        event.preventDefault();
        signInWith(button, '/api/auth/link', { code: code.value.trim(), platform: 'web' });
      },
    },
    h('h1#signin-title', {}, 'Link with a code'),
    h('p', {}, 'On a device where you are signed in, open Menu → Linked devices → Link a device, and enter the code it shows.'),
    h('label', { for: 'link-code' }, 'Code'), code,
    status, button,
    h('button.link', { type: 'button', onclick: () => phoneStep() }, 'Sign in with a phone number instead'));
    replace(card, form);
    code.focus();
  }

  function codeStep(number) {
    const code = h('input#signin-code', {
      name: 'otp', inputMode: 'numeric', autocomplete: 'one-time-code', required: true,
      pattern: '[0-9]{6}', maxLength: 6, 'aria-describedby': 'signin-hint signin-error',
    });
    const name = h('input#signin-name', { name: 'name', autocomplete: 'name', maxLength: 100 });
    const button = h('button.primary', { type: 'submit' }, 'Sign in');
    const hint = h('p#signin-hint.hint', {}, codeHint(config));
    const form = h('form.signin-form', {
      onsubmit: (event) => {
        event.preventDefault();
        const body = { ...number, otp: code.value.trim() };
        if (name.value.trim()) body.name = name.value.trim();
        signInWith(button, '/api/auth/verify-otp', body);
      },
    },
    h('h1#signin-title', {}, 'Enter the code'),
    h('p', {}, `We sent a 6-digit code to +${number.country_code} ${number.phone_number}.`),
    hint,
    h('label', { for: 'signin-code' }, 'Code'), code,
    h('label', { for: 'signin-name' }, 'Your name (for a new account)'), name,
    status, button,
    h('button.link', { type: 'button', onclick: () => phoneStep(number) }, 'Use another number'));
    replace(card, form);
    code.focus();
    if (config.dev_codes) showDevCode(api, number, hint, code);
  }

  phoneStep();
}

function codeHint(config) {
  if (config.sms_driver === 'log') {
    return 'This server writes sign-in codes to its log instead of sending SMS: look for "SMS (log driver; not sent)" in the output of natter serve.';
  }
  if (config.sms_driver === 'outbox') {
    return 'This server writes sign-in codes to its SMS outbox file (SMS_OUTBOX_PATH) instead of sending SMS.';
  }
  return '';
}

/** WEB_DEV_SHOW_CODES: fetch the code from the outbox and offer it. */
async function showDevCode(api, number, hint, input) {
  const query = new URLSearchParams(number).toString();
  try {
    const found = await api.request('GET', `/api/dev/sms-code?${query}`, { auth: false });
    const use = h('button.link', { type: 'button', onclick: () => { input.value = found.code; input.focus(); } }, 'Use it');
    replace(hint, 'Development mode: your code is ', h('strong.dev-code', {}, found.code), '. ', use);
  } catch {
    /* the flag is off after all, or the SMS is not written yet: the hint stays */
  }
}
