/*
 * U-KEY login and enrolment on the console (views/console/login.njk, account-ukey.njk): reads the keys through the
 * key agent on this PC (public/shared/key-agent-client.js), asks the server for a single-use challenge, has the
 * agent sign it with the chosen certificate's key (the PIN goes to the agent only), and posts the signature.
 */
'use strict';
(function () {
  var root = document.getElementById('ukey');
  if (!root || !window.KeyAgentClient) return;
  var K = window.KeyAgentClient;
  var mode = root.getAttribute('data-mode');
  var csrf = root.getAttribute('data-csrf');
  var agent = K.connect(root.getAttribute('data-agent'), 60000);
  var $ = function (id) { return document.getElementById(id); };
  var status = $('ukey-status');
  var entries = [];

  function say(text, isError) {
    status.textContent = text;
    status.className = 'cc-alert ' + (isError ? 'cc-alert_error' : 'cc-alert_info');
    status.hidden = !text;
  }

  function post(path, body) {
    return fetch(path, {
      method: 'POST', credentials: 'same-origin', cache: 'no-store',
      headers: { 'Content-Type': 'application/json', 'x-csrf-token': csrf, Accept: 'application/json' }, body: JSON.stringify(body),
    }).then(function (res) {
      return res.json().then(function (json) {
        if (!res.ok) throw new Error((json && json.error && json.error.message) || '操作未完成，请重试');
        return json;
      });
    });
  }

  function agentMessage(err) {
    if (err instanceof K.AgentUnreachable) return '无法连接本机的证书助手：请确认已安装并运行，且证书助手允许本控制台的地址（' + location.origin + '）。';
    if (err instanceof K.AgentError && err.code === K.ERR.ORIGIN_REFUSED) return '证书助手拒绝了本控制台：请在证书助手的 KEY_AGENT_ALLOWED_ORIGINS 中加入 ' + location.origin + '。';
    if (err instanceof K.AgentError && err.code === K.ERR.PIN_INCORRECT) return '证书密码（PIN 码）不正确。';
    if (err instanceof K.AgentError && err.code === K.ERR.PIN_LOCKED) return 'U-KEY 的 PIN 已锁定，请联系管理员。';
    return err && err.message ? err.message : '操作未完成，请重试';
  }

  $('ukey-read').addEventListener('click', function () {
    say('正在读取 U-KEY…');
    agent.readKeys({
      pinLocked: function (s) { return 'U-KEY ' + s + ' 的 PIN 已锁定'; },
      noCertificate: function (s) { return 'U-KEY ' + s + ' 中没有可用于签名的证书'; },
    }).then(function (keys) {
      var select = $('ukey-cert');
      select.textContent = '';
      entries = keys ? keys.entries : [];
      if (!entries.length) return say(keys && keys.notes.length ? keys.notes.join('；') : '未检测到 U-KEY，请插入后重试。', true);
      entries.forEach(function (e, i) {
        var o = document.createElement('option');
        o.value = String(i);
        o.textContent = (K.format.dnField(e.cert.subjectDn, 'CN') || e.cert.subjectDn) + ' · ' + K.format.maskSerial(e.device.mediaSerial) + ' · 有效期至 ' + K.format.day(e.cert.notAfter);
        select.appendChild(o);
      });
      $('ukey-choose').hidden = false;
      say('');
    }, function (err) { say(agentMessage(err), true); });
  });

  $('ukey-go').addEventListener('click', function () {
    var entry = entries[Number($('ukey-cert').value)];
    var pin = $('ukey-pin').value;
    if (!entry || !pin) return say('请选择证书并输入 PIN。', true);
    var username = mode === 'login' ? $('username').value.trim() : '';
    var password = mode !== 'enrol' ? $('password').value : '';
    if (mode === 'login' && !username) return say('请先填写用户名。', true);
    if (mode !== 'enrol' && !password) return say('请先填写密码。', true);
    var base = { login: '/login/ukey', 'step-up': '/step-up/ukey', enrol: '/account/ukey' }[mode];
    say('正在验证…');
    post(base + '/challenge', { username: username }).then(function (challenge) {
      return agent.rpc('sign', { mediaSerial: entry.device.mediaSerial, certificateId: entry.cert.certificateId, pin: pin, dataBase64: challenge.dataBase64 })
        .then(function (signed) {
          var body = { certificatePem: entry.cert.pem, signatureBase64: signed.signatureBase64 };
          if (mode !== 'enrol') { body.username = username; body.password = password; body.next = root.getAttribute('data-next') || '/'; }
          return post(base, body);
        }, function (err) { throw new Error(agentMessage(err)); });
    }).then(function (done) {
      if (mode !== 'enrol') location.assign(done.next || '/');
      else { say('已登记 U-KEY（证书指纹 ' + done.fingerprint + '）。', false); $('ukey-enrolled').textContent = done.fingerprint; }
    }, function (err) { $('ukey-pin').value = ''; say(err.message, true); });
  });
})();
