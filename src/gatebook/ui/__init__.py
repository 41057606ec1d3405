"""The dashboard behind `gatebook ui`: a Starlette app (app.py), its JSON API (api.py) and its guards (security.py).

Starlette and uvicorn (the ``ui`` extra) are imported only here and by `gatebook ui`, never by
``import gatebook``.
"""
