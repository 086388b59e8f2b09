/*
 * The browser side of the local key agent, shared by /capc/ (public/capc/capc.js) and the PC renewal page
 * (public/gdca/renew.js) so that both find the agent, call it and explain a refusal the same way: JSON-RPC over
 * POST {agent}/rpc, its errors, why the agent cannot be reached (Chrome's Local Network Access permission, or a
 * running agent that refuses this site), reading the keys and their certificates, the panels and steps bar, the
 * text of the "blocked" panel, and how a certificate read off a U-KEY is shown. No build step: the pages load this file before their own script (both `defer`, so in order) and use
 * `window.KeyAgentClient`.
 */
'use strict';
(function () {
  /** The protocol's error codes (src/key-agent/protocol.ts, KeyAgentErrorCode). */
  var ERR = {
    PIN_INCORRECT: -32001, PIN_LOCKED: -32002, DEVICE_REMOVED: -32003, CERT_NOT_FOUND: -32004, DEVICE_NOT_FOUND: -32005,
    ORIGIN_REFUSED: -32006, KEY_NOT_FOUND: -32008, KEY_IN_USE: -32009,
  };

  function AgentUnreachable(cause) { this.name = 'AgentUnreachable'; this.cause = cause; this.message = '无法连接证书助手'; }
  function AgentError(code, message, data) { this.name = 'AgentError'; this.code = code; this.message = message; this.data = data; }

  function withTimeout(ms) { return window.AbortSignal && AbortSignal.timeout ? AbortSignal.timeout(ms) : undefined; }

  /** Chrome's Local Network Access permission (142+: local-network-access; 145+: loopback-network). */
  function lnaState() {
    if (!navigator.permissions || !navigator.permissions.query) return Promise.resolve(null);
    var names = ['loopback-network', 'local-network-access', 'local-network'];
    var tryName = function (i) {
      if (i >= names.length) return Promise.resolve(null);
      return navigator.permissions.query({ name: names[i] }).then(function (s) { return s.state; }, function () { return tryName(i + 1); });
    };
    return tryName(0);
  }

  /**
   * The agent at `agentUrl`; `defaultTimeoutMs` for calls that give none (a PIN prompt or a key generation on the
   * token can take long, and each page knows its slowest call).
   */
  function connect(agentUrl, defaultTimeoutMs) {
    var rpcSeq = 0;

    function rpc(method, params, timeoutMs) {
      var body = JSON.stringify({ jsonrpc: '2.0', id: ++rpcSeq, method: method, params: params || {} });
      return fetch(agentUrl + '/rpc', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: body,
        credentials: 'omit', cache: 'no-store', signal: withTimeout(timeoutMs || defaultTimeoutMs),
      }).then(function (res) {
        return res.json().catch(function () { throw new AgentError(-32603, '证书助手返回了无法识别的内容'); });
      }, function (err) { throw new AgentUnreachable(err); }).then(function (msg) {
        if (msg && msg.error) throw new AgentError(msg.error.code, msg.error.message, msg.error.data);
        return msg.result;
      });
    }

    /**
     * The agent answers a refused origin without CORS headers, so the page cannot read why it failed. An opaque
     * (no-cors) request still tells "something answered" from "nothing listens": then the agent is running but
     * does not accept this site.
     */
    function answers() {
      return fetch(agentUrl + '/rpc', { mode: 'no-cors', credentials: 'omit', cache: 'no-store', signal: withTimeout(5000) })
        .then(function () { return true; }, function () { return false; });
    }

    /**
     * Why the first call (`agent.hello`) failed: 'origin-refused' (the agent runs and refuses this site),
     * 'lna-denied' (the browser does not let the page reach the PC) or 'no-agent'.
     */
    function diagnose(err) {
      if (err instanceof AgentUnreachable) {
        return Promise.all([lnaState(), answers()]).then(function (r) {
          return r[1] ? 'origin-refused' : r[0] === 'denied' ? 'lna-denied' : 'no-agent';
        });
      }
      return Promise.resolve(err instanceof AgentError && err.code === ERR.ORIGIN_REFUSED ? 'origin-refused' : 'no-agent');
    }

    /**
     * The plugged-in U-KEYs and the certificates each can sign with (a key whose PIN is locked is not asked for its
     * certificates): { perDevice: [{ device, certs }], entries: [{ device, cert, info: null }], notes }, or null
     * when no key is plugged in. `notesFor.pinLocked` and `notesFor.noCertificate` word, from the masked media
     * serial, the note for a key that gives nothing to choose.
     */
    function readKeys(notesFor) {
      return rpc('device.list', {}, 20000).then(function (r) {
        var devices = (r && r.devices) || [];
        if (!devices.length) return null;
        return Promise.all(devices.map(function (d) {
          if (d.pinLocked) return Promise.resolve({ device: d, certs: [] });
          return rpc('cert.list', { mediaSerial: d.mediaSerial }, 20000).then(function (c) { return { device: d, certs: c.certificates || [] }; });
        })).then(function (perDevice) {
          var entries = [];
          var notes = [];
          perDevice.forEach(function (p) {
            var usable = p.certs.filter(function (c) { return c.usage === 'sign' && !c.pending; });
            if (p.device.pinLocked) notes.push(notesFor.pinLocked(maskSerial(p.device.mediaSerial)));
            else if (!usable.length) notes.push(notesFor.noCertificate(maskSerial(p.device.mediaSerial)));
            usable.forEach(function (c) { entries.push({ device: p.device, cert: c, info: null }); });
          });
          return { perDevice: perDevice, entries: entries, notes: notes };
        });
      });
    }

    /**
     * Shows why the first call failed: the "no-agent" panel, or the "blocked" panel filled for its cause.
     * `refusedReason`: the page's own words for a refusing agent (which address the agent accepts).
     */
    function explainFailure(err, show, refusedReason) {
      return diagnose(err).then(function (why) {
        if (why === 'no-agent') return show('no-agent');
        fillBlockedPanel(why === 'origin-refused', refusedReason);
        show('blocked');
      });
    }

    return { rpc: rpc, answers: answers, diagnose: diagnose, explainFailure: explainFailure, readKeys: readKeys };
  }

  /**
   * The page's panels (#panel-<name>, one shown at a time) and its steps bar (.capc-steps li[data-step] in `root`):
   * returns `show(name)`, which shows that panel and marks its step (`stepOf[name]`) active and those before done.
   */
  function panels(root, names, stepOf) {
    return function show(name) {
      names.forEach(function (p) { document.getElementById('panel-' + p).hidden = p !== name; });
      var step = stepOf[name];
      Array.prototype.forEach.call(root.querySelectorAll('.capc-steps li'), function (li) {
        var n = Number(li.getAttribute('data-step'));
        li.classList.toggle('is-active', n === step);
        li.classList.toggle('is-done', n < step);
      });
      root.setAttribute('data-state', name);
    };
  }

  /** Fills the "blocked" panel both pages carry (#blocked-title, #blocked-reason, #blocked-steps, #origin-steps). */
  function fillBlockedPanel(originRefused, refusedReason) {
    var $ = function (id) { return document.getElementById(id); };
    $('blocked-title').textContent = originRefused ? '证书助手拒绝了本网站的请求' : '浏览器阻止了本页访问证书助手';
    $('blocked-reason').textContent = originRefused
      ? refusedReason
      : '浏览器的“本地网络访问”权限未允许本网站连接电脑上的证书助手。请按以下步骤开启：';
    $('blocked-steps').hidden = !!originRefused;
    $('origin-steps').hidden = !originRefused;
  }

  // --- showing what the agent reads off a U-KEY ---
  var ALGORITHM_LABEL = { 'RSA-2048': 'RSA 2048', 'ECDSA-P256': 'ECDSA P-256', SM2: 'SM2（国密）' };
  /** The same mask as the phone pages (****1234): one look for the same U-KEY everywhere. */
  function maskSerial(s) { s = String(s || ''); return s.length <= 4 ? s : '****' + s.slice(-4); }
  function dnField(dn, key) { var m = new RegExp('(?:^|,\\s*)' + key + '=([^,]+)').exec(dn || ''); return m ? m[1].trim() : ''; }
  /** A date as the holder reads it in China (YYYY-MM-DD, Beijing time), whatever the PC's time zone. */
  function day(iso) {
    var d = new Date(iso);
    if (isNaN(d)) return '';
    return d.toLocaleDateString('zh-CN', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' }).replace(/\//g, '-');
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  window.KeyAgentClient = {
    ERR: ERR, AgentUnreachable: AgentUnreachable, AgentError: AgentError, lnaState: lnaState, connect: connect,
    panels: panels,
    format: { ALGORITHM_LABEL: ALGORITHM_LABEL, maskSerial: maskSerial, dnField: dnField, day: day, el: el },
  };
})();
