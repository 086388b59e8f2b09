/*
 * /capc/: reads the U-KEY through the local key agent (JSON-RPC over POST {agent}/rpc), has the key sign the
 * server's challenge, and shows the binding code. The PIN goes to the agent's `sign` call and nowhere else:
 * it is not sent to the site, not stored, and the input is cleared after each try.
 */
'use strict';
(function () {
  var root = document.getElementById('capc');
  if (!root) return;
  // The key agent's client and the certificate formatting shared with the renewal page (public/shared/).
  var KA = window.KeyAgentClient;
  var agent = KA.connect(root.getAttribute('data-agent-url'), 60000);
  var rpc = agent.rpc;
  var AgentUnreachable = KA.AgentUnreachable, AgentError = KA.AgentError, ERR = KA.ERR;
  var ALGORITHM_LABEL = KA.format.ALGORITHM_LABEL, maskSerial = KA.format.maskSerial, dnField = KA.format.dnField, day = KA.format.day, el = KA.format.el;
  var HOTLINE = root.getAttribute('data-hotline');
  var PANELS = ['detect', 'no-agent', 'blocked', 'no-key', 'select', 'result'];
  var STEP_OF = { detect: 1, 'no-agent': 1, blocked: 1, 'no-key': 1, select: 2, result: 3 };

  var $ = function (id) { return document.getElementById(id); };
  var entries = [];      // { device, cert, info }
  var selected = null;   // index into entries
  var selectedKey = null;
  var pollTimer = null;
  var countdownTimer = null;
  var busy = false;

  var show = KA.panels(root, PANELS, STEP_OF);

  function ServerError(message, status) { this.name = 'ServerError'; this.message = message; this.status = status; }

  function api(path, payload) {
    return fetch(path, {
      method: 'POST', credentials: 'same-origin', cache: 'no-store',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(payload || {}),
    }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (data) {
        if (!res.ok) throw new ServerError((data && data.error && data.error.message) || '系统繁忙，请稍后再试', res.status);
        return data;
      });
    }, function () { throw new ServerError('网络连接失败，请检查网络后重试', 0); });
  }

  function detect() {
    clearTimeout(pollTimer);
    show('detect');
    KA.lnaState().then(function (state) { $('lna-hint').hidden = state !== 'prompt'; });
    return rpc('agent.hello', {}, 60000).then(loadDevices).catch(function (err) {
      return agent.explainFailure(err, show, '检测到证书助手正在运行，但它只接受官方绑定网址发出的请求，拒绝了当前网址。请按以下步骤处理：');
    });
  }

  function loadDevices() {
    return agent.readKeys({
      pinLocked: function (serial) { return 'U-KEY（介质编号 ' + serial + '）的证书密码（PIN 码）已锁定，请联系客服 ' + HOTLINE + ' 解锁。'; },
      noCertificate: function (serial) { return 'U-KEY（介质编号 ' + serial + '）中没有可用于签名的证书。'; },
    }).then(function (read) {
      if (!read) {
        show('no-key');
        pollTimer = setTimeout(detect, 3000); // the user is about to plug the key in
        return;
      }
      entries = read.entries;
      var notes = read.notes;
      if (!entries.length) {
        $('no-key-text').textContent = notes.join(' ') || '没有读取到证书。';
        show('no-key');
        return;
      }
      return describe().then(function () {
        // Certificates that can be bound first, soonest to need renewal first among them.
        var rank = { expiring: 0, 'expired-grace': 1, valid: 2, 'not-yet-valid': 3, expired: 4 };
        entries.sort(function (a, b) {
          var ra = a.info ? rank[a.info.state] : 2, rb = b.info ? rank[b.info.state] : 2;
          return ra - rb || String(a.cert.notAfter).localeCompare(String(b.cert.notAfter));
        });
        renderCerts(notes);
        show('select');
        $('pin').focus();
      });
    }).catch(function (err) {
      if (err instanceof AgentUnreachable) return show('no-agent');
      $('no-key-text').textContent = '读取 U-KEY 失败：' + err.message + '。请重新插入 U-KEY 后重试。';
      show('no-key');
    });
  }

  /** Asks the site what each certificate is (project, type, validity): it knows the project rules. */
  function describe() {
    return api('/capc/api/describe', { certificates: entries.map(function (e) { return e.cert.pem; }) }).then(function (r) {
      entries.forEach(function (e, i) { e.info = r.certificates[i]; });
    }, function () { /* the list still shows what the agent said */ });
  }

  var STATE_TAGS = {
    valid: ['有效', ''], expiring: ['即将到期', 'capc-tag--warn'], 'expired-grace': ['已过期，可续期', 'capc-tag--warn'],
    expired: ['已过期', 'capc-tag--bad'], 'not-yet-valid': ['未生效', 'capc-tag--bad'],
  };

  function renderCerts(notes) {
    var list = $('cert-list');
    list.textContent = '';
    entries.forEach(function (e, i) {
      var info = e.info || {};
      var label = el('label', 'capc-cert');
      var radio = el('input');
      radio.type = 'radio';
      radio.name = 'cert';
      radio.value = String(i);
      radio.addEventListener('change', function () { select(i); });
      label.appendChild(radio);
      label.appendChild(el('span', 'capc-cert__org', info.organization || dnField(e.cert.subjectDn, 'O') || dnField(e.cert.subjectDn, 'CN') || '（未命名证书）'));
      var tag = STATE_TAGS[info.state] || STATE_TAGS.valid;
      label.appendChild(el('span', 'capc-tag ' + tag[1], info.state ? tag[0] : e.cert.algorithm));
      var meta = el('span', 'capc-cert__meta');
      var add = function (k, v) { if (!v) return; var s = el('span', null, k + '：'); s.appendChild(el('b', null, v)); meta.appendChild(s); };
      add('证书类型', info.certType ? (info.project ? info.project + ' · ' : '') + info.certType : '');
      add('算法', ALGORITHM_LABEL[e.cert.algorithm] || e.cert.algorithm);
      add('使用者', info.commonName || dnField(e.cert.subjectDn, 'CN'));
      add('有效期', day(e.cert.notBefore) + ' 至 ' + day(e.cert.notAfter));
      add('介质编号', maskSerial(e.device.mediaSerial));
      label.appendChild(meta);
      list.appendChild(label);
    });
    notes.forEach(function (n) { list.appendChild(el('div', 'capc-device-note', n)); });
    // Keep the holder's choice across a refresh; otherwise the first (most urgent) certificate.
    var keep = selectedKey ? entries.findIndex(function (e) { return keyOf(e) === selectedKey; }) : -1;
    select(keep >= 0 ? keep : 0);
  }

  function keyOf(e) { return e.device.mediaSerial + '/' + e.cert.certificateId; }

  function select(i) {
    selected = i;
    selectedKey = entries[i] ? keyOf(entries[i]) : null;
    Array.prototype.forEach.call($('cert-list').querySelectorAll('.capc-cert'), function (label, j) {
      label.classList.toggle('is-selected', j === i);
      label.querySelector('input').checked = j === i;
    });
    hideError();
  }

  function showError(msg) { var e = $('select-error'); e.textContent = msg; e.hidden = false; }
  function hideError() { $('select-error').hidden = true; }
  function setBusy(on, text) {
    busy = on;
    var b = $('submit');
    b.disabled = on;
    b.textContent = on ? (text || '正在处理…') : '获取绑定码';
  }

  function pinMessage(err) {
    if (err.code === ERR.PIN_INCORRECT) {
      var left = err.data && typeof err.data.triesLeft === 'number' ? err.data.triesLeft : null;
      return left === null ? '证书密码错误，请重新输入。' : left > 0 ? '证书密码错误，还可尝试 ' + left + ' 次，输错过多 U-KEY 将被锁定。' : '证书密码错误，U-KEY 已锁定，请联系客服 ' + HOTLINE + ' 解锁。';
    }
    if (err.code === ERR.PIN_LOCKED) return 'U-KEY 的证书密码（PIN 码）已锁定，无法签名。请携带 U-KEY 联系客服 ' + HOTLINE + ' 解锁。';
    if (err.code === ERR.DEVICE_REMOVED || err.code === ERR.DEVICE_NOT_FOUND) return '没有找到该 U-KEY，可能已被拔出。请重新插入后点击“刷新 U-KEY”。';
    if (err.code === ERR.CERT_NOT_FOUND) return 'U-KEY 中找不到该证书，请点击“刷新 U-KEY”后重新选择。';
    return '签名失败：' + err.message;
  }

  function submit(ev) {
    if (ev) ev.preventDefault();
    if (busy) return;
    var entry = entries[selected];
    if (!entry) return showError('请选择一张证书。');
    var pinInput = $('pin');
    if (!pinInput.value) { pinInput.focus(); return showError('请输入证书密码。'); }
    hideError();
    setBusy(true, '正在签名…');
    api('/capc/api/challenge', {}).then(function (challenge) {
      var pin = pinInput.value;
      pinInput.value = '';
      return rpc('sign', { mediaSerial: entry.device.mediaSerial, certificateId: entry.cert.certificateId, pin: pin, dataBase64: challenge.dataBase64 }, 60000);
    }).then(function (signed) {
      setBusy(true, '正在核验证书…');
      return api('/capc/api/bind-code', { certificatePem: entry.cert.pem, mediaSerial: entry.device.mediaSerial, signatureBase64: signed.signatureBase64 });
    }).then(function (result) {
      showResult(result);
    }).catch(function (err) {
      $('pin').value = '';
      if (err instanceof AgentUnreachable) showError('与证书助手的连接中断，请确认证书助手正在运行后重试。');
      else if (err instanceof AgentError) showError(pinMessage(err));
      else showError(err.message || '系统繁忙，请稍后再试');
      if (err instanceof AgentError && err.code === ERR.PIN_LOCKED) entry.device.pinLocked = true;
      $('pin').focus();
    }).then(function () { setBusy(false); });
  }

  function showResult(r) {
    var code = String(r.code);
    var parts = $('code').querySelectorAll('span');
    parts[0].textContent = code.slice(0, 4);
    parts[1].textContent = code.slice(4);
    $('code').setAttribute('aria-label', '绑定码 ' + code.split('').join(' '));
    $('qr').src = r.qrDataUrl;
    $('qr-url').textContent = String(r.qrUrl || '');
    var serial = String(r.certificate && r.certificate.mediaSerialMasked || '');
    $('media-tail').textContent = serial.slice(-4);
    var dl = $('summary');
    dl.textContent = '';
    var c = r.certificate || {};
    [['单位', c.organization], ['证书类型', c.certType ? c.project + ' · ' + c.certType : ''], ['有效期至', day(c.notAfter)], ['介质编号', c.mediaSerialMasked]].forEach(function (kv) {
      if (!kv[1]) return;
      dl.appendChild(el('dt', null, kv[0]));
      dl.appendChild(el('dd', null, kv[1]));
    });
    show('result');
    startCountdown(Number(r.expiresInSeconds) || 600);
  }

  /** Counts down from the server's "seconds left", not its clock: the PC's clock may be wrong. */
  function startCountdown(seconds) {
    clearInterval(countdownTimer);
    var deadline = Date.now() + seconds * 1000;
    var cd = $('countdown');
    var tick = function () {
      var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      var expired = left === 0;
      $('code').classList.toggle('is-expired', expired);
      document.querySelector('.capc-result__qr').classList.toggle('is-expired', expired);
      cd.classList.toggle('is-expired', expired);
      $('again').hidden = !expired;
      if (expired) {
        cd.textContent = '绑定码已过期，请点击“重新获取”。';
        clearInterval(countdownTimer);
        return;
      }
      cd.textContent = '';
      cd.appendChild(document.createTextNode('有效期剩余 '));
      cd.appendChild(el('b', null, Math.floor(left / 60) + ':' + String(left % 60).padStart(2, '0')));
      cd.appendChild(document.createTextNode('，请尽快在手机上完成绑定'));
    };
    tick();
    countdownTimer = setInterval(tick, 1000);
  }

  root.addEventListener('click', function (ev) {
    var t = ev.target.closest('[data-action]');
    if (!t) return;
    var action = t.getAttribute('data-action');
    if (action === 'detect') detect();
    if (action === 'again' || action === 'select') {
      clearInterval(countdownTimer);
      show('select');
      $('pin').focus();
    }
  });
  $('panel-select').addEventListener('submit', submit);
  detect();
})();
