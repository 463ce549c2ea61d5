"""/docs: Swagger UI served by this server from the copy the fastapi-offline package ships, so the API's docs work
with no internet and under the Content-Security-Policy (no inline script: the page's settings are a script file)."""

from __future__ import annotations

import json

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"


def install(app: FastAPI, path: str = "/docs") -> None:
    """Serve Swagger UI at `path` (the app is made with docs_url=None and redoc_url=None: those load from a CDN)."""
    page = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{app.title} - API docs</title>
  <link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
  <link rel="icon" href="{ASSETS}/favicon.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{ASSETS}/swagger-ui-bundle.js"></script>
  <script src="{ASSETS}/swagger-init.js"></script>
</body>
</html>
"""
    settings = {"url": app.openapi_url, "dom_id": "#swagger-ui", "layout": "BaseLayout", "deepLinking": True}
    script = (
        f"window.ui = SwaggerUIBundle(Object.assign({json.dumps(settings)}, "
        "{presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]}));\n"
    )

    @app.get(path, include_in_schema=False)
    def _docs() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get(f"{ASSETS}/swagger-init.js", include_in_schema=False)
    def _swagger_init() -> Response:
        return Response(script, media_type="text/javascript")

    app.mount(ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-assets")
