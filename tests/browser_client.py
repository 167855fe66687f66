"""An HTTP client for the app under test that behaves like a browser: cookies, CSRF, forms."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar.testing import AsyncTestClient

from tests.factories import PASSWORD, Person

BASE_URL = "http://testserver.local"
IDEMPOTENCY_FIELD = re.compile(r'name="idempotency_key" value="([^"]+)"')


class AppClient:
    def __init__(self, client: AsyncTestClient[Any]):
        self.http = client

    @classmethod
    @asynccontextmanager
    async def open(cls, app: Any) -> AsyncIterator[AppClient]:
        async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
            yield cls(client)

    @property
    def cookies(self) -> Any:
        return self.http.cookies

    def set_cookie(self, name: str, value: str) -> None:
        self.http.cookies.set(name, value, domain="testserver.local", path="/")

    async def csrf_token(self) -> str:
        token = self.http.cookies.get("csrftoken")
        if token is None:
            await self.http.get("/login")
            token = self.http.cookies.get("csrftoken")
        assert token, "the app should set a CSRF cookie"
        return token

    async def get(self, url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("follow_redirects", False)
        return await self.http.get(url, **kwargs)

    async def post_form(
        self,
        url: str,
        data: dict[str, Any] | list[tuple[str, str]],
        *,
        htmx: bool = False,
        csrf: bool = True,
        **kwargs: Any,
    ) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        if htmx:
            headers["HX-Request"] = "true"
        items = list(data.items()) if isinstance(data, dict) else list(data)
        if csrf:
            items.append(("_csrf_token", await self.csrf_token()))
        fields: dict[str, list[str]] = {}
        for name, value in items:
            fields.setdefault(name, []).append(str(value))
        return await self.http.post(url, data=fields, headers=headers, follow_redirects=False, **kwargs)

    async def post_json(self, url: str, body: Any, *, key: str | None = None, **kwargs: Any) -> Any:
        headers = {"x-csrftoken": await self.csrf_token(), **kwargs.pop("headers", {})}
        if key:
            headers["Idempotency-Key"] = key
        return await self.http.post(url, json=body, headers=headers, **kwargs)

    async def login(self, person: Person | str, password: str = PASSWORD, remember: bool = False) -> Any:
        login = person if isinstance(person, str) else person.login
        form = {"login": login, "password": password}
        if remember:
            form["remember"] = "1"
        response = await self.post_form("/login", form)
        assert response.status_code == 303, f"login failed for {login}: {response.status_code}"
        return response

    async def form_key(self, url: str) -> str:
        """Render a form page and return the idempotency key minted into it."""
        page = await self.get(url)
        found = IDEMPOTENCY_FIELD.search(page.text)
        assert found, f"{url} should carry an idempotency key"
        return found.group(1)
