"""The progressive web app: manifest, service worker and offline page (issue 6)."""
