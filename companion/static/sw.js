/* Companion's service worker, served as /sw.js (companion/pwa/routes.py fills in the placeholders).
 *
 * - Precaches a versioned shell: stylesheet, scripts, icons, /offline and /crisis (fetched without
 *   cookies, so the copies are the anonymous pages). Old versions are deleted on activate.
 * - Pages: network first; offline, the precached /crisis, the kept safety plan, or /offline.
 * - Never caches an authenticated response, a POST or an htmx request. The one exception is the
 *   patient's own safety plan when they chose "keep my safety plan on this phone" (its own cache).
 * - Replays the offline outbox (IndexedDB, written by js/app.js) on Background Sync.
 * - Push: shows the payload's text; a click opens or focuses the payload's same-origin path.
 */
"use strict";

var VERSION = "__VERSION__";
var PRECACHE = ["__PRECACHE__"];
var ICON = "__ICON__";
var SHELL = "companion-shell-" + VERSION;
var PLAN = "companion-plan";
var PLAN_URL = "/safety-plan";

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL).then(function (cache) {
    return Promise.all(PRECACHE.map(function (url) {
      // credentials "omit": the shell is the same for everyone and holds nothing of the patient's.
      return fetch(url, { credentials: "omit", cache: "no-cache" }).then(function (response) {
        if (!response.ok) throw new Error("precache " + url + ": " + response.status);
        return cache.put(url, response);
      });
    }));
  }).then(function () {
    // The first version takes over at once; an update waits until the page offers a reload.
    return self.registration.active ? null : self.skipWaiting();
  }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("companion-shell-") === 0 && name !== SHELL;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("message", function (event) {
  var data = event.data || {};
  if (data.type === "skip-waiting") self.skipWaiting();
  else if (data.type === "keep-plan") event.waitUntil(keepPlan().then(reply(event, true), reply(event, false)));
  else if (data.type === "forget-plan") event.waitUntil(caches.delete(PLAN).then(reply(event, true)));
  else if (data.type === "replay") event.waitUntil(replayOutbox());
});

function reply(event, ok) {
  return function () { if (event.ports && event.ports[0]) event.ports[0].postMessage({ ok: ok }); };
}

function keepPlan() {
  return fetch(PLAN_URL, { credentials: "same-origin" }).then(function (response) {
    if (!response.ok || response.redirected) throw new Error("not logged in");
    return caches.open(PLAN).then(function (cache) { return cache.put(PLAN_URL, response); });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return; // POSTs go to the network, never to a cache
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.headers.get("HX-Request")) return; // htmx: network only, never a cached page
  if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(caches.match(request, { cacheName: SHELL }).then(function (hit) {
      return hit || fetch(request);
    }));
  } else if (request.mode === "navigate") {
    event.respondWith(navigate(request, url));
  }
});

function navigate(request, url) {
  return fetch(request).then(function (response) {
    if (url.pathname === PLAN_URL && response.ok && !response.redirected) {
      // Refresh the kept copy only if the patient chose to keep it.
      var copy = response.clone();
      caches.has(PLAN).then(function (kept) {
        if (kept) caches.open(PLAN).then(function (cache) { cache.put(PLAN_URL, copy); });
      });
    }
    return response;
  }, function () {
    var fallback = url.pathname === "/crisis" ? caches.match("/crisis", { cacheName: SHELL })
      : url.pathname === PLAN_URL ? caches.match(PLAN_URL, { cacheName: PLAN })
      : Promise.resolve(undefined);
    return fallback.then(function (hit) {
      return hit || caches.match("/offline", { cacheName: SHELL });
    }).then(function (hit) {
      return hit || new Response("You are offline.", { status: 503, headers: { "Content-Type": "text/plain" } });
    });
  });
}

/* ---- offline outbox (the same store js/app.js writes; see replay there for the rules) ---- */

function openOutbox() {
  return new Promise(function (resolve, reject) {
    var open = indexedDB.open("companion-outbox", 1);
    open.onupgradeneeded = function () {
      open.result.createObjectStore("entries", { keyPath: "key" });
      open.result.createObjectStore("meta");
    };
    open.onsuccess = function () { resolve(open.result); };
    open.onerror = function () { reject(open.error); };
  });
}

function idb(db, store, mode, work) {
  return new Promise(function (resolve, reject) {
    var tx = db.transaction(store, mode);
    var result = work(tx.objectStore(store));
    tx.oncomplete = function () { resolve(result && "result" in result ? result.result : undefined); };
    tx.onerror = function () { reject(tx.error); };
  });
}

