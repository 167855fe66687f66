/* Companion's one small app script. Everything works without it; it only smooths the edges:
 * the time zone on the invitation page, the service worker (offline page, updates), the offline
 * outbox for check-ins and journal entries, clearing the phone at logout, install guidance and the
 * offline copy of the safety plan. No inline script anywhere (strict CSP).
 */
(function () {
  "use strict";

  var OUTBOX = "companion-outbox";
  var SYNC_TAG = "companion-outbox";
  var FORMS = { "checkin-form": ["checkin", "/api/v1/checkins", "Check-in"], "journal-form": ["journal", "/api/v1/journal-entries", "Journal entry"] };
  var swSupported = "serviceWorker" in navigator;

  function $(selector, root) { return (root || document).querySelector(selector); }
  function noop() {}

  // Pre-fill the time zone from the browser on the invitation page (the patient still confirms it).
  function detectTimezone() {
    var select = $("select[data-detect-timezone]");
    if (!select || select.dataset.touched) return;
    var zone;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === zone) { select.value = zone; return; }
    }
  }

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["x-csrftoken"] || ""; } catch (e) { return ""; }
  }

  /* ---------------------------------------------------------------- IndexedDB outbox */

  function openOutbox() {
    return new Promise(function (resolve, reject) {
      if (!window.indexedDB) { reject(new Error("no IndexedDB")); return; }
      var open = indexedDB.open(OUTBOX, 1);
      open.onupgradeneeded = function () {
        open.result.createObjectStore("entries", { keyPath: "key" });
        open.result.createObjectStore("meta");
      };
      open.onsuccess = function () { resolve(open.result); };
      open.onerror = function () { reject(open.error); };
    });
  }

  // Run one request against a store and close the connection (logout must be able to delete the DB).
  function store(name, mode, work) {
    return openOutbox().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(name, mode);
        var request = work(tx.objectStore(typeof name === "string" ? name : name[0]));
        tx.oncomplete = function () { db.close(); resolve(request ? request.result : undefined); };
        tx.onerror = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function entries() { return store("entries", "readonly", function (s) { return s.getAll(); }).catch(function () { return []; }); }

  function hasOutbox() {
    if (!window.indexedDB) return Promise.resolve(false);
    if (!indexedDB.databases) return Promise.resolve(true);
    return indexedDB.databases().then(function (list) {
      return list.some(function (db) { return db.name === OUTBOX; });
    }, function () { return true; });
  }

  /* When htmx could not send a check-in or journal form (no connection), keep it on the phone. */
  function queueForm(form) {
    var spec = FORMS[form.id];
    var fields = {};
    var key = "";
    var token = "";
    new FormData(form).forEach(function (value, name) {
      if (name === "idempotency_key") key = String(value);
      else if (name === "_csrf_token") token = String(value);
      else if (typeof value === "string") fields[name] = value;
    });
    if (!key) return;
    var entry = { key: key, kind: spec[0], url: spec[1], fields: fields, csrf: token, state: "waiting", at: Date.now() };
    store(["entries", "meta"], "readwrite", function (s) { s.put(entry); s.transaction.objectStore("meta").put(token, "csrf"); }).then(function () {
      render(true);
      if (swSupported) {
        navigator.serviceWorker.ready.then(function (reg) {
          return reg.sync ? reg.sync.register(SYNC_TAG) : null;
        }).catch(noop); // no Background Sync: the `online` event and the next page load replay it
      }
    }, function () {
      status("This phone could not keep your entry. Please try again when you are back online.");
    });
  }

  function status(message) {
    var region = $("#outbox");
    if (!region) return;
    region.textContent = message;
    region.hidden = false;
  }

  /* What a server answer means for a queued entry (the service worker has the same rules). */
  function settle(entry, code, body) {
    if (code === 200 || code === 201) {
      return body && body.crisis ? { key: entry.key, kind: entry.kind, state: "sent-help", at: entry.at } : null;
    }
    var kept = Object.assign({}, entry);
    if (code === 401 || code === 403) kept.state = "login";
    else if (code === 422 || code === 409 || code === 400 || code === 413) {
      kept.state = "invalid";
      kept.errors = body && body.errors ? body.errors : { form: (body && body.error) || "It could not be saved." };
    } else return entry; // 5xx, 429: try again later
    return kept;
  }

  var replaying = null;
  function replay(retryLogin) {
    if (replaying) return replaying;
    replaying = hasOutbox().then(function (exists) { return exists ? entries() : []; }).then(function (list) {
      var chain = Promise.resolve();
      list.forEach(function (entry) {
        if (entry.state !== "waiting" && !(retryLogin && entry.state === "login")) return;
        chain = chain.then(function () {
          return fetch(entry.url, {
            method: "POST",
            credentials: "same-origin",
            headers: { "Content-Type": "application/json", "Accept": "application/json", "Idempotency-Key": entry.key, "x-csrftoken": csrfToken() || entry.csrf },
            body: JSON.stringify(entry.fields)
          }).then(function (response) {
            return response.json().catch(function () { return {}; }).then(function (body) {
              var next = settle(entry, response.status, body);
              if (next === null) return store("entries", "readwrite", function (s) { s.delete(entry.key); });
              if (next !== entry) return store("entries", "readwrite", function (s) { s.put(next); });
            });
          });
        });
      });
      return chain;
    }).catch(noop).then(function () { replaying = null; return render(false); });
    return replaying;
  }

  function when(at) {
    try { return new Date(at).toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" }); } catch (e) { return ""; }
  }

  function item(text, link, button) {
    var li = document.createElement("li");
    li.appendChild(document.createTextNode(text));
    if (link) {
      var a = document.createElement("a");
      a.href = link[0];
      a.textContent = link[1];
      li.appendChild(document.createTextNode(" "));
      li.appendChild(a);
    }
    if (button) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "link-button";
      b.textContent = button[0];
      b.addEventListener("click", button[1]);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(b);
    }
    return li;
  }

  function forget(key) {
    return function () { store("entries", "readwrite", function (s) { s.delete(key); }).then(function () { render(false); }); };
  }

  /* Show what is kept on this phone in the "waiting to send" region (patient pages, offline page). */
  function render(justQueued) {
    var region = $("#outbox");
    if (!region) return Promise.resolve();
    return hasOutbox().then(function (exists) { return exists ? entries() : []; }).then(function (list) {
      region.textContent = "";
      if (!list.length) { region.hidden = true; return; }
      var ul = document.createElement("ul");
      list.sort(function (a, b) { return a.at - b.at; }).forEach(function (entry) {
        var label = (entry.kind === "journal" ? "Journal entry" : "Check-in") + " from " + when(entry.at);
        if (entry.state === "waiting") {
          ul.appendChild(item(label + ": saved on this phone, waiting to send. It is sent when you are back online."));
        } else if (entry.state === "login") {
          ul.appendChild(item(label + " is waiting to send, but your session has ended.", ["/login?next=" + encodeURIComponent(location.pathname), "Log in to send it"]));
        } else if (entry.state === "invalid") {
          var errors = entry.errors || {};
          var reasons = Object.keys(errors).map(function (k) { return errors[k]; }).join(" ");
          ul.appendChild(item(label + " could not be saved: " + reasons + " It is kept here so you can write it again.", null, ["Delete it", forget(entry.key)]));
        } else if (entry.state === "sent-help") {
          ul.appendChild(item(label + " is now saved. Your answers suggest you may need support.", ["/crisis", "Get help now"], ["Close", forget(entry.key)]));
        }
      });
      var heading = document.createElement("p");
      heading.className = "outbox-title";
      heading.textContent = "On this phone";
      region.appendChild(heading);
      region.appendChild(ul);
      region.hidden = false;
      if (justQueued) region.focus();
    });
  }

  document.addEventListener("htmx:sendError", function (event) {
    var form = event.detail && event.detail.elt;
    if (form && FORMS[form.id]) queueForm(form);
    else status("You seem to be offline. Try again when you have a connection.");
  });

  /* ---------------------------------------------------------------- logout: forget this phone */

  function deleteDatabase(name) {
    return new Promise(function (resolve) {
      var request = indexedDB.deleteDatabase(name);
      request.onsuccess = request.onerror = function () { resolve(); };
    });
  }

  function forgetDevice() {
    var jobs = [];
    try { localStorage.clear(); sessionStorage.clear(); } catch (e) { /* storage disabled */ }
    if (window.caches) {
      jobs.push(caches.keys().then(function (names) { return Promise.all(names.map(function (n) { return caches.delete(n); })); }));
    }
    if (window.indexedDB) {
      var names = indexedDB.databases ? indexedDB.databases().then(function (list) { return list.map(function (d) { return d.name; }); }) : Promise.resolve([OUTBOX]);
      jobs.push(names.then(function (list) { return Promise.all(list.map(deleteDatabase)); }));
    }
    return Promise.all(jobs.map(function (job) { return job.catch(noop); }));
  }

  function withTimeout(promise, ms) {
    return Promise.race([promise, new Promise(function (resolve) { setTimeout(resolve, ms); })]);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[action='/logout']") || form.dataset.cleared) return;
    event.preventDefault();
    hasOutbox().then(function (exists) { return exists ? entries() : []; }).then(function (list) {
      var waiting = list.filter(function (e) { return e.state !== "sent-help"; }).length;
      if (waiting && !window.confirm(waiting + " entries on this phone have not been sent yet. Logging out deletes them from this phone. Log out anyway?")) return;
      form.dataset.cleared = "1";
      withTimeout(forgetDevice(), 2000).then(function () { form.submit(); });
    });
  });

  /* ---------------------------------------------------------------- service worker */

  var updateAccepted = false;
  function showUpdate(worker) {
    var main = $("#main");
    if (!main || $("#update-banner")) return;
    var banner = document.createElement("div");
    banner.id = "update-banner";
    banner.className = "update-banner";
    banner.setAttribute("role", "status");
    var text = document.createElement("span");
    text.textContent = "A new version of Companion is ready.";
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = "Reload";
    button.addEventListener("click", function () { updateAccepted = true; worker.postMessage({ type: "skip-waiting" }); });
    banner.appendChild(text);
    banner.appendChild(button);
    main.insertBefore(banner, main.firstChild);
  }

  function registerWorker() {
    if (!swSupported) return;
    navigator.serviceWorker.addEventListener("controllerchange", function () {
      // Only after the patient pressed Reload here: logout (Clear-Site-Data) also changes the controller.
      if (updateAccepted && navigator.serviceWorker.controller) { updateAccepted = false; location.reload(); }
    });
    navigator.serviceWorker.addEventListener("message", function (event) {
      if (event.data && event.data.type === "outbox-changed") render(false);
    });
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function (reg) {
      if (reg.waiting && navigator.serviceWorker.controller) showUpdate(reg.waiting);
      reg.addEventListener("updatefound", function () {
        var worker = reg.installing;
        if (!worker) return;
        worker.addEventListener("statechange", function () {
          if (worker.state === "installed" && navigator.serviceWorker.controller) showUpdate(worker);
        });
      });
    }).catch(noop);
  }

  /* ---------------------------------------------------------------- install guidance */

  var deferredPrompt = null;
  window.addEventListener("beforeinstallprompt", function (event) {
    event.preventDefault();
    deferredPrompt = event;
    showInstall("prompt");
  });

  function installDismissed() {
    try { return localStorage.getItem("companion-install-dismissed") === "1"; } catch (e) { return false; }
  }

  function showInstall(kind) {
    var box = $("#install");
    if (!box || installDismissed()) return;
    $(kind === "prompt" ? "[data-install]" : "[data-ios-steps]", box).hidden = false;
    box.hidden = false;
  }

  function setUpInstall() {
    var box = $("#install");
    if (!box) return;
    var ua = navigator.userAgent;
    if (iosNotInstalled() && /Safari/.test(ua) && !/CriOS|FxiOS|EdgiOS/.test(ua)) showInstall("ios");
    $("[data-install]", box).addEventListener("click", function () {
      if (!deferredPrompt) return;
      deferredPrompt.prompt();
      deferredPrompt.userChoice.then(function () { deferredPrompt = null; box.hidden = true; }, noop);
    });
    $("[data-install-dismiss]", box).addEventListener("click", function () {
      try { localStorage.setItem("companion-install-dismissed", "1"); } catch (e) { /* ignore */ }
      box.hidden = true;
    });
  }

  function iosNotInstalled() {
    var ua = navigator.userAgent;
    var ios = /iPhone|iPad|iPod/.test(ua) || (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
    var standalone = navigator.standalone === true || (window.matchMedia && matchMedia("(display-mode: standalone)").matches);
    return ios && !standalone;
  }

  /* ---------------------------------------------------------------- push on this device (/settings) */

  function serverKey(base64) {
    var raw = atob((base64 + "===".slice((base64.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/"));
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function setUpPush() {
    var box = $("#push-settings");
    if (!box || !box.dataset.vapidKey) return;
    var note = document.createElement("p");
    var heading = $("h2", box);
    box.insertBefore(note, heading ? heading.nextSibling : box.firstChild);
    if (iosNotInstalled()) {
      // iOS shows notifications only for a Home Screen web app (tech-notes 5.4).
      note.textContent = "On iPhone and iPad, notifications work only from the home screen: in Safari tap Share, choose “Add to Home Screen”, open Companion from your home screen and come back to this page.";
      return;
    }
    if (!swSupported || !window.PushManager || !window.Notification) {
      note.textContent = "This browser cannot show notifications.";
      return;
    }
    var button = document.createElement("button");
    button.type = "button";
    button.className = "primary";
    button.textContent = "Turn on notifications on this device";
    note.parentNode.insertBefore(button, note.nextSibling);
    button.addEventListener("click", function () {
      note.textContent = "";
      // Permission and subscription must start from this tap (a user gesture), never on page load.
      Notification.requestPermission().then(function (permission) {
        if (permission !== "granted") throw new Error("blocked");
        return navigator.serviceWorker.ready;
      }).then(function (reg) {
        return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: serverKey(box.dataset.vapidKey) });
      }).then(function (subscription) {
        var device = (/iPhone|iPad|Android|Windows|Macintosh|Linux/.exec(navigator.userAgent) || ["This browser"])[0];
        return fetch("/api/v1/push-subscriptions", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "x-csrftoken": csrfToken() },
          body: JSON.stringify({ subscription: subscription.toJSON(), label: device.replace("Macintosh", "Mac") })
        });
      }).then(function (response) {
        if (!response.ok) throw new Error("refused");
        location.assign("/settings?done=device");
      }).catch(function (error) {
        note.textContent = error && error.message === "blocked"
          ? "Notifications are blocked for Companion. Allow them in your browser's site settings, then try again."
          : "Notifications could not be turned on here. Check your connection and try again.";
      });
    });
  }

  /* ---------------------------------------------------------------- safety plan kept on this phone */

  function askWorker(message) {
    return navigator.serviceWorker.ready.then(function (reg) {
      return new Promise(function (resolve) {
        var channel = new MessageChannel();
        channel.port1.onmessage = function (event) { resolve(event.data && event.data.ok); };
        reg.active.postMessage(message, [channel.port2]);
      });
    });
  }

  function setUpKeptPlan() {
    var kept = $("[data-kept-plan]");
    if (kept && window.caches) caches.has("companion-plan").then(function (yes) { kept.hidden = !yes; }, noop);
    var box = $("#keep-plan");
    if (!box || !swSupported || !window.caches) return;
    var button = $("[data-keep-plan]", box);
    var note = $("[data-plan-status]", box);
    function show(isKept) {
      box.dataset.kept = isKept ? "1" : "";
      note.textContent = isKept
        ? "A copy of your plan is kept on this phone, so it opens without a connection. Anyone using this phone could read it. Logging out removes it."
        : "Keep a copy of this plan on this phone so it opens without a connection. Logging out removes it.";
      button.textContent = isKept ? "Remove it from this phone" : "Keep my safety plan on this phone";
      box.hidden = false;
    }
    caches.has("companion-plan").then(show, noop);
    button.addEventListener("click", function () {
      var keep = !box.dataset.kept;
      askWorker({ type: keep ? "keep-plan" : "forget-plan" }).then(function (ok) {
        show(keep ? !!ok : false);
        if (keep && !ok) note.textContent = "The plan could not be kept on this phone. Try again when you are online.";
      });
    });
  }

  /* ---------------------------------------------------------------- start */

  document.addEventListener("DOMContentLoaded", function () {
    detectTimezone();
    setUpInstall();
    setUpKeptPlan();
    setUpPush();
    var loggedOut = /[?&]logged_out=1\b/.test(location.search);
    // After logout the server sent Clear-Site-Data; not every browser honours it, so clear here too.
    (loggedOut ? forgetDevice() : Promise.resolve()).then(function () {
      // After the page has loaded, so the worker's precaching never competes with the page itself.
      if (document.readyState === "complete") registerWorker();
      else window.addEventListener("load", registerWorker);
      if (loggedOut) return;
      hasOutbox().then(function (exists) {
        // The service worker needs a fresh token to replay on Background Sync (it cannot read the page).
        if (exists && csrfToken()) store("meta", "readwrite", function (s) { s.put(csrfToken(), "csrf"); }).catch(noop);
      });
      render(false);
      if (navigator.onLine !== false) replay(true);
    });
  });

  window.addEventListener("online", function () { replay(true); });
})();
