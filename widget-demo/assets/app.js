// Acme Analytics, the demo app's own code. Like any SaaS app it knows who is signed in; it
// tells cxloop (identify, group) and reports what people do (track, feature). Page views are
// automatic. The server that serves this file fills in __CXLOOP_HOST__ and __CXLOOP_WRITE_KEY__
// (the host is empty unless the server has a configured public URL: then this page's origin).
(function () {
  'use strict';

  var CXLOOP_HOST = '__CXLOOP_HOST__' || location.origin;
  var WRITE_KEY = '__CXLOOP_WRITE_KEY__';

  var ACCOUNTS = {
    acct_acme: { name: 'Acme Corp', plan: 'pro', seats: 25, mrr: 1250, status: 'active' },
    acct_globex: { name: 'Globex 环球', plan: 'enterprise', seats: 120, mrr: 9800, status: 'active' },
  };
  var USERS = {
    u_ada: { account: 'acct_acme', traits: { name: 'Ada Lovelace', email: 'ada@acme.example', role: 'admin' } },
    u_bo: { account: 'acct_acme', traits: { name: 'Bo Zhang', email: 'bo@acme.example', role: 'analyst' } },
    u_chen: { account: 'acct_globex', traits: { name: '陈静 Chen Jing', email: 'chen@globex.example', role: 'admin' } },
  };
  var SIGNED_IN_KEY = 'acme.signedInAs';

  var userId = localStorage.getItem(SIGNED_IN_KEY);
  if (!USERS[userId]) userId = 'u_ada';
  var user = USERS[userId];
  var account = ACCOUNTS[user.account];

  // Who is signed in, and their account: surveys can target their traits (role, plan, seats).
  cxloop.identify(userId, user.traits);
  cxloop.group(user.account, account);

  function $(selector) {
    return document.querySelector(selector);
  }

  function toast(message) {
    var box = $('#toast');
    box.textContent = message;
    box.classList.add('visible');
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { box.classList.remove('visible'); }, 2500);
  }

  function label(select) {
    return select.options[select.selectedIndex].text;
  }

  var pages = {
    reports: function () {
      document.querySelectorAll('[data-open-report]').forEach(function (button) {
        button.addEventListener('click', function () {
          var view = $('#report-view');
          $('#report-title').textContent = button.closest('tr').cells[0].textContent;
          view.hidden = false;
          cxloop.feature('reports', { report: button.getAttribute('data-open-report') });
        });
      });
    },

    exports: function () {
      $('#export-form').addEventListener('submit', function (event) {
        event.preventDefault();
        var report = $('#export-report');
        var format = document.querySelector('input[name=format]:checked').value;
        // The event the demo's CSAT survey is triggered by.
        cxloop.track('Report Exported', { report: report.value, format: format });
        cxloop.feature('reports-export', { format: format });
        var row = document.createElement('tr');
        [label(report), format.toUpperCase(), 'Just now'].forEach(function (text) {
          var cell = document.createElement('td');
          cell.textContent = text;
          row.appendChild(cell);
        });
        $('#export-history').prepend(row);
        toast(label(report) + ' exported as ' + format.toUpperCase());
      });
    },

    settings: function () {
      var select = $('#user-select');
      Object.keys(USERS).forEach(function (id) {
        var option = document.createElement('option');
        option.value = id;
        option.textContent = USERS[id].traits.name + ' (' + USERS[id].traits.role + ', ' + ACCOUNTS[USERS[id].account].name + ')';
        option.selected = id === userId;
        select.appendChild(option);
      });
      $('#switch-user').addEventListener('click', function () {
        if (select.value === userId) return toast('Already signed in as ' + user.traits.name);
        cxloop.reset(); // logging out: forget the user and account
        localStorage.setItem(SIGNED_IN_KEY, select.value);
        location.reload();
      });
      $('#forget-surveys').addEventListener('click', function () {
        Object.keys(localStorage)
          .filter(function (key) { return key.indexOf('cxloop:surveys:') === 0; })
          .forEach(function (key) { localStorage.removeItem(key); });
        toast('Survey history forgotten on this device');
      });
      listSurveys();
    },
  };

  // A QA panel, as a vendor's staging app might have: the active surveys, each with a button
  // that shows it now through cxloop.survey(id).
  function listSurveys() {
    var list = $('#survey-list');
    fetch(CXLOOP_HOST + '/v1/sdk/config?writeKey=' + encodeURIComponent(WRITE_KEY), { credentials: 'omit' })
      .then(function (response) { return response.json(); })
      .then(function (config) {
        list.textContent = '';
        if (!config.surveys || !config.surveys.length) {
          list.textContent = 'No active survey: create one with the surveys API or `cxloop surveys create`.';
          return;
        }
        config.surveys.forEach(function (survey) {
          var item = document.createElement('li');
          var name = document.createElement('span');
          var trigger = survey.trigger || {};
          name.textContent = survey.kind.toUpperCase() + ' · ' + (survey.question.en || survey.question[Object.keys(survey.question)[0]]) +
            ' · ' + (trigger.event ? 'after "' + trigger.event + '"' : trigger.min_page_views ? 'after ' + trigger.min_page_views + ' page views' : 'on page views');
          var button = document.createElement('button');
          button.type = 'button';
          button.className = 'secondary';
          button.textContent = 'Show now';
          button.addEventListener('click', function () { cxloop.survey(survey.id); });
          item.append(name, button);
          list.appendChild(item);
        });
      })
      .catch(function () {
        list.textContent = 'Could not reach ' + CXLOOP_HOST + '/v1/sdk/config.';
      });
  }

  document.addEventListener('DOMContentLoaded', function () {
    $('#user-badge').textContent = user.traits.name;
    $('#account-badge').textContent = account.name + ' · ' + account.plan;
    document.querySelectorAll('[data-user-name]').forEach(function (el) { el.textContent = user.traits.name.split(' ')[0]; });
    document.querySelectorAll('[data-account-name]').forEach(function (el) { el.textContent = account.name; });
    var setup = pages[document.body.getAttribute('data-page')];
    if (setup) setup();
  });
})();
