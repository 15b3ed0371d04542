"""``/docs`` and ``/redoc`` work without internet access: every asset they reference is served by the facade."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest

from tensorone.facade.testing import RunningFacade


class _References(HTMLParser):
    """Every URL a page makes the browser load: src, href, ReDoc's spec-url, Swagger UI's ``url:``."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag == "script"
        self.urls += [value for name, value in attrs if name in ("src", "href", "spec-url") and value]

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.urls += [line.split("'")[1] for line in data.splitlines() if line.strip().startswith("url:")]


@pytest.mark.parametrize(
    ("page", "kinds"),
    [
        ("/docs", {"text/css", "image/png", "text/javascript", "application/json"}),
        ("/redoc", {"image/png", "text/javascript", "application/json"}),
    ],
)
def test_docs_page_loads_only_assets_the_facade_serves(
    facade: RunningFacade, page: str, kinds: set[str]
) -> None:
    html = httpx.get(f"{facade.url}{page}")
    assert html.status_code == 200
    assert "http://" not in html.text
    assert "https://" not in html.text
    parser = _References()
    parser.feed(html.text)
    assert parser.urls
    served = set()
    for url in parser.urls:
        assert url.startswith("/")
        assert not url.startswith("//")
        asset = httpx.get(f"{facade.url}{url}")
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
        served.add(asset.headers["content-type"].split(";")[0])
    assert served == kinds