function replayOutbox() {
  return openOutbox().then(function (db) {
    return Promise.all([
      idb(db, "entries", "readonly", function (s) { return s.getAll(); }),
      idb(db, "meta", "readonly", function (s) { return s.get("csrf"); })
    ]).then(function (found) {
      var entries = found[0].filter(function (e) { return e.state === "waiting"; });
      var chain = Promise.resolve();
      entries.forEach(function (entry) {
        chain = chain.then(function () { return sendEntry(db, entry, found[1] || entry.csrf); });
      });
      return chain.then(function () { db.close(); return notifyPages(); });
    });
  });
}

function sendEntry(db, entry, csrf) {
  return fetch(entry.url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "Accept": "application/json", "Idempotency-Key": entry.key, "x-csrftoken": csrf },
    body: JSON.stringify(entry.fields)
  }).then(function (response) {
    return response.json().catch(function () { return {}; }).then(function (body) {
      var next = settle(entry, response.status, body);
      if (next === null) return idb(db, "entries", "readwrite", function (s) { s.delete(entry.key); });
      if (next !== entry) return idb(db, "entries", "readwrite", function (s) { s.put(next); });
    });
  });
  // A network error rejects: the entry stays "waiting" and the sync is retried by the browser.
}

/* What a server answer means for a queued entry: null = sent and forgotten; otherwise the entry to keep. */
function settle(entry, status, body) {
  if (status === 200 || status === 201) {
    return body && body.crisis ? { key: entry.key, kind: entry.kind, state: "sent-help", at: entry.at } : null;
  }
  var kept = Object.assign({}, entry);
  if (status === 401 || status === 403) kept.state = "login";
  else if (status === 422 || status === 409 || status === 400 || status === 413) {
    kept.state = "invalid";
    kept.errors = body && body.errors ? body.errors : { form: (body && body.error) || "It could not be saved." };
  } else return entry; // 5xx, 429: try again later
  return kept;
}

function notifyPages() {
  return self.clients.matchAll({ type: "window" }).then(function (list) {
    list.forEach(function (client) { client.postMessage({ type: "outbox-changed" }); });
  });
}

self.addEventListener("sync", function (event) {
  if (event.tag === "companion-outbox") event.waitUntil(replayOutbox());
});

/* ---- push ---- */

function text(value, max) {
  return typeof value === "string" ? value.slice(0, max) : "";
}

function samePath(value) {
  try {
    var url = new URL(typeof value === "string" ? value : "/", self.location.origin);
    if (url.origin === self.location.origin) return url.pathname + url.search + url.hash;
  } catch (e) { /* fall through */ }
  return "/";
}

self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { body: event.data ? event.data.text() : "" }; }
  if (!data || typeof data !== "object") data = {};
  var options = { body: text(data.body, 300), icon: ICON, badge: ICON, data: { url: samePath(data.url) } };
  if (text(data.tag, 64)) options.tag = text(data.tag, 64);
  // Every push shows a notification (no silent pushes); text only, never HTML.
  event.waitUntil(self.registration.showNotification(text(data.title, 100) || "Companion", options));
});

function openPath(path) {
  var target = new URL(path, self.location.origin).href;
  return self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (list) {
    for (var i = 0; i < list.length; i++) {
      if (list[i].url === target && "focus" in list[i]) return list[i].focus().catch(function () { return list[i]; });
    }
    if (list.length && "navigate" in list[0]) {
      var client = list[0];
      return client.navigate(target).then(function (c) {
        return (c || client).focus().catch(function () { return c || client; });
      });
    }
    return self.clients.openWindow(target);
  });
}

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var done = openPath(samePath(event.notification.data && event.notification.data.url));
  try { event.waitUntil(done); } catch (e) { /* a synthetic event (tests) cannot extend its lifetime */ }
});

self.addEventListener("pushsubscriptionchange", function (event) {
  var old = event.oldSubscription;
  var renewed = event.newSubscription ? Promise.resolve(event.newSubscription)
    : self.registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: old && old.options ? old.options.applicationServerKey : undefined
    });
  event.waitUntil(renewed.then(function (subscription) {
    return openOutbox().then(function (db) {
      return idb(db, "meta", "readonly", function (s) { return s.get("csrf"); }).then(function (csrf) {
        db.close();
        return fetch("/api/v1/push-subscriptions", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "x-csrftoken": csrf || "" },
          body: JSON.stringify({ subscription: subscription.toJSON(), old_endpoint: old ? old.endpoint : null })
        });
      });
    });
  }).catch(function () { /* no endpoint yet, or offline: the page subscribes again on its next visit */ }));
});
