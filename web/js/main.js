// Entry point: reads the server's settings from the page, then shows the
// sign-in screen or the app.

import { Session } from './session.js';
import { showSignIn } from './ui/signin.js';
import { startApp } from './ui/app.js';

function pageConfig() {
  try {
    return JSON.parse(document.querySelector('meta[name="natter-config"]')?.content || '{}');
  } catch {
    return {};
  }
}

const config = pageConfig();
const session = new Session();
const root = document.getElementById('root');

function start() {
  if (session.signedIn) startApp(root, session, config);
  else showSignIn(root, session, config, start);
}

start();
