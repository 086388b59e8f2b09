/*
 * /gdca-page/redirect?busyType=8: renews a certificate on the U-KEY through the local key agent (JSON-RPC over
 * POST {agent}/rpc) and the site's renewal API (/gdca-page/api/, docs/renewal.md). Finding the agent and the
 * guidance when it is missing or refuses this site are /capc/'s (public/capc/capc.js), kept in step with it.
 *
 * The PIN goes to the agent and nowhere else. It is kept in this page's memory while a renewal runs (keygen,
 * proof-of-possession signature, install and confirm each need it) so that "继续续期" after a pulled key does not
 * ask again; it is dropped when the renewal ends or the page is left.
 *
 * A pulled key at any step is safe: the server's state machine holds the issued certificate; the page installs it
 * again when the key still holds the new key pair, otherwise asks for a new one (no charge), and removes the key
 * pairs that abandoned attempts left on the token (`key.remove`, remembered in localStorage by key id).
 */
'use strict';
(function () {
  var root = document.getElementById('renew');
  if (!root) return;
  // The key agent's client and the certificate formatting shared with /capc/ (public/shared/).
  var KA = window.KeyAgentClient;
  var agent = KA.connect(root.getAttribute('data-agent-url'), 120000);
  var rpc = agent.rpc;
  var AgentUnreachable = KA.AgentUnreachable, AgentError = KA.AgentError, ERR = KA.ERR;
  var ALGORITHM_LABEL = KA.format.ALGORITHM_LABEL, maskSerial = KA.format.maskSerial, dnField = KA.format.dnField, day = KA.format.day, el = KA.format.el;
  var HOTLINE = root.getAttribute('data-hotline');
  var MIN_PROTOCOL = Number(root.getAttribute('data-min-protocol')) || 2;
  var CSRF = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';
  var PANELS = ['detect', 'no-agent', 'blocked', 'old-agent', 'no-key', 'select', 'progress', 'done'];
  var STEP_OF = { detect: 1, 'no-agent': 1, blocked: 1, 'old-agent': 1, 'no-key': 1, select: 2, progress: 3, done: 4 };
  var PHASES = ['keygen', 'submit', 'issue', 'install'];
  var PHASE_TEXT = {
    keygen: '正在 U-KEY 中生成新的密钥对…', submit: '正在用原证书签名，提交续期申请…',
    issue: '正在签发新证书…', install: '正在将新证书写入 U-KEY…',
  };

  var $ = function (id) { return document.getElementById(id); };
  var entries = [];      // { device, cert, info }
  var selected = null;
  var selectedKey = null;
  var pollTimer = null;
  var busy = false;
  var runPin = null;     // the PIN while a renewal runs (see above)
  var running = null;    // the entry being renewed
  var phase = null;

  var show = KA.panels(root, PANELS, STEP_OF);

  function ServerError(code, message, status) { this.name = 'ServerError'; this.code = code; this.message = message; this.status = status; }

  function api(path, payload) {
    return fetch('/gdca-page/api/' + path, {
      method: 'POST', credentials: 'same-origin', cache: 'no-store',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': CSRF },
      body: JSON.stringify(payload || {}),
    }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (data) {
        if (!res.ok) {
          var e = (data && data.error) || {};
          throw new ServerError(e.code || 'HTTP_' + res.status, e.message || '系统繁忙，请稍后再试', res.status);
        }
        return data;
      });
    }, function () { throw new ServerError('NETWORK', '网络连接失败，请检查网络后重试', 0); });
  }

  // --- what survives a reload: key pairs an attempt made and did not get certified, and the install in flight ---
  var STORE = 'gdca.renew.v1';
  function memory() {
    try { return JSON.parse(localStorage.getItem(STORE)) || {}; } catch (e) { return {}; }
  }
  function remember(change) {
    var m = memory();
    m.orphans = m.orphans || {};
    change(m);
    try { localStorage.setItem(STORE, JSON.stringify(m)); } catch (e) { /* private mode: the server still resumes */ }
  }
  function addOrphan(mediaSerial, keyId) { remember(function (m) { var l = m.orphans[mediaSerial] = m.orphans[mediaSerial] || []; if (l.indexOf(keyId) < 0) l.push(keyId); }); }
  function newKeyId() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b < 16 ? '0' : '') + b.toString(16); }).join('');
  }
  function dropOrphan(mediaSerial, keyId) { remember(function (m) { m.orphans[mediaSerial] = (m.orphans[mediaSerial] || []).filter(function (k) { return k !== keyId; }); }); }

  /** Removes the key pairs earlier attempts left behind (never one with a certificate: the agent refuses those). */
  function removeOrphans(mediaSerial, pin, except) {
    var list = ((memory().orphans || {})[mediaSerial] || []).filter(function (k) { return k !== except; });
    return list.reduce(function (p, keyId) {
      return p.then(function () {
        // removed or not there (never made): either way it is off the list.
        return rpc('key.remove', { mediaSerial: mediaSerial, pin: pin, keyId: keyId }).then(function () { dropOrphan(mediaSerial, keyId); }, function (err) {
          // In use (it got its certificate after all) or gone: either way, nothing left to clean.
          if (err instanceof AgentError && (err.code === ERR.KEY_IN_USE || err.code === ERR.KEY_NOT_FOUND)) dropOrphan(mediaSerial, keyId);
          else throw err;
        });
      });
    }, Promise.resolve());
  }

  // --- finding the agent (as /capc/) ---
  function detect() {
    if (busy) return;
    clearTimeout(pollTimer);
    show('detect');
    KA.lnaState().then(function (state) { $('lna-hint').hidden = state !== 'prompt'; });
    return rpc('agent.hello', {}, 60000).then(function (hello) {
      if (!hello || !(Number(hello.protocol) >= MIN_PROTOCOL)) {
        $('agent-version').textContent = String((hello && hello.version) || '未知');
        return show('old-agent');
      }
      return loadDevices();
    }).catch(function (err) {
      return agent.explainFailure(err, show, '检测到证书助手正在运行，但它只接受官方网址发出的请求，拒绝了当前网址。请按以下步骤处理：');
    });
  }

  function loadDevices() {
    return agent.readKeys({
      pinLocked: function (serial) { return 'U-KEY（介质编号 ' + serial + '）的证书密码（PIN 码）已锁定，无法续期。请携带 U-KEY 联系客服 ' + HOTLINE + ' 解锁。'; },
      noCertificate: function (serial) { return 'U-KEY（介质编号 ' + serial + '）中没有可续期的证书。'; },
    }).then(function (read) {
      if (!read) {
        show('no-key');
        pollTimer = setTimeout(detect, 3000);
        return;
      }
      entries = read.entries;
      var notes = read.notes;
      if (!entries.length) {
        $('no-key-text').textContent = notes.join(' ') || '没有读取到证书。';
        show('no-key');
        return;
      }
      return finishConfirmedInstall(read.perDevice).then(lookupAll).then(function () {
        // What can be renewed now first, then what needs paying, then the rest; soonest to expire first within each.
        var rank = { entitled: 0, unpaid: 1, 'transfer-waiting': 2, renewed: 3, 'not-renewable': 4, unknown: 5, error: 6 };
        entries.sort(function (a, b) {
          return (rank[a.info.kind] ?? 6) - (rank[b.info.kind] ?? 6) || String(a.cert.notAfter).localeCompare(String(b.cert.notAfter));
        });
        renderCerts(notes);
        show('select');
      });
    }).catch(function (err) {
      if (err instanceof AgentUnreachable) return show('no-agent');
      $('no-key-text').textContent = '读取 U-KEY 失败：' + err.message + '。请重新插入 U-KEY 后重试。';
      show('no-key');
    });
  }

  /**
   * The key was pulled after cert.confirm and before the site heard of it: the new certificate is final on the
   * token and the old one gone. Tell the site now (idempotent), so that the renewal ends INSTALLED.
   */
  function finishConfirmedInstall(perDevice) {
    var inflight = memory().inflight;
    if (!inflight) return Promise.resolve();
    var onToken = perDevice.some(function (p) {
      return p.device.mediaSerial === inflight.mediaSerial && p.certs.some(function (c) { return c.serialHex === inflight.serialHex && !c.pending; });
    });
    if (!onToken) return Promise.resolve();
    // `installed` must come from the session that last started the renewal: start (re-bind) first.
    return api('renewals', { certificatePem: inflight.oldPem, mediaSerial: inflight.mediaSerial })
      .then(function () { return api('renewals/' + encodeURIComponent(inflight.renewalId) + '/installed', { serialHex: inflight.serialHex }); })
      .then(function () { remember(function (m) { delete m.inflight; }); }, function () { /* the next visit tries again */ });
  }

  function lookupAll() {
    return Promise.all(entries.map(function (e) {
      return api('lookup', { certificatePem: e.cert.pem }).then(function (info) { e.info = info; }, function (err) { e.info = { kind: 'error', message: err.message }; });
    }));
  }

  // --- formatting ---
  function yuan(fen) { return '¥' + (Number(fen) / 100).toFixed(2); }
  function dl(rows) {
    var d = el('dl');
    rows.forEach(function (kv) {
      if (kv[1] == null || kv[1] === '') return;
      d.appendChild(el('dt', null, kv[0]));
      var dd = el('dd');
      if (kv[2]) dd.appendChild(el('b', null, kv[1])); else dd.textContent = kv[1];
      d.appendChild(dd);
    });
    return d;
  }

  function tagOf(info) {
    if (!info) return ['', ''];
    switch (info.kind) {
      case 'entitled': return info.renewal ? ['续期未完成', 'capc-tag--warn'] : ['已缴费 · 可续期', ''];
      case 'unpaid': return ['未缴费', 'capc-tag--warn'];
      case 'transfer-waiting': return ['汇款待核实', 'capc-tag--warn'];
      case 'renewed': return ['已续期', ''];
      case 'unknown': return ['未绑定', 'capc-tag--bad'];
      case 'not-renewable': return [info.reason === 'not-yet' ? '未到续期时间' : info.reason === 'revoked' ? '已吊销' : '不可续期', 'capc-tag--bad'];
      default: return ['查询失败', 'capc-tag--bad'];
    }
  }

  function renderCerts(notes) {
    var list = $('cert-list');
    list.textContent = '';
    entries.forEach(function (e, i) {
      var label = el('label', 'capc-cert');
      var radio = el('input');
      radio.type = 'radio';
      radio.name = 'cert';
      radio.value = String(i);
      radio.addEventListener('change', function () { select(i); });
      label.appendChild(radio);
      label.appendChild(el('span', 'capc-cert__org', dnField(e.cert.subjectDn, 'O') || dnField(e.cert.subjectDn, 'CN') || '（未命名证书）'));
      var tag = tagOf(e.info);
      label.appendChild(el('span', 'capc-tag ' + tag[1], tag[0] || e.cert.algorithm));
      var meta = el('span', 'capc-cert__meta');
      var add = function (k, v) { if (!v) return; var s = el('span', null, k + '：'); s.appendChild(el('b', null, v)); meta.appendChild(s); };
      add('使用者', dnField(e.cert.subjectDn, 'CN'));
      add('算法', ALGORITHM_LABEL[e.cert.algorithm] || e.cert.algorithm);
      add('有效期', day(e.cert.notBefore) + ' 至 ' + day(e.cert.notAfter));
      add('介质编号', maskSerial(e.device.mediaSerial));
      label.appendChild(meta);
      list.appendChild(label);
    });
    notes.forEach(function (n) { list.appendChild(el('div', 'capc-device-note', n)); });
    var keep = selectedKey ? entries.findIndex(function (e) { return keyOf(e) === selectedKey; }) : -1;
    if (keep < 0) keep = Math.max(0, entries.findIndex(function (e) { return e.info && e.info.kind === 'entitled'; }));
    select(keep);
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
    renderInfo(entries[i]);
  }

  /** What the site knows about the chosen certificate, and whether 续期 can start. */
  function renderInfo(entry) {
    var box = $('info');
    box.textContent = '';
    box.className = 'renew-info';
    var info = (entry && entry.info) || { kind: 'error', message: '' };
    var canRenew = info.kind === 'entitled' && !(entry.device.pinLocked);
    $('pin-area').hidden = !canRenew;
    $('submit').hidden = !canRenew;
    $('submit').textContent = info.renewal ? '继续续期' : '续期';
    if (info.kind === 'entitled') {
      box.classList.add('renew-info--ok');
      box.appendChild(el('h3', null, info.renewal ? '续期尚未完成，可继续' : '已缴费，可立即续期'));
      box.appendChild(dl([
        ['订单号', info.orderNo], ['续期年限', info.years + ' 年'], ['当前有效期至', day(info.currentNotAfter)], ['续期后有效期至', day(info.newNotAfter), true],
      ]));
      if (info.capped) box.appendChild(el('p', 'renew-cap', info.capNote || '新证书的有效期受签发机构证书有效期的限制，短于所购年限。'));
      box.appendChild(el('p', null, info.renewal
        ? '上次续期在中途中断（例如拔出了 U-KEY）。输入证书密码后点击“继续续期”接着完成，不会重复收费，也不会签发两张证书。'
        : '原证书剩余的有效期会累加到新证书上，提前续期不损失天数。'));
    } else if (info.kind === 'unpaid') {
      box.classList.add('renew-info--warn');
      var grid = el('div', 'renew-pay');
      var text = el('div');
      text.appendChild(el('h3', null, '该证书尚未缴纳续期费用'));
      var price = el('p');
      if (info.priceFen == null) price.textContent = '续期价格请在手机上查看，或咨询客服 ' + HOTLINE + '。';
      else {
        price.appendChild(document.createTextNode('续期 ' + info.years + ' 年：'));
        price.appendChild(el('span', 'renew-price', yuan(info.priceFen)));
      }
      text.appendChild(price);
      text.appendChild(el('p', null, '请用微信扫描右侧二维码，在手机上打开「续期缴费」完成缴费；缴费成功后点击下方“刷新 U-KEY”即可续期。'));
      text.appendChild(el('p', 'renew-link', info.payUrl));
      grid.appendChild(text);
      var img = el('img');
      img.alt = '续期缴费二维码';
      img.width = 180;
      img.height = 180;
      img.src = '/gdca-page/pay-qr.png?u=' + encodeURIComponent(info.payUrl);
      grid.appendChild(img);
      box.appendChild(grid);
    } else if (info.kind === 'transfer-waiting') {
      box.classList.add('renew-info--warn');
      box.appendChild(el('h3', null, '汇款待核实'));
      box.appendChild(dl([['订单号', info.orderNo], ['汇款截止', day(info.deadline)]]));
      box.appendChild(el('p', null, '该证书的续期订单选择了对公汇款，款项到账并核实后即可续期。核实完成后会在微信中通知您，届时回到本页点击“刷新 U-KEY”。如已汇款多日仍未核实，请联系客服 ' + HOTLINE + '。'));
    } else if (info.kind === 'renewed') {
      box.classList.add('renew-info--ok');
      box.appendChild(el('h3', null, '该证书已续期'));
      box.appendChild(dl([['新证书序列号', info.serialHex], ['新证书有效期至', day(info.notAfter), true]]));
      box.appendChild(el('p', null, '新证书已写入 U-KEY，无需再次办理。'));
    } else if (info.kind === 'not-renewable') {
      box.classList.add('renew-info--bad');
      box.appendChild(el('h3', null, info.message || '该证书暂不能续期'));
      if (info.opensAt) box.appendChild(dl([['可续期日期', day(info.opensAt), true]]));
      box.appendChild(el('p', null, info.reason === 'not-yet' ? '届时请在手机上缴费后回到本页续期。' : '如有疑问请联系客服 ' + HOTLINE + '。'));
    } else if (info.kind === 'unknown') {
      box.classList.add('renew-info--bad');
      box.appendChild(el('h3', null, '未找到该证书的续期信息'));
      box.appendChild(el('p', null, (info.message || '该证书尚未绑定到微信，请先在“获取证书绑定码”页面完成绑定') + '（本站 /capc/）。绑定并在手机上缴费后，再回到本页续期。'));
    } else {
      box.classList.add('renew-info--bad');
      box.appendChild(el('h3', null, '暂时无法查询该证书'));
      box.appendChild(el('p', null, (info.message || '系统繁忙') + '。请稍后点击“刷新 U-KEY”重试，仍不成功请联系客服 ' + HOTLINE + '。'));
    }
  }

  function showError(msg) { var e = $('select-error'); e.textContent = msg; e.hidden = false; }
  function hideError() { $('select-error').hidden = true; }
  function setBusy(on) {
    busy = on;
    $('submit').disabled = on;
  }

  function pinMessage(err) {
    if (err.code === ERR.PIN_INCORRECT) {
      var left = err.data && typeof err.data.triesLeft === 'number' ? err.data.triesLeft : null;
      return left === null ? '证书密码错误，请重新输入。' : '证书密码错误，还可尝试 ' + left + ' 次，输错过多 U-KEY 将被锁定。';
    }
    if (err.code === ERR.PIN_LOCKED) return '证书密码（PIN 码）已锁定，无法续期。请携带 U-KEY 联系客服 ' + HOTLINE + ' 解锁后再续期。';
    if (err.code === ERR.DEVICE_REMOVED || err.code === ERR.DEVICE_NOT_FOUND) return '没有找到该 U-KEY，可能已被拔出。请重新插入后点击“刷新 U-KEY”。';
    if (err.code === ERR.CERT_NOT_FOUND) return 'U-KEY 中找不到该证书，请点击“刷新 U-KEY”后重新选择。';
    return '证书助手出错：' + err.message;
  }
  var isPinError = function (err) { return err instanceof AgentError && (err.code === ERR.PIN_INCORRECT || err.code === ERR.PIN_LOCKED); };

  function submit(ev) {
    if (ev) ev.preventDefault();
    if (busy) return;
    var entry = entries[selected];
    if (!entry || !entry.info || entry.info.kind !== 'entitled') return;
    var input = $('pin');
    if (!input.value) { input.focus(); return showError('请输入证书密码（PIN 码）。'); }
    var pin = input.value;
    input.value = '';
    hideError();
    setBusy(true);
    // The PIN is checked first: a wrong one is told here, with the tries left, before anything starts.
    rpc('pin.verify', { mediaSerial: entry.device.mediaSerial, pin: pin }).then(function () {
      runPin = pin;
      running = entry;
      return renew();
    }, function (err) {
      if (err instanceof AgentError && err.code === ERR.PIN_LOCKED) { entry.device.pinLocked = true; renderInfo(entry); }
      if (err instanceof AgentError) showError(pinMessage(err));
      else showError('与证书助手的连接中断，请确认证书助手正在运行后重试。');
      input.focus();
    }).then(function () { setBusy(false); });
  }

  // --- the renewal ---
  function setPhase(name) {
    phase = name;
    var at = PHASES.indexOf(name);
    Array.prototype.forEach.call($('progress').querySelectorAll('li'), function (li, i) {
      li.classList.toggle('is-done', i < at);
      li.classList.toggle('is-active', i === at);
      li.classList.remove('is-failed');
    });
    $('progress-text').textContent = PHASE_TEXT[name];
  }

  function renew() {
    var entry = running;
    var ms = entry.device.mediaSerial;
    show('progress');
    $('progress-error').hidden = true;
    $('progress-actions').hidden = true;
    setPhase('keygen');
    return api('lookup', { certificatePem: entry.cert.pem }).then(function (info) {
      entry.info = info;
      if (info.kind === 'renewed') return showDone({ serialHex: info.serialHex, certificatePem: info.certificatePem, notAfter: info.notAfter }, entry);
      if (info.kind !== 'entitled') { backToSelect(entry); return; }
      // Start or resume: either way this page's session becomes the renewal's (a resume in a new browser needs it).
      return start(entry).then(function (s) {
        var r = info.renewal;
        if (!(r && r.state === 'ISSUED' && r.keyId)) return freshCertificate(entry, s);
        // Issued before the key was pulled: install that certificate if the key still holds its key pair.
        setPhase('install');
        return api('renewals/' + encodeURIComponent(r.id) + '/certificate', {}).then(function (issued) {
          return installAndConfirm(entry, r.id, r.keyId, issued);
        }).then(function (done) {
          return done || freshCertificate(entry, s);
        }, function (err) {
          // The issued certificate was replaced meanwhile (another attempt made a new CSR): make a new one too.
          if (err instanceof ServerError && (err.code === 'SERIAL_UNKNOWN' || err.code === 'CSR_REPLACED')) return freshCertificate(entry);
          throw err;
        });
      });
    }).catch(failed);
  }

  /**
   * A challenge for this certificate, bound to this page's session. It is also the renewal's lease (2 minutes, one
   * tab at a time): a retry in this tab (or after a reload: sessionStorage is per tab) reuses the unused challenge
   * it holds instead of asking again, which the lease would refuse. It is forgotten once a CSR is submitted with it.
   */
  var CHALLENGE = 'gdca.renew.challenge';
  function start(entry) {
    var held = null;
    try { held = JSON.parse(sessionStorage.getItem(CHALLENGE)); } catch (e) { /* none */ }
    if (held && held.pem === entry.cert.pem && Date.parse(held.answer.expiresAt) - Date.now() > 15000) return Promise.resolve(held.answer);
    var body = { certificatePem: entry.cert.pem, mediaSerial: entry.device.mediaSerial };
    // Shown to renew this tab's own lease at once (another tab, without it, is told the renewal is running).
    if (held && held.pem === entry.cert.pem) body.resumeChallenge = held.answer.challengeBase64;
    return api('renewals', body).then(function (answer) {
      try { sessionStorage.setItem(CHALLENGE, JSON.stringify({ pem: entry.cert.pem, answer: answer })); } catch (e) { /* private mode */ }
      return answer;
    });
  }
  function forgetChallenge() { try { sessionStorage.removeItem(CHALLENGE); } catch (e) { /* none */ } }

  /** New key pair → proof of possession with the old key over the challenge and the CSR → issued → install. */
  function freshCertificate(entry, started, attempt) {
    var ms = entry.device.mediaSerial;
    setPhase('keygen');
    var s;
    var gen;
    return (started ? Promise.resolve(started) : start(entry)).then(function (x) {
      s = x;
      // What earlier attempts left on the token goes first, so that a key ends up holding one new key pair.
      return removeOrphans(ms, runPin);
    }).then(function () {
      // The page names the new key before it exists: a key pulled while it is being made is still known, to remove.
      var keyId = newKeyId();
      addOrphan(ms, keyId); // until its certificate is installed
      return rpc('keygen.csr', { mediaSerial: ms, pin: runPin, algorithm: s.keyAlgorithm, subject: s.subject, keyId: keyId });
    }).then(function (g) {
      gen = g;
      if (g.keyId) addOrphan(ms, g.keyId);
      setPhase('submit');
      return api('renewals/' + encodeURIComponent(s.renewalId) + '/pop-message', { csrPem: gen.csrPem });
    }).then(function (pop) {
      return rpc('sign', { mediaSerial: ms, certificateId: entry.cert.certificateId, pin: runPin, dataBase64: pop.messageBase64 });
    }).then(function (signed) {
      setPhase('issue');
      forgetChallenge(); // used up by this submission, whatever its outcome
      return api('renewals/' + encodeURIComponent(s.renewalId) + '/csr', { csrPem: gen.csrPem, keyId: gen.keyId, popSignatureBase64: signed.signatureBase64 });
    }).then(function (issued) {
      setPhase('install');
      return installAndConfirm(entry, s.renewalId, gen.keyId, issued);
    }).then(function (done) {
      if (!done) throw new AgentError(ERR.KEY_NOT_FOUND, 'U-KEY 中找不到刚生成的密钥');
    }, function (err) {
      // The challenge lives two minutes: a long pause gets one fresh try (a new challenge; the orphan is removed).
      if (err instanceof ServerError && (err.code === 'CHALLENGE_EXPIRED' || err.code === 'CSR_REPLACED') && !attempt) { forgetChallenge(); return freshCertificate(entry, null, 1); }
      throw err;
    });
  }

  /** Installs (pending), confirms (old certificate removed), tells the site. false: the key pair is not on the token. */
  function installAndConfirm(entry, renewalId, keyId, issued) {
    var ms = entry.device.mediaSerial;
    remember(function (m) { m.inflight = { renewalId: renewalId, mediaSerial: ms, serialHex: issued.serialHex, oldPem: entry.cert.pem }; });
    var params = { mediaSerial: ms, pin: runPin, keyId: keyId, certificatePem: issued.certificatePem, replacesCertificateId: entry.cert.certificateId };
    if (issued.encryptionPair) params.encryptionPair = issued.encryptionPair;
    return rpc('cert.install', params).then(function (installed) {
      dropOrphan(ms, keyId);
      return rpc('cert.confirm', { mediaSerial: ms, pin: runPin, certificateId: installed.certificateId });
    }).then(function () {
      return api('renewals/' + encodeURIComponent(renewalId) + '/installed', { serialHex: issued.serialHex });
    }).then(function (done) {
      remember(function (m) { delete m.inflight; });
      showDone({ serialHex: done.serialHex || issued.serialHex, notBefore: issued.notBefore, notAfter: done.notAfter || issued.notAfter, dual: !!issued.encryptionPair }, entry);
      return removeOrphans(ms, runPin).catch(function () { /* cleaned on the next renewal */ }).then(function () { return true; });
    }, function (err) {
      if (err instanceof AgentError && err.code === ERR.KEY_NOT_FOUND) {
        // The token no longer holds this key pair (another key, or it was reset): the site issues for a new one.
        remember(function (m) { delete m.inflight; });
        dropOrphan(ms, keyId);
        return false;
      }
      throw err;
    });
  }

  function failed(err) {
    var at = PHASES.indexOf(phase);
    var li = $('progress').querySelectorAll('li')[at];
    if (li) { li.classList.remove('is-active'); li.classList.add('is-failed'); }
    $('progress-text').textContent = '';
    var msg;
    var canResume = true;
    if (err instanceof AgentUnreachable) msg = '与证书助手的连接中断。请确认证书助手正在运行，然后点击“继续续期”。已完成的步骤不会重复，也不会重复收费。';
    else if (err instanceof AgentError && (err.code === ERR.DEVICE_REMOVED || err.code === ERR.DEVICE_NOT_FOUND)) {
      msg = 'U-KEY 已被拔出，续期暂停。请重新插入同一个 U-KEY，然后点击“继续续期”：已完成的步骤不会重复，不会重复收费，也不会签发两张证书。';
    } else if (isPinError(err)) {
      runPin = null;
      canResume = false;
      if (err.code === ERR.PIN_LOCKED) running.device.pinLocked = true;
      backToSelect(running, pinMessage(err));
      return;
    } else if (err instanceof AgentError) msg = pinMessage(err) + ' 请点击“继续续期”重试；仍不成功请联系客服 ' + HOTLINE + '。';
    else if (err instanceof ServerError) {
      switch (err.code) {
        case 'RENEWAL_RUNNING': msg = '该证书正在另一个页面（或另一台电脑）中续期。请在原页面完成，或关闭其他续期页面，约 2 分钟后点击“继续续期”。'; break;
        case 'CA_UNAVAILABLE': msg = '证书签发系统暂时繁忙。请稍后点击“继续续期”重试，不会重复收费。'; break;
        case 'CA_REFUSED': msg = err.message + '。请联系客服 ' + HOTLINE + '，已缴费用不会丢失。'; canResume = false; break;
        case 'SESSION_EXPIRED': msg = '页面已过期。请刷新本页后重新选择证书继续续期，不会重复收费。'; canResume = false; break;
        case 'NOT_ENTITLED': case 'TRANSFER_WAITING': case 'ALREADY_RENEWED':
          backToSelect(running, err.message);
          return;
        default: msg = err.message + '。请点击“继续续期”重试；仍不成功请联系客服 ' + HOTLINE + '。';
      }
    } else msg = '续期出错：' + (err && err.message) + '。请点击“继续续期”重试；仍不成功请联系客服 ' + HOTLINE + '。';
    var box = $('progress-error');
    box.textContent = msg;
    box.hidden = false;
    $('progress-actions').hidden = false;
    root.querySelector('[data-action="resume"]').hidden = !canResume;
  }

  function backToSelect(entry, message) {
    running = null;
    renderCerts([]);
    var i = entries.indexOf(entry);
    if (i >= 0) select(i);
    show('select');
    if (message) showError(message);
  }

  function showDone(cert, entry) {
    runPin = null;
    running = null;
    var d = $('done-summary');
    d.textContent = '';
    [
      ['证书持有者', dnField(entry.cert.subjectDn, 'O') || dnField(entry.cert.subjectDn, 'CN')],
      ['新证书序列号', cert.serialHex],
      ['新证书有效期', (cert.notBefore ? day(cert.notBefore) + ' 至 ' : '至 ') + day(cert.notAfter)],
      ['证书类型', cert.dual ? 'SM2 双证书（签名证书 + 加密证书）' : ALGORITHM_LABEL[entry.cert.algorithm] || entry.cert.algorithm],
      ['介质编号', maskSerial(entry.device.mediaSerial)],
    ].forEach(function (kv) {
      if (!kv[1]) return;
      d.appendChild(el('dt', null, kv[0]));
      d.appendChild(el('dd', null, kv[1]));
    });
    show('done');
  }

  root.addEventListener('click', function (ev) {
    var t = ev.target.closest('[data-action]');
    if (!t) return;
    var action = t.getAttribute('data-action');
    if (action === 'detect') { runPin = null; running = null; detect(); }
    if (action === 'resume' && running && runPin) { $('progress-actions').hidden = true; renew(); }
  });
  $('panel-select').addEventListener('submit', submit);
  detect();
})();
