// Passkeys (WebAuthn) are a browser API: the one part of the account pages that needs JavaScript.
// SimpleWebAuthnBrowser comes from @simplewebauthn/browser's bundle, served next to this file.
(function () {
  'use strict';
  var lib = window.SimpleWebAuthnBrowser;
  if (!lib || !lib.browserSupportsWebAuthn()) return;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var status = document.getElementById('passkey-status');
  document.querySelectorAll('.passkey-only').forEach(function (el) { el.hidden = false; });

  function say(text) { if (status) status.textContent = text; }

  async function post(url, body) {
    var res = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
      body: JSON.stringify(body),
    });
    var data = await res.json().catch(function () { return {}; });
    if (!res.ok) throw new Error(data.detail || 'The request failed (' + res.status + ')');
    return data;
  }

  var add = document.getElementById('passkey-add');
  if (add) add.addEventListener('click', async function () {
    try {
      say('Follow your browser’s prompt…');
      var otp = document.getElementById('passkey-otp');
      var options = await post('/account/passkeys/options', { current_password: document.getElementById('passkey-password').value, otp: otp ? otp.value : undefined });
      var response = await lib.startRegistration({ optionsJSON: options });
      await post('/account/passkeys', { response: response, name: document.getElementById('passkey-name').value });
      window.location.assign('/account?notice=passkey_added');
    } catch (error) {
      say('No passkey was added: ' + error.message);
    }
  });

  var login = document.getElementById('passkey-login');
  if (login) login.addEventListener('click', async function () {
    try {
      say('Follow your browser’s prompt…');
      var options = await post('/account/passkey-login/options', {});
      var response = await lib.startAuthentication({ optionsJSON: options });
      var result = await post('/account/passkey-login', { response: response, redirect_to: login.dataset.redirectTo || undefined });
      window.location.assign(result.redirect);
    } catch (error) {
      say('Could not sign in with a passkey: ' + error.message);
    }
  });
})();
